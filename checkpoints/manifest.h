// The checkpoint manifest (manifest.json) and the layout of the shard files it describes.
// docs/checkpoint-format.md is the specification; this is its one implementation.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoints/checkpoint.h"
#include "io/file_io.h"

namespace pride {

inline constexpr char kFormatName[] = "pride-checkpoint";
inline constexpr int kFormatVersion = 1;
inline constexpr char kManifestFile[] = "manifest.json";
inline constexpr int64_t kShardHeaderBytes = 32;

// One shard's part of a tensor: elements [begin, end) stored at byte_offset in that shard file.
struct ShardRange {
  int shard = 0;
  int64_t begin = 0, end = 0;
  int64_t byte_offset = 0;
};

struct TensorRecord {
  std::string name;
  std::string dtype;  // "float32", "int64", "uint8", ... (see scalar_type_of)
  int64_t length = 0;
  std::vector<ShardRange> ranges;  // one per shard, in shard order, covering [0, length)
};

struct ShardRecord {
  std::string file;  // relative to the checkpoint directory
  FileDigest digest;
};

struct Manifest {
  int64_t step = 0, epoch = 0, samples_consumed = 0;
  int world_size = 1;
  std::string config_yaml;
  nlohmann::json extra;
  std::vector<ParamSlice> params;
  std::vector<TensorRecord> tensors;
  std::vector<ShardRecord> shards;  // index = rank at save

  const TensorRecord& tensor(const std::string& name) const;
};

std::string checkpoint_shard_file_name(int rank, int world);
// The fixed header that opens every shard file: magic, version, rank, world, step.
std::string shard_header(int rank, int world, int64_t step);

// Lays out `state` over `world` shards (every rank computes the same plan). Shard digests are
// left empty: they are known only once the shards are written.
Manifest plan_manifest(const CheckpointState& state, int world);
// The state described by the manifest, without tensor data.
CheckpointState state_metadata(const Manifest& manifest);

nlohmann::json manifest_to_json(const Manifest& manifest);
// Reads and validates `path`; pride::Error naming the file and the key at fault.
Manifest read_manifest(const std::string& path);

std::string dtype_name(torch::ScalarType type);
torch::ScalarType scalar_type_of(const std::string& dtype, const std::string& context);

}  // namespace pride
