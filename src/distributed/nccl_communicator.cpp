// NcclCommunicator (CUDA tensors): NCCL collectives on a dedicated stream, fenced against the
// compute stream with CUDA events, bootstrapped and shape-checked over MPI, bounded by a timeout
// that aborts the NCCL communicator. Compiled only with PRIDE_WITH_NCCL.
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/accumulate.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include "distributed/mpi_c.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

#include "distributed/mpi_communicator.h"
#include "distributed/nccl_communicator.h"
#include "distributed/poll_wait.h"
#include "util/error.h"

namespace pride {
namespace {

void check_nccl(ncclResult_t result, const std::string& what) {
  if (result != ncclSuccess) fail("NCCL error in {}: {}", what, ncclGetErrorString(result));
}

void check_cuda(cudaError_t result, const std::string& what) {
  if (result != cudaSuccess) fail("CUDA error in {}: {}", what, cudaGetErrorString(result));
}

ncclDataType_t nccl_type(torch::ScalarType type, const std::string& op) {
  switch (type) {
    case torch::kFloat:
      return ncclFloat32;
    case torch::kDouble:
      return ncclFloat64;
    case torch::kHalf:
      return ncclFloat16;
#if defined(__CUDA_BF16_TYPES_EXIST__) && NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case torch::kBFloat16:
      return ncclBfloat16;
#endif
    case torch::kLong:
      return ncclInt64;
    case torch::kInt:
      return ncclInt32;
    case torch::kByte:
      return ncclUint8;
    case torch::kChar:
      return ncclInt8;
    default:
      fail("{}: the NCCL backend does not support dtype {}", op, c10::toString(type));
  }
}

// The reduction NCCL runs for a sum or an average of `tensor` over `world_size` ranks: ncclAvg for
// a floating average where NCCL has it (2.10+), else a sum that divide_for_average finishes.
struct NcclReduction {
  ncclRedOp_t op = ncclSum;
  bool divide_after = false;
};

NcclReduction reduction_for(const torch::Tensor& tensor, bool average, int world_size) {
  NcclReduction reduction;
  reduction.divide_after = average && world_size > 1;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
  if (reduction.divide_after && torch::isFloatingType(tensor.scalar_type())) {
    reduction.op = ncclAvg;
    reduction.divide_after = false;
  }
#endif
  return reduction;
}

// Keeps the caching allocator from recycling `tensor`'s memory while `stream` still uses it.
void record_on(const torch::Tensor& tensor, const c10::cuda::CUDAStream& stream) {
  if (tensor.defined() && tensor.numel() > 0) {
    c10::cuda::CUDACachingAllocator::recordStream(tensor.storage().data_ptr(), stream);
  }
}

}  // namespace

struct NcclCommunicator::Impl {
  Impl(const torch::Device& requested, double timeout_s)
      : bootstrap(MPI_COMM_WORLD, timeout_s),
        timeout_s(timeout_s),
        device_index(requested.has_index()
                         ? requested.index()
                         : static_cast<c10::DeviceIndex>(bootstrap.world().local_rank)),
        stream(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device_index)) {}

  MpiCommunicator bootstrap;  // NCCL id broadcast and all_gather shape exchange
  double timeout_s;
  c10::DeviceIndex device_index;
  c10::cuda::CUDAStream stream;
  ncclComm_t comm = nullptr;
  bool aborted = false;

  // Aborts the NCCL communicator (unblocking its kernels) so the job can end with an error.
  void abort() {
    if (aborted || comm == nullptr) return;
    aborted = true;
    ncclCommAbort(comm);
  }

  void check_usable(const std::string& op) const {
    if (aborted) fail("{}: the NCCL communicator was aborted after an earlier failure", op);
  }

  void check_tensor(const torch::Tensor& tensor, const std::string& op) const {
    if (!tensor.defined()) fail("{}: tensor is undefined", op);
    if (!tensor.is_cuda() || tensor.get_device() != device_index) {
      fail("{}: the NCCL backend needs tensors on cuda:{}, got {}", op, device_index,
           tensor.device().str());
    }
  }
};

namespace {

// A nonblocking communicator may answer ncclInProgress to any call (initialisation, and the
// lazy connection set-up of a first collective): polls its state until it settles, within the
// timeout. Errors here are the transport's or a peer's: transient.
void settle(NcclCommunicator::Impl& impl, ncclResult_t result, const std::string& what) {
  if (result == ncclSuccess) return;
  if (result != ncclInProgress)
    fail_transient("NCCL error in {}: {}", what, ncclGetErrorString(result));
  ncclResult_t state = ncclInProgress;
  const bool settled = poll_until(
      [&] {
        ncclCommGetAsyncError(impl.comm, &state);
        return state != ncclInProgress;
      },
      impl.timeout_s);
  if (!settled) {
    impl.abort();
    fail_transient("{} did not complete within {} s (dist.timeout_s): a rank did not arrive", what,
                   impl.timeout_s);
  }
  if (state != ncclSuccess) fail_transient("NCCL error in {}: {}", what, ncclGetErrorString(state));
}

// ncclCommInitRank waits for every rank, so one that never arrives would hang it: nonblocking
// initialisation, settled against dist.timeout_s, makes that an error instead.
void init_bounded(NcclCommunicator::Impl& impl, const ncclUniqueId& id, int world, int rank) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  settle(impl, ncclCommInitRankConfig(&impl.comm, world, id, rank, &config), "ncclCommInitRank");
}

}  // namespace

// A collective enqueued on the NCCL stream; `done` is recorded after it (and after any
// post-processing such as averaging or copying back), so querying it tells completion.
class NcclOp : public PendingOp {
 public:
  NcclOp(NcclCommunicator::Impl* impl, std::string description, std::string context)
      : impl_(impl), description_(std::move(description)), context_(std::move(context)) {}

  at::cuda::CUDAEvent& done() { return done_; }

  bool poll() override { return done_.query(); }

  void wait() override {
    bool ok =
        poll_until([this] { return poll() || async_error() != ncclSuccess; }, impl_->timeout_s);
    ncclResult_t error = async_error();
    if (ok && error == ncclSuccess) {
      // The compute stream must not touch the result before NCCL is done with it.
      done_.block(c10::cuda::getCurrentCUDAStream(impl_->device_index));
      return;
    }
    impl_->abort();
    if (!ok) fail_collective_timeout(description_, impl_->timeout_s, context_);
    fail_transient("NCCL error during collective {} at {}: {}", description_, context_,
                   ncclGetErrorString(error));
  }

 private:
  ncclResult_t async_error() const {
    ncclResult_t error = ncclSuccess;
    if (!impl_->aborted) ncclCommGetAsyncError(impl_->comm, &error);
    return error;
  }

  NcclCommunicator::Impl* impl_;
  std::string description_;
  std::string context_;
  at::cuda::CUDAEvent done_;
};

NcclCommunicator::NcclCommunicator(const torch::Device& device, double timeout_s)
    : impl_(std::make_unique<Impl>(device, timeout_s)) {
  int device_count = 0;
  check_cuda(cudaGetDeviceCount(&device_count), "cudaGetDeviceCount");
  if (impl_->device_index >= device_count) {
    fail("NCCL backend: rank {} wants cuda:{} but only {} GPUs are visible", rank(),
         impl_->device_index, device_count);
  }
  // The rank's GPU becomes the current device for the whole process: code that allocates on
  // "cuda" without an index, and LibTorch's own kernels, then land where the collectives expect.
  check_cuda(cudaSetDevice(impl_->device_index), "cudaSetDevice");
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  torch::Tensor id_bytes = torch::from_blob(&id, {static_cast<int64_t>(sizeof(id))}, torch::kByte);
  impl_->bootstrap.broadcast(id_bytes, 0);
  init_bounded(*impl_, id, world_size(), rank());
}

NcclCommunicator::~NcclCommunicator() {
  if (impl_->comm != nullptr && !impl_->aborted) ncclCommDestroy(impl_->comm);
}

const WorldInfo& NcclCommunicator::world() const {
  return impl_->bootstrap.world();
}

torch::Device NcclCommunicator::device() const {
  return torch::Device(torch::kCUDA, impl_->device_index);
}

namespace {

// Enqueues one NCCL collective on the NCCL stream after the work already queued on the current
// compute stream, then `after` (on the NCCL stream), then the completion event.
std::unique_ptr<NcclOp> launch(NcclCommunicator::Impl& impl, const std::string& description,
                               const std::string& context,
                               const std::vector<torch::Tensor>& buffers,
                               const std::function<ncclResult_t(cudaStream_t)>& collective,
                               const std::function<void()>& after = {}) {
  impl.check_usable(description);
  c10::cuda::CUDAGuard device_guard(impl.device_index);
  at::cuda::CUDAEvent inputs_ready;
  inputs_ready.record(c10::cuda::getCurrentCUDAStream(impl.device_index));
  inputs_ready.block(impl.stream);
  for (const torch::Tensor& buffer : buffers) record_on(buffer, impl.stream);
  settle(impl, collective(impl.stream.stream()), description);
  auto op = std::make_unique<NcclOp>(&impl, description, context);
  {
    c10::cuda::CUDAStreamGuard stream_guard(impl.stream);
    torch::NoGradGuard no_grad;
    if (after) after();
  }
  op->done().record(impl.stream);
  return op;
}

}  // namespace

std::unique_ptr<PendingOp> NcclCommunicator::all_reduce_async(torch::Tensor& tensor, bool average) {
  impl_->check_tensor(tensor, "all_reduce");
  const std::string description = describe_collective("all_reduce", tensor);
  ncclDataType_t type = nccl_type(tensor.scalar_type(), description);
  torch::Tensor buffer = tensor.is_contiguous() ? tensor : tensor.contiguous();
  const bool staged = buffer.unsafeGetTensorImpl() != tensor.unsafeGetTensorImpl();
  const NcclReduction reduction = reduction_for(tensor, average, world_size());
  const int64_t divisor = world_size();
  torch::Tensor target = tensor;
  return launch(
      *impl_, description, context(), {buffer, target},
      [&](cudaStream_t stream) {
        return ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), buffer.numel(), type,
                             reduction.op, impl_->comm, stream);
      },
      [&] {
        if (reduction.divide_after) divide_for_average(buffer, divisor);
        if (staged) target.copy_(buffer);
      });
}

void NcclCommunicator::all_reduce(torch::Tensor& tensor, bool average) {
  all_reduce_async(tensor, average)->wait();
}

torch::Tensor NcclCommunicator::all_gather(const torch::Tensor& local) {
  impl_->check_tensor(local, "all_gather");
  const std::string description = describe_collective("all_gather", local);
  ncclDataType_t type = nccl_type(local.scalar_type(), description);
  // Sizes travel over MPI (host values anyway); NCCL needs equal counts, so pad to the largest.
  const std::vector<int64_t> rows = impl_->bootstrap.gather_row_counts(local);
  const int64_t max_rows = *std::max_element(rows.begin(), rows.end());
  torch::Tensor padded = local.contiguous();
  if (local.size(0) < max_rows) {
    std::vector<int64_t> pad_shape = local.sizes().vec();
    pad_shape[0] = max_rows - local.size(0);
    padded = torch::cat({padded, torch::zeros(pad_shape, local.options())});
  }
  std::vector<int64_t> out_shape = local.sizes().vec();
  out_shape[0] = max_rows * world_size();
  torch::Tensor gathered = torch::empty(out_shape, local.options());
  launch(*impl_, description, context(), {padded, gathered}, [&](cudaStream_t stream) {
    return ncclAllGather(padded.data_ptr(), gathered.data_ptr(), padded.numel(), type, impl_->comm,
                         stream);
  })->wait();
  if (std::all_of(rows.begin(), rows.end(), [&](int64_t n) { return n == max_rows; })) {
    return gathered;
  }
  std::vector<torch::Tensor> pieces;
  for (int r = 0; r < world_size(); ++r)
    pieces.push_back(gathered.narrow(0, r * max_rows, rows[r]));
  return torch::cat(pieces);
}

void NcclCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                      bool average) {
  impl_->check_tensor(input, "reduce_scatter");
  impl_->check_tensor(output, "reduce_scatter");
  const std::string description = describe_collective("reduce_scatter", input);
  check_scatter_sizes(input, output, world_size(), description);
  ncclDataType_t type = nccl_type(input.scalar_type(), description);
  torch::Tensor send = input.contiguous();
  torch::Tensor receive = output.is_contiguous() ? output : output.contiguous();
  const bool staged = receive.unsafeGetTensorImpl() != output.unsafeGetTensorImpl();
  const NcclReduction reduction = reduction_for(input, average, world_size());
  const int64_t divisor = world_size();
  launch(
      *impl_, description, context(), {send, receive, output},
      [&](cudaStream_t stream) {
        return ncclReduceScatter(send.data_ptr(), receive.data_ptr(), receive.numel(), type,
                                 reduction.op, impl_->comm, stream);
      },
      [&] {
        if (reduction.divide_after) divide_for_average(receive, divisor);
        if (staged) output.copy_(receive);
      })
      ->wait();
}

void NcclCommunicator::all_gather_into(const torch::Tensor& local, torch::Tensor& output) {
  impl_->check_tensor(local, "all_gather_into");
  impl_->check_tensor(output, "all_gather_into");
  const std::string description = describe_collective("all_gather_into", local);
  check_scatter_sizes(output, local, world_size(), description);
  ncclDataType_t type = nccl_type(local.scalar_type(), description);
  torch::Tensor send = local.contiguous();
  torch::Tensor receive = output.is_contiguous() ? output : output.contiguous();
  const bool staged = receive.unsafeGetTensorImpl() != output.unsafeGetTensorImpl();
  launch(
      *impl_, description, context(), {send, receive, output},
      [&](cudaStream_t stream) {
        return ncclAllGather(send.data_ptr(), receive.data_ptr(), send.numel(), type, impl_->comm,
                             stream);
      },
      [&] {
        if (staged) output.copy_(receive);
      })
      ->wait();
}

void NcclCommunicator::broadcast(torch::Tensor& tensor, int root) {
  impl_->check_tensor(tensor, "broadcast");
  if (root < 0 || root >= world_size()) {
    fail("broadcast: root {} is not a rank of a world of size {}", root, world_size());
  }
  const std::string description = describe_collective("broadcast", tensor);
  ncclDataType_t type = nccl_type(tensor.scalar_type(), description);
  torch::Tensor buffer = tensor.contiguous();
  const bool staged = buffer.unsafeGetTensorImpl() != tensor.unsafeGetTensorImpl();
  launch(
      *impl_, description, context(), {buffer, tensor},
      [&](cudaStream_t stream) {
        return ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), buffer.numel(), type, root,
                             impl_->comm, stream);
      },
      [&] {
        if (staged) tensor.copy_(buffer);
      })
      ->wait();
}

void NcclCommunicator::barrier() {
  torch::Tensor token = torch::zeros({1}, torch::TensorOptions().device(device()));
  launch(*impl_, "barrier", context(), {token}, [&](cudaStream_t stream) {
    return ncclAllReduce(token.data_ptr(), token.data_ptr(), 1, ncclFloat32, ncclSum, impl_->comm,
                         stream);
  })->wait();
}

}  // namespace pride
