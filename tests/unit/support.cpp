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

ModelConfig small_student_config() {
  ModelConfig c;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 64;
  c.max_seq_len = 32;
  c.memory_slots = 4;
  return c;
}

GenerationOptions greedy(int64_t tokens) {
  GenerationOptions options;
  options.max_new_tokens = tokens;
  return options;
}

}  // namespace pride::test
