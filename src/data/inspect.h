// `pride data inspect`: a full validation pass over a dialogue file, streaming in blocks (bounded
// memory), and a human-readable summary of what it holds.
#pragma once

#include <cstdint>
#include <string>

#include "data/sample.h"

namespace pride {

struct InspectReport {
  std::string path;
  DatasetInfo info;
  int64_t response_tokens = 0, context_tokens = 0;
  double mean_context_len = 0, mean_response_len = 0;
  bool half_precision = false;  // teacher log-probs stored as float16
  std::string summary() const;  // multi-line
};

// Checks every invariant of docs/data-format.md; the first violation is a pride::Error naming the
// file, the dataset and, where it applies, the sample index.
InspectReport inspect_file(const std::string& path);

}  // namespace pride
