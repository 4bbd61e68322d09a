// SafetensorsFile: a memory-mapped, validated safetensors file (format: checkpoints/safetensors.h).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "checkpoints/safetensors.h"
#include "checkpoints/safetensors_header.h"
#include "util/error.h"

namespace pride {
namespace {

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

  // Every entry validated in unsigned arithmetic (safetensors_header.h): offsets and sizes below
  // 2^62, inside the data section, matching dtype and shape, not overlapping.
  const SafetensorsHeader header =
      parse_safetensors_header(std::string_view(mapping->bytes, static_cast<size_t>(mapping->size)),
                               static_cast<uint64_t>(mapping->size), path);
  data_begin_ = static_cast<int64_t>(header.data_begin);
  for (const SafetensorsHeaderEntry& checked : header.entries) {
    SafetensorsEntry entry;
    entry.name = checked.name;
    entry.dtype = safetensors_scalar_type(checked.dtype, path + ": tensor '" + checked.name + "'");
    entry.shape = checked.shape;
    entry.begin = static_cast<int64_t>(checked.begin);
    entry.end = static_cast<int64_t>(checked.end);
    entries_.push_back(std::move(entry));
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
