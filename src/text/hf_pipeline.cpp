// Normalizers, pre-tokenizers and decoders of Hugging Face's tokenizers library (Rust), each
// reimplemented from its source with the same edge cases (noted where they surprise).
#include "text/hf_pipeline.h"

#include <memory>
#include <stdexcept>
#include <unordered_map>

#include "text/regex.h"
#include "text/unicode.h"
#include "util/error.h"

namespace pride::text {
namespace {

// GPT-2's pre-tokenizer pattern, used by ByteLevel when use_regex is true.
constexpr char kByteLevelPattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// How much longer than its input a Replace, or a Sequence of stages, may make a text: more than
// any real tokenizer (Llama 2's "▁" for " " triples a space), far less than a hostile chain of
// doubling Replaces or ByteLevels, which would grow a text 2^60-fold (docs/robustness.md).
constexpr size_t kMaxGrowthFactor = 16;
constexpr size_t kGrowthSlackBytes = 4096;

void check_growth(size_t before, size_t after, const std::string& where) {
  if (after > before * kMaxGrowthFactor + kGrowthSlackBytes) {
    fail("{}: turns a text of {} bytes into {} bytes, more than {} times longer", where, before,
         after, kMaxGrowthFactor);
  }
}

size_t total_bytes(const std::vector<std::string>& pieces) {
  size_t total = 0;
  for (const std::string& piece : pieces) total += piece.size();
  return total;
}

// A `pattern` object: {"String": "..."} (a literal) or {"Regex": "..."} (Oniguruma syntax).
std::shared_ptr<Regex> make_pattern(const JsonField& pattern) {
  const auto literal = pattern.find("String");
  const auto regex = pattern.find("Regex");
  if (!literal && !regex) pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  try {
    if (literal) return std::make_shared<Regex>(literal->string(), true, pattern.where());
    return std::make_shared<Regex>(oniguruma_to_pcre2(regex->string()), false, pattern.where());
  } catch (const std::invalid_argument& e) {
    pattern.fail(e.what());
  }
}

// `text` with every match of `pattern` replaced by `content`; an error naming `where` when that
// would grow it more than check_growth allows (checked before the result is built).
std::string replace_all(const Regex& pattern, const std::string& text, const std::string& content,
                        const std::string& where) {
  const std::vector<Span> matches = pattern.matches(text);
  size_t matched = 0;
  for (const auto& [begin, end] : matches) matched += end - begin;
  check_growth(text.size(), text.size() - matched + matches.size() * content.size(), where);
  std::string out;
  size_t previous = 0;
  for (const auto& [begin, end] : matches) {
    out.append(text, previous, begin - previous);
    out += content;
    previous = end;
  }
  if (previous == 0 && out.empty()) return text;
  out.append(text, previous, std::string::npos);
  return out;
}

char32_t single_character(const JsonField& field) {
  const std::string text = field.string();
  size_t pos = 0;
  if (text.empty()) field.fail("expected one character");
  const char32_t c = next_code_point(text, pos);
  if (pos != text.size()) field.fail("expected one character, got '" + text + "'");
  return c;
}

[[noreturn]] void unsupported(const JsonField& type, const char* stage, const char* supported) {
  type.fail(
      fmt::format("unsupported {} type '{}' (supported: {})", stage, type.string(), supported));
}

// --- normalizers ---------------------------------------------------------------------------------

Normalizer make_replace_normalizer(const JsonField& config) {
  auto pattern = make_pattern(config["pattern"]);
  const std::string content = config["content"].string();
  return [pattern, content, where = config.where()](std::string& text) {
    text = replace_all(*pattern, text, content, where);
  };
}

}  // namespace

Normalizer make_normalizer(const JsonField& config) {
  const JsonField type = config["type"];
  const std::string name = type.string();
  if (name == "Sequence") {
    const JsonField list = config["normalizers"];
    std::vector<Normalizer> stages;
    for (size_t i = 0; i < list.size(); ++i) stages.push_back(make_normalizer(list[i]));
    return [stages, where = config.where()](std::string& text) {
      const size_t before = text.size();
      for (const auto& stage : stages) {
        stage(text);
        check_growth(before, text.size(), where);
      }
    };
  }
  static const std::unordered_map<std::string, NormalForm> forms = {{"NFC", NormalForm::NFC},
                                                                    {"NFD", NormalForm::NFD},
                                                                    {"NFKC", NormalForm::NFKC},
                                                                    {"NFKD", NormalForm::NFKD}};
  if (const auto form = forms.find(name); form != forms.end()) {
    return [form = form->second](std::string& text) { text = normalize(text, form); };
  }
  if (name == "Prepend") {
    return [prefix = config["prepend"].string()](std::string& text) {
      if (!text.empty()) text.insert(0, prefix);
    };
  }
  if (name == "Replace") return make_replace_normalizer(config);
  unsupported(type, "normalizer", "Sequence, NFC, NFD, NFKC, NFKD, Prepend, Replace");
}

// --- pre-tokenizers ------------------------------------------------------------------------------

namespace {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

SplitBehavior parse_behavior(const JsonField& field) {
  static const std::unordered_map<std::string, SplitBehavior> names = {
      {"Removed", SplitBehavior::Removed},
      {"Isolated", SplitBehavior::Isolated},
      {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
      {"MergedWithNext", SplitBehavior::MergedWithNext},
      {"Contiguous", SplitBehavior::Contiguous}};
  const auto it = names.find(field.string());
  if (it == names.end()) field.fail("unsupported split behavior '" + field.string() + "'");
  return it->second;
}

struct Segment {
  size_t begin, end;
  bool is_match;
};

// Cuts `word` at the matches of `pattern` and joins the pieces as `behavior` says (HF's
// NormalizedString::split, including its rule that a match never merges into a match).
void split_word(const std::string& word, const Regex& pattern, SplitBehavior behavior, bool invert,
                std::vector<std::string>& out) {
  std::vector<Segment> segments;
  size_t previous = 0;
  for (const auto& [begin, end] : pattern.matches(word)) {
    if (previous < begin) segments.push_back({previous, begin, invert});
    segments.push_back({begin, end, !invert});
    previous = end;
  }
  if (previous < word.size()) segments.push_back({previous, word.size(), invert});

  std::vector<Segment> joined;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const Segment& s : segments) {
        if (!s.is_match) joined.push_back(s);
      }
      break;
    case SplitBehavior::Isolated:
      joined = segments;
      break;
    case SplitBehavior::MergedWithPrevious:
    case SplitBehavior::Contiguous:
      for (const Segment& s : segments) {
        const bool merge = behavior == SplitBehavior::Contiguous ? s.is_match == previous_match
                                                                 : s.is_match && !previous_match;
        if (merge && !joined.empty()) {
          joined.back().end = s.end;
        } else {
          joined.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (auto s = segments.rbegin(); s != segments.rend(); ++s) {
        if (s->is_match && !previous_match && !joined.empty()) {
          joined.back().begin = s->begin;
        } else {
          joined.push_back(*s);
        }
        previous_match = s->is_match;
      }
      std::reverse(joined.begin(), joined.end());
      break;
  }
  for (const Segment& s : joined) out.push_back(word.substr(s.begin, s.end - s.begin));
}

PreTokenizer split_with(std::shared_ptr<Regex> pattern, SplitBehavior behavior, bool invert) {
  return [pattern, behavior, invert](std::vector<std::string>& words, bool) {
    std::vector<std::string> out;
    out.reserve(words.size() * 2);
    for (const std::string& word : words) split_word(word, *pattern, behavior, invert, out);
    words.swap(out);
  };
}

PreTokenizer make_byte_level(const JsonField& config) {
  const bool add_prefix_space = config.boolean_or("add_prefix_space", true);
  const bool use_regex = config.boolean_or("use_regex", true);
  PreTokenizer split;
  if (use_regex) {
    split = split_with(std::make_shared<Regex>(oniguruma_to_pcre2(kByteLevelPattern), false),
                       SplitBehavior::Isolated, false);
  }
  return [add_prefix_space, split](std::vector<std::string>& words, bool at_text_start) {
    if (add_prefix_space) {  // HF prepends to every word that does not start with a space
      for (std::string& word : words) {
        if (word.empty() || word[0] != ' ') word.insert(0, " ");
      }
    }
    if (split) split(words, at_text_start);
    for (std::string& word : words) word = bytes_to_byte_level(word);
  };
}

PreTokenizer make_metaspace(const JsonField& config) {
  const char32_t replacement_char = single_character(config["replacement"]);
  std::string replacement;
  append_utf8(replacement, replacement_char);
  std::string scheme = "always";
  if (const auto field = config.find("prepend_scheme")) {
    scheme = field->string();
    if (scheme != "always" && scheme != "first" && scheme != "never") {
      field->fail("expected always, first or never");
    }
  } else if (!config.boolean_or("add_prefix_space", true)) {
    scheme = "never";
  }
  const bool split = config.boolean_or("split", true);
  auto space = std::make_shared<Regex>(" ", true);
  auto marker = std::make_shared<Regex>(replacement, true);
  const std::string where = config.where();
  return [=](std::vector<std::string>& words, bool at_text_start) {
    std::vector<std::string> out;
    for (size_t i = 0; i < words.size(); ++i) {
      std::string word = replace_all(*space, words[i], replacement, where);
      const bool prepend = scheme == "always" || (scheme == "first" && at_text_start && i == 0);
      if (prepend && word.compare(0, replacement.size(), replacement) != 0) {
        word.insert(0, replacement);
      }
      if (split) {
        split_word(word, *marker, SplitBehavior::MergedWithNext, false, out);
      } else {
        out.push_back(std::move(word));
      }
    }
    words.swap(out);
  };
}

}  // namespace

PreTokenizer make_pre_tokenizer(const JsonField& config) {
  const JsonField type = config["type"];
  const std::string name = type.string();
  if (name == "Sequence") {
    const JsonField list = config["pretokenizers"];
    std::vector<PreTokenizer> stages;
    for (size_t i = 0; i < list.size(); ++i) stages.push_back(make_pre_tokenizer(list[i]));
    return [stages, where = config.where()](std::vector<std::string>& words, bool at_text_start) {
      const size_t before = total_bytes(words);
      for (const auto& stage : stages) {
        stage(words, at_text_start);
        check_growth(before, total_bytes(words), where);
      }
    };
  }
  if (name == "Split") {
    return split_with(make_pattern(config["pattern"]), parse_behavior(config["behavior"]),
                      config.boolean_or("invert", false));
  }
  if (name == "ByteLevel") return make_byte_level(config);
  if (name == "Metaspace") return make_metaspace(config);
  if (name == "Digits") {
    const bool individual = config.boolean_or("individual_digits", false);
    return split_with(std::make_shared<Regex>("[0-9]", false),
                      individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false);
  }
  unsupported(type, "pre_tokenizer", "Sequence, Split, ByteLevel, Metaspace, Digits");
}

// --- byte-level mapping --------------------------------------------------------------------------

const std::vector<std::string>& byte_to_unicode() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> chars(256);
    char32_t next_free = 256;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
                             (byte >= 0xAE && byte <= 0xFF);
      append_utf8(chars[byte], printable ? static_cast<char32_t>(byte) : next_free++);
    }
    return chars;
  }();
  return table;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& table = byte_to_unicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) out += table[byte];
  return out;
}

// --- decoders ------------------------------------------------------------------------------------

namespace {

// ByteLevel: each token's characters back to bytes (a token with a character outside the map,
// such as an added token, keeps its own bytes); invalid UTF-8 becomes U+FFFD.
void decode_byte_level(std::vector<std::string>& tokens) {
  static const std::unordered_map<char32_t, unsigned char> inverse = [] {
    std::unordered_map<char32_t, unsigned char> map;
    const auto& table = byte_to_unicode();
    for (int byte = 0; byte < 256; ++byte) {
      size_t pos = 0;
      map[next_code_point(table[byte], pos)] = static_cast<unsigned char>(byte);
    }
    return map;
  }();
  std::string bytes;
  for (const std::string& token : tokens) {
    std::string token_bytes;
    bool mapped = true;
    for (size_t pos = 0; pos < token.size() && mapped;) {
      const auto it = inverse.find(next_code_point(token, pos));
      mapped = it != inverse.end();
      if (mapped) token_bytes += static_cast<char>(it->second);
    }
    bytes += mapped ? token_bytes : token;
  }
  tokens.assign(1, repair_utf8(bytes));
}

// ByteFallback: runs of <0xNN> tokens become their bytes when those are valid UTF-8, otherwise one
// U+FFFD per byte token (HF's rule, unlike the lossy repair elsewhere).
void decode_byte_fallback(std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  std::string bytes;
  size_t byte_tokens = 0;
  const auto flush = [&] {
    if (byte_tokens == 0) return;
    if (is_valid_utf8(bytes)) {
      out.push_back(bytes);
    } else {
      for (size_t i = 0; i < byte_tokens; ++i) out.emplace_back("\xEF\xBF\xBD");
    }
    bytes.clear();
    byte_tokens = 0;
  };
  for (std::string& token : tokens) {
    const bool is_byte = token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' &&
                         std::isxdigit(static_cast<unsigned char>(token[3])) &&
                         std::isxdigit(static_cast<unsigned char>(token[4]));
    if (is_byte) {
      bytes += static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16));
      ++byte_tokens;
    } else {
      flush();
      out.push_back(std::move(token));
    }
  }
  flush();
  tokens.swap(out);
}

Decoder make_strip(const JsonField& config) {
  const char32_t content = single_character(config["content"]);
  const int64_t start = config["start"].integer(), stop = config["stop"].integer();
  return [content, start, stop](std::vector<std::string>& tokens) {
    for (std::string& token : tokens) {
      size_t begin = 0, end = token.size();
      for (int64_t i = 0; i < start && begin < end; ++i) {
        size_t pos = begin;
        if (next_code_point(token, pos) != content) break;
        begin = pos;
      }
      for (int64_t i = 0; i < stop && end > begin; ++i) {
        size_t char_start = 0;
        if (last_code_point(token, end, &char_start) != content) break;
        end = char_start;
      }
      token = token.substr(begin, end - begin);
    }
  };
}

Decoder make_metaspace_decoder(const JsonField& config) {
  const char32_t replacement = single_character(config["replacement"]);
  std::string scheme = config.string_or("prepend_scheme", "always");
  if (!config.find("prepend_scheme") && !config.boolean_or("add_prefix_space", true)) {
    scheme = "never";
  }
  const bool strip_first = scheme != "never";
  return [replacement, strip_first](std::vector<std::string>& tokens) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (size_t pos = 0; pos < tokens[i].size();) {
        const char32_t c = next_code_point(tokens[i], pos);
        if (c != replacement) {
          append_utf8(out, c);
        } else if (!(i == 0 && strip_first)) {  // HF drops every marker of the first token
          out += ' ';
        }
      }
      tokens[i] = std::move(out);
    }
  };
}

}  // namespace

Decoder make_decoder(const JsonField& config) {
  const JsonField type = config["type"];
  const std::string name = type.string();
  if (name == "Sequence") {
    const JsonField list = config["decoders"];
    std::vector<Decoder> stages;
    for (size_t i = 0; i < list.size(); ++i) stages.push_back(make_decoder(list[i]));
    return [stages, where = config.where()](std::vector<std::string>& tokens) {
      const size_t before = total_bytes(tokens);
      for (const auto& stage : stages) {
        stage(tokens);
        check_growth(before, total_bytes(tokens), where);
      }
    };
  }
  if (name == "ByteLevel") return decode_byte_level;
  if (name == "ByteFallback") return decode_byte_fallback;
  if (name == "Fuse") {
    return [](std::vector<std::string>& tokens) {
      std::string joined;
      for (const std::string& token : tokens) joined += token;
      tokens.assign(1, std::move(joined));
    };
  }
  if (name == "Replace") {
    auto pattern = make_pattern(config["pattern"]);
    const std::string content = config["content"].string();
    return [pattern, content, where = config.where()](std::vector<std::string>& tokens) {
      for (std::string& token : tokens) token = replace_all(*pattern, token, content, where);
    };
  }
  if (name == "Strip") return make_strip(config);
  if (name == "Metaspace") return make_metaspace_decoder(config);
  unsupported(type, "decoder",
              "Sequence, ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace");
}

}  // namespace pride::text
