// The teacher pass's prompts (docs/teacher.md): templates with {placeholders} rendered from a
// dialogue sample, then tokenized into what the HDF5 file stores (the student's context, the gold
// response, the privileged sources) and what the teacher reads (its reasoning prompt and its
// scoring prompt). The oldest context turns are dropped until the context fits its budget.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "dialogue/dialogue.h"
#include "teacher/chat_prompts.h"
#include "text/tokenizer.h"

namespace pride::teacher {

using Ids = std::vector<int32_t>;

// `text` with each {name} replaced by values.at(name); "{{" and "}}" are literal braces. An
// unknown or unclosed placeholder is a pride::Error naming `key` (the config key of the template).
std::string render_template(const std::string& text,
                            const std::map<std::string, std::string>& values,
                            const std::string& key);

// The built-in reasoning prompt: feelings first, then the situation, then what a reply must
// address.
extern const char kDefaultReasoningTemplate[];
// The built-in direct response prompt (teach.mode respond, and pride hef without the plug-in).
extern const char kDirectResponseTemplate[];
// The built-in empathy-improvement prompt of teach.improve_set (feeling, situation, invite,
// warmth): it shows the reply to improve ({response}) and asks for one targeted change.
const char* improve_template(const std::string& set);
// The built-in emotion prompt (teach.score_emotions): each label's text follows it.
extern const char kDefaultEmotionTemplate[];
// teach.prompt_set hef (docs/hef.md): the same prompts with the plug-in's emotion candidates,
// to be considered first, and its cause words, to focus on.
extern const char kHefReasoningTemplate[];
extern const char kHefEmotionTemplate[];

// What an HEF plug-in found in one sample (teacher/plugin.h), as the templates' placeholders read
// it.
struct PluginHints {
  std::vector<std::string> candidates;  // {emotion_candidates}: the top-k labels, most likely first
  std::vector<std::string> others;      // {other_emotions}: the remaining labels, in class order
  std::vector<std::string> cause_words;  // {cause_words}: the top-m words, most attributed first
};

// The source of a sample's hints: the plug-in, reading the student's context prompt.
class HintSource {
 public:
  virtual ~HintSource() = default;
  virtual PluginHints hints(const dialogue::DialogueText& sample,
                            const std::vector<int32_t>& context_ids) = 0;
};

// The privileged source that holds the plug-in's cause words.
inline constexpr char kEmotionCauseSource[] = "emotion_cause";

// A prompt as rendered (in a chat format where one applies) and its ids.
struct Prompt {
  std::string text;
  Ids ids;
};

// One sample's token lists, before the teacher has reasoned about it.
struct SamplePrompts {
  Ids context;  // the student's context (and the scoring prompt by default, without teach.chat)
  std::string context_text;  // the context as rendered (before a cut to the budget)
  Ids response;              // the gold response, ending with eos
  Prompt reasoning_prompt;   // empty when teach.reasoning is off
  Prompt emotion_prompt;     // empty unless teach.score_emotions
  PluginHints hints;         // empty without teach.plugin
  // Under teach.chat with an empty teach.score_template: the context as a request in the
  // teacher's chat format, budgeted with the context.
  Prompt chat_context;
  std::map<std::string, Ids> privileged;  // the sample's own privileged sources (no reasoning yet)
  int64_t first_turn = 0;                 // context turns before this one were dropped to fit
  bool response_cut = false;              // the response was longer than teach.max_response_tokens
  // The sample with its last turn's text cut to the budget (a chat template's frame kept), when
  // that was needed: what every later prompt of the sample renders.
  std::optional<dialogue::DialogueText> cut_sample;
};

class PromptBuilder {
 public:
  // Checks every template's placeholders up front, so that a typo fails before any work.
  // `chat`: the teacher's and the student's chat templates (none: plain text prompts).
  // `labels`: the label set's names, in class order ({emotion_labels}, {other_emotions}).
  PromptBuilder(const TeachConfig& config, const text::Tokenizer& tokenizer, int32_t eos_id,
                const ChatTemplates& chat, std::vector<std::string> labels = {});

  // `plugin` (teach.plugin): read once the context is known; its cause words become the
  // privileged source emotion_cause and its hints fill the templates' placeholders.
  SamplePrompts prepare(const dialogue::DialogueText& sample, HintSource* plugin = nullptr) const;
  // Checks a request template's placeholders now (those of the emotion prompt, and
  // `extra_keys`, e.g. {response} for an improvement prompt); `key` names it.
  void check_request_template(const std::string& text, const std::string& key,
                              const std::vector<std::string>& extra_keys = {}) const;
  // A request to the teacher from `text_template` with the sample's values and hints, rendered
  // like the reasoning prompt (in the teacher's chat format where one applies).
  Prompt request(const std::string& text_template, const std::string& key,
                 const dialogue::DialogueText& sample, const SamplePrompts& prompts) const;
  // Each emotion label's ids as they follow the emotion prompt (after a space in a plain text
  // prompt; at once after a chat template's generation prompt).
  std::vector<Ids> label_ids() const;
  // What the teacher reads before the gold response: teach.score_template with the reasoning
  // (its ids, decoded only for that template), or the context when it is empty.
  Prompt score_prompt(const dialogue::DialogueText& sample, const SamplePrompts& prompts,
                      const Ids& reasoning) const;

 private:
  std::map<std::string, std::string> values(const dialogue::DialogueText& sample,
                                            int64_t first_turn, const PluginHints& hints) const;
  // The sample as prepare() fitted it to the budget.
  static const dialogue::DialogueText& fitted(const dialogue::DialogueText& sample,
                                              const SamplePrompts& prompts) {
    return prompts.cut_sample ? *prompts.cut_sample : sample;
  }
  std::string dialogue_text(const dialogue::DialogueText& sample, int64_t first_turn) const;
  std::string context_text(const dialogue::DialogueText& sample, int64_t first_turn) const;
  // The student's context from turn `first_turn` on, rendered and encoded: the text template
  // (BOS added), or the dialogue's messages in the student's chat template (model.chat).
  Prompt context_prompt(const dialogue::DialogueText& sample, int64_t first_turn) const;
  // A prompt for the teacher: `text` as it is (BOS added), or as the user's request in the
  // teacher's chat format (teach.system_prompt first).
  Prompt teacher_prompt(const std::string& text) const;
  bool scores_chat_context() const { return chat_.teacher && config_.score_template.empty(); }
  // The longest of the prompts the context budget bounds, from turn `first_turn` on.
  size_t budgeted_length(const dialogue::DialogueText& sample, int64_t first_turn) const;
  // Whether a budgeted prompt is rendered in a chat template (the student's or the teacher's).
  bool budgets_chat() const { return chat_.student || scores_chat_context(); }
  // Under a chat template, when the last turn alone is over the budget: the sample with the
  // start of that turn's text cut until the prompts fit, so that the template's frame (BOS,
  // headers, generation prompt) stays whole. An error when the frame alone is over the budget.
  dialogue::DialogueText cut_last_turn(const dialogue::DialogueText& sample,
                                       int64_t first_turn) const;

  const TeachConfig& config_;
  const text::Tokenizer& tokenizer_;
  int32_t eos_id_;
  std::string reasoning_template_, emotion_template_;
  const ChatTemplates& chat_;
  std::vector<std::string> labels_;
};

}  // namespace pride::teacher
