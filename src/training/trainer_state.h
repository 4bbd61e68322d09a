// What a checkpoint holds of a training run (parameters, AdamW moments and step, the CPU RNG, the
// skipped-step count) and putting it back: the trainer's snapshot and restore.
#pragma once

#include <torch/torch.h>

#include <string>

#include "checkpoints/checkpoint.h"
#include "config/config.h"
#include "models/flat_state.h"
#include "sharding/sampler.h"
#include "training/distributed_adamw.h"

namespace pride {

// Counters that live beside the tensors and continue across a resume.
struct TrainerCounters {
  int64_t skipped_steps = 0;  // steps whose update was skipped (non-finite gradient norm)
};

// Collective under ZeRO-1 (the optimizer state is gathered from every rank's slice).
CheckpointState snapshot_trainer(int64_t step, const Config& config, const GlobalBatchPlan& plan,
                                 const FlatParameters& flat, DistributedAdamW& optimizer,
                                 const TrainerCounters& counters);

// Restores parameters, optimizer state and the CPU RNG from `state` (loaded from `path`);
// returns the counters it held. Mismatched sizes are errors naming the checkpoint.
TrainerCounters restore_trainer(const CheckpointState& state, const std::string& path,
                                const Config& config, FlatParameters& flat,
                                DistributedAdamW& optimizer);

}  // namespace pride
