// Loading chat templates from tokenizer_config.json / chat_template.jinja and rendering them with
// the variables transformers' apply_chat_template passes.
#include "chat/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/file_io.h"
#include "io/json_file.h"
#include "util/error.h"

namespace pride::chat {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::string read_file(const fs::path& path) {
  return read_text_file(path.string());
}

ordered_json read_json(const fs::path& path) {
  return read_ordered_json_file(path.string());
}

// HF's special tokens are strings or AddedToken dicts {"content": ...}.
std::map<std::string, ordered_json> special_tokens_of(const ordered_json& config,
                                                      const std::string& origin) {
  static const char* const kNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
  auto token_text = [&](const ordered_json& token, const std::string& key) -> ordered_json {
    if (token.is_string()) return token;
    if (token.is_object() && token.contains("content") && token["content"].is_string()) {
      return token["content"];
    }
    pride::fail("{}: {} must be a string or an object with a string \"content\"", origin, key);
  };
  std::map<std::string, ordered_json> tokens;
  for (const char* name : kNames) {
    if (config.contains(name) && !config[name].is_null()) {
      tokens[name] = token_text(config[name], name);
    }
  }
  if (config.contains("additional_special_tokens") &&
      config["additional_special_tokens"].is_array()) {
    ordered_json list = ordered_json::array();
    for (const auto& token : config["additional_special_tokens"]) {
      list.push_back(token_text(token, "additional_special_tokens"));
    }
    tokens["additional_special_tokens"] = list;
  }
  return tokens;
}

std::string describe_names(const std::map<std::string, Template>& templates) {
  std::string names;
  for (const auto& entry : templates) names += (names.empty() ? "" : ", ") + entry.first;
  return names;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, std::string origin,
                           std::map<std::string, ordered_json> special_tokens)
    : origin_(std::move(origin)), special_tokens_(std::move(special_tokens)) {
  templates_.emplace("default", Template(source, origin_));
}

ChatTemplate ChatTemplate::load(const std::string& path_text, const std::string& template_name) {
  const fs::path path(path_text);
  if (!fs::exists(path)) pride::fail("{}: no such file or directory", path_text);
  const fs::path directory = fs::is_directory(path) ? path : path.parent_path();
  const fs::path config_path = fs::is_directory(path) || path.extension() != ".json"
                                   ? directory / "tokenizer_config.json"
                                   : path;
  fs::path jinja_path = path.extension() == ".jinja" ? path : directory / "chat_template.jinja";

  ChatTemplate chat;
  chat.requested_name_ = template_name;
  ordered_json config = fs::exists(config_path) ? read_json(config_path) : ordered_json::object();
  chat.special_tokens_ = special_tokens_of(config, config_path.string());
  if (fs::exists(jinja_path)) {
    chat.origin_ = jinja_path.string();
    chat.templates_.emplace("default", Template(read_file(jinja_path), chat.origin_));
  } else {
    chat.origin_ = config_path.string();
    if (!fs::exists(config_path))
      pride::fail("{}: no tokenizer_config.json or chat_template.jinja", path_text);
    const auto found = config.find("chat_template");
    if (found == config.end() || found->is_null())
      pride::fail("{}: no chat_template", chat.origin_);
    if (found->is_string()) {
      chat.templates_.emplace("default", Template(found->get<std::string>(), chat.origin_));
    } else if (found->is_array()) {
      for (size_t i = 0; i < found->size(); ++i) {
        const ordered_json& entry = (*found)[i];
        if (!entry.is_object() || !entry.value("name", ordered_json()).is_string() ||
            !entry.value("template", ordered_json()).is_string()) {
          pride::fail("{}: chat_template[{}] must be an object with string name and template",
                      chat.origin_, i);
        }
        const std::string name = entry["name"].get<std::string>();
        chat.templates_.emplace(name, Template(entry["template"].get<std::string>(),
                                               chat.origin_ + " (chat_template '" + name + "')"));
      }
    } else {
      pride::fail("{}: chat_template must be a string or a list of {{name, template}}",
                  chat.origin_);
    }
  }
  if (!template_name.empty() && !chat.templates_.count(template_name)) {
    pride::fail("{}: no chat template named '{}' (have: {})", chat.origin_, template_name,
                describe_names(chat.templates_));
  }
  return chat;
}

std::optional<ChatTemplate> ChatTemplate::find(const std::string& model_path) {
  const fs::path directory =
      fs::is_regular_file(model_path) ? fs::path(model_path).parent_path() : fs::path(model_path);
  if (fs::exists(directory / "chat_template.jinja")) return load(directory.string());
  const fs::path config_path = directory / "tokenizer_config.json";
  if (!fs::exists(config_path)) return std::nullopt;
  const ordered_json config = read_json(config_path);
  if (!config.contains("chat_template") || config["chat_template"].is_null()) return std::nullopt;
  return load(directory.string());
}

std::string ChatTemplate::identity() const {
  ordered_json parts = {{"requested", requested_name_}, {"templates", ordered_json::object()}};
  for (const auto& [name, compiled] : templates_) parts["templates"][name] = compiled.source();
  for (const auto& [name, token] : special_tokens_) parts["special_tokens"][name] = token;
  return parts.dump();
}

const Template& ChatTemplate::select(bool with_tools) const {
  if (!requested_name_.empty()) return templates_.at(requested_name_);
  if (with_tools && templates_.count("tool_use")) return templates_.at("tool_use");
  const auto found = templates_.find("default");
  if (found == templates_.end()) {
    pride::fail("{}: several chat templates and none named 'default' (have: {}): pick one by name",
                origin_, describe_names(templates_));
  }
  return found->second;
}

void validate_messages(const ordered_json& messages, const std::string& origin) {
  if (!messages.is_array()) pride::fail("{}: messages must be a JSON array", origin);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ordered_json& message = messages[i];
    if (!message.is_object()) pride::fail("{}: messages[{}] must be a JSON object", origin, i);
    if (!message.contains("role") || !message["role"].is_string()) {
      pride::fail("{}: messages[{}] needs a string \"role\"", origin, i);
    }
    if (message.contains("content")) {
      const ordered_json& content = message["content"];
      if (!content.is_string() && !content.is_null() && !content.is_array()) {
        pride::fail("{}: messages[{}].content must be a string, null or a list of parts", origin,
                    i);
      }
      if (content.is_array()) {
        for (size_t k = 0; k < content.size(); ++k) {
          if (!content[k].is_object()) {
            pride::fail("{}: messages[{}].content[{}] must be a JSON object", origin, i, k);
          }
        }
      }
    }
  }
}

std::string ChatTemplate::render(const ordered_json& messages,
                                 const ChatRenderOptions& options) const {
  validate_messages(messages, origin_);
  if (options.tools && !options.tools->is_array())
    pride::fail("{}: tools must be a JSON array", origin_);
  if (!options.variables.is_object())
    pride::fail("{}: extra variables must be a JSON object", origin_);
  ordered_json variables = ordered_json::object();
  variables["messages"] = messages;
  variables["tools"] = options.tools ? *options.tools : ordered_json();
  variables["documents"] = ordered_json();
  variables["add_generation_prompt"] = options.add_generation_prompt;
  for (const auto& [name, token] : special_tokens_) variables[name] = token;
  for (const auto& [name, value] : options.variables.items()) variables[name] = value;
  return select(options.tools.has_value()).render(variables);
}

}  // namespace pride::chat
