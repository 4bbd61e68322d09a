// Feature loading for dialogue samples: inline arrays as they are, references through HDF5.
#include "dialogue/features.h"

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
  return array;
}

}  // namespace pride::dialogue
