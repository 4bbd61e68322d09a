// train.micro_batch_size: auto. The largest micro-batch a rank can train, so that accumulation
// fills the global batch in as few micro-steps as the device allows (the global batch never
// changes: train.global_batch_size is what the model needs).
//   On CUDA: a short probe. Forward, every loss term and backward of synthetic rows as long as
//   model.max_seq_len (the longest a batch can be), under the run's precision and activation
//   checkpointing; the memory the caching allocator had to reserve for it, against what was free
//   before, less a safety margin. Two small probes give the cost of a row, the largest divisor of
//   the rank's share of the global batch that the estimate allows is probed to confirm it, and a
//   smaller divisor taken while it does not fit.
//   Elsewhere (the CPU): no probe; the rank's share, capped at kDefaultMicroBatch (host memory is
//   rarely what limits a CPU run, and a larger micro-batch gains a CPU nothing per token).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>

#include "config/config.h"
#include "data/sample.h"
#include "models/student.h"

namespace pride {

// The share of memory free at the start that a probed micro-batch may use.
inline constexpr double kProbeMemoryShare = 0.85;

struct MicroBatchChoice {
  int64_t micro_batch = 0;
  std::string how;  // one sentence for the run's log
};

// `per_rank` samples a step on this rank (global batch / world size); `zero_grad` clears what the
// probe's backward accumulated. train.micro_batch_size other than auto is returned as is.
MicroBatchChoice choose_micro_batch(const Config& config, Student& model, const DatasetInfo& info,
                                    const torch::Device& device, int64_t per_rank,
                                    const std::function<void()>& zero_grad);

// The largest divisor of `per_rank` that is at most `cap` (at least 1).
int64_t largest_divisor_at_most(int64_t per_rank, int64_t cap);

}  // namespace pride
