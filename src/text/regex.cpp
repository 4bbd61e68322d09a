// PCRE2 matching for the pre-tokenizer and Replace patterns.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/regex.h"

#include <pcre2.h>

#include <stdexcept>

#include "text/unicode.h"
#include "util/error.h"

namespace pride::text {

// Unicode White_Space, as Oniguruma's \s (and Rust's char::is_whitespace).
constexpr char kWhiteSpaceMembers[] =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  pcre2_match_context* limits = nullptr;
  bool jit = false;
  std::string pattern, origin;
};

namespace {

pcre2_match_context* limited_match_context() {
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  if (context == nullptr) throw std::bad_alloc();
  pcre2_set_match_limit(context, kRegexMatchLimit);
  pcre2_set_depth_limit(context, kRegexDepthLimit);
  pcre2_set_heap_limit(context, kRegexHeapLimitKib);
  return context;
}

}  // namespace

Regex::Regex(const std::string& pattern, bool literal, std::string origin)
    : compiled_(new Compiled) {
  compiled_->pattern = pattern;
  compiled_->origin = std::move(origin);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // The pattern is checked for valid UTF-8 (it comes from a file). A regex may not use \C,
  // which matches one byte and could cut a character in two, leaving invalid UTF-8 for the
  // unchecked matches (PCRE2_LITERAL allows no other option).
  const uint32_t options =
      PCRE2_UTF | (literal ? PCRE2_LITERAL
                           : PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C);  // UCP: Unicode \p{..} classes
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                  options, &error, &offset, nullptr);
  if (compiled_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw std::invalid_argument("regex '" + pattern + "' does not compile at offset " +
                                std::to_string(offset) + ": " +
                                reinterpret_cast<const char*>(message));
  }
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
  compiled_->limits = limited_match_context();
}

Regex::~Regex() {
  pcre2_match_context_free(compiled_->limits);
  pcre2_code_free(compiled_->code);
}

// One match attempt from `start`: the JIT (PCRE2's default 32 KiB machine stack, which a
// pattern's recursion can exhaust), falling back to the interpreter, whose backtracking lives on
// the heap under kRegexHeapLimitKib. Both honour the match limit.
int Regex::match_at(std::string_view text, size_t start, pcre2_match_data* data) const {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  if (compiled_->jit) {
    const int rc =
        pcre2_jit_match(compiled_->code, subject, text.size(), start, 0, data, compiled_->limits);
    if (rc != PCRE2_ERROR_JIT_STACKLIMIT) return rc;
  }
  return pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data,
                     compiled_->limits);
}

std::vector<Span> Regex::matches(std::string_view text) const {
  // One match block per thread: creating it per call would dominate short texts.
  thread_local std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
  std::vector<Span> spans;
  size_t start = 0;
  while (start <= text.size()) {
    const int rc = match_at(text, start, data.get());
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) fail_match(rc, text.size());
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      spans.emplace_back(begin, end);
      start = end;
    } else {  // an empty match: step over one character
      if (end >= text.size()) break;
      start = end + utf8_length(static_cast<unsigned char>(text[end]));
    }
  }
  return spans;
}

void Regex::fail_match(int code, size_t text_bytes) const {
  PCRE2_UCHAR message[256];
  pcre2_get_error_message(code, message, sizeof(message));
  fail("{}: pattern '{}' gave up on a text of {} bytes: {} (limits: docs/robustness.md)",
       compiled_->origin, compiled_->pattern, text_bytes, reinterpret_cast<const char*>(message));
}

std::string oniguruma_to_pcre2(const std::string& pattern) {
  std::string out;
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += class_depth > 0 ? std::string(kWhiteSpaceMembers)
                               : "[" + std::string(kWhiteSpaceMembers) + "]";
      } else if (next == 'S' && class_depth == 0) {
        out += "[^" + std::string(kWhiteSpaceMembers) + "]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

}  // namespace pride::text
