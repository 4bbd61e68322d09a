// The values a chat template computes with, modelled on the Python objects Jinja2 handles:
// undefined, None, bool, int, float, str (plain or Markup), list, tuple, dict (insertion-ordered)
// and objects (callables, namespaces, loop contexts). Values are immutable and cheap to copy,
// as HF's sandbox forbids mutating lists and dicts; only namespaces change.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/python_text.h"

namespace pride::chat {

class Value;
class Evaluator;

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Object };

// What a list stands for when printed: Python prints ranges and dict views their own way.
enum class ListView { Plain, Range, DictItems, DictKeys, DictValues };

struct Sequence {
  std::vector<Value> items;
  ListView view = ListView::Plain;
  int64_t range_start = 0, range_stop = 0, range_step = 1;  // for ListView::Range
};

class Dict {
 public:
  const Value* find(const Value& key) const;
  void set(const Value& key, Value value);  // replaces in place or appends, like a Python dict
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<Value, Value>> entries_;
};

// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;  // Python's type name, for messages
  virtual std::string repr() const { return "<" + type_name() + " object>"; }
  // The attribute `name`, or nullptr when the object has none (Jinja2 then gives Undefined).
  virtual std::unique_ptr<Value> attribute(const std::string& name) const;
  virtual bool callable() const { return false; }
  virtual Value call(Evaluator& evaluator, CallArgs args);
};

class Value {
 public:
  Value() = default;  // Undefined
  static Value undefined(std::string hint) { return Value(Kind::Undefined, std::move(hint)); }
  static Value none() { return Value(Kind::None); }
  Value(bool value) : kind_(Kind::Bool), number_(value) {}
  Value(int64_t value) : kind_(Kind::Int), number_(value) {}
  Value(int value) : Value(static_cast<int64_t>(value)) {}
  Value(double value) : kind_(Kind::Float), float_(value) {}
  Value(std::string text) : Value(Kind::String, std::move(text)) {}
  Value(const char* text) : Value(std::string(text)) {}
  static Value markup(std::string text);
  static Value list(std::vector<Value> items, ListView view = ListView::Plain);
  static Value tuple(std::vector<Value> items);
  static Value range(int64_t start, int64_t stop, int64_t step);
  static Value dict(Dict entries);
  static Value object(std::shared_ptr<Object> object);
  // JSON data (ordered, as the input's key order is what tojson and loops see).
  static Value from_json(const nlohmann::ordered_json& json);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_markup() const { return markup_; }
  bool is_sequence() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_integer() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // Python int
  bool is_number() const { return is_integer() || kind_ == Kind::Float; }

  bool as_bool() const { return number_ != 0; }
  int64_t as_int() const { return number_; }  // Int or Bool
  double as_double() const { return kind_ == Kind::Float ? float_ : static_cast<double>(number_); }
  const std::string& text() const { return *text_; }  // String; Undefined: the hint
  const Sequence& sequence() const { return *sequence_; }
  const std::vector<Value>& items() const { return sequence_->items; }
  const Dict& dict() const { return *dict_; }
  const std::shared_ptr<Object>& object() const { return object_; }

  // Python's truth value, str(), repr() and type name.
  bool truthy() const;
  std::string str() const;
  std::string repr() const;
  std::string type_name() const;

 private:
  explicit Value(Kind kind) : kind_(kind) {}
  Value(Kind kind, std::string text)
      : kind_(kind), text_(std::make_shared<const std::string>(std::move(text))) {}

  Kind kind_ = Kind::Undefined;
  bool markup_ = false;
  int64_t number_ = 0;
  double float_ = 0;
  std::shared_ptr<const std::string> text_ = empty_text();
  std::shared_ptr<const Sequence> sequence_;
  std::shared_ptr<const Dict> dict_;
  std::shared_ptr<Object> object_;

  static const std::shared_ptr<const std::string>& empty_text();
};

// Python ==, with 1 == 1.0 == True, order-insensitive dicts and Undefined == Undefined.
bool python_equal(const Value& a, const Value& b);
// Python's iteration: a list of the items of a str (characters), list, tuple, dict (keys) or
// Undefined (none); anything else is an EvalError.
std::vector<Value> iterate(const Value& value);

}  // namespace pride::chat
