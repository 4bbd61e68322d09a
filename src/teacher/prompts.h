// The teacher pass's prompts (docs/teacher.md): templates with {placeholders} rendered from a
// dialogue sample, then tokenized into what the HDF5 file stores (the student's context, the gold
// response, the privileged sources) and what the teacher reads (its reasoning prompt and its
// scoring prompt). The oldest context turns are dropped until the context fits its budget.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "dialogue/dialogue.h"
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

// One sample's token lists, before the teacher has reasoned about it.
struct SamplePrompts {
  Ids context;           // the student's context (and the scoring prompt by default)
  Ids response;          // the gold response, ending with eos
  Ids reasoning_prompt;  // empty when teach.reasoning is off
  std::map<std::string, Ids> privileged;  // the sample's own privileged sources (no reasoning yet)
  int64_t first_turn = 0;                 // context turns before this one were dropped to fit
  bool response_cut = false;              // the response was longer than teach.max_response_tokens
};

class PromptBuilder {
 public:
  // Checks every template's placeholders up front, so that a typo fails before any work.
  PromptBuilder(const TeachConfig& config, const text::Tokenizer& tokenizer, int32_t eos_id);

  SamplePrompts prepare(const dialogue::DialogueText& sample) const;
  // What the teacher reads before the gold response: teach.score_template with the reasoning
  // (its ids, decoded only for that template), or the student's context when it is empty.
  Ids score_prompt(const dialogue::DialogueText& sample, const SamplePrompts& prompts,
                   const Ids& reasoning) const;

 private:
  std::map<std::string, std::string> values(const dialogue::DialogueText& sample,
                                            int64_t first_turn) const;
  std::string dialogue_text(const dialogue::DialogueText& sample, int64_t first_turn) const;
  // The student's context from turn `first_turn` on, rendered and encoded (BOS included).
  Ids context_ids(const dialogue::DialogueText& sample, int64_t first_turn) const;

  const TeachConfig& config_;
  const text::Tokenizer& tokenizer_;
  int32_t eos_id_;
  std::string reasoning_template_;
};

}  // namespace pride::teacher
