// `pride shard`: contiguous, balanced splits of a dialogue file into valid files of the same
// format, streamed block by block, plus a manifest.json with counts and XXH64 checksums.
#include "sharding/shard_tool.h"

#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/format.h"
#include "data/h5.h"
#include "data/reader.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kBlockValues = 1 << 20;  // values per copied block

const char* const kIntAttributes[] = {format::kAttrVersion,     format::kAttrVocabSize,
                                      format::kAttrNumEmotions, format::kAttrPadId,
                                      format::kAttrBosId,       format::kAttrEosId};
const char* const kStringAttributes[] = {format::kAttrFormat, format::kAttrModalities,
                                         format::kAttrPrivilegedSources};

void copy_attributes(const h5::File& in, h5::File& out) {
  for (const char* name : kStringAttributes) out.set_attribute(name, in.string_attribute(name));
  for (const char* name : kIntAttributes) out.set_attribute(name, in.int_attribute(name));
}

// An empty dataset in `out` with the name, element type and width of `source`.
h5::Dataset create_like(h5::File& out, const h5::Dataset& source) {
  const int64_t cols = source.shape().size() == 2 ? source.cols() : 0;
  return out.create_rows(source.name(), source.element_type(), cols);
}

// Appends rows [begin, end) of `source` to `target`, a bounded block at a time.
void copy_rows(const h5::Dataset& source, h5::Dataset& target, int64_t begin, int64_t end) {
  const int64_t block = std::max<int64_t>(1, kBlockValues / std::max<int64_t>(1, source.cols()));
  for (int64_t start = begin; start < end; start += block) {
    target.append_rows_of(source, start, std::min(block, end - start));
  }
}

// Writes offsets[begin..end] rebased to start at 0; returns the flat row range they cover.
std::pair<int64_t, int64_t> copy_offsets(const h5::Dataset& source, h5::Dataset& target,
                                         int64_t begin, int64_t end) {
  const int64_t base = source.read_rows<int64_t>(begin, 1).at(0);
  int64_t last = base;
  for (int64_t start = begin; start <= end; start += kBlockValues) {
    std::vector<int64_t> values =
        source.read_rows<int64_t>(start, std::min(kBlockValues, end + 1 - start));
    for (int64_t& value : values) {
      if (value < last)
        fail("{}: {}: offsets decrease near sample {}", source.file(), source.name(), start);
      last = value;
      value -= base;
    }
    target.append(values);
  }
  return {base, last};
}

// One shard: samples [begin, end) of `in`, written atomically to `path`.
void write_shard(const h5::File& in, const DatasetInfo& info, int64_t begin, int64_t end,
                 const std::string& path) {
  const std::string temporary = path + ".tmp";
  try {
    h5::File out = h5::File::open(temporary, h5::Mode::kCreate);
    copy_attributes(in, out);
    for (const char* name : {format::kEmotion, format::kTeacherHidden}) {
      const h5::Dataset source = in.dataset(name);
      h5::Dataset target = create_like(out, source);
      copy_rows(source, target, begin, end);
    }
    std::map<std::string, std::pair<int64_t, int64_t>> row_ranges;  // per offsets dataset
    for (const RaggedField& field : ragged_fields(in, info)) {
      if (!row_ranges.count(field.offsets)) {
        const h5::Dataset source = in.dataset(field.offsets);
        h5::Dataset target = create_like(out, source);
        row_ranges[field.offsets] = copy_offsets(source, target, begin, end);
      }
      const h5::Dataset source = in.dataset(field.data);
      h5::Dataset target = create_like(out, source);
      const auto [first, last] = row_ranges[field.offsets];
      copy_rows(source, target, first, last);
    }
    out.flush();
  } catch (...) {
    std::remove(temporary.c_str());
    throw;
  }
  fs::rename(temporary, path);
}

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

std::string shard_file_name(int64_t index, int64_t count) {
  return fmt::format("shard-{:05d}-of-{:05d}.h5", index, count);
}

std::string file_xxh64(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) fail("{}: cannot open to compute its checksum", path);
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  std::vector<char> buffer(1 << 20);
  while (stream) {
    stream.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    XXH64_update(state, buffer.data(), static_cast<size_t>(stream.gcount()));
  }
  const XXH64_hash_t hash = XXH64_digest(state);
  XXH64_freeState(state);
  return fmt::format("{:016x}", hash);
}

ShardManifest read_shard_manifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / kManifestName).string();
  std::ifstream stream(path);
  if (!stream) fail("{}: shard manifest is missing or unreadable", path);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON ({})", path, e.what());
  }
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

void write_shard_manifest(const std::string& dir, const ShardManifest& manifest) {
  nlohmann::json shards = nlohmann::json::array();
  for (const ShardEntry& shard : manifest.shards) {
    shards.push_back({{"file", shard.file},
                      {"samples", shard.samples},
                      {"first_sample", shard.first_sample},
                      {"xxh64", shard.xxh64}});
  }
  const nlohmann::json json = {{"format", manifest.format},
                               {"version", manifest.version},
                               {"source", manifest.source},
                               {"num_samples", manifest.num_samples},
                               {"shards", shards}};
  const fs::path path = fs::path(dir) / kManifestName;
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream stream(temporary);
    stream << json.dump(2) << "\n";
    if (!stream) fail("{}: cannot write the shard manifest", temporary.string());
  }
  fs::rename(temporary, path);
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

void shard_file(const std::string& in_path, const std::string& out_dir, int64_t shards) {
  const h5::File in = h5::File::open(in_path, h5::Mode::kRead);
  const DatasetInfo info = read_info(in);
  const int64_t n = info.num_samples;
  if (shards < 1 || shards > std::max<int64_t>(1, n)) {
    fail("{}: cannot cut {} samples into {} shards", in_path, n, shards);
  }
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (error) fail("{}: cannot create the shard directory ({})", out_dir, error.message());
  ShardManifest manifest{format::kFormatName, format::kVersion, in_path, n, {}};
  for (int64_t s = 0; s < shards; ++s) {
    const int64_t begin = n * s / shards, end = n * (s + 1) / shards;
    const std::string name = shard_file_name(s, shards);
    const std::string path = (fs::path(out_dir) / name).string();
    write_shard(in, info, begin, end, path);
    manifest.shards.push_back({name, end - begin, begin, file_xxh64(path)});
  }
  write_shard_manifest(out_dir, manifest);
}

}  // namespace pride
