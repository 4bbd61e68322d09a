// The syntax tree of a parsed chat template. Expressions evaluate to a Value, statements render
// into a string; both are implemented by the evaluator (evaluator.cpp). `offset` locates a node in
// the normalized source for error messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace pride::chat {

struct Builtin;

struct Expr {
  explicit Expr(size_t at) : offset(at) {}
  virtual ~Expr() = default;
  virtual Value eval(Evaluator& evaluator) const = 0;
  size_t offset;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
};

struct Literal : Expr {
  Literal(size_t at, Value v) : Expr(at), value(std::move(v)) {}
  Value eval(Evaluator& evaluator) const override;
  Value value;
};

struct NameExpr : Expr {
  NameExpr(size_t at, std::string n) : Expr(at), name(std::move(n)) {}
  Value eval(Evaluator& evaluator) const override;
  std::string name;
};

struct ListExpr : Expr {  // [a, b] or (a, b)
  ListExpr(size_t at, bool is_tuple) : Expr(at), tuple(is_tuple) {}
  Value eval(Evaluator& evaluator) const override;
  bool tuple;
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  using Expr::Expr;
  Value eval(Evaluator& evaluator) const override;
  std::vector<std::pair<ExprPtr, ExprPtr>> entries;
};

struct AttributeExpr : Expr {  // x.name
  AttributeExpr(size_t at, ExprPtr o, std::string n)
      : Expr(at), object(std::move(o)), name(std::move(n)) {}
  Value eval(Evaluator& evaluator) const override;
  ExprPtr object;
  std::string name;
};

struct ItemExpr : Expr {  // x[key], x.0
  ItemExpr(size_t at, ExprPtr o, ExprPtr k) : Expr(at), object(std::move(o)), key(std::move(k)) {}
  Value eval(Evaluator& evaluator) const override;
  ExprPtr object, key;
};

struct SliceExpr : Expr {  // x[start:stop:step], parts optional
  using Expr::Expr;
  Value eval(Evaluator& evaluator) const override;
  ExprPtr object, start, stop, step;
};

struct CallExpr : Expr {
  CallExpr(size_t at, ExprPtr c) : Expr(at), callee(std::move(c)) {}
  Value eval(Evaluator& evaluator) const override;
  ExprPtr callee;
  Arguments arguments;
};

// x|name(args) and x is name(args). `builtin` is null for a name the interpreter does not know
// inside an `if` (Jinja2 then fails only when it is evaluated).
struct FilterExpr : Expr {
  FilterExpr(size_t at, ExprPtr o, std::string n) : Expr(at), operand(std::move(o)), name(n) {}
  Value eval(Evaluator& evaluator) const override;
  ExprPtr operand;  // null in {% filter %} and {% set x | f %}: the block's text is the operand
  std::string name;
  const Builtin* builtin = nullptr;
  Arguments arguments;
};

struct TestExpr : Expr {
  TestExpr(size_t at, ExprPtr o, std::string n) : Expr(at), operand(std::move(o)), name(n) {}
  Value eval(Evaluator& evaluator) const override;
  ExprPtr operand;
  std::string name;
  const Builtin* builtin = nullptr;
  Arguments arguments;
};

struct UnaryExpr : Expr {  // not, -, +
  UnaryExpr(size_t at, std::string o, ExprPtr x)
      : Expr(at), op(std::move(o)), operand(std::move(x)) {}
  Value eval(Evaluator& evaluator) const override;
  std::string op;
  ExprPtr operand;
};

struct BinaryExpr : Expr {  // + - * / // % ** ~ and or
  BinaryExpr(size_t at, std::string o, ExprPtr l, ExprPtr r)
      : Expr(at), op(std::move(o)), left(std::move(l)), right(std::move(r)) {}
  Value eval(Evaluator& evaluator) const override;
  std::string op;
  ExprPtr left, right;
};

struct CompareExpr : Expr {  // a < b <= c, chained as in Python; ops: == != < <= > >= in notin
  CompareExpr(size_t at, ExprPtr f) : Expr(at), first(std::move(f)) {}
  Value eval(Evaluator& evaluator) const override;
  ExprPtr first;
  std::vector<std::pair<std::string, ExprPtr>> rest;
};

struct ConditionalExpr : Expr {  // then if condition else otherwise
  using Expr::Expr;
  Value eval(Evaluator& evaluator) const override;
  ExprPtr condition, then, otherwise;  // otherwise may be null: Undefined
};

// --- statements ---------------------------------------------------------------------------------

enum class Flow { Normal, Break, Continue };

// The names a frame (the template, a loop iteration, a macro call, a block set, ...) assigns
// before it or any enclosing frame reads them: Jinja2 starts them Undefined in that frame, so
// inner frames do not see a same-named outer variable (the parser works these out).
using UnassignedNames = std::vector<std::string>;

struct Stmt {
  explicit Stmt(size_t at) : offset(at) {}
  virtual ~Stmt() = default;
  virtual Flow render(Evaluator& evaluator, std::string& out) const = 0;
  size_t offset;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// An assignment target: a name, namespace.attribute, or a tuple of targets.
struct Target {
  size_t offset = 0;
  std::string name;
  std::string attribute;  // set for ns.attr
  std::vector<Target> items;
  bool is_tuple = false;
};

struct TextStmt : Stmt {
  TextStmt(size_t at, std::string t) : Stmt(at), text(std::move(t)) {}
  Flow render(Evaluator& evaluator, std::string& out) const override;
  std::string text;
};

struct OutputStmt : Stmt {  // {{ a }} or {% print a, b %}
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  std::vector<ExprPtr> values;
};

struct IfStmt : Stmt {
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  std::vector<std::pair<ExprPtr, Body>> branches;  // if and elifs
  Body otherwise;
};

struct ForStmt : Stmt {
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  Target target;
  ExprPtr iterable, filter;  // filter may be null
  Body body, otherwise;
  UnassignedNames unassigned;
};

struct SetStmt : Stmt {
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  Target target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {  // {% set x | filters %}body{% endset %}
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  Target target;
  std::vector<std::unique_ptr<FilterExpr>> filters;
  Body body;
  UnassignedNames unassigned;
};

struct MacroParameter {
  std::string name;
  ExprPtr fallback;  // default value; null: Undefined when not passed
};

// {% macro %} and the caller of {% call %}: parameters, body, and whether the body reads the
// extra-argument variables (Jinja2 only accepts extra arguments then).
struct MacroDefinition {
  std::string name;
  std::vector<MacroParameter> parameters;
  Body body;
  UnassignedNames unassigned;
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
};

struct MacroStmt : Stmt {
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  MacroDefinition macro;
};

struct CallBlockStmt : Stmt {  // {% call(params) macro(args) %}body{% endcall %}
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  std::unique_ptr<CallExpr> call;
  MacroDefinition caller;
};

struct FilterBlockStmt : Stmt {  // {% filter f|g %}body{% endfilter %}
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  std::vector<std::unique_ptr<FilterExpr>> filters;
  Body body;
  UnassignedNames unassigned;
};

struct WithStmt : Stmt {
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
  UnassignedNames unassigned;
};

struct ScopedBodyStmt : Stmt {  // {% generation %}: HF's AssistantTracker renders the body
  using Stmt::Stmt;
  Flow render(Evaluator& evaluator, std::string& out) const override;
  Body body;
  UnassignedNames unassigned;
};

struct LoopControlStmt : Stmt {  // {% break %} / {% continue %}
  LoopControlStmt(size_t at, Flow f) : Stmt(at), flow(f) {}
  Flow render(Evaluator&, std::string&) const override { return flow; }
  Flow flow;
};

}  // namespace pride::chat
