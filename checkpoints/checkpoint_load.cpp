// Reading checkpoints: verified shard reads, loading under any world size, choosing the
// checkpoint to resume from, and full inspection (format: docs/checkpoint-format.md).
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "checkpoints/checkpoint.h"
#include "checkpoints/protocol.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;

void check_header(const std::string& header, const std::string& file, int shard, int world) {
  uint32_t fields[3] = {};
  if (header.size() >= 8 + sizeof(fields)) std::memcpy(fields, header.data() + 8, sizeof(fields));
  if (header.compare(0, 8, "PRIDESHD") != 0 || fields[1] != static_cast<uint32_t>(shard) ||
      fields[2] != static_cast<uint32_t>(world)) {
    fail("{}: not shard {} of {} of a pride checkpoint (bad header)", file, shard, world);
  }
}

// Copies what a chunk of a shard holds of this rank's owned range [begin, end) of one tensor
// (stored at range.byte_offset in the shard) into `part`. Works in bytes: chunks need not end on
// element boundaries.
void copy_overlap(int64_t chunk_offset, const char* chunk, int64_t chunk_size,
                  const ShardRange& range, int64_t begin, int64_t end, torch::Tensor& part) {
  const int64_t low = std::max(begin, range.begin), high = std::min(end, range.end);
  if (low >= high) return;
  const int64_t item = static_cast<int64_t>(part.element_size());
  const int64_t wanted_begin = range.byte_offset + (low - range.begin) * item;
  const int64_t wanted_end = wanted_begin + (high - low) * item;
  const int64_t from = std::max(wanted_begin, chunk_offset);
  const int64_t to = std::min(wanted_end, chunk_offset + chunk_size);
  if (from >= to) return;
  std::memcpy(static_cast<char*>(part.data_ptr()) + (low - begin) * item + (from - wanted_begin),
              chunk + (from - chunk_offset), to - from);
}

// Every rank ends with the full tensor: the owned parts concatenated in rank order. Gathered as
// bytes so that the communicator needs no support for the tensor's dtype.
torch::Tensor gather_full(Communicator& comm, const torch::Tensor& part, torch::ScalarType dtype) {
  if (comm.world_size() == 1) return part;
  const torch::Tensor bytes = part.view(torch::kUInt8).to(comm.device());
  return comm.all_gather(bytes).cpu().view(dtype);
}

// The checkpoints to try under a root, best first: the one `latest` names, then newest step first.
std::vector<std::string> resume_candidates(const std::string& root) {
  std::vector<std::string> candidates;
  if (const auto latest = read_latest(root)) candidates.push_back(*latest);
  for (const auto& [step, name] : list_step_dirs(root)) {
    const std::string path = join(root, name);
    if (std::find(candidates.begin(), candidates.end(), path) == candidates.end()) {
      candidates.push_back(path);
    }
  }
  return candidates;
}

}  // namespace

std::optional<std::string> read_latest(const std::string& root) {
  const std::string latest = join(root, "latest");
  if (!fs::is_regular_file(latest)) return std::nullopt;
  std::string name = read_text_file(latest);
  name.erase(name.find_last_not_of(" \t\r\n") + 1);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    fail("{}: names '{}', which is not a checkpoint directory inside {}", latest, name, root);
  }
  return join(root, name);
}

void read_verified_shard(const std::string& path, const Manifest& manifest, int shard,
                         const ChunkConsumer& on_chunk) {
  const ShardRecord& record = manifest.shards.at(shard);
  const std::string file = join(path, record.file);
  const auto truncated = [&](int64_t bytes) {
    fail("{}: {} bytes, the manifest says {} (truncated or replaced shard)", file, bytes,
         record.digest.bytes);
  };
  if (const int64_t size = file_size(file); size != record.digest.bytes) truncated(size);
  std::string header;
  const FileDigest digest =
      read_file_in_chunks(file, [&](int64_t offset, const char* data, int64_t size) {
        if (offset < kShardHeaderBytes) {
          header.append(data, std::min<int64_t>(size, kShardHeaderBytes - offset));
        }
        if (on_chunk) on_chunk(offset, data, size);
      });
  if (digest.bytes != record.digest.bytes) truncated(digest.bytes);  // changed while reading
  if (digest.xxh64 != record.digest.xxh64) {
    fail("{}: checksum mismatch (xxh64 {} but the manifest says {}): corrupt shard", file,
         to_hex64(digest.xxh64), to_hex64(record.digest.xxh64));
  }
  check_header(header, file, shard, manifest.world_size);
}

std::vector<torch::Tensor> read_owned_parts(const std::string& path, const Manifest& manifest,
                                            int rank, int world) {
  std::vector<torch::Tensor> parts;
  std::vector<std::pair<int64_t, int64_t>> owned;
  for (const TensorRecord& tensor : manifest.tensors) {
    owned.push_back(owned_range(tensor.length, rank, world));
    const torch::ScalarType dtype = scalar_type_of(tensor.dtype, path);
    parts.push_back(torch::empty({owned.back().second - owned.back().first}, dtype));
  }
  // Each shard is streamed once, and only if it holds some of this rank's elements.
  for (int shard = 0; shard < manifest.world_size; ++shard) {
    bool needed = false;
    for (size_t t = 0; t < parts.size(); ++t) {
      const ShardRange& range = manifest.tensors[t].ranges[shard];
      needed |= std::max(owned[t].first, range.begin) < std::min(owned[t].second, range.end);
    }
    if (!needed) continue;
    read_verified_shard(path, manifest, shard, [&](int64_t offset, const char* data, int64_t size) {
      for (size_t t = 0; t < parts.size(); ++t) {
        copy_overlap(offset, data, size, manifest.tensors[t].ranges[shard], owned[t].first,
                     owned[t].second, parts[t]);
      }
    });
  }
  return parts;
}

CheckpointState load_checkpoint(const std::string& path, Communicator& comm) {
  Manifest manifest;
  std::vector<torch::Tensor> parts;
  run_agreed(comm, [&] {
    manifest = read_manifest(join(path, kManifestFile));
    parts = read_owned_parts(path, manifest, comm.rank(), comm.world_size());
  });
  CheckpointState state = state_metadata(manifest);
  for (size_t t = 0; t < parts.size(); ++t) {
    const TensorRecord& record = manifest.tensors[t];
    state.tensors.push_back({record.name, gather_full(comm, parts[t], parts[t].scalar_type())});
  }
  return state;
}

std::optional<ResumePoint> load_resume_point(const std::string& dir_or_path, Communicator& comm) {
  if (fs::exists(join(dir_or_path, kManifestFile))) {
    return ResumePoint{dir_or_path, load_checkpoint(dir_or_path, comm)};
  }
  for (const std::string& candidate : resume_candidates(dir_or_path)) {
    try {
      return ResumePoint{candidate, load_checkpoint(candidate, comm)};
    } catch (const Error& error) {  // every rank throws, so every rank tries the next one
      if (comm.rank() == 0) {
        std::cerr << "pride: warning: skipping invalid checkpoint " << candidate << ": "
                  << error.what() << std::endl;
      }
    }
  }
  return std::nullopt;
}

std::string inspect_checkpoint(const std::string& path) {
  const Manifest manifest = read_manifest(join(path, kManifestFile));
  std::string report = fmt::format(
      "checkpoint {}\n  format {} v{}\n  step {}  epoch {}  samples_consumed {}\n"
      "  saved by {} rank(s)\n  {} model parameters in the layout\n  tensors:\n",
      path, kFormatName, kFormatVersion, manifest.step, manifest.epoch, manifest.samples_consumed,
      manifest.world_size, manifest.params.size());
  for (const TensorRecord& tensor : manifest.tensors) {
    report +=
        fmt::format("    {:<24} {:<8} {:>12} elements\n", tensor.name, tensor.dtype, tensor.length);
  }
  report += "  shards:\n";
  for (int shard = 0; shard < manifest.world_size; ++shard) {
    read_verified_shard(path, manifest, shard);
    const ShardRecord& record = manifest.shards[shard];
    report += fmt::format("    {:<24} {:>12} bytes  xxh64 {}  OK\n", record.file,
                          record.digest.bytes, to_hex64(record.digest.xxh64));
  }
  return report + "  all shards verified\n";
}

void copy_checkpoint_tensor(const CheckpointState& state, const std::string& name,
                            const std::string& path, torch::Tensor& target) {
  for (const auto& entry : state.tensors) {
    if (entry.name != name) continue;
    if (entry.full.numel() != target.numel()) {
      fail("{}: '{}' holds {} values but this run needs {} (different model.* settings?)", path,
           name, entry.full.numel(), target.numel());
    }
    torch::NoGradGuard no_grad;
    target.copy_(entry.full.to(target.device()).view(target.sizes()));
    return;
  }
  fail("{}: checkpoint has no tensor '{}'", path, name);
}

}  // namespace pride
