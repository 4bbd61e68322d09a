// Shims over LibTorch internals whose public face differs between 1.13 (Debian) and 2.x.
//
// Autocast: 1.13 has per-device setters (set_enabled for CUDA, set_cpu_enabled), 2.4+ takes the
// device type as an argument and deprecates the old names.
// RMSNorm: 2.4+ has at::rms_norm; before it, models/layers.cpp writes the formula out.
// Scaled-dot-product attention: 2.x has at::scaled_dot_product_attention (fused kernels on CPU
// and CUDA). 1.13 has only the private at::_scaled_dot_product_attention, whose signature changed
// in 2.0 and which is the same composite math on the CPU, so 1.13 uses the math written out here.
//
// Gradients added in place by a backward function: whether autograd's AccumulateGrad would only
// add into a leaf's existing .grad reads the running backward pass's exec info
// (torch/csrc/autograd/graph_task.h, the same in 1.13 and 2.x) and the node's hooks (2.x keeps
// tensor hooks apart from the other pre-hooks, and 2.1+ has post-accumulate-grad tensor hooks).
//
// Post-accumulate-grad hooks: Python gained Tensor.register_post_accumulate_grad_hook in 2.1,
// but the C++ API has no removable equivalent in any version. What works unchanged from 1.13
// through 2.x (and is what DDP's C++ reducer uses) is a FunctionPostHook on the leaf's
// AccumulateGrad node, so that is the one implementation here; 2.x merely adds a defaulted
// virtual (compiled_args) to FunctionPostHook that this subclass need not override.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/graph_task.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "util/tensor_constants.h"

#if TORCH_VERSION_MAJOR < 1 || (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR < 13)
#error "pride needs LibTorch 1.13 or newer"
#endif

namespace pride::compat {

// Runs the scope under bf16 autocast on `device` when `enabled` (a no-op otherwise); restores the
// previous state and frees the cast-weight cache on exit.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled)
      : type_(device.type()), enabled_(enabled) {
    if (!enabled_) return;
    previous_ = is_enabled(type_);
    previous_dtype_ = dtype(type_);
    set(type_, true, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(type_, previous_, previous_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

  // Whether autocast is on for `type` in this thread (for a recompute that must re-enter it).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  static bool is_enabled(c10::DeviceType type) {
    return at::autocast::is_autocast_enabled(type);
  }

 private:
  static at::ScalarType dtype(c10::DeviceType type) {
    return at::autocast::get_autocast_dtype(type);
  }
  static void set(c10::DeviceType type, bool on, at::ScalarType dtype) {
    at::autocast::set_autocast_dtype(type, dtype);
    at::autocast::set_autocast_enabled(type, on);
  }
#else
  static bool is_enabled(c10::DeviceType type) {
    return type == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  }

 private:
  static at::ScalarType dtype(c10::DeviceType type) {
    return type == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                              : at::autocast::get_autocast_cpu_dtype();
  }
  static void set(c10::DeviceType type, bool on, at::ScalarType dtype) {
    if (type == c10::kCUDA) {
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(on);
    } else {
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(on);
    }
  }
#endif
  c10::DeviceType type_;
  bool enabled_;
  bool previous_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};
// at::rms_norm, one operator (2.4+; a fused CUDA kernel from 2.8).
#define PRIDE_TORCH_HAS_RMS_NORM \
  (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))

#if TORCH_VERSION_MAJOR >= 2
inline constexpr bool kHasFusedAttention = true;
#else
inline constexpr bool kHasFusedAttention = false;
#endif

// The [t, t] bool mask of the keys after each query (above the diagonal), built once per size and
// device on each thread.
inline const torch::Tensor& causal_future_mask(int64_t t, const torch::Device& device) {
  return per_thread_constant(std::make_pair(t, device.str()), [&] {
    return torch::ones({t, t}, torch::TensorOptions(torch::kBool).device(device)).triu(1);
  });
}

// softmax(q k^T / sqrt(head_dim) + additive_mask) v over [B, H, T, head_dim] tensors; `causal`
// (with Tq == Tk) masks key j > query i; `additive_mask` (undefined: none) broadcasts to
// [B, H, Tq, Tk] and has q's dtype. `q_scale`: what q was multiplied by already, its part of
// the 1 / sqrt(head_dim) (other than 1 on LibTorch before 2.0 only: layers.h, folded_query_scale).
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v,
                                                  const torch::Tensor& additive_mask, bool causal,
                                                  double q_scale = 1.0) {
  TORCH_CHECK(!causal || q.size(-2) == k.size(-2), "causal attention needs Tq == Tk");
#if TORCH_VERSION_MAJOR >= 2
  TORCH_CHECK(q_scale == 1.0, "fused attention takes unscaled queries");
  return at::scaled_dot_product_attention(
      q, k, v, additive_mask.defined() ? c10::optional<at::Tensor>(additive_mask) : c10::nullopt,
      /*dropout_p=*/0.0, causal);
#else
  // Scores in fp32 (fp64 for double inputs) whatever the inputs' precision. Conversions are
  // skipped (not dispatched) where the type already matches, and the causal mask is built once
  // per size: every layer of every step asks for the same operators otherwise.
  const auto wide = q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto as = [](const torch::Tensor& t, at::ScalarType type) {
    return t.scalar_type() == type ? t : t.to(type);
  };
  auto scores = torch::matmul(as(q, wide), as(k, wide).transpose(-2, -1)) /
                (std::sqrt(double(q.size(-1))) * q_scale);
  if (additive_mask.defined()) scores = scores + as(additive_mask, wide);
  if (causal) {
    scores = scores.masked_fill(causal_future_mask(q.size(-2), q.device()),
                                -std::numeric_limits<double>::infinity());
  }
  return torch::matmul(as(torch::softmax(scores, -1), v.scalar_type()), v);
#endif
}

// Whether the backward pass running on this thread will add a gradient for `leaf` into its
// defined .grad in place: a plain backward (not autograd::grad, which only captures gradients,
// nor a double backward), no tensor hook that could change the gradient first. A backward
// function may then add the leaf's gradient there itself and hand autograd none: AccumulateGrad
// still runs (with nothing to add), so the post-hooks on it, such as the gradient-sync hooks,
// fire as before.
inline bool will_add_into_grad(const torch::Tensor& leaf) {
  if (torch::GradMode::is_enabled() || !leaf.requires_grad() || !leaf.is_leaf() ||
      !leaf.grad().defined() || leaf.grad().is_sparse()) {
    return false;
  }
  const auto accumulator = torch::autograd::impl::try_get_grad_accumulator(leaf);
  if (!accumulator || !accumulator->pre_hooks().empty()) return false;
#if TORCH_VERSION_MAJOR >= 2
  if (!accumulator->tensor_pre_hooks().empty()) return false;
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  // Python's post-accumulate-grad hooks run inside AccumulateGrad, only when it adds something.
  if (accumulator->tensor_post_acc_grad_hooks() != nullptr) return false;
#endif
  const auto* exec_info = torch::autograd::get_current_graph_task_exec_info();
  if (exec_info == nullptr) return false;  // not inside a backward pass
  if (exec_info->empty()) return true;     // .backward(): every node runs
  const auto found = exec_info->find(accumulator.get());
  return found != exec_info->end() && found->second.needed_;
}

// Runs `callback` each time autograd has accumulated a gradient into `leaf`'s .grad (once per
// backward pass that reaches the leaf, after the in-place add). Unregisters on destruction.
class PostAccumulateGradHook {
 public:
  PostAccumulateGradHook(const torch::Tensor& leaf, std::function<void()> callback)
      : accumulator_(torch::autograd::impl::grad_accumulator(leaf)) {
    TORCH_CHECK(accumulator_, "post-accumulate-grad hook needs a leaf that requires grad");
    key_ = accumulator_->add_post_hook(std::make_unique<Hook>(std::move(callback)));
  }
  ~PostAccumulateGradHook() { accumulator_->del_post_hook(key_); }
  PostAccumulateGradHook(const PostAccumulateGradHook&) = delete;
  PostAccumulateGradHook& operator=(const PostAccumulateGradHook&) = delete;

 private:
  struct Hook : torch::autograd::FunctionPostHook {
    explicit Hook(std::function<void()> callback) : callback(std::move(callback)) {}
    torch::autograd::variable_list operator()(
        const torch::autograd::variable_list& outputs,
        const torch::autograd::variable_list& /*inputs*/) override {
      callback();
      return outputs;
    }
    std::function<void()> callback;
  };

  // Held strongly: a leaf keeps its AccumulateGrad only weakly, and a node nobody holds would be
  // rebuilt (without our hook) by the next forward pass.
  std::shared_ptr<torch::autograd::Node> accumulator_;
  std::uintptr_t key_ = 0;
};

}  // namespace pride::compat
