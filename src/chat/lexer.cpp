// Jinja2's lexer, rule for rule: data up to the next tag, the lstrip/trim/"-" whitespace rules
// applied to it, and the tokens inside {{ }} and {% %} (comments are dropped here).
#include "chat/lexer.h"

#include <algorithm>
#include <cstdlib>

#include "chat/python_text.h"
#include "util/error.h"

namespace pride::chat {

SourceMap::SourceMap(std::string file, const std::string& source) : file_(std::move(file)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\n') line_starts_.push_back(i + 1);
  }
}

std::string SourceMap::position(size_t offset) const {
  const auto next_line = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t line = static_cast<size_t>(next_line - line_starts_.begin());
  return fmt::format("{}:{}:{}", file_, line, offset - line_starts_[line - 1] + 1);
}

std::string normalize_template_source(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] != '\r') {
      out.push_back(source[i]);
      continue;
    }
    out.push_back('\n');
    if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

// Python's \s and str.isspace() on the UTF-8 character at `pos`; its byte length, or 0.
size_t space_length(const std::string& s, size_t pos) {
  const auto c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) return is_python_space(c) ? 1 : 0;
  size_t length = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
  if (pos + length > s.size()) return 0;
  const std::u32string decoded = decode_utf8(std::string_view(s).substr(pos, length));
  return decoded.size() == 1 && is_python_space(decoded[0]) ? length : 0;
}

size_t skip_spaces(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    const size_t length = space_length(s, pos);
    if (length == 0) break;
    pos += length;
  }
  return pos;
}

std::string rstrip_spaces(const std::string& text) {
  return python_strip(text, std::nullopt, false, true);
}

bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

class Lexer {
 public:
  Lexer(const std::string& source, const SourceMap& map) : s_(source), map_(map) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) {
      if (!lex_data_and_tag()) break;
    }
    tokens_.push_back(Token{TokenType::End, "", 0, 0, s_.size()});
    return std::move(tokens_);
  }

 private:
  enum class Tag { Variable, Block, Comment };

  [[noreturn]] void fail_at(size_t offset, const std::string& what) const {
    pride::fail("{}: {}", map_.position(offset), what);
  }

  // Text up to the next tag, then the tag; false at the end of the source.
  bool lex_data_and_tag() {
    size_t open = s_.find('{', pos_);
    while (open != std::string::npos && open + 1 < s_.size() && s_[open + 1] != '{' &&
           s_[open + 1] != '%' && s_[open + 1] != '#') {
      open = s_.find('{', open + 1);
    }
    if (open == std::string::npos || open + 1 >= s_.size()) {
      emit_text(s_.substr(pos_), pos_);
      pos_ = s_.size();
      return false;
    }
    const Tag tag = s_[open + 1] == '{'   ? Tag::Variable
                    : s_[open + 1] == '%' ? Tag::Block
                                          : Tag::Comment;
    const char sign =
        open + 2 < s_.size() && (s_[open + 2] == '-' || s_[open + 2] == '+') ? s_[open + 2] : '\0';
    emit_text(strip_before_tag(s_.substr(pos_, open - pos_), sign, tag != Tag::Variable), pos_);
    pos_ = open + 2 + (sign ? 1 : 0);
    line_starting_ = false;
    if (tag == Tag::Comment) {
      lex_comment(open);
    } else if (tag == Tag::Block && is_raw_begin()) {
      lex_raw(open);
    } else {
      lex_tag(tag, open);
    }
    return true;
  }

  // The "-" sign strips all whitespace before a tag; lstrip_blocks strips the spaces and tabs
  // that are alone on the tag's line before a block or comment tag ("+" turns that off).
  std::string strip_before_tag(std::string text, char sign, bool lstrip_applies) const {
    if (sign == '-') return rstrip_spaces(text);
    if (sign == '+' || !lstrip_applies) return text;
    const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (line_start == 0 && !line_starting_) return text;
    const bool only_blanks = text.find_first_not_of(" \t", line_start) == std::string::npos;
    return only_blanks ? text.substr(0, line_start) : text;
  }

  void emit_text(std::string text, size_t offset) {
    if (!text.empty()) tokens_.push_back(Token{TokenType::Text, std::move(text), 0, 0, offset});
  }

  // After a block or comment end: "-" eats all whitespace, "+" nothing, plain (trim_blocks) one
  // newline. Records whether the match ended a line, which lstrip_blocks looks at.
  void finish_block_end(char sign, size_t end_of_delimiter) {
    pos_ = end_of_delimiter;
    if (sign == '-') {
      pos_ = skip_spaces(s_, pos_);
    } else if (sign != '+' && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > 0 && s_[pos_ - 1] == '\n';
  }

  // The first "#}" ends a comment; a "-" or "+" right before it is its whitespace control.
  void lex_comment(size_t open) {
    const size_t close = s_.find("#}", pos_);
    if (close == std::string::npos) fail_at(open, "missing end of comment tag");
    const bool signed_end = close > pos_ && (s_[close - 1] == '-' || s_[close - 1] == '+');
    finish_block_end(signed_end ? s_[close - 1] : '\0', close + 2);
  }

  bool is_raw_begin() const {
    const size_t name = skip_spaces(s_, pos_);
    if (s_.compare(name, 3, "raw") != 0) return false;
    const size_t after = name + 3;
    return after >= s_.size() || !is_name_char(s_[after]);
  }

  // {% raw %}...{% endraw %}: the body is text, with the endraw tag's whitespace control.
  void lex_raw(size_t open) {
    const size_t name_end = skip_spaces(s_, skip_spaces(s_, pos_) + 3);
    if (s_.compare(name_end, 3, "-%}") == 0) {
      pos_ = skip_spaces(s_, name_end + 3);
    } else if (s_.compare(name_end, 2, "%}") == 0) {
      pos_ = name_end + 2;
    } else {
      fail_at(open, "expected '%}' after 'raw'");
    }
    line_starting_ = s_[pos_ - 1] == '\n';
    for (size_t search = pos_;;) {
      const size_t end_open = s_.find("{%", search);
      if (end_open == std::string::npos) fail_at(open, "missing end of raw directive");
      size_t p = end_open + 2;
      const char sign = p < s_.size() && (s_[p] == '-' || s_[p] == '+') ? s_[p] : '\0';
      p = skip_spaces(s_, p + (sign ? 1 : 0));
      if (s_.compare(p, 6, "endraw") != 0) {
        search = end_open + 2;
        continue;
      }
      p = skip_spaces(s_, p + 6);
      const char end_sign = s_[p] == '-' || s_[p] == '+' ? s_[p] : '\0';
      if (s_.compare(p + (end_sign ? 1 : 0), 2, "%}") != 0) fail_at(p, "expected '%}'");
      emit_text(strip_before_tag(s_.substr(pos_, end_open - pos_), sign, true), pos_);
      finish_block_end(end_sign, p + (end_sign ? 1 : 0) + 2);
      return;
    }
  }

  void lex_tag(Tag tag, size_t open) {
    const bool block = tag == Tag::Block;
    tokens_.push_back(
        Token{block ? TokenType::BlockBegin : TokenType::VariableBegin, "", 0, 0, open});
    std::vector<char> balance;
    while (true) {
      pos_ = skip_spaces(s_, pos_);
      if (pos_ >= s_.size()) fail_at(open, "unexpected end of template inside a tag");
      if (balance.empty() && lex_tag_end(block)) return;
      lex_expression_token(balance);
    }
  }

  bool lex_tag_end(bool block) {
    const char* close = block ? "%}" : "}}";
    const char sign = s_[pos_] == '-' || (block && s_[pos_] == '+') ? s_[pos_] : '\0';
    const size_t delimiter = pos_ + (sign ? 1 : 0);
    if (s_.compare(delimiter, 2, close) != 0) return false;
    tokens_.push_back(Token{block ? TokenType::BlockEnd : TokenType::VariableEnd, "", 0, 0, pos_});
    if (block) {
      finish_block_end(sign, delimiter + 2);
    } else {
      pos_ = sign == '-' ? skip_spaces(s_, delimiter + 2) : delimiter + 2;
      line_starting_ = pos_ > 0 && s_[pos_ - 1] == '\n';
    }
    return true;
  }

  void lex_expression_token(std::vector<char>& balance) {
    const char c = s_[pos_];
    if (is_digit(c)) return lex_number();
    if (is_name_start(c)) {
      const size_t start = pos_;
      while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
      tokens_.push_back(Token{TokenType::Name, s_.substr(start, pos_ - start), 0, 0, start});
      return;
    }
    if (c == '\'' || c == '"') return lex_string();
    lex_operator(balance);
  }

  // Digits with single underscores between them; the end of the run.
  size_t digit_run(size_t p) const {
    if (p >= s_.size() || !is_digit(s_[p])) return std::string::npos;
    while (p < s_.size()) {
      if (is_digit(s_[p])) {
        ++p;
      } else if (s_[p] == '_' && p + 1 < s_.size() && is_digit(s_[p + 1])) {
        ++p;
      } else {
        break;
      }
    }
    return p;
  }

  // Jinja2's float_re: digits, then ".digits" and/or an exponent; not after a "." (x.0.1).
  size_t float_end(size_t integer_end) const {
    if (pos_ > 0 && s_[pos_ - 1] == '.') return std::string::npos;
    size_t p = integer_end;
    bool fraction = false;
    if (p < s_.size() && s_[p] == '.') {
      const size_t end = digit_run(p + 1);
      if (end != std::string::npos) {
        p = end;
        fraction = true;
      }
    }
    if (p < s_.size() && (s_[p] == 'e' || s_[p] == 'E')) {
      size_t q = p + 1;
      if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
      const size_t end = digit_run(q);
      if (end != std::string::npos) return end;
    }
    return fraction ? p : std::string::npos;
  }

  void lex_number() {
    const size_t start = pos_;
    const size_t integer_end = digit_run(pos_);
    const size_t end = float_end(integer_end);
    std::string digits;
    for (size_t i = start; i < (end == std::string::npos ? integer_end : end); ++i) {
      if (s_[i] != '_') digits.push_back(s_[i]);
    }
    Token token{end == std::string::npos ? TokenType::Integer : TokenType::Float, digits, 0, 0,
                start};
    if (token.type == TokenType::Float) {
      token.number = std::strtod(digits.c_str(), nullptr);
      pos_ = end;
    } else {
      errno = 0;
      token.integer = std::strtoll(digits.c_str(), nullptr, 10);
      if (errno == ERANGE) fail_at(start, "integer literal does not fit 64 bits");
      pos_ = integer_end;
    }
    tokens_.push_back(std::move(token));
  }

  void lex_string() {
    const size_t start = pos_;
    const char quote = s_[pos_++];
    std::string raw;
    while (true) {
      if (pos_ >= s_.size()) fail_at(start, "unterminated string literal");
      const char c = s_[pos_];
      if (c == quote) break;
      if (c == '\\' && pos_ + 1 < s_.size()) raw.push_back(s_[pos_++]);
      raw.push_back(s_[pos_++]);
    }
    ++pos_;
    try {
      tokens_.push_back(Token{TokenType::String, decode_escapes(raw), 0, 0, start});
    } catch (const EvalError& error) {
      fail_at(start, error.what());
    }
  }

  // Python's unicode-escape decoding, which Jinja2 applies to string literals.
  static std::string decode_escapes(const std::string& raw);

  void lex_operator(std::vector<char>& balance) {
    static const char* const kTwoChar[] = {"**", "//", "==", "!=", ">=", "<="};
    for (const char* op : kTwoChar) {
      if (s_.compare(pos_, 2, op) == 0) {
        tokens_.push_back(Token{TokenType::Operator, op, 0, 0, pos_});
        pos_ += 2;
        return;
      }
    }
    const char c = s_[pos_];
    if (std::string("+-/*%~[](){}><=.:|,;").find(c) == std::string::npos) {
      fail_at(pos_, fmt::format("unexpected character '{}'", c));
    }
    if (c == '(' || c == '[' || c == '{') balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty() || balance.back() != c) fail_at(pos_, fmt::format("unexpected '{}'", c));
      balance.pop_back();
    }
    tokens_.push_back(Token{TokenType::Operator, std::string(1, c), 0, 0, pos_});
    ++pos_;
  }

  const std::string& s_;
  const SourceMap& map_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads exactly `count` hex digits at raw[pos].
char32_t read_hex(const std::string& raw, size_t pos, size_t count) {
  char32_t value = 0;
  for (size_t i = 0; i < count; ++i) {
    const int digit = pos + i < raw.size() ? hex_value(raw[pos + i]) : -1;
    if (digit < 0) throw EvalError("truncated \\x, \\u or \\U escape in a string literal");
    value = value * 16 + static_cast<char32_t>(digit);
  }
  if (value > 0x10FFFF) throw EvalError("illegal Unicode character in a string literal");
  return value;
}

std::string Lexer::decode_escapes(const std::string& raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out.push_back(raw[i]);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case '\n':
        break;
      case '\\':
      case '\'':
      case '"':
        out.push_back(e);
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
        append_utf8(out, read_hex(raw, i + 1, 2));
        i += 2;
        break;
      case 'u':
        append_utf8(out, read_hex(raw, i + 1, 4));
        i += 4;
        break;
      case 'U':
        append_utf8(out, read_hex(raw, i + 1, 8));
        i += 8;
        break;
      case 'N':
        throw EvalError("\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          char32_t value = static_cast<char32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7';
               ++k) {
            value = value * 8 + static_cast<char32_t>(raw[++i] - '0');
          }
          append_utf8(out, value);
        } else if (static_cast<unsigned char>(e) >= 0x80) {
          // Jinja2 backslash-escapes non-ASCII text first: "\é" decodes to "\xe9" literally.
          const size_t length = (static_cast<unsigned char>(e) >> 5) == 0x6   ? 2
                                : (static_cast<unsigned char>(e) >> 4) == 0xE ? 3
                                                                              : 4;
          const char32_t c = decode_utf8(raw.substr(i, length)).at(0);
          out += c < 0x100     ? fmt::format("\\x{:02x}", static_cast<uint32_t>(c))
                 : c < 0x10000 ? fmt::format("\\u{:04x}", static_cast<uint32_t>(c))
                               : fmt::format("\\U{:08x}", static_cast<uint32_t>(c));
          i += length - 1;
        } else {
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

}  // namespace

std::vector<Token> tokenize(const std::string& source, const SourceMap& map) {
  return Lexer(source, map).run();
}

}  // namespace pride::chat
