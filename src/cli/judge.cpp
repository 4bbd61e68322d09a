// `pride judge --config F`: pairwise empathy judgments (judge/judge.h) on every rank.
#include <memory>

#include "cli/command.h"
#include "cli/config_args.h"
#include "judge/judge.h"

namespace pride::cli {

void add_judge_command(CLI::App& app, CommandTable& table) {
  auto config_args = std::make_shared<ConfigArgs>();
  CLI::App* command = table.add(
      app, "judge",
      "empathy win rate of judge.a against judge.b, judged in both orders by an LM (docs/judge.md)",
      Runs::kOnEveryRank, [config_args](const WorldInfo& world) {
        Rank rank = set_up_rank(*config_args, world);
        judge::run_judge(rank.config, *rank.comm, rank.device);
        return 0;
      });
  config_args->add_to(command);
}

}  // namespace pride::cli
