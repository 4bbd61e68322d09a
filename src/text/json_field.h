// A JSON value together with the path that reached it ("decoder.decoders[2].type") and its file,
// so that every error about a tokenizer.json names the field at fault.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "util/error.h"

namespace pride::text {

// A value as it appears in an error message: its JSON, cut short (at a character boundary) when
// long, so that a 100 MB string does not become a 100 MB message.
std::string shown(const nlohmann::json& value);

class JsonField {
 public:
  JsonField(const nlohmann::json& value, std::string path, const std::string& file)
      : value_(&value), path_(std::move(path)), file_(&file) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }
  // "<file>: <path>", the prefix of this field's errors (for errors raised later, e.g. while
  // encoding with a pattern this field defined).
  std::string where() const { return *file_ + ": " + (path_.empty() ? "(top level)" : path_); }
  bool is_null() const { return value_->is_null(); }

  // A required member (missing or null is an error), an optional one (null counts as missing).
  JsonField operator[](const char* key) const;
  std::optional<JsonField> find(const char* key) const;
  JsonField operator[](size_t index) const;
  size_t size() const;  // of an array

  std::string string() const;
  bool boolean() const;
  int64_t integer() const;
  double number() const;  // an integer or a floating-point number
  // An optional member's value, or `fallback` when it is missing or null.
  bool boolean_or(const char* key, bool fallback) const;
  std::string string_or(const char* key, const std::string& fallback) const;

  [[noreturn]] void fail(const std::string& what) const { pride::fail("{}: {}", where(), what); }

 private:
  const nlohmann::json* value_;
  std::string path_;
  const std::string* file_;
};

}  // namespace pride::text
