// Jinja2's filters as HF's environment has them (tojson replaced by HF's json.dumps version).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/builtins.h"
#include "chat/operators.h"
#include "chat/python_numbers.h"

namespace pride::chat {
namespace {

const Value kNone = Value::none();

std::string text_argument(const Value& value, const char* what) {
  if (!value.is_string()) {
    throw EvalError(fmt::format("{} must be a string, not '{}'", what, value.type_name()));
  }
  return value.text();
}

int64_t int_argument(const Value& value, const char* what) {
  if (!value.is_integer()) {
    throw EvalError(fmt::format("{} must be an integer, not '{}'", what, value.type_name()));
  }
  return value.as_int();
}

// make_attrgetter: "a.b.0" looks up each part with getitem (digits as integer indexes).
Value get_attribute_path(Evaluator& evaluator, const Value& item, const Value& attribute) {
  if (attribute.is_none()) return item;
  if (!attribute.is_string()) return evaluator.get_item(item, attribute);
  Value current = item;
  for (const std::string& part : python_split(attribute.text(), std::string("."), -1, false)) {
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    current = evaluator.get_item(
        current, digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
  }
  return current;
}

// The sort key of sort/unique/min/max/dictsort: strings lower-cased unless case-sensitive.
Value sort_key(const Value& value, bool case_sensitive) {
  if (case_sensitive || !value.is_string()) return value;
  return Value(python_lower(value.text()));
}

void stable_sort(std::vector<Value>& items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? compare("<", keys[b], keys[a]) : compare("<", keys[a], keys[b]);
  });
  std::vector<Value> sorted;
  for (size_t i : order) sorted.push_back(items[i]);
  items = std::move(sorted);
}

// Markup's str methods return Markup: filters that call them keep the operand's kind.
Value like(const Value& source, std::string text) {
  return source.is_markup() ? Value::markup(std::move(text)) : Value(std::move(text));
}

// --- the filters --------------------------------------------------------------------------------

Value filter_abs(BuiltinCall& call) {
  BoundArguments("abs", call.args, {});
  const Value& x = call.operand;
  if (x.kind() == Kind::Float) return std::fabs(x.as_double());
  if (x.is_integer()) return x.as_int() < 0 ? unary_arithmetic("-", x) : Value(x.as_int());
  throw EvalError(fmt::format("bad operand type for abs(): '{}'", x.type_name()));
}

Value filter_attr(BuiltinCall& call) {
  BoundArguments args("attr", call.args, {"name"});
  const std::string name = text_argument(args[0], "attr name");
  if (call.operand.is_undefined()) fail_undefined(call.operand);
  if (call.operand.kind() == Kind::Object) {
    auto found = call.operand.object()->attribute(name);
    if (found) return *found;
  } else if (auto method = builtin_attribute(call.operand, name)) {
    return *method;
  }
  return Value::undefined(
      fmt::format("'{} object' has no attribute '{}'", call.operand.type_name(), name));
}

// batch(value, linecount, fill_with=None): lists of `linecount` items, the last one padded.
Value filter_batch(BuiltinCall& call) {
  BoundArguments args("batch", call.args, {"linecount", "fill_with"});
  const int64_t size = int_argument(args.get(0, Value()), "linecount");
  if (size <= 0) throw EvalError("batch size must be positive");
  std::vector<Value> batches, batch;
  for (const Value& item : iterate(call.operand)) {
    batch.push_back(item);
    if (static_cast<int64_t>(batch.size()) == size) {
      batches.push_back(Value::list(batch));
      batch.clear();
    }
  }
  if (!batch.empty()) {
    while (args.has(1) && static_cast<int64_t>(batch.size()) < size) batch.push_back(args[1]);
    batches.push_back(Value::list(std::move(batch)));
  }
  return Value::list(std::move(batches));
}

Value filter_capitalize(BuiltinCall& call) {
  BoundArguments("capitalize", call.args, {});
  return like(call.operand, python_capitalize(soft_str(call.operand)));
}

Value filter_length(BuiltinCall& call) {
  BoundArguments("length", call.args, {});
  const Value& x = call.operand;
  switch (x.kind()) {
    case Kind::Undefined:
      return 0;
    case Kind::String:
      return static_cast<int64_t>(code_point_count(x.text()));
    case Kind::List:
    case Kind::Tuple:
      return static_cast<int64_t>(x.items().size());
    case Kind::Dict:
      return static_cast<int64_t>(x.dict().size());
    default:
      throw EvalError(fmt::format("object of type '{}' has no len()", x.type_name()));
  }
}

Value filter_default(BuiltinCall& call) {
  BoundArguments args("default", call.args, {"default_value", "boolean"});
  const bool boolean = args.get(1, false).truthy();
  if (call.operand.is_undefined() || (boolean && !call.operand.truthy())) {
    return args.get(0, Value(""));
  }
  return call.operand;
}

Value filter_dictsort(BuiltinCall& call) {
  BoundArguments args("dictsort", call.args, {"case_sensitive", "by", "reverse"});
  if (call.operand.kind() != Kind::Dict) throw EvalError("dictsort requires a mapping");
  const std::string by = args.has(1) ? text_argument(args[1], "by") : "key";
  if (by != "key" && by != "value") throw EvalError("You can only sort by either 'key' or 'value'");
  std::vector<Value> items, keys;
  for (const auto& [key, value] : call.operand.dict().entries()) {
    items.push_back(Value::tuple({key, value}));
    keys.push_back(sort_key(by == "key" ? key : value, args.get(0, false).truthy()));
  }
  stable_sort(items, keys, args.get(2, false).truthy());
  return Value::list(std::move(items));
}

Value filter_escape(BuiltinCall& call) {
  BoundArguments("escape", call.args, {});
  if (call.operand.is_markup()) return call.operand;
  return Value::markup(html_escape(call.operand.str()));
}

Value filter_first(BuiltinCall& call) {
  BoundArguments("first", call.args, {});
  const std::vector<Value> items = iterate(call.operand);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value filter_last(BuiltinCall& call) {
  BoundArguments("last", call.args, {});
  const std::vector<Value> items = iterate(call.operand);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value filter_float(BuiltinCall& call) {
  BoundArguments args("float", call.args, {"default"});
  const auto converted = python_float(call.operand);
  return converted ? Value(*converted) : args.get(0, 0.0);
}

Value filter_int(BuiltinCall& call) {
  BoundArguments args("int", call.args, {"default", "base"});
  const int64_t base = args.has(1) ? int_argument(args[1], "base") : 10;
  if (call.operand.is_undefined()) fail_undefined(call.operand);
  if (auto converted = python_int(call.operand, base)) return *converted;
  if (auto as_float = python_float(call.operand)) {
    if (auto truncated = python_int(Value(*as_float), 10)) return *truncated;
  }
  return args.get(0, 0);
}

Value filter_indent(BuiltinCall& call) {
  BoundArguments args("indent", call.args, {"width", "first", "blank"});
  const Value width = args.get(0, 4);
  const std::string indention =
      width.is_string() ? width.text()
                        : std::string(std::max<int64_t>(0, int_argument(width, "width")), ' ');
  // Jinja2 appends "\n" to the operand first: anything but a string fails there.
  if (call.operand.is_undefined()) fail_undefined(call.operand);
  if (!call.operand.is_string()) {
    throw EvalError(fmt::format("unsupported operand type(s) for +=: '{}' and 'str'",
                                call.operand.type_name()));
  }
  const std::vector<std::string> lines = python_splitlines(call.operand.text() + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "\n";
    const bool indent_line = i > 0 && (args.get(2, false).truthy() || !lines[i].empty());
    out += (indent_line ? indention : "") + lines[i];
  }
  if (args.get(1, false).truthy()) out = indention + out;
  return call.operand.is_markup() ? Value::markup(out) : Value(out);
}

Value filter_items(BuiltinCall& call) {
  BoundArguments("items", call.args, {});
  if (call.operand.is_undefined()) return Value::list({});
  if (call.operand.kind() != Kind::Dict) throw EvalError("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [key, value] : call.operand.dict().entries()) {
    pairs.push_back(Value::tuple({key, value}));
  }
  return Value::list(std::move(pairs));
}

Value filter_join(BuiltinCall& call) {
  BoundArguments args("join", call.args, {"d", "attribute"});
  const std::string separator = args.has(0) ? args[0].str() : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(call.operand)) {
    if (!first) out += separator;
    first = false;
    out += args.has(1) ? get_attribute_path(call.evaluator, item, args[1]).str() : item.str();
  }
  return out;
}

Value filter_list(BuiltinCall& call) {
  BoundArguments("list", call.args, {});
  return Value::list(iterate(call.operand));
}

Value filter_lower(BuiltinCall& call) {
  BoundArguments("lower", call.args, {});
  return like(call.operand, python_lower(soft_str(call.operand)));
}

Value filter_upper(BuiltinCall& call) {
  BoundArguments("upper", call.args, {});
  return like(call.operand, python_upper(soft_str(call.operand)));
}

Value call_filter_by_name(Evaluator& evaluator, const std::string& name, const Value& operand,
                          CallArgs args) {
  const Builtin* filter = find_filter(name);
  if (filter == nullptr) throw EvalError(fmt::format("No filter named '{}' (not supported)", name));
  BuiltinCall call{evaluator, operand, std::move(args)};
  return filter->function(call);
}

Value filter_map(BuiltinCall& call) {
  std::vector<Value> out;
  if (call.args.positional.empty()) {
    BoundArguments args("map", call.args, {"attribute", "default"});
    if (!args.has(0)) throw EvalError("map requires a filter argument");
    for (const Value& item : iterate(call.operand)) {
      Value value = get_attribute_path(call.evaluator, item, args[0]);
      out.push_back(value.is_undefined() && args.has(1) ? args[1] : value);
    }
    return Value::list(std::move(out));
  }
  const std::string name = text_argument(call.args.positional[0], "map filter name");
  CallArgs rest = call.args;
  rest.positional.erase(rest.positional.begin());
  for (const Value& item : iterate(call.operand)) {
    out.push_back(call_filter_by_name(call.evaluator, name, item, rest));
  }
  return Value::list(std::move(out));
}

Value min_or_max(BuiltinCall& call, const char* name, bool want_max) {
  BoundArguments args(name, call.args, {"case_sensitive", "attribute"});
  const std::vector<Value> items = iterate(call.operand);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& item) {
    return sort_key(get_attribute_path(call.evaluator, item, args.get(1, kNone)),
                    args.get(0, false).truthy());
  };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    if (compare(want_max ? ">" : "<", key(items[i]), key(items[best]))) best = i;
  }
  return items[best];
}
Value filter_max(BuiltinCall& call) {
  return min_or_max(call, "max", true);
}
Value filter_min(BuiltinCall& call) {
  return min_or_max(call, "min", false);
}

// select/reject(seq, test, args...) and selectattr/rejectattr(seq, attr, test, args...).
Value select_items(BuiltinCall& call, bool by_attribute, bool keep_when) {
  std::vector<Value> positional = call.args.positional;
  if (!call.args.keywords.empty()) throw EvalError("select filters take no keyword arguments");
  Value attribute = kNone;
  if (by_attribute) {
    if (positional.empty()) throw EvalError("Missing parameter for attribute name");
    attribute = positional.front();
    positional.erase(positional.begin());
  }
  const Builtin* test = nullptr;
  if (!positional.empty()) {
    const std::string name = text_argument(positional.front(), "test name");
    test = find_test(name);
    if (test == nullptr) throw EvalError(fmt::format("No test named '{}' (not supported)", name));
    positional.erase(positional.begin());
  }
  std::vector<Value> out;
  for (const Value& item : iterate(call.operand)) {
    const Value subject = get_attribute_path(call.evaluator, item, attribute);
    bool passes = subject.truthy();
    if (test != nullptr) {
      BuiltinCall test_call{call.evaluator, subject, CallArgs{positional, {}}};
      passes = test->function(test_call).truthy();
    }
    if (passes == keep_when) out.push_back(item);
  }
  return Value::list(std::move(out));
}
Value filter_select(BuiltinCall& call) {
  return select_items(call, false, true);
}
Value filter_reject(BuiltinCall& call) {
  return select_items(call, false, false);
}
Value filter_selectattr(BuiltinCall& call) {
  return select_items(call, true, true);
}
Value filter_rejectattr(BuiltinCall& call) {
  return select_items(call, true, false);
}

Value filter_replace(BuiltinCall& call) {
  BoundArguments args("replace", call.args, {"old", "new", "count"});
  if (!args.has(0) || !args.has(1)) throw EvalError("replace() missing required arguments");
  const int64_t count = args.has(2) && !args[2].is_none() ? int_argument(args[2], "count") : -1;
  return python_replace(call.operand.str(), args[0].str(), args[1].str(), count);
}

Value filter_reverse(BuiltinCall& call) {
  BoundArguments("reverse", call.args, {});
  if (call.operand.is_string()) {
    const std::u32string text = decode_utf8(call.operand.text());
    return encode_utf8(std::u32string(text.rbegin(), text.rend()));
  }
  std::vector<Value> items = iterate(call.operand);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value filter_round(BuiltinCall& call) {
  BoundArguments args("round", call.args, {"precision", "method"});
  const int64_t precision = int_argument(args.get(0, 0), "precision");
  const std::string method = args.has(1) ? text_argument(args[1], "method") : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    throw EvalError("method must be common, ceil or floor");
  }
  if (method == "common") return python_round(call.operand, precision);
  const Value scale = binary_arithmetic("**", Value(10), Value(precision));
  const double scaled = binary_arithmetic("*", call.operand, scale).as_double();
  const double rounded = method == "ceil" ? std::ceil(scaled) : std::floor(scaled);
  const auto integer = python_int(Value(rounded), 10);
  if (!integer) throw EvalError("cannot convert float infinity or NaN to integer");
  return binary_arithmetic("/", *integer, scale);
}

Value filter_safe(BuiltinCall& call) {
  BoundArguments("safe", call.args, {});
  return Value::markup(call.operand.str());
}

Value filter_sort(BuiltinCall& call) {
  BoundArguments args("sort", call.args, {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> items = iterate(call.operand);
  std::vector<Value> keys;
  for (const Value& item : items) {
    keys.push_back(sort_key(get_attribute_path(call.evaluator, item, args.get(2, kNone)),
                            args.get(1, false).truthy()));
  }
  stable_sort(items, keys, args.get(0, false).truthy());
  return Value::list(std::move(items));
}

Value filter_string(BuiltinCall& call) {
  BoundArguments("string", call.args, {});
  return call.operand.is_markup() ? call.operand : Value(call.operand.str());
}

Value filter_sum(BuiltinCall& call) {
  BoundArguments args("sum", call.args, {"attribute", "start"});
  Value total = args.get(1, 0);
  if (total.is_string()) throw EvalError("sum() can't sum strings [use ''.join(seq) instead]");
  for (const Value& item : iterate(call.operand)) {
    total =
        binary_arithmetic("+", total, get_attribute_path(call.evaluator, item, args.get(0, kNone)));
  }
  return total;
}

// Jinja2's title filter: upper-cases the first character of each word, where words begin after
// runs of "-", whitespace, "(", "{", "[" or "<" (not Python's str.title).
Value filter_title(BuiltinCall& call) {
  BoundArguments("title", call.args, {});
  std::u32string out;
  bool word_start = true;
  for (char32_t c : decode_utf8(soft_str(call.operand))) {
    const bool separator =
        c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_python_space(c);
    std::string one;
    append_utf8(one, c);
    out += decode_utf8(separator ? one : word_start ? python_upper(one) : python_lower(one));
    word_start = separator;
  }
  return encode_utf8(out);
}

Value filter_trim(BuiltinCall& call) {
  BoundArguments args("trim", call.args, {"chars"});
  std::optional<std::string> chars;
  if (args.has(0) && !args[0].is_none()) chars = text_argument(args[0], "trim chars");
  return like(call.operand, python_strip(soft_str(call.operand), chars, true, true));
}

Value filter_unique(BuiltinCall& call) {
  BoundArguments args("unique", call.args, {"case_sensitive", "attribute"});
  std::vector<Value> out, seen;
  for (const Value& item : iterate(call.operand)) {
    const Value key = sort_key(get_attribute_path(call.evaluator, item, args.get(1, kNone)),
                               args.get(0, false).truthy());
    Dict probe;
    probe.set(key, Value());  // Python puts the keys in a set: they must be hashable
    if (std::any_of(seen.begin(), seen.end(),
                    [&](const Value& other) { return python_equal(other, key); })) {
      continue;
    }
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::list(std::move(out));
}

// HF's tojson: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
// sort_keys=sort_keys).
Value filter_tojson(BuiltinCall& call) {
  BoundArguments args("tojson", call.args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  return to_json(call.operand, args.get(1, kNone), args.get(2, kNone), args.get(3, false).truthy(),
                 args.get(0, false).truthy());
}

const Builtin kFilters[] = {
    {"abs", filter_abs},
    {"attr", filter_attr},
    {"batch", filter_batch},
    {"capitalize", filter_capitalize},
    {"count", filter_length},
    {"d", filter_default},
    {"default", filter_default},
    {"dictsort", filter_dictsort},
    {"e", filter_escape},
    {"escape", filter_escape},
    {"first", filter_first},
    {"float", filter_float},
    {"indent", filter_indent},
    {"int", filter_int},
    {"items", filter_items},
    {"join", filter_join},
    {"last", filter_last},
    {"length", filter_length},
    {"list", filter_list},
    {"lower", filter_lower},
    {"map", filter_map},
    {"max", filter_max},
    {"min", filter_min},
    {"reject", filter_reject},
    {"rejectattr", filter_rejectattr},
    {"replace", filter_replace},
    {"reverse", filter_reverse},
    {"round", filter_round},
    {"safe", filter_safe},
    {"select", filter_select},
    {"selectattr", filter_selectattr},
    {"sort", filter_sort},
    {"string", filter_string},
    {"sum", filter_sum},
    {"title", filter_title},
    {"tojson", filter_tojson},
    {"trim", filter_trim},
    {"unique", filter_unique},
    {"upper", filter_upper},
};

// json.dumps's encoder: separators, indentation and the key conversions of Python's json module.
class JsonWriter {
 public:
  JsonWriter(const Value& indent, const Value& separators, bool sort_keys, bool ensure_ascii)
      : sort_keys_(sort_keys), ensure_ascii_(ensure_ascii) {
    if (!indent.is_none()) {
      indent_ = indent.is_string()
                    ? indent.text()
                    : std::string(std::max<int64_t>(0, int_argument(indent, "indent")), ' ');
      item_separator_ = ",";
    }
    if (!separators.is_none()) {
      const std::vector<Value> parts = iterate(separators);
      if (parts.size() != 2) throw EvalError("separators must be an (item, key) pair");
      item_separator_ = text_argument(parts[0], "separator");
      key_separator_ = text_argument(parts[1], "separator");
    }
    indented_ = !indent.is_none();
  }

  void write(const Value& value, size_t level, std::string& out) const {
    switch (value.kind()) {
      case Kind::None:
        out += "null";
        return;
      case Kind::Bool:
        out += value.as_bool() ? "true" : "false";
        return;
      case Kind::Int:
        out += std::to_string(value.as_int());
        return;
      case Kind::Float:
        out += float_text(value.as_double());
        return;
      case Kind::String:
        out += json_string_literal(value.text(), ensure_ascii_);
        return;
      case Kind::Dict:
        return write_dict(value.dict(), level, out);
      case Kind::List:
      case Kind::Tuple:
        if (value.kind() == Kind::Tuple || value.sequence().view == ListView::Plain) {
          return write_list(value.items(), level, out);
        }
        break;
      default:
        break;
    }
    throw EvalError(fmt::format("Object of type {} is not JSON serializable", value.type_name()));
  }

 private:
  static std::string float_text(double x) {
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
    return python_float_repr(x);
  }

  std::string key_text(const Value& key) const {
    switch (key.kind()) {
      case Kind::String:
        return key.text();
      case Kind::None:
        return "null";
      case Kind::Bool:
        return key.as_bool() ? "true" : "false";
      case Kind::Int:
        return std::to_string(key.as_int());
      case Kind::Float:
        return float_text(key.as_double());
      default:
        throw EvalError(
            fmt::format("keys must be str, int, float, bool or None, not {}", key.type_name()));
    }
  }

  void open(char bracket, size_t level, std::string& out) const {
    out.push_back(bracket);
    if (indented_) out += "\n" + repeat_indent(level + 1);
  }
  void separate(size_t level, std::string& out) const {
    out += item_separator_;
    if (indented_) out += "\n" + repeat_indent(level + 1);
  }
  void close(char bracket, size_t level, std::string& out) const {
    if (indented_) out += "\n" + repeat_indent(level);
    out.push_back(bracket);
  }
  std::string repeat_indent(size_t level) const {
    std::string out;
    for (size_t i = 0; i < level; ++i) out += indent_;
    return out;
  }

  void write_list(const std::vector<Value>& items, size_t level, std::string& out) const {
    if (items.empty()) {
      out += "[]";
      return;
    }
    open('[', level, out);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) separate(level, out);
      write(items[i], level + 1, out);
    }
    close(']', level, out);
  }

  void write_dict(const Dict& dict, size_t level, std::string& out) const {
    if (dict.size() == 0) {
      out += "{}";
      return;
    }
    std::vector<std::pair<Value, Value>> entries = dict.entries();
    if (sort_keys_) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return compare("<", a.first, b.first); });
    }
    open('{', level, out);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) separate(level, out);
      out += json_string_literal(key_text(entries[i].first), ensure_ascii_) + key_separator_;
      write(entries[i].second, level + 1, out);
    }
    close('}', level, out);
  }

  bool sort_keys_, ensure_ascii_;
  bool indented_ = false;
  std::string indent_;
  std::string item_separator_ = ", ", key_separator_ = ": ";
};

}  // namespace

std::string to_json(const Value& value, const Value& indent, const Value& separators,
                    bool sort_keys, bool ensure_ascii) {
  std::string out;
  JsonWriter(indent, separators, sort_keys, ensure_ascii).write(value, 0, out);
  return out;
}

const Builtin* find_filter(const std::string& name) {
  for (const Builtin& filter : kFilters) {
    if (name == filter.name) return &filter;
  }
  return nullptr;
}

bool jinja_has_filter(const std::string& name) {
  static const char* const kJinjaOnly[] = {"center",    "filesizeformat", "forceescape", "format",
                                           "groupby",   "pprint",         "random",      "slice",
                                           "striptags", "truncate",       "urlencode",   "urlize",
                                           "wordcount", "wordwrap",       "xmlattr"};
  return find_filter(name) != nullptr ||
         std::find(std::begin(kJinjaOnly), std::end(kJinjaOnly), name) != std::end(kJinjaOnly);
}

}  // namespace pride::chat
