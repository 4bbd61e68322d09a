// export_safetensors: the student's weights alone, in the safetensors format
// (checkpoints/safetensors.h), the JSON header padded with spaces to a multiple of 8; and
// write_safetensors, named tensors in that format (pride ckpt export --merged and --peft).
#include <filesystem>

#include "checkpoints/checkpoint.h"
#include "checkpoints/protocol.h"
#include "checkpoints/safetensors.h"
#include "util/error.h"

namespace pride {
namespace {

constexpr char kParamsTensor[] = "model.params";

int64_t numel_of(const ParamSlice& param) {
  int64_t numel = 1;
  for (int64_t dim : param.shape) numel *= dim;
  return numel;
}

// The header for the params laid out back to back in layout order; checks they lie inside the
// flat tensor of `length` elements.
std::string safetensors_header(const Manifest& manifest, int64_t length,
                               const std::string& checkpoint_path) {
  nlohmann::ordered_json header;
  header[kSafetensorsMetadataKey] = {
      {"format", "pt"}, {"producer", "pride"}, {"step", std::to_string(manifest.step)}};
  int64_t cursor = 0;
  for (const ParamSlice& param : manifest.params) {
    const int64_t numel = numel_of(param);
    if (numel < 0 || param.offset < 0 || param.offset + numel > length) {
      fail("{}: parameter '{}' (offset {}, {} elements) lies outside {} ({} elements)",
           checkpoint_path, param.name, param.offset, numel, kParamsTensor, length);
    }
    header[param.name] = {{"dtype", safetensors_dtype_name(torch::kFloat)},
                          {"shape", param.shape},
                          {"data_offsets", {cursor * 4, (cursor + numel) * 4}}};
    cursor += numel;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

// The header and its 8-byte length, then each piece of data, written to a temporary file and
// renamed into place.
void write_durably(const std::string& path, const std::string& header,
                   const std::vector<ByteSpan>& data) {
  const uint64_t header_length = header.size();
  std::vector<ByteSpan> pieces = {{&header_length, kSafetensorsLengthBytes},
                                  {header.data(), static_cast<int64_t>(header.size())}};
  pieces.insert(pieces.end(), data.begin(), data.end());
  write_file_durably(path + ".tmp", pieces);
  rename_durably(path + ".tmp", path);
}

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  nlohmann::ordered_json header;
  header[kSafetensorsMetadataKey] = nlohmann::ordered_json::object();
  for (const auto& [key, value] : metadata) header[kSafetensorsMetadataKey][key] = value;
  std::vector<torch::Tensor> contiguous;
  std::vector<ByteSpan> data;
  int64_t cursor = 0;
  for (const auto& [name, tensor] : tensors) {
    contiguous.push_back(tensor.detach().to(torch::kCPU, torch::kFloat).contiguous());
    const int64_t bytes = contiguous.back().numel() * 4;
    header[name] = {{"dtype", safetensors_dtype_name(torch::kFloat)},
                    {"shape", contiguous.back().sizes().vec()},
                    {"data_offsets", {cursor, cursor + bytes}}};
    data.push_back({contiguous.back().data_ptr(), bytes});
    cursor += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_durably(path, text, data);
}

void export_safetensors(const std::string& checkpoint_path, const std::string& out_file) {
  const Manifest manifest =
      read_manifest((std::filesystem::path(checkpoint_path) / kManifestFile).string());
  size_t index = 0;
  while (index < manifest.tensors.size() && manifest.tensors[index].name != kParamsTensor) ++index;
  if (index == manifest.tensors.size() || manifest.tensors[index].dtype != "float32") {
    fail("{}: no float32 tensor '{}' to export", checkpoint_path, kParamsTensor);
  }
  const torch::Tensor params = read_owned_parts(checkpoint_path, manifest, 0, 1)[index];
  const std::string header = safetensors_header(manifest, params.numel(), checkpoint_path);
  std::vector<ByteSpan> pieces;
  const float* values = params.data_ptr<float>();
  for (const ParamSlice& param : manifest.params) {
    pieces.push_back({values + param.offset, numel_of(param) * 4});
  }
  write_durably(out_file, header, pieces);
}

}  // namespace pride
