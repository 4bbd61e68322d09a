// Hand-written corner cases of Jinja2's semantics that chat templates lean on (whitespace control
// with trim_blocks/lstrip_blocks, scoping, Undefined, Python printing, sandbox rules), each
// rendered by pride and by Python's jinja2: identical output, or an error in both.
// Known differences, tested in test_template.cpp instead: integers beyond 64 bits (an error here)
// and Jinja2's compile-time folding of constant expressions (`{{ {'a': 1}[0:1] }}` folds to
// Undefined instead of raising).
#include <gtest/gtest.h>

#include "chat/template.h"
#include "jinja2_reference.h"
#include "util/error.h"

namespace pride::chat {
namespace {

using nlohmann::ordered_json;

const char* const kTemplates[] = {
    // whitespace: trim_blocks, lstrip_blocks, "-" and "+", comments, trailing newline
    "  {% if true %}\n  x\n  {% endif %}\n  {# c #}\n  y {% if 1 %}z{% endif %}\nw",
    "{%- if 1 -%}  a  {%- endif -%}  b\n\n",
    "a\n  {%+ if true %}b{% endif +%}\nc",
    "a  {{- ' b ' -}}  \n c",
    "line\n    {# comment #}\n    next\n",
    "{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}\n",
    "{% raw %}{{ not evaluated }}{% endraw %}\n  {%- raw -%}  x  {% endraw %}",
    "a\r\nb\rc\n",
    "\t{% set x = 1 %}\n\t{{ x }}\t\n",
    "{{ '{{' }}{{ '}}' }}{{ {'a': {'b': 1}} }}",
    // scoping
    "{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }};{% endfor %}{{ x }}",
    "{% for i in range(3) %}{% set y = i %}{% endfor %}{{ y }}",
    "{% if true %}{% set y = 5 %}{% endif %}{{ y }}",
    "{% macro m() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ m() }}{% set x = 2 %}{{ m() }}",
    "{% for x in [7] %}{% macro m() %}{{ x }}{% endmacro %}{{ m() }}{% endfor %}",
    "{% set x = 1 %}{% macro m() %}{% set x = 3 %}{{ x }}{% endmacro %}{{ m() }}{{ x }}",
    "{{ x }}{% set x = 1 %}{{ x }}",
    "{% set b %}{{ x }}{% endset %}{{ b }}{% set x = 1 %}",
    "{% if x is not defined %}{% set x = 'dflt' %}{% endif %}{{ x }}",
    "{% set ns = namespace(n=0, items=[]) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
    "{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.n }} {{ ns.items }} {{ ns }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, %}{{ t }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}",
    "{% filter upper %}hello {{ 'x' }}{% endfilter %}",
    "{% set x | trim | upper %}  block  {% endset %}[{{ x }}]",
    "{% generation %}{% set g = 1 %}gen{{ g }}{% endgeneration %}{{ g }}",
    // macros and call blocks
    "{% macro m(a, b) %}{{ a }}|{{ b }}{% endmacro %}{{ m(1) }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}",
    "{% macro m(a, b=a ~ 'x') %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(1, b=2) }}",
    "{% macro list(items) %}{% for i in items %}<{{ caller(i) }}>{% endfor %}{% endmacro %}"
    "{% call(item) list([1, 2]) %}[{{ item * 10 }}]{% endcall %}",
    "{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}",
    // loops
    "{% for x in [1, 2, 3] if x > 1 %}{{ loop.index }}/{{ loop.length }}{{ loop.last }}{% endfor "
    "%}",
    "{% for x in 'ab' %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }};{% endfor %}",
    "{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{{ loop.revindex }}{{ loop.first }}{% "
    "endfor %}",
    "{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }} {% endfor %}",
    "{% for x in missing %}a{% else %}empty{% endfor %}",
    "{% for x in none %}a{% endfor %}",
    "{% for a, b in [(1, 2), (3,)] %}{{ a }}{% endfor %}",
    "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}"
    "{% endif %}{{ x }}{% endfor %}",
    "{% for x in [] %}{% else %}{{ loop }}{% endfor %}",
    // undefined
    "{{ foo }}|{{ foo is defined }}|{{ foo|default('d') }}|{{ foo ~ 'x' }}|{{ foo|length }}",
    "{{ foo.bar }}",
    "{{ foo['bar'] }}",
    "{{ foo + 1 }}",
    "{{ foo() }}",
    "{{ foo|tojson }}",
    "{{ {'a': 1}.b }}|{{ {'a': 1}.b is defined }}|{{ [1][5] }}|{{ 'ab'.nope }}",
    "{{ {'a': 1}.b.c }}",
    "{{ ('a' if false) is defined }}|{{ 'a' if false }}",
    "{{ foo|first }}|{{ foo|list }}|{{ 'a' in foo }}|{{ foo == foo }}",
    // printing like Python
    "{{ [1, 'a', none, true, 1.5, {'k': (1,)}, (), (1, 2)] }}",
    "{{ 1.0 }} {{ 1e20 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ 123456789012345678.0 }} "
    "{{ 0.1 + 0.2 }} {{ -0.0 }} {{ 1/3 }} {{ 2**0.5 }}",
    "{{ \"it's\" }} {{ ['it\\'s', \"q\\\"\", '\\n\\t\\\\', '\\x01\\u00a0\\u200b'] }}",
    "{{ range(3) }}{{ range(1, 10, 2)[1:3] }}{{ {'a': 1}.items() }}{{ {'a': 1}.keys() }}",
    "{{ 'caf\\u00e9 \\U0001F600 \\x41 \\101 \\d' }}",
    // arithmetic
    "{{ 2**3**2 }} {{ -2**2 }} {{ 7//-2 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 / 4 }}",
    "{{ 1 / 0 }}",
    "{{ 1 // 0 }}",
    "{{ 'a' + 1 }}",
    "{{ 'a' < 1 }}",
    "{{ [1] * 3 }}{{ 'ab' * 2 }}",
    "{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 == 1.0 }}{{ [1] == (1,) }}{{ 'a' ~ 1 ~ none }}",
    // filters and methods
    "{{ 'hello world-foo(bar'|title }} {{ \"they're bill's\".title() }} {{ 'ÉCOLE'|lower }}",
    "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('>', "
    "blank=true) }}",
    "{{ [3, 1, 2]|sort(reverse=true) }}{{ ['b', 'A', 'a']|sort }}{{ ['b', 'A', 'a']|unique|list }}",
    "{{ {'b': 1, 'a': 2}|dictsort }}{{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }}",
    "{{ [{'n': 'x', 'v': 2}, {'n': 'y'}]|selectattr('v')|map(attribute='n')|list }}"
    "{{ [{'n': 'x', 'v': 2}, {'n': 'y'}]|rejectattr('v', 'defined')|list }}",
    "{{ [1, 2, 3]|select('odd')|list }}{{ [1, 2, 3]|reject('divisibleby', 3)|list }}",
    "{{ 2.675|round(2) }} {{ 2.5|round }} {{ 3|round }} {{ 2.5|round(0, 'ceil') }} {{ -0.5|round "
    "}}",
    "{{ 'x'|int }}|{{ ' 12 '|int }}|{{ '1_0'|int }}|{{ '1.9'|int }}|{{ '3.5'|float }}|{{ "
    "'a'|float(1) }}",
    "{{ {'é': [1, 2.5, none, true]}|tojson }}{{ {'b': 1, 'a': 2}|tojson(indent=2, sort_keys=true) "
    "}}",
    "{{ 'é😀'|tojson(ensure_ascii=true) }}{{ [1, [2]]|tojson(separators=(',', ':')) }}",
    "{{ ' a  b '.split() }}{{ 'a,b,c'.rsplit(',', 1) }}{{ 'abc'.split('b') }}{{ ',a,'.split(',') "
    "}}",
    "{{ 'xxhixx'.strip('x') }}{{ '  hi'.lstrip() }}{{ 'hi\\n\\n'.rstrip('\\n') }}{{ "
    "'aaa'.replace('a', 'b', 2) }}",
    "{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('bc') }}{{ 'a-b'.find('-') }}{{ "
    "'x'.upper() }}",
    "{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b', 2) }}{{ {'a': 1}.get('b') }}",
    "{{ [1].append(2) }}",
    "{{ {'a': 1}.update({}) }}",
    "{{ [1].append is defined }}",
    "{{ '<b>'|e }}{{ ('<'|e) + '<' }}{{ '<'|safe ~ '>' }}{{ ('a,b'|e).split(',') }}",
    "{{ [1, 2, 3]|first }}{{ [1, 2, 3]|last }}{{ []|first }}{{ 'abc'|list }}{{ (1, 2)|join('-') }}",
    "{{ [[1, 2], [3]]|map('length')|list }}{{ [1, 2, 3, 4, 5]|batch(2)|list }}{{ [1, 2, "
    "3]|batch(2, 0)|list }}",
    "{{ 'abc'[1:] }}{{ 'abc'[::-1] }}{{ [1, 2, 3][-2:] }}{{ 'abc'[5] }}|{{ 'abc'['x'] }}",
    "{{ [1, 2][1:0:0] }}",
    "{{ 'x'|nofilter }}",
    "{% if false %}{{ 'x'|nofilter }}{% endif %}ok",
    "{{ 1 if true else 'x'|nofilter }}",
    "{{ 'x' is nosuchtest }}",
    "{{ raise_exception('boom') }}",
    "{{ 'a' is filter }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ none is sameas none }}",
    "{{ x.y }}{% set x = namespace(y=1) %}{{ x.y }}",
    "{{ dict(a=1, b=[2]) }}{{ namespace(a=1).a }}{{ range(2, 10, 3)|list }}{{ range(5)[-1] }}",
    "{{ range(200000)|length }}",
};

TEST(ChatConformance, EdgeCasesMatchJinja2) {
  const std::string python = testing::find_jinja2_python();
  if (python.empty()) GTEST_SKIP() << "python3 with jinja2 not found (set PRIDE_PYTHON)";
  const ordered_json variables = {{"x_var", 1}};
  ordered_json cases = ordered_json::array();
  for (const char* source : kTemplates) {
    cases.push_back({{"kind", "template"}, {"template", source}, {"variables", variables}});
  }
  const auto expected = testing::render_with_jinja2(python, cases);
  int identical = 0, both_failed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    bool ok = true;
    std::string actual;
    try {
      actual = Template(kTemplates[i], "edge").render(variables);
    } catch (const pride::Error& error) {
      ok = false;
      actual = error.what();
    }
    if (expected[i].ok) {
      EXPECT_TRUE(ok && actual == expected[i].output)
          << kTemplates[i] << "\njinja2: " << ordered_json(expected[i].output).dump()
          << "\npride:  " << (ok ? ordered_json(actual).dump() : "failed: " + actual);
      identical += ok && actual == expected[i].output;
    } else {
      EXPECT_FALSE(ok) << kTemplates[i] << "\njinja2 failed: " << expected[i].error
                       << "\npride rendered: " << ordered_json(actual).dump();
      both_failed += !ok;
    }
  }
  std::cout << "[ edge cases ] " << cases.size() << " templates: " << identical
            << " rendered identically, " << both_failed << " failed in both\n";
}

}  // namespace
}  // namespace pride::chat
