// `pride teach --config F`: the teacher pass (dialogue JSONL -> training HDF5) on every rank.
#include <memory>

#include "cli/command.h"
#include "cli/config_args.h"
#include "teacher/teacher_pass.h"

namespace pride::cli {

void add_teach_command(CLI::App& app, CommandTable& table) {
  auto config_args = std::make_shared<ConfigArgs>();
  CLI::App* command = table.add(
      app, "teach",
      "teacher pass: dialogue JSONL -> training HDF5 (reasoning PI, top-K, hidden states)",
      Runs::kOnEveryRank, [config_args](const WorldInfo& world) {
        Rank rank = set_up_rank(*config_args, world);
        teacher::run_teach(rank.config, *rank.comm, rank.device);
        return 0;
      });
  config_args->add_to(command);
}

}  // namespace pride::cli
