// Buffered writers that append rows to the extendible datasets of the dialogue format
// (docs/data-format.md): a plain table, and a ragged field (flat rows plus its offsets). The
// synthetic generator and the teacher pass write their files through them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "data/format.h"
#include "data/h5.h"

namespace pride {

// Buffered appends to one extendible dataset.
template <typename T>
class TableWriter {
 public:
  TableWriter(h5::File& file, const std::string& name, h5::ElementType type, int64_t cols)
      : dataset_(file.create_rows(name, type, cols)) {}
  void add(T value) { buffer_.push_back(value); }
  void add(const T* values, int64_t count) {
    buffer_.insert(buffer_.end(), values, values + count);
  }
  void flush() {
    dataset_.append(buffer_);
    buffer_.clear();
  }

 private:
  h5::Dataset dataset_;
  std::vector<T> buffer_;
};

// A flat dataset plus its offsets (starting with 0).
template <typename T>
class RaggedWriter {
 public:
  RaggedWriter(h5::File& file, const std::string& name, h5::ElementType type, int64_t cols)
      : data_(file, name, type, cols),
        offsets_(file, format::offsets_of(name), h5::ElementType::kInt64, 0),
        cols_(std::max<int64_t>(1, cols)) {
    offsets_.add(0);
  }
  void add(const std::vector<T>& values) {
    data_.add(values.data(), static_cast<int64_t>(values.size()));
    end_ += static_cast<int64_t>(values.size()) / cols_;
    offsets_.add(end_);
  }
  void flush() {
    data_.flush();
    offsets_.flush();
  }

 private:
  TableWriter<T> data_;
  TableWriter<int64_t> offsets_;
  int64_t cols_, end_ = 0;
};

}  // namespace pride
