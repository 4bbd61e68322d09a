// MpiCommunicator: Communicator over MPI_Iallreduce / MPI_Iallgatherv / MPI_Ireduce_scatter_block /
// MPI_Iallgather / MPI_Ibcast / MPI_Ibarrier, each waited for with MPI_Test polling bounded by the
// timeout.
#include "distributed/mpi_communicator.h"

#include <c10/util/accumulate.h>

#include <climits>
#include <utility>

#include "distributed/poll_wait.h"
#include "util/error.h"

namespace pride {
namespace {

void check_mpi(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  // With MPI_ERRORS_RETURN, what reaches here is a failure of the transport or of a peer (a lost
  // rank); mistakes in our own arguments are caught before the call.
  fail_transient("MPI error in {}: {}", what, std::string(text, length));
}

MPI_Datatype mpi_type(torch::ScalarType type, const std::string& op) {
  switch (type) {
    case torch::kFloat:
      return MPI_FLOAT;
    case torch::kDouble:
      return MPI_DOUBLE;
    case torch::kLong:
      return MPI_INT64_T;
    case torch::kInt:
      return MPI_INT32_T;
    case torch::kByte:
      return MPI_UINT8_T;
    default:
      fail("{}: the MPI backend does not support dtype {} (float32, float64, int64, int32, uint8)",
           op, c10::toString(type));
  }
}

int mpi_count(int64_t count, const std::string& op) {
  if (count > INT_MAX) fail("{}: {} elements exceed MPI's int count limit", op, count);
  return static_cast<int>(count);
}

void check_defined(const torch::Tensor& tensor, const std::string& op) {
  if (!tensor.defined()) fail("{}: tensor is undefined", op);
}

// The contiguous CPU tensor MPI works on: `tensor` itself when possible, else a copy.
torch::Tensor staging_buffer(const torch::Tensor& tensor) {
  if (tensor.device().is_cpu() && tensor.is_contiguous()) return tensor;
  return tensor.detach().to(torch::kCPU).contiguous();
}

// Writes a staged result back into the caller's tensor (no-op when MPI worked in place).
void copy_back(torch::Tensor& target, const torch::Tensor& buffer) {
  if (buffer.unsafeGetTensorImpl() == target.unsafeGetTensorImpl()) return;
  torch::NoGradGuard no_grad;
  target.copy_(buffer);
}

// What a collective between one whole tensor and per-rank slices of it (reduce-scatter, all-gather
// into) checks and stages before it starts: sizes, dtype and counts, host buffers.
struct SlicedCall {
  std::string description;
  MPI_Datatype type;
  int slice_count;
  torch::Tensor send, receive;
};

SlicedCall open_sliced_call(const char* op, const torch::Tensor& send, const torch::Tensor& receive,
                            const torch::Tensor& whole, const torch::Tensor& slice,
                            int world_size) {
  check_defined(send, op);
  check_defined(receive, op);
  SlicedCall call;
  call.description = describe_collective(op, send);
  check_scatter_sizes(whole, slice, world_size, call.description);
  call.type = mpi_type(send.scalar_type(), call.description);
  call.slice_count = mpi_count(slice.numel(), call.description);
  mpi_count(whole.numel(), call.description);
  call.send = staging_buffer(send);
  call.receive = staging_buffer(receive);
  return call;
}

}  // namespace

WorldInfo describe_comm(MPI_Comm comm) {
  WorldInfo info;
  check_mpi(MPI_Comm_rank(comm, &info.rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm, &info.world_size), "MPI_Comm_size");
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, info.rank, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  check_mpi(MPI_Comm_rank(node, &info.local_rank), "MPI_Comm_rank(node)");
  check_mpi(MPI_Comm_size(node, &info.local_size), "MPI_Comm_size(node)");
  MPI_Comm_free(&node);
  return info;
}

// One started collective. Until it completes, the request and every buffer it touches must stay
// alive: an op that is given up on (timeout, or destroyed unwaited during unwinding) is leaked on
// purpose, because MPI may still write into its buffers if the other ranks arrive later.
class MpiCommunicator::Op : public PendingOp {
 public:
  Op(std::string description, std::string context, double timeout_s,
     std::vector<torch::Tensor> buffers, std::function<void()> on_complete)
      : description_(std::move(description)),
        context_(std::move(context)),
        timeout_s_(timeout_s),
        buffers_(std::move(buffers)),
        on_complete_(std::move(on_complete)) {}

  ~Op() override {
    if (!completed_) abandon();
  }

  MPI_Request* request() { return &request_; }

  bool poll() override {
    if (completed_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "MPI_Test for " + description_);
    completed_ = flag != 0;
    return completed_;
  }

  void wait() override {
    if (finished_) return;
    if (!poll_until([this] { return poll(); }, timeout_s_)) {
      abandon();
      fail_collective_timeout(description_, timeout_s_, context_);
    }
    finished_ = true;
    if (on_complete_) on_complete_();
  }

 private:
  void abandon() {
    if (request_ == MPI_REQUEST_NULL) return;
    new std::vector<torch::Tensor>(std::move(buffers_));  // deliberately leaked, see above
    request_ = MPI_REQUEST_NULL;
    completed_ = true;
    finished_ = true;
  }

  std::string description_;
  std::string context_;
  double timeout_s_;
  std::vector<torch::Tensor> buffers_;
  std::function<void()> on_complete_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool completed_ = false;
  bool finished_ = false;
};

MpiCommunicator::MpiCommunicator(MPI_Comm parent, double timeout_s) : timeout_s_(timeout_s) {
  if (timeout_s <= 0) fail("dist.timeout_s must be positive, got {}", timeout_s);
  check_mpi(MPI_Comm_dup(parent, &comm_), "MPI_Comm_dup");
  // Errors come back as return codes (turned into pride::Error) rather than aborting in MPI.
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  world_ = describe_comm(comm_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // MPI_Comm_free is local in Open MPI; ops still pending on the communicator complete first.
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::unique_ptr<MpiCommunicator::Op> MpiCommunicator::start(
    std::string description, std::vector<torch::Tensor> buffers,
    const std::function<int(MPI_Request*)>& start_fn, std::function<void()> on_complete) {
  auto op = std::make_unique<Op>(description, context(), timeout_s_, std::move(buffers),
                                 std::move(on_complete));
  check_mpi(start_fn(op->request()), description);
  return op;
}

std::unique_ptr<PendingOp> MpiCommunicator::all_reduce_async(torch::Tensor& tensor, bool average) {
  check_defined(tensor, "all_reduce");
  const std::string description = describe_collective("all_reduce", tensor);
  MPI_Datatype type = mpi_type(tensor.scalar_type(), description);
  int count = mpi_count(tensor.numel(), description);
  torch::Tensor buffer = staging_buffer(tensor);
  const int64_t divisor = average ? world_size() : 1;
  auto finish = [target = tensor, buffer, divisor]() mutable {
    if (divisor != 1) divide_for_average(buffer, divisor);
    copy_back(target, buffer);
  };
  return start(
      description, {buffer},
      [&](MPI_Request* request) {
        return MPI_Iallreduce(MPI_IN_PLACE, buffer.data_ptr(), count, type, MPI_SUM, comm_,
                              request);
      },
      finish);
}

void MpiCommunicator::all_reduce(torch::Tensor& tensor, bool average) {
  all_reduce_async(tensor, average)->wait();
}

std::vector<int64_t> MpiCommunicator::gather_row_counts(const torch::Tensor& local) {
  check_defined(local, "all_gather");
  if (local.dim() == 0) fail("all_gather: tensor must have at least one dimension");
  enum Field { kDtype, kDims, kRows, kRowNumel, kFields };
  const int64_t row_numel = c10::multiply_integers(local.sizes().slice(1));
  torch::Tensor mine = torch::tensor(
      {static_cast<int64_t>(local.scalar_type()), local.dim(), local.size(0), row_numel},
      torch::kLong);
  torch::Tensor all = torch::empty({world_size(), kFields}, torch::kLong);
  start("all_gather (shape exchange)", {mine, all}, [&](MPI_Request* request) {
    return MPI_Iallgather(mine.data_ptr(), kFields, MPI_INT64_T, all.data_ptr(), kFields,
                          MPI_INT64_T, comm_, request);
  })->wait();

  // Every rank checks every rank's entry against rank 0's, so a mismatch fails everywhere alike.
  auto field = all.accessor<int64_t, 2>();
  std::vector<int64_t> rows(world_size());
  for (int r = 0; r < world_size(); ++r) {
    if (field[r][kDtype] != field[0][kDtype] || field[r][kDims] != field[0][kDims] ||
        field[r][kRowNumel] != field[0][kRowNumel]) {
      auto type_of = [&](int who) { return static_cast<torch::ScalarType>(field[who][kDtype]); };
      fail(
          "all_gather: rank {} passes dtype {} with {} dims and {} elements per row, but rank 0 "
          "passes dtype {} with {} dims and {} elements per row",
          r, c10::toString(type_of(r)), field[r][kDims], field[r][kRowNumel],
          c10::toString(type_of(0)), field[0][kDims], field[0][kRowNumel]);
    }
    rows[r] = field[r][kRows];
  }
  return rows;
}

torch::Tensor MpiCommunicator::all_gather(const torch::Tensor& local) {
  const std::vector<int64_t> rows = gather_row_counts(local);
  const std::string description = describe_collective("all_gather", local);
  MPI_Datatype type = mpi_type(local.scalar_type(), description);
  const int64_t row_numel = c10::multiply_integers(local.sizes().slice(1));

  torch::Tensor counts = torch::empty({world_size()}, torch::kInt);
  torch::Tensor displacements = torch::empty({world_size()}, torch::kInt);
  int* count_of = counts.data_ptr<int>();
  int* displacement_of = displacements.data_ptr<int>();
  int64_t total_rows = 0;
  for (int r = 0; r < world_size(); ++r) {
    count_of[r] = mpi_count(rows[r] * row_numel, description);
    displacement_of[r] = mpi_count(total_rows * row_numel, description);
    total_rows += rows[r];
  }
  mpi_count(total_rows * row_numel, description);

  torch::Tensor send = staging_buffer(local);
  std::vector<int64_t> out_shape = local.sizes().vec();
  out_shape[0] = total_rows;
  torch::Tensor gathered = torch::empty(out_shape, send.options());
  start(description, {send, gathered, counts, displacements}, [&](MPI_Request* request) {
    return MPI_Iallgatherv(send.data_ptr(), count_of[rank()], type, gathered.data_ptr(), count_of,
                           displacement_of, type, comm_, request);
  })->wait();
  return gathered.to(local.device());
}

void MpiCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                     bool average) {
  SlicedCall call = open_sliced_call("reduce_scatter", input, output, input, output, world_size());
  start(
      call.description, {call.send, call.receive},
      [&](MPI_Request* request) {
        return MPI_Ireduce_scatter_block(call.send.data_ptr(), call.receive.data_ptr(),
                                         call.slice_count, call.type, MPI_SUM, comm_, request);
      },
      [&] {
        if (average) divide_for_average(call.receive, world_size());
        copy_back(output, call.receive);
      })
      ->wait();
}

void MpiCommunicator::all_gather_into(const torch::Tensor& local, torch::Tensor& output) {
  SlicedCall call = open_sliced_call("all_gather_into", local, output, output, local, world_size());
  // `local` may be this rank's own slice of `output` (ZeRO-1 gathers parameters in place); MPI
  // forbids aliased buffers and says so with MPI_IN_PLACE.
  const auto* own_slot = static_cast<const char*>(call.receive.data_ptr()) +
                         rank() * local.numel() * static_cast<int64_t>(local.element_size());
  const bool in_place = call.send.data_ptr() == own_slot;
  start(
      call.description, {call.send, call.receive},
      [&](MPI_Request* request) {
        return MPI_Iallgather(in_place ? MPI_IN_PLACE : call.send.data_ptr(), call.slice_count,
                              call.type, call.receive.data_ptr(), call.slice_count, call.type,
                              comm_, request);
      },
      [&] { copy_back(output, call.receive); })
      ->wait();
}

void MpiCommunicator::broadcast(torch::Tensor& tensor, int root) {
  check_defined(tensor, "broadcast");
  if (root < 0 || root >= world_size()) {
    fail("broadcast: root {} is not a rank of a world of size {}", root, world_size());
  }
  const std::string description = describe_collective("broadcast", tensor);
  MPI_Datatype type = mpi_type(tensor.scalar_type(), description);
  int count = mpi_count(tensor.numel(), description);
  torch::Tensor buffer = staging_buffer(tensor);
  start(
      description, {buffer},
      [&](MPI_Request* request) {
        return MPI_Ibcast(buffer.data_ptr(), count, type, root, comm_, request);
      },
      [&] { copy_back(tensor, buffer); })
      ->wait();
}

void MpiCommunicator::barrier() {
  start("barrier", {}, [&](MPI_Request* request) { return MPI_Ibarrier(comm_, request); })->wait();
}

}  // namespace pride
