// MMD^2 over the whole global batch of a step, however it is split into ranks x micro-batches x
// accumulation steps. MMD^2 is a function of all B feature rows at once (every pair, one
// bandwidth), so unlike CE it cannot be summed over micro-batches. The trainer instead:
//   1. runs a features-only pass, without a graph, over this rank's micro-batches;
//   2. all-gathers [student | teacher] feature rows from every rank (one collective);
//   3. computes MMD^2 of the gathered rows and its gradient G with respect to every student row
//      (the same numbers on every rank);
//   4. adds sum(features * G_rows) to each micro-batch's objective: its backward then carries
//      exactly the MMD's gradient through the rows that micro-batch produced.
// Summed over micro-batches and ranks, that is dMMD^2/dtheta of the global batch.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "distributed/communicator.h"

namespace pride {

struct GlobalMmd {
  torch::Tensor value;                       // 0-dim float32, identical on every rank
  std::vector<torch::Tensor> row_gradients;  // per local micro-batch: dMMD^2/d(its rows) [n_j, H]
};

// `student_rows[j]` and `teacher_rows[j]` are micro-batch j's features [n_j, H] on this rank
// (student rows without a graph). Every rank must hold the same number of rows in all.
GlobalMmd global_mmd(Communicator& comm, const std::vector<torch::Tensor>& student_rows,
                     const std::vector<torch::Tensor>& teacher_rows,
                     const std::vector<double>& bandwidth_multipliers);

// The term whose gradient with respect to `features` is `row_gradient`: sum(features * G).
torch::Tensor mmd_surrogate(const torch::Tensor& features, const torch::Tensor& row_gradient);

}  // namespace pride
