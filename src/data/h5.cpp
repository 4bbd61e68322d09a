// RAII helpers over the HDF5 C API (see h5.h): every call holds the process-wide HDF5 lock and
// every failure is turned into a pride::Error naming the file and object.
#include "data/h5.h"

#include <algorithm>

#include "util/error.h"

namespace pride::h5 {
namespace {

// Row-chunk target: big enough for good sequential throughput (and few chunk-index entries),
// while a random read of one sample only touches the bytes it needs (chunks are uncompressed).
constexpr int64_t kChunkBytes = 64 * 1024;

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

// Appends HDF5's innermost error description, so that messages say *why* (e.g. "file signature
// not found") without HDF5 printing its own stack to stderr.
herr_t keep_description(unsigned, const H5E_error2_t* error, void* out) {
  if (error->desc && *error->desc) *static_cast<std::string*>(out) = error->desc;
  return 0;
}

std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_description, &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? "HDF5 error" : reason;
}

[[noreturn]] void fail_object(const std::string& file, const std::string& object,
                              const std::string& what) {
  const std::string reason = hdf5_reason();
  if (object.empty()) fail("{}: {} ({})", file, what, reason);
  fail("{}: {}: {} ({})", file, object, what, reason);
}

// Wraps an identifier returned by HDF5, failing with `what` when it is invalid.
Handle checked(hid_t id, Handle::Closer closer, const std::string& file, const std::string& object,
               const std::string& what) {
  if (id < 0) fail_object(file, object, what);
  return Handle(id, closer);
}

void check(herr_t status, const std::string& file, const std::string& object,
           const std::string& what) {
  if (status < 0) fail_object(file, object, what);
}

hid_t half_type() {
  static const hid_t type = [] {
    const hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    H5Tlock(t);
    return t;
  }();
  return type;
}

hid_t native_type(ElementType type) {
  switch (type) {
    case ElementType::kInt32:
      return H5T_NATIVE_INT32;
    case ElementType::kInt64:
      return H5T_NATIVE_INT64;
    default:
      return H5T_NATIVE_FLOAT;
  }
}

size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::kInt64:
      return 8;
    case ElementType::kFloat16:
      return 2;
    default:
      return 4;
  }
}

bool is_integer_type(ElementType type) {
  return type == ElementType::kInt32 || type == ElementType::kInt64;
}

// One creation property list per element type and width: row chunks of ~kChunkBytes, no
// compression. Measured on 100k samples (docs/data-format.md): shuffle + deflate on the integer
// datasets saved only 13% of the file (floats dominate and barely compress) but made random
// sample reads 4.7x slower, as each read inflates whole chunks.
Handle creation_properties(ElementType type, int64_t cols, const std::string& file,
                           const std::string& name) {
  Handle plist = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, file, name, "H5Pcreate");
  const int64_t row_bytes = std::max<int64_t>(1, cols) * element_size(type);
  const hsize_t chunk_rows = std::max<int64_t>(1, kChunkBytes / row_bytes);
  const hsize_t chunk[2] = {chunk_rows, static_cast<hsize_t>(std::max<int64_t>(1, cols))};
  check(H5Pset_chunk(plist.id(), cols > 0 ? 2 : 1, chunk), file, name, "cannot set chunking");
  check(H5Pset_obj_track_times(plist.id(), 0), file, name, "cannot disable timestamps");
  return plist;
}

// Groups on the way to `name` that do not exist yet, created without timestamps (object times
// would make two files with identical content differ byte for byte).
void create_parent_groups(hid_t file_id, const std::string& file, const std::string& name) {
  Handle plist = checked(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, file, name, "H5Pcreate");
  check(H5Pset_obj_track_times(plist.id(), 0), file, name, "group properties");
  for (size_t slash = name.find('/', 1); slash != std::string::npos;
       slash = name.find('/', slash + 1)) {
    const std::string group = name.substr(0, slash);
    if (H5Lexists(file_id, group.c_str(), H5P_DEFAULT) > 0) continue;
    checked(H5Gcreate2(file_id, group.c_str(), H5P_DEFAULT, plist.id(), H5P_DEFAULT), H5Gclose,
            file, group, "cannot create group");
  }
}

}  // namespace

std::unique_lock<std::recursive_mutex> lock() {
  std::unique_lock<std::recursive_mutex> guard(hdf5_mutex());
  // HDF5 prints its error stack by default; we report errors ourselves.
  static const bool silenced = H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0;
  (void)silenced;
  return guard;
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) {
    auto guard = lock();
    closer_(id_);
  }
  id_ = H5I_INVALID_HID;
}

hid_t file_type(ElementType type) {
  auto guard = lock();
  switch (type) {
    case ElementType::kInt32:
      return H5T_STD_I32LE;
    case ElementType::kInt64:
      return H5T_STD_I64LE;
    case ElementType::kFloat32:
      return H5T_IEEE_F32LE;
    case ElementType::kFloat16:
      return half_type();
  }
  return H5T_IEEE_F32LE;
}

// --- Dataset ----------------------------------------------------------------------------------

Dataset::Dataset(Handle handle, std::string file, std::string name)
    : handle_(std::move(handle)), file_(std::move(file)), name_(std::move(name)) {}

void Dataset::fail_here(const std::string& what) const {
  fail_object(file_, name_, what);
}

// The dataspace of the dataset and its dims (1 or 2 of them).
std::pair<Handle, std::vector<hsize_t>> Dataset::space() const {
  auto guard = lock();
  Handle space(H5Dget_space(handle_.id()), H5Sclose);
  if (space.id() < 0) fail_here("cannot read its shape");
  const int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 1 || rank > 2)
    fail("{}: {}: expected 1 or 2 dimensions, found {}", file_, name_, rank);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return {std::move(space), dims};
}

std::vector<int64_t> Dataset::shape() const {
  const std::vector<hsize_t> dims = space().second;
  return std::vector<int64_t>(dims.begin(), dims.end());
}

int64_t Dataset::cols() const {
  const std::vector<int64_t> dims = shape();
  return dims.size() == 2 ? dims[1] : 1;
}

ElementType Dataset::element_type() const {
  auto guard = lock();
  Handle type = checked(H5Dget_type(handle_.id()), H5Tclose, file_, name_, "cannot read its type");
  const H5T_class_t type_class = H5Tget_class(type.id());
  const size_t size = H5Tget_size(type.id());
  if (type_class == H5T_INTEGER) return size <= 4 ? ElementType::kInt32 : ElementType::kInt64;
  if (type_class == H5T_FLOAT) return size <= 2 ? ElementType::kFloat16 : ElementType::kFloat32;
  fail("{}: {}: expected an integer or floating-point dataset", file_, name_);
}

bool Dataset::is_integer() const {
  return is_integer_type(element_type());
}
bool Dataset::is_float() const {
  return !is_integer();
}

void Dataset::transfer(int64_t start, int64_t count, hid_t memory, void* data, bool write) const {
  auto [space, dims] = this->space();
  if (start < 0 || count < 0 || start + count > static_cast<int64_t>(dims[0])) {
    fail("{}: {}: rows [{}, {}) are outside the dataset's {} rows", file_, name_, start,
         start + count, dims[0]);
  }
  if (count == 0) return;
  const hsize_t offset[2] = {static_cast<hsize_t>(start), 0};
  const hsize_t extent[2] = {static_cast<hsize_t>(count),
                             dims.size() == 2 ? static_cast<hsize_t>(dims[1]) : 1};
  const int rank = static_cast<int>(dims.size());
  check(H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, offset, nullptr, extent, nullptr), file_,
        name_, "cannot select rows");
  Handle memory_space =
      checked(H5Screate_simple(rank, extent, nullptr), H5Sclose, file_, name_, "memory dataspace");
  const herr_t status =
      write ? H5Dwrite(handle_.id(), memory, memory_space.id(), space.id(), H5P_DEFAULT, data)
            : H5Dread(handle_.id(), memory, memory_space.id(), space.id(), H5P_DEFAULT, data);
  if (status < 0) {
    fail_here(
        fmt::format("cannot {} rows [{}, {})", write ? "write" : "read", start, start + count));
  }
}

void Dataset::read_rows_into(int64_t start, int64_t count, ElementType memory, void* out) const {
  auto guard = lock();
  transfer(start, count, native_type(memory), out, false);
}

void Dataset::write_rows_from(int64_t start, int64_t count, ElementType memory, const void* in) {
  auto guard = lock();
  transfer(start, count, native_type(memory), const_cast<void*>(in), true);
}

void Dataset::resize(int64_t rows) {
  auto guard = lock();
  std::vector<int64_t> dims = shape();
  hsize_t extent[2] = {static_cast<hsize_t>(rows), dims.size() == 2 ? (hsize_t)dims[1] : 1};
  check(H5Dset_extent(handle_.id(), extent), file_, name_, "cannot resize");
}

void Dataset::append_from(int64_t count, ElementType memory, const void* in) {
  auto guard = lock();
  const int64_t start = rows();
  resize(start + count);
  transfer(start, count, native_type(memory), const_cast<void*>(in), true);
}

void Dataset::append_rows_of(const Dataset& source, int64_t start, int64_t count) {
  auto guard = lock();
  if (source.cols() != cols()) {
    fail("{}: {}: cannot copy rows of width {} into width {}", source.file_, source.name_,
         source.cols(), cols());
  }
  // Read straight into this dataset's file type: HDF5 converts, and no precision is lost.
  Handle type = checked(H5Dget_type(handle_.id()), H5Tclose, file_, name_, "type");
  std::vector<char> buffer(static_cast<size_t>(count * cols()) * H5Tget_size(type.id()));
  source.transfer(start, count, type.id(), buffer.data(), false);
  const int64_t first = rows();
  resize(first + count);
  transfer(first, count, type.id(), buffer.data(), true);
}

// --- File -------------------------------------------------------------------------------------

File File::open(const std::string& path, Mode mode) {
  auto guard = lock();
  hid_t id;
  if (mode == Mode::kCreate) {
    id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  } else {
    const unsigned flags = mode == Mode::kRead ? H5F_ACC_RDONLY : H5F_ACC_RDWR;
    id = H5Fopen(path.c_str(), flags, H5P_DEFAULT);
  }
  const char* what = mode == Mode::kCreate ? "cannot create HDF5 file"
                                           : "cannot open as an HDF5 file (missing, truncated or "
                                             "not HDF5)";
  return File(checked(id, H5Fclose, path, "", what), path);
}

void File::flush() {
  auto guard = lock();
  check(H5Fflush(handle_.id(), H5F_SCOPE_LOCAL), path_, "", "cannot flush");
}

bool File::exists(const std::string& name) const {
  auto guard = lock();
  // H5Lexists needs every parent to exist, so walk the path one component at a time.
  std::string prefix;
  size_t begin = 1;
  while (begin <= name.size()) {
    const size_t end = std::min(name.find('/', begin), name.size());
    prefix = name.substr(0, end);
    if (H5Lexists(handle_.id(), prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    begin = end + 1;
  }
  return true;
}

Dataset File::dataset(const std::string& name) const {
  auto guard = lock();
  if (!exists(name)) fail("{}: {}: required dataset is missing", path_, name);
  return Dataset(checked(H5Dopen2(handle_.id(), name.c_str(), H5P_DEFAULT), H5Dclose, path_, name,
                         "cannot open dataset"),
                 path_, name);
}

Dataset File::create_rows(const std::string& name, ElementType type, int64_t cols) {
  auto guard = lock();
  const int rank = cols > 0 ? 2 : 1;
  const hsize_t dims[2] = {0, static_cast<hsize_t>(cols)};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(cols)};
  Handle space = checked(H5Screate_simple(rank, dims, max_dims), H5Sclose, path_, name, "space");
  Handle create = creation_properties(type, cols, path_, name);
  create_parent_groups(handle_.id(), path_, name);
  const hid_t id = H5Dcreate2(handle_.id(), name.c_str(), file_type(type), space.id(), H5P_DEFAULT,
                              create.id(), H5P_DEFAULT);
  return Dataset(checked(id, H5Dclose, path_, name, "cannot create dataset"), path_, name);
}

bool File::has_attribute(const std::string& name) const {
  auto guard = lock();
  const htri_t found = H5Aexists(handle_.id(), name.c_str());
  H5Eclear2(H5E_DEFAULT);
  return found > 0;
}

// The attribute `name`, which must hold one value: H5Aread writes every element of an array
// attribute into a buffer sized for one.
Handle File::open_attribute(const std::string& name) const {
  if (!has_attribute(name)) fail("{}: attribute '{}' is missing", path_, name);
  Handle attribute = checked(H5Aopen(handle_.id(), name.c_str(), H5P_DEFAULT), H5Aclose, path_,
                             "attribute " + name, "cannot open");
  Handle space(H5Aget_space(attribute.id()), H5Sclose);
  if (space.id() < 0 || H5Sget_simple_extent_npoints(space.id()) != 1) {
    fail("{}: attribute '{}' must be a single value, not an array", path_, name);
  }
  return attribute;
}

int64_t File::int_attribute(const std::string& name) const {
  auto guard = lock();
  Handle attribute = open_attribute(name);
  Handle type(H5Aget_type(attribute.id()), H5Tclose);
  if (H5Tget_class(type.id()) != H5T_INTEGER) {
    fail("{}: attribute '{}' must be an integer", path_, name);
  }
  int64_t value = 0;
  check(H5Aread(attribute.id(), H5T_NATIVE_INT64, &value), path_, "attribute " + name,
        "cannot read");
  return value;
}

std::string File::string_attribute(const std::string& name) const {
  auto guard = lock();
  Handle attribute = open_attribute(name);
  Handle type(H5Aget_type(attribute.id()), H5Tclose);
  if (H5Tget_class(type.id()) != H5T_STRING) {
    fail("{}: attribute '{}' must be a string", path_, name);
  }
  if (H5Tis_variable_str(type.id()) > 0) {  // as h5py writes Python str attributes
    char* text = nullptr;
    check(H5Aread(attribute.id(), type.id(), &text), path_, "attribute " + name, "cannot read");
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type.id()), '\0');
  check(H5Aread(attribute.id(), type.id(), value.data()), path_, "attribute " + name,
        "cannot read");
  return value.substr(0, value.find('\0'));
}

void File::remove_attribute_if_present(const std::string& name) {
  if (has_attribute(name)) {
    check(H5Adelete(handle_.id(), name.c_str()), path_, "attribute " + name, "cannot replace");
  }
}

void File::set_attribute(const std::string& name, int64_t value) {
  auto guard = lock();
  remove_attribute_if_present(name);
  Handle space = checked(H5Screate(H5S_SCALAR), H5Sclose, path_, name, "space");
  Handle attribute = checked(
      H5Acreate2(handle_.id(), name.c_str(), H5T_STD_I64LE, space.id(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose, path_, "attribute " + name, "cannot create");
  check(H5Awrite(attribute.id(), H5T_NATIVE_INT64, &value), path_, "attribute " + name,
        "cannot write");
}

void File::set_attribute(const std::string& name, const std::string& value) {
  auto guard = lock();
  remove_attribute_if_present(name);
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, path_, name, "type");
  H5Tset_size(type.id(), std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.id(), H5T_STR_NULLPAD);
  Handle space = checked(H5Screate(H5S_SCALAR), H5Sclose, path_, name, "space");
  Handle attribute = checked(
      H5Acreate2(handle_.id(), name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose, path_, "attribute " + name, "cannot create");
  std::string padded = value;
  padded.resize(std::max<size_t>(1, value.size()), '\0');
  check(H5Awrite(attribute.id(), type.id(), padded.data()), path_, "attribute " + name,
        "cannot write");
}

}  // namespace pride::h5
