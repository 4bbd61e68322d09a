// The checkpoint manifest: layout planning, JSON form and validation (see manifest.h).
#include "checkpoints/manifest.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

using nlohmann::json;

constexpr char kModelParams[] = "model.params";

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

// Each parameter's slice (shape and offset) lies inside model.params, in checked arithmetic.
void check_params(const Manifest& manifest, const std::string& path) {
  if (manifest.params.empty()) return;
  const auto flat = std::find_if(manifest.tensors.begin(), manifest.tensors.end(),
                                 [](const TensorRecord& t) { return t.name == kModelParams; });
  if (flat == manifest.tensors.end()) {
    fail("{}: \"params\" describe tensor '{}', which the manifest does not list", path,
         kModelParams);
  }
  for (const ParamSlice& param : manifest.params) {
    int64_t numel = 1, end = 0;
    bool overflows = false;
    for (const int64_t dim : param.shape) overflows |= __builtin_mul_overflow(numel, dim, &numel);
    overflows |= __builtin_add_overflow(param.offset, numel, &end);
    if (overflows || end > flat->length) {
      fail("{}: parameter '{}' (shape [{}] at offset {}) lies outside {} ({} elements)", path,
           param.name, fmt::join(param.shape, ", "), param.offset, kModelParams, flat->length);
    }
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
  check_params(manifest, path);
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

// Typed access to one object of the manifest; every error names the file and the key. nlohmann's
// get<int>() would wrap 2^32 to 0 and read 1.5 as 1: integers are checked here instead.
class ManifestFields {
 public:
  ManifestFields(const json& object, const std::string& path, std::string where)
      : object_(object), path_(path), where_(std::move(where)) {
    if (!object_.is_object()) fail("{}: {}must be an object", path_, where_);
  }

  const json& at(const char* key) const {
    if (!object_.contains(key)) fail("{}: {}\"{}\" is missing", path_, where_, key);
    return object_[key];
  }
  int64_t integer(const char* key, int64_t most = std::numeric_limits<int64_t>::max()) const {
    return checked_integer(at(key), key, most);
  }
  std::vector<int64_t> integers(const char* key) const {
    const json& list = at(key);
    if (!list.is_array()) fail("{}: {}\"{}\" must be a list of integers", path_, where_, key);
    std::vector<int64_t> out;
    for (const json& value : list) {
      out.push_back(checked_integer(value, key, std::numeric_limits<int64_t>::max()));
    }
    return out;
  }
  std::string text(const char* key) const {
    const json& value = at(key);
    if (!value.is_string()) {
      fail("{}: {}\"{}\" must be a string, got {}", path_, where_, key, value.dump());
    }
    return value.get<std::string>();
  }
  // The elements of the list `key`, each an object.
  std::vector<ManifestFields> objects(const char* key) const {
    const json& list = at(key);
    if (!list.is_array()) fail("{}: {}\"{}\" must be a list", path_, where_, key);
    std::vector<ManifestFields> out;
    for (size_t i = 0; i < list.size(); ++i) {
      out.emplace_back(list[i], path_, fmt::format("{}{}[{}]: ", where_, key, i));
    }
    return out;
  }

 private:
  int64_t checked_integer(const json& value, const char* key, int64_t most) const {
    const bool in_range =
        (value.is_number_unsigned() && value.get<uint64_t>() <= static_cast<uint64_t>(most)) ||
        (value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() >= 0 &&
         value.get<int64_t>() <= most);
    if (!in_range) {
      fail("{}: {}\"{}\" must be an integer in [0, {}], got {}", path_, where_, key, most,
           value.dump());
    }
    return value.get<int64_t>();
  }

  const json& object_;
  const std::string& path_;
  std::string where_;
};

constexpr int64_t kMaxWorldSize = int64_t{1} << 20;

Manifest manifest_from_json(const json& in, const std::string& path) {
  const ManifestFields fields(in, path, "");
  if (fields.text("format") != kFormatName) {
    fail("{}: format is '{}', expected '{}'", path, fields.text("format"), kFormatName);
  }
  if (fields.integer("version") != kFormatVersion) {
    fail("{}: format version {} is not supported (expected {})", path, fields.integer("version"),
         kFormatVersion);
  }
  Manifest manifest;
  manifest.step = fields.integer("step");
  manifest.epoch = fields.integer("epoch");
  manifest.samples_consumed = fields.integer("samples_consumed");
  manifest.world_size = static_cast<int>(fields.integer("world_size", kMaxWorldSize));
  manifest.config_yaml = fields.text("config_yaml");
  manifest.extra = fields.at("extra");
  if (!manifest.extra.is_object()) fail("{}: \"extra\" must be an object", path);
  for (const ManifestFields& param : fields.objects("params")) {
    manifest.params.push_back(
        {param.text("name"), param.integers("shape"), param.integer("offset")});
  }
  for (const ManifestFields& shard : fields.objects("shards")) {
    manifest.shards.push_back(
        {shard.text("file"),
         {shard.integer("bytes"), from_hex64(shard.text("xxh64"), path + ": shard xxh64")}});
  }
  for (const ManifestFields& tensor : fields.objects("tensors")) {
    TensorRecord record{tensor.text("name"), tensor.text("dtype"), tensor.integer("length"), {}};
    for (const ManifestFields& range : tensor.objects("ranges")) {
      record.ranges.push_back({static_cast<int>(range.integer("shard", kMaxWorldSize)),
                               range.integer("begin"), range.integer("end"),
                               range.integer("byte_offset")});
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
