// Implements prompts.h: template rendering, context fitting and tokenization of one sample.
#include "teacher/prompts.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "util/error.h"

namespace pride::teacher {
namespace {

// The placeholders each template may use. The student's context may not name privileged
// information: it is what the student sees at inference.
const std::vector<std::string> kTurnKeys = {"speaker", "text"};
const std::vector<std::string> kContextKeys = {"dialogue", "speaker"};
const std::vector<std::string> kReasoningKeys = {"dialogue", "speaker", "emotion", "privileged",
                                                 "response"};
const std::vector<std::string> kScoreKeys = {"dialogue",   "speaker",  "emotion",
                                             "privileged", "response", "reasoning"};
// The emotion prompt must not name the gold emotion (it is what the teacher predicts).
const std::vector<std::string> kEmotionKeys = {"dialogue", "speaker", "emotion_labels"};
// What a plug-in adds to the reasoning and emotion prompts (teach.plugin).
const std::vector<std::string> kPluginKeys = {"emotion_candidates", "other_emotions",
                                              "cause_words"};

std::vector<std::string> with_plugin_keys(std::vector<std::string> keys, bool plugin) {
  if (plugin) keys.insert(keys.end(), kPluginKeys.begin(), kPluginKeys.end());
  return keys;
}

std::string join(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

// Renders `text` with every allowed key bound to itself, so that an unknown one fails now.
void check_template(const std::string& text, const std::vector<std::string>& keys,
                    const std::string& config_key) {
  std::map<std::string, std::string> values;
  for (const std::string& key : keys) values[key] = key;
  render_template(text, values, config_key);
}

Ids as_ids(const std::vector<text::TokenId>& ids) {
  return Ids(ids.begin(), ids.end());
}

// When even the last turn alone is too long for a plain text prompt, its last tokens are what is
// kept (a chat prompt cuts the turn's text instead: PromptBuilder::cut_last_turn).
void keep_last(Ids& ids, size_t budget) {
  if (ids.size() > budget) ids.erase(ids.begin(), ids.end() - static_cast<ptrdiff_t>(budget));
}

}  // namespace

const char kDefaultReasoningTemplate[] =
    "{dialogue}\n"
    "Before {speaker} replies, think it through step by step.\n"
    "1. Feelings: what does the other person feel, and why?\n"
    "2. Situation: what happened, and what do they need now?\n"
    "3. Reply: what must an empathetic reply from {speaker} address?\n"
    "Reasoning:";

const char kDirectResponseTemplate[] =
    "{dialogue}\n"
    "Write {speaker}'s next reply: one or two empathetic sentences.\n"
    "{speaker}:";

// Each improvement prompt asks for one thing only, so that the pairs it makes teach that thing.
const char* improve_template(const std::string& set) {
  static const std::map<std::string, const char*> sets = {
      {"feeling",
       "{dialogue}\n"
       "{speaker} plans to reply: \"{response}\"\n"
       "Rewrite the reply so that it recognises how the other person feels and names that "
       "feeling plainly (\"that sounds frustrating\", \"you must be so proud\"). Keep what it "
       "says otherwise; one or two sentences.\n"
       "{speaker}:"},
      {"situation",
       "{dialogue}\n"
       "{speaker} plans to reply: \"{response}\"\n"
       "Rewrite the reply so that it reflects the particular situation the other person "
       "described, in their own details, instead of words that would fit any conversation. One "
       "or two sentences.\n"
       "{speaker}:"},
      {"invite",
       "{dialogue}\n"
       "{speaker} plans to reply: \"{response}\"\n"
       "Rewrite the reply so that it ends by gently inviting the other person to say more about "
       "what they are going through, with one open question. One or two sentences.\n"
       "{speaker}:"},
      {"warmth",
       "{dialogue}\n"
       "{speaker} plans to reply: \"{response}\"\n"
       "Rewrite the reply to sound warm and supportive, as a caring friend would say it. Leave "
       "out advice, instructions and generic phrases. One or two sentences.\n"
       "{speaker}:"}};
  const auto found = sets.find(set);
  if (found == sets.end()) fail("teach.improve_set: unknown set '{}'", set);
  return found->second;
}

const char kDefaultEmotionTemplate[] =
    "{dialogue}\n"
    "How does the person {speaker} is talking to feel? One of: {emotion_labels}.\n"
    "Emotion:";

const char kHefReasoningTemplate[] =
    "{dialogue}\n"
    "Before {speaker} replies, think it through step by step.\n"
    "1. Feelings: what does the other person feel, and why? An emotion expert suggests, most "
    "likely first: {emotion_candidates}. Consider these first; only if none fits, the others: "
    "{other_emotions}.\n"
    "2. Situation: what happened, and what do they need now? Focus on the words that caused the "
    "feeling: {cause_words}.\n"
    "3. Reply: what must an empathetic reply from {speaker} address?\n"
    "Reasoning:";

const char kHefEmotionTemplate[] =
    "{dialogue}\n"
    "How does the person {speaker} is talking to feel? An emotion expert suggests, most likely "
    "first: {emotion_candidates}. Consider these first; only if none fits, one of the others: "
    "{other_emotions}. The words that caused the feeling: {cause_words}.\n"
    "Emotion:";

std::string render_template(const std::string& text,
                            const std::map<std::string, std::string>& values,
                            const std::string& key) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out += c;  // "{{" or "}}"
      ++i;
    } else if (c == '{') {
      const size_t close = text.find('}', i);
      if (close == std::string::npos) fail("{}: unclosed '{{' at character {}", key, i);
      const std::string name = text.substr(i + 1, close - i - 1);
      const auto found = values.find(name);
      if (found == values.end()) {
        std::vector<std::string> known;
        for (const auto& [known_name, value] : values) known.push_back("{" + known_name + "}");
        fail("{}: unknown placeholder {{{}}} (this template knows {})", key, name,
             fmt::join(known, ", "));
      }
      out += found->second;
      i = close;
    } else if (c == '}') {
      fail("{}: a lone '}}' at character {} (write '}}}}' for a brace)", key, i);
    } else {
      out += c;
    }
  }
  return out;
}

PromptBuilder::PromptBuilder(const TeachConfig& config, const text::Tokenizer& tokenizer,
                             int32_t eos_id, const ChatTemplates& chat,
                             std::vector<std::string> labels)
    : config_(config),
      tokenizer_(tokenizer),
      eos_id_(eos_id),
      chat_(chat),
      labels_(std::move(labels)) {
  const bool hef = config.prompt_set == "hef";
  reasoning_template_ = !config.reasoning_template.empty() ? config.reasoning_template
                        : hef                              ? kHefReasoningTemplate
                                                           : kDefaultReasoningTemplate;
  emotion_template_ = !config.emotion_template.empty() ? config.emotion_template
                      : hef                            ? kHefEmotionTemplate
                                                       : kDefaultEmotionTemplate;
  const bool plugin = !config.plugin.empty();
  check_template(config.turn_template, kTurnKeys, "teach.turn_template");
  check_template(config.context_template, kContextKeys, "teach.context_template");
  check_template(reasoning_template_, with_plugin_keys(kReasoningKeys, plugin),
                 "teach.reasoning_template");
  check_template(config.score_template, with_plugin_keys(kScoreKeys, plugin),
                 "teach.score_template");
  check_template(emotion_template_, with_plugin_keys(kEmotionKeys, plugin),
                 "teach.emotion_template");
}

std::string PromptBuilder::dialogue_text(const dialogue::DialogueText& sample,
                                         int64_t first_turn) const {
  std::string text;
  for (size_t t = static_cast<size_t>(first_turn); t < sample.context.size(); ++t) {
    text +=
        render_template(config_.turn_template,
                        {{"speaker", sample.context[t].speaker}, {"text", sample.context[t].text}},
                        "teach.turn_template");
  }
  return text;
}

std::map<std::string, std::string> PromptBuilder::values(const dialogue::DialogueText& sample,
                                                         int64_t first_turn,
                                                         const PluginHints& hints) const {
  std::string privileged;
  for (const auto& [name, text] : sample.privileged) privileged += name + ": " + text + "\n";
  return {{"dialogue", dialogue_text(sample, first_turn)},
          {"speaker", sample.response.speaker},
          {"emotion", sample.emotion},
          {"privileged", privileged},
          {"response", sample.response.text},
          {"emotion_labels", join(labels_)},
          {"emotion_candidates", join(hints.candidates)},
          {"other_emotions", join(hints.others)},
          {"cause_words", join(hints.cause_words)}};
}

void PromptBuilder::check_request_template(const std::string& text, const std::string& key,
                                           const std::vector<std::string>& extra_keys) const {
  std::vector<std::string> keys = kEmotionKeys;
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  check_template(text, with_plugin_keys(keys, !config_.plugin.empty()), key);
}

Prompt PromptBuilder::request(const std::string& text_template, const std::string& key,
                              const dialogue::DialogueText& sample,
                              const SamplePrompts& prompts) const {
  return teacher_prompt(render_template(
      text_template, values(fitted(sample, prompts), prompts.first_turn, prompts.hints), key));
}

std::vector<Ids> PromptBuilder::label_ids() const {
  const std::string prefix = chat_.teacher ? "" : " ";
  std::vector<Ids> ids;
  for (const std::string& label : labels_) {
    ids.push_back(as_ids(tokenizer_.encode(prefix + label, /*add_special=*/false)));
  }
  return ids;
}

std::string PromptBuilder::context_text(const dialogue::DialogueText& sample,
                                        int64_t first_turn) const {
  return render_template(
      config_.context_template,
      {{"dialogue", dialogue_text(sample, first_turn)}, {"speaker", sample.response.speaker}},
      "teach.context_template");
}

Prompt PromptBuilder::context_prompt(const dialogue::DialogueText& sample,
                                     int64_t first_turn) const {
  if (chat_.student) {
    const ChatPrompt chat =
        encode_chat(*chat_.student, dialogue_messages(sample, first_turn), tokenizer_);
    return {chat.text, as_ids(chat.ids)};
  }
  const std::string text = context_text(sample, first_turn);
  return {text, as_ids(tokenizer_.encode(text, /*add_special=*/true))};
}

Prompt PromptBuilder::teacher_prompt(const std::string& text) const {
  const ChatPrompt request = encode_request(chat_.teacher, config_.system_prompt, text, tokenizer_);
  return {request.text, as_ids(request.ids)};
}

size_t PromptBuilder::budgeted_length(const dialogue::DialogueText& sample,
                                      int64_t first_turn) const {
  const size_t context = context_prompt(sample, first_turn).ids.size();
  if (!scores_chat_context()) return context;
  return std::max(context, teacher_prompt(context_text(sample, first_turn)).ids.size());
}

dialogue::DialogueText PromptBuilder::cut_last_turn(const dialogue::DialogueText& sample,
                                                    int64_t first_turn) const {
  const auto budget = static_cast<size_t>(config_.max_context_tokens);
  dialogue::DialogueText cut = sample;
  std::string empty;
  std::string& text = cut.context.empty() ? empty : cut.context.back().text;
  const std::string full = text;
  const auto keep_tail = [&](size_t bytes) {  // the last `bytes` of the text, whole characters
    size_t start = full.size() - bytes;
    while (start < full.size() && (static_cast<unsigned char>(full[start]) & 0xC0) == 0x80) {
      ++start;
    }
    text = full.substr(start);
  };
  keep_tail(0);
  if (const size_t frame = budgeted_length(cut, first_turn); frame > budget) {
    fail("the chat template's frame alone is {} tokens, over teach.max_context_tokens {}", frame,
         budget);
  }
  // Bisection on the bytes kept: the most that fit, in O(log length) encodings.
  size_t low = 0, high = full.size();
  while (low < high) {
    const size_t middle = low + (high - low + 1) / 2;
    keep_tail(middle);
    if (budgeted_length(cut, first_turn) <= budget) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  keep_tail(low);
  return cut;
}

SamplePrompts PromptBuilder::prepare(const dialogue::DialogueText& original,
                                     HintSource* plugin) const {
  SamplePrompts prompts;
  // Drop the fewest oldest turns that make the context fit; when the last turn alone is too long,
  // keep its last tokens (under a chat template, the end of its text). Dropping turns only shortens
  // the context, so the fewest are found by bisection: O(log turns) encodings of the context, not
  // one per dropped turn (quadratic in a long dialogue).
  const int64_t last_start =
      std::max<int64_t>(0, static_cast<int64_t>(original.context.size()) - 1);
  const auto budget = static_cast<size_t>(config_.max_context_tokens);
  prompts.first_turn = 0;
  if (budgeted_length(original, 0) > budget && last_start > 0) {
    int64_t low = 1, high = last_start;  // turns before `low` are too long; `high` is the answer
    while (low < high) {                 // when none fits
      const int64_t middle = low + (high - low) / 2;
      if (budgeted_length(original, middle) <= budget) {
        high = middle;
      } else {
        low = middle + 1;
      }
    }
    prompts.first_turn = low;
  }
  std::optional<dialogue::DialogueText>& cut = prompts.cut_sample;
  if (budgets_chat() && budgeted_length(original, prompts.first_turn) > budget) {
    cut = cut_last_turn(original, prompts.first_turn);
  }
  const dialogue::DialogueText& sample = cut ? *cut : original;
  Prompt context = context_prompt(sample, prompts.first_turn);
  keep_last(context.ids, budget);
  prompts.context = std::move(context.ids);
  prompts.context_text = std::move(context.text);
  if (scores_chat_context()) {
    prompts.chat_context = teacher_prompt(context_text(sample, prompts.first_turn));
    keep_last(prompts.chat_context.ids, budget);
  }

  // After a chat template's generation prompt the reply starts at once: no prefix.
  const std::string prefix = chat_.student ? "" : config_.response_prefix;
  prompts.response = as_ids(tokenizer_.encode(prefix + sample.response.text, false));
  const auto room = static_cast<size_t>(config_.max_response_tokens - 1);  // eos follows
  prompts.response_cut = prompts.response.size() > room;
  if (prompts.response_cut) prompts.response.resize(room);
  prompts.response.push_back(eos_id_);

  for (const auto& [name, text] : sample.privileged) {
    prompts.privileged[name] = as_ids(tokenizer_.encode(text, false));
  }
  if (plugin) {
    prompts.hints = plugin->hints(sample, prompts.context);
    prompts.privileged[kEmotionCauseSource] =
        as_ids(tokenizer_.encode(join(prompts.hints.cause_words), false));
  }
  const auto bound = values(sample, prompts.first_turn, prompts.hints);
  if (config_.reasoning) {
    prompts.reasoning_prompt =
        teacher_prompt(render_template(reasoning_template_, bound, "teach.reasoning_template"));
  }
  if (config_.score_emotions) {
    prompts.emotion_prompt =
        teacher_prompt(render_template(emotion_template_, bound, "teach.emotion_template"));
  }
  return prompts;
}

Prompt PromptBuilder::score_prompt(const dialogue::DialogueText& sample,
                                   const SamplePrompts& prompts, const Ids& reasoning) const {
  if (scores_chat_context()) return prompts.chat_context;
  if (config_.score_template.empty()) {
    return {prompts.context_text, prompts.context};
  }
  auto bound = values(fitted(sample, prompts), prompts.first_turn, prompts.hints);
  bound["reasoning"] = tokenizer_.decode({reasoning.begin(), reasoning.end()});
  return teacher_prompt(render_template(config_.score_template, bound, "teach.score_template"));
}

}  // namespace pride::teacher
