// The evaluator: renders a parsed template against variables, with Jinja2's scoping (a for-loop
// iteration, macro call, {% with %} and block set get their own scope; if-blocks do not) and the
// objects templates call: macros, namespaces, loop contexts and built-in functions.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "chat/value.h"

namespace pride::chat {

class Scope {
 public:
  // A frame's scope: `unassigned` start Undefined (see UnassignedNames).
  explicit Scope(std::shared_ptr<Scope> parent, const UnassignedNames& unassigned = {});
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value value) { variables_[name] = std::move(value); }

 private:
  std::shared_ptr<Scope> parent_;
  std::unordered_map<std::string, Value> variables_;
};
using ScopePtr = std::shared_ptr<Scope>;

// A C++ function callable from templates: globals and bound methods.
class BuiltinFunction : public Object {
 public:
  using Function = std::function<Value(Evaluator&, CallArgs)>;
  BuiltinFunction(std::string name, Function function)
      : name_(std::move(name)), function_(std::move(function)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }
  bool callable() const override { return true; }
  Value call(Evaluator& evaluator, CallArgs args) override { return function_(evaluator, args); }

 private:
  std::string name_;
  Function function_;
};

// namespace(): the one mutable object, assigned with {% set ns.attr = value %}.
class Namespace : public Object {
 public:
  explicit Namespace(Dict attributes) : attributes_(std::move(attributes)) {}
  std::string type_name() const override { return "Namespace"; }
  std::string repr() const override;
  std::unique_ptr<Value> attribute(const std::string& name) const override;
  void set(const std::string& name, Value value) { attributes_.set(Value(name), std::move(value)); }

 private:
  Dict attributes_;
};

class Evaluator {
 public:
  Evaluator(const SourceMap& map, ScopePtr globals) : map_(map), scope_(std::move(globals)) {}

  std::string render(const Body& body);

  // Used by the nodes (evaluator.cpp) and the built-ins.
  Value eval(const Expr& expr);  // adds the node's position to an EvalError
  Flow render_body(const Body& body, std::string& out);
  std::string render_in_scope(const Body& body, ScopePtr scope);
  Value call(const Value& callee, CallArgs args);
  Value get_attribute(const Value& object, const std::string& name);  // x.name
  Value get_item(const Value& object, const Value& key);              // x[key]
  Value lookup(const std::string& name) const;
  void assign(const Target& target, const Value& value);
  Value apply_filter(const FilterExpr& filter, Value operand);
  CallArgs eval_arguments(const Arguments& arguments);
  ScopePtr scope() const { return scope_; }
  const SourceMap& source() const { return map_; }
  [[noreturn]] void fail_at(size_t offset, const std::string& what) const;

  // Makes `scope` current until destroyed.
  class ScopeGuard {
   public:
    ScopeGuard(Evaluator& evaluator, ScopePtr scope)
        : evaluator_(evaluator), saved_(std::move(evaluator.scope_)) {
      evaluator_.scope_ = std::move(scope);
    }
    ~ScopeGuard() { evaluator_.scope_ = std::move(saved_); }

   private:
    Evaluator& evaluator_;
    ScopePtr saved_;
  };

  // Counts nested macro calls: Python's recursion limit stops runaway macros in Jinja2, this
  // keeps the C++ stack safe.
  class CallDepthGuard {
   public:
    explicit CallDepthGuard(Evaluator& evaluator);
    ~CallDepthGuard() { --evaluator_.call_depth_; }

   private:
    Evaluator& evaluator_;
  };

 private:
  const SourceMap& map_;
  ScopePtr scope_;
  int call_depth_ = 0;
};

}  // namespace pride::chat
