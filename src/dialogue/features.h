// Audio/visual features of dialogue samples, inline or in an HDF5 feature file that holds one
// [frames][dim] float dataset per sample and modality: /features/<key>/audio,
// /features/<key>/visual (docs/dialogue-text.md).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "data/h5.h"
#include "dialogue/dialogue.h"

namespace pride::dialogue {

enum class Modality { kAudio, kVisual };
const char* modality_name(Modality modality);  // "audio", "visual"

// The dataset path of a sample's features in a feature file.
std::string feature_dataset(const std::string& key, Modality modality);

// The most values one feature array may hold (256 MiB of float32, far above a real sample's
// frames x dim): a dataset declaring more is refused before anything is allocated.
constexpr int64_t kMaxFeatureValues = int64_t{1} << 26;

// Reads features, inline or referenced, keeping each feature file open once opened.
class FeatureLoader {
 public:
  // `base_dir`: where relative feature file paths start (the JSONL file's directory).
  explicit FeatureLoader(std::string base_dir) : base_dir_(std::move(base_dir)) {}

  // The sample's features of `modality`, or nullopt when it has none. A missing file or
  // dataset, or a dataset that is not a 2-D float array, is a pride::Error naming both.
  std::optional<FeatureArray> load(const DialogueText& sample, Modality modality);

  // The shape of /features/<key>/<modality> in `file` (a path as given), or nullopt when the
  // file has no such dataset; a dataset of the wrong kind or over kMaxFeatureValues is an error.
  std::optional<std::pair<int64_t, int64_t>> shape(const std::string& file, const std::string& key,
                                                   Modality modality);

 private:
  const h5::File& open(const std::string& file);

  std::string base_dir_;
  std::map<std::string, h5::File> files_;
};

}  // namespace pride::dialogue
