// Python's number conversions and rounding on template values: float(), int(), round(), and
// str.replace, as the int/float/round/replace filters call them.
#pragma once

#include <optional>
#include <string>

#include "chat/value.h"

namespace pride::chat {

// float(value): nullopt where Python raises TypeError/ValueError (the filter's default applies).
std::optional<double> python_float(const Value& value);
// int(value) / int(text, base): likewise; an infinite float is an EvalError (OverflowError).
std::optional<Value> python_int(const Value& value, int64_t base);
// round(number, digits): floats round half to even on their exact binary value.
Value python_round(const Value& number, int64_t digits);
// str.replace(old, new, count); count < 0 replaces all.
std::string python_replace(const std::string& text, const std::string& old_text,
                           const std::string& new_text, int64_t count);

}  // namespace pride::chat
