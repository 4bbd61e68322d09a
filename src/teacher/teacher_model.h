// The teacher of `pride teach`: a Hugging Face causal LM with its tokenizer, loaded and checked
// against teach.* (top-K within the vocabulary, an eos token) and against the student's tokenizer.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "models/causal_lm.h"
#include "models/generate.h"
#include "text/tokenizer.h"

namespace pride::teacher {

struct Teacher {
  std::unique_ptr<text::Tokenizer> tokenizer;
  CausalLM model{nullptr};
  int32_t eos_id = 0;
  std::vector<int64_t> stop_ids;
};

Teacher load_teacher(const TeachConfig& config, torch::Device device);

// How the teacher generates (its reasoning, pride hef's responses): up to `max_new_tokens`, greedy
// at temperature 0, stopping at its eos ids, drawing only ids its tokenizer has.
GenerationOptions generation_options(const Teacher& teacher, int64_t max_new_tokens,
                                     double temperature, double top_p, uint64_t seed);

// A generated reply as text: the tokens before the first stop id, decoded, up to the first line
// break (a plain text model goes on with the next turn), trimmed.
std::string reply_text(const Teacher& teacher, const Generation& generation);

// The student's tokenizer, when the config names one (model.tokenizer, or model.init_from holding
// one), must be the teacher's: top-K ids of another vocabulary would be meaningless.
void check_student_tokenizer(const Config& config, const text::Tokenizer& teacher_tokenizer);

}  // namespace pride::teacher
