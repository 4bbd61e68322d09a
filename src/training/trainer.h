// `pride train` and `pride eval`: the data-parallel PRIDE training loop and checkpoint evaluation.
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

struct EvalOptions {
  bool generate = false;  // also generate and score responses (training/generation_eval.h)
  std::string out_dir;    // metrics.json and responses.jsonl; "": <run.dir>/eval/step_<N>
  // Score the words of the responses' text in this tokenizer; "": model.tokenizer or init_from's
  // tokenizer, and token ids when there is none.
  std::string tokenizer;
};

// Evaluates the student stored in `checkpoint` on data.eval without PI; returns the metrics JSON.
std::string run_checkpoint_eval(const Config& config, Communicator& comm,
                                const torch::Device& device, const std::string& checkpoint,
                                const EvalOptions& options = {});

// cuda:<local rank> when run.device allows it and CUDA is present, else CPU.
torch::Device choose_device(const Config& config, const WorldInfo& world);

}  // namespace pride
