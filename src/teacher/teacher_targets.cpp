// Implements teacher_targets.h.
#include "teacher/teacher_targets.h"

#include "util/error.h"

namespace pride::teacher {
namespace {

// Log-softmax rows at a time: [rows, V] fp32 logits of a real vocabulary are large.
constexpr int64_t kRowsPerSlice = 512;

template <typename T>
std::vector<T> to_vector(const torch::Tensor& tensor) {
  const torch::Tensor flat = tensor.contiguous().to(torch::kCPU);
  return std::vector<T>(flat.data_ptr<T>(), flat.data_ptr<T>() + flat.numel());
}

}  // namespace

std::vector<TeacherTargets> score_responses(CausalLM& model,
                                            const std::vector<std::vector<int32_t>>& prompts,
                                            const std::vector<std::vector<int32_t>>& responses,
                                            int64_t topk, bool keep_hidden_tokens,
                                            const std::vector<std::string>& sample_names,
                                            torch::Device device) {
  torch::NoGradGuard no_grad;
  const auto rows = static_cast<int64_t>(prompts.size());
  int64_t longest = 0;
  for (int64_t b = 0; b < rows; ++b) {
    longest = std::max<int64_t>(longest, prompts[b].size() + responses[b].size());
  }
  // Right-padded sequences; `scored` lists, row after row, the positions that predict a
  // response token: the last prompt position up to the one before the last response token.
  torch::Tensor tokens = torch::zeros({rows, longest}, torch::kInt64);
  torch::Tensor valid = torch::zeros({rows, longest}, torch::kBool);
  std::vector<int64_t> scored;
  for (int64_t b = 0; b < rows; ++b) {
    if (prompts[b].empty()) {
      fail(
          "teach: sample {}: the teacher's prompt is empty, so no position predicts the first "
          "response token (a first utterance with a context template of '{{dialogue}}' alone and "
          "a tokenizer that adds no BOS): give teach.context_template (or score_template) some "
          "text of its own",
          sample_names.at(b));
    }
    std::vector<int64_t> sequence(prompts[b].begin(), prompts[b].end());
    sequence.insert(sequence.end(), responses[b].begin(), responses[b].end());
    const auto length = static_cast<int64_t>(sequence.size());
    tokens[b].narrow(0, 0, length).copy_(torch::tensor(sequence, torch::kInt64));
    valid[b].narrow(0, 0, length).fill_(true);
    const auto first = static_cast<int64_t>(prompts[b].size()) - 1;
    for (size_t j = 0; j < responses[b].size(); ++j) scored.push_back(b * longest + first + j);
  }
  const bool padded = !valid.all().item<bool>();
  const torch::Tensor hidden =
      model->hidden_states(tokens.to(device), padded ? valid.to(device) : torch::Tensor());
  const torch::Tensor states =
      hidden.reshape({rows * longest, hidden.size(2)})
          .index_select(0, torch::tensor(scored, torch::kInt64).to(device));

  std::vector<torch::Tensor> ids, logprobs;
  for (int64_t start = 0; start < states.size(0); start += kRowsPerSlice) {
    const auto slice = states.narrow(0, start, std::min(kRowsPerSlice, states.size(0) - start));
    const auto [values, indices] = torch::log_softmax(model->logits(slice), -1)
                                       .topk(topk, -1, /*largest=*/true,
                                             /*sorted=*/true);
    logprobs.push_back(values.to(torch::kCPU));
    ids.push_back(indices.to(torch::kInt32).to(torch::kCPU));
  }
  const torch::Tensor all_ids = torch::cat(ids), all_logprobs = torch::cat(logprobs);
  const torch::Tensor float_states = states.to(torch::kFloat).to(torch::kCPU);

  std::vector<TeacherTargets> targets(rows);
  int64_t row = 0;
  for (int64_t b = 0; b < rows; ++b) {
    const auto count = static_cast<int64_t>(responses[b].size());
    const torch::Tensor sample_logprobs = all_logprobs.narrow(0, row, count);
    const torch::Tensor sample_states = float_states.narrow(0, row, count);
    if (!torch::isfinite(sample_logprobs).all().item<bool>() ||
        !torch::isfinite(sample_states).all().item<bool>()) {
      fail(
          "teach: sample {}: the teacher's log-probabilities or hidden states are not finite "
          "(try teach.dtype=fp32)",
          sample_names.at(b));
    }
    targets[b].topk_ids = to_vector<int32_t>(all_ids.narrow(0, row, count));
    targets[b].topk_logprobs = to_vector<float>(sample_logprobs);
    targets[b].hidden = to_vector<float>(sample_states.mean(0));
    if (keep_hidden_tokens) targets[b].hidden_tokens = to_vector<float>(sample_states);
    row += count;
  }
  return targets;
}

}  // namespace pride::teacher
