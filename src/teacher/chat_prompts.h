// Prompts as chat messages (docs/chat-templates.md): the chat templates `pride teach` renders with
// (the teacher's under teach.chat, the student's under model.chat), the messages of a teacher
// prompt (a system prompt and a user message) and of a dialogue (its turns as user and assistant
// turns), and their encoding as Hugging Face's apply_chat_template(tokenize=True) encodes them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "config/config.h"
#include "dialogue/dialogue.h"
#include "text/tokenizer.h"

namespace pride::teacher {

// The templates of a teach run; nullopt where the setting is off or the model has no template.
struct ChatTemplates {
  std::optional<chat::ChatTemplate> teacher;  // teach.chat auto: the teacher tokenizer's
  std::optional<chat::ChatTemplate> student;  // model.chat auto: model.init_from's
  // Both settings and templates as text, for the run's fingerprint.
  std::string identity() const;
};

ChatTemplates find_chat_templates(const Config& config);

// A one-turn request: a system message (none when `system_prompt` is empty), then `user`. Every
// teacher prompt (reasoning, scoring, and later ones) is built by this one function.
nlohmann::ordered_json request_messages(const std::string& system_prompt, const std::string& user);

// The dialogue from turn `first_turn` on as the responder sees it: turns of the response's speaker
// are "assistant" turns, every other speaker's are "user" turns; consecutive turns of one role are
// joined by a newline, so that roles alternate as strict templates (Mistral, Gemma) require.
nlohmann::ordered_json dialogue_messages(const dialogue::DialogueText& sample, int64_t first_turn);

// `messages` rendered with `chat` and the generation prompt (so the model's reply comes next),
// and tokenized as apply_chat_template(tokenize=True) does: the rendered text holds whatever
// special tokens (BOS included) the template writes, so nothing is added
// (add_special_tokens=False), and special tokens written in the text are encoded as the special
// tokens they are.
struct ChatPrompt {
  std::string text;
  std::vector<text::TokenId> ids;
};
ChatPrompt encode_chat(const chat::ChatTemplate& chat, const nlohmann::ordered_json& messages,
                       const text::Tokenizer& tokenizer);

// A request to a model (the teacher's prompts, the judge's): with a chat template, `text` as the
// user's message after `system_prompt` (request_messages), encoded by encode_chat; without one,
// `text` as it is, with the special tokens the tokenizer adds.
ChatPrompt encode_request(const std::optional<chat::ChatTemplate>& chat,
                          const std::string& system_prompt, const std::string& text,
                          const text::Tokenizer& tokenizer);

}  // namespace pride::teacher
