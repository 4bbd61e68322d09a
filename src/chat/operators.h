// Python's operators on template values: arithmetic (unbounded Python ints are 64-bit here, and an
// overflow is an error rather than a wrong number), ordering, membership and string conversion.
#pragma once

#include <string>

#include "chat/value.h"

namespace pride::chat {

// Throws the Jinja2 UndefinedError of an Undefined value (its hint names what was missing).
[[noreturn]] void fail_undefined(const Value& undefined);

// op: + - * / // % **
Value binary_arithmetic(const std::string& op, const Value& left, const Value& right);
// op: - +
Value unary_arithmetic(const std::string& op, const Value& operand);
// op: == != < <= > >= in notin
bool compare(const std::string& op, const Value& left, const Value& right);
bool contains(const Value& container, const Value& item);  // Python `item in container`

}  // namespace pride::chat
