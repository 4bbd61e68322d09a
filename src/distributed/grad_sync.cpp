// GradientSynchronizer: bucketing of the flat gradient buffer, hook-driven in-order launch of
// bucket all-reduces during backward, and the final wait in finish().
#include "distributed/grad_sync.h"

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
                                           torch::Tensor flat_grad, double bucket_mb)
    : comm_(comm), params_(std::move(params)), flat_grad_(std::move(flat_grad)) {
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
  build_buckets(bucket_mb);
  accumulated_.assign(params_.size(), false);
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].requires_grad()) continue;
    hooks_.push_back(std::make_unique<compat::PostAccumulateGradHook>(
        params_[i], [this, i] { on_grad_accumulated(i); }));
  }
}

GradientSynchronizer::~GradientSynchronizer() = default;

void GradientSynchronizer::build_buckets(double bucket_mb) {
  const double bucket_bytes = bucket_mb * 1024.0 * 1024.0;
  bucket_of_.assign(params_.size(), 0);
  Bucket current;
  double current_bytes = 0;
  for (size_t i = params_.size(); i-- > 0;) {
    if (current_bytes == 0) current.end = offsets_[i + 1];
    current.begin = offsets_[i];
    current.num_params += params_[i].requires_grad() ? 1 : 0;
    current_bytes += static_cast<double>(params_[i].numel()) * sizeof(float);
    bucket_of_[i] = buckets_.size();
    if (current_bytes >= bucket_bytes || i == 0) {
      buckets_.push_back(std::move(current));
      current = Bucket();
      current_bytes = 0;
    }
  }
}

void GradientSynchronizer::arm() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (armed_) fail("gradient sync: arm() called twice without finish()");
  check_grads_are_views();
  accumulated_.assign(params_.size(), false);
  for (Bucket& bucket : buckets_) {
    bucket.ready_params = 0;
    bucket.op.reset();
  }
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
  ++buckets_[bucket_of_[param_index]].ready_params;
  // MPI is FUNNELED: from autograd's device threads only backends that allow it may launch;
  // otherwise finish() launches what remains.
  if (!comm_.any_thread_may_launch() && std::this_thread::get_id() != armed_thread_) return;
  const auto start = Clock::now();
  launch_in_order(/*force=*/false, /*from_hook=*/true);
  // MPI advances nonblocking collectives only inside MPI calls; poke it while backward runs.
  if (next_to_launch_ > 0) buckets_[next_to_launch_ - 1].op->poll();
  stats_.comm_exposed_s += seconds_since(start);
}

void GradientSynchronizer::launch_in_order(bool force, bool from_hook) {
  while (next_to_launch_ < buckets_.size()) {
    Bucket& bucket = buckets_[next_to_launch_];
    if (!force && bucket.ready_params < bucket.num_params) return;
    torch::Tensor slice = flat_grad_.narrow(0, bucket.begin, bucket.end - bucket.begin);
    bucket.op = comm_.all_reduce_async(slice, /*average=*/true);
    if (from_hook) stats_.backward_overlap_launches += 1;
    ++next_to_launch_;
  }
}

void GradientSynchronizer::finish() {
  const auto start = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) {  // not armed: a plain synchronous average of everything
    next_to_launch_ = 0;
    stats_ = Stats();
  }
  armed_ = false;  // disarmed even if a wait below throws
  check_grads_are_views();
  launch_in_order(/*force=*/true, /*from_hook=*/false);
  for (Bucket& bucket : buckets_) {
    bucket.op->wait();
    bucket.op.reset();
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
