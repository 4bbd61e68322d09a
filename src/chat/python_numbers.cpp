// float(), int(), round() and str.replace with Python's rules.
#include "chat/python_numbers.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/operators.h"

namespace pride::chat {
namespace {

// Python allows single underscores between digits in numeric strings ("1_000").
std::optional<std::string> remove_digit_underscores(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '_') {
      out.push_back(text[i]);
      continue;
    }
    const bool between_digits = i > 0 && i + 1 < text.size() &&
                                std::isxdigit(static_cast<unsigned char>(text[i - 1])) &&
                                std::isxdigit(static_cast<unsigned char>(text[i + 1]));
    if (!between_digits) return std::nullopt;
  }
  return out;
}

std::string strip_spaces(const std::string& text) {
  return python_strip(text, std::nullopt, true, true);
}

std::optional<double> parse_float_text(const std::string& raw) {
  const auto text = remove_digit_underscores(strip_spaces(raw));
  if (!text || text->empty()) return std::nullopt;
  std::string lower;
  for (char c : *text)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const size_t sign = lower[0] == '+' || lower[0] == '-' ? 1 : 0;
  const std::string body = lower.substr(sign);
  const double sign_factor = lower[0] == '-' ? -1.0 : 1.0;
  if (body == "inf" || body == "infinity") return sign_factor * HUGE_VAL;
  if (body == "nan") return std::copysign(NAN, sign_factor);
  // Only decimal digits, one point and an exponent: strtod would also take hex and "infinity".
  bool digits = false;
  for (char c : body) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != '+' &&
        c != '-') {
      return std::nullopt;
    }
    digits = digits || std::isdigit(static_cast<unsigned char>(c));
  }
  if (!digits) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text->c_str(), &end);
  if (end != text->c_str() + text->size()) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_int_text(const std::string& raw, int64_t base) {
  if (base < 2 || base > 36) throw EvalError("int() base must be >= 2 and <= 36 (0 unsupported)");
  const auto text = remove_digit_underscores(strip_spaces(raw));
  if (!text || text->empty()) return std::nullopt;
  const size_t sign = (*text)[0] == '+' || (*text)[0] == '-' ? 1 : 0;
  if (sign == text->size()) return std::nullopt;
  int64_t value = 0;
  for (size_t i = sign; i < text->size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>((*text)[i])));
    const int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                      : (c >= 'a' && c <= 'z')                    ? c - 'a' + 10
                                                                  : 99;
    if (digit >= base) return std::nullopt;
    if (__builtin_mul_overflow(value, base, &value) ||
        __builtin_add_overflow(value, digit, &value)) {
      throw EvalError("integer overflow (Python integers are unbounded; 64 bits here)");
    }
  }
  return (*text)[0] == '-' ? -value : value;
}

}  // namespace

std::optional<double> python_float(const Value& value) {
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_number()) return value.as_double();
  if (value.is_string()) return parse_float_text(value.text());
  return std::nullopt;
}

std::optional<Value> python_int(const Value& value, int64_t base) {
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_integer()) return Value(value.as_int());
  if (value.is_string()) {
    const auto parsed = parse_int_text(value.text(), base);
    return parsed ? std::optional<Value>(Value(*parsed)) : std::nullopt;
  }
  if (value.kind() != Kind::Float) return std::nullopt;
  const double number = value.as_double();
  if (std::isnan(number)) return std::nullopt;
  if (std::isinf(number)) throw EvalError("cannot convert float infinity to integer");
  if (std::fabs(number) >= 9223372036854775808.0) {
    throw EvalError("integer overflow (Python integers are unbounded; 64 bits here)");
  }
  return Value(static_cast<int64_t>(number));
}

Value python_round(const Value& number, int64_t digits) {
  if (number.is_integer()) {
    if (digits >= 0) return number.as_int();
    throw EvalError("round() of an integer to negative digits is not supported");
  }
  if (number.kind() != Kind::Float) {
    throw EvalError(fmt::format("type {} doesn't define __round__ method", number.type_name()));
  }
  const double x = number.as_double();
  if (!std::isfinite(x) || digits > 330) return x;
  if (digits < 0) throw EvalError("round() of a float to negative digits is not supported");
  // printf rounds the exact binary value half to even, as Python's correctly rounded round().
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(digits), x);
  return std::strtod(buffer, nullptr);
}

std::string python_replace(const std::string& text, const std::string& old_text,
                           const std::string& new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // "" matches before every character and at the end.
    const std::u32string code_points = decode_utf8(text);
    int64_t done = 0;
    for (char32_t c : code_points) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      append_utf8(out, c);
    }
    if (count < 0 || done < count) out += new_text;
    return out;
  }
  size_t start = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    const size_t found = text.find(old_text, start);
    if (found == std::string::npos) break;
    out += text.substr(start, found - start) + new_text;
    start = found + old_text.size();
  }
  return out + text.substr(start);
}

}  // namespace pride::chat
