// The `pride` binary: parses the command line against the command table (src/cli/, one file per
// command; `pride --help` lists them) and runs the command chosen, in this process or on every rank
// of an MPI job.
// Exit codes: 0 success, 2 bad input (a pride::Error: the message names the file, key or sample),
// 69 a transient fault (collective timeout, lost rank, full disk: the Slurm templates requeue a
// bounded number of times), 1 any other failure, 75 preempted after a checkpoint (requeued).
#include <fmt/format.h>
#include <torch/version.h>
#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "cli/process.h"
#include "distributed/communicator.h"

namespace {

std::string version() {
#ifdef PRIDE_WITH_NCCL
  const char* nccl = "built";
#else
  const char* nccl = "not built";
#endif
  return fmt::format("pride 0.1.0 (LibTorch {}, NCCL backend {})", TORCH_VERSION, nccl);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pride::cli;
  return run_reporting_errors([&] {
    CLI::App app{"pride: privileged-information knowledge distillation trainer"};
    app.require_subcommand(1);
    app.set_version_flag("--version", version());
    CommandTable table;
    add_all_commands(app, table);
    CLI11_PARSE(app, argc, argv);
    const Command& command = table.chosen();
    if (command.runs == Runs::kOnEveryRank) return run_on_every_rank(&argc, &argv, command.run);
    return command.run(pride::WorldInfo{});
  });
}
