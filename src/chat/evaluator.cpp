// Evaluation of the syntax tree: expressions to values and statements to text, with Jinja2's
// attribute/item lookup rules, Undefined semantics, scoping, loops and macros.
#include "chat/evaluator.h"

#include <fmt/format.h>

#include "chat/builtins.h"
#include "chat/operators.h"
#include "util/error.h"

namespace pride::chat {
namespace {

Value undefined_attribute(const Value& object, const std::string& name) {
  return Value::undefined(
      fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
}

// Python's slice.indices(): the clamped start and stop for a sequence of `length`.
int64_t clamp_slice_index(const Value& bound, int64_t length, int64_t step, bool is_start) {
  if (bound.is_none()) {
    if (step < 0) return is_start ? length - 1 : -1;
    return is_start ? 0 : length;
  }
  int64_t index = bound.as_int();
  if (index < 0) {
    index += length;
    if (index < 0) index = step < 0 ? -1 : 0;
  } else if (index >= length) {
    index = step < 0 ? length - 1 : length;
  }
  return index;
}

Value slice_sequence(const Value& object, const Value& start_bound, const Value& stop_bound,
                     int64_t step) {
  const bool is_string = object.is_string();
  const std::u32string code_points = is_string ? decode_utf8(object.text()) : std::u32string();
  const int64_t length = is_string ? static_cast<int64_t>(code_points.size())
                                   : static_cast<int64_t>(object.items().size());
  const int64_t start = clamp_slice_index(start_bound, length, step, true);
  const int64_t stop = clamp_slice_index(stop_bound, length, step, false);
  if (object.kind() == Kind::List && object.sequence().view == ListView::Range) {
    const Sequence& range = object.sequence();
    return Value::range(range.range_start + start * range.range_step,
                        range.range_start + stop * range.range_step, range.range_step * step);
  }
  std::u32string text;
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (is_string) {
      text.push_back(code_points[static_cast<size_t>(i)]);
    } else {
      items.push_back(object.items()[static_cast<size_t>(i)]);
    }
  }
  if (is_string) {
    return object.is_markup() ? Value::markup(encode_utf8(text)) : Value(encode_utf8(text));
  }
  return object.kind() == Kind::Tuple ? Value::tuple(std::move(items))
                                      : Value::list(std::move(items));
}

bool is_slice_bound(const Value& value) {
  return value.is_none() || value.is_integer();
}

// A macro or {% call %} caller: binds arguments as Jinja2's Macro.__call__ does, then renders.
class Macro : public Object {
 public:
  Macro(const MacroDefinition& definition, ScopePtr closure)
      : definition_(definition), closure_(std::move(closure)) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr() const override {
    return "<Macro " + python_string_repr(definition_.name) + ">";
  }
  bool callable() const override { return true; }
  Value call(Evaluator& evaluator, CallArgs args) override;

 private:
  std::string name() const { return python_string_repr(definition_.name); }
  void bind_keywords(Scope& scope, size_t positional_count, CallArgs& args,
                     std::vector<bool>& bound) const;

  const MacroDefinition& definition_;
  ScopePtr closure_;
};

void Macro::bind_keywords(Scope& scope, size_t positional_count, CallArgs& args,
                          std::vector<bool>& bound) const {
  const auto& parameters = definition_.parameters;
  Dict extra;
  for (auto& [key, value] : args.keywords) {
    size_t i = positional_count;
    while (i < parameters.size() && parameters[i].name != key) ++i;
    if (i < parameters.size()) {
      scope.set(key, value);
      bound[i] = true;
    } else if (key == "caller" && definition_.uses_caller && !definition_.uses_kwargs) {
      scope.set("caller", value);
    } else {
      extra.set(Value(key), value);
    }
  }
  if (definition_.uses_kwargs) {
    scope.set("kwargs", Value::dict(std::move(extra)));
  } else if (extra.size() > 0) {
    throw EvalError(fmt::format("macro {} takes no keyword argument {}", name(),
                                extra.entries()[0].first.repr()));
  }
}

Value Macro::call(Evaluator& evaluator, CallArgs args) {
  const auto& parameters = definition_.parameters;
  auto scope = std::make_shared<Scope>(closure_, definition_.unassigned);
  const size_t positional_count = std::min(args.positional.size(), parameters.size());
  std::vector<bool> bound(parameters.size(), false);
  for (size_t i = 0; i < positional_count; ++i) {
    scope->set(parameters[i].name, args.positional[i]);
    bound[i] = true;
  }
  if (definition_.uses_caller) {
    scope->set("caller", Value::undefined("'caller' is undefined: no caller defined"));
  }
  bind_keywords(*scope, positional_count, args, bound);
  std::vector<Value> extra(args.positional.begin() + static_cast<long>(positional_count),
                           args.positional.end());
  if (definition_.uses_varargs) {
    scope->set("varargs", Value::tuple(std::move(extra)));
  } else if (!extra.empty()) {
    throw EvalError(
        fmt::format("macro {} takes not more than {} argument(s)", name(), parameters.size()));
  }
  Evaluator::ScopeGuard guard(evaluator, scope);
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (bound[i]) continue;
    scope->set(
        parameters[i].name,
        parameters[i].fallback
            ? evaluator.eval(*parameters[i].fallback)
            : Value::undefined(fmt::format("parameter '{}' was not provided", parameters[i].name)));
  }
  Evaluator::CallDepthGuard depth(evaluator);
  std::string out;
  evaluator.render_body(definition_.body, out);
  return Value(std::move(out));
}

// The `loop` variable of a for loop.
class LoopContext : public Object {
 public:
  LoopContext(std::shared_ptr<const std::vector<Value>> items, size_t index)
      : items_(std::move(items)), index_(index) {}
  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override {
    return fmt::format("<LoopContext {}/{}>", index_ + 1, items_->size());
  }
  std::unique_ptr<Value> attribute(const std::string& name) const override;

 private:
  Value cycle() const;

  std::shared_ptr<const std::vector<Value>> items_;
  size_t index_;
};

std::unique_ptr<Value> LoopContext::attribute(const std::string& name) const {
  const auto length = static_cast<int64_t>(items_->size());
  const auto index0 = static_cast<int64_t>(index_);
  auto make = [](Value value) { return std::make_unique<Value>(std::move(value)); };
  if (name == "index0") return make(index0);
  if (name == "index") return make(index0 + 1);
  if (name == "revindex") return make(length - index0);
  if (name == "revindex0") return make(length - index0 - 1);
  if (name == "first") return make(index0 == 0);
  if (name == "last") return make(index0 == length - 1);
  if (name == "length") return make(length);
  if (name == "depth") return make(1);
  if (name == "depth0") return make(0);
  if (name == "previtem") {
    return make(index_ > 0 ? (*items_)[index_ - 1] : Value::undefined("there is no previous item"));
  }
  if (name == "nextitem") {
    return make(index0 + 1 < length ? (*items_)[index_ + 1]
                                    : Value::undefined("there is no next item"));
  }
  if (name == "cycle") return make(cycle());
  if (name == "changed") throw EvalError("loop.changed() is not supported");
  return nullptr;
}

Value LoopContext::cycle() const {
  const size_t index = index_;
  return Value::object(
      std::make_shared<BuiltinFunction>("cycle", [index](Evaluator&, CallArgs args) -> Value {
        if (args.positional.empty()) throw EvalError("no items for cycling given");
        return args.positional[index % args.positional.size()];
      }));
}

}  // namespace

// --- Scope, Namespace
// -----------------------------------------------------------------------------

Scope::Scope(std::shared_ptr<Scope> parent, const UnassignedNames& unassigned)
    : parent_(std::move(parent)) {
  for (const std::string& name : unassigned) {
    variables_[name] = Value::undefined(fmt::format("'{}' is undefined", name));
  }
}

const Value* Scope::find(const std::string& name) const {
  for (const Scope* scope = this; scope != nullptr; scope = scope->parent_.get()) {
    const auto found = scope->variables_.find(name);
    if (found != scope->variables_.end()) return &found->second;
  }
  return nullptr;
}

std::string Namespace::repr() const {
  return "<Namespace " + Value::dict(attributes_).repr() + ">";
}

std::unique_ptr<Value> Namespace::attribute(const std::string& name) const {
  const Value* found = attributes_.find(Value(name));
  return found ? std::make_unique<Value>(*found) : nullptr;
}

// --- Evaluator ----------------------------------------------------------------------------------

Evaluator::CallDepthGuard::CallDepthGuard(Evaluator& evaluator) : evaluator_(evaluator) {
  constexpr int kMaxCallDepth = 400;
  if (evaluator_.call_depth_ >= kMaxCallDepth) {
    throw EvalError("maximum recursion depth exceeded");
  }
  ++evaluator_.call_depth_;
}

void Evaluator::fail_at(size_t offset, const std::string& what) const {
  pride::fail("{}: {}", map_.position(offset), what);
}

std::string Evaluator::render(const Body& body) {
  std::string out;
  render_body(body, out);
  return out;
}

Value Evaluator::eval(const Expr& expr) {
  try {
    return expr.eval(*this);
  } catch (const EvalError& error) {
    fail_at(expr.offset, error.what());
  }
}

Flow Evaluator::render_body(const Body& body, std::string& out) {
  for (const auto& stmt : body) {
    Flow flow;
    try {
      flow = stmt->render(*this, out);
    } catch (const EvalError& error) {
      fail_at(stmt->offset, error.what());
    }
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

std::string Evaluator::render_in_scope(const Body& body, ScopePtr scope) {
  ScopeGuard guard(*this, std::move(scope));
  std::string out;
  render_body(body, out);
  return out;
}

Value Evaluator::lookup(const std::string& name) const {
  const Value* found = scope_->find(name);
  return found ? *found : Value::undefined(fmt::format("'{}' is undefined", name));
}

Value Evaluator::call(const Value& callee, CallArgs args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.kind() != Kind::Object || !callee.object()->callable()) {
    throw EvalError(fmt::format("'{}' object is not callable", callee.type_name()));
  }
  return callee.object()->call(*this, std::move(args));
}

Value Evaluator::get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.kind() == Kind::Object) {
    auto found = object.object()->attribute(name);
    return found ? std::move(*found) : undefined_attribute(object, name);
  }
  if (auto method = builtin_attribute(object, name)) return std::move(*method);
  if (object.kind() == Kind::Dict) {
    const Value* found = object.dict().find(Value(name));
    if (found) return *found;
  }
  return undefined_attribute(object, name);
}

Value Evaluator::get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.kind() == Kind::Dict && key.kind() != Kind::List && key.kind() != Kind::Dict) {
    const Value* found = object.dict().find(key);
    if (found) return *found;
  }
  const bool indexable =
      object.is_string() || (object.is_sequence() && (object.kind() == Kind::Tuple ||
                                                      object.sequence().view == ListView::Plain ||
                                                      object.sequence().view == ListView::Range));
  if (indexable && key.is_integer()) {
    const auto length = static_cast<int64_t>(object.is_string() ? code_point_count(object.text())
                                                                : object.items().size());
    int64_t index = key.as_int();
    if (index < 0) index += length;
    if (index >= 0 && index < length) {
      if (!object.is_string()) return object.items()[static_cast<size_t>(index)];
      std::string character;
      append_utf8(character, decode_utf8(object.text())[static_cast<size_t>(index)]);
      return object.is_markup() ? Value::markup(character) : Value(character);
    }
  }
  // Jinja2 falls back to the attribute for a string key (ns['x'], d['items']).
  if (key.is_string()) {
    if (object.kind() == Kind::Object) {
      auto found = object.object()->attribute(key.text());
      if (found) return std::move(*found);
    } else if (auto method = builtin_attribute(object, key.text())) {
      return std::move(*method);
    }
  }
  return Value::undefined(
      fmt::format("'{} object' has no element {}", object.type_name(), key.repr()));
}

void Evaluator::assign(const Target& target, const Value& value) {
  if (target.is_tuple) {
    const std::vector<Value> items = iterate(value);
    if (items.size() != target.items.size()) {
      throw EvalError(
          items.size() < target.items.size()
              ? fmt::format("not enough values to unpack (expected {}, got {})",
                            target.items.size(), items.size())
              : fmt::format("too many values to unpack (expected {})", target.items.size()));
    }
    for (size_t i = 0; i < items.size(); ++i) assign(target.items[i], items[i]);
    return;
  }
  if (target.attribute.empty()) return scope_->set(target.name, value);
  const Value ns = lookup(target.name);
  auto* names = ns.kind() == Kind::Object ? dynamic_cast<Namespace*>(ns.object().get()) : nullptr;
  if (names == nullptr) throw EvalError("cannot assign attribute on non-namespace object");
  names->set(target.attribute, value);
}

CallArgs Evaluator::eval_arguments(const Arguments& arguments) {
  CallArgs args;
  for (const auto& expr : arguments.positional) args.positional.push_back(eval(*expr));
  for (const auto& [name, expr] : arguments.keywords) args.keywords.emplace_back(name, eval(*expr));
  return args;
}

Value Evaluator::apply_filter(const FilterExpr& filter, Value operand) {
  if (filter.builtin == nullptr) {
    throw EvalError(fmt::format("No filter named '{}' (not supported)", filter.name));
  }
  BuiltinCall call{*this, std::move(operand), eval_arguments(filter.arguments)};
  return filter.builtin->function(call);
}

// --- expressions --------------------------------------------------------------------------------

Value Literal::eval(Evaluator&) const {
  return value;
}

Value NameExpr::eval(Evaluator& evaluator) const {
  return evaluator.lookup(name);
}

Value ListExpr::eval(Evaluator& evaluator) const {
  std::vector<Value> values;
  for (const auto& item : items) values.push_back(evaluator.eval(*item));
  return tuple ? Value::tuple(std::move(values)) : Value::list(std::move(values));
}

Value DictExpr::eval(Evaluator& evaluator) const {
  Dict dict;
  for (const auto& [key, value] : entries) {
    Value evaluated_key = evaluator.eval(*key);
    dict.set(evaluated_key, evaluator.eval(*value));
  }
  return Value::dict(std::move(dict));
}

Value AttributeExpr::eval(Evaluator& evaluator) const {
  return evaluator.get_attribute(evaluator.eval(*object), name);
}

Value ItemExpr::eval(Evaluator& evaluator) const {
  const Value container = evaluator.eval(*object);
  return evaluator.get_item(container, evaluator.eval(*key));
}

Value SliceExpr::eval(Evaluator& evaluator) const {
  const Value container = evaluator.eval(*object);
  auto bound = [&](const ExprPtr& expr) { return expr ? evaluator.eval(*expr) : Value::none(); };
  const Value start_value = bound(start), stop_value = bound(stop), step_value = bound(step);
  if (container.is_undefined()) fail_undefined(container);
  const bool sliceable =
      container.is_string() || container.kind() == Kind::Tuple ||
      (container.kind() == Kind::List && (container.sequence().view == ListView::Plain ||
                                          container.sequence().view == ListView::Range));
  // Jinja2 compiles a slice to a plain Python subscript: what Python rejects is an error.
  if (!sliceable)
    throw EvalError(fmt::format("'{}' object is not subscriptable", container.type_name()));
  if (!is_slice_bound(start_value) || !is_slice_bound(stop_value) || !is_slice_bound(step_value)) {
    throw EvalError("slice indices must be integers or None or have an __index__ method");
  }
  const int64_t step_size = step_value.is_none() ? 1 : step_value.as_int();
  if (step_size == 0) throw EvalError("slice step cannot be zero");
  return slice_sequence(container, start_value, stop_value, step_size);
}

Value CallExpr::eval(Evaluator& evaluator) const {
  const Value function = evaluator.eval(*callee);
  return evaluator.call(function, evaluator.eval_arguments(arguments));
}

Value FilterExpr::eval(Evaluator& evaluator) const {
  return evaluator.apply_filter(*this, evaluator.eval(*operand));
}

Value TestExpr::eval(Evaluator& evaluator) const {
  Value value = evaluator.eval(*operand);
  if (builtin == nullptr) throw EvalError(fmt::format("No test named '{}' (not supported)", name));
  BuiltinCall call{evaluator, std::move(value), evaluator.eval_arguments(arguments)};
  return builtin->function(call);
}

Value UnaryExpr::eval(Evaluator& evaluator) const {
  const Value value = evaluator.eval(*operand);
  if (op == "not") return !value.truthy();
  return unary_arithmetic(op, value);
}

Value BinaryExpr::eval(Evaluator& evaluator) const {
  Value left_value = evaluator.eval(*left);
  if (op == "and") return left_value.truthy() ? evaluator.eval(*right) : left_value;
  if (op == "or") return left_value.truthy() ? left_value : evaluator.eval(*right);
  const Value right_value = evaluator.eval(*right);
  if (op == "~") return Value(left_value.str() + right_value.str());
  return binary_arithmetic(op, left_value, right_value);
}

Value CompareExpr::eval(Evaluator& evaluator) const {
  Value left = evaluator.eval(*first);
  for (const auto& [op, expr] : rest) {
    Value right = evaluator.eval(*expr);
    if (!compare(op, left, right)) return false;
    left = std::move(right);
  }
  return true;
}

Value ConditionalExpr::eval(Evaluator& evaluator) const {
  if (evaluator.eval(*condition).truthy()) return evaluator.eval(*then);
  if (otherwise) return evaluator.eval(*otherwise);
  return Value::undefined(
      "the inline if-expression evaluated to false and no else section was defined");
}

// --- statements ---------------------------------------------------------------------------------

Flow TextStmt::render(Evaluator&, std::string& out) const {
  out += text;
  return Flow::Normal;
}

Flow OutputStmt::render(Evaluator& evaluator, std::string& out) const {
  for (const auto& value : values) out += evaluator.eval(*value).str();
  return Flow::Normal;
}

Flow IfStmt::render(Evaluator& evaluator, std::string& out) const {
  for (const auto& [condition, body] : branches) {
    if (evaluator.eval(*condition).truthy()) return evaluator.render_body(body, out);
  }
  return evaluator.render_body(otherwise, out);
}

Flow ForStmt::render(Evaluator& evaluator, std::string& out) const {
  std::vector<Value> all = iterate(evaluator.eval(*iterable));
  auto items = std::make_shared<std::vector<Value>>();
  for (Value& item : all) {
    if (filter) {
      Evaluator::ScopeGuard guard(evaluator,
                                  std::make_shared<Scope>(evaluator.scope(), unassigned));
      evaluator.assign(target, item);
      if (!evaluator.eval(*filter).truthy()) continue;
    }
    items->push_back(std::move(item));
  }
  if (items->empty()) {
    out += evaluator.render_in_scope(otherwise,
                                     std::make_shared<Scope>(evaluator.scope(), unassigned));
    return Flow::Normal;
  }
  for (size_t i = 0; i < items->size(); ++i) {
    Evaluator::ScopeGuard guard(evaluator, std::make_shared<Scope>(evaluator.scope(), unassigned));
    evaluator.assign(target, (*items)[i]);
    evaluator.scope()->set("loop", Value::object(std::make_shared<LoopContext>(items, i)));
    if (evaluator.render_body(body, out) == Flow::Break) break;
  }
  return Flow::Normal;
}

Flow SetStmt::render(Evaluator& evaluator, std::string&) const {
  evaluator.assign(target, evaluator.eval(*value));
  return Flow::Normal;
}

namespace {

Value filter_text(Evaluator& evaluator, const std::vector<std::unique_ptr<FilterExpr>>& filters,
                  const Body& body, const UnassignedNames& unassigned) {
  Value value(
      evaluator.render_in_scope(body, std::make_shared<Scope>(evaluator.scope(), unassigned)));
  for (const auto& filter : filters) {
    try {
      value = evaluator.apply_filter(*filter, std::move(value));
    } catch (const EvalError& error) {
      evaluator.fail_at(filter->offset, error.what());
    }
  }
  return value;
}

}  // namespace

Flow SetBlockStmt::render(Evaluator& evaluator, std::string&) const {
  evaluator.assign(target, filter_text(evaluator, filters, body, unassigned));
  return Flow::Normal;
}

Flow FilterBlockStmt::render(Evaluator& evaluator, std::string& out) const {
  out += filter_text(evaluator, filters, body, unassigned).str();
  return Flow::Normal;
}

Flow MacroStmt::render(Evaluator& evaluator, std::string&) const {
  evaluator.scope()->set(macro.name,
                         Value::object(std::make_shared<Macro>(macro, evaluator.scope())));
  return Flow::Normal;
}

Flow CallBlockStmt::render(Evaluator& evaluator, std::string& out) const {
  const Value callee = evaluator.eval(*call->callee);
  CallArgs args = evaluator.eval_arguments(call->arguments);
  args.keywords.emplace_back("caller",
                             Value::object(std::make_shared<Macro>(caller, evaluator.scope())));
  try {
    out += evaluator.call(callee, std::move(args)).str();
  } catch (const EvalError& error) {
    evaluator.fail_at(call->offset, error.what());
  }
  return Flow::Normal;
}

Flow WithStmt::render(Evaluator& evaluator, std::string& out) const {
  auto scope = std::make_shared<Scope>(evaluator.scope(), unassigned);
  std::vector<Value> values;
  for (const auto& assignment : assignments) values.push_back(evaluator.eval(*assignment.second));
  Evaluator::ScopeGuard guard(evaluator, scope);
  for (size_t i = 0; i < assignments.size(); ++i) evaluator.assign(assignments[i].first, values[i]);
  return evaluator.render_body(body, out);
}

Flow ScopedBodyStmt::render(Evaluator& evaluator, std::string& out) const {
  out += evaluator.render_in_scope(body, std::make_shared<Scope>(evaluator.scope(), unassigned));
  return Flow::Normal;
}

}  // namespace pride::chat
