// GradientSynchronizer: bucketing of the flat gradient buffer, hook-driven in-order launch of
// bucket all-reduces during backward, the final wait in finish(), and the rebuild of the buckets
// in the order gradients became ready on the first step.
#include "distributed/grad_sync.h"

#include <algorithm>
#include <numeric>
#include <thread>

#include "util/clock.h"
#include "util/error.h"

namespace pride {
namespace {

std::vector<int64_t> offsets_of(const std::vector<torch::Tensor>& params) {
  std::vector<int64_t> offsets;
  int64_t offset = 0;
  for (const torch::Tensor& param : params) {
    offsets.push_back(offset);
    offset += param.numel();
  }
  offsets.push_back(offset);  // one past the end: the total
  return offsets;
}

}  // namespace

torch::Tensor GradientSynchronizer::attach_flat_grad(const std::vector<torch::Tensor>& params) {
  if (params.empty()) fail("gradient sync: no parameters");
  const std::vector<int64_t> offsets = offsets_of(params);
  torch::Tensor flat = torch::zeros({offsets.back()}, params[0].options().dtype(torch::kFloat));
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].scalar_type() != torch::kFloat || params[i].device() != flat.device()) {
      fail(
          "gradient sync: parameter {} is {} on {}; the flat gradient buffer needs float32 "
          "parameters on {}",
          i, c10::toString(params[i].scalar_type()), params[i].device().str(), flat.device().str());
    }
    params[i].mutable_grad() = flat.narrow(0, offsets[i], params[i].numel()).view_as(params[i]);
  }
  return flat;
}

GradientSynchronizer::GradientSynchronizer(Communicator& comm, std::vector<torch::Tensor> params,
                                           torch::Tensor flat_grad, double bucket_mb,
                                           bool reorder_by_readiness)
    : comm_(comm),
      params_(std::move(params)),
      flat_grad_(std::move(flat_grad)),
      bucket_mb_(bucket_mb),
      reorder_pending_(reorder_by_readiness) {
  offsets_ = offsets_of(params_);
  if (!flat_grad_.defined() || flat_grad_.dim() != 1 || flat_grad_.scalar_type() != torch::kFloat ||
      !flat_grad_.is_contiguous()) {
    fail("gradient sync: the flat gradient buffer must be a contiguous 1-D float32 tensor");
  }
  if (flat_grad_.numel() != offsets_.back()) {
    fail("gradient sync: the flat gradient buffer has {} elements but the {} parameters have {}",
         flat_grad_.numel(), params_.size(), offsets_.back());
  }
  if (!(bucket_mb > 0)) fail("dist.bucket_mb must be positive, got {}", bucket_mb);
  std::vector<size_t> reverse(params_.size());
  std::iota(reverse.rbegin(), reverse.rend(), size_t{0});
  build_buckets(reverse);
  accumulated_.assign(params_.size(), false);
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].requires_grad()) continue;
    hooks_.push_back(std::make_unique<compat::PostAccumulateGradHook>(
        params_[i], [this, i] { on_grad_accumulated(i); }));
  }
}

GradientSynchronizer::~GradientSynchronizer() = default;

void GradientSynchronizer::build_buckets(const std::vector<size_t>& order) {
  const double bucket_bytes = bucket_mb_ * 1024.0 * 1024.0;
  buckets_.clear();
  bucket_of_.assign(params_.size(), 0);
  Bucket current;
  double current_bytes = 0;
  for (size_t position = 0; position < order.size(); ++position) {
    const size_t i = order[position];
    current.params.push_back(i);
    current.num_params += params_[i].requires_grad() ? 1 : 0;
    current_bytes += static_cast<double>(params_[i].numel()) * sizeof(float);
    bucket_of_[i] = buckets_.size();
    if (current_bytes < bucket_bytes && position + 1 < order.size()) continue;
    std::vector<size_t> sorted = current.params;
    std::sort(sorted.begin(), sorted.end());
    for (size_t p : sorted) {  // neighbours in the flat buffer share one range
      if (!current.ranges.empty() && current.ranges.back().second == offsets_[p]) {
        current.ranges.back().second = offsets_[p + 1];
      } else {
        current.ranges.emplace_back(offsets_[p], offsets_[p + 1]);
      }
    }
    buckets_.push_back(std::move(current));
    current = Bucket();
    current_bytes = 0;
  }
}

std::vector<size_t> GradientSynchronizer::agreed_ready_order() {
  std::vector<bool> seen(params_.size(), false);
  std::vector<int64_t> order;
  for (size_t i : ready_order_) {
    order.push_back(static_cast<int64_t>(i));
    seen[i] = true;
  }
  for (size_t i = params_.size(); i-- > 0;) {  // unused and frozen params last, as before
    if (!seen[i]) order.push_back(static_cast<int64_t>(i));
  }
  torch::Tensor agreed = torch::tensor(order, torch::kInt64).to(comm_.device());
  comm_.broadcast(agreed, /*root=*/0);
  agreed = agreed.cpu();
  const int64_t* values = agreed.data_ptr<int64_t>();
  return std::vector<size_t>(values, values + agreed.numel());
}

std::vector<std::vector<size_t>> GradientSynchronizer::bucket_params() const {
  std::vector<std::vector<size_t>> result;
  for (const Bucket& bucket : buckets_) result.push_back(bucket.params);
  return result;
}

void GradientSynchronizer::arm() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (armed_) fail("gradient sync: arm() called twice without finish()");
  check_grads_are_views();
  accumulated_.assign(params_.size(), false);
  for (Bucket& bucket : buckets_) {
    bucket.ready_params = 0;
    bucket.ops.clear();
  }
  if (reorder_pending_) ready_order_.clear();
  next_to_launch_ = 0;
  stats_ = Stats();
  armed_thread_ = std::this_thread::get_id();
  armed_ = true;
  launch_in_order(/*force=*/false, /*from_hook=*/false);  // buckets of frozen params only
}

void GradientSynchronizer::on_grad_accumulated(size_t param_index) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_ || accumulated_[param_index]) return;
  accumulated_[param_index] = true;
  if (reorder_pending_) ready_order_.push_back(param_index);
  ++buckets_[bucket_of_[param_index]].ready_params;
  // MPI is FUNNELED: from autograd's device threads only backends that allow it may launch;
  // otherwise finish() launches what remains.
  if (!comm_.any_thread_may_launch() && std::this_thread::get_id() != armed_thread_) return;
  const auto start = Clock::now();
  launch_in_order(/*force=*/false, /*from_hook=*/true);
  // MPI advances nonblocking collectives only inside MPI calls; poke it while backward runs.
  if (next_to_launch_ > 0) buckets_[next_to_launch_ - 1].ops.back()->poll();
  stats_.comm_exposed_s += seconds_since(start);
}

void GradientSynchronizer::launch_in_order(bool force, bool from_hook) {
  while (next_to_launch_ < buckets_.size()) {
    Bucket& bucket = buckets_[next_to_launch_];
    if (!force && bucket.ready_params < bucket.num_params) return;
    for (const auto& [begin, end] : bucket.ranges) {
      torch::Tensor slice = flat_grad_.narrow(0, begin, end - begin);
      bucket.ops.push_back(comm_.all_reduce_async(slice, /*average=*/true));
    }
    if (from_hook) stats_.backward_overlap_launches += 1;
    ++next_to_launch_;
  }
}

void GradientSynchronizer::finish() {
  const auto start = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  const bool was_armed = armed_;
  if (!armed_) {  // not armed: a plain synchronous average of everything
    next_to_launch_ = 0;
    stats_ = Stats();
  }
  armed_ = false;  // disarmed even if a wait below throws
  check_grads_are_views();
  launch_in_order(/*force=*/true, /*from_hook=*/false);
  for (Bucket& bucket : buckets_) {
    for (auto& op : bucket.ops) op->wait();
    bucket.ops.clear();
  }
  if (was_armed && reorder_pending_) {
    reorder_pending_ = false;
    build_buckets(agreed_ready_order());
  }
  stats_.comm_exposed_s += seconds_since(start);
}

void GradientSynchronizer::check_grads_are_views() const {
  const float* flat = flat_grad_.data_ptr<float>();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].requires_grad()) continue;
    const torch::Tensor& grad = params_[i].grad();
    if (!grad.defined() || grad.data_ptr() != flat + offsets_[i] || !grad.is_contiguous() ||
        grad.numel() != params_[i].numel()) {
      fail(
          "gradient sync: the .grad of parameter {} is not a view of its slice of the flat "
          "gradient buffer (zero the buffer between steps; never reset grads to undefined)",
          i);
    }
  }
}

}  // namespace pride
