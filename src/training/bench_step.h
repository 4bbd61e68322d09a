// `pride bench step`: the time of one training step of the student (forward, every loss term,
// backward, AdamW) on a fixed synthetic batch, for comparison with the PyTorch-in-Python
// reference of the same model and step (scripts/bench/reference_step.py).
#pragma once

#include <cstdint>
#include <ostream>

#include <string>
#include "config/config.h"

#include "training/op_counter.h"

namespace pride {

struct StepBenchOptions {
  int64_t warmup = 3;
  int64_t iters = 20;
  bool op_table = false;        // print the operator-by-operator table of the counted step
  size_t op_table_rows = 1000;  // its most frequent operators
  std::string op_sequence;      // if set: this file gets the counted step's operators in order
};

// Times forward + all loss terms + backward + a global-norm clip and an AdamW update of the student
// built from `config` (model.* sizes; vocab from config.model.vocab_size or 512 if 0) on a fixed
// synthetic Batch with the tiny config's shapes (B = train.micro_batch_size, context 16 + response
// 11 tokens, K = 8, teacher hidden 64, audio 8 frames x 16, visual 4 x 16, PI 3 sources of 6/4/4
// tokens, real PI on half the rows). Prints step time (median, ms) and tokens/s (B*T / step time)
// as one JSON line to `out`, with the median process CPU time of a step ("cpu_ms_median": on a
// shared machine it moves less than wall time), the parameter count and the final loss (the Python
// reference, seeded alike, reproduces it). Uses torch's current thread count (reported as
// "threads"). Then counts one more step (training/op_counter.h): "ops" and "host_syncs" per phase,
// with "flops_per_token" (6N and attention); with options.op_table the operator table goes to `out`
// before the JSON line, and with options.op_sequence the operators in order go to that file
// (OpCounts::sequence). The parameters sit in one flat buffer and take FlatAdamW, as in `pride
// train`.
void run_step_benchmark(const Config& config, const StepBenchOptions& options, std::ostream& out);

// The operators and host syncs of the benchmark's step after `warmup` steps (for tests).
OpCounts count_step_operators(const Config& config, int64_t warmup = 1);

}  // namespace pride
