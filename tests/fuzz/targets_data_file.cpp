// Fuzz targets of the HDF5 training data readers (pride_fuzz_torch, docs/robustness.md): the
// dialogue format (data_h5) and the preference format (preference_h5). A small seed file (`pride
// data synth`; four preference pairs with reference log-probabilities) is read into a description
// (each dataset's type, shape and values, the root attributes); a case damages the description
// structurally (datasets missing, of another type, rank or shape, huge declared dims, token ids and
// offsets out of range or out of order, non-finite values, attributes of another type or shape) and
// writes it back with the HDF5 C API, sometimes with byte damage on top. The reader then reads
// every sample, and collate() (or collate_pairs()) pads them into a batch, as training does.
#include <fmt/format.h>
#include <hdf5.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>

#include "data/batch.h"
#include "data/format.h"
#include "data/preference.h"
#include "data/reader.h"
#include "data/synth.h"
#include "fuzz.h"

namespace pride::fuzz {
namespace {

namespace fs = std::filesystem;

enum class Type { kInt32, kInt64, kFloat32, kFloat64, kString, kGroup };

struct DatasetDesc {
  std::string name;  // absolute, "/samples/context"
  Type type = Type::kInt32;
  std::vector<hsize_t> dims;   // empty: a scalar
  std::vector<double> values;  // row-major; shorter than the shape: zeros after them
};

struct AttributeDesc {
  std::string name;
  Type type = Type::kInt64;  // kInt64 or kString
  hsize_t count = 0;         // 0: a scalar; else a 1-D array of `count` elements
  int64_t number = 0;
  std::string text;
};

struct DataFile {
  std::vector<DatasetDesc> datasets;
  std::vector<AttributeDesc> attributes;
};

// --- the seed, read into a description -----------------------------------------------------------

Type type_of(hid_t type) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return size <= 4 ? Type::kInt32 : Type::kInt64;
    case H5T_FLOAT:
      return size <= 4 ? Type::kFloat32 : Type::kFloat64;
    default:
      return Type::kString;
  }
}

// The dataset `name` of `file`, its values read as doubles (the seed is small).
DatasetDesc read_dataset(hid_t file, const std::string& name) {
  DatasetDesc desc{name, Type::kInt32, {}, {}};
  const hid_t dataset = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  const hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
  desc.type = type_of(type);
  desc.dims.resize(H5Sget_simple_extent_ndims(space));
  H5Sget_simple_extent_dims(space, desc.dims.data(), nullptr);
  desc.values.resize(H5Sget_simple_extent_npoints(space));
  H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, desc.values.data());
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(dataset);
  return desc;
}

// Every dataset of the format that the seed file holds.
std::vector<std::string> dataset_names(const std::vector<std::string>& sources) {
  std::vector<std::string> ragged = {format::kContext, format::kResponse,
                                     format::modality_dataset(format::kAudio),
                                     format::modality_dataset(format::kVisual)};
  for (const std::string& source : sources) ragged.push_back(format::privileged_dataset(source));
  std::vector<std::string> names = {format::kEmotion, format::kTopkIds, format::kTopkLogprobs,
                                    format::kTeacherHidden, format::kTeacherEmotionLogprobs};
  for (const std::string& field : ragged) {
    names.push_back(field);
    names.push_back(format::offsets_of(field));
  }
  return names;
}

herr_t collect_attribute(hid_t root, const char* name, const H5A_info_t*, void* out) {
  AttributeDesc desc{name};
  const hid_t attribute = H5Aopen(root, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(attribute);
  if (H5Tget_class(type) == H5T_STRING) {  // fixed-length, as h5::File writes them
    desc.type = Type::kString;
    desc.text.resize(H5Tget_size(type));
    H5Aread(attribute, type, desc.text.data());
    desc.text = desc.text.substr(0, desc.text.find('\0'));
  } else {
    H5Aread(attribute, H5T_NATIVE_INT64, &desc.number);
  }
  H5Tclose(type);
  H5Aclose(attribute);
  static_cast<DataFile*>(out)->attributes.push_back(std::move(desc));
  return 0;
}

std::vector<std::string> privileged_sources(const DataFile& file) {
  for (const AttributeDesc& attribute : file.attributes) {
    if (attribute.name == format::kAttrPrivilegedSources) return format::split_list(attribute.text);
  }
  return {};
}

std::string scratch_file(const std::string& what) {
  return (fs::temp_directory_path() / fmt::format("pride-fuzz-{}-{}.h5", what, ::getpid()))
      .string();
}

// The description of the HDF5 file `path` (removed afterwards): its root attributes, and the
// datasets `names` lists given them.
DataFile describe(const std::string& path,
                  const std::function<std::vector<std::string>(const DataFile&)>& names) {
  DataFile out;
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, collect_attribute, &out);
  for (const std::string& name : names(out)) out.datasets.push_back(read_dataset(file, name));
  H5Fclose(file);
  fs::remove(path);
  return out;
}

// Four samples of every field, the audio and visual modalities, the teacher's emotions and the
// cause words, K = 4, H = 8.
const DataFile& seed_description() {
  static const DataFile description = [] {
    SynthOptions options;
    options.samples = 4;
    options.topk = 4;
    options.teacher_hidden = 8;
    options.num_emotions = 3;
    options.num_causes = 2;
    options.audio_dim = 3;
    options.visual_dim = 2;
    options.min_context = 2;
    options.max_context = 5;
    options.teacher_emotions = options.cause_words = true;  // HEF's datasets are fuzzed too
    options.vocab_size = minimum_vocab_size(options);
    const std::string path = scratch_file("synth");
    synthesize(path, options);
    return describe(path,
                    [](const DataFile& file) { return dataset_names(privileged_sources(file)); });
  }();
  return description;
}

// --- the preference format's seed ----------------------------------------------------------------

int64_t seed_vocab_size();

// Four pairs with reference log-probabilities, ids below the dialogue seed's vocabulary (so the
// same edge values are interesting).
const DataFile& preference_seed_description() {
  static const DataFile description = [] {
    using preference::TokenizedPair;
    const auto id = [](int64_t i) { return static_cast<int32_t>(i % seed_vocab_size()); };
    std::vector<TokenizedPair> pairs;
    for (int64_t i = 0; i < 4; ++i) {
      pairs.push_back({{id(3 + i), id(7 * i + 5)},
                       {id(11 * i + 4), id(2)},
                       {id(9), id(i), id(2)},
                       -1.5F * static_cast<float>(i + 1),
                       -2.0F - static_cast<float>(i)});
    }
    preference::PreferenceHeader header;
    header.vocab_size = seed_vocab_size();
    header.eos_id = 2;
    header.bos_id = 1;
    header.reference = "seed";
    const std::string path = scratch_file("pairs");
    preference::write_preference_file(path, header, pairs);
    return describe(path, [](const DataFile&) {
      std::vector<std::string> names = {preference::kReferenceChosen,
                                        preference::kReferenceRejected};
      for (const char* field : {preference::kPrompt, preference::kChosen, preference::kRejected}) {
        names.push_back(field);
        names.push_back(format::offsets_of(field));
      }
      return names;
    });
  }();
  return description;
}

// --- writing a description -----------------------------------------------------------------------

hid_t file_type(Type type) {
  switch (type) {
    case Type::kInt32:
      return H5Tcopy(H5T_STD_I32LE);
    case Type::kInt64:
      return H5Tcopy(H5T_STD_I64LE);
    case Type::kFloat32:
      return H5Tcopy(H5T_IEEE_F32LE);
    case Type::kFloat64:
      return H5Tcopy(H5T_IEEE_F64LE);
    default: {
      const hid_t text = H5Tcopy(H5T_C_S1);
      H5Tset_size(text, 8);
      return text;
    }
  }
}

// Elements of `dims`, saturating at 2^40.
hsize_t element_count(const std::vector<hsize_t>& dims) {
  constexpr hsize_t kCap = hsize_t{1} << 40;
  hsize_t total = 1;
  for (const hsize_t dim : dims) total = dim == 0 ? 0 : std::min(kCap, total * std::min(kCap, dim));
  return total;
}

// Small datasets are written whole; large ones are declared chunked and left unwritten, so that a
// [2^40] dataset costs nothing.
void write_dataset(hid_t file, const DatasetDesc& desc) {
  const hid_t link = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(link, 1);
  if (desc.type == Type::kGroup) {
    H5Gclose(H5Gcreate2(file, desc.name.c_str(), link, H5P_DEFAULT, H5P_DEFAULT));
    H5Pclose(link);
    return;
  }
  const hsize_t total = element_count(desc.dims);
  const bool small = total <= (hsize_t{1} << 16);
  const std::vector<hsize_t> max_dims(desc.dims.size(), H5S_UNLIMITED);
  const int rank = static_cast<int>(desc.dims.size());
  const hid_t space =
      rank == 0 ? H5Screate(H5S_SCALAR)
                : H5Screate_simple(rank, desc.dims.data(), small ? nullptr : max_dims.data());
  const hid_t create = H5Pcreate(H5P_DATASET_CREATE);
  if (!small) {
    const std::vector<hsize_t> chunk(desc.dims.size(), 1);
    H5Pset_chunk(create, rank, chunk.data());
  }
  const hid_t type = file_type(desc.type);
  const hid_t dataset = H5Dcreate2(file, desc.name.c_str(), type, space, link, create, H5P_DEFAULT);
  if (dataset >= 0 && small && total > 0 && desc.type != Type::kString) {
    std::vector<double> values(desc.values.begin(),
                               desc.values.begin() + std::min<size_t>(total, desc.values.size()));
    values.resize(total, 0.0);
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  }
  if (dataset >= 0) H5Dclose(dataset);
  H5Tclose(type);
  H5Pclose(create);
  H5Sclose(space);
  H5Pclose(link);
}

void write_attribute(hid_t file, const AttributeDesc& desc) {
  const hsize_t count = std::max<hsize_t>(1, desc.count);
  const hid_t space =
      desc.count == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr);
  hid_t type = H5Tcopy(H5T_STD_I64LE);
  std::vector<char> bytes(count * sizeof(int64_t));
  if (desc.type == Type::kString) {
    H5Tclose(type);
    type = H5Tcopy(H5T_C_S1);
    const size_t size = std::max<size_t>(1, desc.text.size());
    H5Tset_size(type, size);
    bytes.assign(count * size, '\0');
    for (hsize_t i = 0; i < count; ++i)
      std::copy(desc.text.begin(), desc.text.end(), &bytes[i * size]);
  } else {
    for (hsize_t i = 0; i < count; ++i) std::memcpy(&bytes[i * 8], &desc.number, 8);
  }
  const hid_t attribute =
      H5Acreate2(file, desc.name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0) {
    H5Awrite(attribute, desc.type == Type::kString ? type : H5T_NATIVE_INT64, bytes.data());
    H5Aclose(attribute);
  }
  H5Tclose(type);
  H5Sclose(space);
}

std::string file_bytes(const DataFile& description) {
  const std::string path = scratch_file("case");
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  for (const DatasetDesc& dataset : description.datasets) write_dataset(file, dataset);
  for (const AttributeDesc& attribute : description.attributes) write_attribute(file, attribute);
  H5Fclose(file);
  std::string bytes = read_file(path);
  fs::remove(path);
  return bytes;
}

// --- structural mutations ------------------------------------------------------------------------

int64_t seed_vocab_size() {
  for (const AttributeDesc& attribute : seed_description().attributes) {
    if (attribute.name == "vocab_size") return attribute.number;
  }
  return 0;
}

// Values at the edges of what a token id, an offset or a float may be.
double interesting_element(Rng& rng) {
  const double vocab = static_cast<double>(seed_vocab_size());
  const double values[] = {-1,        0,    vocab, vocab - 1, 2147483647.0, -2147483648.0,
                           1e12,      0.5,  1e30,  -1e30,     std::nan(""), HUGE_VAL,
                           -HUGE_VAL, 9e18, 70000, 3};
  return values[rng.below(sizeof values / sizeof values[0])];
}

hsize_t interesting_dim(Rng& rng, hsize_t current) {
  const hsize_t dims[] = {0,
                          1,
                          2,
                          current + 1,
                          current * 2,
                          current > 0 ? current - 1 : 0,
                          hsize_t{1} << 31,
                          hsize_t{1} << 40};
  return dims[rng.below(sizeof dims / sizeof dims[0])];
}

void reshape(DatasetDesc& dataset, Rng& rng) {
  switch (rng.below(4)) {
    case 0:  // rank
      dataset.dims.resize(rng.below(4), 1 + rng.below(3));
      break;
    case 1:  // rows
      if (dataset.dims.empty()) dataset.dims = {1};
      dataset.dims[0] = interesting_dim(rng, dataset.dims[0]);
      break;
    default:  // width (or another dim)
      if (dataset.dims.empty()) dataset.dims = {1};
      hsize_t& dim = dataset.dims[rng.below(dataset.dims.size())];
      dim = interesting_dim(rng, dim);
      break;
  }
}

// Ragged offsets that decrease, start elsewhere than 0, or end past the data.
void damage_offsets(DatasetDesc& offsets, Rng& rng) {
  std::vector<double>& values = offsets.values;
  if (values.size() < 2) return;
  const size_t at = rng.below(values.size());
  switch (rng.below(4)) {
    case 0:
      std::swap(values[at], values[(at + 1) % values.size()]);
      break;
    case 1:
      values.front() = rng.chance(0.5) ? -1 : 1;
      break;
    case 2:
      values.back() += rng.chance(0.5) ? 1 : 1e12;
      break;
    default:
      values[at] = interesting_element(rng);
      break;
  }
}

void mutate_dataset(DataFile& file, Rng& rng) {
  if (file.datasets.empty()) return;
  const size_t at = rng.below(file.datasets.size());
  DatasetDesc& dataset = file.datasets[at];
  const bool is_offsets =
      dataset.name.size() > 8 && dataset.name.compare(dataset.name.size() - 8, 8, "_offsets") == 0;
  switch (rng.below(8)) {
    case 0:
      file.datasets.erase(file.datasets.begin() + static_cast<std::ptrdiff_t>(at));
      break;
    case 1: {
      const Type types[] = {Type::kInt32,   Type::kInt64,  Type::kFloat32,
                            Type::kFloat64, Type::kString, Type::kGroup};
      dataset.type = types[rng.below(6)];
      break;
    }
    case 2:
    case 3:
      reshape(dataset, rng);
      break;
    case 4:  // renamed (another source or modality, or out of its group)
      dataset.name = rng.pick(std::vector<std::string>{"/samples/privileged/other",
                                                       "/samples/smell", "/teacher/extra", "/x"});
      break;
    default:
      if (is_offsets && rng.chance(0.6)) {
        damage_offsets(dataset, rng);
      } else if (!dataset.values.empty()) {
        dataset.values[rng.below(dataset.values.size())] = interesting_element(rng);
      }
      break;
  }
}

const std::vector<std::string>& attribute_texts() {
  static const std::vector<std::string> texts = {"",
                                                 "pride-dialogue",
                                                 "pride-other",
                                                 "audio",
                                                 "visual",
                                                 "audio,visual,smell",
                                                 "audio,audio",
                                                 "reasoning",
                                                 "reasoning,reasoning",
                                                 "nope",
                                                 ",",
                                                 "a,b,c",
                                                 "../x",
                                                 std::string(5000, 'a')};
  return texts;
}

void mutate_attribute(DataFile& file, Rng& rng) {
  if (file.attributes.empty()) return;
  const size_t at = rng.below(file.attributes.size());
  AttributeDesc& attribute = file.attributes[at];
  switch (rng.below(5)) {
    case 0:
      file.attributes.erase(file.attributes.begin() + static_cast<std::ptrdiff_t>(at));
      break;
    case 1:  // another type
      attribute.type = attribute.type == Type::kString ? Type::kInt64 : Type::kString;
      break;
    case 2:  // an array instead of a scalar
      attribute.count = 1 + rng.below(5);
      break;
    default:
      if (attribute.type == Type::kString) {
        attribute.text = rng.pick(attribute_texts());
      } else {
        attribute.number = static_cast<int64_t>(
            rng.pick(std::vector<double>{-1, 0, 1, 2, 3, double(seed_vocab_size()),
                                         double(seed_vocab_size() - 1), 4294967296.0, 1e15}));
      }
      break;
  }
}

// --- what an accepted sample must satisfy --------------------------------------------------------

bool all_finite(const torch::Tensor& values) {
  return torch::isfinite(values).all().item<bool>();
}

void check_ids(const std::vector<int32_t>& ids, int64_t vocab_size, const std::string& what) {
  for (const int32_t id : ids)
    check(id >= 0 && id < vocab_size, what + ": an id outside the vocabulary");
}

void check_features(const torch::Tensor& features, int64_t dim, const char* what) {
  if (dim == 0) {
    check(!features.defined(), std::string(what) + " read for a file without it");
    return;
  }
  check(features.defined() && features.dim() == 2 && features.size(1) == dim,
        std::string(what) + ": not [frames, dim]");
  check(all_finite(features), std::string(what) + ": non-finite values");
}

// Ids in the vocabulary, the teacher's rows one per response token, widths as the file says,
// finite values: what training takes for granted.
void check_sample(const Sample& sample, const DatasetInfo& info) {
  check_ids(sample.context, info.vocab_size, "context");
  check_ids(sample.response, info.vocab_size, "response");
  for (const std::string& source : info.privileged_sources) {
    check(sample.privileged.count(source) == 1, "privileged source " + source + " not read");
    check_ids(sample.privileged.at(source), info.vocab_size, "privileged " + source);
  }
  check(sample.emotion >= 0 && sample.emotion < info.num_emotions, "emotion outside its range");
  const int64_t rows = static_cast<int64_t>(sample.response.size());
  check(sample.topk_ids.sizes() == torch::IntArrayRef({rows, info.topk}) &&
            sample.topk_logprobs.sizes() == torch::IntArrayRef({rows, info.topk}),
        "teacher top-K not [response tokens, K]");
  check(rows == 0 || ((sample.topk_ids >= 0).all().item<bool>() &&
                      (sample.topk_ids < info.vocab_size).all().item<bool>()),
        "a top-K id outside the vocabulary");
  check(sample.teacher_hidden.numel() == info.teacher_hidden && all_finite(sample.teacher_hidden),
        "teacher hidden state not H finite values");
  check_features(sample.audio, info.audio_dim, "audio");
  check_features(sample.visual, info.visual_dim, "visual");
}

constexpr double kByteDamageChance = 0.1;

// Structural damage to `seed` (1-3 dataset or attribute mutations), sometimes byte damage on top.
void mutate_data_file(const DataFile& seed, std::string& bytes, Rng& rng) {
  DataFile description = seed;
  const size_t mutations = 1 + rng.below(3);
  for (size_t i = 0; i < mutations; ++i) {
    if (rng.chance(0.7)) {
      mutate_dataset(description, rng);
    } else {
      mutate_attribute(description, rng);
    }
  }
  bytes = file_bytes(description);
  if (rng.chance(kByteDamageChance)) mutate_bytes(bytes, rng);
}

Target data_h5_target() {
  Target target;
  target.name = "data_h5";
  target.main_file = "train.h5";
  target.seed = [](Rng&) { return Files{{"train.h5", file_bytes(seed_description())}}; };
  target.mutate = [](Files& files, Rng& rng) {
    mutate_data_file(seed_description(), files["train.h5"], rng);
  };
  target.run = [](const std::string& dir) {
    const DialogueReader reader(dir + "/train.h5");
    const DatasetInfo& info = reader.info();
    std::vector<Sample> samples;
    for (int64_t i = 0; i < std::min<int64_t>(reader.size(), 64); ++i) {
      samples.push_back(reader.read(i, /*with_privileged=*/true));
      check_sample(samples.back(), info);
      check(reader.sequence_length(i) == static_cast<int64_t>(samples.back().context.size() +
                                                              samples.back().response.size()),
            "sequence_length disagrees with the sample");
    }
    if (!samples.empty()) collate(samples, info, 64);
  };
  return target;
}

// A pair as training takes it: ids in the vocabulary, two non-empty responses, reference
// log-probabilities finite and <= 0 when the file has them, no teacher rows.
void check_pair(const Sample& pair, const DatasetInfo& info) {
  check_ids(pair.context, info.vocab_size, "prompt");
  check_ids(pair.response, info.vocab_size, "chosen");
  check_ids(pair.rejected, info.vocab_size, "rejected");
  check(!pair.response.empty() && !pair.rejected.empty(), "an empty response");
  check(pair.reference_logps.defined() == info.reference_logps, "reference presence");
  if (info.reference_logps) {
    check(pair.reference_logps.numel() == 2 && all_finite(pair.reference_logps) &&
              (pair.reference_logps <= 0).all().item<bool>(),
          "reference log-probabilities not two finite values <= 0");
  }
}

Target preference_h5_target() {
  Target target;
  target.name = "preference_h5";
  target.main_file = "pairs.h5";
  target.seed = [](Rng&) { return Files{{"pairs.h5", file_bytes(preference_seed_description())}}; };
  target.mutate = [](Files& files, Rng& rng) {
    mutate_data_file(preference_seed_description(), files["pairs.h5"], rng);
  };
  target.run = [](const std::string& dir) {
    // Through the dispatch training uses: a damaged format attribute may make it a dialogue file.
    const auto file = open_sample_file(dir + "/pairs.h5");
    const DatasetInfo& info = file->info();
    if (!info.preference) return;
    std::vector<Sample> pairs;
    for (int64_t i = 0; i < std::min<int64_t>(file->size(), 64); ++i) {
      pairs.push_back(file->read(i, /*with_privileged=*/false));
      check_pair(pairs.back(), info);
      const auto longest = std::max(pairs.back().response.size(), pairs.back().rejected.size());
      check(file->sequence_length(i) == static_cast<int64_t>(pairs.back().context.size() + longest),
            "sequence_length disagrees with the pair");
    }
    if (!pairs.empty()) collate_pairs(pairs, info, 64);
  };
  return target;
}

}  // namespace

std::vector<Target> data_file_targets() {
  return {data_h5_target(), preference_h5_target()};
}

}  // namespace pride::fuzz
