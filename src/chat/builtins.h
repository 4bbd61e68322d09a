// The built-ins of HF's Jinja2 environment: filters, tests, the methods of str/dict/list that
// templates call, and the globals (range, namespace, dict, raise_exception, strftime_now).
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "chat/evaluator.h"
#include "chat/value.h"

namespace pride::chat {

struct BuiltinCall {
  Evaluator& evaluator;
  Value operand;
  CallArgs args;
};

struct Builtin {
  const char* name;
  Value (*function)(BuiltinCall& call);
};

// A filter or test by name; nullptr for names this interpreter does not implement.
const Builtin* find_filter(const std::string& name);
const Builtin* find_test(const std::string& name);
// Whether Jinja2 itself has a filter/test of that name (for `is filter` and error messages).
bool jinja_has_filter(const std::string& name);
bool jinja_has_test(const std::string& name);

// Python's binding of call arguments to named parameters: too many positional arguments, an
// unknown keyword or one given twice is an EvalError.
class BoundArguments {
 public:
  BoundArguments(const std::string& function, const CallArgs& args,
                 std::initializer_list<const char*> parameters);
  bool has(size_t index) const { return given_[index]; }
  const Value& operator[](size_t index) const { return values_[index]; }
  Value get(size_t index, Value fallback) const { return has(index) ? values_[index] : fallback; }

 private:
  std::vector<Value> values_;
  std::vector<bool> given_;
};

// An attribute of a str, dict, list or number as Python's getattr gives it: a bound method, an
// Undefined that fails when called (the sandbox's unsafe mutating methods), or nullptr when the
// type has no such attribute. An attribute Python has but this interpreter lacks is an EvalError.
std::unique_ptr<Value> builtin_attribute(const Value& object, const std::string& name);

// Jinja2's default globals plus HF's, into `scope`.
void add_globals(Scope& scope);

// Shared by filters and methods.
std::string soft_str(const Value& value);  // str() that keeps Markup text
// json.dumps(value, ensure_ascii, indent, separators, sort_keys).
std::string to_json(const Value& value, const Value& indent, const Value& separators,
                    bool sort_keys, bool ensure_ascii);

}  // namespace pride::chat
