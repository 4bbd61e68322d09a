// Template: lexing and parsing once, rendering with fresh globals and variables each time.
#include "chat/template.h"

#include "chat/builtins.h"
#include "chat/evaluator.h"
#include "chat/lexer.h"
#include "chat/parser.h"
#include "util/error.h"

namespace pride::chat {

Template::Template(const std::string& source, std::string name)
    : name_(std::move(name)), source_(normalize_template_source(source)) {
  map_ = std::make_unique<SourceMap>(name_, source_);
  ParsedTemplate parsed = parse_template(tokenize(source_, *map_), *map_);
  body_ = std::make_unique<Body>(std::move(parsed.body));
  unassigned_ = std::move(parsed.unassigned);
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& variables) const {
  if (!variables.is_object()) pride::fail("{}: template variables must be a JSON object", name_);
  auto globals = std::make_shared<Scope>(nullptr);
  add_globals(*globals);
  for (const auto& [key, value] : variables.items()) {
    try {
      globals->set(key, Value::from_json(value));
    } catch (const EvalError& error) {
      pride::fail("{}: variable '{}': {}", name_, key, error.what());
    }
  }
  // The template's own top-level assignments go to a scope of their own, above the globals.
  Evaluator evaluator(*map_, std::make_shared<Scope>(globals, unassigned_));
  return evaluator.render(*body_);
}

}  // namespace pride::chat
