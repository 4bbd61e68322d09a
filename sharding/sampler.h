// Which samples each rank trains on at each step.
//
// The global sample sequence depends only on (seed, epoch): a deterministic permutation of the
// data set per epoch, cut into global batches of B samples. The tail of each epoch that does not
// fill a whole global batch is dropped, so every rank runs the same number of steps whatever the
// world size and the sample count (no rank waits at an epoch end for a batch that never comes).
//
// A global batch of B samples gives each of the W ranks B / W of them (B must divide evenly), in
// `accumulation_steps` micro-batches of micro_batch() samples: the largest divisor of B / W that
// fits under the per-rank cap (train.micro_batch_size, a memory bound). In micro-step j, rank r
// takes the r-th contiguous slice of micro_batch() samples of the j-th block of micro_batch() * W.
// Which split is chosen never changes what a step computes (the trainer normalises every term,
// MMD included, over the global batch); it only bounds memory.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace pride {

struct BatchPlanOptions {
  int64_t num_samples = 0;
  int64_t global_batch = 0;
  int64_t max_micro_batch = 0;  // per rank and forward/backward: a cap, not a requirement
  int world_size = 1;
  uint64_t seed = 0;
  // When set, each global batch is ordered by this length before it is cut into micro-batches,
  // so rows of one micro-batch have similar lengths (less padding). Membership of each global
  // batch, and therefore the global sample sequence, is unchanged.
  std::function<int64_t(int64_t)> length_of;
};

class GlobalBatchPlan {
 public:
  explicit GlobalBatchPlan(BatchPlanOptions options);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t micro_batch() const { return micro_batch_; }
  int64_t accumulation_steps() const { return accumulation_steps_; }
  int64_t epoch_of(int64_t step) const { return step / steps_per_epoch_; }

  // The B sample indices of global step `step`, in micro-step then rank order.
  std::vector<int64_t> global_batch(int64_t step) const;
  // This rank's micro-batches for `step`: accumulation_steps() lists of micro_batch() indices.
  std::vector<std::vector<int64_t>> rank_micro_batches(int64_t step, int rank) const;

 private:
  const std::vector<int64_t>& permutation(int64_t epoch) const;

  BatchPlanOptions options_;
  int64_t steps_per_epoch_ = 0;
  int64_t micro_batch_ = 0;
  int64_t accumulation_steps_ = 0;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_permutation_;
};

// A deterministic permutation of [0, n) from (seed, epoch), independent of the standard library's
// unspecified shuffle and distributions, so every platform sees the same order.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// A uniform double in [0, 1) from a seed and two keys (splitmix64 mixing): stateless randomness
// that is identical on every rank and after a resume.
double hash_uniform(uint64_t seed, uint64_t key1, uint64_t key2);

}  // namespace pride
