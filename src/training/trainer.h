// `pride train`: the data-parallel PRIDE training loop.
#pragma once

#include <string>

#include "config/config.h"
#include "distributed/communicator.h"

namespace pride {

struct TrainOptions {
  std::string resume;  // "": start fresh; "auto": newest valid checkpoint if any; else a path
};

// Runs training to train.max_steps (or until preempted). Returns the process exit code:
// 0 when finished, kPreemptedExitCode after a preemption save.
int run_training(const Config& config, Communicator& comm, const torch::Device& device,
                 const TrainOptions& options);

}  // namespace pride
