// Value: construction, Python truth, ==, str() and repr() of the template interpreter's values.
#include "chat/value.h"

#include <fmt/format.h>

#include <cmath>

namespace pride::chat {
namespace {

void check_hashable(const Value& key) {
  const bool range = key.kind() == Kind::List && key.sequence().view == ListView::Range;
  if ((key.kind() == Kind::List && !range) || key.kind() == Kind::Dict ||
      (key.kind() == Kind::Tuple && !key.items().empty() &&
       std::any_of(key.items().begin(), key.items().end(), [](const Value& item) {
         return item.kind() == Kind::List || item.kind() == Kind::Dict;
       }))) {
    throw EvalError(fmt::format("unhashable type: '{}'", key.type_name()));
  }
}

bool int_equals_float(int64_t integer, double number) {
  if (!std::isfinite(number) || number != std::floor(number)) return false;
  if (std::fabs(number) >= 9223372036854775808.0) return false;
  return integer == static_cast<int64_t>(number);
}

std::string join_reprs(const std::vector<Value>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i].repr();
  }
  return out;
}

std::string sequence_repr(const Value& value) {
  const Sequence& sequence = value.sequence();
  if (value.kind() == Kind::Tuple) {
    return "(" + join_reprs(sequence.items) + (sequence.items.size() == 1 ? ",)" : ")");
  }
  const std::string list = "[" + join_reprs(sequence.items) + "]";
  switch (sequence.view) {
    case ListView::Range:
      if (sequence.range_step == 1) {
        return fmt::format("range({}, {})", sequence.range_start, sequence.range_stop);
      }
      return fmt::format("range({}, {}, {})", sequence.range_start, sequence.range_stop,
                         sequence.range_step);
    case ListView::DictItems:
      return "dict_items(" + list + ")";
    case ListView::DictKeys:
      return "dict_keys(" + list + ")";
    case ListView::DictValues:
      return "dict_values(" + list + ")";
    case ListView::Plain:
      break;
  }
  return list;
}

std::string dict_repr(const Dict& dict) {
  std::string out = "{";
  for (size_t i = 0; i < dict.entries().size(); ++i) {
    if (i > 0) out += ", ";
    out += dict.entries()[i].first.repr() + ": " + dict.entries()[i].second.repr();
  }
  return out + "}";
}

bool sequences_equal(const std::vector<Value>& a, const std::vector<Value>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!python_equal(a[i], b[i])) return false;
  }
  return true;
}

bool dicts_equal(const Dict& a, const Dict& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a.entries()) {
    const Value* other = b.find(key);
    if (other == nullptr || !python_equal(value, *other)) return false;
  }
  return true;
}

}  // namespace

const Value* Dict::find(const Value& key) const {
  check_hashable(key);
  for (const auto& entry : entries_) {
    if (python_equal(entry.first, key)) return &entry.second;
  }
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  check_hashable(key);
  for (auto& entry : entries_) {
    if (python_equal(entry.first, key)) {
      entry.second = std::move(value);
      return;
    }
  }
  entries_.emplace_back(key, std::move(value));
}

std::unique_ptr<Value> Object::attribute(const std::string&) const {
  return nullptr;
}

Value Object::call(Evaluator&, CallArgs) {
  throw EvalError(fmt::format("'{}' object is not callable", type_name()));
}

const std::shared_ptr<const std::string>& Value::empty_text() {
  static const auto empty = std::make_shared<const std::string>();
  return empty;
}

Value Value::markup(std::string text) {
  Value value(std::move(text));
  value.markup_ = true;
  return value;
}

Value Value::list(std::vector<Value> items, ListView view) {
  Value value(Kind::List);
  value.sequence_ = std::make_shared<const Sequence>(Sequence{std::move(items), view});
  return value;
}

Value Value::tuple(std::vector<Value> items) {
  Value value(Kind::Tuple);
  value.sequence_ = std::make_shared<const Sequence>(Sequence{std::move(items)});
  return value;
}

Value Value::range(int64_t start, int64_t stop, int64_t step) {
  Sequence sequence{{}, ListView::Range, start, stop, step};
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) sequence.items.emplace_back(i);
  Value value(Kind::List);
  value.sequence_ = std::make_shared<const Sequence>(std::move(sequence));
  return value;
}

Value Value::dict(Dict entries) {
  Value value(Kind::Dict);
  value.dict_ = std::make_shared<const Dict>(std::move(entries));
  return value;
}

Value Value::object(std::shared_ptr<Object> object) {
  Value value(Kind::Object);
  value.object_ = std::move(object);
  return value;
}

Value Value::from_json(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto number = json.get<uint64_t>();
      if (number > static_cast<uint64_t>(INT64_MAX)) {
        throw EvalError(fmt::format("integer {} does not fit 64 bits", number));
      }
      return Value(static_cast<int64_t>(number));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      for (const auto& item : json) items.push_back(from_json(item));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict entries;
      for (const auto& [key, item] : json.items()) entries.set(Value(key), from_json(item));
      return dict(std::move(entries));
    }
    default:
      throw EvalError("binary JSON values are not supported");
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
    case Kind::Int:
      return number_ != 0;
    case Kind::Float:
      return float_ != 0;
    case Kind::String:
      return !text_->empty();
    case Kind::List:
    case Kind::Tuple:
      return !sequence_->items.empty();
    case Kind::Dict:
      return dict_->size() > 0;
    case Kind::Object:
      return true;
  }
  return false;
}

std::string Value::str() const {
  if (kind_ == Kind::String) return *text_;
  if (kind_ == Kind::Undefined) return "";
  return repr();
}

std::string Value::repr() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return number_ ? "True" : "False";
    case Kind::Int:
      return std::to_string(number_);
    case Kind::Float:
      return python_float_repr(float_);
    case Kind::String:
      return markup_ ? "Markup(" + python_string_repr(*text_) + ")" : python_string_repr(*text_);
    case Kind::List:
    case Kind::Tuple:
      return sequence_repr(*this);
    case Kind::Dict:
      return dict_repr(*dict_);
    case Kind::Object:
      return object_->repr();
  }
  return "";
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return markup_ ? "Markup" : "str";
    case Kind::Tuple:
      return "tuple";
    case Kind::Dict:
      return "dict";
    case Kind::Object:
      return object_->type_name();
    case Kind::List:
      break;
  }
  switch (sequence_->view) {
    case ListView::Range:
      return "range";
    case ListView::DictItems:
      return "dict_items";
    case ListView::DictKeys:
      return "dict_keys";
    case ListView::DictValues:
      return "dict_values";
    case ListView::Plain:
      break;
  }
  return "list";
}

bool python_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() != Kind::Float && b.kind() != Kind::Float) return a.as_int() == b.as_int();
    if (a.kind() == Kind::Float && b.kind() == Kind::Float) return a.as_double() == b.as_double();
    return a.kind() == Kind::Float ? int_equals_float(b.as_int(), a.as_double())
                                   : int_equals_float(a.as_int(), b.as_double());
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
      return a.text() == b.text();
    case Kind::List:
      if ((a.sequence().view == ListView::Range) != (b.sequence().view == ListView::Range))
        return false;
      return sequences_equal(a.items(), b.items());
    case Kind::Tuple:
      return sequences_equal(a.items(), b.items());
    case Kind::Dict:
      return dicts_equal(a.dict(), b.dict());
    case Kind::Object:
      return a.object() == b.object();
    default:
      return false;
  }
}

std::vector<Value> iterate(const Value& value) {
  switch (value.kind()) {
    case Kind::Undefined:
      return {};
    case Kind::String: {
      std::vector<Value> characters;
      for (char32_t c : decode_utf8(value.text())) {
        std::string character;
        append_utf8(character, c);
        characters.emplace_back(std::move(character));
      }
      return characters;
    }
    case Kind::List:
    case Kind::Tuple:
      return value.items();
    case Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& entry : value.dict().entries()) keys.push_back(entry.first);
      return keys;
    }
    default:
      throw EvalError(fmt::format("'{}' object is not iterable", value.type_name()));
  }
}

}  // namespace pride::chat
