// `pride shard`: contiguous, balanced splits of a dialogue file into valid files of the same
// format, streamed block by block, plus a manifest.json with counts and XXH64 checksums.
#include "sharding/shard_tool.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/format.h"
#include "data/h5.h"
#include "data/reader.h"
#include "data/shard_manifest.h"
#include "io/file_io.h"
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

}  // namespace

void copy_attributes(const h5::File& in, h5::File& out) {
  for (const char* name : kStringAttributes) out.set_attribute(name, in.string_attribute(name));
  for (const char* name : kIntAttributes) out.set_attribute(name, in.int_attribute(name));
  for (const char* name : format::kOptionalStringAttributes) {
    if (in.has_attribute(name)) out.set_attribute(name, in.string_attribute(name));
  }
}

namespace {

// The dataset of `out` named like `source`, created empty (same element type and width) if new.
h5::Dataset target_for(h5::File& out, const h5::Dataset& source) {
  if (out.exists(source.name())) return out.dataset(source.name());
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

// Appends offsets[begin..end] rebased to continue `target`'s last offset (0 when it is empty);
// returns the flat row range they cover in `source`.
std::pair<int64_t, int64_t> copy_offsets(const h5::Dataset& source, h5::Dataset& target,
                                         int64_t begin, int64_t end) {
  const int64_t base = source.read_rows<int64_t>(begin, 1).at(0);
  int64_t shift = 0, first = begin;
  if (target.rows() > 0) {  // its last offset is where these samples start
    shift = target.read_rows<int64_t>(target.rows() - 1, 1).at(0);
    first = begin + 1;
  }
  int64_t last = base;
  for (int64_t start = first; start <= end; start += kBlockValues) {
    std::vector<int64_t> values =
        source.read_rows<int64_t>(start, std::min(kBlockValues, end + 1 - start));
    for (int64_t& value : values) {
      if (value < last)
        fail("{}: {}: offsets decrease near sample {}", source.file(), source.name(), start);
      last = value;
      value = value - base + shift;
    }
    target.append(values);
  }
  return {base, last};
}

}  // namespace

void append_samples(const h5::File& in, const DatasetInfo& info, int64_t begin, int64_t end,
                    h5::File& out) {
  std::vector<const char*> per_sample = {format::kEmotion, format::kTeacherHidden};
  if (info.teacher_emotion) per_sample.push_back(format::kTeacherEmotionLogprobs);
  for (const char* name : per_sample) {
    const h5::Dataset source = in.dataset(name);
    h5::Dataset target = target_for(out, source);
    copy_rows(source, target, begin, end);
  }
  std::map<std::string, std::pair<int64_t, int64_t>> row_ranges;  // per offsets dataset
  for (const RaggedField& field : ragged_fields(in, info)) {
    if (!row_ranges.count(field.offsets)) {
      const h5::Dataset source = in.dataset(field.offsets);
      h5::Dataset target = target_for(out, source);
      row_ranges[field.offsets] = copy_offsets(source, target, begin, end);
    }
    const h5::Dataset source = in.dataset(field.data);
    h5::Dataset target = target_for(out, source);
    const auto [first, last] = row_ranges[field.offsets];
    copy_rows(source, target, first, last);
  }
}

namespace {

// One shard: samples [begin, end) of `in`, written atomically to `path`.
void write_shard(const h5::File& in, const DatasetInfo& info, int64_t begin, int64_t end,
                 const std::string& path) {
  write_file_atomically(path, [&](const std::string& temporary) {
    h5::File out = h5::File::open(temporary, h5::Mode::kCreate);
    copy_attributes(in, out);
    append_samples(in, info, begin, end, out);
  });
}

}  // namespace

std::string data_shard_file_name(int64_t index, int64_t count) {
  return fmt::format("shard-{:05d}-of-{:05d}.h5", index, count);
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
  replace_file_atomically((fs::path(dir) / kManifestName).string(), json.dump(2) + "\n");
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
    const std::string name = data_shard_file_name(s, shards);
    const std::string path = (fs::path(out_dir) / name).string();
    write_shard(in, info, begin, end, path);
    manifest.shards.push_back({name, end - begin, begin, file_xxh64(path)});
  }
  write_shard_manifest(out_dir, manifest);
}

}  // namespace pride
