// Saving checkpoints: ownership split, cross-rank error agreement, the three save phases, the
// atomic publish on rank 0, retention and cleanup (format: docs/checkpoint-format.md).
#include "checkpoints/checkpoint.h"
#include "util/fault_injection.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "checkpoints/protocol.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxAgreedMessage = 4096;

// Sends the error message of rank `root` to every rank.
std::string broadcast_message(Communicator& comm, const std::string& message, int root) {
  torch::Tensor buffer = torch::zeros({kMaxAgreedMessage}, torch::kUInt8);
  const size_t length = std::min(message.size(), static_cast<size_t>(kMaxAgreedMessage - 1));
  std::memcpy(buffer.data_ptr<uint8_t>(), message.data(), length);
  buffer = buffer.to(comm.device());
  comm.broadcast(buffer, root);
  buffer = buffer.cpu();
  return std::string(reinterpret_cast<const char*>(buffer.data_ptr<uint8_t>()));
}

// Makes `tmp` visible as `final_dir` with one rename. Saving a step that already exists (a
// preemption save right after a periodic one) moves the old one aside first; a crash between the
// two renames leaves `latest` naming a missing directory, which load_resume_point skips.
void move_into_place(const std::string& dir, const std::string& tmp, const std::string& final_dir) {
  if (!fs::exists(final_dir)) return rename_durably(tmp, final_dir);
  const std::string replaced =
      join(dir, ".tmp-replaced-" + fs::path(final_dir).filename().string());
  fs::remove_all(replaced);
  rename_durably(final_dir, replaced);
  rename_durably(tmp, final_dir);
  fs::remove_all(replaced);
}

// Deletes a checkpoint by first renaming it to a .tmp- name, so that a crash mid-deletion never
// leaves a half-deleted step_* directory that looks complete.
void delete_checkpoint(const std::string& dir, const std::string& name) {
  const std::string doomed = join(dir, ".tmp-delete-" + name);
  fs::remove_all(doomed);
  rename_durably(join(dir, name), doomed);
  fs::remove_all(doomed);
}

void apply_retention(const std::string& dir, const SaveOptions& options, int64_t saved_step) {
  if (options.keep <= 0) return;
  const std::vector<std::pair<int64_t, std::string>> steps = list_step_dirs(dir);
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& [step, name] = steps[i];
    const bool newest = static_cast<int64_t>(i) < options.keep || step == saved_step;
    const bool milestone = options.keep_every > 0 && step % options.keep_every == 0;
    if (!newest && !milestone) delete_checkpoint(dir, name);
  }
}

// Rank 0's part of phase 3: every shard is written and digested; make the checkpoint visible.
void publish(const std::string& dir, const Manifest& manifest, const SaveOptions& options) {
  const std::string tmp = temporary_dir(dir, manifest.step);
  const std::string name = step_dir_name(manifest.step);
  replace_file_atomically(join(tmp, kManifestFile), manifest_to_json(manifest).dump(1) + "\n");
  fsync_directory(tmp);  // the shard entries written by every rank
  move_into_place(dir, tmp, join(dir, name));
  replace_file_atomically(join(dir, "latest"), name + "\n");
  apply_retention(dir, options, manifest.step);
}

void record_digests(Manifest& plan, const torch::Tensor& gathered) {
  auto values = gathered.accessor<int64_t, 1>();
  for (int rank = 0; rank < plan.world_size; ++rank) {
    ShardRecord& shard = plan.shards[rank];
    const int64_t written = values[2 * rank];
    if (written != shard.digest.bytes) {
      fail("checkpoint step {}: {} has {} bytes, expected {}", plan.step, shard.file, written,
           shard.digest.bytes);
    }
    shard.digest.xxh64 = static_cast<uint64_t>(values[2 * rank + 1]);
  }
}

}  // namespace

const torch::Tensor& CheckpointState::tensor(const std::string& name) const {
  for (const TensorEntry& entry : tensors) {
    if (entry.name == name) return entry.full;
  }
  fail("checkpoint state has no tensor '{}'", name);
}

std::pair<int64_t, int64_t> owned_range(int64_t length, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world || length < 0) {
    fail("owned_range: invalid length {} / rank {} / world {}", length, rank, world);
  }
  return {length * rank / world, length * (rank + 1) / world};
}

std::string step_dir_name(int64_t step) {
  return fmt::format("step_{:08d}", step);
}

std::string temporary_dir(const std::string& dir, int64_t step) {
  return join(dir, ".tmp-" + step_dir_name(step));
}

std::vector<std::pair<int64_t, std::string>> list_step_dirs(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> steps;
  if (!fs::is_directory(dir)) return steps;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string digits = name.substr(std::min<size_t>(name.size(), 5));
    if (name.rfind("step_", 0) != 0 || digits.empty() || digits.size() > 18 ||
        digits.find_first_not_of("0123456789") != std::string::npos || !entry.is_directory()) {
      continue;
    }
    steps.emplace_back(std::stoll(digits), name);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

void run_agreed(Communicator& comm, const std::function<void()>& work) {
  std::string error;
  try {
    work();
  } catch (const std::exception& exception) {
    error = *exception.what() ? exception.what() : "unknown error";
  }
  torch::Tensor failed = torch::zeros({comm.world_size()}, torch::kInt64);
  failed[comm.rank()] = error.empty() ? 0 : 1;
  failed = failed.to(comm.device());
  comm.all_reduce(failed);
  failed = failed.cpu();
  const torch::Tensor failing = failed.nonzero();
  if (failing.numel() == 0) return;
  const int first = static_cast<int>(failing[0][0].item<int64_t>());
  throw Error(comm.world_size() > 1 ? broadcast_message(comm, error, first) : error);
}

void check_saveable(const CheckpointState& state) {
  std::set<std::string> names;
  for (const TensorEntry& entry : state.tensors) {
    const torch::Tensor& full = entry.full;
    if (!full.defined() || full.dim() != 1 || !full.is_contiguous() || !full.device().is_cpu()) {
      fail("checkpoint: tensor '{}' must be a defined 1-D contiguous CPU tensor", entry.name);
    }
    dtype_name(full.scalar_type());  // throws for dtypes the format does not name
    if (!names.insert(entry.name).second) fail("checkpoint: tensor '{}' appears twice", entry.name);
  }
}

void prepare_save(Communicator& comm, const std::string& dir, int64_t step) {
  run_agreed(comm, [&] {
    if (comm.rank() != 0) return;
    const std::string tmp = temporary_dir(dir, step);
    fs::create_directories(dir);
    fs::remove_all(tmp);
    fs::create_directory(tmp);
  });
}

FileDigest write_own_shard(const std::string& dir, const CheckpointState& state,
                           const Manifest& plan, int rank) {
  const std::string header = shard_header(rank, plan.world_size, plan.step);
  std::vector<ByteSpan> pieces = {{header.data(), static_cast<int64_t>(header.size())}};
  for (size_t t = 0; t < state.tensors.size(); ++t) {
    const ShardRange& range = plan.tensors[t].ranges[rank];
    const torch::Tensor& full = state.tensors[t].full;
    const int64_t item = static_cast<int64_t>(full.element_size());
    pieces.push_back({static_cast<const char*>(full.data_ptr()) + range.begin * item,
                      (range.end - range.begin) * item});
  }
  return write_file_durably(join(temporary_dir(dir, plan.step), plan.shards[rank].file), pieces);
}

std::string finalize_save(Communicator& comm, const std::string& dir, Manifest plan,
                          const std::function<FileDigest()>& own_shard,
                          const SaveOptions& options) {
  FileDigest own;
  run_agreed(comm, [&] { own = own_shard(); });
  maybe_inject_fault("save", comm.rank(), plan.step);  // tests kill a rank here, mid-save
  const torch::Tensor mine =
      torch::tensor(std::vector<int64_t>{own.bytes, static_cast<int64_t>(own.xxh64)});
  const torch::Tensor gathered = comm.all_gather(mine.to(comm.device())).cpu();
  run_agreed(comm, [&] {
    if (comm.rank() != 0) return;
    record_digests(plan, gathered);
    publish(dir, plan, options);
  });
  return join(dir, step_dir_name(plan.step));
}

std::string save_checkpoint(const std::string& dir, const CheckpointState& state,
                            Communicator& comm, const SaveOptions& options) {
  check_saveable(state);
  const Manifest plan = plan_manifest(state, comm.world_size());
  prepare_save(comm, dir, state.step);
  return finalize_save(
      comm, dir, plan, [&] { return write_own_shard(dir, state, plan, comm.rank()); }, options);
}

void clean_incomplete(const std::string& dir) {
  if (!fs::is_directory(dir)) return;
  try {
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(".tmp-", 0) == 0 || name == "latest.tmp") fs::remove_all(entry.path());
    }
  } catch (const fs::filesystem_error& error) {
    fail("cannot clean incomplete checkpoints in {}: {}", dir, error.what());
  }
}

}  // namespace pride
