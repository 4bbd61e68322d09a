// Runs tests/chat/jinja2_reference.py (Python's jinja2, configured as Hugging Face configures it)
// on a batch of cases in one process, for the conformance tests.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace pride::chat::testing {

struct ReferenceResult {
  bool ok = false;
  std::string output;  // when ok
  std::string error;   // when not
};

// The python3 ($PRIDE_PYTHON, else python3 on PATH) if it can import jinja2, else "".
std::string find_jinja2_python();

// `cases`: the reference script's input cases; one result each, in order.
std::vector<ReferenceResult> render_with_jinja2(const std::string& python,
                                                const nlohmann::ordered_json& cases);

// A path under the source tree (tests/chat/...).
std::string source_path(const std::string& relative);

}  // namespace pride::chat::testing
