// Jinja2's tests (`x is defined`, `x is string`, `x is divisibleby 3`, ...).
#include <fmt/format.h>

#include <algorithm>

#include "chat/builtins.h"
#include "chat/operators.h"

namespace pride::chat {
namespace {

Value no_argument_test(BuiltinCall& call, const char* name, bool (*predicate)(const Value&)) {
  BoundArguments(name, call.args, {});
  return predicate(call.operand);
}

#define PRIDE_CHAT_SIMPLE_TEST(function, name, expression)                                  \
  Value function(BuiltinCall& call) {                                                       \
    return no_argument_test(call, name, [](const Value& x) -> bool { return expression; }); \
  }

PRIDE_CHAT_SIMPLE_TEST(test_defined, "defined", !x.is_undefined())
PRIDE_CHAT_SIMPLE_TEST(test_undefined, "undefined", x.is_undefined())
PRIDE_CHAT_SIMPLE_TEST(test_none, "none", x.is_none())
PRIDE_CHAT_SIMPLE_TEST(test_boolean, "boolean", x.kind() == Kind::Bool)
PRIDE_CHAT_SIMPLE_TEST(test_false, "false", x.kind() == Kind::Bool && !x.as_bool())
PRIDE_CHAT_SIMPLE_TEST(test_true, "true", x.kind() == Kind::Bool && x.as_bool())
PRIDE_CHAT_SIMPLE_TEST(test_integer, "integer", x.kind() == Kind::Int)
PRIDE_CHAT_SIMPLE_TEST(test_float, "float", x.kind() == Kind::Float)
PRIDE_CHAT_SIMPLE_TEST(test_string, "string", x.is_string())
PRIDE_CHAT_SIMPLE_TEST(test_mapping, "mapping", x.kind() == Kind::Dict)
PRIDE_CHAT_SIMPLE_TEST(test_number, "number", x.is_number())
PRIDE_CHAT_SIMPLE_TEST(test_escaped, "escaped", x.is_markup())
PRIDE_CHAT_SIMPLE_TEST(test_lower, "lower", python_is_lower(x.str()))
PRIDE_CHAT_SIMPLE_TEST(test_upper, "upper", python_is_upper(x.str()))
// Undefined has __len__, __getitem__, __iter__ and __call__ in Jinja2.
PRIDE_CHAT_SIMPLE_TEST(test_sequence, "sequence",
                       x.is_undefined() || x.is_string() || x.kind() == Kind::Dict ||
                           x.kind() == Kind::Tuple ||
                           (x.kind() == Kind::List && (x.sequence().view == ListView::Plain ||
                                                       x.sequence().view == ListView::Range)))
PRIDE_CHAT_SIMPLE_TEST(test_iterable, "iterable",
                       x.is_undefined() || x.is_string() || x.kind() == Kind::Dict ||
                           x.is_sequence())
PRIDE_CHAT_SIMPLE_TEST(test_callable, "callable",
                       x.is_undefined() || (x.kind() == Kind::Object && x.object()->callable()))
PRIDE_CHAT_SIMPLE_TEST(test_filter, "filter", x.is_string() && jinja_has_filter(x.text()))
PRIDE_CHAT_SIMPLE_TEST(test_test, "test", x.is_string() && jinja_has_test(x.text()))

#undef PRIDE_CHAT_SIMPLE_TEST

Value remainder_is(BuiltinCall& call, const char* name, const Value& divisor, int64_t expected) {
  return python_equal(binary_arithmetic("%", call.operand, divisor), Value(expected));
}

Value test_odd(BuiltinCall& call) {
  BoundArguments("odd", call.args, {});
  return remainder_is(call, "odd", Value(2), 1);
}

Value test_even(BuiltinCall& call) {
  BoundArguments("even", call.args, {});
  return remainder_is(call, "even", Value(2), 0);
}

Value test_divisibleby(BuiltinCall& call) {
  BoundArguments args("divisibleby", call.args, {"num"});
  if (!args.has(0)) throw EvalError("divisibleby() missing required argument 'num'");
  return remainder_is(call, "divisibleby", args[0], 0);
}

// `is sameas`: Python identity, which is only predictable for None, booleans and small ints.
Value test_sameas(BuiltinCall& call) {
  BoundArguments args("sameas", call.args, {"other"});
  const Value& a = call.operand;
  const Value other = args.get(0, Value());
  auto singleton = [](const Value& v) { return v.is_none() || v.kind() == Kind::Bool; };
  if (singleton(a) || singleton(other)) return a.kind() == other.kind() && python_equal(a, other);
  auto small_int = [](const Value& v) {
    return v.kind() == Kind::Int && v.as_int() >= -5 && v.as_int() <= 256;
  };
  if (small_int(a) && small_int(other)) return a.as_int() == other.as_int();
  throw EvalError("'sameas' is only supported with none, true, false and small integers");
}

Value binary_test(BuiltinCall& call, const char* name, const char* op) {
  BoundArguments args(name, call.args, {"other"});
  if (!args.has(0)) throw EvalError(fmt::format("{}() missing required argument 'other'", name));
  return compare(op, call.operand, args[0]);
}

Value test_in(BuiltinCall& call) {
  return binary_test(call, "in", "in");
}
Value test_eq(BuiltinCall& call) {
  return binary_test(call, "eq", "==");
}
Value test_ne(BuiltinCall& call) {
  return binary_test(call, "ne", "!=");
}
Value test_gt(BuiltinCall& call) {
  return binary_test(call, "gt", ">");
}
Value test_ge(BuiltinCall& call) {
  return binary_test(call, "ge", ">=");
}
Value test_lt(BuiltinCall& call) {
  return binary_test(call, "lt", "<");
}
Value test_le(BuiltinCall& call) {
  return binary_test(call, "le", "<=");
}

const Builtin kTests[] = {
    {"odd", test_odd},
    {"even", test_even},
    {"divisibleby", test_divisibleby},
    {"defined", test_defined},
    {"undefined", test_undefined},
    {"filter", test_filter},
    {"test", test_test},
    {"none", test_none},
    {"boolean", test_boolean},
    {"false", test_false},
    {"true", test_true},
    {"integer", test_integer},
    {"float", test_float},
    {"lower", test_lower},
    {"upper", test_upper},
    {"string", test_string},
    {"mapping", test_mapping},
    {"number", test_number},
    {"sequence", test_sequence},
    {"iterable", test_iterable},
    {"callable", test_callable},
    {"sameas", test_sameas},
    {"escaped", test_escaped},
    {"in", test_in},
    {"==", test_eq},
    {"eq", test_eq},
    {"equalto", test_eq},
    {"!=", test_ne},
    {"ne", test_ne},
    {">", test_gt},
    {"gt", test_gt},
    {"greaterthan", test_gt},
    {"ge", test_ge},
    {">=", test_ge},
    {"<", test_lt},
    {"lt", test_lt},
    {"lessthan", test_lt},
    {"<=", test_le},
    {"le", test_le},
};

}  // namespace

const Builtin* find_test(const std::string& name) {
  for (const Builtin& test : kTests) {
    if (name == test.name) return &test;
  }
  return nullptr;
}

bool jinja_has_test(const std::string& name) {
  return find_test(name) != nullptr;
}

}  // namespace pride::chat
