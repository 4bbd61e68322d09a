// `pride train --config F [--set k=v]... [--resume auto|PATH]`: trains a student on every rank.
#include <memory>

#include "cli/command.h"
#include "cli/config_args.h"
#include "training/trainer.h"

namespace pride::cli {

void add_train_command(CLI::App& app, CommandTable& table) {
  struct Args {
    ConfigArgs config;
    TrainOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* command =
      table.add(app, "train", "train a student (start with mpirun/srun for N ranks)",
                Runs::kOnEveryRank, [args](const WorldInfo& world) {
                  Rank rank = set_up_rank(args->config, world);
                  return run_training(rank.config, *rank.comm, rank.device, args->options);
                });
  args->config.add_to(command);
  command->add_option("--resume", args->options.resume,
                      "auto (newest valid checkpoint, if any) or a checkpoint path");
}

}  // namespace pride::cli
