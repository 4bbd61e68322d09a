// Generation with the PRIDE student, PI-free: each prompt is a sample's context; its memory (the
// predictor's PI slots over the context and the audio/visual frames, as evaluation computes them)
// is built once, then the shared generation loop (models/generate.h) drives the student's decoder
// blocks with a KV cache over self-attention and the fixed memory under cross-attention.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "data/sample.h"
#include "models/generate.h"
#include "models/student.h"

namespace pride {

// The student with one batch's memory, as an IncrementalDecoder over that batch's rows.
class StudentDecoder : public IncrementalDecoder {
 public:
  StudentDecoder(Student model, StudentMemory memory)
      : model_(std::move(model)), memory_(std::move(memory)) {}
  int64_t vocab_size() const override { return model_->vocab_size(); }
  DecodeState start(int64_t batch, int64_t capacity) const override {
    return model_->start_decoding(batch, capacity);
  }
  torch::Tensor forward_cached(const torch::Tensor& tokens, const torch::Tensor& valid,
                               DecodeState& state, bool all_positions) override {
    return model_->decode(tokens, valid, state, memory_, all_positions);
  }

 private:
  Student model_;
  StudentMemory memory_;
};

// Each row's context tokens (context_mask), the last `max_tokens` of them; [bos] for an empty one.
std::vector<std::vector<int64_t>> context_prompts(const Batch& batch, int64_t max_tokens,
                                                  int64_t bos_id);

// A batch for prompts that come without a data set: tokens right-padded, all of them context.
Batch prompt_batch(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id);

// Responses to the contexts of `batch` (on the model's device). The stop ids gain the student's
// eos ids (the data set's, or the pretrained model's); contexts keep their last max_seq_len -
// max_new_tokens tokens, so that a response fits.
std::vector<Generation> generate_responses(Student& model, const Batch& batch,
                                           GenerationOptions options, int64_t max_seq_len);

// A response's tokens without the stop token that ended it.
std::vector<int64_t> response_tokens(const Generation& generation);

}  // namespace pride
