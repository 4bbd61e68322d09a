// `pride bench allreduce [--backend B]` (communicator bandwidth on every rank) and
// `pride bench step --config F` (one training step's time, in one process).
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/config_args.h"
#include "distributed/bench_allreduce.h"
#include "distributed/device.h"
#include "training/bench_step.h"

namespace pride::cli {

void add_bench_commands(CLI::App& app, CommandTable& table) {
  CLI::App* bench = CommandTable::add_group(app, "bench", "benchmarks");
  auto backend = std::make_shared<std::string>("auto");
  CLI::App* allreduce =
      table.add(*bench, "allreduce", "all-reduce bandwidth vs memcpy", Runs::kOnEveryRank,
                [backend](const WorldInfo& world) {
                  const Config defaults;
                  const torch::Device device = choose_device(defaults, world);
                  auto comm = make_communicator(*backend, device, defaults.dist.timeout_s);
                  run_allreduce_benchmark(*comm, std::cout);
                  return 0;
                });
  allreduce->add_option("--backend", *backend, "auto, mpi or nccl");
  // One process with torch's default threads, as the Python reference step runs.
  auto config_args = std::make_shared<ConfigArgs>();
  auto step_options = std::make_shared<StepBenchOptions>();
  CLI::App* step = table.add(*bench, "step",
                             "one training step's time and operator count (vs reference_step.py)",
                             Runs::kInThisProcess, [config_args, step_options](const WorldInfo&) {
                               run_step_benchmark(config_args->load(), *step_options, std::cout);
                               return 0;
                             });
  config_args->add_to(step);
  step->add_flag("--ops", step_options->op_table,
                 "print the counted step's operators one by one, by phase");
  step->add_option("--ops-sequence", step_options->op_sequence,
                   "write the counted step's operators in dispatch order to this file (TSV: "
                   "phase, autograd node, operator), to see which code dispatches them");
  step->add_option("--warmup", step_options->warmup, "untimed steps first (default 3)");
  step->add_option("--iters", step_options->iters, "timed steps (default 20)");
}

}  // namespace pride::cli
