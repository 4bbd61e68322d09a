// `pride hef --config F`: HEF inference (hef/hef_run.h) on every rank.
#include "cli/config_args.h"
#include "hef/hef_run.h"

namespace pride::cli {

void add_hef_command(CLI::App& app, CommandTable& table) {
  add_rank_job(app, table, "hef",
               "HEF inference: the teacher's emotion and response with and without the plug-in "
               "(docs/hef.md)",
               [](Rank& rank) { hef::run_hef(rank.config, *rank.comm, rank.device); });
}

}  // namespace pride::cli
