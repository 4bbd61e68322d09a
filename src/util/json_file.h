// Reading a whole JSON file, with the one error message every loader gives for a broken one.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "checkpoints/file_io.h"
#include "util/error.h"

namespace pride {

// The parsed contents of `path`; pride::Error "<path>: not valid JSON: ..." when they are not.
inline nlohmann::json read_json_file(const std::string& path) {
  try {
    return nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

}  // namespace pride
