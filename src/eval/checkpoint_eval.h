// `pride eval`: a stored student evaluated on data.eval without PI, optionally with generation.
#pragma once

#include <string>

#include "config/config.h"
#include "distributed/communicator.h"

namespace pride {

struct EvalOptions {
  bool generate = false;  // also generate and score responses (eval/generation_eval.h)
  std::string out_dir;    // metrics.json and responses.jsonl; "": <run.dir>/eval/step_<N>
  // Score the words of the responses' text in this tokenizer; "": model.tokenizer or init_from's
  // tokenizer, and token ids when there is none.
  std::string tokenizer;
};

// Evaluates the student stored in `checkpoint` on data.eval without PI; returns the metrics JSON.
std::string run_checkpoint_eval(const Config& config, Communicator& comm,
                                const torch::Device& device, const std::string& checkpoint,
                                const EvalOptions& options = {});

}  // namespace pride
