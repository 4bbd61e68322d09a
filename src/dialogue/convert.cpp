// convert(): picks the converter, writes its samples through a DialogueWriter.
#include <filesystem>

#include "dialogue/converters.h"
#include "util/error.h"

namespace pride::dialogue {
namespace {

// How samples in `out` refer to `features`: relative to out's directory, as the reader resolves.
std::string feature_reference(const std::string& features, const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path out_dir = fs::absolute(out).parent_path();
  const fs::path relative = fs::absolute(features).lexically_relative(out_dir);
  return relative.empty() ? fs::absolute(features).string() : relative.string();
}

}  // namespace

ConvertStats convert(const ConvertOptions& options) {
  if (options.from != "empathetic-dialogues" && options.from != "meld" &&
      options.from != "esconv") {
    fail("--from: unknown data set '{}' (known: empathetic-dialogues, meld, esconv)", options.from);
  }
  if (options.from != "meld" && !options.features.empty()) {
    fail("--features: only MELD has per-utterance features (--from meld)");
  }
  if (!options.features.empty() && !std::filesystem::exists(options.features)) {
    fail("{}: no such feature file", options.features);
  }
  DialogueWriter writer(options.out);
  const SampleSink sink = [&](const DialogueText& sample) { writer.write(sample); };
  ConvertStats stats;
  if (options.from == "empathetic-dialogues") {
    stats = convert_empathetic_dialogues(options.in, sink, options.max_context_turns);
  } else if (options.from == "meld") {
    const MeldFeatures features{
        options.features,
        options.features.empty() ? "" : feature_reference(options.features, options.out)};
    stats = convert_meld(options.in, features, sink, options.max_context_turns);
  } else {
    stats = convert_esconv(options.in, sink, options.max_context_turns);
  }
  writer.close();
  return stats;
}

}  // namespace pride::dialogue
