// The steps that save_checkpoint, load_checkpoint and AsyncCheckpointer share: error agreement
// across ranks, the three phases of a save, and reading this rank's ranges from shard files.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "checkpoints/checkpoint.h"
#include "checkpoints/manifest.h"
#include "distributed/communicator.h"
#include "io/file_io.h"

namespace pride {

// `dir`/`name`.
inline std::string join(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

// Runs `work` on this rank, then agrees with every rank on the outcome: if it threw anywhere,
// every rank throws the same pride::Error (the message of the lowest failing rank), so no rank
// is left waiting in a later collective. Collective.
void run_agreed(Communicator& comm, const std::function<void()>& work);

// <dir>/.tmp-step_<N>: where a save is written before its one visible rename.
std::string temporary_dir(const std::string& dir, int64_t step);

// Save phase 1 (collective): rank 0 creates an empty temporary directory for `step`.
void prepare_save(Communicator& comm, const std::string& dir, int64_t step);
// Save phase 2 (local, any thread): writes and fsyncs this rank's shard as `plan` lays it out.
FileDigest write_own_shard(const std::string& dir, const CheckpointState& state,
                           const Manifest& plan, int rank);
// Save phase 3 (collective): agrees on `own_shard` (phase 2's result, or its error), gathers the
// shard digests, and rank 0 publishes the checkpoint (manifest, rename, latest, retention).
// Returns the checkpoint's path.
std::string finalize_save(Communicator& comm, const std::string& dir, Manifest plan,
                          const std::function<FileDigest()>& own_shard, const SaveOptions& options);

// The complete-looking checkpoints under `dir` (step_<digits> directories), newest step first.
std::vector<std::pair<int64_t, std::string>> list_step_dirs(const std::string& dir);

// Validates `state` for saving (1-D contiguous CPU tensors with unique names).
void check_saveable(const CheckpointState& state);

// This rank's owned part of every tensor under (rank, world), read from the shard files of the
// checkpoint at `path`, each verified against the manifest before use. Local (no collectives).
std::vector<torch::Tensor> read_owned_parts(const std::string& path, const Manifest& manifest,
                                            int rank, int world);
// Reads shard `shard` once, front to back, passing its bytes to `on_chunk` (which may be empty)
// as they arrive, and checks its size, checksum and header against the manifest: a pride::Error
// naming the file when any differs, in which case what `on_chunk` received is not to be used.
void read_verified_shard(const std::string& path, const Manifest& manifest, int shard,
                         const ChunkConsumer& on_chunk = {});

}  // namespace pride
