// A compiled PCRE2 pattern (UTF + UCP, JIT where available) that lists the non-overlapping
// matches in a UTF-8 text, and the translation of the Oniguruma patterns Hugging Face's
// tokenizer.json files carry into PCRE2 syntax.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pride::text {

using Span = std::pair<size_t, size_t>;  // [begin, end) in bytes

class Regex {
 public:
  // `literal`: the pattern is a plain string to find, not a regex. Throws std::invalid_argument
  // with PCRE2's message when the pattern does not compile.
  Regex(const std::string& pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-empty matches, left to right, in valid UTF-8 `text`.
  std::vector<Span> matches(std::string_view text) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

// Rewrites an Oniguruma pattern for PCRE2 where the two differ on the tokenizers' patterns: `\s`
// and `\S` mean Unicode White_Space in Oniguruma (U+0085 included), PCRE2's UCP \s does not.
std::string oniguruma_to_pcre2(const std::string& pattern);

}  // namespace pride::text
