// `pride hef --config F`: HEF inference (hef/hef_run.h) on every rank.
#include <memory>

#include "cli/command.h"
#include "cli/config_args.h"
#include "hef/hef_run.h"

namespace pride::cli {

void add_hef_command(CLI::App& app, CommandTable& table) {
  auto config_args = std::make_shared<ConfigArgs>();
  CLI::App* command = table.add(app, "hef",
                                "HEF inference: the teacher's emotion and response with and "
                                "without the plug-in (docs/hef.md)",
                                Runs::kOnEveryRank, [config_args](const WorldInfo& world) {
                                  Rank rank = set_up_rank(*config_args, world);
                                  hef::run_hef(rank.config, *rank.comm, rank.device);
                                  return 0;
                                });
  config_args->add_to(command);
}

}  // namespace pride::cli
