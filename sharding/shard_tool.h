// `pride shard`: splits one dialogue file into contiguous, balanced shards that are each a valid
// file of the same format, plus a manifest.json that DialogueDataset::open(dir) follows to present
// the shards as the original index space.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pride {

inline constexpr char kManifestName[] = "manifest.json";

struct ShardEntry {
  std::string file;  // name relative to the shard directory
  int64_t samples = 0;
  int64_t first_sample = 0;  // global index of the shard's first sample
  std::string xxh64;         // 16 hex digits of the file's XXH64 (seed 0)
};

struct ShardManifest {
  std::string format;  // the data format of the shards ("pride-dialogue")
  int64_t version = 0;
  std::string source;  // file the shards were cut from
  int64_t num_samples = 0;
  std::vector<ShardEntry> shards;
};

// "shard-00002-of-00008.h5"
std::string shard_file_name(int64_t index, int64_t count);
// XXH64 (seed 0) of a file's bytes, as 16 lowercase hex digits; streams the file.
std::string file_xxh64(const std::string& path);

// Reads and checks dir/manifest.json (format, counts adding up, contiguous first_sample).
ShardManifest read_shard_manifest(const std::string& dir);
void write_shard_manifest(const std::string& dir, const ShardManifest& manifest);
// Recomputes every shard's checksum; pride::Error naming the first file that is missing or differs.
void verify_shards(const std::string& dir);

// Cuts `in_path` into `shards` contiguous pieces whose sizes differ by at most one sample, written
// to out_dir (created if needed) with their manifest. Streams in blocks: memory is bounded.
void shard_file(const std::string& in_path, const std::string& out_dir, int64_t shards);

}  // namespace pride
