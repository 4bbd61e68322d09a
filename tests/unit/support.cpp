// Helpers shared by the unit test files; see support.h.
#include "support.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace pride::test {

std::string temp_path(const std::string& name) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "pride_" + test->test_suite_name() + "_" + test->name() + "_" +
         name;
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected pride::Error";
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

GenerationOptions greedy(int64_t tokens) {
  GenerationOptions options;
  options.max_new_tokens = tokens;
  return options;
}

}  // namespace pride::test
