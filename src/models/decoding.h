// Incremental decoding: the state a decoder keeps between calls (KV caches, which cached slots
// hold real tokens, each row's next position) and the interface the generation loop drives. The
// Hugging Face causal LMs implement it, and so does the PRIDE student
// (models/student_generation.h), which keeps its per-prompt memory beside the state and runs the
// same shared decoder blocks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "models/layers.h"

namespace pride {

struct DecodeState {
  DecodeState(int64_t batch, int64_t capacity, int64_t num_layers, torch::Device device);

  int64_t capacity;
  int64_t length = 0;           // slots filled (the same for every row: pads fill the gaps)
  std::vector<KVCache> layers;  // one per decoder block
  torch::Tensor key_valid;      // [B, capacity] bool: the slot holds a real token, not a pad
  torch::Tensor next_position;  // [B] int64: the rotary position of each row's next real token
  bool padded = false;          // some slot is a pad: attention needs an explicit mask
};

// What one decoder call over T new tokens needs, derived from (and recorded in) the state.
struct DecodeStep {
  torch::Tensor positions;  // [B, T] int64
  AttentionMask mask;       // queries: the T new slots; keys: every slot so far
};

// Appends T new tokens to `state`: `valid` [B, T] bool marks the real ones (undefined: all real).
// Rows may be left-padded (pads first) or end early; each real token is at one past the row's
// previous real token. With `sliding_window` > 0 a query sees only the keys fewer than that many
// positions back (Mistral). The mask is left to the causal flag when nothing is padded.
DecodeStep advance(DecodeState& state, const torch::Tensor& valid, int64_t new_tokens,
                   int64_t sliding_window);

// A decoder the generation loop can drive.
class IncrementalDecoder {
 public:
  virtual ~IncrementalDecoder() = default;
  virtual int64_t vocab_size() const = 0;
  virtual DecodeState start(int64_t batch, int64_t capacity) const = 0;
  // Logits [B, T, V] (fp32; only the last position's, [B, 1, V], unless all_positions) of
  // `tokens` [B, T] following what `state` holds; `valid` as in advance().
  virtual torch::Tensor forward_cached(const torch::Tensor& tokens, const torch::Tensor& valid,
                                       DecodeState& state, bool all_positions) = 0;
};

}  // namespace pride
