// GradientSynchronizer: averages the flat gradient buffer over ranks in buckets, starting each
// bucket's all-reduce from autograd hooks as soon as its gradients are final, so communication
// overlaps the rest of backward (the scheme of PyTorch DDP's reducer, without its generality).
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
  // Buckets hold consecutive params in reverse order (grads become ready roughly
  // last-layer-first), about bucket_mb each; the split depends only on the shapes, so it is the
  // same on every rank.
  GradientSynchronizer(Communicator& comm, std::vector<torch::Tensor> params,
                       torch::Tensor flat_grad, double bucket_mb);
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
  // included), waits for all, and disarms, so that flat_grad is the average over ranks.
  void finish();

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  const Stats& stats() const { return stats_; }

 private:
  struct Bucket {
    int64_t begin = 0;  // range of flat_grad
    int64_t end = 0;
    int64_t num_params = 0;
    int64_t ready_params = 0;  // params whose grads are final in this backward
    std::unique_ptr<PendingOp> op;
  };

  void build_buckets(double bucket_mb);
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
  std::vector<std::unique_ptr<compat::PostAccumulateGradHook>> hooks_;
  size_t next_to_launch_ = 0;
  bool armed_ = false;
  std::thread::id armed_thread_;  // the thread that may launch MPI collectives
  std::mutex mutex_;              // CUDA backward runs hooks on autograd's device threads
  Stats stats_;
};

}  // namespace pride
