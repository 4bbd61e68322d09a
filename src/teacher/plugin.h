// The HEF plug-in (docs/hef.md): a trained pride student used, PI-free as at inference, as a small
// empathetic model beside a large one. For a dialogue's context it gives the emotion distribution
// of its emotion head and each word's attribution to the predicted emotion: integrated gradients
// of the predicted emotion's logit with respect to the input token embeddings, from a zero
// baseline with a right Riemann sum of `steps` points (steps = 1 is gradient x input), summed over
// the embedding width and over each word's tokens; words are rebuilt from the decoded pieces.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "dialogue/dialogue.h"
#include "models/student_init.h"
#include "teacher/prompts.h"
#include "text/tokenizer.h"

namespace pride::teacher {

struct WordScore {
  std::string word;  // as it stands in the dialogue, edge punctuation stripped
  double score = 0;  // summed attribution of its tokens
};

// What the plug-in reads in one context.
struct PluginReading {
  std::vector<float> probabilities;      // [E], softmax of the emotion head
  std::vector<int64_t> ranked;           // label indices, most likely first
  std::vector<double> token_scores;      // per context token (after the cut to max_seq_len)
  std::vector<int32_t> context_ids;      // the tokens read
  std::vector<WordScore> words;          // the dialogue turns' words, in context order
  std::vector<std::string> cause_words;  // the top-m words by score, highest first
};

class EmotionPlugin : public HintSource {
 public:
  // `labels`: the data's label set, which the checkpoint's must equal (an error naming both).
  // `tokenizer`: the one the context ids are in; the checkpoint's data must have used it.
  EmotionPlugin(const TeachConfig& config, const std::vector<std::string>& labels,
                const text::Tokenizer& tokenizer, torch::Device device);

  PluginReading read(const dialogue::DialogueText& sample, const std::vector<int32_t>& context_ids);
  PluginHints hints(const dialogue::DialogueText& sample,
                    const std::vector<int32_t>& context_ids) override;
  // The reading behind the last hints() (pride hef reports it whole).
  const PluginReading& last_reading() const { return last_; }
  // The checkpoint's path and step, for the teach run's fingerprint.
  std::string identity() const;

 private:
  // Integrated gradients of the predicted emotion's logit per token; fills probabilities/ranked.
  void attribute(PluginReading& reading);
  std::vector<WordScore> words_of(const dialogue::DialogueText& sample,
                                  const PluginReading& reading) const;

  const TeachConfig& config_;
  std::vector<std::string> labels_;
  const text::Tokenizer& tokenizer_;
  torch::Device device_;
  LoadedStudent student_;
  PluginReading last_;
};

}  // namespace pride::teacher
