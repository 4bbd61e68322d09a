// The dialogue data format: synthesis, reading, collation, and every corruption inspect_file and
// the reader must reject with a message naming the dataset and sample.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <set>
#include <thread>

#include "data/batch.h"
#include "data/format.h"
#include "data/h5.h"
#include "data/inspect.h"
#include "data/reader.h"
#include "data/synth.h"
#include "support.h"
#include "util/error.h"

namespace pride::test {

// Shared with test_shard.cpp (same test binary).
SynthOptions small_options() {
  SynthOptions options;
  options.samples = 40;
  options.teacher_hidden = 16;
  options.audio_dim = 4;
  options.visual_dim = 3;
  return options;
}

std::string synth_file(const std::string& name, const SynthOptions& options) {
  const std::string path = temp_path(name);
  synthesize(path, options);
  return path;
}

void expect_same_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  ASSERT_EQ(a.defined(), b.defined());
  if (a.defined()) {
    EXPECT_TRUE(torch::equal(a, b));
  }
}

void expect_same_sample(const Sample& a, const Sample& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.response, b.response);
  EXPECT_EQ(a.emotion, b.emotion);
  EXPECT_EQ(a.privileged, b.privileged);
  expect_same_tensor(a.topk_ids, b.topk_ids);
  expect_same_tensor(a.topk_logprobs, b.topk_logprobs);
  expect_same_tensor(a.teacher_hidden, b.teacher_hidden);
  expect_same_tensor(a.audio, b.audio);
  expect_same_tensor(a.visual, b.visual);
}

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(stream), {});
}

// --- synthesis and reading ---------------------------------------------------------------------

TEST(Data, SynthesizedFileReadsBackConsistently) {
  const SynthOptions options = small_options();
  const std::string path = synth_file("a.h5", options);
  const DialogueReader reader(path);
  const DatasetInfo& info = reader.info();
  EXPECT_EQ(info.num_samples, 40);
  EXPECT_EQ(info.vocab_size, 512);
  EXPECT_EQ(info.topk, 8);
  EXPECT_EQ(info.teacher_hidden, 16);
  EXPECT_EQ(info.audio_dim, 4);
  EXPECT_EQ(info.visual_dim, 3);
  EXPECT_EQ(info.privileged_sources,
            (std::vector<std::string>{"reasoning", "annotation", "future_summary"}));
  int64_t gold_in_topk = 0, response_tokens = 0;
  for (int64_t i = 0; i < reader.size(); ++i) {
    const Sample s = reader.read(i, true);
    EXPECT_EQ(s.index, i);
    EXPECT_GE(s.context.size(), 8u);
    EXPECT_LE(s.context.size(), 24u);
    ASSERT_GE(s.response.size(), 7u);  // 6..16 content tokens, then eos
    EXPECT_LE(s.response.size(), 17u);
    EXPECT_EQ(s.response.back(), info.eos_id);
    EXPECT_EQ(reader.sequence_length(i), int64_t(s.context.size() + s.response.size()));
    EXPECT_LT(s.emotion, info.num_emotions);
    // Privileged information states the emotion (emotion words start at id 3).
    EXPECT_EQ(s.privileged.at("reasoning").size(), 6u);
    EXPECT_EQ(s.privileged.at("reasoning")[0], 3 + s.emotion);
    EXPECT_EQ(s.privileged.at("future_summary"),
              std::vector<int32_t>(s.response.begin(), s.response.begin() + 4));
    const int64_t length = static_cast<int64_t>(s.response.size());
    ASSERT_EQ(s.topk_ids.sizes(), (std::vector<int64_t>{length, 8}));
    ASSERT_EQ(s.topk_logprobs.sizes(), s.topk_ids.sizes());
    EXPECT_TRUE((s.topk_logprobs <= 0).all().item<bool>());
    EXPECT_TRUE(
        (s.topk_logprobs.slice(1, 0, 7) >= s.topk_logprobs.slice(1, 1, 8)).all().item<bool>());
    for (int64_t j = 0; j < length; ++j) {
      gold_in_topk += (s.topk_ids[j] == s.response[j]).any().item<bool>();
    }
    response_tokens += length;
    EXPECT_EQ(s.teacher_hidden.sizes(), (std::vector<int64_t>{16}));
    EXPECT_EQ(s.audio.size(1), 4);
    EXPECT_GE(s.audio.size(0), 4);
    EXPECT_LE(s.audio.size(0), 12);
    EXPECT_EQ(s.visual.size(1), 3);
  }
  // The teacher models the generator: the gold token is usually among its top-K.
  EXPECT_GT(double(gold_in_topk) / response_tokens, 0.7);
  EXPECT_NO_THROW(inspect_file(path));
}

// GPU configs ask for long contexts (seq 1024): the range is honoured, and a bad one is refused.
TEST(Data, SynthContextLengthsFollowTheOptions) {
  SynthOptions options = small_options();
  options.min_context = 100;
  options.max_context = 104;
  const DialogueReader reader(synth_file("long.h5", options));
  for (int64_t i = 0; i < reader.size(); ++i) {
    const Sample s = reader.read(i, false);
    EXPECT_GE(s.context.size(), 100u);
    EXPECT_LE(s.context.size(), 104u);
  }
  options.max_context = 99;
  EXPECT_TRUE(contains(error_of([&] { synthesize(temp_path("x.h5"), options); }), "min_context"));
}

// The cause must stay latent in the response (docs/data-format.md): every cause draws from one band
// of 48 ids, so only the order of the tokens tells the causes apart, and the PI that states the
// cause helps at every position.
TEST(Data, ResponsesOfEveryCauseShareOneBand) {
  const SynthOptions options = small_options();
  const DialogueReader reader(synth_file("a.h5", options));
  const int32_t cause_words = 3 + options.num_emotions;
  const int32_t band = 3 + 2 * (options.num_emotions + options.num_causes) +
                       4 * (options.num_emotions + options.num_causes);
  std::set<int32_t> causes;
  for (int64_t i = 0; i < reader.size(); ++i) {
    const Sample s = reader.read(i, true);
    causes.insert(s.privileged.at("reasoning")[3] - cause_words);
    for (size_t j = 0; j + 1 < s.response.size(); ++j) {
      EXPECT_GE(s.response[j], band) << "sample " << i;
      EXPECT_LT(s.response[j], band + 48) << "sample " << i;
    }
  }
  EXPECT_GE(causes.size(), 4u);
  EXPECT_EQ(minimum_vocab_size(options), band + 48 + 16);
}

TEST(Data, SameSeedGivesIdenticalBytesAndOtherSeedsDiffer) {
  SynthOptions options = small_options();
  const std::string first = synth_file("a.h5", options);
  const std::string second = synth_file("b.h5", options);
  options.seed = 2;
  const std::string other = synth_file("c.h5", options);
  EXPECT_EQ(file_bytes(first), file_bytes(second));
  EXPECT_NE(file_bytes(first), file_bytes(other));
  EXPECT_NE(DialogueReader(first).read(0, false).context,
            DialogueReader(other).read(0, false).context);
  EXPECT_FALSE(std::filesystem::exists(first + ".tmp"));
}

TEST(Data, ReadingWithoutPrivilegedNeverTouchesPI) {
  const std::string path = synth_file("a.h5", small_options());
  const DialogueReader reader(path);
  const int64_t before = DialogueReader::privileged_reads();
  for (int64_t i = 0; i < reader.size(); ++i) EXPECT_TRUE(reader.read(i, false).privileged.empty());
  EXPECT_EQ(DialogueReader::privileged_reads(), before);
  reader.read(0, true);
  EXPECT_EQ(DialogueReader::privileged_reads(), before + 3);
}

TEST(Data, HalfPrecisionFileMatchesFloatFile) {
  SynthOptions options = small_options();
  const std::string full = synth_file("f32.h5", options);
  options.half_precision = true;
  const std::string half = synth_file("f16.h5", options);
  {
    const h5::File file = h5::File::open(half, h5::Mode::kRead);
    for (const char* name : {"/teacher/topk_logprobs", "/teacher/hidden", "/samples/audio"}) {
      EXPECT_EQ(file.dataset(name).element_type(), h5::ElementType::kFloat16) << name;
    }
  }
  EXPECT_TRUE(inspect_file(half).half_precision);
  const DialogueReader a(full), b(half);
  for (int64_t i : {0, 17, 39}) {
    const Sample x = a.read(i, true), y = b.read(i, true);
    EXPECT_EQ(x.response, y.response);
    EXPECT_TRUE(torch::equal(x.topk_ids, y.topk_ids));
    EXPECT_EQ(y.topk_logprobs.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::allclose(x.topk_logprobs, y.topk_logprobs, 1e-2, 1e-3));
    EXPECT_TRUE(torch::allclose(x.teacher_hidden, y.teacher_hidden, 1e-2, 1e-3));
    EXPECT_TRUE(torch::allclose(x.audio, y.audio, 1e-2, 1e-3));
  }
}

TEST(Data, SynthRejectsTooSmallVocabulary) {
  SynthOptions options = small_options();
  options.vocab_size = 100;
  EXPECT_TRUE(contains(error_of([&] { synthesize(temp_path("x.h5"), options); }), "vocab_size"));
}

// Two objects used from two threads at once: HDF5 calls are serialized, results unchanged.
TEST(Data, ConcurrentReadersAgreeWithSerialReads) {
  const std::string path = synth_file("a.h5", small_options());
  const DialogueDataset main_data = DialogueDataset::open({path});
  const DialogueDataset background_data = DialogueDataset::open({path});
  std::vector<Sample> background(40), foreground(40);
  std::thread worker([&] {
    for (int64_t r = 0; r < 3; ++r) {
      for (int64_t i = 0; i < 40; ++i) background[i] = background_data.read(i, true);
    }
  });
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t i = 0; i < 40; ++i) foreground[39 - i] = main_data.read(39 - i, true);
  }
  worker.join();
  for (int64_t i = 0; i < 40; ++i) expect_same_sample(background[i], foreground[i]);
}

TEST(Data, DatasetOverSeveralFilesConcatenatesIndices) {
  SynthOptions options = small_options();
  const std::string a = synth_file("a.h5", options);
  options.seed = 7;
  options.samples = 10;
  const std::string b = synth_file("b.h5", options);
  const DialogueDataset data = DialogueDataset::open({a, b});
  EXPECT_EQ(data.size(), 50);
  EXPECT_EQ(data.info().num_samples, 50);
  Sample expected = DialogueReader(b).read(3, true);
  expected.index = 43;
  expect_same_sample(data.read(43, true), expected);
  EXPECT_EQ(data.sequence_length(43), int64_t(expected.context.size() + expected.response.size()));
  EXPECT_TRUE(contains(error_of([&] { data.read(50, false); }), "50"));

  options.topk = 4;
  const std::string c = synth_file("c.h5", options);
  const std::string message = error_of([&] { DialogueDataset::open({a, c}); });
  EXPECT_TRUE(contains(message, c)) << message;
  EXPECT_TRUE(contains(message, "top-K")) << message;
}

// --- a file written directly with the HDF5 C API, as another tool would ------------------------

void write_dataset(hid_t file, const char* name, hid_t memory_type, std::vector<hsize_t> dims,
                   const void* data) {
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t dataset =
      H5Dcreate2(file, name, memory_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(dataset, 0) << name;
  H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(dataset);
  H5Sclose(space);
}

void write_int_attribute(hid_t file, const char* name, int64_t value) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(file, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_INT64, &value);
  H5Aclose(attribute);
  H5Sclose(space);
}

// A variable-length string, as h5py writes Python str attributes.
void write_string_attribute(hid_t file, const char* name, const char* value) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, type, &value);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

TEST(Data, ReadsAFileWrittenWithTheHdf5CApi) {
  const std::string path = temp_path("raw.h5");
  {
    auto guard = h5::lock();
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    for (const char* group : {"/samples", "/samples/privileged", "/teacher"}) {
      H5Gclose(H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    }
    write_string_attribute(file, "format", "pride-dialogue");
    write_int_attribute(file, "version", 1);
    write_int_attribute(file, "vocab_size", 50);
    write_int_attribute(file, "num_emotions", 3);
    write_int_attribute(file, "pad_id", 0);
    write_int_attribute(file, "bos_id", 1);
    write_int_attribute(file, "eos_id", 2);
    write_string_attribute(file, "modalities", "");
    write_string_attribute(file, "privileged_sources", "notes");
    // Two samples, tokens stored as int64 and contiguous (no chunking) on purpose.
    const int64_t context[] = {10, 11, 12, 13, 14};
    const int64_t context_offsets[] = {0, 3, 5};
    const int64_t response[] = {20, 2, 21, 22, 2};
    const int64_t response_offsets[] = {0, 2, 5};
    const int32_t emotion[] = {2, 0};
    const int64_t notes[] = {30, 31, 32};
    const int64_t notes_offsets[] = {0, 1, 3};
    const int32_t topk_ids[5][2] = {{20, 21}, {2, 3}, {21, 20}, {22, 23}, {2, 4}};
    const float topk_logprobs[5][2] = {
        {-0.2f, -2}, {-0.2f, -3}, {-0.3f, -4}, {-0.4f, -5}, {0, -30}};
    const double hidden[2][3] = {{1, 2, 3}, {4, 5, 6}};  // float64 on disk, read as float32
    write_dataset(file, "/samples/context", H5T_NATIVE_INT64, {5}, context);
    write_dataset(file, "/samples/context_offsets", H5T_NATIVE_INT64, {3}, context_offsets);
    write_dataset(file, "/samples/response", H5T_NATIVE_INT64, {5}, response);
    write_dataset(file, "/samples/response_offsets", H5T_NATIVE_INT64, {3}, response_offsets);
    write_dataset(file, "/samples/emotion", H5T_NATIVE_INT32, {2}, emotion);
    write_dataset(file, "/samples/privileged/notes", H5T_NATIVE_INT64, {3}, notes);
    write_dataset(file, "/samples/privileged/notes_offsets", H5T_NATIVE_INT64, {3}, notes_offsets);
    write_dataset(file, "/teacher/topk_ids", H5T_NATIVE_INT32, {5, 2}, topk_ids);
    write_dataset(file, "/teacher/topk_logprobs", H5T_NATIVE_FLOAT, {5, 2}, topk_logprobs);
    write_dataset(file, "/teacher/hidden", H5T_NATIVE_DOUBLE, {2, 3}, hidden);
    H5Fclose(file);
  }
  const InspectReport report = inspect_file(path);
  EXPECT_EQ(report.response_tokens, 5);
  EXPECT_EQ(report.context_tokens, 5);
  EXPECT_TRUE(contains(report.summary(), "samples: 2"));
  const DialogueReader reader(path);
  EXPECT_EQ(reader.info().topk, 2);
  EXPECT_EQ(reader.info().audio_dim, 0);
  const Sample second = reader.read(1, true);
  EXPECT_EQ(second.context, (std::vector<int32_t>{13, 14}));
  EXPECT_EQ(second.response, (std::vector<int32_t>{21, 22, 2}));
  EXPECT_EQ(second.emotion, 0);
  EXPECT_EQ(second.privileged.at("notes"), (std::vector<int32_t>{31, 32}));
  EXPECT_TRUE(torch::equal(second.topk_ids,
                           torch::tensor({21, 20, 22, 23, 2, 4}, torch::kInt64).view({3, 2})));
  EXPECT_FLOAT_EQ(second.topk_logprobs[1][1].item<float>(), -5.0f);
  EXPECT_TRUE(torch::equal(second.teacher_hidden, torch::tensor({4.0f, 5.0f, 6.0f})));
  EXPECT_FALSE(second.audio.defined());
}

// --- collation ----------------------------------------------------------------------------------

Sample hand_made_sample(int64_t index, std::vector<int32_t> context, std::vector<int32_t> response,
                        float row_base) {
  Sample s;
  s.index = index;
  s.context = std::move(context);
  s.response = std::move(response);
  s.emotion = static_cast<int32_t>(index);
  const auto rows = static_cast<int64_t>(s.response.size());
  s.topk_ids = torch::arange(rows * 2, torch::kInt64).view({rows, 2}) + 100 * (index + 1);
  s.topk_logprobs = -torch::arange(rows * 2, torch::kFloat32).view({rows, 2}) - row_base;
  s.teacher_hidden = torch::full({3}, float(index));
  s.privileged["reasoning"] = std::vector<int32_t>(static_cast<size_t>(index + 1), 40);
  return s;
}

DatasetInfo hand_made_info() {
  DatasetInfo info;
  info.vocab_size = 512;
  info.topk = 2;
  info.teacher_hidden = 3;
  info.privileged_sources = {"reasoning"};
  return info;
}

TEST(Collate, AlignsTargetsMasksAndTeacherRows) {
  const std::vector<Sample> samples = {hand_made_sample(0, {10, 11, 12}, {20, 21, 2}, 0),
                                       hand_made_sample(1, {13}, {22, 2}, 50)};
  const Batch batch = collate(samples, hand_made_info(), 64);
  auto as_long = [](const torch::Tensor& t) {
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  };
  auto as_bool = [&](const torch::Tensor& t) { return as_long(t.to(torch::kInt64)); };
  EXPECT_EQ(as_long(batch.tokens[0]), (std::vector<int64_t>{10, 11, 12, 20, 21, 2}));
  EXPECT_EQ(as_long(batch.tokens[1]), (std::vector<int64_t>{13, 22, 2, 0, 0, 0}));
  EXPECT_EQ(as_long(batch.targets[0]), (std::vector<int64_t>{11, 12, 20, 21, 2, 0}));
  EXPECT_EQ(as_long(batch.targets[1]), (std::vector<int64_t>{22, 2, 0, 0, 0, 0}));
  EXPECT_EQ(as_bool(batch.response_mask[0]), (std::vector<int64_t>{0, 0, 1, 1, 1, 0}));
  EXPECT_EQ(as_bool(batch.response_mask[1]), (std::vector<int64_t>{1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(as_bool(batch.context_mask[0]), (std::vector<int64_t>{1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(as_bool(batch.context_mask[1]), (std::vector<int64_t>{1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(batch.response_tokens, 5);
  // The response positions as flat rows b * T + t, row by row.
  EXPECT_EQ(as_long(batch.response_rows), (std::vector<int64_t>{2, 3, 4, 6, 7}));
  // Response token j's teacher row sits at position context_len - 1 + j.
  EXPECT_TRUE(torch::equal(batch.topk_ids[0].slice(0, 2, 5), samples[0].topk_ids));
  EXPECT_TRUE(torch::equal(batch.topk_logprobs[1].slice(0, 0, 2), samples[1].topk_logprobs));
  EXPECT_EQ(batch.topk_ids[0][1].sum().item<int64_t>(), 0);
  EXPECT_EQ(batch.topk_logprobs[1][2].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(as_long(batch.emotion), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(batch.indices, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(batch.teacher_hidden.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(as_long(batch.privileged.at("reasoning")[0]), (std::vector<int64_t>{40, 0}));
  EXPECT_EQ(as_bool(batch.privileged_mask.at("reasoning")[1]), (std::vector<int64_t>{1, 1}));
  EXPECT_FALSE(batch.audio.defined());
  const Batch moved = batch.to(torch::kCPU);
  EXPECT_TRUE(torch::equal(moved.tokens, batch.tokens));
  EXPECT_TRUE(torch::equal(moved.response_rows, batch.response_rows));
  EXPECT_EQ(moved.privileged.size(), 1u);
}

TEST(Collate, TruncatesLongRowsKeepingTheResponse) {
  const std::vector<Sample> samples = {hand_made_sample(0, {10, 11, 12}, {20, 21, 2}, 0),
                                       hand_made_sample(1, {13, 14}, {22, 23, 24, 25, 2}, 0)};
  const Batch batch = collate(samples, hand_made_info(), 4);
  EXPECT_EQ(batch.tokens.size(1), 4);
  // Row 0 keeps the last context token and the whole response.
  EXPECT_TRUE(torch::equal(batch.tokens[0], torch::tensor({12, 20, 21, 2}, torch::kInt64)));
  // Row 1's response alone is too long: one context token, then the first three response tokens.
  EXPECT_TRUE(torch::equal(batch.tokens[1], torch::tensor({14, 22, 23, 24}, torch::kInt64)));
  EXPECT_EQ(batch.response_mask.sum().item<int64_t>(), 6);
  EXPECT_TRUE(torch::equal(batch.topk_ids[1].slice(0, 0, 3), samples[1].topk_ids.slice(0, 0, 3)));
}

TEST(Collate, EvaluationBatchHasNoPrivilegedAndMixingIsAnError) {
  const std::string path = synth_file("a.h5", small_options());
  const DialogueReader reader(path);
  const Batch batch = collate({reader.read(0, false), reader.read(1, false)}, reader.info(), 64);
  EXPECT_TRUE(batch.privileged.empty());
  EXPECT_EQ(batch.audio.size(2), 4);
  EXPECT_EQ(batch.audio_mask.sum().item<int64_t>(),
            reader.read(0, false).audio.size(0) + reader.read(1, false).audio.size(0));
  EXPECT_TRUE(contains(error_of([&] {
                         collate({reader.read(0, true), reader.read(1, false)}, reader.info(), 64);
                       }),
                       "privileged"));
}

// --- corruption: inspect_file and the reader reject, naming dataset and sample ------------------

class Corruption : public ::testing::Test {
 protected:
  void SetUp() override { path_ = synth_file("data.h5", small_options()); }

  // Runs `edit` on the file opened read-write.
  void corrupt(const std::function<void(h5::File&)>& edit) {
    h5::File file = h5::File::open(path_, h5::Mode::kReadWrite);
    edit(file);
  }

  // Overwrites element `column` of row `row` of an integer or float dataset.
  template <typename T>
  void set_value(const std::string& name, int64_t row, int64_t column, T value) {
    corrupt([&](h5::File& file) {
      h5::Dataset dataset = file.dataset(name);
      std::vector<T> values = dataset.read_rows<T>(row, 1);
      values.at(column) = value;
      dataset.write_rows(row, values);
    });
  }

  int64_t offset(const std::string& name, int64_t sample) const {
    return h5::File::open(path_, h5::Mode::kRead).dataset(name).read_rows<int64_t>(sample, 1)[0];
  }

  // inspect_file fails with a message holding every one of `parts`.
  void expect_rejected(const std::vector<std::string>& parts) {
    const std::string message = error_of([&] { inspect_file(path_); });
    for (const std::string& part : parts) EXPECT_TRUE(contains(message, part)) << message;
  }

  std::string path_;
};

TEST_F(Corruption, NonMonotoneOffsets) {
  set_value<int64_t>("/samples/context_offsets", 5, 0, offset("/samples/context_offsets", 4) - 1);
  expect_rejected({path_, "/samples/context_offsets", "decreases at sample 4"});
}

TEST_F(Corruption, OffsetsPastTheEnd) {
  set_value<int64_t>("/samples/response_offsets", 3, 0, 1000000);
  expect_rejected({"/samples/response_offsets", "past the end", "sample 2"});
  // The reader names the file and sample instead of crashing.
  const std::string message = error_of([&] { DialogueReader(path_).read(2, false); });
  EXPECT_TRUE(contains(message, path_) && contains(message, "sample 2")) << message;
}

TEST_F(Corruption, ContextIdOutsideVocabulary) {
  set_value<int32_t>("/samples/context", offset("/samples/context_offsets", 17), 0, 70000);
  expect_rejected({"/samples/context", "token id 70000 of sample 17 is outside [0, 512)"});
  const std::string message = error_of([&] { DialogueReader(path_).read(17, false); });
  EXPECT_TRUE(contains(message, "sample 17")) << message;
}

TEST_F(Corruption, ResponseIdOutsideVocabulary) {
  set_value<int32_t>("/samples/response", offset("/samples/response_offsets", 8) + 1, 0, 512);
  expect_rejected({"/samples/response", "token id 512 of sample 8"});
}

TEST_F(Corruption, PrivilegedIdOutsideVocabulary) {
  set_value<int32_t>("/samples/privileged/annotation",
                     offset("/samples/privileged/annotation_offsets", 30), 0, -1);
  expect_rejected({"/samples/privileged/annotation", "token id -1 of sample 30"});
}

TEST_F(Corruption, TopkIdOutsideVocabulary) {
  set_value<int32_t>("/teacher/topk_ids", offset("/samples/response_offsets", 12) + 2, 3, 9999);
  expect_rejected({"/teacher/topk_ids", "token id 9999 of sample 12"});
}

TEST_F(Corruption, TopkProbabilitiesSummingAboveOne) {
  // A row whose top-K holds more than all the probability (0.99 twice), still sorted descending.
  const int64_t row = offset("/samples/response_offsets", 21) + 1;
  set_value<float>("/teacher/topk_logprobs", row, 0, std::log(0.99f));
  set_value<float>("/teacher/topk_logprobs", row, 1, std::log(0.99f));
  expect_rejected({"/teacher/topk_logprobs", "sample 21", "top-K probabilities summing to"});
  const std::string message = error_of([&] { DialogueReader(path_).read(21, false); });
  EXPECT_TRUE(contains(message, path_) && contains(message, "sample 21") &&
              contains(message, "above 1"))
      << message;
}

TEST(Data, SynthesizedTopkRowsHoldAtMostAllTheMass) {
  SynthOptions options = small_options();
  options.samples = 400;  // the noise lifted ~0.8% of rows above 1 before renormalisation
  const DialogueReader reader(synth_file("mass.h5", options));
  double largest = 0;
  for (int64_t i = 0; i < reader.size(); ++i) {
    const auto mass = reader.read(i, false).topk_logprobs.exp().sum(1);
    largest = std::max(largest, mass.max().item<double>());
  }
  EXPECT_LE(largest, 1.0 + 1e-5);
  EXPECT_GT(largest, 0.9);  // the top-K does hold most of the mass
}

TEST(Data, PluginSignalsLeaveEveryOtherValueAsItWas) {
  SynthOptions options = small_options();
  options.samples = 200;
  const DialogueReader plain(synth_file("plain.h5", options));
  options.teacher_emotions = options.cause_words = true;
  const DialogueReader hef(synth_file("hef.h5", options));
  EXPECT_FALSE(plain.info().teacher_emotion);
  EXPECT_TRUE(hef.info().teacher_emotion);
  EXPECT_EQ(hef.info().privileged_sources.back(), "emotion_cause");
  int64_t right = 0;
  for (int64_t i = 0; i < hef.size(); ++i) {
    Sample with = hef.read(i, true);
    const Sample without = plain.read(i, true);
    EXPECT_FALSE(with.privileged.at("emotion_cause").empty());
    with.privileged.erase("emotion_cause");
    expect_same_sample(with, without);
    const torch::Tensor& emotions = with.teacher_emotion_logprobs;
    EXPECT_NEAR(emotions.exp().sum().item<double>(), 1.0, 1e-5);
    right += emotions.argmax().item<int64_t>() == with.emotion;
  }
  EXPECT_NEAR(static_cast<double>(right) / hef.size(), 0.8, 0.1);  // kTeacherEmotionAccuracy
}

TEST_F(Corruption, TeacherEmotionsThatAreNotADistribution) {
  SynthOptions options = small_options();
  options.teacher_emotions = true;
  path_ = synth_file("emotions.h5", options);
  set_value<float>("/teacher/emotion_logprobs", 13, 2, -0.01f);  // now the row sums above 1
  expect_rejected({"/teacher/emotion_logprobs", "sample 13", "summing to"});
  const std::string message = error_of([&] { DialogueReader(path_).read(13, false); });
  EXPECT_TRUE(contains(message, path_) && contains(message, "sample 13")) << message;
  set_value<float>("/teacher/emotion_logprobs", 13, 2, NAN);
  expect_rejected({"/teacher/emotion_logprobs", "sample 13", "NaN"});
}

TEST_F(Corruption, EmotionOutOfRange) {
  set_value<int32_t>("/samples/emotion", 9, 0, 6);
  expect_rejected({"/samples/emotion", "emotion 6 of sample 9"});
}

TEST_F(Corruption, TopkRowsDifferFromResponseTokens) {
  corrupt([](h5::File& file) {
    h5::Dataset ids = file.dataset("/teacher/topk_ids");
    ids.resize(ids.rows() - 1);
  });
  expect_rejected({"/teacher/topk_ids", "rows"});
}

TEST_F(Corruption, TopkWidthDiffersBetweenIdsAndLogprobs) {
  corrupt([](h5::File& file) {
    const int64_t rows = file.dataset("/teacher/topk_logprobs").rows();
    {
      auto guard = h5::lock();
      H5Ldelete(file.id(), "/teacher/topk_logprobs", H5P_DEFAULT);
    }
    h5::Dataset narrower = file.create_rows("/teacher/topk_logprobs", h5::ElementType::kFloat32, 7);
    narrower.append(std::vector<float>(static_cast<size_t>(rows * 7), -1.0f));
  });
  expect_rejected({"/teacher/topk_logprobs", "width 7, expected 8"});
  // The reader read each row's K log-probs past the end of the narrower rows (issue 19).
  EXPECT_TRUE(contains(error_of([&] { DialogueReader reader(path_); }),
                       "/teacher/topk_logprobs: has width 7"));
}

TEST_F(Corruption, NonFiniteLogprob) {
  set_value<float>("/teacher/topk_logprobs", offset("/samples/response_offsets", 5), 0, NAN);
  expect_rejected({"/teacher/topk_logprobs", "sample 5"});
}

TEST_F(Corruption, PositiveLogprob) {
  set_value<float>("/teacher/topk_logprobs", offset("/samples/response_offsets", 6), 0, 0.5f);
  expect_rejected({"/teacher/topk_logprobs", "sample 6"});
}

TEST_F(Corruption, HiddenRowsDifferFromSamples) {
  corrupt([](h5::File& file) { file.dataset("/teacher/hidden").resize(39); });
  expect_rejected({"/teacher/hidden", "39 rows, expected 40"});
  EXPECT_TRUE(contains(error_of([&] { DialogueReader reader(path_); }), "/teacher/hidden"));
}

// Values the model reads as they are: a NaN would reach the loss unseen (issue 19).
TEST_F(Corruption, NonFiniteHiddenState) {
  set_value<float>("/teacher/hidden", 3, 1, INFINITY);
  EXPECT_TRUE(contains(error_of([&] { DialogueReader(path_).read(3, false); }),
                       "/teacher/hidden: sample 3 holds a non-finite value"));
}

// A dataset declared with 2^40 rows stores none of them; offsets spanning it sized the read.
TEST_F(Corruption, SampleSpanningAnUnstoredHugeDataset) {
  const int64_t last = h5::File::open(path_, h5::Mode::kRead).dataset("/samples/emotion").rows();
  corrupt([](h5::File& file) { file.dataset("/samples/context").resize(int64_t{1} << 40); });
  set_value<int64_t>("/samples/context_offsets", last, 0, int64_t{1} << 40);
  const std::string message = error_of([&] { DialogueReader(path_).read(last - 1, false); });
  EXPECT_TRUE(contains(message, "more than the 67108864 a sample may hold")) << message;
}

// An array where one value belongs: H5Aread wrote every element into one int64 (a stack overflow).
TEST_F(Corruption, ArrayAttribute) {
  corrupt([](h5::File& file) {
    auto guard = h5::lock();
    H5Adelete(file.id(), "vocab_size");
    const hsize_t count = 4;
    const hid_t space = H5Screate_simple(1, &count, nullptr);
    const hid_t attribute =
        H5Acreate2(file.id(), "vocab_size", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    const int64_t values[4] = {512, 512, 512, 512};
    H5Awrite(attribute, H5T_NATIVE_INT64, values);
    H5Aclose(attribute);
    H5Sclose(space);
  });
  expect_rejected({"attribute 'vocab_size' must be a single value"});
}

TEST_F(Corruption, MissingAttribute) {
  corrupt([](h5::File& file) {
    auto guard = h5::lock();
    H5Adelete(file.id(), "vocab_size");
  });
  expect_rejected({path_, "vocab_size", "missing"});
}

TEST_F(Corruption, AttributeOfTheWrongType) {
  corrupt([](h5::File& file) { file.set_attribute("num_emotions", std::string("six")); });
  expect_rejected({"num_emotions", "integer"});
}

TEST_F(Corruption, WrongFormatString) {
  corrupt([](h5::File& file) { file.set_attribute("format", std::string("other")); });
  expect_rejected({"format", "other", "pride-dialogue"});
}

TEST_F(Corruption, MissingRequiredDataset) {
  corrupt([](h5::File& file) {
    auto guard = h5::lock();
    H5Ldelete(file.id(), "/samples/response", H5P_DEFAULT);
  });
  expect_rejected({"/samples/response", "missing"});
}

TEST_F(Corruption, NoPrivilegedSource) {
  corrupt([](h5::File& file) { file.set_attribute("privileged_sources", std::string("")); });
  expect_rejected({"privileged_sources", "no privileged source"});
}

TEST_F(Corruption, TruncatedFile) {
  const std::string bytes = file_bytes(path_);
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  expect_rejected({path_});
  EXPECT_TRUE(contains(error_of([&] { DialogueDataset::open({path_}); }), path_));
}

TEST_F(Corruption, NotAnHdf5File) {
  std::ofstream(path_, std::ios::trunc) << "context,response\nhello,hi\n";
  expect_rejected({path_, "not HDF5"});
  EXPECT_TRUE(contains(error_of([&] { inspect_file(path_ + ".missing"); }), ".missing"));
}

// --- h5py reads the format as-is (skipped where python3-h5py is absent) -------------------------

TEST(Data, H5pyReadsTheFile) {
  // The first python3 that has h5py (a pyenv python3 on PATH may lack the system's h5py).
  std::string python;
  for (const char* candidate : {"python3", "/usr/bin/python3"}) {
    if (std::system((std::string(candidate) + " -c 'import h5py' >/dev/null 2>&1").c_str()) == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty()) GTEST_SKIP() << "python3 with h5py is not available";
  SynthOptions options = small_options();
  options.half_precision = true;
  const std::string path = synth_file("a.h5", options);
  const std::string script =
      (std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "make_h5py_check.py")
          .string();
  EXPECT_EQ(std::system((python + " " + script + " " + path + " 40 8 16").c_str()), 0);
}

// The figures in docs/data-format.md: run with --gtest_also_run_disabled_tests
// --gtest_filter='*Benchmark*' (PRIDE_BENCH_DIR picks the directory, default the temp dir;
// PRIDE_BENCH_HALF=1 writes float16).
TEST(Data, DISABLED_BenchmarkSynthAndInspect100k) {
  SynthOptions options;
  options.samples = 100000;
  options.vocab_size = 32000;
  options.topk = 20;
  options.teacher_hidden = 1024;
  options.half_precision = std::getenv("PRIDE_BENCH_HALF") != nullptr;
  const char* dir = std::getenv("PRIDE_BENCH_DIR");
  const std::string path = (dir ? std::string(dir) + "/" : temp_path("")) + "bench-100k.h5";
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  auto start = Clock::now();
  synthesize(path, options);
  const double synth_s = seconds_since(start);
  start = Clock::now();
  const InspectReport report = inspect_file(path);
  const double inspect_s = seconds_since(start);
  const DialogueReader reader(path);
  start = Clock::now();
  uint64_t state = 1;
  for (int i = 0; i < 2000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    reader.read(static_cast<int64_t>((state >> 33) % options.samples), true);
  }
  const double read_us = seconds_since(start) / 2000 * 1e6;
  std::cout << report.summary()
            << fmt::format(
                   "synth: {:.1f} s, inspect: {:.1f} s, file: {:.1f} MiB, random read: {:.0f} "
                   "us/sample\n",
                   synth_s, inspect_s, std::filesystem::file_size(path) / 1048576.0, read_us);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace pride::test
