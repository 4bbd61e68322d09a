// Text generation over token ids for any IncrementalDecoder: batched prompts of different lengths
// (left-padded, each row with its own rotary positions), a KV cache (or, to check and measure it,
// recomputing the whole prefix every step), greedy decoding or sampling with temperature, top-k and
// top-p, stop ids (and a minimum length before them), and a seed that makes sampling reproducible.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/decoding.h"

namespace pride {

struct GenerationOptions {
  int64_t max_new_tokens = 64;
  int64_t min_new_tokens = 0;  // the stop ids cannot be drawn before this many new tokens
  double temperature = 0.0;    // 0: greedy (argmax); > 0: sample from softmax(logits / T)
  int64_t top_k = 0;           // sample among the k likeliest tokens; 0: all
  double top_p = 1.0;          // sample among the fewest likeliest tokens holding this mass
  uint64_t seed = 0;
  std::vector<int64_t> stop_ids;  // a row ends after emitting one of these (e.g. eos)
  bool use_cache = true;          // false: recompute the whole prefix every step
  // > 0: only ids below this are drawn. A model's embedding often has more rows than its
  // tokenizer has tokens (padding for speed); those rows are not tokens and could not be decoded.
  int64_t vocab_limit = 0;
};

struct Generation {
  std::vector<int64_t> tokens;  // new tokens, the stop id included when one ended the row
  std::string finish_reason;    // "stop" or "length"
};

// One Generation per prompt (each prompt non-empty, ids in [0, vocab)).
std::vector<Generation> generate(IncrementalDecoder& model,
                                 const std::vector<std::vector<int64_t>>& prompts,
                                 const GenerationOptions& options,
                                 torch::Device device = torch::kCPU);

// The next token of each row from logits [B, V]: argmax, or a draw from the filtered,
// temperature-scaled distribution with `generator` (a CPU generator, for reproducibility).
torch::Tensor pick_next_tokens(const torch::Tensor& logits, const GenerationOptions& options,
                               at::Generator& generator);

// Left-pads `prompts` into tokens [B, L] and a validity mask [B, L] (undefined when every prompt
// has the same length).
std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts,
                                                 int64_t pad_id, torch::Device device);

}  // namespace pride
