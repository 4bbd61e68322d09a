// Parsing untrusted JSON with a nesting limit (see json_file.h).
#include "io/json_file.h"

#include "io/file_io.h"
#include "util/error.h"

namespace pride {
namespace {

// The deepest nesting of arrays and objects in `text`, brackets inside strings not counted. A
// linear scan before parsing: cheaper than a callback parser, and it never builds the deep value.
int json_nesting_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

template <typename Json>
Json parse_limited(std::string_view text, const std::string& source) {
  if (const int depth = json_nesting_depth(text); depth > kMaxJsonDepth) {
    fail("{}: not valid JSON: nested {} levels deep, more than the {} allowed", source, depth,
         kMaxJsonDepth);
  }
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", source, e.what());
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  return parse_limited<nlohmann::json>(text, source);
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json(read_text_file(path), path);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& source) {
  return parse_limited<nlohmann::ordered_json>(text, source);
}

nlohmann::ordered_json read_ordered_json_file(const std::string& path) {
  return parse_ordered_json(read_text_file(path), path);
}

}  // namespace pride
