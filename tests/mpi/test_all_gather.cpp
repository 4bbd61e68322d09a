// all_gather_with_grad under 1, 2 and 4 ranks: forward is the rank-ordered concatenation, and
// after averaging over ranks (as the trainer does) the gradients equal those of one process
// computing the same loss over the whole concatenated batch.
#include <gtest/gtest.h>

#include "distributed/all_gather.h"
#include "distributed/communicator.h"

namespace pride {
namespace {

constexpr double kTestTimeoutS = 60;
constexpr int64_t kDim = 3;

int64_t rows_of(int rank) {
  return rank + 2;
}  // unequal batch sizes per rank

// Every rank's input, generated identically everywhere so the single-process reference needs no
// communication.
std::vector<torch::Tensor> inputs_of_all_ranks(int world_size) {
  torch::manual_seed(11);
  std::vector<torch::Tensor> inputs;
  for (int r = 0; r < world_size; ++r) inputs.push_back(torch::randn({rows_of(r), kDim}));
  return inputs;
}

TEST(AllGatherWithGrad, ForwardConcatenatesInRankOrder) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  const std::vector<torch::Tensor> inputs = inputs_of_all_ranks(comm->world_size());
  torch::Tensor gathered = all_gather_with_grad(*comm, inputs[comm->rank()]);
  EXPECT_TRUE(torch::equal(gathered, torch::cat(inputs)));
}

TEST(AllGatherWithGrad, AveragedGradientsEqualTheSingleProcessGradient) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  const int n = comm->world_size();
  const std::vector<torch::Tensor> inputs = inputs_of_all_ranks(n);
  torch::manual_seed(5);
  const torch::Tensor projection_init = torch::randn({kDim, kDim});  // a shared parameter
  const torch::Tensor mixing = torch::randn({kDim, 2});              // fixed matrix in the loss
  auto loss_of = [&](const torch::Tensor& batch) { return (batch.matmul(mixing)).pow(2).sum(); };

  // Single process over the whole batch.
  torch::Tensor all_inputs = torch::cat(inputs).requires_grad_();
  torch::Tensor projection_ref = projection_init.clone().requires_grad_();
  loss_of(all_inputs.matmul(projection_ref)).backward();

  // Distributed: every rank projects its slice, gathers, and computes the same global loss.
  torch::Tensor local = inputs[comm->rank()].clone().requires_grad_();
  torch::Tensor projection = projection_init.clone().requires_grad_();
  loss_of(all_gather_with_grad(*comm, local.matmul(projection))).backward();

  torch::Tensor projection_grad = projection.grad().clone();
  comm->all_reduce(projection_grad, /*average=*/true);  // what the trainer does
  EXPECT_TRUE(torch::allclose(projection_grad, projection_ref.grad(), 1e-5, 1e-5));
  // Per-sample input gradients: this rank's slice, scaled by n, then averaged (divided by n).
  torch::Tensor input_grads = comm->all_gather(local.grad()) / n;
  EXPECT_TRUE(torch::allclose(input_grads, all_inputs.grad(), 1e-5, 1e-5));
}

}  // namespace
}  // namespace pride
