// decode_mixed_text: UTF-8 / Windows-1252 repair (see encoding.h).
#include "dialogue/encoding.h"

#include <array>
#include <optional>
#include <vector>

#include "text/unicode.h"

namespace pride::dialogue {
namespace {

// Windows-1252 0x80..0x9F; 0 marks the five undefined bytes.
constexpr std::array<char16_t, 32> kHighControls = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

// The Windows-1252 byte that shows as `c`, if any (the inverse of windows1252_code_point).
std::optional<unsigned char> windows1252_byte(char32_t c) {
  if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) return static_cast<unsigned char>(c);
  if (c <= 0x9F) return static_cast<unsigned char>(c);  // undefined bytes kept as C1 controls
  for (size_t i = 0; i < kHighControls.size(); ++i) {
    if (kHighControls[i] == c) return static_cast<unsigned char>(0x80 + i);
  }
  return std::nullopt;
}

// Step 1 and 2: code points of the bytes (valid UTF-8 kept, other bytes as Windows-1252, C1
// controls as Windows-1252).
std::vector<char32_t> code_points(std::string_view bytes) {
  std::vector<char32_t> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[pos]);
    const size_t length = text::utf8_length(lead);
    char32_t c;
    if (lead >= 0x80 && (pos + length > bytes.size() ||
                         !text::is_valid_utf8(bytes.substr(pos, length)) || lead < 0xC2)) {
      c = windows1252_code_point(lead);
      ++pos;
    } else {
      c = text::next_code_point(bytes, pos);
    }
    if (c >= 0x80 && c <= 0x9F) c = windows1252_code_point(static_cast<unsigned char>(c));
    out.push_back(c);
  }
  return out;
}

// Step 3 at `chars[i]`: the character a mojibake run starting there stands for, and its length.
std::optional<std::pair<char32_t, size_t>> undo_mojibake(const std::vector<char32_t>& chars,
                                                         size_t i) {
  const auto lead = windows1252_byte(chars[i]);
  if (!lead || *lead < 0xC2 || *lead > 0xF4) return std::nullopt;
  const size_t length = text::utf8_length(*lead);
  if (i + length > chars.size()) return std::nullopt;
  std::string bytes(1, static_cast<char>(*lead));
  for (size_t k = 1; k < length; ++k) {
    const auto byte = windows1252_byte(chars[i + k]);
    if (!byte || *byte < 0x80 || *byte > 0xBF) return std::nullopt;
    bytes += static_cast<char>(*byte);
  }
  if (!text::is_valid_utf8(bytes)) return std::nullopt;
  size_t pos = 0;
  return std::make_pair(text::next_code_point(bytes, pos), length);
}

}  // namespace

char32_t windows1252_code_point(unsigned char byte) {
  if (byte < 0x80 || byte >= 0xA0) return byte;
  const char16_t c = kHighControls[byte - 0x80];
  return c == 0 ? byte : c;
}

std::string decode_mixed_text(std::string_view bytes) {
  const std::vector<char32_t> chars = code_points(bytes);
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < chars.size();) {
    if (const auto repaired = undo_mojibake(chars, i)) {
      text::append_utf8(out, repaired->first);
      i += repaired->second;
    } else {
      text::append_utf8(out, chars[i]);
      ++i;
    }
  }
  return out;
}

}  // namespace pride::dialogue
