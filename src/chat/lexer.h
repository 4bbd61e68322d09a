// The template lexer: splits a Jinja template into text and tag tokens exactly as Jinja2's lexer
// does with HF's settings (trim_blocks, lstrip_blocks, newlines normalized to "\n", one trailing
// newline dropped), so that whitespace control gives the same text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pride::chat {

enum class TokenType {
  Text,
  VariableBegin,  // {{
  VariableEnd,    // }}
  BlockBegin,     // {%
  BlockEnd,       // %}
  Name,
  String,
  Integer,
  Float,
  Operator,
  End,
};

struct Token {
  TokenType type;
  std::string value;  // text, name, decoded string literal or operator
  int64_t integer = 0;
  double number = 0;
  size_t offset = 0;  // in the normalized source
};

// Where errors point: "file:line:column" of an offset into the normalized source.
class SourceMap {
 public:
  SourceMap(std::string file, const std::string& source);
  std::string position(size_t offset) const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<size_t> line_starts_;
};

// Jinja2 drops one trailing newline and turns "\r\n" and "\r" into "\n" before lexing.
std::string normalize_template_source(const std::string& source);

// Tokenizes a normalized source; errors (an unterminated tag, a bad character) name the position.
std::vector<Token> tokenize(const std::string& source, const SourceMap& map);

}  // namespace pride::chat
