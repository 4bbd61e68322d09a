// `pride eval --config F --checkpoint DIR [--generate]`: PI-free evaluation of a stored student.
#include <fmt/format.h>

#include <memory>

#include "cli/command.h"
#include "cli/config_args.h"
#include "eval/checkpoint_eval.h"

namespace pride::cli {

void add_eval_command(CLI::App& app, CommandTable& table) {
  struct Args {
    ConfigArgs config;
    std::string checkpoint;
    EvalOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* command = table.add(app, "eval", "evaluate a checkpoint on data.eval without PI (JSON)",
                                Runs::kOnEveryRank, [args](const WorldInfo& world) {
                                  Rank rank = set_up_rank(args->config, world);
                                  const std::string metrics =
                                      run_checkpoint_eval(rank.config, *rank.comm, rank.device,
                                                          args->checkpoint, args->options);
                                  if (world.rank == 0) fmt::print("{}\n", metrics);
                                  return 0;
                                });
  args->config.add_to(command);
  command->add_option("--checkpoint", args->checkpoint, "checkpoint directory or checkpoint root")
      ->required();
  command->add_flag("--generate", args->options.generate,
                    "also generate responses (eval.* options) and score BLEU, ROUGE-L, Dist-n");
  command->add_option("--out", args->options.out_dir,
                      "with --generate: directory for metrics.json and responses.jsonl (default "
                      "<run.dir>/eval/step_<N>)");
  command->add_option("--tokenizer", args->options.tokenizer,
                      "with --generate: score the words of the decoded responses (tokenizer.json, "
                      ".model or a directory; default model.tokenizer or init_from's; none: ids)");
}

}  // namespace pride::cli
