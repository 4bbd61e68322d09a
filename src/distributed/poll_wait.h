// Bounded waiting shared by the communicator backends: poll a completion test with short
// yields/sleeps until it succeeds or the timeout passes, the one timeout message format, and the
// size checks both backends apply.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <string>
#include <thread>

#include "util/error.h"

namespace pride {

// Plural element name for messages: "floats", "int64s", ...
inline std::string element_name(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat:
      return "floats";
    case torch::kDouble:
      return "doubles";
    case torch::kLong:
      return "int64s";
    case torch::kInt:
      return "int32s";
    case torch::kByte:
      return "bytes";
    default:
      return std::string(c10::toString(type)) + "s";
  }
}

// "all_reduce (4096 floats)": what timeout messages call a collective on `tensor`.
inline std::string describe_collective(const std::string& op, const torch::Tensor& tensor) {
  return fmt::format("{} ({} {})", op, tensor.numel(), element_name(tensor.scalar_type()));
}

// The size rule of reduce_scatter and all_gather_into: `whole` holds world_size slices of
// `part`'s size and dtype.
inline void check_scatter_sizes(const torch::Tensor& whole, const torch::Tensor& part,
                                int world_size, const std::string& description) {
  if (whole.numel() != part.numel() * world_size || whole.scalar_type() != part.scalar_type()) {
    fail("{}: needs {} x {} {} in the whole tensor, got {} {}", description, world_size,
         part.numel(), element_name(part.scalar_type()), whole.numel(),
         element_name(whole.scalar_type()));
  }
}

// Calls `done()` until it returns true (-> true) or `timeout_s` has passed (-> false).
// Spins briefly first (collectives on small tensors finish within microseconds), then sleeps
// between polls so that oversubscribed ranks leave the cores to the ranks doing work.
template <typename DoneFn>
bool poll_until(DoneFn&& done, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (int polls = 0; !done(); ++polls) {
    if (Clock::now() >= deadline) return false;
    if (polls < 200) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return true;
}

[[noreturn]] inline void fail_collective_timeout(const std::string& description, double timeout_s,
                                                 const std::string& context) {
  fail_transient(
      "collective {} did not complete within {} s at {} — a rank may have died or diverged",
      description, timeout_s, context);
}

}  // namespace pride
