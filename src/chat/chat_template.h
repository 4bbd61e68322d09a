// A model's chat template, loaded the way Hugging Face transformers finds it, and rendered with
// HF's variables: apply_chat_template(messages, tools=..., add_generation_prompt=...,
// tokenize=False, **extra) gives the same string.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>

#include "chat/template.h"

namespace pride::chat {

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  // Tool schemas (a JSON array) or nullopt: the template then sees `tools` as None, like HF.
  std::optional<nlohmann::ordered_json> tools;
  // Extra template variables (e.g. enable_thinking=false, date_string); they override the
  // special tokens of the same name.
  nlohmann::ordered_json variables = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // `path`: a model directory, its tokenizer_config.json, or a .jinja template file. A
  // chat_template.jinja beside tokenizer_config.json wins over its `chat_template` (as in newer
  // HF). `chat_template` may be a string or a list of {name, template}: `template_name` picks
  // one; empty picks "tool_use" when rendering with tools and it exists, else "default".
  static ChatTemplate load(const std::string& path, const std::string& template_name = "");
  // For `auto` settings: the template of a model directory (or of the directory of a file in it,
  // e.g. its tokenizer.json), or nullopt when it has neither a chat_template.jinja nor a
  // `chat_template` in tokenizer_config.json (a broken one still throws).
  static std::optional<ChatTemplate> find(const std::string& model_path);
  // A template given as text; special tokens as in tokenizer_config.json (e.g. bos_token).
  ChatTemplate(const std::string& source, std::string origin,
               std::map<std::string, nlohmann::ordered_json> special_tokens = {});

  // Validates `messages` (an array of objects with a string "role", and "content" a string,
  // null or a list of parts) and renders the prompt.
  std::string render(const nlohmann::ordered_json& messages,
                     const ChatRenderOptions& options = {}) const;

  const std::string& origin() const { return origin_; }
  // Everything that decides what render() gives: the templates, the chosen name and the special
  // tokens, as one text (for fingerprints of what was rendered with it).
  std::string identity() const;
  // bos_token, eos_token, ... as strings (additional_special_tokens as a list).
  const std::map<std::string, nlohmann::ordered_json>& special_tokens() const {
    return special_tokens_;
  }

 private:
  ChatTemplate() = default;
  const Template& select(bool with_tools) const;

  std::string origin_;
  std::map<std::string, Template> templates_;  // by name; a single template is "default"
  std::string requested_name_;
  std::map<std::string, nlohmann::ordered_json> special_tokens_;
};

// Throws a pride::Error naming `origin` and the message index when `messages` is malformed.
void validate_messages(const nlohmann::ordered_json& messages, const std::string& origin);

}  // namespace pride::chat
