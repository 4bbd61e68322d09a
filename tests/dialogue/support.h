// Helpers of the dialogue tests: a scratch directory per test, files in it, error capture.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "util/error.h"

namespace pride::dialogue {

class ScratchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("pride-dialogue-") + std::to_string(::getpid()) + "-" +
            test->test_suite_name() + "-" + test->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  std::filesystem::path dir_;
};

// The message of the pride::Error `body` throws ("" and a test failure when it throws none).
inline std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a pride::Error";
  return "";
}

inline bool has_part(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
#define EXPECT_HAS(text, part) EXPECT_PRED2(::pride::dialogue::has_part, text, part)

inline std::string fixture(const std::string& name) {
  return std::string(PRIDE_SOURCE_DIR) + "/tests/data/dialogue/" + name;
}

}  // namespace pride::dialogue
