// The teacher of `pride teach`: a Hugging Face causal LM with its tokenizer, loaded and checked
// against teach.* (top-K within the vocabulary, an eos token) and against the student's tokenizer.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "models/causal_lm.h"
#include "text/tokenizer.h"

namespace pride::teacher {

struct Teacher {
  std::unique_ptr<text::Tokenizer> tokenizer;
  CausalLM model{nullptr};
  int32_t eos_id = 0;
  std::vector<int64_t> stop_ids;
};

Teacher load_teacher(const TeachConfig& config, torch::Device device);

// The student's tokenizer, when the config names one (model.tokenizer, or model.init_from holding
// one), must be the teacher's: top-K ids of another vocabulary would be meaningless.
void check_student_tokenizer(const Config& config, const text::Tokenizer& teacher_tokenizer);

}  // namespace pride::teacher
