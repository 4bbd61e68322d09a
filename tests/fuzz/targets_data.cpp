// Fuzz targets of the data and checkpoint headers without LibTorch: the shard manifest (with
// real shard files, so verify_shards runs too) and the safetensors header validator (JSON
// mutated, and the 8-byte length and the data section damaged).
#include <xxhash.h>

#include <nlohmann/json.hpp>

#include "checkpoints/safetensors_header.h"
#include "data/format.h"
#include "data/shard_manifest.h"
#include "fuzz.h"
#include "io/file_io.h"
#include "util/error.h"

namespace pride::fuzz {
namespace {

using nlohmann::json;

// --- shard manifest ------------------------------------------------------------------------------

const std::vector<std::string>& manifest_words() {
  static const std::vector<std::string> words = {"format",
                                                 "version",
                                                 "source",
                                                 "num_samples",
                                                 "shards",
                                                 "file",
                                                 "samples",
                                                 "first_sample",
                                                 "xxh64",
                                                 "pride-dialogue",
                                                 "shard-00000-of-00002.h5",
                                                 "shard-00001-of-00002.h5",
                                                 "..",
                                                 ".",
                                                 "../manifest.json",
                                                 "/etc/hostname",
                                                 "0123456789abcdef"};
  return words;
}

Target manifest_target() {
  Target target;
  target.name = "shard_manifest";
  target.main_file = "manifest.json";
  target.seed = [](Rng&) {
    const std::string shards[] = {"first shard bytes", "second shard"};
    json entries = json::array();
    int64_t first = 0;
    Files files;
    for (int s = 0; s < 2; ++s) {
      const std::string name = fmt::format("shard-{:05d}-of-00002.h5", s);
      files[name] = shards[s];
      entries.push_back({{"file", name},
                         {"samples", 10 + s},
                         {"first_sample", first},
                         {"xxh64", to_hex64(XXH64(shards[s].data(), shards[s].size(), 0))}});
      first += 10 + s;
    }
    files["manifest.json"] = json{
        {"format", format::kFormatName},
        {"version", format::kVersion},
        {"source", "train.h5"},
        {"num_samples", first},
        {"shards", entries}}.dump(2);
    return files;
  };
  target.mutate = [](Files& files, Rng& rng) {
    mutate_json(files["manifest.json"], rng, manifest_words());
  };
  target.run = [](const std::string& dir) {
    const ShardManifest manifest = read_shard_manifest(dir);
    int64_t next = 0;
    for (const ShardEntry& shard : manifest.shards) {
      check(shard.first_sample == next && shard.samples >= 0, "shards not contiguous");
      check(shard.file.find('/') == std::string::npos && shard.file != ".." && shard.file != ".",
            "shard file '" + shard.file + "' escapes the directory");
      next += shard.samples;
    }
    check(next == manifest.num_samples, "num_samples does not add up");
    verify_shards(dir);
  };
  return target;
}

// --- safetensors header --------------------------------------------------------------------------

std::string little_endian_u64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// The 8-byte little-endian length at the start of `bytes` (0 when shorter).
uint64_t header_length(const std::string& bytes) {
  uint64_t length = 0;
  for (int i = std::min<int>(7, static_cast<int>(bytes.size()) - 1); i >= 0; --i) {
    length = (length << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return bytes.size() >= 8 ? length : 0;
}

// A file with an F32 [2][3], a BF16 [4], an empty I64 [0] and metadata.
std::string safetensors_seed() {
  const json header = {
      {"__metadata__", {{"format", "pt"}, {"step", "300"}}},
      {"a.weight", {{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", {0, 24}}}},
      {"b.bias", {{"dtype", "BF16"}, {"shape", {4}}, {"data_offsets", {24, 32}}}},
      {"c.empty", {{"dtype", "I64"}, {"shape", {0}}, {"data_offsets", {32, 32}}}}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return little_endian_u64(text.size()) + text + std::string(32, '\x01');
}

const std::vector<std::string>& safetensors_words() {
  static const std::vector<std::string> words = {
      "dtype", "shape", "data_offsets", "__metadata__", "F32",  "F16",      "BF16",
      "I64",   "BOOL",  "U16",          "F8_E4M3",      "F128", "a.weight", "b.bias"};
  return words;
}

Target safetensors_target() {
  Target target;
  target.name = "safetensors_header";
  target.main_file = "model.safetensors";
  target.seed = [](Rng&) { return Files{{"model.safetensors", safetensors_seed()}}; };
  target.mutate = [](Files& files, Rng& rng) {
    std::string& bytes = files["model.safetensors"];
    const uint64_t length = header_length(bytes);
    if (bytes.size() < 8 || length > bytes.size() - 8 || rng.chance(0.15)) {
      mutate_bytes(bytes, rng);
      return;
    }
    std::string header = bytes.substr(8, length), data = bytes.substr(8 + length);
    switch (rng.below(5)) {
      case 0: {  // the length itself
        const uint64_t lengths[] = {
            0, length - 1, length + 1, uint64_t{1} << 63, ~uint64_t{0}, 100'000'001};
        bytes = little_endian_u64(lengths[rng.below(6)]) + header + data;
        return;
      }
      case 1:
        data.resize(rng.below(data.size() + 1));
        break;
      default:
        mutate_json(header, rng, safetensors_words());
        break;
    }
    bytes = little_endian_u64(header.size()) + header + data;
  };
  target.run = [](const std::string& dir) {
    const std::string path = dir + "/model.safetensors";
    const SafetensorsHeader header = read_safetensors_header(path);
    const std::string bytes = read_text_file(path);
    const SafetensorsHeader again = parse_safetensors_header(bytes, bytes.size(), path);
    check(again.entries.size() == header.entries.size(), "the two entry points disagree");
    check(header.data_begin + header.data_bytes == bytes.size(), "data section outside the file");
    for (const SafetensorsHeaderEntry& entry : header.entries) {
      uint64_t numel = 1;
      for (const int64_t dim : entry.shape) {
        check(dim >= 0, "a negative dim");
        numel *= static_cast<uint64_t>(dim);
      }
      check(entry.begin <= entry.end && entry.end <= header.data_bytes,
            "tensor '" + entry.name + "' outside the data section");
      check(entry.end - entry.begin == numel * entry.element_bytes,
            "tensor '" + entry.name + "' size does not match its shape");
    }
  };
  return target;
}

}  // namespace

std::vector<Target> data_targets() {
  return {manifest_target(), safetensors_target()};
}

}  // namespace pride::fuzz
