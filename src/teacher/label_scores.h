// The teacher's emotion, read exactly (docs/hef.md): every label's text scored teacher-forced
// after the sample's emotion prompt, as the mean log-probability of its tokens (length-normalised,
// so that a label of many tokens is not penalised for its length), then normalised over the
// labels into one distribution. No free text is generated or parsed.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/causal_lm.h"

namespace pride::teacher {

// For each prompt, log-probabilities over the labels [prompts][labels]:
//   score_e = (1/|l_e|) sum_j log p(l_e,j | prompt, l_e,<j),  logprob_e = score_e -
//   logsumexp(score)
// Prompts and labels non-empty, ids inside the model's vocabulary; `sample_names` name the prompts
// in errors (a non-finite score).
std::vector<std::vector<float>> score_labels(CausalLM& model,
                                             const std::vector<std::vector<int32_t>>& prompts,
                                             const std::vector<std::vector<int32_t>>& labels,
                                             const std::vector<std::string>& sample_names,
                                             torch::Device device);

}  // namespace pride::teacher
