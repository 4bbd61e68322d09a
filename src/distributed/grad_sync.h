// GradientSynchronizer: averages the flat gradient buffer over ranks in buckets, starting each
// bucket's all-reduce from autograd hooks as soon as its gradients are final, so communication
// overlaps the rest of backward (the scheme of PyTorch DDP's reducer, without its generality).
// As DDP does, it records the order in which gradients become final on the first step, agrees on
// rank 0's order, and rebuilds the buckets in that order: a module used early in forward (the PI
// predictor) then no longer holds up the first bucket until the end of backward.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "distributed/communicator.h"
#include "util/torch_compat.h"

namespace pride {

class GradientSynchronizer {
 public:
  struct Stats {
    // Seconds of the last step that the synchronizer held up backward or the step: launches and
    // progress polls from hooks plus all of finish(). The part of the all-reduce it does not
    // count ran hidden behind backward.
    double comm_exposed_s = 0;
    double backward_overlap_launches = 0;  // buckets of the last step launched from hooks
  };

  // params: in the fixed order used for the flat buffer; flat_grad: the 1-D float32 buffer whose
  // consecutive slices are the params' grads (param i occupies [offset_i, offset_i + numel_i)).
  // Buckets hold about bucket_mb each. Until the first armed backward they follow the reverse
  // param order (grads become ready roughly last-layer-first); with reorder_by_readiness, that
  // backward's order (rank 0's, broadcast) replaces it from the next step on. A bucket's params
  // need not be neighbours in flat_grad: it all-reduces each contiguous range it covers.
  GradientSynchronizer(Communicator& comm, std::vector<torch::Tensor> params,
                       torch::Tensor flat_grad, double bucket_mb, bool reorder_by_readiness = true);
  ~GradientSynchronizer();
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  // Allocates a zeroed flat float32 buffer for `params` and makes each param's .grad a view of
  // its slice (so that autograd accumulates into the buffer in place).
  static torch::Tensor attach_flat_grad(const std::vector<torch::Tensor>& params);

  // Call before backward of the LAST micro-batch of a step: arms hooks so that each bucket is
  // all-reduced (averaged) as soon as all its params' grads are final, while backward continues.
  // Buckets launch strictly in order (collectives must match across ranks).
  void arm();
  // After backward: launches any bucket not yet launched (in order; unused params' buckets
  // included), waits for all, and disarms, so that flat_grad is the average over ranks. After
  // the first armed backward it also agrees on the recorded order and rebuilds the buckets
  // (a collective: every rank arms the same steps).
  void finish();

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Param indices of each bucket, buckets in launch order (for tests and diagnostics).
  std::vector<std::vector<size_t>> bucket_params() const;
  const Stats& stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<size_t> params;                       // in expected ready order
    std::vector<std::pair<int64_t, int64_t>> ranges;  // [begin, end) of flat_grad, merged
    int64_t num_params = 0;                           // those that require grad
    int64_t ready_params = 0;  // params whose grads are final in this backward
    std::vector<std::unique_ptr<PendingOp>> ops;
  };

  // Cuts `order` (every param index once) into buckets of about bucket_mb_.
  void build_buckets(const std::vector<size_t>& order);
  // Rank 0's recorded ready order, completed with the params it never saw, on every rank.
  std::vector<size_t> agreed_ready_order();
  void on_grad_accumulated(size_t param_index);
  // Launches buckets from next_to_launch_ on while they are complete (or all, if `force`).
  void launch_in_order(bool force, bool from_hook);
  void check_grads_are_views() const;

  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  torch::Tensor flat_grad_;
  std::vector<int64_t> offsets_;   // per param, into flat_grad
  std::vector<size_t> bucket_of_;  // per param
  std::vector<bool> accumulated_;  // per param, this backward
  std::vector<Bucket> buckets_;
  double bucket_mb_;
  bool reorder_pending_;             // the first armed backward has not been recorded yet
  std::vector<size_t> ready_order_;  // recorded during that backward
  std::vector<std::unique_ptr<compat::PostAccumulateGradHook>> hooks_;
  size_t next_to_launch_ = 0;
  bool armed_ = false;
  std::thread::id armed_thread_;  // the thread that may launch MPI collectives
  std::mutex mutex_;              // CUDA backward runs hooks on autograd's device threads
  Stats stats_;
};

}  // namespace pride
