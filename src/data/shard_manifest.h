// The shard manifest, part of the data format (docs/data-format.md): dir/manifest.json lists the
// shard files of a data set cut by `pride shard`, with their sample ranges and XXH64 checksums.
// The data layer reads it here; sharding/shard_tool writes it.
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

// XXH64 (seed 0) of a file's bytes, as 16 lowercase hex digits; streams the file.
std::string file_xxh64(const std::string& path);

// Reads and checks dir/manifest.json (format, counts adding up, contiguous first_sample).
ShardManifest read_shard_manifest(const std::string& dir);

// Recomputes every shard's checksum; pride::Error naming the first file that is missing or differs.
void verify_shards(const std::string& dir);

}  // namespace pride
