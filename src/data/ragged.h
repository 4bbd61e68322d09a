// Checked reading of the HDF5 data formats' building blocks, shared by the dialogue reader
// (data/reader.h) and the preference reader (data/preference.h): root attributes in range, table
// widths, and ragged fields (flat rows plus an offsets array) whose every offset and id is checked,
// so that a corrupt file is a pride::Error naming the file, dataset and sample, never a crash.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/h5.h"

namespace pride::data {

// The most values one sample's rows of a field may hold (2^26, far above any real sample): a
// hostile file can declare a dataset of 2^40 rows without storing them, and offsets spanning it
// would size the read.
inline constexpr int64_t kMaxSampleValues = int64_t{1} << 26;
// The widest a table may be (top-K, the teacher's hidden size, a feature dimension), far above any
// real one: a declared width of 2^31 made one row an 8 GB read of unstored chunks.
inline constexpr int64_t kMaxWidth = int64_t{1} << 16;

// The root attribute `format` is `name` and `version` is `version`.
void check_format(const h5::File& file, const char* name, int64_t version);
int64_t positive_attribute(const h5::File& file, const char* name);
// An integer attribute that must be a token id in [0, vocab_size).
int64_t token_attribute(const h5::File& file, const char* name, int64_t vocab_size);
// Width of a 2-D dataset (a [rows, width] table, width in [1, kMaxWidth]), failing if it is not
// one.
int64_t width_of(const h5::Dataset& dataset);
void check_one_dimensional(const h5::Dataset& dataset);
// A table must hold `expected` rows (`why` says what they are).
void check_rows(const h5::Dataset& table, int64_t expected, const char* why);
// Values a model reads as they are (features, hidden states, log-probabilities) must be finite.
void check_finite(const std::vector<float>& values, const h5::Dataset& dataset, int64_t index);

// One ragged field of an open file: the flat data and its offsets.
struct RaggedRows {
  h5::Dataset data;
  h5::Dataset offsets;
  int64_t flat_rows = 0;

  RaggedRows(const h5::File& file, const std::string& name);
  // Rows [begin, end) of sample `index`, checked against the flat dataset and kMaxSampleValues.
  std::pair<int64_t, int64_t> range(int64_t index) const;
  // The token ids of sample `index`, each checked to lie in [0, vocab_size).
  std::vector<int32_t> tokens(int64_t index, int64_t vocab_size) const;
  // [frames, width] float32 tensor of sample `index`.
  torch::Tensor features(int64_t index) const;
};

}  // namespace pride::data
