// The batch bridge to Python's jinja2: cases go to a temporary JSON file, results come back as
// JSON, one python process per batch.
#include "jinja2_reference.h"

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pride::chat::testing {
namespace {

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string temporary_path(const std::string& suffix) {
  return (std::filesystem::temp_directory_path() /
          ("pride_chat_" + std::to_string(getpid()) + "_" + suffix))
      .string();
}

}  // namespace

std::string source_path(const std::string& relative) {
  return std::string(PRIDE_SOURCE_DIR) + "/" + relative;
}

// $PRIDE_PYTHON, else Debian's python3 with python3-jinja2 (what scripts/install-deps.sh
// installs, as for the other references), else whichever python3 is first on PATH.
std::string find_jinja2_python() {
  const char* configured = std::getenv("PRIDE_PYTHON");
  std::vector<std::string> candidates = {"/usr/bin/python3", "python3"};
  if (configured && *configured) candidates = {configured};
  for (const std::string& python : candidates) {
    const std::string check = quote(python) + " " +
                              quote(source_path("tests/chat/jinja2_reference.py")) +
                              " --check >/dev/null 2>&1";
    if (std::system(check.c_str()) == 0) return python;
  }
  return "";
}

std::vector<ReferenceResult> render_with_jinja2(const std::string& python,
                                                const nlohmann::ordered_json& cases) {
  const std::string input = temporary_path("in.json"), output = temporary_path("out.json");
  std::ofstream(input) << nlohmann::ordered_json{{"cases", cases}}.dump();
  const std::string command = quote(python) + " " +
                              quote(source_path("tests/chat/jinja2_reference.py")) + " < " +
                              quote(input) + " > " + quote(output);
  const int status = std::system(command.c_str());
  std::ifstream in(output);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(input);
  std::filesystem::remove(output);
  if (status != 0) throw std::runtime_error("jinja2_reference.py failed: " + command);
  std::vector<ReferenceResult> results;
  for (const auto& result : nlohmann::json::parse(text.str())) {
    ReferenceResult r;
    r.ok = result.at("ok").get<bool>();
    (r.ok ? r.output : r.error) = result.at(r.ok ? "output" : "error").get<std::string>();
    results.push_back(std::move(r));
  }
  if (results.size() != cases.size()) throw std::runtime_error("jinja2_reference.py lost cases");
  return results;
}

}  // namespace pride::chat::testing
