// Implements training/global_mmd.h.
#include "training/global_mmd.h"

#include "models/losses.h"
#include "util/error.h"

namespace pride {

GlobalMmd global_mmd(Communicator& comm, const std::vector<torch::Tensor>& student_rows,
                     const std::vector<torch::Tensor>& teacher_rows,
                     const std::vector<double>& bandwidth_multipliers) {
  const auto student = torch::cat(student_rows).detach().to(torch::kFloat);
  const auto teacher = torch::cat(teacher_rows).to(student.device(), torch::kFloat);
  if (student.size(0) != teacher.size(0)) {
    fail("global_mmd: {} student rows but {} teacher rows", student.size(0), teacher.size(0));
  }
  // One collective for both sides; rows arrive rank after rank, this rank's at rank * local.
  const int64_t local = student.size(0), width = student.size(1);
  const auto gathered =
      comm.all_gather(torch::cat({student, teacher}, 1).to(comm.device())).to(student.device());
  if (gathered.size(0) != local * comm.world_size()) {
    fail("global_mmd: ranks hold different row counts ({} gathered, {} here x {} ranks)",
         gathered.size(0), local, comm.world_size());
  }
  auto all_student = gathered.narrow(1, 0, width).clone().requires_grad_(true);
  const auto all_teacher = gathered.narrow(1, width, gathered.size(1) - width);

  GlobalMmd result;
  torch::Tensor gradient;
  {
    torch::AutoGradMode enable(true);  // the caller may be in a no-grad region
    auto value = mmd2_unbiased(all_student, all_teacher, bandwidth_multipliers);
    gradient = torch::autograd::grad({value}, {all_student})[0];
    result.value = value.detach();
  }
  int64_t offset = comm.rank() * local;
  for (const auto& rows : student_rows) {
    result.row_gradients.push_back(gradient.narrow(0, offset, rows.size(0)));
    offset += rows.size(0);
  }
  return result;
}

torch::Tensor mmd_surrogate(const torch::Tensor& features, const torch::Tensor& row_gradient) {
  return (features.to(torch::kFloat) * row_gradient).sum();
}

}  // namespace pride
