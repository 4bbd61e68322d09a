// Implements data/shard_manifest.h: reading and checking manifest.json, shard checksums.
#include "data/shard_manifest.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "data/format.h"
#include "io/file_io.h"
#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;

// A member of `object` (a manifest or one of its shard entries, `what` naming it in messages).
const nlohmann::json& manifest_member(const nlohmann::json& object, const char* key,
                                      const std::string& what) {
  if (!object.is_object()) fail("{}: expected an object", what);
  const auto it = object.find(key);
  if (it == object.end()) fail("{}: key '{}' is missing", what, key);
  return *it;
}

std::string manifest_string(const nlohmann::json& object, const char* key,
                            const std::string& what) {
  const nlohmann::json& value = manifest_member(object, key, what);
  if (!value.is_string()) fail("{}: key '{}' must be a string", what, key);
  return value.get<std::string>();
}

// A count or index: an integer in [0, 2^63) (no float, boolean or wrapped unsigned).
int64_t manifest_count(const nlohmann::json& object, const char* key, const std::string& what) {
  const nlohmann::json& value = manifest_member(object, key, what);
  if (!value.is_number_integer() || value.get<int64_t>() < 0) {
    fail("{}: key '{}' must be an integer in [0, 2^63)", what, key);
  }
  return value.get<int64_t>();
}

// A shard file is a plain name inside the manifest's directory: not empty, no '/', not "." or
// "..", no control character (a NUL would cut the path short).
bool is_plain_file_name(const std::string& name) {
  constexpr size_t kMaxNameBytes = 255;  // NAME_MAX: no longer name can exist
  if (name.empty() || name == "." || name == ".." || name.size() > kMaxNameBytes) return false;
  for (const char c : name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

// `name` for a message: control characters as \xNN (a NUL would end the message early), cut
// short when long.
std::string printable(const std::string& name) {
  constexpr size_t kMaxShown = 80;
  std::string out;
  for (const char c : name.substr(0, kMaxShown)) {
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return name.size() > kMaxShown ? out + "..." : out;
}

ShardEntry parse_entry(const nlohmann::json& json, size_t index, const std::string& manifest) {
  const std::string what = fmt::format("{}: shards[{}]", manifest, index);
  ShardEntry entry;
  entry.file = manifest_string(json, "file", what);
  entry.samples = manifest_count(json, "samples", what);
  entry.first_sample = manifest_count(json, "first_sample", what);
  entry.xxh64 = manifest_string(json, "xxh64", what);
  if (!is_plain_file_name(entry.file)) {
    fail("{}: shard file name '{}' must be a plain name inside the directory", what,
         printable(entry.file));
  }
  return entry;
}

void check_manifest(const ShardManifest& manifest, const std::string& path) {
  if (manifest.format != format::kFormatName || manifest.version != format::kVersion) {
    fail("{}: describes '{}' v{}, expected '{}' v{}", path, manifest.format, manifest.version,
         format::kFormatName, format::kVersion);
  }
  int64_t next = 0;
  std::set<std::string> files;
  for (const ShardEntry& shard : manifest.shards) {
    if (shard.first_sample != next) {
      fail("{}: shard {} starts at sample {} with {} samples, expected to start at {}", path,
           shard.file, shard.first_sample, shard.samples, next);
    }
    if (shard.samples > std::numeric_limits<int64_t>::max() - next) {
      fail("{}: shard {}: {} samples after {} overflow the sample count", path, shard.file,
           shard.samples, next);
    }
    if (!files.insert(shard.file).second)
      fail("{}: shard file {} is listed twice", path, shard.file);
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
  manifest.format = manifest_string(json, "format", path);
  manifest.version = manifest_count(json, "version", path);
  manifest.source = manifest_string(json, "source", path);
  manifest.num_samples = manifest_count(json, "num_samples", path);
  const nlohmann::json& shards = manifest_member(json, "shards", path);
  if (!shards.is_array()) fail("{}: key 'shards' must be an array", path);
  for (size_t i = 0; i < shards.size(); ++i) {
    manifest.shards.push_back(parse_entry(shards[i], i, path));
  }
  check_manifest(manifest, path);
  return manifest;
}

void verify_shards(const std::string& dir) {
  const ShardManifest manifest = read_shard_manifest(dir);
  for (const ShardEntry& shard : manifest.shards) {
    const std::string file = (fs::path(dir) / shard.file).string();
    std::error_code error;
    if (!fs::exists(file, error)) fail("{}: shard listed in {} is missing", file, kManifestName);
    const std::string actual = file_xxh64(file);
    if (actual != shard.xxh64) {
      fail("{}: checksum {} does not match {} in {}", file, actual, shard.xxh64, kManifestName);
    }
  }
}

}  // namespace pride
