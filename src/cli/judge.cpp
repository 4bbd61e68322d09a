// `pride judge --config F`: pairwise empathy judgments (judge/judge.h) on every rank.
#include "judge/judge.h"
#include "cli/config_args.h"

namespace pride::cli {

void add_judge_command(CLI::App& app, CommandTable& table) {
  add_rank_job(
      app, table, "judge",
      "empathy win rate of judge.a against judge.b, judged in both orders by an LM (docs/judge.md)",
      [](Rank& rank) { judge::run_judge(rank.config, *rank.comm, rank.device); });
}

}  // namespace pride::cli
