// The teacher pass's first read of its input: sample count, label set, privileged sources and
// feature widths, with every inconsistency an error naming the line, before any teaching.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "dialogue/features.h"

namespace pride::teacher {

// What the pass learns from one read of the input before teaching.
struct InputSummary {
  int64_t samples = 0;
  std::string label_set;
  std::set<std::string> sources;  // the converters' privileged sources
  int64_t audio_dim = 0, visual_dim = 0;
};

// Reads the dialogue JSONL at `path` once; `reasoning` (teach.reasoning) forbids a source of that
// name, since the teacher writes it.
InputSummary scan_input(const std::string& path, dialogue::FeatureLoader& features, bool reasoning);

}  // namespace pride::teacher
