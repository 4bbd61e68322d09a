// pride::Error: the one exception type for bad input and failed invariants, and its subclass
// pride::TransientError for faults of the machine rather than of the input (a collective that
// timed out, a lost rank, a full disk): the same job may succeed when started again.
// The message names the file, key, sample or collective at fault; the binary prints it and exits
// with the code below, and under MPI the whole job ends with it.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace pride {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws pride::Error with a fmt-formatted message.
// Exit codes (README): 0 done, 1 any other failure (a bug), 75 preempted after a checkpoint
// (training/preemption.h).
constexpr int kBadInputExitCode = 2;
constexpr int kTransientFaultExitCode = 69;  // sysexits' EX_UNAVAILABLE: retry later

class TransientError : public Error {
 public:
  using Error::Error;
};

// Throws pride::TransientError with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail_transient(fmt::format_string<Args...> format, Args&&... args) {
  throw TransientError(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace pride
