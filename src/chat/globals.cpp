// The global functions of HF's environment (range, dict, namespace, raise_exception,
// strftime_now), and the argument binding shared by all built-ins.
#include <fmt/format.h>

#include <ctime>

#include "chat/builtins.h"

namespace pride::chat {

BoundArguments::BoundArguments(const std::string& function, const CallArgs& args,
                               std::initializer_list<const char*> parameters)
    : values_(parameters.size()), given_(parameters.size(), false) {
  if (args.positional.size() > parameters.size()) {
    throw EvalError(fmt::format("{}() takes at most {} argument(s) ({} given)", function,
                                parameters.size(), args.positional.size()));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    values_[i] = args.positional[i];
    given_[i] = true;
  }
  for (const auto& [name, value] : args.keywords) {
    size_t i = 0;
    for (const char* parameter : parameters) {
      if (name == parameter) break;
      ++i;
    }
    if (i == parameters.size()) {
      throw EvalError(fmt::format("{}() got an unexpected keyword argument '{}'", function, name));
    }
    if (given_[i]) {
      throw EvalError(fmt::format("{}() got multiple values for argument '{}'", function, name));
    }
    values_[i] = value;
    given_[i] = true;
  }
}

std::string soft_str(const Value& value) {
  return value.str();
}

namespace {

int64_t range_argument(const Value& value) {
  if (!value.is_integer()) {
    throw EvalError(
        fmt::format("'{}' object cannot be interpreted as an integer", value.type_name()));
  }
  return value.as_int();
}

// The sandbox's safe_range: Python's range, limited to 100000 items.
Value global_range(Evaluator&, CallArgs args) {
  if (!args.keywords.empty()) throw EvalError("range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) {
    throw EvalError(fmt::format("range expected 1 to 3 arguments, got {}", p.size()));
  }
  const int64_t start = p.size() == 1 ? 0 : range_argument(p[0]);
  const int64_t stop = range_argument(p.size() == 1 ? p[0] : p[1]);
  const int64_t step = p.size() == 3 ? range_argument(p[2]) : 1;
  if (step == 0) throw EvalError("range() arg 3 must not be zero");
  const __int128 span =
      step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 step_size = step > 0 ? step : -static_cast<__int128>(step);
  const __int128 count = span <= 0 ? 0 : (span + step_size - 1) / step_size;
  if (count > 100000) {
    throw EvalError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  return Value::range(start, stop, step);
}

// dict(mapping or pairs, **kwargs) and namespace(...) take the same arguments.
Dict dict_from_arguments(const char* function, const CallArgs& args) {
  if (args.positional.size() > 1) {
    throw EvalError(
        fmt::format("{} expected at most 1 argument, got {}", function, args.positional.size()));
  }
  Dict dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.kind() == Kind::Dict) {
      dict = source.dict();
    } else {
      for (const Value& pair : iterate(source)) {
        const std::vector<Value> parts = iterate(pair);
        if (parts.size() != 2)
          throw EvalError("dictionary update sequence element has wrong length");
        dict.set(parts[0], parts[1]);
      }
    }
  }
  for (const auto& [name, value] : args.keywords) dict.set(Value(name), value);
  return dict;
}

Value global_dict(Evaluator&, CallArgs args) {
  return Value::dict(dict_from_arguments("dict", args));
}

Value global_namespace(Evaluator&, CallArgs args) {
  return Value::object(std::make_shared<Namespace>(dict_from_arguments("namespace", args)));
}

// HF: raise jinja2.exceptions.TemplateError(message).
Value global_raise_exception(Evaluator&, CallArgs args) {
  BoundArguments bound("raise_exception", args, {"message"});
  throw EvalError("raise_exception: " + bound.get(0, Value("")).str());
}

// HF: datetime.now().strftime(format).
Value global_strftime_now(Evaluator&, CallArgs args) {
  BoundArguments bound("strftime_now", args, {"format"});
  if (!bound.has(0) || !bound[0].is_string()) throw EvalError("strftime_now needs a format string");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[512];
  const size_t length = std::strftime(buffer, sizeof buffer, bound[0].text().c_str(), &local);
  if (length == 0 && !bound[0].text().empty()) throw EvalError("strftime_now: format too long");
  return std::string(buffer, length);
}

Value unsupported_global(const char* name) {
  const std::string message = fmt::format("the global '{}' is not supported", name);
  return Value::object(std::make_shared<BuiltinFunction>(
      name, [message](Evaluator&, CallArgs) -> Value { throw EvalError(message); }));
}

}  // namespace

void add_globals(Scope& scope) {
  auto function = [&](const char* name, BuiltinFunction::Function body) {
    scope.set(name, Value::object(std::make_shared<BuiltinFunction>(name, std::move(body))));
  };
  function("range", global_range);
  function("dict", global_dict);
  function("namespace", global_namespace);
  function("raise_exception", global_raise_exception);
  function("strftime_now", global_strftime_now);
  for (const char* name : {"lipsum", "cycler", "joiner"}) scope.set(name, unsupported_global(name));
}

}  // namespace pride::chat
