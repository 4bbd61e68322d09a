// A compiled PCRE2 pattern (UTF + UCP, JIT where available) that lists the non-overlapping
// matches in a UTF-8 text, and the translation of the Oniguruma patterns Hugging Face's
// tokenizer.json files carry into PCRE2 syntax.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_match_data_8;  // pcre2.h's pcre2_match_data, without including pcre2.h here

namespace pride::text {

using Span = std::pair<size_t, size_t>;  // [begin, end) in bytes

// Limits on one match attempt (docs/robustness.md): a pattern with catastrophic backtracking
// (e.g. "(a+)+$") fails instead of running for hours. The match limit is PCRE2's own default,
// stated here so that it cannot change with the library's build; the heap limit replaces its
// default of 20 GB.
constexpr uint32_t kRegexMatchLimit = 10'000'000;    // backtracking steps
constexpr uint32_t kRegexDepthLimit = 1'000'000;     // nested backtracking points (interpreter)
constexpr uint32_t kRegexHeapLimitKib = 256 * 1024;  // backtracking memory (interpreter)

class Regex {
 public:
  // `literal`: the pattern is a plain string to find, not a regex. Throws std::invalid_argument
  // with PCRE2's message when the pattern does not compile. `origin` names where the pattern
  // comes from ("tokenizer.json: pre_tokenizer.pattern") in the errors of matches().
  Regex(const std::string& pattern, bool literal, std::string origin = "built-in pattern");
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-empty matches, left to right, in valid UTF-8 `text`. A match attempt over the limits
  // above is a pride::Error naming the origin.
  std::vector<Span> matches(std::string_view text) const;

 private:
  int match_at(std::string_view text, size_t start, pcre2_real_match_data_8* data) const;
  [[noreturn]] void fail_match(int code, size_t text_bytes) const;

  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

// Rewrites an Oniguruma pattern for PCRE2 where the two differ on the tokenizers' patterns: `\s`
// and `\S` mean Unicode White_Space in Oniguruma (U+0085 included), PCRE2's UCP \s does not.
std::string oniguruma_to_pcre2(const std::string& pattern);

}  // namespace pride::text
