// Implements chat_prompts.h: finding the templates, building messages, encoding rendered prompts.
#include "teacher/chat_prompts.h"

#include <filesystem>

namespace pride::teacher {

using nlohmann::ordered_json;

std::string ChatTemplates::identity() const {
  return ordered_json{{"teacher", teacher ? teacher->identity() : "off"},
                      {"student", student ? student->identity() : "off"}}
      .dump();
}

ChatTemplates find_chat_templates(const Config& config) {
  ChatTemplates found;
  if (config.teach.chat == "auto") {
    // The template travels with the tokenizer (AutoTokenizer reads tokenizer_config.json).
    found.teacher = chat::ChatTemplate::find(
        config.teach.tokenizer.empty() ? config.teach.teacher : config.teach.tokenizer);
  }
  if (config.model.chat == "auto" && !config.model.init_from.empty()) {
    found.student = chat::ChatTemplate::find(config.model.init_from);
  }
  return found;
}

ordered_json request_messages(const std::string& system_prompt, const std::string& user) {
  ordered_json messages = ordered_json::array();
  if (!system_prompt.empty()) messages.push_back({{"role", "system"}, {"content", system_prompt}});
  messages.push_back({{"role", "user"}, {"content", user}});
  return messages;
}

ordered_json dialogue_messages(const dialogue::DialogueText& sample, int64_t first_turn) {
  ordered_json messages = ordered_json::array();
  for (size_t t = static_cast<size_t>(first_turn); t < sample.context.size(); ++t) {
    const dialogue::Turn& turn = sample.context[t];
    const char* role = turn.speaker == sample.response.speaker ? "assistant" : "user";
    if (!messages.empty() && messages.back()["role"] == role) {
      messages.back()["content"] = messages.back()["content"].get<std::string>() + "\n" + turn.text;
    } else {
      messages.push_back({{"role", role}, {"content", turn.text}});
    }
  }
  return messages;
}

ChatPrompt encode_chat(const chat::ChatTemplate& chat, const ordered_json& messages,
                       const text::Tokenizer& tokenizer) {
  chat::ChatRenderOptions options;
  options.add_generation_prompt = true;
  ChatPrompt prompt;
  prompt.text = chat.render(messages, options);
  prompt.ids = tokenizer.encode(prompt.text, /*add_special=*/false);
  return prompt;
}

ChatPrompt encode_request(const std::optional<chat::ChatTemplate>& chat,
                          const std::string& system_prompt, const std::string& text,
                          const text::Tokenizer& tokenizer) {
  if (!chat) return {text, tokenizer.encode(text, /*add_special=*/true)};
  return encode_chat(*chat, request_messages(system_prompt, text), tokenizer);
}

}  // namespace pride::teacher
