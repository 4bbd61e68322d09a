// The safetensors format (https://huggingface.co/docs/safetensors), as written by
// export_safetensors and by Hugging Face: an 8-byte little-endian header length N, N bytes of JSON
// header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, padded
// with spaces, then the raw little-endian tensor data (offsets count from the end of the header).
// SafetensorsFile memory-maps a file and hands out tensors over the mapped bytes, so loading copies
// each tensor once, straight into its destination.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pride {

constexpr int64_t kSafetensorsLengthBytes = 8;
constexpr char kSafetensorsMetadataKey[] = "__metadata__";

// "F32", "BF16", ... and back (a pride::Error naming `context` for a dtype pride cannot hold).
std::string safetensors_dtype_name(torch::ScalarType type);
torch::ScalarType safetensors_scalar_type(const std::string& name, const std::string& context);

// Writes `tensors` (CPU, float32 written as "F32") in the given order as a safetensors file,
// durably, with `metadata` (strings) as its __metadata__.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata);

struct SafetensorsEntry {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  int64_t begin = 0, end = 0;  // byte offsets into the data section
};

class SafetensorsFile {
 public:
  // Maps `path` and checks the header: valid JSON, known dtypes, and every tensor's bytes matching
  // its shape and lying inside the file (a pride::Error naming the file and tensor otherwise).
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(const std::string& name) const;
  // A read-only CPU tensor over the mapped bytes (a copy only when they are misaligned for the
  // dtype); it keeps the mapping alive. Never write into it.
  torch::Tensor tensor(const SafetensorsEntry& entry) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<const Mapping> mapping_;
  int64_t data_begin_ = 0;
  std::vector<SafetensorsEntry> entries_;
};

}  // namespace pride
