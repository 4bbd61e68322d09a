// The fuzz harness's mutators: bytes, JSON structure, CSV lines and fields (see fuzz.h).
#include <nlohmann/json.hpp>

#include <limits>

#include "fuzz.h"

namespace pride::fuzz {
namespace {

using nlohmann::json;

// Numbers at the edges of the integer types the readers convert to.
json interesting_number(Rng& rng) {
  switch (rng.below(14)) {
    case 0:
      return -1;
    case 1:
      return 0;
    case 2:
      return 1;
    case 3:
      return int64_t{1} << 31;
    case 4:
      return (int64_t{1} << 32) - 1;
    case 5:
      return int64_t{1} << 32;
    case 6:
      return std::numeric_limits<int64_t>::max();
    case 7:
      return uint64_t{1} << 63;
    case 8:
      return std::numeric_limits<uint64_t>::max();
    case 9:
      return std::numeric_limits<int64_t>::min();
    case 10:
      return 1e308;
    case 11:
      return -0.5;
    case 12:
      return int64_t{1} << 62;
    default:
      return 2000000000;
  }
}

json interesting_value(Rng& rng, const std::vector<std::string>& words) {
  switch (rng.below(9)) {
    case 0:
      return nullptr;
    case 1:
      return rng.chance(0.5);
    case 2:
      return json::array();
    case 3:
      return json::object();
    case 4:
      return rng.pick(interesting_strings());
    case 5:
      return words.empty() ? json("x") : json(rng.pick(words));
    case 6:
      return std::string(1 + rng.below(70000), 'a');
    case 7:
      return json::array({interesting_number(rng)});
    default:
      return interesting_number(rng);
  }
}

// `depth` arrays nested in each other around `inner`.
json nested(size_t depth, json inner) {
  for (size_t i = 0; i < depth; ++i) inner = json::array({std::move(inner)});
  return inner;
}

// Every value of the tree with its parent (null for the root), in document order.
struct Node {
  json* value;
  json* parent;
  std::string key;  // in an object parent
  size_t index;     // in an array parent
};

std::vector<Node> nodes_of(json& root) {
  constexpr size_t kMaxNodes = 20000;
  std::vector<Node> nodes{{&root, nullptr, "", 0}};
  for (size_t i = 0; i < nodes.size() && nodes.size() < kMaxNodes; ++i) {
    json* value = nodes[i].value;
    if (value->is_object()) {
      for (auto it = value->begin(); it != value->end(); ++it)
        nodes.push_back({&*it, value, it.key(), 0});
    } else if (value->is_array()) {
      for (size_t k = 0; k < value->size(); ++k) nodes.push_back({&(*value)[k], value, "", k});
    }
  }
  return nodes;
}

void mutate_node(json& root, Rng& rng, const std::vector<std::string>& words) {
  std::vector<Node> nodes = nodes_of(root);
  std::vector<Node> structural;  // not an element of a large container (a vocabulary)
  for (const Node& node : nodes) {
    if (node.parent == nullptr || node.parent->size() <= 32) structural.push_back(node);
  }
  const Node& node =
      rng.chance(0.6) && !structural.empty() ? rng.pick(structural) : rng.pick(nodes);
  json& value = *node.value;
  switch (rng.below(12)) {
    case 0:
    case 1:
      value = interesting_value(rng, words);
      break;
    case 2:
      value = interesting_number(rng);
      break;
    case 3:  // delete
      if (node.parent && node.parent->is_object()) {
        node.parent->erase(node.key);
      } else if (node.parent) {
        node.parent->erase(node.index);
      }
      break;
    case 4:  // duplicate an element, or add a key
      if (value.is_array() && !value.empty()) {
        const size_t copies = rng.chance(0.1) ? 2000 : 1;
        const json element = value[rng.below(value.size())];
        for (size_t i = 0; i < copies; ++i) value.push_back(element);
      } else if (value.is_object()) {
        value[words.empty() ? "extra" : rng.pick(words)] = interesting_value(rng, words);
      }
      break;
    case 5:  // wrap
      value = rng.chance(0.5) ? json::array({value}) : json{{"x", value}};
      break;
    case 6:  // deep nesting, under and over the parser's limit of 256
      value = nested(rng.chance(0.5) ? 120 + rng.below(120) : 300, value);
      break;
    case 7:  // numbers nudged
      if (value.is_number_integer()) {
        const uint64_t n = value.get<uint64_t>();  // wrapping arithmetic, as int64 bits
        const uint64_t nudges[] = {n + 1, n - 1, 0 - n, n * 1000, n + (uint64_t{1} << 31)};
        value = static_cast<int64_t>(nudges[rng.below(5)]);
      } else {
        value = interesting_number(rng);
      }
      break;
    case 8: {  // another node's value here (keys swapped, subtrees copied)
      const json other = *rng.pick(nodes).value;
      value = other;
      break;
    }
    case 9:  // strings
      if (value.is_string()) {
        std::string text = value.get<std::string>();
        const std::string extra = rng.pick(interesting_strings());
        value = rng.chance(0.5) ? text + extra : extra + text;
      } else {
        value = words.empty() ? json("") : json(rng.pick(words));
      }
      break;
    case 10:  // a type change that keeps the content
      if (value.is_number()) {
        value = value.dump();
      } else if (value.is_string()) {
        value = json::array({value});
      } else {
        value = nullptr;
      }
      break;
    default:  // a word from the format's vocabulary
      value = words.empty() ? json(0) : json(rng.pick(words));
      break;
  }
}

}  // namespace

const std::vector<std::string>& interesting_strings() {
  static const std::vector<std::string> strings = {"",
                                                   " ",
                                                   "0",
                                                   "-1",
                                                   "1e400",
                                                   "NaN",
                                                   "null",
                                                   "..",
                                                   "../x",
                                                   "/etc/passwd",
                                                   "a/b",
                                                   std::string("a\0b", 3),
                                                   "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
                                                   "\xE2\x80\xAE",
                                                   "\t\r\n",
                                                   "(a+)+$",
                                                   "(?:a|a)*b",
                                                   "\\C",
                                                   "(",
                                                   "\\p{L}+",
                                                   "99999999999999999999",
                                                   "18446744073709551616",
                                                   "_comma_",
                                                   "\"",
                                                   ",",
                                                   "\xEF\xBB\xBF"};
  return strings;
}

void mutate_bytes(std::string& bytes, Rng& rng) {
  const size_t size = bytes.size();
  switch (rng.below(7)) {
    case 0:
      if (size > 0) bytes[rng.below(size)] ^= static_cast<char>(1 << rng.below(8));
      break;
    case 1:
      if (size > 0) bytes[rng.below(size)] = static_cast<char>(rng.below(256));
      break;
    case 2: {  // delete a run
      if (size == 0) break;
      const size_t at = rng.below(size);
      bytes.erase(at, 1 + rng.below(std::min<size_t>(64, size - at)));
      break;
    }
    case 3:
      bytes.resize(rng.below(size + 1));
      break;
    case 4: {  // invalid UTF-8
      static const std::vector<std::string> bad = {
          "\xC3", "\xFF", "\xED\xA0\x80", "\xC0\xAF", "\xF4\x90\x80\x80", std::string(1, '\0')};
      bytes.insert(rng.below(size + 1), rng.pick(bad));
      break;
    }
    case 5: {  // a run copied elsewhere
      if (size == 0) break;
      const size_t from = rng.below(size);
      const std::string run = bytes.substr(from, 1 + rng.below(64));
      bytes.insert(rng.below(size + 1), run);
      break;
    }
    default:
      bytes.insert(rng.below(size + 1), rng.pick(interesting_strings()));
      break;
  }
}

void mutate_json(std::string& text, Rng& rng, const std::vector<std::string>& words) {
  if (rng.chance(0.85)) {
    json root = json::parse(text, nullptr, false);
    if (!root.is_discarded()) {
      const size_t mutations = 1 + rng.below(3);
      for (size_t i = 0; i < mutations; ++i) mutate_node(root, rng, words);
      text = root.dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  if (rng.chance(0.25)) mutate_bytes(text, rng);
}

void mutate_csv(std::string& text, Rng& rng, const std::vector<std::string>& words) {
  std::vector<std::string> lines;
  for (size_t begin = 0; begin <= text.size();) {
    const size_t end = std::min(text.find('\n', begin), text.size());
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  const size_t mutations = 1 + rng.below(3);
  for (size_t m = 0; m < mutations && !lines.empty(); ++m) {
    const size_t at = rng.below(lines.size());
    std::string& line = lines[at];
    switch (rng.below(8)) {
      case 0:
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(at));
        break;
      case 1:
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), line);
        break;
      case 2:
        if (at + 1 < lines.size()) std::swap(lines[at], lines[at + 1]);
        break;
      case 3:
      case 4: {  // a field replaced
        std::vector<size_t> commas{0};
        for (size_t i = 0; i < line.size(); ++i) {
          if (line[i] == ',') commas.push_back(i + 1);
        }
        const size_t begin = rng.pick(commas);
        const size_t end = std::min(line.find(',', begin), line.size());
        const std::string value =
            rng.chance(0.5) || words.empty() ? rng.pick(interesting_strings()) : rng.pick(words);
        line.replace(begin, end - begin, value);
        break;
      }
      case 5:
        line.insert(rng.below(line.size() + 1), rng.chance(0.5) ? "," : "\"");
        break;
      case 6:
        line += rng.chance(0.5) ? "\r" : std::string(rng.below(50000), 'x');
        break;
      default:
        mutate_bytes(line, rng);
        break;
    }
  }
  text.clear();
  for (size_t i = 0; i < lines.size(); ++i) text += (i > 0 ? "\n" : "") + lines[i];
  if (rng.chance(0.1)) mutate_bytes(text, rng);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

void mutate_json_lines(std::string& text, Rng& rng, const std::vector<std::string>& words) {
  std::vector<std::string> lines = lines_of(text);
  if (lines.empty() || rng.chance(0.1)) {
    mutate_bytes(text, rng);
    return;
  }
  if (rng.chance(0.1)) lines.push_back(lines[rng.below(lines.size())]);
  if (rng.chance(0.1)) lines.erase(lines.begin() + static_cast<ptrdiff_t>(rng.below(lines.size())));
  if (!lines.empty()) mutate_json(lines[rng.below(lines.size())], rng, words);
  text = joined(lines);
}

}  // namespace pride::fuzz
