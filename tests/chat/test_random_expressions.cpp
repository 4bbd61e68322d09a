// Randomized conformance: a seeded generator writes templates of random expressions and
// statements (arithmetic, strings, filters, tests, comparisons, slicing, loops, conditionals,
// macros, namespaces, whitespace control), and pride renders each exactly as Python's jinja2
// does, or both fail.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "chat/template.h"
#include "jinja2_reference.h"
#include "util/error.h"

namespace pride::chat {
namespace {

using nlohmann::ordered_json;

const char* const kVariables = R"({
  "n": 7, "m": -3, "z": 0, "f": 2.5, "g": -0.125, "big": 123456789,
  "s": "Hello, World", "u": "h\u00e9llo w\u00f6rld \ud83d\ude00 \u4e2d\u6587", "e": "",
  "sp": "  padded\t\n", "lst": [3, 1, 2], "words": ["b", "a", "C", "a"],
  "d": {"a": 1, "b": "two", "c": [1, 2.5, null]},
  "people": [{"name": "Ann", "age": 31, "tags": ["x"]}, {"name": "bob", "age": 25},
             {"name": "Cy", "age": 31, "tags": []}],
  "none_v": null, "t": true, "fl": false,
  "nested": {"k": {"k2": [10, 20, {"deep": "yes"}]}}
})";

class TemplateGenerator {
 public:
  explicit TemplateGenerator(uint32_t seed) : rng_(seed) {}

  std::string make_template() {
    std::string out;
    const int segments = 1 + pick(4);
    for (int i = 0; i < segments; ++i) out += separator() + segment() + separator();
    return out;
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <size_t N>
  const char* one_of(const char* const (&options)[N]) {
    return options[pick(N)];
  }

  // --- expressions of a rough type; a few are ill-typed on purpose (both must then fail) ------
  std::string number(int depth) {
    static const char* const kLeaves[] = {
        "0",    "1",    "2",   "3",          "7",        "12",  "-4",
        "0.5",  "2.25", "1e3", "1.5e-5",     "n",        "m",   "z",
        "f",    "g",    "big", "lst|length", "s|length", "d.a", "people[1].age",
        "true", "3.0"};
    if (depth <= 0 || pick(3) == 0) return one_of(kLeaves);
    switch (pick(9)) {
      case 0: {
        static const char* const kOps[] = {"+", "-", "*", "/", "//", "%"};
        return "(" + number(depth - 1) + " " + one_of(kOps) + " " + number(depth - 1) + ")";
      }
      case 1:
        return number(depth - 1) + " + " + number(depth - 1) + " * " + number(depth - 1);
      case 2:
        return "-" + number(depth - 1);
      case 3: {
        // Small bases: Python's unbounded integers are 64-bit here (an error past that).
        static const char* const kBases[] = {"2", "-3", "n", "m", "f", "g", "0.5", "z"};
        return "(" + std::string(one_of(kBases)) + " ** " + std::to_string(pick(4)) + ")";
      }
      case 4: {
        static const char* const kFilters[] = {"abs", "round", "round(1)",      "round(2, 'floor')",
                                               "int", "float", "string|length", "round(0, 'ceil')"};
        return "(" + number(depth - 1) + ")|" + one_of(kFilters);
      }
      case 5:
        return "(" + number(depth - 1) + " if " + boolean(depth - 1) + " else " +
               number(depth - 1) + ")";
      case 6: {
        static const char* const kAggregates[] = {"lst|sum",
                                                  "lst|max",
                                                  "lst|min",
                                                  "[1.5, 2, -3]|sum",
                                                  "people|sum(attribute='age')",
                                                  "range(n)|sum",
                                                  "words|length"};
        return one_of(kAggregates);
      }
      case 7:
        return "(" + text(depth - 1) + ")|length";
      default:
        return "(" + text(depth - 1) + ")|int";
    }
  }

  std::string string_literal() {
    static const char* const kLiterals[] = {"'a'",
                                            "\"b\"",
                                            "'x y'",
                                            "''",
                                            "'ABC'",
                                            "'caf\\u00e9'",
                                            "'tab\\tnew\\nline'",
                                            "\"it's\"",
                                            "'say \"hi\"'",
                                            "'\\\\back'",
                                            "'  trim me  '",
                                            "'l,i,s,t'",
                                            "'\xf0\x9f\x98\x80'",
                                            "'\xe4\xb8\xad\xe6\x96\x87'",
                                            "'Mixed Case Words'",
                                            "'a-b(c'"};
    return one_of(kLiterals);
  }

  std::string text(int depth) {
    static const char* const kNames[] = {
        "s", "u", "e", "sp", "d.b", "people[0].name", "words[1]", "nested.k.k2[2].deep"};
    if (depth <= 0 || pick(3) == 0) return pick(2) ? string_literal() : one_of(kNames);
    switch (pick(12)) {
      case 0:
        return text(depth - 1) + " ~ " + any(depth - 1);
      case 1:
        return "(" + text(depth - 1) + " + " + text(depth - 1) + ")";
      case 2: {
        static const char* const kFilters[] = {"upper",
                                               "lower",
                                               "title",
                                               "capitalize",
                                               "trim",
                                               "trim('x')",
                                               "replace('l', 'L')",
                                               "e",
                                               "replace('', '-', 2)",
                                               "indent(2)",
                                               "default('dflt')",
                                               "d('x', true)",
                                               "first",
                                               "last"};
        return "(" + text(depth - 1) + ")|" + one_of(kFilters);
      }
      case 3: {
        static const char* const kMethods[] = {"strip()",
                                               "lstrip()",
                                               "rstrip('d\\n')",
                                               "upper()",
                                               "lower()",
                                               "title()",
                                               "capitalize()",
                                               "replace('o', '0')",
                                               "split(',')|join('+')",
                                               "split()|join('_')",
                                               "rsplit(' ', 1)|first",
                                               "strip('H')"};
        return "(" + text(depth - 1) + ")." + one_of(kMethods);
      }
      case 4: {
        static const char* const kSlices[] = {"[1:]",  "[:3]", "[::-1]", "[-2:]", "[1:-1]",
                                              "[::2]", "[0]",  "[-1]",   "[10:]", "[2:1]"};
        return "(" + text(depth - 1) + ")" + one_of(kSlices);
      }
      case 5:
        return "(" + any(depth - 1) + ")|string";
      case 6: {
        static const char* const kJson[] = {"tojson", "tojson(indent=2)", "tojson(sort_keys=true)",
                                            "tojson(ensure_ascii=true)",
                                            "tojson(separators=(',', ':'))"};
        return "(" + any(depth - 1) + ")|" + one_of(kJson);
      }
      case 7:
        return "(" + list(depth - 1) + ")|join(', ')";
      case 8:
        return "(" + text(depth - 1) + " * " + std::to_string(pick(4)) + ")";
      case 9:
        return "(" + text(depth - 1) + " if " + boolean(depth - 1) + " else " + text(depth - 1) +
               ")";
      case 10:
        return "(" + text(depth - 1) + " if " + boolean(depth - 1) + ")";
      default:
        return "'' ~ " + number(depth - 1);
    }
  }

  std::string boolean(int depth) {
    static const char* const kLeaves[] = {"t", "fl", "true", "false",   "none_v",
                                          "n", "e",  "lst",  "missing", "d"};
    if (depth <= 0 || pick(4) == 0) return one_of(kLeaves);
    switch (pick(9)) {
      case 0: {
        static const char* const kOps[] = {"==", "!=", "<", "<=", ">", ">="};
        return number(depth - 1) + " " + one_of(kOps) + " " + number(depth - 1);
      }
      case 1: {
        static const char* const kOps[] = {"==", "!=", "<", ">"};
        return text(depth - 1) + " " + one_of(kOps) + " " + text(depth - 1);
      }
      case 2:
        return text(depth - 1) + (pick(2) ? " in " : " not in ") + text(depth - 1);
      case 3:
        return any(depth - 1) + (pick(2) ? " in " : " not in ") + list(depth - 1);
      case 4:
        return "not " + boolean(depth - 1);
      case 5:
        return "(" + boolean(depth - 1) + (pick(2) ? " and " : " or ") + boolean(depth - 1) + ")";
      case 6: {
        static const char* const kTests[] = {
            "defined",       "undefined",      "none",        "string",   "number",
            "integer",       "float",          "mapping",     "iterable", "sequence",
            "boolean",       "true",           "false",       "odd",      "even",
            "divisibleby 3", "divisibleby(2)", "lower",       "upper",    "in [1, 'a', none]",
            "eq 7",          "gt 2",           "sameas none", "callable", "escaped",
            "equalto('a')"};
        return "(" + any(depth - 1) + (pick(3) ? " is " : " is not ") + one_of(kTests) + ")";
      }
      case 7:
        return "(" + text(depth - 1) + ").startswith(" + string_literal() + ")";
      default:
        return "1 < " + number(depth - 1) + " < 10";
    }
  }

  std::string list(int depth) {
    static const char* const kLeaves[] = {
        "lst",
        "words",
        "[]",
        "[1, 'a', none, true, 2.5]",
        "(1, 2)",
        "people|map(attribute='name')|list",
        "d|items|list",
        "d.keys()|list",
        "d.values()|list",
        "range(4)|list",
        "range(1, 10, 3)",
        "nested.k.k2",
        "d.c",
        "people|selectattr('age', 'equalto', 31)|map(attribute='name')|list",
        "people|rejectattr('tags')|list",
        "people|map(attribute='tags', default='-')|list",
        "d.items()"};
    if (depth <= 0 || pick(3) == 0) return one_of(kLeaves);
    switch (pick(8)) {
      case 0:
        return "(" + list(depth - 1) + " + " + list(depth - 1) + ")";
      case 1: {
        static const char* const kFilters[] = {
            "sort",         "sort(reverse=true)", "reverse|list",       "unique|list",
            "list",         "map('string')|list", "select('odd')|list", "reject('none')|list",
            "batch(2)|list"};
        return "(" + list(depth - 1) + ")|" + one_of(kFilters);
      }
      case 2: {
        static const char* const kSlices[] = {"[1:]", "[::-1]", "[:2]", "[-2:]", "[::2]"};
        return "(" + list(depth - 1) + ")" + one_of(kSlices);
      }
      case 3:
        return "(" + text(depth - 1) + ")|list";
      case 4:
        return "(" + text(depth - 1) + ").split(" + (pick(2) ? string_literal() : "") + ")";
      case 5:
        return "[" + any(depth - 1) + ", " + any(depth - 1) + "]";
      case 6:
        return "(" + any(depth - 1) + ", " + any(depth - 1) + ")";
      default:
        return "(" + list(depth - 1) + " * " + std::to_string(pick(3)) + ")";
    }
  }

  std::string dict(int depth) {
    static const char* const kLeaves[] = {
        "d",  "nested.k",         "people[0]",
        "{}", "dict(x=1, y='z')", "{'k': [1, {'j': none}], 2: 'two', 1.5: true}"};
    if (depth <= 0 || pick(2) == 0) return one_of(kLeaves);
    return "{'a': " + any(depth - 1) + ", 'b': " + any(depth - 1) + "}";
  }

  std::string any(int depth) {
    switch (pick(7)) {
      case 0:
      case 1:
        return number(depth);
      case 2:
      case 3:
        return text(depth);
      case 4:
        return boolean(depth);
      case 5:
        return list(depth);
      default:
        return pick(4) ? dict(depth) : "missing";
    }
  }

  // --- statements -----------------------------------------------------------------------------
  std::string open(const char* kind) {
    std::string tag = kind;
    return tag + (pick(4) == 0 ? "-" : pick(8) == 0 ? "+" : "") + " ";
  }
  std::string close(const char* kind) { return std::string(pick(4) == 0 ? " -" : " ") + kind; }
  std::string block(const std::string& body) { return open("{%") + body + close("%}"); }
  std::string output(const std::string& expr) { return open("{{") + expr + close("}}"); }

  std::string separator() {
    static const char* const kSeparators[] = {"",  "",       "\n",   "  \n", "\n    ",
                                              " ", "\t\n  ", "\n\n", "x\n  "};
    std::string out = one_of(kSeparators);
    if (pick(10) == 0)
      out += block("# comment #").substr(0, 0) + "{# note #}" + one_of(kSeparators);
    return out;
  }

  std::string segment() {
    const int depth = 1 + pick(3);
    switch (pick(12)) {
      case 0:
      case 1:
      case 2:
        return output(any(depth));
      case 3:
        return block("if " + boolean(depth)) + separator() + "yes" + separator() +
               block("elif " + boolean(depth)) + "mid" + block("else") + separator() + "no" +
               block("endif");
      case 4:
        return block("for x in " + list(depth)) + separator() + output("loop.index") + "/" +
               output("loop.revindex0") + "=" + output("x") + block("if not loop.last") + "," +
               block("endif") + block("else") + "empty" + block("endfor");
      case 5:
        return block("for k, v in " + dict(depth) + "|items") + output("k") + ":" + output("v") +
               ";" + separator() + block("endfor");
      case 6:
        return block("set v = " + any(depth)) + separator() + "[" + output("v") + "]";
      case 7:
        return block("set ns = namespace(c=0, s='')") + block("for x in " + list(depth)) +
               block("set ns.c = ns.c + 1") + block("set ns.s = ns.s ~ x") + block("endfor") +
               output("ns.c") + "|" + output("ns.s");
      case 8:
        return block("for x in " + list(depth) + " if x") + block("if loop.index > 2") +
               block("break") + block("endif") + block("if x is string") + block("continue") +
               block("endif") + output("x") + block("endfor");
      case 9:
        return block("macro m(a, b='dflt')") + "<" + output("a") + "|" + output("b") + ">" +
               block("endmacro") + output("m(" + any(depth) + ")") +
               output("m(1, b=" + any(depth) + ")");
      case 10:
        return block("set blk") + separator() + output(text(depth)) + separator() +
               block("endset") + output("blk|trim|length") + output("blk");
      default:
        return block("for a in [1, 2]") + block("for b in " + list(depth)) +
               output("a ~ b ~ loop.first") + block("endfor") + block("endfor");
    }
  }

  std::mt19937 rng_;
};

TEST(ChatRandomized, ExpressionsAndStatementsMatchJinja2) {
  const std::string python = testing::find_jinja2_python();
  if (python.empty()) GTEST_SKIP() << "python3 with jinja2 not found (set PRIDE_PYTHON)";
  constexpr int kCases = 2000;
  const ordered_json variables = ordered_json::parse(kVariables);
  // PRIDE_CHAT_RANDOM_SEED explores other seeds; the default keeps the suite reproducible.
  const char* seed = std::getenv("PRIDE_CHAT_RANDOM_SEED");
  TemplateGenerator generator(seed ? static_cast<uint32_t>(std::stoul(seed)) : 20240611u);
  std::vector<std::string> sources;
  ordered_json cases = ordered_json::array();
  for (int i = 0; i < kCases; ++i) {
    sources.push_back(generator.make_template());
    cases.push_back({{"kind", "template"}, {"template", sources.back()}, {"variables", variables}});
  }
  const auto expected = testing::render_with_jinja2(python, cases);
  int identical = 0, both_failed = 0, mismatches = 0;
  for (int i = 0; i < kCases; ++i) {
    bool ok = true;
    std::string actual;
    try {
      actual = Template(sources[i], "random").render(variables);
    } catch (const pride::Error& error) {
      ok = false;
      actual = error.what();
    }
    if (ok && expected[i].ok && actual == expected[i].output) {
      ++identical;
    } else if (!ok && !expected[i].ok) {
      ++both_failed;
    } else if (++mismatches <= 25) {
      ADD_FAILURE() << "case " << i << ":\n"
                    << sources[i] << "\njinja2: "
                    << (expected[i].ok ? "rendered " + ordered_json(expected[i].output).dump()
                                       : "failed: " + expected[i].error)
                    << "\npride:  "
                    << (ok ? "rendered " + ordered_json(actual).dump() : "failed: " + actual);
    }
  }
  std::cout << "[ randomized ] " << kCases << " templates: " << identical
            << " rendered identically, " << both_failed << " failed in both, " << mismatches
            << " mismatches\n";
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(identical, kCases / 2);  // mostly meaningful cases, not mostly errors
}

}  // namespace
}  // namespace pride::chat
