// Small RAII helpers over the HDF5 C API: handles that close themselves, files, row-oriented
// datasets (read/overwrite/append a range of rows along dim 0) and root attributes.
// Every HDF5 failure becomes a pride::Error naming the file and the dataset or attribute.
// HDF5 (the serial build) is not thread-safe, so every call into it holds one process-wide lock.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pride::h5 {

// Held around every HDF5 call. Recursive so that helpers may call helpers.
std::unique_lock<std::recursive_mutex> lock();

// Owns one HDF5 identifier and closes it with the matching H5?close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept { *this = std::move(other); }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t id() const { return id_; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Element types of the format. kFloat16 is an IEEE half stored in the file; it is always read
// and written through native float in memory (HDF5 converts).
enum class ElementType { kInt32, kInt64, kFloat32, kFloat16 };

// The file datatype of an element type (HDF5 1.10 has no predefined half type).
hid_t file_type(ElementType type);

// The in-memory element type of T (resolved to a native HDF5 type under the lock).
template <typename T>
constexpr ElementType memory_type();
template <>
constexpr ElementType memory_type<int32_t>() {
  return ElementType::kInt32;
}
template <>
constexpr ElementType memory_type<int64_t>() {
  return ElementType::kInt64;
}
template <>
constexpr ElementType memory_type<float>() {
  return ElementType::kFloat32;
}

class Dataset {
 public:
  Dataset(Handle handle, std::string file, std::string name);

  const std::string& name() const { return name_; }
  const std::string& file() const { return file_; }
  std::vector<int64_t> shape() const;
  int64_t rows() const { return shape().at(0); }
  int64_t cols() const;  // product of the dims after the first (1 for a 1-D dataset)
  bool is_integer() const;
  bool is_float() const;
  // The element type this dataset is stored as (kInt32 for any integer of <= 4 bytes, etc.).
  ElementType element_type() const;

  // Reads rows [start, start + count) converted to T; errors if the range is out of bounds.
  template <typename T>
  std::vector<T> read_rows(int64_t start, int64_t count) const {
    std::vector<T> out(static_cast<size_t>(count * cols()));
    read_rows_into(start, count, memory_type<T>(), out.data());
    return out;
  }
  template <typename T>
  std::vector<T> read_all() const {
    return read_rows<T>(0, rows());
  }
  // Overwrites rows starting at `start` with `values` (a whole number of rows).
  template <typename T>
  void write_rows(int64_t start, const std::vector<T>& values) {
    write_rows_from(start, static_cast<int64_t>(values.size()) / cols(), memory_type<T>(),
                    values.data());
  }
  // Extends the (chunked, extendible) dataset by the rows in `values` and writes them.
  template <typename T>
  void append(const std::vector<T>& values) {
    append_from(static_cast<int64_t>(values.size()) / cols(), memory_type<T>(), values.data());
  }
  // Appends rows [start, start + count) of `source`, converted to this dataset's type.
  void append_rows_of(const Dataset& source, int64_t start, int64_t count);
  void resize(int64_t rows);

 private:
  void read_rows_into(int64_t start, int64_t count, ElementType memory, void* out) const;
  void write_rows_from(int64_t start, int64_t count, ElementType memory, const void* in);
  void append_from(int64_t count, ElementType memory, const void* in);
  void transfer(int64_t start, int64_t count, hid_t memory, void* data, bool write) const;
  [[noreturn]] void fail_here(const std::string& what) const;
  std::pair<Handle, std::vector<hsize_t>> space() const;

  Handle handle_;
  std::string file_, name_;
};

enum class Mode { kRead, kReadWrite, kCreate };

class File {
 public:
  // kCreate truncates an existing file. Errors name the file (e.g. not an HDF5 file).
  static File open(const std::string& path, Mode mode);

  const std::string& path() const { return path_; }
  hid_t id() const { return handle_.id(); }  // for direct HDF5 calls (hold lock())
  void flush();

  // True if the object (dataset or group) at the absolute path exists.
  bool exists(const std::string& name) const;
  Dataset dataset(const std::string& name) const;
  // A chunked dataset extendible along dim 0, initially with 0 rows; cols = 0 makes it 1-D.
  // Chunking and compression follow one policy for the whole format (see docs/data-format.md).
  Dataset create_rows(const std::string& name, ElementType type, int64_t cols);

  bool has_attribute(const std::string& name) const;
  int64_t int_attribute(const std::string& name) const;
  std::string string_attribute(const std::string& name) const;
  void set_attribute(const std::string& name, int64_t value);
  void set_attribute(const std::string& name, const std::string& value);

 private:
  File(Handle handle, std::string path) : handle_(std::move(handle)), path_(std::move(path)) {}
  Handle open_attribute(const std::string& name) const;
  void remove_attribute_if_present(const std::string& name);

  Handle handle_;
  std::string path_;
};

}  // namespace pride::h5
