// Python's text semantics for the chat-template interpreter: UTF-8 <-> code points, str.isspace,
// strip/split/splitlines, case mapping, and the repr of floats and strings, so that rendered
// prompts match what Jinja2 (which runs on Python str) produces byte for byte.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pride::chat {

// A fault of the evaluated template (a Python exception in Jinja2); the evaluator adds the
// template file and position.
class EvalError : public std::runtime_error {
 public:
  explicit EvalError(const std::string& what) : std::runtime_error(what) {}
};

std::u32string decode_utf8(std::string_view text);
std::string encode_utf8(std::u32string_view text);
void append_utf8(std::string& out, char32_t code_point);
size_t code_point_count(std::string_view text);

bool is_python_space(char32_t c);  // str.isspace()

// str.strip / lstrip / rstrip: `chars` absent strips whitespace.
std::string python_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                         bool right);
// str.split / str.rsplit: `separator` absent splits on whitespace runs; max_split < 0: no limit.
std::vector<std::string> python_split(std::string_view text,
                                      const std::optional<std::string>& separator, long max_split,
                                      bool from_right);
std::vector<std::string> python_splitlines(std::string_view text);  // without the line ends

// Case mapping of str.upper/lower/title/capitalize for ASCII, Latin-1, Latin Extended-A and
// Cyrillic; other cased scripts (Greek, Armenian, ...) are an EvalError rather than a guess.
std::string python_upper(std::string_view text);
std::string python_lower(std::string_view text);
std::string python_str_title(std::string_view text);  // str.title()
std::string python_capitalize(std::string_view text);
bool python_is_lower(std::string_view text);
bool python_is_upper(std::string_view text);

std::string python_float_repr(double value);            // repr(float): "1.0", "1e+16", "nan"
std::string python_string_repr(std::string_view text);  // repr(str): 'a', "it's", '\n'
// A JSON string literal as json.dumps writes it.
std::string json_string_literal(std::string_view text, bool ensure_ascii);
std::string html_escape(std::string_view text);  // markupsafe.escape

}  // namespace pride::chat
