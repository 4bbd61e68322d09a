// PRIDE_TEACH_PROMPTS=DIR: every prompt `pride teach` sends the teacher, one JSON line per sample
// in DIR/prompts-<rank>.jsonl, so that tests and users can see exactly what the teacher read. Off
// (nothing opened) when the variable is unset or empty.
#pragma once

#include <nlohmann/json.hpp>

#include <fstream>

namespace pride::teacher {

class PromptLog {
 public:
  explicit PromptLog(int rank);
  bool enabled() const { return out_.is_open(); }
  void write(const nlohmann::ordered_json& line);

 private:
  std::ofstream out_;
};

}  // namespace pride::teacher
