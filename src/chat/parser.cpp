// A recursive-descent parser that follows jinja2/parser.py function for function, so that
// precedence and the odd corners (left-associative **, `-x|f` filtering -x, test arguments
// without parentheses) read the same.
#include "chat/parser.h"

#include <fmt/format.h>

#include <set>

#include "chat/builtins.h"
#include "util/error.h"

namespace pride::chat {
namespace {

// Statements Jinja2 has that this interpreter deliberately does not support.
const std::set<std::string> kUnsupportedTags = {
    "include", "import", "from", "extends", "block", "autoescape", "do", "trans", "pluralize"};

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const SourceMap& map) : tokens_(tokens), map_(map) {}

  ParsedTemplate parse() {
    ParsedTemplate parsed;
    FrameGuard frame(*this, &parsed.unassigned);
    parsed.body = parse_body({}, nullptr);
    check_unknown_builtins();
    resolve_frame(*root_frame_);
    return parsed;
  }

 private:
  // A filter or test name this interpreter lacks. Jinja2 rejects it when compiling, unless it
  // sits inside an if statement or conditional expression: then only evaluating it fails.
  struct UnknownBuiltin {
    size_t offset;
    std::string name;
    bool is_filter;
    bool soft;
  };

  // Jinja2's scoping, recorded while parsing: each frame's own reads and assignments in source
  // order, and its inner frames. After parsing, a name a frame assigns before reading it, and
  // that no enclosing frame reads or assigns, starts Undefined in that frame. An assignment
  // inside an if statement counts as a read: Jinja2 then resolves the name from outside until
  // it is assigned (its branch_update), which is what `{% if x is not defined %}{% set x %}`
  // relies on.
  struct Frame {
    Frame* parent = nullptr;
    int if_depth = 0;
    std::vector<std::pair<std::string, bool>> uses;  // name, is an assignment
    std::vector<std::unique_ptr<Frame>> children;
    UnassignedNames* unassigned = nullptr;
  };

  class FrameGuard {
   public:
    FrameGuard(Parser& parser, UnassignedNames* unassigned) : parser_(parser) {
      auto frame = std::make_unique<Frame>();
      frame->parent = parser.frame_;
      frame->unassigned = unassigned;
      Frame* raw = frame.get();
      if (parser.frame_ != nullptr) {
        parser.frame_->children.push_back(std::move(frame));
      } else {
        parser.root_frame_ = std::move(frame);
      }
      parser.frame_ = raw;
    }
    ~FrameGuard() { parser_.frame_ = parser_.frame_->parent; }

   private:
    Parser& parser_;
  };

  void note_use(const std::string& name, bool assignment) {
    if (frame_ == nullptr || reading_targets_ > 0) return;
    frame_->uses.emplace_back(name, assignment && frame_->if_depth == 0);
  }

  void note_assignment(const Target& target) {
    if (target.is_tuple) {
      for (const Target& item : target.items) note_assignment(item);
    } else {
      note_use(target.name, target.attribute.empty());  // ns.attr = ... reads ns
    }
  }

  static bool frame_knows(const Frame* frame, const std::string& name) {
    for (; frame != nullptr; frame = frame->parent) {
      for (const auto& use : frame->uses) {
        if (use.first == name) return true;
      }
    }
    return false;
  }

  void resolve_frame(const Frame& frame) {
    std::set<std::string> seen;
    for (const auto& [name, assignment] : frame.uses) {
      if (!seen.insert(name).second) continue;
      if (assignment && !frame_knows(frame.parent, name)) frame.unassigned->push_back(name);
    }
    for (const auto& child : frame.children) resolve_frame(*child);
  }

  // --- tokens -----------------------------------------------------------------------------------
  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& advance() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  bool is_op(const char* op) const {
    return current().type == TokenType::Operator && current().value == op;
  }
  bool is_name(const char* name) const {
    return current().type == TokenType::Name && current().value == name;
  }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  [[noreturn]] void fail_at(size_t offset, const std::string& what) const {
    pride::fail("{}: {}", map_.position(offset), what);
  }

  static std::string describe(const Token& token) {
    switch (token.type) {
      case TokenType::Text:
        return "template data";
      case TokenType::VariableBegin:
        return "'{{'";
      case TokenType::VariableEnd:
        return "'}}'";
      case TokenType::BlockBegin:
        return "'{%'";
      case TokenType::BlockEnd:
        return "'%}'";
      case TokenType::End:
        return "end of template";
      case TokenType::String:
        return "string";
      case TokenType::Integer:
      case TokenType::Float:
        return "number '" + token.value + "'";
      default:
        return "'" + token.value + "'";
    }
  }

  [[noreturn]] void fail_expected(const std::string& what) const {
    fail_at(current().offset, fmt::format("expected {}, got {}", what, describe(current())));
  }

  void expect_op(const char* op) {
    if (!skip_op(op)) fail_expected(fmt::format("'{}'", op));
  }
  void expect_name(const char* name) {
    if (!skip_name(name)) fail_expected(fmt::format("'{}'", name));
  }
  std::string expect_identifier() {
    if (current().type != TokenType::Name) fail_expected("a name");
    return advance().value;
  }
  void expect_block_end() {
    if (current().type != TokenType::BlockEnd) fail_expected("end of statement block '%}'");
    advance();
  }

  // Sets a parser flag for the lifetime of the guard.
  template <typename T>
  class Save {
   public:
    Save(T& variable, T value) : variable_(variable), saved_(variable) { variable = value; }
    ~Save() { variable_ = saved_; }

   private:
    T& variable_;
    T saved_;
  };

  // --- statements -------------------------------------------------------------------------------

  // Statements until a block tag named in `end_names` (consumed up to its name, which goes to
  // *found_end), or the end of the template when `end_names` is empty.
  Body parse_body(const std::vector<std::string>& end_names, std::string* found_end) {
    Body body;
    while (true) {
      const Token& token = current();
      switch (token.type) {
        case TokenType::End:
          if (end_names.empty()) return body;
          fail_at(token.offset, fmt::format("unexpected end of template: expected '{{% {} %}}'",
                                            end_names.back()));
        case TokenType::Text:
          body.push_back(std::make_unique<TextStmt>(token.offset, token.value));
          advance();
          break;
        case TokenType::VariableBegin:
          body.push_back(parse_output());
          break;
        case TokenType::BlockBegin: {
          const Token& name = peek(1);
          if (name.type != TokenType::Name) fail_at(name.offset, "tag name expected");
          if (std::find(end_names.begin(), end_names.end(), name.value) != end_names.end()) {
            advance();
            advance();
            *found_end = name.value;
            return body;
          }
          advance();
          body.push_back(parse_statement());
          break;
        }
        default:
          fail_at(token.offset, "unexpected " + describe(token));
      }
    }
  }

  // The body of a statement up to its end tag, which must close the block.
  Body parse_block(const std::string& end_name) {
    std::string found;
    Body body = parse_body({end_name}, &found);
    expect_block_end();
    return body;
  }

  StmtPtr parse_output() {
    auto stmt = std::make_unique<OutputStmt>(advance().offset);
    stmt->values.push_back(parse_tuple(false, true, "", false));
    if (current().type != TokenType::VariableEnd) fail_expected("end of print statement '}}'");
    advance();
    return stmt;
  }

  StmtPtr parse_statement() {
    const Token& tag = advance();
    const std::string& name = tag.value;
    const size_t at = tag.offset;
    if (name == "if") return parse_if(at);
    if (name == "for") return parse_for(at);
    if (name == "set") return parse_set(at);
    if (name == "macro") return parse_macro(at);
    if (name == "call") return parse_call_block(at);
    if (name == "filter") return parse_filter_block(at);
    if (name == "with") return parse_with(at);
    if (name == "print") return parse_print(at);
    if (name == "generation") return parse_generation(at);
    if (name == "break" || name == "continue") return parse_loop_control(at, name);
    if (kUnsupportedTags.count(name)) {
      fail_at(at,
              fmt::format("'{{% {} %}}' is not supported by the chat-template interpreter", name));
    }
    fail_at(at, fmt::format("unknown tag '{}'", name));
  }

  StmtPtr parse_if(size_t at) {
    auto stmt = std::make_unique<IfStmt>(at);
    Save<bool> soft(soft_, true);
    Save<int> branches(frame_->if_depth, frame_->if_depth + 1);
    while (true) {
      ExprPtr condition = parse_tuple(false, false, "", false);
      expect_block_end();
      std::string end;
      Body body = parse_body({"elif", "else", "endif"}, &end);
      stmt->branches.emplace_back(std::move(condition), std::move(body));
      if (end == "elif") continue;
      expect_block_end();
      if (end == "else") stmt->otherwise = parse_block("endif");
      return stmt;
    }
  }

  StmtPtr parse_for(size_t at) {
    auto stmt = std::make_unique<ForStmt>(at);
    Save<bool> soft(soft_, false);
    stmt->target = parse_assign_target(true, "in", false);
    expect_name("in");
    stmt->iterable = parse_tuple(false, false, "recursive", false);
    FrameGuard frame(*this, &stmt->unassigned);
    note_assignment(stmt->target);
    note_use("loop", true);
    if (skip_name("if")) stmt->filter = parse_expression(true);
    if (is_name("recursive")) fail_at(current().offset, "recursive for loops are not supported");
    expect_block_end();
    std::string end;
    {
      Save<int> loop(loop_depth_, loop_depth_ + 1);
      stmt->body = parse_body({"endfor", "else"}, &end);
    }
    expect_block_end();
    if (end == "else") stmt->otherwise = parse_block("endfor");
    return stmt;
  }

  StmtPtr parse_set(size_t at) {
    Target target = parse_assign_target(true, "", true);
    if (skip_op("=")) {
      auto stmt = std::make_unique<SetStmt>(at);
      stmt->target = std::move(target);
      stmt->value = parse_tuple(false, true, "", false);
      note_assignment(stmt->target);
      expect_block_end();
      return stmt;
    }
    auto stmt = std::make_unique<SetBlockStmt>(at);
    stmt->target = std::move(target);
    note_assignment(stmt->target);
    Save<bool> soft(soft_, false);
    if (is_op("|")) stmt->filters = parse_filter_chain(false);
    expect_block_end();
    FrameGuard frame(*this, &stmt->unassigned);
    stmt->body = parse_block("endset");
    return stmt;
  }

  void parse_signature(MacroDefinition& macro) {
    expect_op("(");
    while (!is_op(")")) {
      if (!macro.parameters.empty()) expect_op(",");
      MacroParameter parameter{expect_identifier(), nullptr};
      note_use(parameter.name, true);
      if (skip_op("=")) {
        parameter.fallback = parse_expression(true);
      } else if (!macro.parameters.empty() && macro.parameters.back().fallback) {
        fail_at(current().offset, "non-default argument follows default argument");
      }
      macro.parameters.push_back(std::move(parameter));
    }
    advance();
  }

  // A macro or caller body, noting whether it reads varargs/kwargs/caller.
  void parse_macro_body(MacroDefinition& macro, const std::string& end_name) {
    std::set<std::string> names;
    Save<bool> soft(soft_, false);
    Save<int> loop(loop_depth_, 0);
    name_collectors_.push_back(&names);
    macro.body = parse_block(end_name);
    name_collectors_.pop_back();
    macro.uses_varargs = names.count("varargs") > 0;
    macro.uses_kwargs = names.count("kwargs") > 0;
    macro.uses_caller = names.count("caller") > 0;
  }

  StmtPtr parse_macro(size_t at) {
    auto stmt = std::make_unique<MacroStmt>(at);
    stmt->macro.name = expect_identifier();
    {
      FrameGuard frame(*this, &stmt->macro.unassigned);
      parse_signature(stmt->macro);
      expect_block_end();
      parse_macro_body(stmt->macro, "endmacro");
    }
    note_use(stmt->macro.name, true);
    return stmt;
  }

  StmtPtr parse_call_block(size_t at) {
    auto stmt = std::make_unique<CallBlockStmt>(at);
    stmt->caller.name = "caller";
    auto frame = std::make_unique<FrameGuard>(*this, &stmt->caller.unassigned);
    if (is_op("(")) parse_signature(stmt->caller);
    Frame* caller_frame = frame_;
    frame_ = caller_frame->parent;  // the call itself is evaluated in the enclosing frame
    const size_t call_at = current().offset;
    ExprPtr call = parse_expression(true);
    frame_ = caller_frame;
    auto* call_expr = dynamic_cast<CallExpr*>(call.get());
    if (call_expr == nullptr) fail_at(call_at, "expected a call after '{% call %}'");
    call.release();
    stmt->call.reset(call_expr);
    expect_block_end();
    parse_macro_body(stmt->caller, "endcall");
    frame.reset();
    return stmt;
  }

  StmtPtr parse_filter_block(size_t at) {
    auto stmt = std::make_unique<FilterBlockStmt>(at);
    Save<bool> soft(soft_, false);
    stmt->filters = parse_filter_chain(true);
    expect_block_end();
    FrameGuard frame(*this, &stmt->unassigned);
    stmt->body = parse_block("endfilter");
    return stmt;
  }

  StmtPtr parse_with(size_t at) {
    auto stmt = std::make_unique<WithStmt>(at);
    Save<bool> soft(soft_, false);
    while (current().type != TokenType::BlockEnd) {
      if (!stmt->assignments.empty()) expect_op(",");
      Target target = parse_assign_target(false, "", false);
      expect_op("=");
      stmt->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    advance();
    FrameGuard frame(*this, &stmt->unassigned);
    for (const auto& assignment : stmt->assignments) note_assignment(assignment.first);
    stmt->body = parse_block("endwith");
    return stmt;
  }

  StmtPtr parse_print(size_t at) {
    auto stmt = std::make_unique<OutputStmt>(at);
    while (current().type != TokenType::BlockEnd) {
      if (!stmt->values.empty()) expect_op(",");
      stmt->values.push_back(parse_expression(true));
    }
    advance();
    return stmt;
  }

  StmtPtr parse_generation(size_t at) {
    auto stmt = std::make_unique<ScopedBodyStmt>(at);
    Save<bool> soft(soft_, false);
    expect_block_end();
    FrameGuard frame(*this, &stmt->unassigned);
    stmt->body = parse_block("endgeneration");
    return stmt;
  }

  StmtPtr parse_loop_control(size_t at, const std::string& name) {
    if (loop_depth_ == 0) fail_at(at, fmt::format("'{}' outside of a loop", name));
    expect_block_end();
    return std::make_unique<LoopControlStmt>(at, name == "break" ? Flow::Break : Flow::Continue);
  }

  // --- assignment targets -----------------------------------------------------------------------

  static Target named_target(size_t at, std::string name) {
    Target target;
    target.offset = at;
    target.name = std::move(name);
    return target;
  }

  Target parse_assign_target(bool with_tuple, const char* extra_end, bool with_namespace) {
    Save<int> targets(reading_targets_, reading_targets_ + 1);
    const size_t at = current().offset;
    if (with_namespace && current().type == TokenType::Name &&
        peek(1).type == TokenType::Operator && peek(1).value == ".") {
      Target target = named_target(at, advance().value);
      advance();
      target.attribute = expect_identifier();
      return target;
    }
    ExprPtr expr = with_tuple ? parse_tuple(true, true, extra_end, false) : parse_primary();
    return to_target(*expr);
  }

  Target to_target(const Expr& expr) const {
    if (const auto* name = dynamic_cast<const NameExpr*>(&expr)) {
      return named_target(expr.offset, name->name);
    }
    const auto* tuple = dynamic_cast<const ListExpr*>(&expr);
    if (tuple == nullptr || !tuple->tuple) fail_at(expr.offset, "can't assign to this expression");
    Target target = named_target(expr.offset, "");
    target.is_tuple = true;
    for (const auto& item : tuple->items) target.items.push_back(to_target(*item));
    return target;
  }

  // --- expressions ------------------------------------------------------------------------------

  bool is_tuple_end(const char* extra_end) const {
    const TokenType type = current().type;
    return type == TokenType::VariableEnd || type == TokenType::BlockEnd ||
           type == TokenType::End || is_op(")") || (*extra_end && is_name(extra_end));
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const char* extra_end,
                      bool explicit_parentheses) {
    const size_t at = current().offset;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) fail_expected("an expression");
    }
    auto tuple = std::make_unique<ListExpr>(at, true);
    tuple->items = std::move(items);
    return tuple;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    const size_t first_unknown = unknown_builtins_.size();
    const size_t at = current().offset;
    ExprPtr expr = parse_or();
    while (skip_name("if")) {
      auto conditional = std::make_unique<ConditionalExpr>(at);
      conditional->then = std::move(expr);
      conditional->condition = parse_or();
      if (skip_name("else")) conditional->otherwise = parse_condexpr();
      expr = std::move(conditional);
      for (size_t i = first_unknown; i < unknown_builtins_.size(); ++i) {
        unknown_builtins_[i].soft = true;
      }
    }
    return expr;
  }

  ExprPtr binary(const char* op, ExprPtr left, ExprPtr right, size_t at) {
    return std::make_unique<BinaryExpr>(at, op, std::move(left), std::move(right));
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const size_t at = advance().offset;
      left = binary("or", std::move(left), parse_and(), at);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const size_t at = advance().offset;
      left = binary("and", std::move(left), parse_not(), at);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      const size_t at = advance().offset;
      return std::make_unique<UnaryExpr>(at, "not", parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const size_t at = current().offset;
    ExprPtr first = parse_math1();
    std::vector<std::pair<std::string, ExprPtr>> rest;
    while (true) {
      static const char* const kOperators[] = {"==", "!=", "<", "<=", ">", ">="};
      const auto op = std::find_if(std::begin(kOperators), std::end(kOperators),
                                   [&](const char* o) { return is_op(o); });
      if (op != std::end(kOperators)) {
        advance();
        rest.emplace_back(*op, parse_math1());
      } else if (skip_name("in")) {
        rest.emplace_back("in", parse_math1());
      } else if (is_name("not") && peek(1).type == TokenType::Name && peek(1).value == "in") {
        advance();
        advance();
        rest.emplace_back("notin", parse_math1());
      } else {
        break;
      }
    }
    if (rest.empty()) return first;
    auto compare = std::make_unique<CompareExpr>(at, std::move(first));
    compare->rest = std::move(rest);
    return compare;
  }

  // Left-associative binary levels: + -, ~, * / // %, **.
  ExprPtr parse_binary_level(std::initializer_list<const char*> ops, ExprPtr (Parser::*next)()) {
    ExprPtr left = (this->*next)();
    while (true) {
      const auto op = std::find_if(ops.begin(), ops.end(), [&](const char* o) { return is_op(o); });
      if (op == ops.end()) return left;
      const size_t at = advance().offset;
      left = binary(*op, std::move(left), (this->*next)(), at);
    }
  }
  ExprPtr parse_math1() { return parse_binary_level({"+", "-"}, &Parser::parse_concat); }
  ExprPtr parse_concat() { return parse_binary_level({"~"}, &Parser::parse_math2); }
  ExprPtr parse_math2() { return parse_binary_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
  ExprPtr parse_pow() { return parse_binary_level({"**"}, &Parser::parse_unary_filtered); }
  ExprPtr parse_unary_filtered() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& sign = advance();
      node = std::make_unique<UnaryExpr>(sign.offset, sign.value, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    return with_filter ? parse_filter_expr(std::move(node)) : std::move(node);
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    switch (token.type) {
      case TokenType::Name: {
        advance();
        const std::string& name = token.value;
        if (name == "true" || name == "True") return std::make_unique<Literal>(token.offset, true);
        if (name == "false" || name == "False")
          return std::make_unique<Literal>(token.offset, false);
        if (name == "none" || name == "None")
          return std::make_unique<Literal>(token.offset, Value::none());
        for (auto* names : name_collectors_) names->insert(name);
        note_use(name, false);
        return std::make_unique<NameExpr>(token.offset, name);
      }
      case TokenType::String: {
        std::string text;
        while (current().type == TokenType::String) text += advance().value;
        return std::make_unique<Literal>(token.offset, Value(text));
      }
      case TokenType::Integer:
        advance();
        return std::make_unique<Literal>(token.offset, token.integer);
      case TokenType::Float:
        advance();
        return std::make_unique<Literal>(token.offset, token.number);
      default:
        break;
    }
    if (skip_op("(")) {
      ExprPtr inner = parse_tuple(false, true, "", true);
      expect_op(")");
      return inner;
    }
    if (is_op("[")) return parse_list();
    if (is_op("{")) return parse_dict();
    fail_at(token.offset, "unexpected " + describe(token));
  }

  ExprPtr parse_list() {
    auto list = std::make_unique<ListExpr>(advance().offset, false);
    while (!is_op("]")) {
      if (!list->items.empty()) expect_op(",");
      if (is_op("]")) break;
      list->items.push_back(parse_expression(true));
    }
    advance();
    return list;
  }

  ExprPtr parse_dict() {
    auto dict = std::make_unique<DictExpr>(advance().offset);
    while (!is_op("}")) {
      if (!dict->entries.empty()) expect_op(",");
      if (is_op("}")) break;
      ExprPtr key = parse_expression(true);
      expect_op(":");
      dict->entries.emplace_back(std::move(key), parse_expression(true));
    }
    advance();
    return dict;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  struct Subscript {
    ExprPtr index;  // or a slice:
    bool is_slice = false;
    ExprPtr start, stop, step;
  };

  Subscript parse_subscribed() {
    Subscript part;
    if (!is_op(":")) {
      part.index = parse_expression(true);
      if (!is_op(":")) return part;
    }
    advance();
    part.is_slice = true;
    part.start = std::move(part.index);
    if (!is_op(":") && !is_op("]") && !is_op(",")) part.stop = parse_expression(true);
    if (skip_op(":") && !is_op("]") && !is_op(",")) part.step = parse_expression(true);
    return part;
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const Token& token = advance();
    if (token.value == ".") {
      const Token& attribute = advance();
      if (attribute.type == TokenType::Name) {
        return std::make_unique<AttributeExpr>(token.offset, std::move(node), attribute.value);
      }
      if (attribute.type != TokenType::Integer)
        fail_at(attribute.offset, "expected name or number");
      return std::make_unique<ItemExpr>(
          token.offset, std::move(node),
          std::make_unique<Literal>(attribute.offset, attribute.integer));
    }
    std::vector<Subscript> parts;
    while (!is_op("]")) {
      if (!parts.empty()) expect_op(",");
      parts.push_back(parse_subscribed());
    }
    advance();
    if (parts.size() == 1 && parts[0].is_slice) {
      auto slice = std::make_unique<SliceExpr>(token.offset);
      slice->object = std::move(node);
      slice->start = std::move(parts[0].start);
      slice->stop = std::move(parts[0].stop);
      slice->step = std::move(parts[0].step);
      return slice;
    }
    if (parts.size() == 1) {
      return std::make_unique<ItemExpr>(token.offset, std::move(node), std::move(parts[0].index));
    }
    auto key = std::make_unique<ListExpr>(token.offset, true);
    for (auto& part : parts) {
      if (part.is_slice) fail_at(token.offset, "several slices in one subscript are not supported");
      key->items.push_back(std::move(part.index));
    }
    return std::make_unique<ItemExpr>(token.offset, std::move(node), std::move(key));
  }

  ExprPtr parse_call(ExprPtr node) {
    const size_t at = node->offset;  // errors of a call point at what is called
    auto call = std::make_unique<CallExpr>(at, std::move(node));
    parse_call_args(call->arguments);
    return call;
  }

  void parse_call_args(Arguments& arguments) {
    const size_t at = current().offset;
    expect_op("(");
    bool need_comma = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) {
        fail_at(current().offset, "*args and **kwargs in calls are not supported");
      }
      if (current().type == TokenType::Name && peek(1).type == TokenType::Operator &&
          peek(1).value == "=") {
        std::string key = advance().value;
        advance();
        arguments.keywords.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!arguments.keywords.empty()) fail_at(at, "invalid syntax for function call expression");
        arguments.positional.push_back(parse_expression(true));
      }
      need_comma = true;
    }
    advance();
  }

  std::string parse_dotted_name() {
    std::string name = expect_identifier();
    while (skip_op(".")) name += "." + expect_identifier();
    return name;
  }

  void note_unknown(size_t offset, const std::string& name, bool is_filter) {
    unknown_builtins_.push_back(UnknownBuiltin{offset, name, is_filter, soft_});
  }

  std::unique_ptr<FilterExpr> make_filter(ExprPtr operand) {
    const size_t at = current().offset;
    auto filter = std::make_unique<FilterExpr>(at, std::move(operand), parse_dotted_name());
    filter->builtin = find_filter(filter->name);
    if (filter->builtin == nullptr) note_unknown(at, filter->name, true);
    if (is_op("(")) parse_call_args(filter->arguments);
    return filter;
  }

  ExprPtr parse_filter(ExprPtr node) {
    while (skip_op("|")) node = make_filter(std::move(node));
    return node;
  }

  // `| a | b(x)` of {% set x | ... %}, or `a | b` of {% filter %} (start_inline).
  std::vector<std::unique_ptr<FilterExpr>> parse_filter_chain(bool start_inline) {
    std::vector<std::unique_ptr<FilterExpr>> filters;
    while (start_inline || skip_op("|")) {
      filters.push_back(make_filter(nullptr));
      start_inline = false;
    }
    return filters;
  }

  ExprPtr parse_test(ExprPtr node) {
    const size_t at = advance().offset;
    const bool negated = skip_name("not");
    const size_t name_at = current().offset;
    auto test = std::make_unique<TestExpr>(at, std::move(node), parse_dotted_name());
    test->builtin = find_test(test->name);
    if (test->builtin == nullptr) note_unknown(name_at, test->name, false);
    const TokenType type = current().type;
    if (is_op("(")) {
      parse_call_args(test->arguments);
    } else if ((type == TokenType::Name || type == TokenType::String ||
                type == TokenType::Integer || type == TokenType::Float || is_op("[") ||
                is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail_at(current().offset, "you cannot chain multiple tests with is");
      test->arguments.positional.push_back(parse_postfix(parse_primary()));
    }
    if (!negated) return test;
    return std::make_unique<UnaryExpr>(at, "not", std::move(test));
  }

  void check_unknown_builtins() const {
    for (const auto& unknown : unknown_builtins_) {
      if (unknown.soft) continue;
      const char* kind = unknown.is_filter ? "filter" : "test";
      const bool jinja_has =
          unknown.is_filter ? jinja_has_filter(unknown.name) : jinja_has_test(unknown.name);
      fail_at(unknown.offset, jinja_has
                                  ? fmt::format("the {} '{}' is not supported by the chat-template "
                                                "interpreter",
                                                kind, unknown.name)
                                  : fmt::format("no {} named '{}'", kind, unknown.name));
    }
  }

  const std::vector<Token>& tokens_;
  const SourceMap& map_;
  size_t pos_ = 0;
  bool soft_ = false;
  int loop_depth_ = 0;
  std::vector<std::set<std::string>*> name_collectors_;
  std::vector<UnknownBuiltin> unknown_builtins_;
  std::unique_ptr<Frame> root_frame_;
  Frame* frame_ = nullptr;
  int reading_targets_ = 0;
};

}  // namespace

ParsedTemplate parse_template(const std::vector<Token>& tokens, const SourceMap& map) {
  return Parser(tokens, map).parse();
}

}  // namespace pride::chat
