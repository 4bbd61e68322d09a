// `pride shard`: shards are valid files that, through their manifest, reproduce the original
// samples at the same global indices; a missing shard or a wrong count is a named error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "data/h5.h"
#include "data/inspect.h"
#include "data/reader.h"
#include "data/synth.h"
#include "sharding/shard_tool.h"
#include "support.h"
#include "util/error.h"

namespace pride::test {

// Defined in test_data.cpp (same test binary).
SynthOptions small_options();
std::string synth_file(const std::string& name, const SynthOptions& options);
void expect_same_sample(const Sample& a, const Sample& b);

namespace {

namespace fs = std::filesystem;

class Shard : public ::testing::Test {
 protected:
  void SetUp() override {
    SynthOptions options = small_options();
    options.samples = 50;
    options.half_precision = true;
    source_ = synth_file("source.h5", options);
    dir_ = temp_path("shards");
    fs::remove_all(dir_);
    shard_file(source_, dir_, 3);
  }

  std::string shard_path(int64_t index) const {
    return (fs::path(dir_) / data_shard_file_name(index, 3)).string();
  }

  void expect_same_samples(const DialogueDataset& data) const {
    const DialogueReader original(source_);
    ASSERT_EQ(data.size(), original.size());
    for (int64_t i = 0; i < original.size(); ++i) {
      expect_same_sample(data.read(i, true), original.read(i, true));
      EXPECT_EQ(data.sequence_length(i), original.sequence_length(i));
    }
  }

  nlohmann::json manifest_json() const {
    return nlohmann::json::parse(std::ifstream(fs::path(dir_) / kManifestName));
  }
  void write_manifest_json(const nlohmann::json& json) const {
    std::ofstream(fs::path(dir_) / kManifestName) << json.dump();
  }

  std::string source_, dir_;
};

TEST_F(Shard, ManifestDescribesBalancedContiguousShards) {
  const ShardManifest manifest = read_shard_manifest(dir_);
  EXPECT_EQ(manifest.format, "pride-dialogue");
  EXPECT_EQ(manifest.num_samples, 50);
  EXPECT_EQ(manifest.source, source_);
  ASSERT_EQ(manifest.shards.size(), 3u);
  const int64_t expected_sizes[] = {16, 17, 17};
  for (int64_t s = 0; s < 3; ++s) {
    EXPECT_EQ(manifest.shards[s].file, data_shard_file_name(s, 3));
    EXPECT_EQ(manifest.shards[s].samples, expected_sizes[s]);
    EXPECT_EQ(manifest.shards[s].xxh64, file_xxh64(shard_path(s)));
    const InspectReport report = inspect_file(shard_path(s));  // each shard is a valid file
    EXPECT_EQ(report.info.num_samples, expected_sizes[s]);
    EXPECT_TRUE(report.half_precision);  // float16 stays float16
  }
  EXPECT_EQ(manifest.shards[2].first_sample, 33);
  EXPECT_NO_THROW(verify_shards(dir_));
}

TEST_F(Shard, DirectoryYieldsTheOriginalSamplesAtTheSameIndices) {
  expect_same_samples(DialogueDataset::open({dir_}));
}

TEST_F(Shard, ListOfShardFilesEqualsTheDirectory) {
  const DialogueDataset files =
      DialogueDataset::open({shard_path(0), shard_path(1), shard_path(2)});
  EXPECT_EQ(files.files(), DialogueDataset::open({dir_}).files());
  expect_same_samples(files);
}

TEST_F(Shard, MissingShardIsANamedError) {
  fs::remove(shard_path(1));
  const std::string message = error_of([&] { DialogueDataset::open({dir_}); });
  EXPECT_TRUE(contains(message, shard_path(1))) << message;
  EXPECT_TRUE(contains(error_of([&] { verify_shards(dir_); }), shard_path(1)));
}

TEST_F(Shard, WrongSampleCountIsANamedError) {
  nlohmann::json json = manifest_json();
  json["shards"][0]["samples"] = 15;
  json["shards"][1]["first_sample"] = 15;
  json["shards"][2]["first_sample"] = 32;
  json["num_samples"] = 49;
  write_manifest_json(json);
  const std::string message = error_of([&] { DialogueDataset::open({dir_}); });
  EXPECT_TRUE(contains(message, shard_path(0)) && contains(message, "15")) << message;
}

TEST_F(Shard, InconsistentManifestIsRejected) {
  nlohmann::json json = manifest_json();
  json["num_samples"] = 51;
  write_manifest_json(json);
  EXPECT_TRUE(contains(error_of([&] { read_shard_manifest(dir_); }), kManifestName));
  json.erase("shards");
  write_manifest_json(json);
  EXPECT_TRUE(contains(error_of([&] { read_shard_manifest(dir_); }), "shards"));
}

TEST_F(Shard, ChecksumDetectsAModifiedShard) {
  {
    h5::File file = h5::File::open(shard_path(2), h5::Mode::kReadWrite);
    h5::Dataset emotion = file.dataset("/samples/emotion");
    const int32_t first = emotion.read_rows<int32_t>(0, 1)[0];
    emotion.write_rows<int32_t>(0, {(first + 1) % 6});
  }
  const std::string message = error_of([&] { verify_shards(dir_); });
  EXPECT_TRUE(contains(message, shard_path(2)) && contains(message, "checksum")) << message;
}

TEST_F(Shard, MoreShardsThanSamplesIsRejected) {
  EXPECT_TRUE(contains(error_of([&] { shard_file(source_, temp_path("too_many"), 51); }), "51"));
}

// append_samples, which `pride teach` merges its parts with: pieces appended one after another
// give back the original file, offsets continued across the seams.
TEST_F(Shard, AppendedPiecesEqualTheOriginal) {
  const std::string joined = temp_path("joined.h5");
  {
    h5::File out = h5::File::open(joined, h5::Mode::kCreate);
    const h5::File in = h5::File::open(source_, h5::Mode::kRead);
    copy_attributes(in, out);
    const DatasetInfo info = read_info(in);
    for (const auto& [begin, end] : {std::pair{0, 7}, std::pair{7, 8}, std::pair{8, 50}}) {
      append_samples(in, info, begin, end, out);
    }
  }
  inspect_file(joined);
  expect_same_samples(DialogueDataset::open({joined}));
}

}  // namespace
}  // namespace pride::test
