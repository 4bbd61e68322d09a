// AsyncCheckpointer: shard writing on a worker thread, collectives on the caller's thread.
#include <chrono>
#include <utility>

#include "checkpoints/checkpoint.h"
#include "checkpoints/protocol.h"

namespace pride {

AsyncCheckpointer::AsyncCheckpointer(Communicator& comm, std::string dir, SaveOptions options)
    : comm_(comm), dir_(std::move(dir)), options_(options) {}

AsyncCheckpointer::~AsyncCheckpointer() {
  if (shard_written_.valid()) shard_written_.wait();
}

void AsyncCheckpointer::save(CheckpointState state) {
  wait();
  check_saveable(state);
  // The snapshot: training goes on updating the tensors the caller passed.
  for (TensorEntry& entry : state.tensors) entry.full = entry.full.clone();
  prepare_save(comm_, dir_, state.step);
  pending_ = std::move(state);
  in_flight_ = true;
  const int rank = comm_.rank(), world = comm_.world_size();
  shard_written_ = std::async(std::launch::async, [this, rank, world] {
    return write_own_shard(dir_, pending_, plan_manifest(pending_, world), rank);
  });
}

void AsyncCheckpointer::poll() {
  if (!in_flight_) return;
  const bool written =
      shard_written_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  torch::Tensor done = torch::tensor({written ? int64_t{1} : int64_t{0}});
  done = done.to(comm_.device());
  comm_.all_reduce(done);
  if (done.cpu().item<int64_t>() == comm_.world_size()) finalize();
}

void AsyncCheckpointer::wait() {
  if (in_flight_) finalize();
}

void AsyncCheckpointer::finalize() {
  in_flight_ = false;     // whatever happens below, this save is over
  shard_written_.wait();  // the worker reads pending_ until it is done
  const CheckpointState snapshot = std::move(pending_);
  pending_ = CheckpointState();
  std::future<FileDigest> written = std::move(shard_written_);
  last_saved_ = finalize_save(
      comm_, dir_, plan_manifest(snapshot, comm_.world_size()), [&] { return written.get(); },
      options_);
}

}  // namespace pride
