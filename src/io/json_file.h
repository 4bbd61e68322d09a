// Parsing JSON that comes from outside (model directories, manifests, JSONL lines, student cards),
// with the one error message every loader gives for a broken file and a nesting limit: the
// parser itself is iterative, but dumping, copying or walking a value recurses, so a hostile file
// nested 100k deep would overflow the stack later, far from the file that caused it.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace pride {

// Deeper than any real config, tokenizer or manifest (tokenizer.json nests about 6 deep).
constexpr int kMaxJsonDepth = 256;

// Parses `text`; pride::Error "<source>: not valid JSON: ..." when it is not valid JSON or nests
// deeper than kMaxJsonDepth arrays and objects. `source` names the file (and line, for JSONL).
nlohmann::json parse_json(std::string_view text, const std::string& source);

// The parsed contents of `path`, as parse_json.
nlohmann::json read_json_file(const std::string& path);

// The same, keeping the keys in the file's order (what a chat template's tojson must print).
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& source);
nlohmann::ordered_json read_ordered_json_file(const std::string& path);

}  // namespace pride
