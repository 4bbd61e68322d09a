// Sharded, atomic, world-size-independent checkpoints (format: docs/checkpoint-format.md).
//
// Every rank holds the full (replicated) state, but each rank writes only the contiguous element
// range it owns of every flat tensor, so save time falls with the number of ranks. A checkpoint is
// written into a hidden temporary directory and made visible by one rename, so a crash at any
// instant leaves the previous checkpoint intact. Loading works under any world size: each rank
// reads the ranges it owns now from whichever shard files hold them, then all ranks all-gather.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "distributed/communicator.h"
#include "io/file_io.h"

namespace pride {

// A 1-D contiguous CPU tensor (any dtype), identical on every rank.
struct TensorEntry {
  std::string name;
  torch::Tensor full;
};

// A model parameter inside the flat "model.params" tensor (used by the safetensors export).
struct ParamSlice {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;
};

struct CheckpointState {
  int64_t step = 0, epoch = 0, samples_consumed = 0;
  int world_size = 1;       // filled by save_checkpoint; on load, the world size at save
  std::string config_yaml;  // the effective config
  nlohmann::json extra;     // small state: scheduler and data position, counters, RNG seeds...
  std::vector<TensorEntry> tensors;  // e.g. "model.params", "optim.exp_avg", "rng.torch_cpu"
  std::vector<ParamSlice> params;    // layout of model.params

  // The tensor called `name`; pride::Error when absent.
  const torch::Tensor& tensor(const std::string& name) const;
};

// The element range [begin, end) of a flat tensor of `length` elements that `rank` of `world`
// owns: a balanced contiguous split (sizes differ by at most one), in rank order.
std::pair<int64_t, int64_t> owned_range(int64_t length, int rank, int world);

struct SaveOptions {
  int64_t keep = 3;        // newest checkpoints kept; <= 0 keeps all
  int64_t keep_every = 0;  // also keep steps that are multiples of this; 0: none
};

// "step_00000100": the directory name of a step's checkpoint (zero-padded so names sort).
std::string step_dir_name(int64_t step);

// The checkpoint directory that `root`/latest names, or nullopt when `root` has no `latest` file. A
// name that is not one entry of `root` ("../x", "/abs", "a/b", empty) is a pride::Error naming the
// file: a path read from a file never leads outside its directory.
std::optional<std::string> read_latest(const std::string& root);

// The tensor `name` of a loaded checkpoint, copied into `target` after a size check.
void copy_checkpoint_tensor(const CheckpointState& state, const std::string& name,
                            const std::string& path, torch::Tensor& target);

// Saves `state` as <dir>/step_<N> and points <dir>/latest at it, then applies retention.
// Collective: every rank calls it with the same state. Returns the checkpoint's path.
std::string save_checkpoint(const std::string& dir, const CheckpointState& state,
                            Communicator& comm, const SaveOptions& options);

// Loads a checkpoint saved under any world size; every rank gets the full tensors. Each rank
// verifies the checksums of the shard files it reads. Collective: a missing or corrupt file makes
// every rank throw the same pride::Error naming the file.
CheckpointState load_checkpoint(const std::string& path, Communicator& comm);

// The checkpoint a run resumes from, loaded.
struct ResumePoint {
  std::string path;
  CheckpointState state;
};

// `dir_or_path` is either a checkpoint (a directory with manifest.json), which must load, or a
// checkpoint root: then the newest checkpoint under it that loads (the one `latest` names, else
// older complete step_* directories, with a warning on stderr for each invalid one skipped), or
// std::nullopt when the root holds none. Collective, like load_checkpoint: each shard file is read,
// and its checksum verified, once.
std::optional<ResumePoint> load_resume_point(const std::string& dir_or_path, Communicator& comm);

// Removes what an interrupted save or deletion left under `dir` (.tmp-* entries, latest.tmp).
// Call on rank 0 only, before any rank saves.
void clean_incomplete(const std::string& dir);

// Verifies the manifest and every shard file; returns a human-readable report (pride ckpt
// inspect). Throws pride::Error naming the file at the first problem.
std::string inspect_checkpoint(const std::string& path);

// Writes the student's weights (the params slices of model.params) as a safetensors file.
// Single process: reads all shards.
void export_safetensors(const std::string& checkpoint_path, const std::string& out_file);

// Saves checkpoints in the background. save() snapshots the state (clones the tensors) and hands
// this rank's shard writing to a worker thread; the collective part (checksum gather, manifest,
// rename, latest, retention) runs on the calling thread in poll() or wait(), because MPI calls
// must stay on the main thread. save(), poll() and wait() are collective: every rank calls them at
// the same points. At most one save is in flight; save() first waits for the previous one.
class AsyncCheckpointer {
 public:
  AsyncCheckpointer(Communicator& comm, std::string dir, SaveOptions options);
  // Joins the worker without finalizing (no collectives in a destructor): a save not finished
  // with wait() leaves only a .tmp- directory, removed by clean_incomplete at the next start.
  ~AsyncCheckpointer();
  AsyncCheckpointer(const AsyncCheckpointer&) = delete;
  AsyncCheckpointer& operator=(const AsyncCheckpointer&) = delete;

  void save(CheckpointState state);
  // Cheap: one all-reduce of "my shard is written"; finalizes when every rank's is.
  void poll();
  // Blocks until the save in flight (if any) is complete and visible.
  void wait();
  bool in_flight() const { return in_flight_; }
  // Path of the last checkpoint finalized ("" before the first).
  const std::string& last_saved() const { return last_saved_; }

 private:
  void finalize();

  Communicator& comm_;
  std::string dir_;
  SaveOptions options_;
  bool in_flight_ = false;
  CheckpointState pending_;                // the snapshot the worker is writing
  std::future<FileDigest> shard_written_;  // this rank's shard, written by the worker
  std::string last_saved_;
};

}  // namespace pride
