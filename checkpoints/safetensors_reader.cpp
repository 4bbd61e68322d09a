// SafetensorsFile: a memory-mapped, validated safetensors file (format: checkpoints/safetensors.h).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <utility>

#include "checkpoints/safetensors.h"
#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

// The header size the reference implementation accepts at most.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const std::vector<std::pair<torch::ScalarType, std::string>>& dtype_names() {
  static const std::vector<std::pair<torch::ScalarType, std::string>> names = {
      {torch::kDouble, "F64"},    {torch::kFloat, "F32"}, {torch::kHalf, "F16"},
      {torch::kBFloat16, "BF16"}, {torch::kLong, "I64"},  {torch::kInt, "I32"},
      {torch::kShort, "I16"},     {torch::kChar, "I8"},   {torch::kByte, "U8"},
      {torch::kBool, "BOOL"}};
  return names;
}

std::string known_dtypes() {
  std::string list;
  for (const auto& [type, name] : dtype_names()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& value,
                             const std::string& context) {
  if (!value.is_object() || !value.contains("dtype") || !value["dtype"].is_string() ||
      !value.contains("shape") || !value["shape"].is_array() || !value.contains("data_offsets") ||
      !value["data_offsets"].is_array() || value["data_offsets"].size() != 2) {
    fail("{}: needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])",
         context);
  }
  SafetensorsEntry entry;
  entry.name = name;
  entry.dtype = safetensors_scalar_type(value["dtype"].get<std::string>(), context);
  int64_t bytes = static_cast<int64_t>(c10::elementSize(entry.dtype));
  for (const auto& dim : value["shape"]) {
    if (!dim.is_number_unsigned())
      fail("{}: shape {} is not a list of sizes", context, value["shape"].dump());
    entry.shape.push_back(dim.get<int64_t>());
    bytes *= entry.shape.back();
  }
  for (const auto& offset : value["data_offsets"]) {
    if (!offset.is_number_unsigned()) fail("{}: data_offsets must be two byte offsets", context);
  }
  entry.begin = value["data_offsets"][0].get<int64_t>();
  entry.end = value["data_offsets"][1].get<int64_t>();
  if (entry.end < entry.begin || entry.end - entry.begin != bytes) {
    fail("{}: data_offsets [{}, {}] hold {} bytes, but {} of shape [{}] needs {}", context,
         entry.begin, entry.end, entry.end - entry.begin, value["dtype"].get<std::string>(),
         fmt::join(entry.shape, ", "), bytes);
  }
  return entry;
}

}  // namespace

std::string safetensors_dtype_name(torch::ScalarType type) {
  for (const auto& [known, name] : dtype_names()) {
    if (known == type) return name;
  }
  fail("safetensors: no dtype name for {}", c10::toString(type));
}

torch::ScalarType safetensors_scalar_type(const std::string& name, const std::string& context) {
  for (const auto& [type, known] : dtype_names()) {
    if (known == name) return type;
  }
  fail("{}: unknown dtype '{}' (pride reads {})", context, name, known_dtypes());
}

struct SafetensorsFile::Mapping {
  const char* bytes = nullptr;
  int64_t size = 0;
  ~Mapping() {
    if (size > 0) munmap(const_cast<char*>(bytes), size);
  }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat info {};
  auto mapping = std::make_shared<Mapping>();
  if (fstat(fd, &info) == 0 && info.st_size > 0) {
    void* bytes = mmap(nullptr, info.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (bytes != MAP_FAILED) {
      mapping->bytes = static_cast<const char*>(bytes);
      mapping->size = info.st_size;
    }
  }
  const int error = errno;
  close(fd);
  if (info.st_size > 0 && mapping->size == 0)
    fail("{}: cannot map: {}", path, std::strerror(error));
  mapping_ = mapping;

  if (mapping->size < kSafetensorsLengthBytes) {
    fail("{}: truncated: {} bytes, too short for the 8-byte header length", path, mapping->size);
  }
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, mapping->bytes, sizeof header_bytes);  // little-endian hosts only
  if (header_bytes > kMaxHeaderBytes ||
      static_cast<int64_t>(header_bytes) > mapping->size - kSafetensorsLengthBytes) {
    fail("{}: header length {} does not fit the file's {} bytes (truncated or not safetensors)",
         path, header_bytes, mapping->size);
  }
  data_begin_ = kSafetensorsLengthBytes + static_cast<int64_t>(header_bytes);
  const nlohmann::json header = parse_json(
      std::string_view(mapping->bytes + kSafetensorsLengthBytes, header_bytes), path + ": header");
  if (!header.is_object()) fail("{}: header is not a JSON object", path);
  const int64_t data_bytes = mapping->size - data_begin_;
  for (const auto& [name, value] : header.items()) {
    if (name == kSafetensorsMetadataKey) continue;
    entries_.push_back(parse_entry(name, value, path + ": tensor '" + name + "'"));
    if (entries_.back().end > data_bytes) {
      fail("{}: truncated: tensor '{}' ends at data byte {} but the file holds {} data bytes", path,
           name, entries_.back().end, data_bytes);
    }
  }
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const auto& entry : entries_) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

torch::Tensor SafetensorsFile::tensor(const SafetensorsEntry& entry) const {
  char* data = const_cast<char*>(mapping_->bytes) + data_begin_ + entry.begin;
  const auto options = torch::TensorOptions().dtype(entry.dtype);
  if (reinterpret_cast<uintptr_t>(data) % c10::elementSize(entry.dtype) != 0) {
    auto copy = torch::empty(entry.shape, options);
    std::memcpy(copy.data_ptr(), data, entry.end - entry.begin);
    return copy;
  }
  auto keep_alive = mapping_;
  return torch::from_blob(
      data, entry.shape, [keep_alive](void*) {}, options);
}

}  // namespace pride
