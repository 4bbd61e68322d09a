// `pride data convert --from empathetic-dialogues|meld|esconv --in FILE --out FILE.jsonl
// [--features FILE.h5]`: the converter's samples to a JSONL file, and a one-line summary.
#include "dialogue/convert_command.h"

#include <fmt/format.h>

#include <memory>

#include "dialogue/converters.h"

namespace pride::dialogue {

void add_convert_command(CLI::App& data) {
  auto options = std::make_shared<ConvertOptions>();
  auto* command = data.add_subcommand(
      "convert", "EmpatheticDialogues, MELD or ESConv to dialogue samples (JSON Lines)");
  command->add_option("--from", options->from, "empathetic-dialogues, meld or esconv")->required();
  command->add_option("--in", options->in, "the data set's CSV (ED, MELD) or JSON (ESConv)")
      ->required();
  command->add_option("--out", options->out, "output JSONL file")->required();
  command->add_option("--features", options->features,
                      "MELD: HDF5 file with /features/dia<D>_utt<U>/{audio,visual}");
  command->callback([options] {
    const ConvertStats stats = convert(*options);
    fmt::print("wrote {} samples from {} dialogues to {}", stats.samples, stats.dialogues,
               options->out);
    if (stats.skipped_empty > 0) fmt::print(" (empty turns skipped: {})", stats.skipped_empty);
    if (!options->features.empty()) {
      fmt::print(" (samples without features: {})", stats.without_features);
    }
    fmt::print("\n");
  });
}

}  // namespace pride::dialogue
