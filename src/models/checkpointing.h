// Activation checkpointing (train.activation_checkpointing): a block's forward keeps only its
// inputs, and backward recomputes the block to get its gradients. The activations inside the
// decoder blocks dominate training memory at long sequences; this trades them for one more
// forward of each block during backward (docs/performance.md).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace pride {

// A block as a function of its differentiable inputs (activations such as the residual stream or
// a cross-attention memory); anything else it reads (masks, rotary tables, the module) it must
// hold by value, as it runs again during backward. It must be deterministic: the recompute has to
// produce the forward's values (the student has no dropout).
using BlockFunction = std::function<torch::Tensor(const std::vector<torch::Tensor>& inputs)>;

// block(inputs), without keeping the block's intermediate activations when autograd records:
// backward recomputes it (under the autocast state of the forward) and hands the gradients of
// `inputs` and of `parameters` (the tensors the block trains) back to autograd, which accumulates
// the parameters' into .grad as usual, running their accumulate-grad hooks. With grad mode off it
// is just block(inputs).
torch::Tensor checkpointed(BlockFunction block, const std::vector<torch::Tensor>& inputs,
                           const std::vector<torch::Tensor>& parameters);

}  // namespace pride
