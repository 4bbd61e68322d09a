// Monotonic timing shared by the trainer, the progress printer and the gradient synchronizer.
#pragma once

#include <chrono>

namespace pride {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace pride
