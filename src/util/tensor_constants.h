// Constant tensors that every step asks for with the same shape (masks, columns of ones, loss
// weights): made once per key on each thread, then handed out with no operator dispatched.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <tuple>

namespace pride {

// What a constant depends on besides its own parameters: its type and device.
inline std::tuple<torch::ScalarType, std::string> placement_of(
    const torch::TensorOptions& options) {
  return {options.dtype().toScalarType(), options.device().str()};
}

// The tensor `make()` returns, made on this thread's first call with `key` and kept for the
// thread's lifetime. Each call site has its own cache (`Make` is the site's lambda type), so the
// key need only tell apart that site's constants. The result must never be written to.
template <typename Key, typename Make>
const torch::Tensor& per_thread_constant(const Key& key, Make make) {
  thread_local std::map<Key, torch::Tensor> cache;
  torch::Tensor& constant = cache[key];
  if (!constant.defined()) constant = make();
  return constant;
}

}  // namespace pride
