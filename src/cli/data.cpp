// `pride data synth | inspect | convert`: synthetic data sets, validation of a data file, and the
// published dialogue data sets to the dialogue text format.
#include <fmt/format.h>

#include <memory>

#include "cli/command.h"
#include "data/inspect.h"
#include "data/synth.h"
#include "dialogue/converters.h"
#include "distributed/communicator.h"
#include "distributed/device.h"
#include "preference/pairs.h"

namespace pride::cli {
namespace {

void add_synth_command(CLI::App& data, CommandTable& table) {
  struct Args {
    std::string out;
    SynthOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* command = table.add(data, "synth", "write a synthetic data set (same seed, same file)",
                                Runs::kInThisProcess, [args](const WorldInfo&) {
                                  synthesize(args->out, args->options);
                                  fmt::print("wrote {} ({} samples, seed {})\n", args->out,
                                             args->options.samples, args->options.seed);
                                  return 0;
                                });
  SynthOptions& options = args->options;
  command->add_option("--out", args->out, "output HDF5 file")->required();
  const auto add = [command](const char* flag, auto& value, const char* about) {
    command->add_option(flag, value, about)->capture_default_str();
  };
  add("--samples", options.samples, "number of samples");
  add("--seed", options.seed, "seed of the samples");
  add("--world-seed", options.world_seed,
      "seed of the generator's tables (keep it equal for train and eval sets)");
  add("--vocab", options.vocab_size, "vocabulary size");
  add("--topk", options.topk, "teacher top-K");
  add("--hidden", options.teacher_hidden, "teacher hidden width");
  add("--emotions", options.num_emotions, "emotion classes");
  add("--causes", options.num_causes, "latent causes");
  add("--audio-dim", options.audio_dim, "audio feature width, 0: none");
  add("--visual-dim", options.visual_dim, "visual feature width, 0: none");
  add("--min-context", options.min_context, "shortest context, tokens");
  add("--max-context", options.max_context, "longest context, tokens");
  command->add_flag("--half", options.half_precision, "store features and log-probs as float16");
  command->add_flag(
      "--teacher-emotions", options.teacher_emotions,
      "add the teacher's emotion distributions, as with an HEF plug-in (docs/hef.md)");
  command->add_flag("--cause-words", options.cause_words,
                    "add the privileged source emotion_cause: a plug-in's cause words");
}

void add_inspect_command(CLI::App& data, CommandTable& table) {
  auto path = std::make_shared<std::string>();
  CLI::App* command = table.add(data, "inspect", "check every invariant of a data file; summary",
                                Runs::kInThisProcess, [path](const WorldInfo&) {
                                  fmt::print("{}", inspect_file(*path).summary());
                                  return 0;
                                });
  command->add_option("file", *path, "HDF5 data file")->required();
}

void add_convert_command(CLI::App& data, CommandTable& table) {
  auto options = std::make_shared<dialogue::ConvertOptions>();
  CLI::App* command = table.add(
      data, "convert", "EmpatheticDialogues, MELD or ESConv to dialogue samples (JSON Lines)",
      Runs::kInThisProcess, [options](const WorldInfo&) {
        const dialogue::ConvertStats stats = dialogue::convert(*options);
        fmt::print("wrote {} samples from {} dialogues to {}", stats.samples, stats.dialogues,
                   options->out);
        if (stats.skipped_empty > 0) fmt::print(" (empty turns skipped: {})", stats.skipped_empty);
        if (!options->features.empty()) {
          fmt::print(" (samples without features: {})", stats.without_features);
        }
        fmt::print("\n");
        return 0;
      });
  command->add_option("--from", options->from, "empathetic-dialogues, meld or esconv")->required();
  command->add_option("--in", options->in, "the data set's CSV (ED, MELD) or JSON (ESConv)")
      ->required();
  command->add_option("--out", options->out, "output JSONL file")->required();
  command->add_option("--features", options->features,
                      "MELD: HDF5 file with /features/dia<D>_utt<U>/{audio,visual}");
  command
      ->add_option("--max-context-turns", options->max_context_turns,
                   "keep at most this many context turns per sample, the latest")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

void add_pairs_command(CLI::App& data, CommandTable& table) {
  auto options = std::make_shared<preference::PairsOptions>();
  CLI::App* command = table.add(
      data, "pairs",
      "preference JSONL (prompt/chosen/rejected) to the preference HDF5 (docs/dpo.md)",
      Runs::kOnEveryRank, [options](const WorldInfo& world) {
        const Config defaults;  // run.device auto: a rank's GPU where there is one
        const torch::Device device = choose_device(defaults, world);
        const auto comm = make_communicator(defaults.dist.backend, device, defaults.dist.timeout_s);
        const auto stats = preference::write_pairs(*options, comm.get(), device);
        if (world.rank != 0) return 0;
        fmt::print("wrote {} ({} pairs, {} of them chat messages{})\n", options->output,
                   stats.pairs, stats.chat_pairs,
                   options->reference.empty() ? "" : ", with the reference's log-probabilities");
        return 0;
      });
  command->add_option("--in", options->input, "JSONL, one pair (or dialogue) per line")->required();
  command
      ->add_option("--from", options->from,
                   "trl: prompt/chosen/rejected lines; dialogues: dialogue JSONL whose "
                   "\"original\" (or --rejected) is the rejected response")
      ->capture_default_str()
      ->check(CLI::IsMember({"trl", "dialogues"}));
  command->add_option("--rejected", options->rejected_file,
                      "--from dialogues: a JSONL of rejected responses, one per dialogue (e.g. "
                      "pride generate's hypothesis_text)");
  command
      ->add_option("--max-context-tokens", options->max_context_tokens,
                   "--from dialogues: the context budget, as teach.max_context_tokens")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--max-response-tokens", options->max_response_tokens,
                   "--from dialogues: the response cap, as teach.max_response_tokens")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  command->add_option("--out", options->output, "output HDF5 file")->required();
  command
      ->add_option("--tokenizer", options->tokenizer,
                   "the student's tokenizer.json, .model or model directory")
      ->required();
  command->add_option("--chat", options->chat, "auto: render message lists in the chat template")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "off"}));
  command->add_option("--reference", options->reference,
                      "store this model's log-probabilities (a Hugging Face model directory or a "
                      "pride student)");
  command
      ->add_option("--vocab-size", options->vocab_size,
                   "the student's vocabulary size (embedding rows); default: the tokenizer's")
      ->check(CLI::NonNegativeNumber);
  command
      ->add_option("--max-seq-len", options->max_seq_len,
                   "rows are cut to this for --reference, as model.max_seq_len cuts them")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  command->add_option("--batch-size", options->batch_size, "pairs scored together")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

}  // namespace

void add_data_commands(CLI::App& app, CommandTable& table) {
  CLI::App* data =
      CommandTable::add_group(app, "data", "synthesize, convert, pair and validate data");
  add_synth_command(*data, table);
  add_inspect_command(*data, table);
  add_convert_command(*data, table);
  add_pairs_command(*data, table);
}

}  // namespace pride::cli
