// The checked readers of data/ragged.h.
#include "data/ragged.h"

#include <cmath>

#include "util/error.h"

namespace pride::data {

void check_format(const h5::File& file, const char* name, int64_t version) {
  const std::string found = file.string_attribute("format");
  if (found != name) {
    fail("{}: attribute 'format' is '{}', expected '{}'", file.path(), found, name);
  }
  const int64_t found_version = file.int_attribute("version");
  if (found_version != version) {
    fail("{}: format version {} is not supported (expected {})", file.path(), found_version,
         version);
  }
}

int64_t positive_attribute(const h5::File& file, const char* name) {
  const int64_t value = file.int_attribute(name);
  if (value <= 0) fail("{}: attribute '{}' must be positive, found {}", file.path(), name, value);
  return value;
}

int64_t token_attribute(const h5::File& file, const char* name, int64_t vocab_size) {
  const int64_t value = file.int_attribute(name);
  if (value < 0 || value >= vocab_size) {
    fail("{}: attribute '{}' = {} is outside [0, {})", file.path(), name, value, vocab_size);
  }
  return value;
}

int64_t width_of(const h5::Dataset& dataset) {
  const std::vector<int64_t> shape = dataset.shape();
  if (shape.size() != 2 || shape[1] < 1 || shape[1] > kMaxWidth) {
    fail("{}: {}: expected a 2-D dataset of width 1 to {}", dataset.file(), dataset.name(),
         kMaxWidth);
  }
  return shape[1];
}

void check_one_dimensional(const h5::Dataset& dataset) {
  if (dataset.shape().size() != 1) {
    fail("{}: {}: expected a 1-D dataset", dataset.file(), dataset.name());
  }
}

void check_rows(const h5::Dataset& table, int64_t expected, const char* why) {
  if (table.rows() != expected) {
    fail("{}: {}: has {} rows, expected {} ({})", table.file(), table.name(), table.rows(),
         expected, why);
  }
}

void check_finite(const std::vector<float>& values, const h5::Dataset& dataset, int64_t index) {
  for (const float value : values) {
    if (!std::isfinite(value)) {
      fail("{}: {}: sample {} holds a non-finite value ({})", dataset.file(), dataset.name(), index,
           value);
    }
  }
}

RaggedRows::RaggedRows(const h5::File& file, const std::string& name)
    : data(file.dataset(name)), offsets(file.dataset(name + "_offsets")) {
  check_one_dimensional(offsets);
  flat_rows = data.rows();
}

std::pair<int64_t, int64_t> RaggedRows::range(int64_t index) const {
  const std::vector<int64_t> bounds = offsets.read_rows<int64_t>(index, 2);
  if (bounds[0] < 0 || bounds[1] < bounds[0] || bounds[1] > flat_rows) {
    fail("{}: {}: sample {} has rows [{}, {}), outside [0, {}) or decreasing", data.file(),
         offsets.name(), index, bounds[0], bounds[1], flat_rows);
  }
  if (bounds[1] - bounds[0] > kMaxSampleValues / data.cols()) {
    fail("{}: {}: sample {} has {} rows of {} values, more than the {} a sample may hold",
         data.file(), offsets.name(), index, bounds[1] - bounds[0], data.cols(), kMaxSampleValues);
  }
  return {bounds[0], bounds[1]};
}

std::vector<int32_t> RaggedRows::tokens(int64_t index, int64_t vocab_size) const {
  check_one_dimensional(data);
  const auto [begin, end] = range(index);
  std::vector<int32_t> tokens = data.read_rows<int32_t>(begin, end - begin);
  for (int32_t token : tokens) {
    if (token < 0 || token >= vocab_size) {
      fail("{}: {}: token id {} of sample {} is outside [0, {})", data.file(), data.name(), token,
           index, vocab_size);
    }
  }
  return tokens;
}

torch::Tensor RaggedRows::features(int64_t index) const {
  const auto [begin, end] = range(index);
  std::vector<float> values = data.read_rows<float>(begin, end - begin);
  check_finite(values, data, index);
  return torch::tensor(values).reshape({end - begin, data.cols()});
}

}  // namespace pride::data
