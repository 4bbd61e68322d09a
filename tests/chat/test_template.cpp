// Unit tests of the interpreter with exact expected output: lexing and whitespace control,
// expressions, statements, filters, Python printing, and errors that name the template position.
#include <gtest/gtest.h>

#include <ctime>

#include "chat/python_text.h"
#include "chat/template.h"
#include "util/error.h"

namespace pride::chat {
namespace {

using nlohmann::ordered_json;

std::string render(const std::string& source,
                   const ordered_json& variables = ordered_json::object()) {
  return Template(source, "t.jinja").render(variables);
}

// The message of the pride::Error that rendering (or parsing) `source` throws.
std::string error_of(const std::string& source,
                     const ordered_json& variables = ordered_json::object()) {
  try {
    render(source, variables);
  } catch (const pride::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(ChatTemplate, WhitespaceControlFollowsJinja2) {
  EXPECT_EQ(render("a\n{% if true %}\nb\n{% endif %}\nc"), "a\nb\nc");  // trim_blocks
  EXPECT_EQ(render("a\n    {% if true %}b{% endif %}"), "a\nb");        // lstrip_blocks
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");  // "+" keeps spaces
  EXPECT_EQ(render("x {# c #}\ny"), "x y");                        // comments trim too
  EXPECT_EQ(render("a\n  {{ 'b' }}"), "a\n  b");                   // not for {{ }}
  EXPECT_EQ(render("end\n"), "end");                               // one trailing newline
  EXPECT_EQ(render("a\r\nb"), "a\nb");
  EXPECT_EQ(render("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
}

TEST(ChatTemplate, ExpressionsFollowPython) {
  EXPECT_EQ(render("{{ 7 // -2 }} {{ -7 % 3 }} {{ 2 ** 3 ** 2 }} {{ 1 / 4 }} {{ -2 ** 2 }}"),
            "-4 2 64 0.25 4");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 2 }} {{ [1] + [2] }}"),
            "a1NoneTrue abab [1, 2]");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 'b' in 'abc' }} {{ 2 not in [1] }} {{ 1 == 1.0 }}"),
            "True True True True");
  EXPECT_EQ(render("{{ 'x' if false }}|{{ 'y' if 0 else 'z' }}|{{ none or 'd' }}|{{ 0 and 1 }}"),
            "|z|d|0");
  EXPECT_EQ(
      render("{{ 'abcdef'[1:4] }} {{ 'abc'[::-1] }} {{ [1, 2, 3][-1] }} {{ (1, 2, 3)[:-1] }}"),
      "bcd cba 3 (1, 2)");
  EXPECT_EQ(render("{{ d.a }} {{ d['b'][0] }} {{ d.missing is defined }}",
                   {{"d", {{"a", 1}, {"b", {"x"}}}}}),
            "1 x False");
}

TEST(ChatTemplate, PrintsValuesLikePython) {
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5, {'k': (1,)}] }}"),
            "[1, 'a', None, True, 1.5, {'k': (1,)}]");
  EXPECT_EQ(render("{{ 1.0 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 0.1 + 0.2 }}"),
            "1.0 1e+16 1.5e-05 0.30000000000000004");
  EXPECT_EQ(render("{{ [\"it's\", 'a\\nb'] }}"), "[\"it's\", 'a\\nb']");
  EXPECT_EQ(render("{{ range(3) }} {{ {'a': 1}.items() }}"), "range(0, 3) dict_items([('a', 1)])");
  EXPECT_EQ(python_float_repr(1e22), "1e+22");
  EXPECT_EQ(python_float_repr(123.456), "123.456");
  EXPECT_EQ(python_string_repr("\xc2\xa0"), "'\\xa0'");
}

TEST(ChatTemplate, StatementsAndScoping) {
  EXPECT_EQ(render("{% for x in [1, 2, 3] if x > 1 %}{{ loop.index }}/{{ loop.length }}"
                   "{% if loop.last %}!{% endif %}{% else %}none{% endfor %}"),
            "1/22/2!");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}{{ v }}{% endfor %}"), "a1b2");
  EXPECT_EQ(render("{% set x = 0 %}{% for i in [1, 2] %}{% set x = x + i %}{% endfor %}{{ x }}"),
            "0");
  EXPECT_EQ(render("{% set ns = namespace(x=0) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}"
                   "{% endfor %}{{ ns.x }}"),
            "3");
  EXPECT_EQ(render("{% for i in range(9) %}{% if i == 1 %}{% continue %}{% endif %}"
                   "{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "02");
  EXPECT_EQ(render("{% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}"
                   "{{ tag('b', body='x') }}"),
            "<b>x</b>");
  EXPECT_EQ(
      render("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}in{% endcall %}"),
      "[in]");
  EXPECT_EQ(render("{% set block | upper %}text{% endset %}{{ block }}"), "TEXT");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
  EXPECT_EQ(render("{% if tools is not defined %}{% set tools = [] %}{% endif %}{{ tools }}",
                   {{"tools", {1}}}),
            "[1]");
}

TEST(ChatTemplate, FiltersAndMethods) {
  EXPECT_EQ(render("{{ '  x  '|trim }}|{{ 'ab'|upper }}|{{ missing|default('d') }}|"
                   "{{ ''|default('e', true) }}|{{ [1, 2]|join(', ') }}|{{ 'abc'|length }}"),
            "x|AB|d|e|1, 2|3");
  EXPECT_EQ(render("{{ {'b': [1, 'é'], 'a': none}|tojson }}"), "{\"b\": [1, \"é\"], \"a\": null}");
  EXPECT_EQ(render("{{ [1]|tojson(indent=2) }}"), "[\n  1\n]");
  EXPECT_EQ(render("{{ people|selectattr('age', 'equalto', 3)|map(attribute='n')|list }}",
                   {{"people", {{{"n", "a"}, {"age", 3}}, {{"n", "b"}, {"age", 4}}}}}),
            "['a']");
  EXPECT_EQ(
      render("{{ 'a,b'.split(',') }} {{ '<t>x'.startswith('<t>') }} {{ 'xx'.replace('x', 'y') }}"
             " {{ '\\nz\\n'.strip('\\n') }} {{ {'k': 1}.get('k') }}"),
      "['a', 'b'] True yy z 1");
  EXPECT_EQ(render("{{ 2.5|round }} {{ 2.675|round(2) }} {{ '7'|int + 1 }} {{ 'Ünï'|lower }}"),
            "2.0 2.67 8 ünï");
}

TEST(ChatTemplate, UndefinedBehavesLikeJinja2Default) {
  EXPECT_EQ(render("[{{ missing }}]{{ missing is defined }}{{ missing|length }}"
                   "{% for x in missing %}x{% endfor %}{{ missing ~ 'a' }}"),
            "[]False0a");
  EXPECT_NE(error_of("{{ missing.attribute }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ missing + 1 }}").find("t.jinja:1:12"), std::string::npos);
}

TEST(ChatTemplate, ErrorsNameFileAndPosition) {
  EXPECT_EQ(error_of("line one\n{% include 'x.jinja' %}"),
            "t.jinja:2:4: '{% include %}' is not supported by the chat-template interpreter");
  EXPECT_EQ(error_of("{% extends 'base' %}"),
            "t.jinja:1:4: '{% extends %}' is not supported by the chat-template interpreter");
  EXPECT_EQ(error_of("\n  {{ x|no_such_filter }}"),
            "t.jinja:2:8: no filter named 'no_such_filter'");
  EXPECT_EQ(error_of("{{ x|wordwrap }}"),
            "t.jinja:1:6: the filter 'wordwrap' is not supported by the chat-template interpreter");
  EXPECT_EQ(error_of("{{ x is no_such_test }}"), "t.jinja:1:9: no test named 'no_such_test'");
  EXPECT_EQ(error_of("{% frobnicate %}"), "t.jinja:1:4: unknown tag 'frobnicate'");
  EXPECT_EQ(error_of("{% if x %}never closed"),
            "t.jinja:1:23: unexpected end of template: expected '{% endif %}'");
  EXPECT_EQ(error_of("{{ 'unterminated }}"), "t.jinja:1:4: unterminated string literal");
  EXPECT_EQ(error_of("{{ raise_exception('Roles must alternate') }}"),
            "t.jinja:1:4: raise_exception: Roles must alternate");
  EXPECT_EQ(error_of("{{ [1].append(2) }}"),
            "t.jinja:1:7: access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(error_of("{{ 'x'.zfill(3) }}"),
            "t.jinja:1:7: the method str.zfill is not supported by the chat-template interpreter");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"),
            "t.jinja:1:24: integer overflow (Python integers are unbounded; 64 bits here)");
  EXPECT_EQ(error_of("{% break %}"), "t.jinja:1:4: 'break' outside of a loop");
  // Inside an if, an unknown filter only fails when evaluated, as in Jinja2.
  EXPECT_EQ(render("{% if false %}{{ x|no_such_filter }}{% endif %}ok"), "ok");
}

TEST(ChatTemplate, GlobalsOfHuggingFace) {
  char year[8];
  const std::time_t now = std::time(nullptr);
  std::strftime(year, sizeof year, "%Y", std::localtime(&now));
  EXPECT_EQ(render("{{ strftime_now('%Y') }}"), year);
  EXPECT_EQ(render("{{ range(1, 7, 2)|list }} {{ dict(a=1) }} {{ namespace(a=2).a }}"),
            "[1, 3, 5] {'a': 1} 2");
  EXPECT_NE(error_of("{{ range(1000000)|length }}").find("MAX_RANGE"), std::string::npos);
}

}  // namespace
}  // namespace pride::chat
