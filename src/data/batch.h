// Collation of Samples into a padded Batch (layout documented in data/sample.h).
#pragma once

#include <cstdint>
#include <vector>

#include "data/sample.h"

namespace pride {

// Pads samples into a Batch. Rows are context ++ response. A row longer than max_seq_len keeps the
// last (max_seq_len - response_len) context tokens; if the response alone does not fit, it is
// truncated to max_seq_len - 1 tokens so that one context token remains to predict its first
// token. privileged: per source [B, L] tokens + mask, only when the samples carry PI (all or
// none of them). Modalities [B, F, D] + mask when present.
Batch collate(const std::vector<Sample>& samples, const DatasetInfo& info, int64_t max_seq_len);

// Preference pairs (DatasetInfo::preference) as one batch of 2P rows: the P chosen rows (context
// ++ chosen response), then the P rejected rows in the same order (Batch::pairs = P). Each row is
// fitted to max_seq_len on its own, as collate() does.
Batch collate_pairs(const std::vector<Sample>& pairs, const DatasetInfo& info, int64_t max_seq_len);

}  // namespace pride
