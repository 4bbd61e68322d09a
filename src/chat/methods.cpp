// The attributes of Python's built-in types as the sandbox exposes them: the str, dict, list and
// tuple methods that chat templates call, the mutating methods it blocks, and an error for the
// methods Python has but this interpreter does not implement.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "chat/builtins.h"
#include "chat/operators.h"
#include "chat/python_numbers.h"

namespace pride::chat {
namespace {

using MethodFunction = Value (*)(const Value& self, const CallArgs& args);

struct Method {
  const char* name;
  MethodFunction function;
};

std::optional<std::string> optional_text(const BoundArguments& args, size_t index,
                                         const char* what) {
  if (!args.has(index) || args[index].is_none()) return std::nullopt;
  if (!args[index].is_string()) {
    throw EvalError(fmt::format("{} arg must be None or str", what));
  }
  return args[index].text();
}

std::string required_text(const BoundArguments& args, size_t index, const char* what) {
  if (!args.has(index)) throw EvalError(fmt::format("{}() missing a required argument", what));
  if (!args[index].is_string()) {
    throw EvalError(
        fmt::format("{}() argument must be str, not {}", what, args[index].type_name()));
  }
  return args[index].text();
}

Value string_list(const std::vector<std::string>& parts) {
  std::vector<Value> items(parts.begin(), parts.end());
  return Value::list(std::move(items));
}

// --- str ----------------------------------------------------------------------------------------

Value affix_test(const Value& self, const CallArgs& call, const char* name, bool prefix) {
  BoundArguments args(name, call, {"affix"});
  if (call.positional.size() != 1) {
    throw EvalError(fmt::format("{}() with start/end arguments is not supported", name));
  }
  std::vector<Value> candidates =
      args[0].kind() == Kind::Tuple ? args[0].items() : std::vector<Value>{args[0]};
  const std::string& text = self.text();
  for (const Value& candidate : candidates) {
    if (!candidate.is_string()) {
      throw EvalError(fmt::format("{} first arg must be str or a tuple of str, not {}", name,
                                  candidate.type_name()));
    }
    const std::string& affix = candidate.text();
    if (affix.size() <= text.size() &&
        text.compare(prefix ? 0 : text.size() - affix.size(), affix.size(), affix) == 0) {
      return true;
    }
  }
  return false;
}
Value str_startswith(const Value& self, const CallArgs& args) {
  return affix_test(self, args, "startswith", true);
}
Value str_endswith(const Value& self, const CallArgs& args) {
  return affix_test(self, args, "endswith", false);
}

Value split_method(const Value& self, const CallArgs& call, const char* name, bool from_right) {
  BoundArguments args(name, call, {"sep", "maxsplit"});
  const int64_t max_split = args.has(1) ? args[1].as_int() : -1;
  if (args.has(1) && !args[1].is_integer()) throw EvalError("maxsplit must be an integer");
  return string_list(
      python_split(self.text(), optional_text(args, 0, "sep"), max_split, from_right));
}
Value str_split(const Value& self, const CallArgs& args) {
  return split_method(self, args, "split", false);
}
Value str_rsplit(const Value& self, const CallArgs& args) {
  return split_method(self, args, "rsplit", true);
}

Value strip_method(const Value& self, const CallArgs& call, const char* name, bool left,
                   bool right) {
  if (!call.keywords.empty()) throw EvalError(fmt::format("{}() takes no keyword arguments", name));
  BoundArguments args(name, call, {"chars"});
  return python_strip(self.text(), optional_text(args, 0, "strip"), left, right);
}
Value str_strip(const Value& self, const CallArgs& args) {
  return strip_method(self, args, "strip", true, true);
}
Value str_lstrip(const Value& self, const CallArgs& args) {
  return strip_method(self, args, "lstrip", true, false);
}
Value str_rstrip(const Value& self, const CallArgs& args) {
  return strip_method(self, args, "rstrip", false, true);
}

Value str_replace(const Value& self, const CallArgs& call) {
  BoundArguments args("replace", call, {"old", "new", "count"});
  const int64_t count = args.has(2) ? args[2].as_int() : -1;
  return python_replace(self.text(), required_text(args, 0, "replace"),
                        required_text(args, 1, "replace"), count);
}

template <std::string (*Convert)(std::string_view)>
Value case_method(const Value& self, const CallArgs& call) {
  BoundArguments("case conversion", call, {});
  return Convert(self.text());
}

Value str_find(const Value& self, const CallArgs& call, bool from_right) {
  BoundArguments args(from_right ? "rfind" : "find", call, {"sub"});
  const std::string sub = required_text(args, 0, "find");
  const size_t found = from_right ? self.text().rfind(sub) : self.text().find(sub);
  if (found == std::string::npos) return -1;
  return static_cast<int64_t>(code_point_count(std::string_view(self.text()).substr(0, found)));
}
Value str_find_left(const Value& self, const CallArgs& args) {
  return str_find(self, args, false);
}
Value str_find_right(const Value& self, const CallArgs& args) {
  return str_find(self, args, true);
}

Value str_count(const Value& self, const CallArgs& call) {
  BoundArguments args("count", call, {"sub"});
  const std::string sub = required_text(args, 0, "count");
  if (sub.empty()) return static_cast<int64_t>(code_point_count(self.text()) + 1);
  int64_t count = 0;
  for (size_t at = self.text().find(sub); at != std::string::npos;
       at = self.text().find(sub, at + sub.size())) {
    ++count;
  }
  return count;
}

Value str_join(const Value& self, const CallArgs& call) {
  BoundArguments args("join", call, {"iterable"});
  std::string out;
  size_t index = 0;
  for (const Value& item : iterate(args[0])) {
    if (!item.is_string()) {
      throw EvalError(fmt::format("sequence item {}: expected str instance, {} found", index,
                                  item.type_name()));
    }
    if (index++ > 0) out += self.text();
    out += item.text();
  }
  return out;
}

Value str_splitlines(const Value& self, const CallArgs& call) {
  BoundArguments args("splitlines", call, {"keepends"});
  if (args.get(0, false).truthy()) throw EvalError("splitlines(keepends=True) is not supported");
  return string_list(python_splitlines(self.text()));
}

template <bool (*Predicate)(char32_t)>
Value all_characters(const Value& self, const CallArgs& call) {
  BoundArguments("is...", call, {});
  const std::u32string text = decode_utf8(self.text());
  return !text.empty() && std::all_of(text.begin(), text.end(), Predicate);
}
bool ascii_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool ascii_alpha(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool ascii_alnum(char32_t c) {
  return ascii_digit(c) || ascii_alpha(c);
}

template <bool Lower>
Value cased_test(const Value& self, const CallArgs& call) {
  BoundArguments("islower/isupper", call, {});
  return Lower ? python_is_lower(self.text()) : python_is_upper(self.text());
}

Value affix_removal(const Value& self, const CallArgs& call, bool prefix) {
  BoundArguments args(prefix ? "removeprefix" : "removesuffix", call, {"affix"});
  const std::string affix = required_text(args, 0, "removeprefix");
  const std::string& text = self.text();
  if (affix.size() > text.size()) return self;
  if (prefix && text.compare(0, affix.size(), affix) == 0) return text.substr(affix.size());
  if (!prefix && text.compare(text.size() - affix.size(), affix.size(), affix) == 0) {
    return text.substr(0, text.size() - affix.size());
  }
  return Value(text);
}
Value str_removeprefix(const Value& self, const CallArgs& args) {
  return affix_removal(self, args, true);
}
Value str_removesuffix(const Value& self, const CallArgs& args) {
  return affix_removal(self, args, false);
}

// Characters outside ASCII make isdigit/isalpha/isalnum depend on Unicode tables.
template <MethodFunction Ascii>
Value ascii_only(const Value& self, const CallArgs& args) {
  for (unsigned char c : self.text()) {
    if (c >= 0x80)
      throw EvalError("str.isdigit/isalpha/isalnum of non-ASCII text is not supported");
  }
  return Ascii(self, args);
}

const Method kStringMethods[] = {
    {"startswith", str_startswith},
    {"endswith", str_endswith},
    {"split", str_split},
    {"rsplit", str_rsplit},
    {"strip", str_strip},
    {"lstrip", str_lstrip},
    {"rstrip", str_rstrip},
    {"replace", str_replace},
    {"upper", case_method<python_upper>},
    {"lower", case_method<python_lower>},
    {"title", case_method<python_str_title>},
    {"capitalize", case_method<python_capitalize>},
    {"find", str_find_left},
    {"rfind", str_find_right},
    {"count", str_count},
    {"join", str_join},
    {"splitlines", str_splitlines},
    {"isdigit", ascii_only<all_characters<ascii_digit>>},
    {"isalpha", ascii_only<all_characters<ascii_alpha>>},
    {"isalnum", ascii_only<all_characters<ascii_alnum>>},
    {"isspace", all_characters<is_python_space>},
    {"islower", cased_test<true>},
    {"isupper", cased_test<false>},
    {"removeprefix", str_removeprefix},
    {"removesuffix", str_removesuffix},
};

// --- dict, list, tuple --------------------------------------------------------------------------

Value dict_view(const Value& self, const CallArgs& call, ListView view) {
  BoundArguments("items/keys/values", call, {});
  std::vector<Value> items;
  for (const auto& [key, value] : self.dict().entries()) {
    items.push_back(view == ListView::DictItems  ? Value::tuple({key, value})
                    : view == ListView::DictKeys ? key
                                                 : value);
  }
  return Value::list(std::move(items), view);
}
Value dict_items(const Value& self, const CallArgs& args) {
  return dict_view(self, args, ListView::DictItems);
}
Value dict_keys(const Value& self, const CallArgs& args) {
  return dict_view(self, args, ListView::DictKeys);
}
Value dict_values(const Value& self, const CallArgs& args) {
  return dict_view(self, args, ListView::DictValues);
}

Value dict_get(const Value& self, const CallArgs& call) {
  if (!call.keywords.empty()) throw EvalError("get() takes no keyword arguments");
  BoundArguments args("get", call, {"key", "default"});
  if (!args.has(0)) throw EvalError("get expected at least 1 argument, got 0");
  const Value* found = self.dict().find(args[0]);
  return found ? *found : args.get(1, Value::none());
}

const Method kDictMethods[] = {
    {"items", dict_items}, {"keys", dict_keys}, {"values", dict_values}, {"get", dict_get}};

Value sequence_count(const Value& self, const CallArgs& call) {
  BoundArguments args("count", call, {"value"});
  return static_cast<int64_t>(
      std::count_if(self.items().begin(), self.items().end(),
                    [&](const Value& v) { return python_equal(v, args[0]); }));
}

Value sequence_index(const Value& self, const CallArgs& call) {
  BoundArguments args("index", call, {"value"});
  for (size_t i = 0; i < self.items().size(); ++i) {
    if (python_equal(self.items()[i], args[0])) return static_cast<int64_t>(i);
  }
  throw EvalError(fmt::format("{} is not in {}", args[0].repr(), self.type_name()));
}

const Method kSequenceMethods[] = {{"count", sequence_count}, {"index", sequence_index}};

// Python's other public attributes of these types: present, so not Undefined, but not provided.
const std::set<std::string> kUnsupported[] = {
    // str
    {"casefold",   "center",   "encode",    "expandtabs",   "format",    "format_map",
     "index",      "isascii",  "isdecimal", "isidentifier", "isnumeric", "isprintable",
     "istitle",    "ljust",    "maketrans", "partition",    "rindex",    "rjust",
     "rpartition", "swapcase", "translate", "zfill"},
    // dict
    {"copy", "fromkeys"},
    // list and tuple
    {"copy"},
    // numbers
    {"as_integer_ratio", "bit_count", "bit_length", "conjugate", "denominator", "from_bytes",
     "imag", "numerator", "real", "to_bytes", "fromhex", "hex", "is_integer"},
};

// The sandbox blocks the methods that modify lists and dicts (ImmutableSandboxedEnvironment).
const std::set<std::string> kUnsafeListMethods = {"append", "clear",  "extend",  "insert",
                                                  "pop",    "remove", "reverse", "sort"};
const std::set<std::string> kUnsafeDictMethods = {"clear", "pop", "popitem", "setdefault",
                                                  "update"};

template <size_t N>
const Method* find_method(const Method (&methods)[N], const std::string& name) {
  for (const Method& method : methods) {
    if (name == method.name) return &method;
  }
  return nullptr;
}

// Markup (from |e or |safe) wraps these str methods: string arguments are escaped and string
// results (or lists of them) are Markup again.
const std::set<std::string> kMarkupMethods = {
    "capitalize", "title", "lower",  "upper",      "replace", "lstrip",       "rstrip",
    "strip",      "split", "rsplit", "splitlines", "join",    "removeprefix", "removesuffix"};

Value escape_argument(const Value& argument) {
  return argument.is_string() && !argument.is_markup() ? Value::markup(html_escape(argument.text()))
                                                       : argument;
}

Value as_markup(const Value& result) {
  if (result.is_string()) return Value::markup(result.text());
  if (result.kind() != Kind::List) return result;
  std::vector<Value> items;
  for (const Value& item : result.items()) items.push_back(as_markup(item));
  return Value::list(std::move(items));
}

Value call_markup_method(MethodFunction function, const Value& self, CallArgs args) {
  for (Value& argument : args.positional) {
    if (argument.is_sequence()) {
      std::vector<Value> items;
      for (const Value& item : argument.items()) items.push_back(escape_argument(item));
      argument = argument.kind() == Kind::Tuple ? Value::tuple(items) : Value::list(items);
    } else {
      argument = escape_argument(argument);
    }
  }
  for (auto& keyword : args.keywords) keyword.second = escape_argument(keyword.second);
  return as_markup(function(self, args));
}

std::unique_ptr<Value> bind(const Value& self, const Method& method) {
  const MethodFunction function = method.function;
  const bool markup = self.is_markup() && kMarkupMethods.count(method.name) > 0;
  return std::make_unique<Value>(Value::object(std::make_shared<BuiltinFunction>(
      method.name, [self, function, markup](Evaluator&, CallArgs args) {
        return markup ? call_markup_method(function, self, std::move(args)) : function(self, args);
      })));
}

std::unique_ptr<Value> unsafe(const Value& self, const std::string& name) {
  return std::make_unique<Value>(Value::undefined(
      fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, self.type_name())));
}

[[noreturn]] void fail_unsupported(const Value& self, const std::string& name) {
  throw EvalError(fmt::format("the method {}.{} is not supported by the chat-template interpreter",
                              self.type_name(), name));
}

}  // namespace

std::unique_ptr<Value> builtin_attribute(const Value& object, const std::string& name) {
  if (name.rfind("__", 0) == 0) return unsafe(object, name);
  const Method* method = nullptr;
  const std::set<std::string>* unsupported = nullptr;
  switch (object.kind()) {
    case Kind::String:
      method = find_method(kStringMethods, name);
      unsupported = &kUnsupported[0];
      break;
    case Kind::Dict:
      if (kUnsafeDictMethods.count(name)) return unsafe(object, name);
      method = find_method(kDictMethods, name);
      unsupported = &kUnsupported[1];
      break;
    case Kind::List:
      if (object.sequence().view != ListView::Plain) {
        if (name == "count" || name == "index" || name == "start" || name == "stop" ||
            name == "step" || name == "mapping" || name == "isdisjoint") {
          fail_unsupported(object, name);
        }
        return nullptr;
      }
      if (kUnsafeListMethods.count(name)) return unsafe(object, name);
      [[fallthrough]];
    case Kind::Tuple:
      method = find_method(kSequenceMethods, name);
      unsupported = &kUnsupported[2];
      break;
    case Kind::Int:
    case Kind::Bool:
    case Kind::Float:
      unsupported = &kUnsupported[3];
      break;
    default:
      return nullptr;
  }
  if (method != nullptr) return bind(object, *method);
  if (unsupported != nullptr && unsupported->count(name)) fail_unsupported(object, name);
  return nullptr;
}

}  // namespace pride::chat
