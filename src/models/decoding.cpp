// DecodeState bookkeeping: positions and attention masks for incremental decoding.
#include "models/decoding.h"

#include "util/error.h"

namespace pride {

DecodeState::DecodeState(int64_t batch, int64_t capacity, int64_t num_layers, torch::Device device)
    : capacity(capacity) {
  layers.reserve(num_layers);
  for (int64_t i = 0; i < num_layers; ++i) layers.emplace_back(capacity);
  key_valid = torch::ones({batch, capacity}, torch::dtype(torch::kBool).device(device));
  next_position = torch::zeros({batch}, torch::dtype(torch::kLong).device(device));
}

DecodeStep advance(DecodeState& state, const torch::Tensor& valid, int64_t new_tokens,
                   int64_t sliding_window) {
  const int64_t begin = state.length, end = begin + new_tokens;
  if (end > state.capacity) {
    fail("decoding: {} tokens after {} exceed the state's capacity of {}", new_tokens, begin,
         state.capacity);
  }
  DecodeStep step;
  const int64_t batch = state.next_position.size(0);
  const auto count = valid.defined()
                         ? valid.to(torch::kLong)
                         : torch::ones({batch, new_tokens}, state.next_position.options());
  // Each token's position: the row's next position plus the real tokens before it in this call.
  step.positions = state.next_position.unsqueeze(1) + count.cumsum(1) - count;
  state.next_position += count.sum(1);
  if (valid.defined()) {
    state.key_valid.narrow(1, begin, new_tokens).copy_(valid);
    state.padded = true;
  }
  state.length = end;

  const bool windowed = sliding_window > 0 && end > sliding_window;
  if (!state.padded && !windowed) {
    if (begin == 0) step.mask = AttentionMask::causal_only();
    if (begin == 0 || new_tokens == 1) return step;  // a single new query sees every key
  }
  // Query slot q = begin + t sees key slot k <= q that holds a real token (and is in the window).
  auto options = state.next_position.options();
  auto query = torch::arange(begin, end, options).unsqueeze(1);
  auto key = torch::arange(end, options).unsqueeze(0);
  auto allowed = key <= query;
  if (windowed) allowed = allowed & (query - key < sliding_window);
  step.mask = allowed.unsqueeze(0).unsqueeze(0) &
              state.key_valid.narrow(1, 0, end).unsqueeze(1).unsqueeze(1);  // [B, 1, T, S]
  return step;
}

}  // namespace pride
