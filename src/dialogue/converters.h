// Converters from the published dialogue data sets into dialogue samples (docs/dialogue-text.md):
// EmpatheticDialogues CSV, MELD CSV (with an optional HDF5 feature file) and ESConv JSON.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dialogue/dialogue.h"

namespace pride::dialogue {

using SampleSink = std::function<void(const DialogueText&)>;

// The most context turns a converted sample keeps: the latest ones before its response. Without
// a cap a dialogue of n turns makes samples of up to n turns each, n^2/2 turns in all (a hostile
// 50k-utterance CSV: ~10^9 turn copies); with it, conversion is linear. Real dialogues are far
// shorter (EmpatheticDialogues <= 8 turns, MELD <= 24, ESConv ~30, rarely over 60), and the
// teacher pass keeps only what fits teach.max_context_tokens anyway (docs/dialogue-text.md).
constexpr size_t kDefaultMaxContextTurns = 64;

// The context of the response at `index` of `turns`: up to `max_turns` turns before it, oldest
// first, each made by `to_turn`.
template <typename Item, typename ToTurn>
std::vector<Turn> context_before(const std::vector<Item>& turns, size_t index, size_t max_turns,
                                 const ToTurn& to_turn) {
  const size_t first = index > max_turns ? index - max_turns : 0;
  std::vector<Turn> context;
  context.reserve(index - first);
  for (size_t k = first; k < index; ++k) context.push_back(to_turn(turns[k]));
  return context;
}

struct ConvertStats {
  int64_t samples = 0;
  int64_t dialogues = 0;
  int64_t skipped_empty = 0;     // turns that would be samples but whose text is empty
  int64_t without_features = 0;  // MELD with a feature file: samples it has nothing for
};

// One sample per listener turn (even utterance_idx); the earlier turns are its context, the
// conversation's `context` column its emotion (empathetic-dialogues-32), `prompt` the privileged
// source `situation`.
ConvertStats convert_empathetic_dialogues(const std::string& csv_path, const SampleSink& sink,
                                          size_t max_context_turns = kDefaultMaxContextTurns);

struct MeldFeatures {
  std::string path;       // the HDF5 feature file to open ("" for none)
  std::string reference;  // how samples refer to it (relative to the output's directory)
};

// One sample per utterance with the earlier utterances of its dialogue as context (meld-7); the
// next up to 3 utterances are the privileged source `future_summary`. With a feature file,
// samples whose /features/dia<D>_utt<U>/{audio,visual} exist refer to them.
ConvertStats convert_meld(const std::string& csv_path, const MeldFeatures& features,
                          const SampleSink& sink,
                          size_t max_context_turns = kDefaultMaxContextTurns);

// One sample per supporter turn (esconv-11 from emotion_type); `situation`, `problem` and the
// response's `strategy` are privileged sources.
ConvertStats convert_esconv(const std::string& json_path, const SampleSink& sink,
                            size_t max_context_turns = kDefaultMaxContextTurns);

struct ConvertOptions {
  std::string from;  // empathetic-dialogues, meld or esconv
  std::string in, out;
  std::string features;  // meld only
  size_t max_context_turns = kDefaultMaxContextTurns;
};

// Converts options.in into options.out (written whole or not at all).
ConvertStats convert(const ConvertOptions& options);

}  // namespace pride::dialogue
