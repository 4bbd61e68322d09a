// The teacher's targets over gold responses (docs/data-format.md, /teacher/*): one teacher-forced
// forward over prompt + response per batch, then for every response token the top-K ids and
// log-probabilities under the full distribution at the position that predicts it, and the final
// hidden states at those positions (their mean is the sample's pooled state).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "models/causal_lm.h"

namespace pride::teacher {

struct TeacherTargets {
  std::vector<int32_t> topk_ids;     // [response_len * K], row-major
  std::vector<float> topk_logprobs;  // [response_len * K], each row sorted descending
  std::vector<float> hidden;         // [H] mean of the per-token states
  std::vector<float> hidden_tokens;  // [response_len * H]; empty unless asked for
};

// Scores each (prompt, response) pair; both non-empty, ids inside the model's vocabulary.
// `sample_names` name the pairs in errors (a non-finite teacher output).
std::vector<TeacherTargets> score_responses(CausalLM& model,
                                            const std::vector<std::vector<int32_t>>& prompts,
                                            const std::vector<std::vector<int32_t>>& responses,
                                            int64_t topk, bool keep_hidden_tokens,
                                            const std::vector<std::string>& sample_names,
                                            torch::Device device);

}  // namespace pride::teacher
