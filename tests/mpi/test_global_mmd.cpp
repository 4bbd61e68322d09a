// global_mmd under 1, 2 and 4 ranks and any micro-batch split: the value is the single-process
// MMD^2 of the whole batch, and the gradient the trainer assembles from row gradients (summed
// over micro-batches, averaged over ranks) equals the single-process gradient. Every tensor any
// collective receives lives on the communicator's own device.
#include <gtest/gtest.h>

#include "device_checking_communicator.h"
#include "distributed/communicator.h"
#include "models/losses.h"
#include "support.h"
#include "training/global_mmd.h"

namespace pride {
namespace {

using test::kTestTimeoutS;
constexpr int64_t kRows = 8, kIn = 5, kHidden = 4;
const std::vector<double> kBandwidths = {0.5, 1.0, 2.0};

// The whole batch, made identically on every rank: inputs, teacher rows, a shared projection.
struct Problem {
  torch::Tensor inputs, teacher, projection;
  Problem() {
    torch::manual_seed(3);
    inputs = torch::randn({kRows, kIn});
    teacher = torch::randn({kRows, kHidden}) + 0.5;
    projection = torch::randn({kIn, kHidden});
  }
};

// Splits this rank's rows into micro-batches of `micro`, runs global_mmd and the surrogate
// backward as the trainer does; returns the value and the rank-averaged projection gradient.
std::pair<double, torch::Tensor> distributed_mmd(Communicator& comm, const Problem& problem,
                                                 int64_t micro) {
  const torch::Device device = comm.device();
  const int64_t local = kRows / comm.world_size();
  auto mine = problem.inputs.narrow(0, comm.rank() * local, local).to(device);
  auto teacher = problem.teacher.narrow(0, comm.rank() * local, local).to(device);
  auto projection = problem.projection.to(device).clone().requires_grad_(true);
  std::vector<torch::Tensor> student_rows, teacher_rows;
  for (int64_t start = 0; start < local; start += micro) {
    torch::NoGradGuard no_grad;
    student_rows.push_back(mine.narrow(0, start, micro).matmul(projection));
    teacher_rows.push_back(teacher.narrow(0, start, micro));
  }
  const GlobalMmd mmd = global_mmd(comm, student_rows, teacher_rows, kBandwidths);
  for (size_t j = 0; j < student_rows.size(); ++j) {
    auto features = mine.narrow(0, j * micro, micro).matmul(projection);
    (mmd_surrogate(features, mmd.row_gradients[j]) * comm.world_size()).backward();
  }
  torch::Tensor grad = projection.grad().clone();
  comm.all_reduce(grad, /*average=*/true);  // what the gradient synchronizer does
  return {mmd.value.item<double>(), grad.cpu()};
}

TEST(GlobalMmd, EqualsTheSingleProcessMmdForEverySplit) {
  auto comm = checked_comm(kTestTimeoutS);
  const Problem problem;
  auto projection = problem.projection.clone().requires_grad_(true);
  auto reference = mmd2_unbiased(problem.inputs.matmul(projection), problem.teacher, kBandwidths);
  reference.backward();
  const int64_t local = kRows / comm->world_size();
  for (int64_t micro = 1; micro <= local; micro *= 2) {
    const auto [value, grad] = distributed_mmd(*comm, problem, micro);
    EXPECT_NEAR(value, reference.item<double>(), 1e-6) << "micro " << micro;
    EXPECT_TRUE(torch::allclose(grad, projection.grad(), 1e-5, 1e-6)) << "micro " << micro;
  }
  EXPECT_TRUE(comm->violations.empty()) << comm->violations.front();
}

TEST(GlobalMmd, SmallCollectivesStageOnTheCommunicatorsDevice) {
  auto comm = checked_comm(kTestTimeoutS);
  const auto sums = all_reduce_small(*comm, torch::ones({3}, torch::kFloat64));
  EXPECT_EQ(sums[0].item<double>(), comm->world_size());
  EXPECT_TRUE(sums.device().is_cpu());
  EXPECT_TRUE(comm->violations.empty()) << comm->violations.front();
}

}  // namespace
}  // namespace pride
