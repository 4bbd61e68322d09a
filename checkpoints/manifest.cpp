// The checkpoint manifest: layout planning, JSON form and validation (see manifest.h).
#include "checkpoints/manifest.h"

#include <cstring>
#include <utility>

#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

using nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "shard files are little-endian");

const std::vector<std::pair<torch::ScalarType, std::string>>& checkpoint_dtype_names() {
  static const std::vector<std::pair<torch::ScalarType, std::string>> names = {
      {torch::kFloat32, "float32"},   {torch::kFloat64, "float64"}, {torch::kFloat16, "float16"},
      {torch::kBFloat16, "bfloat16"}, {torch::kInt64, "int64"},     {torch::kInt32, "int32"},
      {torch::kInt16, "int16"},       {torch::kInt8, "int8"},       {torch::kUInt8, "uint8"},
      {torch::kBool, "bool"}};
  return names;
}

int64_t element_size(const std::string& dtype, const std::string& context) {
  return static_cast<int64_t>(c10::elementSize(scalar_type_of(dtype, context)));
}

// Checks that a tensor's ranges tile [0, length) in shard order and fit inside their shards.
void check_ranges(const TensorRecord& tensor, const Manifest& manifest, const std::string& path) {
  if (tensor.ranges.size() != manifest.shards.size()) {
    fail("{}: tensor '{}' has {} shard ranges for {} shards", path, tensor.name,
         tensor.ranges.size(), manifest.shards.size());
  }
  const int64_t item = element_size(tensor.dtype, path + ": tensor '" + tensor.name + "'");
  int64_t expected_begin = 0;
  for (size_t i = 0; i < tensor.ranges.size(); ++i) {
    const ShardRange& range = tensor.ranges[i];
    // In checked arithmetic: a hostile byte_offset near 2^63 must not wrap into the shard.
    int64_t elements = 0, span_bytes = 0, end_byte = 0;
    const bool overflows = range.end < range.begin ||
                           __builtin_sub_overflow(range.end, range.begin, &elements) ||
                           __builtin_mul_overflow(elements, item, &span_bytes) ||
                           __builtin_add_overflow(range.byte_offset, span_bytes, &end_byte);
    if (overflows || range.shard != static_cast<int>(i) || range.begin != expected_begin ||
        range.byte_offset < kShardHeaderBytes || end_byte > manifest.shards[i].digest.bytes) {
      fail("{}: tensor '{}' has an invalid range for shard {} ([{}, {}) at byte {})", path,
           tensor.name, i, range.begin, range.end, range.byte_offset);
    }
    expected_begin = range.end;
  }
  if (expected_begin != tensor.length) {
    fail("{}: tensor '{}' ranges cover {} of its {} elements", path, tensor.name, expected_begin,
         tensor.length);
  }
}

void check_manifest(const Manifest& manifest, const std::string& path) {
  if (manifest.world_size < 1 || static_cast<int>(manifest.shards.size()) != manifest.world_size) {
    fail("{}: world_size {} but {} shards listed", path, manifest.world_size,
         manifest.shards.size());
  }
  for (int rank = 0; rank < manifest.world_size; ++rank) {
    if (manifest.shards[rank].file != checkpoint_shard_file_name(rank, manifest.world_size)) {
      fail("{}: shard {} is named '{}', expected '{}'", path, rank, manifest.shards[rank].file,
           checkpoint_shard_file_name(rank, manifest.world_size));
    }
  }
  for (const TensorRecord& tensor : manifest.tensors) check_ranges(tensor, manifest, path);
}

json ranges_to_json(const std::vector<ShardRange>& ranges) {
  json out = json::array();
  for (const ShardRange& range : ranges) {
    out.push_back({{"shard", range.shard},
                   {"begin", range.begin},
                   {"end", range.end},
                   {"byte_offset", range.byte_offset}});
  }
  return out;
}

Manifest manifest_from_json(const json& in, const std::string& path) {
  if (in.at("format").get<std::string>() != kFormatName) {
    fail("{}: format is '{}', expected '{}'", path, in.at("format").get<std::string>(),
         kFormatName);
  }
  if (in.at("version").get<int>() != kFormatVersion) {
    fail("{}: format version {} is not supported (expected {})", path, in.at("version").get<int>(),
         kFormatVersion);
  }
  Manifest manifest;
  manifest.step = in.at("step").get<int64_t>();
  manifest.epoch = in.at("epoch").get<int64_t>();
  manifest.samples_consumed = in.at("samples_consumed").get<int64_t>();
  manifest.world_size = in.at("world_size").get<int>();
  manifest.config_yaml = in.at("config_yaml").get<std::string>();
  manifest.extra = in.at("extra");
  if (!manifest.extra.is_object()) fail("{}: \"extra\" must be an object", path);
  for (const json& param : in.at("params")) {
    manifest.params.push_back({param.at("name").get<std::string>(),
                               param.at("shape").get<std::vector<int64_t>>(),
                               param.at("offset").get<int64_t>()});
  }
  for (const json& shard : in.at("shards")) {
    manifest.shards.push_back(
        {shard.at("file").get<std::string>(),
         {shard.at("bytes").get<int64_t>(),
          from_hex64(shard.at("xxh64").get<std::string>(), path + ": shard xxh64")}});
  }
  for (const json& tensor : in.at("tensors")) {
    TensorRecord record{tensor.at("name").get<std::string>(),
                        tensor.at("dtype").get<std::string>(),
                        tensor.at("length").get<int64_t>(),
                        {}};
    for (const json& range : tensor.at("ranges")) {
      record.ranges.push_back({range.at("shard").get<int>(), range.at("begin").get<int64_t>(),
                               range.at("end").get<int64_t>(),
                               range.at("byte_offset").get<int64_t>()});
    }
    manifest.tensors.push_back(std::move(record));
  }
  return manifest;
}

}  // namespace

const TensorRecord& Manifest::tensor(const std::string& name) const {
  for (const TensorRecord& record : tensors) {
    if (record.name == name) return record;
  }
  fail("checkpoint manifest has no tensor '{}'", name);
}

std::string checkpoint_shard_file_name(int rank, int world) {
  return fmt::format("shard-{}-of-{}.bin", rank, world);
}

std::string shard_header(int rank, int world, int64_t step) {
  std::string header(kShardHeaderBytes, '\0');
  const uint32_t fields[] = {static_cast<uint32_t>(kFormatVersion), static_cast<uint32_t>(rank),
                             static_cast<uint32_t>(world), 0};
  std::memcpy(&header[0], "PRIDESHD", 8);
  std::memcpy(&header[8], fields, sizeof(fields));
  std::memcpy(&header[24], &step, sizeof(step));
  return header;
}

Manifest plan_manifest(const CheckpointState& state, int world) {
  Manifest manifest{state.step,
                    state.epoch,
                    state.samples_consumed,
                    world,
                    state.config_yaml,
                    state.extra,
                    state.params,
                    {},
                    {}};
  std::vector<int64_t> shard_bytes(world, kShardHeaderBytes);
  for (const TensorEntry& entry : state.tensors) {
    TensorRecord record{entry.name, dtype_name(entry.full.scalar_type()), entry.full.numel(), {}};
    const int64_t item = static_cast<int64_t>(entry.full.element_size());
    for (int rank = 0; rank < world; ++rank) {
      auto [begin, end] = owned_range(record.length, rank, world);
      record.ranges.push_back({rank, begin, end, shard_bytes[rank]});
      shard_bytes[rank] += (end - begin) * item;
    }
    manifest.tensors.push_back(std::move(record));
  }
  for (int rank = 0; rank < world; ++rank) {
    manifest.shards.push_back({checkpoint_shard_file_name(rank, world), {shard_bytes[rank], 0}});
  }
  return manifest;
}

CheckpointState state_metadata(const Manifest& manifest) {
  CheckpointState state;
  state.step = manifest.step;
  state.epoch = manifest.epoch;
  state.samples_consumed = manifest.samples_consumed;
  state.world_size = manifest.world_size;
  state.config_yaml = manifest.config_yaml;
  state.extra = manifest.extra;
  state.params = manifest.params;
  return state;
}

json manifest_to_json(const Manifest& manifest) {
  json params = json::array(), shards = json::array(), tensors = json::array();
  for (const ParamSlice& param : manifest.params) {
    params.push_back({{"name", param.name}, {"shape", param.shape}, {"offset", param.offset}});
  }
  for (const ShardRecord& shard : manifest.shards) {
    shards.push_back({{"file", shard.file},
                      {"bytes", shard.digest.bytes},
                      {"xxh64", to_hex64(shard.digest.xxh64)}});
  }
  for (const TensorRecord& tensor : manifest.tensors) {
    tensors.push_back({{"name", tensor.name},
                       {"dtype", tensor.dtype},
                       {"length", tensor.length},
                       {"ranges", ranges_to_json(tensor.ranges)}});
  }
  return {{"format", kFormatName},
          {"version", kFormatVersion},
          {"step", manifest.step},
          {"epoch", manifest.epoch},
          {"samples_consumed", manifest.samples_consumed},
          {"world_size", manifest.world_size},
          {"config_yaml", manifest.config_yaml},
          {"extra", manifest.extra.is_null() ? json::object() : manifest.extra},
          {"params", params},
          {"shards", shards},
          {"tensors", tensors}};
}

Manifest read_manifest(const std::string& path) {
  const json parsed = read_json_file(path);
  Manifest manifest;
  try {
    manifest = manifest_from_json(parsed, path);
  } catch (const json::exception& error) {
    fail("{}: malformed manifest: {}", path, error.what());
  }
  check_manifest(manifest, path);
  return manifest;
}

std::string dtype_name(torch::ScalarType type) {
  for (const auto& [scalar_type, name] : checkpoint_dtype_names()) {
    if (scalar_type == type) return name;
  }
  fail("checkpoint: tensors of dtype {} cannot be saved", c10::toString(type));
}

torch::ScalarType scalar_type_of(const std::string& dtype, const std::string& context) {
  for (const auto& [scalar_type, name] : checkpoint_dtype_names()) {
    if (name == dtype) return scalar_type;
  }
  fail("{}: unknown dtype '{}'", context, dtype);
}

}  // namespace pride
