// Shims over LibTorch internals whose public face differs between 1.13 (Debian) and 2.x.
//
// Post-accumulate-grad hooks: Python gained Tensor.register_post_accumulate_grad_hook in 2.1,
// but the C++ API has no removable equivalent in any version. What works unchanged from 1.13
// through 2.x (and is what DDP's C++ reducer uses) is a FunctionPostHook on the leaf's
// AccumulateGrad node, so that is the one implementation here; 2.x merely adds a defaulted
// virtual (compiled_args) to FunctionPostHook that this subclass need not override.
#pragma once

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#if TORCH_VERSION_MAJOR < 1 || (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR < 13)
#error "pride needs LibTorch 1.13 or newer"
#endif

namespace pride::compat {

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
