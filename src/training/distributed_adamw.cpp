// Implements training/distributed_adamw.h.
#include "training/distributed_adamw.h"

#include <cmath>

#include "util/clock.h"
#include "util/error.h"

namespace pride {
namespace {

// This rank's slice of a buffer of `padded` elements split evenly over the world.
std::pair<int64_t, int64_t> slice_of(int64_t padded, const Communicator& comm) {
  if (padded % comm.world_size() != 0) {
    fail("ZeRO-1: the flat buffer ({} values) is not padded to a multiple of the world size {}",
         padded, comm.world_size());
  }
  const int64_t length = padded / comm.world_size();
  return {comm.rank() * length, length};
}

}  // namespace

DistributedAdamW::DistributedAdamW(Communicator& comm, FlatParameters& flat,
                                   DistributedAdamWOptions options)
    : comm_(comm),
      flat_(flat),
      zero_stage_(options.zero_stage),
      adamw_(zero_stage_ == 1 ? FlatAdamW(flat, options.adamw,
                                          slice_of(flat.padded_values().numel(), comm).first,
                                          slice_of(flat.padded_values().numel(), comm).second)
                              : FlatAdamW(flat, options.adamw)) {
  if (zero_stage_ != 0 && zero_stage_ != 1) fail("dist.zero must be 0 or 1, got {}", zero_stage_);
  if (zero_stage_ == 0) {
    sync_.emplace(comm, flat.params(), flat.grads(), options.bucket_mb, options.reorder_buckets);
    return;
  }
  std::tie(slice_begin_, slice_length_) = slice_of(flat.padded_values().numel(), comm);
  grad_slice_ = torch::zeros({slice_length_}, flat.values().options());
}

void DistributedAdamW::arm() {
  if (sync_) sync_->arm();
}

double DistributedAdamW::step(double lr, double max_norm) {
  if (zero_stage_ == 1) return step_zero(lr, max_norm);
  sync_->finish();
  comm_exposed_s_ = sync_->stats().comm_exposed_s;
  const double norm = std::sqrt(squared_norm_fp64(flat_.grads()).item<double>());
  if (!std::isfinite(norm)) return norm;
  scale_to_max_norm(flat_.grads(), norm, max_norm);
  adamw_.step(flat_.values(), flat_.grads(), lr);
  return norm;
}

double DistributedAdamW::step_zero(double lr, double max_norm) {
  torch::NoGradGuard no_grad;
  const auto start = Clock::now();
  comm_.reduce_scatter(flat_.padded_grads(), grad_slice_, /*average=*/true);
  comm_exposed_s_ = seconds_since(start);
  // The global norm from the slices' sums of squares (the padding is zero), as stage 0's.
  torch::Tensor squared = squared_norm_fp64(grad_slice_).reshape({1});
  comm_.all_reduce(squared);
  const double norm = std::sqrt(squared.item<double>());
  if (!std::isfinite(norm)) return norm;  // parameters untouched: nothing to gather
  scale_to_max_norm(grad_slice_, norm, max_norm);
  torch::Tensor values = flat_.padded_values().narrow(0, slice_begin_, slice_length_);
  adamw_.step(values, grad_slice_, lr);
  const auto gather_start = Clock::now();
  comm_.all_gather_into(values, flat_.padded_values());
  comm_exposed_s_ += seconds_since(gather_start);
  return norm;
}

torch::Tensor DistributedAdamW::full_state(const torch::Tensor& mine) {
  if (zero_stage_ == 0) return mine;
  torch::Tensor whole = torch::empty({slice_length_ * comm_.world_size()}, mine.options());
  comm_.all_gather_into(mine, whole);
  return whole.narrow(0, 0, flat_.trainable_numel());
}

void DistributedAdamW::load_state(const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq,
                                  int64_t step_count) {
  torch::NoGradGuard no_grad;
  for (auto [source, target] :
       {std::pair{&exp_avg, &adamw_.exp_avg()}, std::pair{&exp_avg_sq, &adamw_.exp_avg_sq()}}) {
    if (source->numel() != flat_.trainable_numel()) {
      fail("optimizer state holds {} values but the model has {} trainable", source->numel(),
           flat_.trainable_numel());
    }
    const torch::Tensor full = source->reshape({-1}).to(target->device());
    target->zero_();  // the padding stays zero
    const int64_t begin = zero_stage_ == 1 ? slice_begin_ : 0;
    const int64_t count = std::min(target->numel(), std::max<int64_t>(0, full.numel() - begin));
    target->narrow(0, 0, count).copy_(full.narrow(0, begin, count));
  }
  adamw_.set_step_count(step_count);
}

int64_t DistributedAdamW::state_bytes() const {
  return 2 * adamw_.exp_avg().numel() * static_cast<int64_t>(sizeof(float));
}

int64_t DistributedAdamW::gradient_bytes() const {
  const int64_t slice = grad_slice_.defined() ? grad_slice_.numel() : 0;
  return (flat_.padded_grads().numel() + slice) * static_cast<int64_t>(sizeof(float));
}

}  // namespace pride
