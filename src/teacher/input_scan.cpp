// The first read of the teacher pass's input (see input_scan.h).
#include "teacher/input_scan.h"

#include <fmt/format.h>

#include "dialogue/dialogue.h"
#include "teacher/teach_file.h"
#include "util/error.h"

namespace pride::teacher {
namespace {

using dialogue::DialogueText;
using dialogue::Modality;

// The width of a sample's features of `modality`, 0 when it has none.
int64_t feature_dim(const DialogueText& sample, Modality modality,
                    dialogue::FeatureLoader& features, const std::string& where) {
  const auto& entry = modality == Modality::kAudio ? sample.audio : sample.visual;
  if (!entry) return 0;
  if (!entry->is_reference()) return entry->values.dim;
  const std::string& key = entry->key.empty() ? sample.id : entry->key;
  const auto shape = features.shape(entry->file, key, modality);
  if (!shape) {
    fail("{}: {} has no dataset {}", where, entry->file, dialogue::feature_dataset(key, modality));
  }
  return shape->second;
}

void note_dim(int64_t& dim, int64_t sample_dim, const std::string& where, const char* modality) {
  if (sample_dim == 0) return;
  if (dim != 0 && dim != sample_dim) {
    fail("{}: {} features are {} wide, earlier samples' {}", where, modality, sample_dim, dim);
  }
  dim = sample_dim;
}

}  // namespace

InputSummary scan_input(const std::string& path, dialogue::FeatureLoader& features,
                        bool reasoning) {
  dialogue::DialogueReader reader(path);
  DialogueText sample;
  InputSummary summary;
  while (reader.next(sample)) {
    const std::string where = fmt::format("{}:{}", path, reader.line_number());
    if (summary.samples == 0) summary.label_set = sample.label_set;
    if (sample.label_set != summary.label_set) {
      fail("{}: label set '{}' differs from the first sample's '{}' (one run, one label set)",
           where, sample.label_set, summary.label_set);
    }
    for (const auto& [name, text] : sample.privileged) {
      if (reasoning && name == kReasoningSource) {
        fail(
            "{}: the sample already has a privileged source 'reasoning', which the teacher "
            "writes; rename it, or set teach.reasoning=false",
            where);
      }
      summary.sources.insert(name);
    }
    if (!reasoning && sample.privileged.empty()) {
      fail(
          "{}: sample '{}' has no privileged text and teach.reasoning is off: it would give the "
          "student no privileged information",
          where, sample.id);
    }
    note_dim(summary.audio_dim, feature_dim(sample, Modality::kAudio, features, where), where,
             "audio");
    note_dim(summary.visual_dim, feature_dim(sample, Modality::kVisual, features, where), where,
             "visual");
    ++summary.samples;
  }
  if (summary.samples == 0) fail("{}: holds no samples", path);
  return summary;
}

}  // namespace pride::teacher
