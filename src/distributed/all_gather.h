// all_gather_with_grad: a differentiable cross-rank concatenation, so that a loss over the global
// batch (e.g. a contrastive or MMD term) can be computed identically on every rank.
#pragma once

#include <torch/torch.h>

#include "distributed/communicator.h"

namespace pride {

// Concatenates `local` [n_r, ...] from every rank in rank order (n_r may differ per rank).
// Backward returns, for this rank's slice, grad[slice] * world_size: every rank computes the same
// loss over the gathered global batch, and the trainer AVERAGES gradients over ranks, so scaling
// by world_size makes the averaged gradient equal the single-process gradient of the loss over
// the global batch. Backward needs no communication.
torch::Tensor all_gather_with_grad(Communicator& comm, const torch::Tensor& local);

}  // namespace pride
