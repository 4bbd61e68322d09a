// pride::Error: the one exception type for bad input and failed invariants.
// Its message names the file, key or sample at fault; the binary prints it and exits non-zero
// (exit code 2 for bad input, see main.cpp), and under MPI the whole job ends with it.
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
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace pride
