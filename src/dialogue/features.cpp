// Feature loading for dialogue samples: inline arrays as they are, references through HDF5.
#include "dialogue/features.h"

#include <cmath>
#include <filesystem>

#include "util/error.h"

namespace pride::dialogue {

const char* modality_name(Modality modality) {
  return modality == Modality::kAudio ? "audio" : "visual";
}

std::string feature_dataset(const std::string& key, Modality modality) {
  return "/features/" + key + "/" + modality_name(modality);
}

const h5::File& FeatureLoader::open(const std::string& file) {
  auto it = files_.find(file);
  if (it == files_.end()) {
    const std::filesystem::path path = std::filesystem::path(base_dir_) / file;  // abs stays abs
    if (!std::filesystem::exists(path)) fail("{}: no such feature file", path.string());
    it = files_.emplace(file, h5::File::open(path.string(), h5::Mode::kRead)).first;
  }
  return it->second;
}

namespace {

// A chunked dataset is read chunk by chunk: millions of tiny chunks take minutes even when empty.
constexpr int64_t kMaxFeatureChunks = 65536;

int64_t chunks_along(int64_t size, hsize_t chunk) {
  return (size + static_cast<int64_t>(chunk) - 1) / static_cast<int64_t>(chunk);
}

// Refuses, before reading, a [frames][dim] dataset cut into more than kMaxFeatureChunks chunks,
// or one that stores fewer bytes than it declares (never-written chunks, or a contiguous dataset
// never written, read back as fill values: silent zeros). Compressed datasets store fewer bytes
// by design and are exempt from the second check.
void check_storage(const h5::File& file, const std::string& name, int64_t frames, int64_t dim) {
  auto lock = h5::lock();
  const h5::Handle dataset(H5Dopen2(file.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  const h5::Handle create(H5Dget_create_plist(dataset.id()), H5Pclose);
  const h5::Handle type(H5Dget_type(dataset.id()), H5Tclose);
  if (dataset.id() < 0 || create.id() < 0 || type.id() < 0) {
    fail("{}: {}: cannot read its storage layout", file.path(), name);
  }
  hsize_t chunk[2] = {1, 1};
  if (H5Pget_layout(create.id()) == H5D_CHUNKED && H5Pget_chunk(create.id(), 2, chunk) == 2 &&
      chunk[0] > 0 && chunk[1] > 0) {
    const int64_t chunks = chunks_along(frames, chunk[0]) * chunks_along(dim, chunk[1]);
    if (chunks > kMaxFeatureChunks) {
      fail("{}: {}: stored in {} chunks of [{}][{}], more than the {} allowed", file.path(), name,
           chunks, chunk[0], chunk[1], kMaxFeatureChunks);
    }
  }
  const uint64_t declared = static_cast<uint64_t>(frames * dim) * H5Tget_size(type.id());
  const uint64_t stored = H5Dget_storage_size(dataset.id());
  if (H5Pget_nfilters(create.id()) == 0 && stored < declared) {
    fail("{}: {}: stores {} of its {} bytes (parts were never written)", file.path(), name, stored,
         declared);
  }
}

}  // namespace

std::optional<std::pair<int64_t, int64_t>> FeatureLoader::shape(const std::string& file,
                                                                const std::string& key,
                                                                Modality modality) {
  const h5::File& h5 = open(file);
  const std::string name = feature_dataset(key, modality);
  if (!h5.exists(name)) return std::nullopt;
  const h5::Dataset dataset = h5.dataset(name);
  const std::vector<int64_t> dims = dataset.shape();
  if (dims.size() != 2 || !dataset.is_float() || dims[0] < 1 || dims[1] < 1) {
    fail("{}: {}: expected a [frames][dim] float array with frames, dim >= 1", h5.path(), name);
  }
  if (dims[0] > kMaxFeatureValues / dims[1]) {  // the product without overflow
    fail("{}: {}: [{}][{}] is more than the {} values a feature array may hold", h5.path(), name,
         dims[0], dims[1], kMaxFeatureValues);
  }
  check_storage(h5, name, dims[0], dims[1]);
  return std::make_pair(dims[0], dims[1]);
}

std::optional<FeatureArray> FeatureLoader::load(const DialogueText& sample, Modality modality) {
  const std::optional<Features>& features =
      modality == Modality::kAudio ? sample.audio : sample.visual;
  if (!features) return std::nullopt;
  if (!features->is_reference()) return features->values;
  const std::string& key = features->key.empty() ? sample.id : features->key;
  const auto dims = shape(features->file, key, modality);
  const h5::File& h5 = open(features->file);
  if (!dims) {
    fail("{}: {}: missing (referenced by sample '{}')", h5.path(), feature_dataset(key, modality),
         sample.id);
  }
  FeatureArray array{dims->first, dims->second, {}};
  array.values = h5.dataset(feature_dataset(key, modality)).read_all<float>();
  // As for inline features: a NaN or an infinity (or a float64 beyond float's range) would
  // poison every loss it reaches.
  for (const float value : array.values) {
    if (!std::isfinite(value)) {
      fail("{}: {}: a value is not a finite float32 (referenced by sample '{}')", h5.path(),
           feature_dataset(key, modality), sample.id);
    }
  }
  return array;
}

}  // namespace pride::dialogue
