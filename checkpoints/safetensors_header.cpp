// Parsing and validating safetensors headers without LibTorch (see safetensors_header.h).
#include "checkpoints/safetensors_header.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "io/file_io.h"
#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

constexpr uint64_t kLengthBytes = 8;
constexpr char kMetadataKey[] = "__metadata__";

// The 8-byte little-endian header length at the start of `prefix` (which holds at least 8 bytes).
uint64_t header_length(std::string_view prefix) {
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(prefix[i]);
  return length;
}

// a * b, or an error naming `context` when it overflows or reaches kMaxSafetensorsDim.
uint64_t checked_product(uint64_t a, uint64_t b, const std::string& context) {
  uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product) || product >= kMaxSafetensorsDim) {
    fail("{}: size overflows: {} x {} is not below 2^62", context, a, b);
  }
  return product;
}

// A non-negative JSON integer (nlohmann reads those as unsigned), or an error naming `what`.
uint64_t unsigned_value(const nlohmann::json& value, const std::string& context, const char* what) {
  if (!value.is_number_unsigned()) {
    fail("{}: {} must be non-negative integers, got a {}", context, what, value.type_name());
  }
  return value.get<uint64_t>();
}

SafetensorsHeaderEntry parse_entry(const std::string& name, const nlohmann::json& value,
                                   uint64_t data_bytes, const std::string& path) {
  const std::string context = path + ": tensor '" + name + "'";
  if (!value.is_object() || !value.contains("dtype") || !value["dtype"].is_string() ||
      !value.contains("shape") || !value["shape"].is_array() || !value.contains("data_offsets") ||
      !value["data_offsets"].is_array() || value["data_offsets"].size() != 2) {
    fail("{}: needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])",
         context);
  }
  SafetensorsHeaderEntry entry;
  entry.name = name;
  entry.dtype = value["dtype"].get<std::string>();
  entry.element_bytes = safetensors_dtype_bytes(entry.dtype);
  if (entry.element_bytes == 0) fail("{}: unknown dtype '{}'", context, entry.dtype);
  uint64_t bytes = entry.element_bytes;
  for (const auto& dim : value["shape"]) {
    const uint64_t size = unsigned_value(dim, context, "shape dims");
    if (size >= kMaxSafetensorsDim) fail("{}: shape dim {} is not below 2^62", context, size);
    entry.shape.push_back(static_cast<int64_t>(size));
    bytes = checked_product(bytes, size, context);
  }
  entry.begin = unsigned_value(value["data_offsets"][0], context, "data_offsets");
  entry.end = unsigned_value(value["data_offsets"][1], context, "data_offsets");
  if (entry.begin > entry.end) {
    fail("{}: data_offsets [{}, {}] end before they begin", context, entry.begin, entry.end);
  }
  if (entry.end > data_bytes) {
    fail("{}: truncated: tensor '{}' ends at data byte {} but the file holds {} data bytes", path,
         name, entry.end, data_bytes);
  }
  if (entry.end - entry.begin != bytes) {
    fail("{}: data_offsets [{}, {}] hold {} bytes, but {} of shape [{}] needs {}", context,
         entry.begin, entry.end, entry.end - entry.begin, entry.dtype, fmt::join(entry.shape, ", "),
         bytes);
  }
  return entry;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& value,
                                                  const std::string& path) {
  if (!value.is_object()) fail("{}: {} must be an object of strings", path, kMetadataKey);
  std::map<std::string, std::string> metadata;
  for (const auto& [key, text] : value.items()) {
    if (!text.is_string()) fail("{}: {}.{} must be a string", path, kMetadataKey, key);
    metadata.emplace(key, text.get<std::string>());
  }
  return metadata;
}

// No two tensors share a byte (empty tensors take none).
void check_no_overlap(const std::vector<SafetensorsHeaderEntry>& entries, const std::string& path) {
  std::vector<const SafetensorsHeaderEntry*> by_offset;
  for (const auto& entry : entries) {
    if (entry.end > entry.begin) by_offset.push_back(&entry);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& previous = *by_offset[i - 1];
    const auto& entry = *by_offset[i];
    if (entry.begin < previous.end) {
      fail("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", path, previous.name,
           previous.begin, previous.end, entry.name, entry.begin, entry.end);
    }
  }
}

}  // namespace

uint64_t safetensors_dtype_bytes(const std::string& dtype) {
  static const std::map<std::string, uint64_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
      {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

SafetensorsHeader parse_safetensors_header(std::string_view prefix, uint64_t file_size,
                                           const std::string& path) {
  if (file_size < kLengthBytes || prefix.size() < kLengthBytes) {
    fail("{}: truncated: {} bytes, too short for the 8-byte header length", path, file_size);
  }
  const uint64_t length = header_length(prefix);
  if (length > kMaxSafetensorsHeaderBytes || length > file_size - kLengthBytes ||
      length > prefix.size() - kLengthBytes) {
    fail("{}: header length {} does not fit the file's {} bytes (truncated or not safetensors)",
         path, length, file_size);
  }
  SafetensorsHeader header;
  header.data_begin = kLengthBytes + length;
  header.data_bytes = file_size - header.data_begin;
  const nlohmann::json json = parse_json(prefix.substr(kLengthBytes, length), path + ": header");
  if (!json.is_object()) fail("{}: header is not a JSON object", path);
  for (const auto& [name, value] : json.items()) {
    if (name == kMetadataKey) {
      header.metadata = parse_metadata(value, path);
    } else {
      header.entries.push_back(parse_entry(name, value, header.data_bytes, path));
    }
  }
  check_no_overlap(header.entries, path);
  return header;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  const uint64_t size = static_cast<uint64_t>(file_size(path));
  std::ifstream in(path, std::ios::binary);
  std::string prefix(std::min(size, kLengthBytes), '\0');
  if (!in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()))) {
    fail("{}: cannot read the header length", path);
  }
  if (prefix.size() == kLengthBytes) {
    // Only as much as the file holds: a hostile length is refused by the parser, not allocated.
    const uint64_t length =
        std::min({header_length(prefix), size - kLengthBytes, kMaxSafetensorsHeaderBytes + 1});
    prefix.resize(kLengthBytes + length);
    if (!in.read(prefix.data() + kLengthBytes, static_cast<std::streamsize>(length))) {
      fail("{}: cannot read the {}-byte header", path, length);
    }
  }
  return parse_safetensors_header(prefix, size, path);
}

}  // namespace pride
