// Activation checkpointing (checkpointing.h) as a custom autograd function. LibTorch's C++ API has
// no torch.utils.checkpoint; this is its reentrant variant: forward runs the block without
// recording, saving the inputs; backward re-runs it with recording on and differentiates the
// recomputed output. The block's parameters are inputs of the function too, so that their
// gradients come back through autograd's own accumulate-grad nodes: .grad accumulates exactly as
// without checkpointing (micro-batches, flat gradient views) and the gradient-sync hooks fire.
#include "models/checkpointing.h"

#include <torch/csrc/autograd/custom_function.h>

#include <utility>

#include "util/torch_compat.h"

namespace pride {
namespace {

// What backward needs besides the saved tensors.
struct Recompute : torch::CustomClassHolder {
  Recompute(BlockFunction block, size_t num_inputs, torch::Device device, bool autocast)
      : block(std::move(block)), num_inputs(num_inputs), device(device), autocast(autocast) {}
  BlockFunction block;
  size_t num_inputs;     // the saved tensors are the inputs, then the parameters
  torch::Device device;  // where the forward ran, and whether under bf16 autocast there
  bool autocast;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // `tensors`: the block's inputs followed by its parameters (a TensorList, so that autograd
  // registers each one as an input of this function).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               c10::intrusive_ptr<Recompute> recompute, at::TensorList tensors) {
    std::vector<torch::Tensor> inputs(tensors.begin(), tensors.begin() + recompute->num_inputs);
    ctx->save_for_backward(tensors.vec());         // also catches in-place changes before backward
    torch::Tensor out = recompute->block(inputs);  // autograd::Function runs this without grad
    ctx->saved_data["recompute"] = c10::IValue::make_capsule(std::move(recompute));
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto holder = ctx->saved_data["recompute"].toCapsule();
    const auto* recompute = static_cast<const Recompute*>(holder.get());
    const auto saved = ctx->get_saved_variables();
    const size_t n = recompute->num_inputs;
    // Fresh leaves for the inputs, so that the recomputed graph ends here, not in the forward's.
    std::vector<torch::Tensor> leaves, inputs;
    torch::Tensor out;
    {
      torch::AutoGradMode record(true);
      compat::AutocastGuard autocast(recompute->device, recompute->autocast);
      for (size_t i = 0; i < n; ++i) {
        leaves.push_back(saved[i].detach().requires_grad_(saved[i].requires_grad()));
        // The block sees a view, not the leaf, as the forward saw a non-leaf: autocast caches its
        // bf16 copy of a leaf (it takes leaves for weights), and the gradients of that one copy's
        // uses would then be summed in bf16, where the forward graph sums them in fp32.
        inputs.push_back(leaves.back().view_as(leaves.back()));
      }
      out = recompute->block(inputs);
    }
    // Differentiate w.r.t. what needs a gradient: the inputs' leaves and the parameters.
    std::vector<torch::Tensor> wrt;
    std::vector<size_t> position;
    for (size_t i = 0; i < saved.size(); ++i) {
      const torch::Tensor& target = i < n ? leaves[i] : saved[i];
      if (!target.requires_grad()) continue;
      wrt.push_back(target);
      position.push_back(i);
    }
    // One gradient per forward argument: none for the recompute, then one per tensor.
    torch::autograd::variable_list grads(1 + saved.size());
    if (wrt.empty() || !out.requires_grad()) return grads;
    auto computed = torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false,
                                          /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t k = 0; k < wrt.size(); ++k) grads[1 + position[k]] = computed[k];
    return grads;
  }
};

}  // namespace

torch::Tensor checkpointed(BlockFunction block, const std::vector<torch::Tensor>& inputs,
                           const std::vector<torch::Tensor>& parameters) {
  if (!torch::GradMode::is_enabled()) return block(inputs);
  TORCH_CHECK(!inputs.empty(), "checkpointed: a block needs at least one input");
  const torch::Device device = inputs[0].device();
  auto recompute = c10::make_intrusive<Recompute>(std::move(block), inputs.size(), device,
                                                  compat::AutocastGuard::is_enabled(device.type()));
  std::vector<torch::Tensor> tensors(inputs);
  tensors.insert(tensors.end(), parameters.begin(), parameters.end());
  return CheckpointFunction::apply(std::move(recompute), at::TensorList(tensors));
}

}  // namespace pride
