// Implements eval/evaluator.h.
#include "eval/evaluator.h"

#include <cmath>

#include "data/batch.h"
#include "models/losses.h"

namespace pride {

nlohmann::json EvalResult::to_json(int64_t step) const {
  nlohmann::json out = {{"step", step},
                        {"eval_ce", ce},
                        {"eval_ppl", ppl},
                        {"eval_samples", samples},
                        {"eval_tokens", tokens}};
  if (teacher) out["eval_rkl"] = rkl;
  if (emotions) out["eval_emotion_acc"] = emotion_acc;
  return out;
}

int64_t eval_total(const DialogueDataset& data, const Config& config) {
  return config.train.eval_samples > 0 ? std::min(config.train.eval_samples, data.size())
                                       : data.size();
}

std::vector<int64_t> eval_share(const DialogueDataset& data, const Config& config,
                                const Communicator& comm) {
  const int64_t total = eval_total(data, config);
  std::vector<int64_t> mine;
  for (int64_t i = comm.rank(); i < total; i += comm.world_size()) mine.push_back(i);
  return mine;
}

EvalResult evaluate(Student& model, const DialogueDataset& data, const Config& config,
                    Communicator& comm, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  const std::vector<int64_t> mine = eval_share(data, config, comm);

  // [ce_sum, rkl_sum, emotion_correct, samples, tokens] in float64 for exact counts.
  auto sums = torch::zeros({5}, torch::kFloat64);
  const auto batch_size = static_cast<size_t>(micro_batch_or_default(config.train));
  for (size_t begin = 0; begin < mine.size(); begin += batch_size) {
    std::vector<Sample> samples;
    for (size_t i = begin; i < std::min(mine.size(), begin + batch_size); ++i) {
      samples.push_back(data.read(mine[i], /*with_privileged=*/false));
    }
    const Batch batch = collate(samples, data.info(), config.model.max_seq_len).to(device);
    const StudentOutput out = model->forward(batch, PiUsage{}, LogitRows::response);
    // Preference data has no teacher targets (topk 0) and no emotions.
    const auto [ce, rkl] =
        data.info().topk > 0
            ? response_token_losses(out.response_logits, batch, config.loss.rkl_temperature,
                                    config.loss.rkl_tail_bucket)
            : TokenLossSums{response_cross_entropy(out.response_logits, batch),
                            torch::zeros({}, torch::kFloat64)};
    sums[0] += ce.item<double>();
    sums[1] += rkl.item<double>();
    if (data.info().num_emotions > 0) {
      sums[2] += (out.emotion_logits.argmax(-1) == batch.emotion).sum().item<double>();
    }
    sums[3] += static_cast<double>(batch.size());
    sums[4] += static_cast<double>(batch.response_tokens);
  }
  model->train();
  sums = all_reduce_small(comm, sums);
  EvalResult result;
  result.teacher = data.info().topk > 0;
  result.emotions = data.info().num_emotions > 0;
  result.samples = static_cast<int64_t>(sums[3].item<double>());
  result.tokens = static_cast<int64_t>(sums[4].item<double>());
  const double tokens = std::max<double>(1.0, static_cast<double>(result.tokens));
  result.ce = sums[0].item<double>() / tokens;
  result.ppl = std::exp(result.ce);
  result.rkl = sums[1].item<double>() / tokens;
  result.emotion_acc = sums[2].item<double>() / std::max<double>(1.0, sums[3].item<double>());
  return result;
}

}  // namespace pride
