// The optimizer step across ranks, in one of two layouts (dist.zero):
//   0 - plain data parallel: gradient buckets all-reduced from backward hooks
//       (GradientSynchronizer), then every rank clips and runs AdamW on the whole flat buffer;
//   1 - ZeRO-1: one reduce-scatter leaves each rank the average gradient of its 1/N slice of the
//       flat buffer; each rank clips (global norm over the slices) and runs AdamW on its slice
//       only, holding optimizer state for it alone; an all-gather rebuilds the parameters.
// Both give the same parameters up to float summation order. Only the trainable parameters take
// part (FlatParameters' buffers): frozen ones have no gradient, no state and no communication.
// Checkpoints hold the full state either way ("optim.exp_avg", "optim.exp_avg_sq" of every
// trainable element), so a run can resume at another world size or with ZeRO switched on or off.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>

#include "distributed/communicator.h"
#include "distributed/grad_sync.h"
#include "models/flat_state.h"

namespace pride {

struct DistributedAdamWOptions {
  AdamWOptions adamw;
  int64_t zero_stage = 0;  // 0 or 1
  double bucket_mb = 25;
  bool reorder_buckets = true;  // GradientSynchronizer's ready-order buckets (stage 0)
};

class DistributedAdamW {
 public:
  // `flat` must be padded to a multiple of the world size (FlatParameters' pad_to_multiple_of).
  DistributedAdamW(Communicator& comm, FlatParameters& flat, DistributedAdamWOptions options);

  // Call before backward of the last micro-batch of a step (stage 0 starts its buckets from
  // hooks; stage 1 communicates only in step()).
  void arm();
  // Averages the gradients over ranks, clips them to max_norm (0: no clipping) and applies
  // AdamW with learning rate lr. Returns the gradient's global norm before clipping. A norm that
  // is NaN or infinite (the same on every rank) applies nothing: the caller counts the skip.
  double step(double lr, double max_norm);
  // Seconds of the last step that gradient communication held up (see GradientSynchronizer).
  double comm_exposed_s() const { return comm_exposed_s_; }

  // The full optimizer state for checkpoints: under ZeRO-1 an all-gather (collective: every
  // rank calls it).
  torch::Tensor full_exp_avg() { return full_state(adamw_.exp_avg()); }
  torch::Tensor full_exp_avg_sq() { return full_state(adamw_.exp_avg_sq()); }
  // Loads full state tensors (trainable_numel() elements each), keeping this rank's slice under
  // ZeRO-1.
  void load_state(const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq,
                  int64_t step_count);
  int64_t step_count() const { return adamw_.step_count(); }
  // Bytes of optimizer state (AdamW's two moments) this rank holds.
  int64_t state_bytes() const;
  // Bytes of gradient buffers this rank holds (the flat buffer, and ZeRO-1's reduce-scatter slice).
  int64_t gradient_bytes() const;

 private:
  torch::Tensor full_state(const torch::Tensor& mine);
  double step_zero(double lr, double max_norm);

  Communicator& comm_;
  FlatParameters& flat_;
  int64_t zero_stage_;
  int64_t slice_begin_ = 0, slice_length_ = 0;  // this rank's part of the padded buffers
  FlatAdamW adamw_;
  std::optional<GradientSynchronizer> sync_;  // stage 0
  torch::Tensor grad_slice_;                  // stage 1: the reduce-scatter's output
  double comm_exposed_s_ = 0;
};

}  // namespace pride
