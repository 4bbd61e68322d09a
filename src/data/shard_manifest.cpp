// Implements data/shard_manifest.h: reading and checking manifest.json, shard checksums.
#include "data/shard_manifest.h"


#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/format.h"
#include "io/file_io.h"
#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;

template <typename T>
T manifest_field(const nlohmann::json& json, const char* key, const std::string& manifest) {
  if (!json.contains(key)) fail("{}: key '{}' is missing", manifest, key);
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: key '{}' has the wrong type", manifest, key);
  }
}

ShardEntry parse_entry(const nlohmann::json& json, const std::string& manifest) {
  ShardEntry entry;
  entry.file = manifest_field<std::string>(json, "file", manifest);
  entry.samples = manifest_field<int64_t>(json, "samples", manifest);
  entry.first_sample = manifest_field<int64_t>(json, "first_sample", manifest);
  entry.xxh64 = manifest_field<std::string>(json, "xxh64", manifest);
  if (entry.file.empty() || entry.file.find('/') != std::string::npos) {
    fail("{}: shard file name '{}' must be a plain name inside the directory", manifest,
         entry.file);
  }
  return entry;
}

void check_manifest(const ShardManifest& manifest, const std::string& path) {
  if (manifest.format != format::kFormatName || manifest.version != format::kVersion) {
    fail("{}: describes '{}' v{}, expected '{}' v{}", path, manifest.format, manifest.version,
         format::kFormatName, format::kVersion);
  }
  int64_t next = 0;
  for (const ShardEntry& shard : manifest.shards) {
    if (shard.samples < 0 || shard.first_sample != next) {
      fail("{}: shard {} starts at sample {} with {} samples, expected to start at {}", path,
           shard.file, shard.first_sample, shard.samples, next);
    }
    next += shard.samples;
  }
  if (next != manifest.num_samples) {
    fail("{}: shards hold {} samples but num_samples is {}", path, next, manifest.num_samples);
  }
}

}  // namespace

std::string file_xxh64(const std::string& path) {
  return to_hex64(digest_file(path).xxh64);
}

ShardManifest read_shard_manifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / kManifestName).string();
  if (!fs::is_regular_file(path)) fail("{}: shard manifest is missing", path);
  const nlohmann::json json = read_json_file(path);
  ShardManifest manifest;
  manifest.format = manifest_field<std::string>(json, "format", path);
  manifest.version = manifest_field<int64_t>(json, "version", path);
  manifest.source = manifest_field<std::string>(json, "source", path);
  manifest.num_samples = manifest_field<int64_t>(json, "num_samples", path);
  const auto shards = manifest_field<std::vector<nlohmann::json>>(json, "shards", path);
  for (const nlohmann::json& shard : shards) manifest.shards.push_back(parse_entry(shard, path));
  check_manifest(manifest, path);
  return manifest;
}

void verify_shards(const std::string& dir) {
  const ShardManifest manifest = read_shard_manifest(dir);
  for (const ShardEntry& shard : manifest.shards) {
    const std::string file = (fs::path(dir) / shard.file).string();
    if (!fs::exists(file)) fail("{}: shard listed in {} is missing", file, kManifestName);
    const std::string actual = file_xxh64(file);
    if (actual != shard.xxh64) {
      fail("{}: checksum {} does not match {} in {}", file, actual, shard.xxh64, kManifestName);
    }
  }
}

}  // namespace pride
