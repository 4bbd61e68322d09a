// The template parser: Jinja2's grammar (operator precedence, filters, tests, statements) over the
// lexer's tokens, to the syntax tree in ast.h. Constructs outside the supported subset
// ({% include %}, {% extends %}, unknown filters, ...) are errors naming their position.
#pragma once

#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"

namespace pride::chat {

struct ParsedTemplate {
  Body body;
  UnassignedNames unassigned;  // of the template's top-level frame
};

ParsedTemplate parse_template(const std::vector<Token>& tokens, const SourceMap& map);

}  // namespace pride::chat
