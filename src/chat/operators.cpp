// Python semantics of + - * / // % ** and comparisons on template values.
#include "chat/operators.h"

#include <fmt/format.h>

#include <cmath>

namespace pride::chat {

[[noreturn]] void fail_undefined(const Value& undefined) {
  throw EvalError(undefined.text().empty() ? "undefined value" : undefined.text());
}

namespace {

[[noreturn]] void fail_operands(const std::string& op, const Value& left, const Value& right) {
  throw EvalError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op,
                              left.type_name(), right.type_name()));
}

[[noreturn]] void fail_overflow() {
  throw EvalError("integer overflow (Python integers are unbounded; 64 bits here)");
}

// a op b with __builtin_*_overflow, failing on overflow.
template <bool (*Op)(int64_t, int64_t, int64_t*)>
int64_t checked(int64_t a, int64_t b) {
  int64_t result;
  if (Op(a, b, &result)) fail_overflow();
  return result;
}
bool add(int64_t a, int64_t b, int64_t* r) {
  return __builtin_add_overflow(a, b, r);
}
bool subtract(int64_t a, int64_t b, int64_t* r) {
  return __builtin_sub_overflow(a, b, r);
}
bool multiply(int64_t a, int64_t b, int64_t* r) {
  return __builtin_mul_overflow(a, b, r);
}

int64_t int_power(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) result = checked<multiply>(result, base);
    exponent >>= 1;
    if (exponent > 0) base = checked<multiply>(base, base);
  }
  return result;
}

double float_power(double base, double exponent) {
  if (base == 0 && exponent < 0) throw EvalError("0.0 cannot be raised to a negative power");
  if (base < 0 && exponent != std::floor(exponent) && std::isfinite(exponent)) {
    throw EvalError("a negative number to a fractional power is complex: not supported");
  }
  const double result = std::pow(base, exponent);
  if (std::isinf(result) && std::isfinite(base) && std::isfinite(exponent)) {
    throw EvalError("(34, 'Numerical result out of range')");
  }
  return result;
}

Value int_arithmetic(const std::string& op, int64_t a, int64_t b) {
  if (op == "+") return checked<add>(a, b);
  if (op == "-") return checked<subtract>(a, b);
  if (op == "*") return checked<multiply>(a, b);
  if (op == "/") {
    if (b == 0) throw EvalError("division by zero");
    return static_cast<double>(a) / static_cast<double>(b);
  }
  if (op == "**") {
    if (b < 0) return float_power(static_cast<double>(a), static_cast<double>(b));
    return int_power(a, b);
  }
  if (b == 0) throw EvalError("integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) fail_overflow();
  const int64_t remainder = a % b;
  const bool adjust = remainder != 0 && ((remainder < 0) != (b < 0));
  if (op == "%") return adjust ? remainder + b : remainder;
  return a / b - (adjust ? 1 : 0);  // "//"
}

// CPython's float_divmod: the floor quotient and the modulo with the divisor's sign.
std::pair<double, double> float_divmod(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  double floor_div;
  if (div != 0) {
    floor_div = std::floor(div);
    if (div - floor_div > 0.5) floor_div += 1.0;
  } else {
    floor_div = std::copysign(0.0, a / b);
  }
  return {floor_div, mod};
}

Value float_arithmetic(const std::string& op, double a, double b) {
  if (op == "+") return a + b;
  if (op == "-") return a - b;
  if (op == "*") return a * b;
  if (op == "**") return float_power(a, b);
  if (b == 0) {
    throw EvalError(op == "/"   ? "float division by zero"
                    : op == "%" ? "float modulo"
                                : "float floor division by zero");
  }
  if (op == "/") return a / b;
  const auto [floor_div, mod] = float_divmod(a, b);
  return op == "%" ? mod : floor_div;
}

// str + str, list + list, tuple + tuple; Markup escapes a plain string it is added to.
Value add_sequences(const Value& left, const Value& right) {
  if (left.is_string() && right.is_string()) {
    if (left.is_markup() == right.is_markup()) {
      return left.is_markup() ? Value::markup(left.text() + right.text())
                              : Value(left.text() + right.text());
    }
    return Value::markup((left.is_markup() ? left.text() : html_escape(left.text())) +
                         (right.is_markup() ? right.text() : html_escape(right.text())));
  }
  const bool plain_lists = left.kind() == Kind::List && right.kind() == Kind::List &&
                           left.sequence().view == ListView::Plain &&
                           right.sequence().view == ListView::Plain;
  if (plain_lists || (left.kind() == Kind::Tuple && right.kind() == Kind::Tuple)) {
    std::vector<Value> items = left.items();
    items.insert(items.end(), right.items().begin(), right.items().end());
    return left.kind() == Kind::Tuple ? Value::tuple(std::move(items))
                                      : Value::list(std::move(items));
  }
  fail_operands("+", left, right);
}

Value repeat_sequence(const Value& sequence, int64_t count) {
  if (sequence.is_string()) {
    std::string out;
    for (int64_t i = 0; i < count; ++i) out += sequence.text();
    return sequence.is_markup() ? Value::markup(out) : Value(out);
  }
  std::vector<Value> items;
  for (int64_t i = 0; i < count; ++i) {
    items.insert(items.end(), sequence.items().begin(), sequence.items().end());
  }
  return sequence.kind() == Kind::Tuple ? Value::tuple(std::move(items))
                                        : Value::list(std::move(items));
}

bool is_repeatable(const Value& value) {
  return value.is_string() || value.kind() == Kind::Tuple ||
         (value.kind() == Kind::List && value.sequence().view == ListView::Plain);
}

template <typename T>
bool ordered(const std::string& op, const T& a, const T& b) {
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a >= b;
}

bool compare_order(const std::string& op, const Value& left, const Value& right) {
  if (left.is_number() && right.is_number()) {
    if (left.kind() != Kind::Float && right.kind() != Kind::Float) {
      return ordered(op, left.as_int(), right.as_int());
    }
    const auto as_long_double = [](const Value& v) {
      return v.kind() == Kind::Float ? static_cast<long double>(v.as_double())
                                     : static_cast<long double>(v.as_int());
    };
    return ordered(op, as_long_double(left), as_long_double(right));
  }
  if (left.is_string() && right.is_string()) return ordered(op, left.text(), right.text());
  const bool lists = left.kind() == Kind::List && right.kind() == Kind::List &&
                     left.sequence().view == ListView::Plain &&
                     right.sequence().view == ListView::Plain;
  if (lists || (left.kind() == Kind::Tuple && right.kind() == Kind::Tuple)) {
    const auto& a = left.items();
    const auto& b = right.items();
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!python_equal(a[i], b[i])) return compare_order(op, a[i], b[i]);
    }
    return ordered(op, a.size(), b.size());
  }
  if (left.is_undefined()) fail_undefined(left);
  if (right.is_undefined()) fail_undefined(right);
  throw EvalError(fmt::format("'{}' not supported between instances of '{}' and '{}'", op,
                              left.type_name(), right.type_name()));
}

}  // namespace

Value binary_arithmetic(const std::string& op, const Value& left, const Value& right) {
  if (left.is_undefined()) fail_undefined(left);
  if (right.is_undefined()) fail_undefined(right);
  if (left.is_number() && right.is_number()) {
    if (left.kind() == Kind::Float || right.kind() == Kind::Float) {
      return float_arithmetic(op, left.as_double(), right.as_double());
    }
    return int_arithmetic(op, left.as_int(), right.as_int());
  }
  if (op == "+") return add_sequences(left, right);
  if (op == "*" && is_repeatable(left) && right.is_integer()) {
    return repeat_sequence(left, right.as_int());
  }
  if (op == "*" && left.is_integer() && is_repeatable(right)) {
    return repeat_sequence(right, left.as_int());
  }
  if (op == "%" && left.is_string()) {
    throw EvalError("printf-style string formatting (str % value) is not supported");
  }
  fail_operands(op, left, right);
}

Value unary_arithmetic(const std::string& op, const Value& operand) {
  if (operand.is_undefined()) fail_undefined(operand);
  if (operand.kind() == Kind::Float) return op == "-" ? -operand.as_double() : operand.as_double();
  if (operand.is_integer()) {
    if (op == "+") return operand.as_int();
    if (operand.as_int() == INT64_MIN) fail_overflow();
    return -operand.as_int();
  }
  throw EvalError(fmt::format("bad operand type for unary {}: '{}'", op, operand.type_name()));
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined:
      return false;
    case Kind::String:
      if (!item.is_string()) {
        throw EvalError(
            fmt::format("'in <string>' requires string as left operand, not {}", item.type_name()));
      }
      return container.text().find(item.text()) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
      for (const Value& element : container.items()) {
        if (python_equal(element, item)) return true;
      }
      return false;
    case Kind::Dict:
      return container.dict().find(item) != nullptr;
    default:
      throw EvalError(fmt::format("argument of type '{}' is not iterable", container.type_name()));
  }
}

bool compare(const std::string& op, const Value& left, const Value& right) {
  if (op == "==") return python_equal(left, right);
  if (op == "!=") return !python_equal(left, right);
  if (op == "in") return contains(right, left);
  if (op == "notin") return !contains(right, left);
  return compare_order(op, left, right);
}

}  // namespace pride::chat
