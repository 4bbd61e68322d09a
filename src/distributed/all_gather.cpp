// all_gather_with_grad as a custom autograd function: forward all-gathers, backward slices this
// rank's rows out of the incoming gradient and scales them by the world size.
#include "distributed/all_gather.h"

namespace pride {
namespace {

class AllGatherFunction : public torch::autograd::Function<AllGatherFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor local,
                               Communicator* comm) {
    // Our rows start after the lower ranks' rows, whose counts only they know.
    torch::Tensor rows = torch::tensor({local.size(0)}, torch::kLong).to(comm->device());
    torch::Tensor all_rows = comm->all_gather(rows).cpu();
    ctx->saved_data["start"] = all_rows.narrow(0, 0, comm->rank()).sum().item<int64_t>();
    ctx->saved_data["rows"] = local.size(0);
    ctx->saved_data["world_size"] = static_cast<int64_t>(comm->world_size());
    return comm->all_gather(local);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const int64_t start = ctx->saved_data["start"].toInt();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const int64_t world_size = ctx->saved_data["world_size"].toInt();
    return {grads[0].narrow(0, start, rows) * static_cast<double>(world_size), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_gather_with_grad(Communicator& comm, const torch::Tensor& local) {
  return AllGatherFunction::apply(local, &comm);
}

}  // namespace pride
