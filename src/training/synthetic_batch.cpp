// Implements training/synthetic_batch.h.
#include "training/synthetic_batch.h"

#include <cmath>
#include <string>

#include "models/losses.h"

namespace pride {
namespace {

constexpr int64_t kFirstWordId = 3;  // after pad, bos, eos
constexpr double kTeacherTopKMass = 0.9;

torch::Tensor random_words(int64_t rows, int64_t length, int64_t vocab) {
  return torch::randint(kFirstWordId, vocab, {rows, length}, torch::kInt64);
}

torch::Tensor all_true(int64_t rows, int64_t length) {
  return torch::ones({rows, length}, torch::kBool);
}

}  // namespace

Batch synthetic_batch(const DatasetInfo& info, const SyntheticShape& shape) {
  const int64_t rows = shape.rows, context = shape.context;
  const int64_t length = context + shape.response;
  const auto position = torch::arange(length, torch::kInt64);
  Batch batch;
  batch.tokens = random_words(rows, length, info.vocab_size);
  batch.context_mask = (position < context).expand({rows, length}).contiguous();
  batch.response_mask =
      ((position >= context - 1) & (position < length - 1)).expand({rows, length}).contiguous();
  auto next = torch::roll(batch.tokens, -1, 1);
  batch.targets = torch::where(batch.response_mask, next, torch::full_like(next, info.pad_id));
  batch.emotion = torch::randint(0, info.num_emotions, {rows}, torch::kInt64);
  auto ids =
      (batch.targets.unsqueeze(-1) + torch::arange(info.topk, torch::kInt64)) % info.vocab_size;
  auto on_response = batch.response_mask.unsqueeze(-1);
  batch.topk_ids = ids * on_response;
  auto logprobs =
      torch::log_softmax(torch::randn({rows, length, info.topk}), -1) + std::log(kTeacherTopKMass);
  batch.topk_logprobs = logprobs * on_response;
  batch.teacher_hidden = torch::randn({rows, info.teacher_hidden});
  if (info.teacher_emotion) {
    batch.teacher_emotion_logprobs =
        torch::log_softmax(torch::randn({rows, info.num_emotions}), -1);
  }
  if (info.audio_dim > 0) {
    batch.audio = torch::randn({rows, shape.audio_frames, info.audio_dim});
    batch.audio_mask = all_true(rows, shape.audio_frames);
  }
  if (info.visual_dim > 0) {
    batch.visual = torch::randn({rows, shape.visual_frames, info.visual_dim});
    batch.visual_mask = all_true(rows, shape.visual_frames);
  }
  const auto& lengths = shape.privileged_tokens;
  for (size_t i = 0; i < info.privileged_sources.size() && !lengths.empty(); ++i) {
    const std::string& name = info.privileged_sources[i];
    const int64_t tokens = lengths[i % lengths.size()];
    batch.privileged[name] = random_words(rows, tokens, info.vocab_size);
    batch.privileged_mask[name] = all_true(rows, tokens);
  }
  batch.response_tokens = batch.response_mask.sum().item<int64_t>();
  batch.response_rows = batch.response_mask.reshape(-1).nonzero().squeeze(1);
  for (int64_t row = 0; row < rows; ++row) batch.indices.push_back(row);
  return batch;
}

torch::Tensor single_process_loss(Student& student, const Batch& batch, const PiUsage& pi,
                                  const Config& config) {
  const auto out = student->forward(batch, pi, LogitRows::response);
  const double tokens = double(batch.response_tokens), samples = double(batch.size());
  const auto& loss = config.loss;
  auto [ce, rkl] =
      response_token_losses(out.response_logits, batch, loss.rkl_temperature, loss.rkl_tail_bucket);
  // MMD^2 needs two rows; a one-row probe leaves it out (its memory is a [B, B] matrix).
  auto mmd = batch.size() >= 2
                 ? mmd2_unbiased(out.features, batch.teacher_hidden, loss.mmd_bandwidths)
                 : torch::zeros({}, ce.options());
  auto emotion = emotion_ce_sum(out.emotion_logits, batch.emotion);
  torch::Tensor emotion_kd;  // read only when its weight is > 0
  if (loss.emotion_kd_weight > 0) {
    emotion_kd = batch.teacher_emotion_logprobs.defined()
                     ? emotion_kd_sum(out.emotion_logits, batch.teacher_emotion_logprobs)
                     : torch::zeros({}, ce.options());
  }
  auto align = out.pi_align.defined() ? out.pi_align.sum() : torch::zeros({}, ce.options());
  return weighted_loss(config, {ce, rkl, mmd, emotion, emotion_kd, align},
                       {1 / tokens, 1 / tokens, 1, 1 / samples, 1 / samples, 1 / samples});
}

}  // namespace pride
