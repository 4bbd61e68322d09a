// Converters from the published dialogue data sets into dialogue samples (docs/dialogue-text.md):
// EmpatheticDialogues CSV, MELD CSV (with an optional HDF5 feature file) and ESConv JSON.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "dialogue/dialogue.h"

namespace pride::dialogue {

using SampleSink = std::function<void(const DialogueText&)>;

struct ConvertStats {
  int64_t samples = 0;
  int64_t dialogues = 0;
  int64_t skipped_empty = 0;     // turns that would be samples but whose text is empty
  int64_t without_features = 0;  // MELD with a feature file: samples it has nothing for
};

// One sample per listener turn (even utterance_idx); the earlier turns are its context, the
// conversation's `context` column its emotion (empathetic-dialogues-32), `prompt` the privileged
// source `situation`.
ConvertStats convert_empathetic_dialogues(const std::string& csv_path, const SampleSink& sink);

struct MeldFeatures {
  std::string path;       // the HDF5 feature file to open ("" for none)
  std::string reference;  // how samples refer to it (relative to the output's directory)
};

// One sample per utterance with the earlier utterances of its dialogue as context (meld-7); the
// next up to 3 utterances are the privileged source `future_summary`. With a feature file,
// samples whose /features/dia<D>_utt<U>/{audio,visual} exist refer to them.
ConvertStats convert_meld(const std::string& csv_path, const MeldFeatures& features,
                          const SampleSink& sink);

// One sample per supporter turn (esconv-11 from emotion_type); `situation`, `problem` and the
// response's `strategy` are privileged sources.
ConvertStats convert_esconv(const std::string& json_path, const SampleSink& sink);

struct ConvertOptions {
  std::string from;  // empathetic-dialogues, meld or esconv
  std::string in, out;
  std::string features;  // meld only
};

// Converts options.in into options.out (written whole or not at all).
ConvertStats convert(const ConvertOptions& options);

}  // namespace pride::dialogue
