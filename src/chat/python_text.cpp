// Python str semantics over UTF-8: the helpers behind string methods, filters and value printing.
#include "chat/python_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace pride::chat {
namespace {

size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 0;
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = utf8_sequence_length(lead);
    if (length == 0 || i + length > text.size()) throw EvalError("invalid UTF-8 in a string");
    char32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next >> 6) != 0x2) throw EvalError("invalid UTF-8 in a string");
      code_point = (code_point << 6) | (next & 0x3F);
    }
    out.push_back(code_point);
    i += length;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) >> 6) != 0x2;
  return count;
}

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

std::string python_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                         bool right) {
  const std::u32string code_points = decode_utf8(text);
  const std::u32string strip_set = chars ? decode_utf8(*chars) : std::u32string();
  auto strips = [&](char32_t c) {
    return chars ? strip_set.find(c) != std::u32string::npos : is_python_space(c);
  };
  size_t begin = 0, end = code_points.size();
  while (left && begin < end && strips(code_points[begin])) ++begin;
  while (right && end > begin && strips(code_points[end - 1])) --end;
  return encode_utf8(std::u32string_view(code_points).substr(begin, end - begin));
}

namespace {

std::vector<std::string> split_whitespace(const std::u32string& text, long max_split,
                                          bool from_right) {
  // Splitting from the right is splitting the reversed text, with the parts reversed back.
  std::u32string work = text;
  if (from_right) work.assign(text.rbegin(), text.rend());
  std::vector<std::u32string> parts;
  size_t i = 0;
  while (true) {
    while (i < work.size() && is_python_space(work[i])) ++i;
    if (i == work.size()) break;
    if (max_split >= 0 && static_cast<long>(parts.size()) == max_split) {
      size_t end = work.size();
      while (end > i && is_python_space(work[end - 1])) --end;
      parts.push_back(work.substr(i, end - i));
      break;
    }
    const size_t start = i;
    while (i < work.size() && !is_python_space(work[i])) ++i;
    parts.push_back(work.substr(start, i - start));
  }
  std::vector<std::string> out;
  for (auto& part : parts) {
    if (from_right) part.assign(std::u32string(part.rbegin(), part.rend()));
    out.push_back(encode_utf8(part));
  }
  if (from_right) std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> split_separator(std::string_view text, const std::string& separator,
                                         long max_split, bool from_right) {
  if (separator.empty()) throw EvalError("empty separator");
  std::vector<std::string> out;
  if (!from_right) {
    size_t start = 0;
    while (max_split < 0 || static_cast<long>(out.size()) < max_split) {
      const size_t found = text.find(separator, start);
      if (found == std::string_view::npos) break;
      out.emplace_back(text.substr(start, found - start));
      start = found + separator.size();
    }
    out.emplace_back(text.substr(start));
    return out;
  }
  size_t end = text.size();
  while (max_split < 0 || static_cast<long>(out.size()) < max_split) {
    if (end < separator.size()) break;
    const size_t found = text.rfind(separator, end - separator.size());
    if (found == std::string_view::npos) break;
    out.emplace_back(text.substr(found + separator.size(), end - found - separator.size()));
    end = found;
  }
  out.emplace_back(text.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> python_split(std::string_view text,
                                      const std::optional<std::string>& separator, long max_split,
                                      bool from_right) {
  if (separator) return split_separator(text, *separator, max_split, from_right);
  return split_whitespace(decode_utf8(text), max_split, from_right);
}

std::vector<std::string> python_splitlines(std::string_view text) {
  const std::u32string code_points = decode_utf8(text);
  auto is_line_break = [](char32_t c) {
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
           c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
  };
  std::vector<std::string> lines;
  std::u32string line;
  for (size_t i = 0; i < code_points.size(); ++i) {
    const char32_t c = code_points[i];
    if (!is_line_break(c)) {
      line.push_back(c);
      continue;
    }
    if (c == '\r' && i + 1 < code_points.size() && code_points[i + 1] == '\n') ++i;
    lines.push_back(encode_utf8(line));
    line.clear();
  }
  if (!line.empty()) lines.push_back(encode_utf8(line));
  return lines;
}

// --- case mapping -------------------------------------------------------------------------------
namespace {

// Scripts with letter case that the tables below do not cover.
bool in_unsupported_cased_range(char32_t c) {
  static constexpr std::pair<char32_t, char32_t> kRanges[] = {
      {0x180, 0x2AF},     {0x345, 0x345},     {0x370, 0x3FF},     {0x460, 0x52F},
      {0x531, 0x58F},     {0x10A0, 0x10FF},   {0x13A0, 0x13FF},   {0x1C80, 0x1CBF},
      {0x1D00, 0x1DBF},   {0x1E00, 0x1FFF},   {0x2100, 0x218F},   {0x24B6, 0x24E9},
      {0x2C00, 0x2D2F},   {0xA640, 0xA69F},   {0xA720, 0xA7FF},   {0xAB30, 0xABBF},
      {0xFB00, 0xFB17},   {0xFF21, 0xFF5A},   {0x10400, 0x104FF}, {0x10570, 0x105BF},
      {0x10C80, 0x10CFF}, {0x118A0, 0x118FF}, {0x16E40, 0x16E9F}, {0x1D400, 0x1D7FF},
      {0x1E900, 0x1E95F}};
  for (const auto& [first, last] : kRanges) {
    if (c >= first && c <= last) return true;
  }
  return false;
}

void check_case_supported(char32_t c) {
  if (in_unsupported_cased_range(c)) {
    throw EvalError(fmt::format(
        "case mapping of U+{:04X} is not supported (ASCII, Latin-1, Latin Extended-A and "
        "Cyrillic only)",
        static_cast<uint32_t>(c)));
  }
}

bool latin_extended_a_upper_is_even(char32_t c) {
  return (c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177);
}
bool latin_extended_a_upper_is_odd(char32_t c) {
  return (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
}

bool is_upper_letter(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  if (c >= 0xC0 && c <= 0xDE) return c != 0xD7;
  if (latin_extended_a_upper_is_even(c)) return c % 2 == 0;
  if (latin_extended_a_upper_is_odd(c)) return c % 2 == 1;
  if (c == 0x178) return true;
  return c >= 0x400 && c <= 0x42F;
}

bool is_lower_letter(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  if (c == 0xAA || c == 0xB5 || c == 0xBA) return true;
  if (c >= 0xDF && c <= 0xFF) return c != 0xF7;
  if (latin_extended_a_upper_is_even(c)) return c % 2 == 1;
  if (latin_extended_a_upper_is_odd(c)) return c % 2 == 0;
  if (c == 0x138 || c == 0x149 || c == 0x17F) return true;
  return c >= 0x430 && c <= 0x45F;
}

bool is_cased(char32_t c) {
  return is_upper_letter(c) || is_lower_letter(c);
}

void append_upper(std::u32string& out, char32_t c) {
  check_case_supported(c);
  if (c >= 'a' && c <= 'z') return out.push_back(c - 32);
  if (c == 0xDF) {
    out.append(U"SS");
    return;
  }
  if (c == 0x149) {
    out.append(U"\u02BCN");
    return;
  }
  if (c == 0xB5) return out.push_back(0x39C);
  if (c == 0xFF) return out.push_back(0x178);
  if (c == 0x131 || c == 0x17F) return out.push_back(c == 0x131 ? 'I' : 'S');
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return out.push_back(c - 32);
  if (latin_extended_a_upper_is_even(c) && c % 2 == 1) return out.push_back(c - 1);
  if (latin_extended_a_upper_is_odd(c) && c % 2 == 0) return out.push_back(c - 1);
  if (c >= 0x430 && c <= 0x44F) return out.push_back(c - 32);
  if (c >= 0x450 && c <= 0x45F) return out.push_back(c - 80);
  out.push_back(c);
}

void append_lower(std::u32string& out, char32_t c) {
  check_case_supported(c);
  if (c >= 'A' && c <= 'Z') return out.push_back(c + 32);
  if (c == 0x130) {
    out.append(U"i\u0307");
    return;
  }
  if (c == 0x178) return out.push_back(0xFF);
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return out.push_back(c + 32);
  if (latin_extended_a_upper_is_even(c) && c % 2 == 0) return out.push_back(c + 1);
  if (latin_extended_a_upper_is_odd(c) && c % 2 == 1) return out.push_back(c + 1);
  if (c >= 0x410 && c <= 0x42F) return out.push_back(c + 32);
  if (c >= 0x400 && c <= 0x40F) return out.push_back(c + 80);
  out.push_back(c);
}

void append_title(std::u32string& out, char32_t c) {
  if (c == 0xDF) {
    out.append(U"Ss");
    return;
  }
  append_upper(out, c);
}

template <typename Map>
std::string map_code_points(std::string_view text, Map map) {
  std::u32string out;
  for (char32_t c : decode_utf8(text)) map(out, c);
  return encode_utf8(out);
}

}  // namespace

std::string python_upper(std::string_view text) {
  return map_code_points(text, append_upper);
}
std::string python_lower(std::string_view text) {
  return map_code_points(text, append_lower);
}

std::string python_str_title(std::string_view text) {
  bool previous_is_cased = false;
  return map_code_points(text, [&](std::u32string& out, char32_t c) {
    previous_is_cased ? append_lower(out, c) : append_title(out, c);
    previous_is_cased = is_cased(c);
  });
}

std::string python_capitalize(std::string_view text) {
  bool first = true;
  return map_code_points(text, [&](std::u32string& out, char32_t c) {
    first ? append_title(out, c) : append_lower(out, c);
    first = false;
  });
}

namespace {

// str.islower (want_lower) / str.isupper: some cased letter, and none of the other case.
bool all_cased_are(std::string_view text, bool want_lower) {
  bool any_cased = false;
  for (char32_t c : decode_utf8(text)) {
    check_case_supported(c);
    if (want_lower ? is_upper_letter(c) : is_lower_letter(c)) return false;
    any_cased = any_cased || is_cased(c);
  }
  return any_cased;
}

}  // namespace

bool python_is_lower(std::string_view text) {
  return all_cased_are(text, true);
}
bool python_is_upper(std::string_view text) {
  return all_cased_are(text, false);
}

// --- repr ---------------------------------------------------------------------------------------

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Shortest round-trip digits, then Python's layout: positional for 1e-4 <= |x| < 1e16.
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);
  const size_t e = scientific.find('e');
  const int exponent = std::atoi(scientific.c_str() + e + 1);
  std::string sign = scientific[0] == '-' ? "-" : "";
  std::string digits;
  for (size_t i = sign.size(); i < e; ++i) {
    if (scientific[i] != '.') digits.push_back(scientific[i]);
  }
  if (exponent < -4 || exponent >= 16) {
    std::string mantissa = digits.substr(0, 1);
    if (digits.size() > 1) mantissa += "." + digits.substr(1);
    return fmt::format("{}{}e{}{:02d}", sign, mantissa, exponent < 0 ? '-' : '+',
                       std::abs(exponent));
  }
  if (exponent < 0) return sign + "0." + std::string(-exponent - 1, '0') + digits;
  const size_t integer_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= integer_digits) {
    return sign + digits + std::string(integer_digits - digits.size(), '0') + ".0";
  }
  return sign + digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
}

namespace {

// str.isprintable() for the characters Python escapes in repr: controls, separators other than
// the space, format characters, private use and non-characters.
bool is_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F)) return false;
  if ((c >= 0x205F && c <= 0x206F) || c == 0x3000 || c == 0xFEFF) return false;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E)
    return false;
  if ((c >= 0xD800 && c <= 0xF8FF) || (c >= 0xFFF0 && c <= 0xFFFB) || c >= 0xF0000) return false;
  if ((c & 0xFFFE) == 0xFFFE || (c >= 0xFDD0 && c <= 0xFDEF)) return false;
  if (c == 0x110BD || (c >= 0x1BCA0 && c <= 0x1BCA3) || (c >= 0x1D173 && c <= 0x1D17A))
    return false;
  return !(c >= 0xE0000 && c <= 0xE0FFF);
}

}  // namespace

std::string python_string_repr(std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : decode_utf8(text)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
    } else if (is_printable(c)) {
      append_utf8(out, c);
    } else if (c < 0x100) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(c));
    } else if (c < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(c));
    }
  }
  out.push_back(quote);
  return out;
}

std::string json_string_literal(std::string_view text, bool ensure_ascii) {
  std::string out = "\"";
  for (char32_t c : decode_utf8(text)) {
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000) {
        const char32_t v = c - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", static_cast<uint32_t>(0xD800 | (v >> 10)),
                           static_cast<uint32_t>(0xDC00 | (v & 0x3FF)));
      } else {
        out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
      }
    } else {
      append_utf8(out, c);
    }
  }
  out.push_back('"');
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace pride::chat
