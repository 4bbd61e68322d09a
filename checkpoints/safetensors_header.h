// The safetensors header (format: checkpoints/safetensors.h), parsed and validated without
// LibTorch: the 8-byte length, the JSON header and every entry, in unsigned 64-bit arithmetic with
// overflow checks, so that whoever reads the tensors afterwards (SafetensorsFile, a student card,
// model.init_from) only ever sees entries whose bytes lie inside the file. A hostile header
// (offsets at or above 2^63, dims whose product overflows, overlapping tensors) is a pride::Error
// naming the file and the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pride {

// A shape dimension must be below this (and so must every element count and byte count).
constexpr uint64_t kMaxSafetensorsDim = uint64_t{1} << 62;
// The header size the reference implementation accepts at most.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsHeaderEntry {
  std::string name;
  std::string dtype;  // as written: "F32", "BF16", ...
  uint64_t element_bytes = 0;
  std::vector<int64_t> shape;   // each dim in [0, 2^62)
  uint64_t begin = 0, end = 0;  // [begin, end) in the data section; end - begin = numel x size
};

struct SafetensorsHeader {
  uint64_t data_begin = 0;  // file offset of the data section (8 + the header length)
  uint64_t data_bytes = 0;  // bytes from data_begin to the end of the file
  std::vector<SafetensorsHeaderEntry> entries;  // in the header's (sorted-key) order
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// The bytes per element of a safetensors dtype name, or 0 for a name the format does not define.
uint64_t safetensors_dtype_bytes(const std::string& dtype);

// Parses and validates the header of a file whose first bytes are `prefix` (at least the 8-byte
// length and the header itself) and whose size is `file_size`. `path` names the file in errors.
SafetensorsHeader parse_safetensors_header(std::string_view prefix, uint64_t file_size,
                                           const std::string& path);

// Reads just the header of the file at `path` (not its tensor data) and validates it.
SafetensorsHeader read_safetensors_header(const std::string& path);

}  // namespace pride
