// Helpers shared by the unit test files (one test binary): temporary paths and error capture.
#pragma once

#include <functional>
#include <string>

#include "config/config.h"
#include "models/generate.h"

namespace pride::test {

// A path in the gtest temp dir, unique to the running test.
std::string temp_path(const std::string& name);

// Runs `body`, expects a pride::Error, and returns its message ("" and a failure otherwise).
std::string error_of(const std::function<void()>& body);

bool contains(const std::string& text, const std::string& part);

// A small student's shape: 2 layers of width 32, 4 heads over 2 KV heads, d_ff 64, 32 positions,
// 4 memory slots.
ModelConfig small_student_config();

// Greedy decoding of up to `tokens` new tokens (GenerationOptions' defaults are greedy).
GenerationOptions greedy(int64_t tokens);

}  // namespace pride::test
