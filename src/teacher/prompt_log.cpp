// Implements prompt_log.h.
#include "teacher/prompt_log.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "util/error.h"

namespace pride::teacher {

PromptLog::PromptLog(int rank) {
  const char* dir = std::getenv("PRIDE_TEACH_PROMPTS");
  if (dir == nullptr || *dir == 0) return;
  const std::filesystem::path path =
      std::filesystem::path(dir) / fmt::format("prompts-{}.jsonl", rank);
  std::filesystem::create_directories(dir);
  out_.open(path, std::ios::app);
  if (!out_) fail("PRIDE_TEACH_PROMPTS: cannot write {}", path.string());
}

void PromptLog::write(const nlohmann::ordered_json& line) {
  if (enabled()) out_ << line.dump() << "\n" << std::flush;
}

}  // namespace pride::teacher
