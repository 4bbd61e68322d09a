// JsonField: typed access to tokenizer.json with errors that name file and field.
#include "text/json_field.h"

namespace pride::text {
std::string shown(const nlohmann::json& value) {
  constexpr size_t kMaxShown = 80;
  std::string text = value.dump();
  if (text.size() <= kMaxShown) return text;
  size_t cut = kMaxShown;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

JsonField JsonField::operator[](const char* key) const {
  std::optional<JsonField> member = find(key);
  if (!member) {
    JsonField(*value_, path_.empty() ? key : path_ + "." + key, *file_).fail("missing");
  }
  return *member;
}

std::optional<JsonField> JsonField::find(const char* key) const {
  if (!value_->is_object()) fail("expected an object");
  const auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  return JsonField(*it, path_.empty() ? key : path_ + "." + key, *file_);
}

JsonField JsonField::operator[](size_t index) const {
  if (!value_->is_array() || index >= value_->size()) fail("expected an array");
  return JsonField((*value_)[index], path_ + "[" + std::to_string(index) + "]", *file_);
}

size_t JsonField::size() const {
  if (!value_->is_array()) fail("expected an array");
  return value_->size();
}

std::string JsonField::string() const {
  if (!value_->is_string()) fail("expected a string, got " + shown(*value_));
  return value_->get<std::string>();
}

bool JsonField::boolean() const {
  if (!value_->is_boolean()) fail("expected true or false, got " + shown(*value_));
  return value_->get<bool>();
}

int64_t JsonField::integer() const {
  if (!value_->is_number_integer()) fail("expected an integer, got " + shown(*value_));
  return value_->get<int64_t>();
}

double JsonField::number() const {
  if (!value_->is_number()) fail("expected a number, got " + shown(*value_));
  return value_->get<double>();
}

bool JsonField::boolean_or(const char* key, bool fallback) const {
  const auto member = find(key);
  return member ? member->boolean() : fallback;
}

std::string JsonField::string_or(const char* key, const std::string& fallback) const {
  const auto member = find(key);
  return member ? member->string() : fallback;
}

}  // namespace pride::text
