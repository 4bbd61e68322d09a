// UTF-8 and Unicode helpers for the tokenizers: lossy UTF-8 repair (the WHATWG / Rust
// from_utf8_lossy rule), code point iteration, Unicode normalization forms (ICU) and the
// character classes Hugging Face's tokenizers test (Rust's char::is_whitespace, is_alphanumeric).
#pragma once

#include <string>
#include <string_view>

namespace pride::text {

// Replaces every maximal invalid subsequence of `bytes` with U+FFFD, as Rust's
// String::from_utf8_lossy and the WHATWG TextDecoder do. Valid UTF-8 comes back unchanged.
std::string repair_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

// Length in bytes of the (valid) UTF-8 sequence that starts with `lead`.
inline size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
// Decodes the code point at `text[pos]` of valid UTF-8 and advances `pos` past it.
char32_t next_code_point(std::string_view text, size_t& pos);
// The code point that ends just before `end` (valid UTF-8, end > 0).
char32_t last_code_point(std::string_view text, size_t end, size_t* start = nullptr);
void append_utf8(std::string& out, char32_t code_point);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view text, NormalForm form);

bool is_white_space(char32_t c);   // Unicode White_Space, as Rust's char::is_whitespace
bool is_alphanumeric(char32_t c);  // Alphabetic or a number, as Rust's char::is_alphanumeric

}  // namespace pride::text
