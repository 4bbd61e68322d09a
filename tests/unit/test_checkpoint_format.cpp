// Single-process tests of the checkpoint format: ownership split, save/load round trip, manifest,
// corruption and missing-file errors, cleanup, resume fallback, retention, safetensors export and
// the async saver.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <functional>
#include <limits>

#include "checkpoints/checkpoint.h"
#include "checkpoints/protocol.h"
#include "support.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;
using test::error_of;

// World-size-1 communicator: every collective is the identity.
class LocalCommunicator : public Communicator {
 public:
  const WorldInfo& world() const override { return world_; }
  std::string backend_name() const override { return "local"; }
  void all_reduce(torch::Tensor&, bool) override {}
  std::unique_ptr<PendingOp> all_reduce_async(torch::Tensor&, bool) override {
    struct Done : PendingOp {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  torch::Tensor all_gather(const torch::Tensor& local) override { return local.clone(); }
  void reduce_scatter(const torch::Tensor& input, torch::Tensor& output, bool) override {
    output.copy_(input.view_as(output));
  }
  void all_gather_into(const torch::Tensor& local, torch::Tensor& output) override {
    output.copy_(local.view_as(output));
  }
  void broadcast(torch::Tensor&, int) override {}
  void barrier() override {}

 private:
  WorldInfo world_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void flip_byte(const std::string& path, int64_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(offset);
  char byte = 0;
  file.read(&byte, 1);
  byte ^= 0x5a;
  file.seekp(offset);
  file.write(&byte, 1);
}

// A state with several dtypes and a parameter layout over model.params; the same for the same
// step (random-looking values from a generator seeded by the step).
CheckpointState sample_state(int64_t step) {
  torch::manual_seed(static_cast<uint64_t>(step));
  CheckpointState state;
  state.step = step;
  state.epoch = step / 10;
  state.samples_consumed = step * 16;
  state.config_yaml = "train:\n  max_steps: 300\n";
  state.extra = {{"scheduler", {{"position", step}}}, {"seeds", {1, 2, 3}}};
  const torch::Tensor params = torch::arange(0, 37, torch::kFloat32) * 0.5f + float(step);
  state.tensors = {{"model.params", params},
                   {"optim.exp_avg", torch::randn({37})},
                   {"counters", torch::arange(-5, 6, torch::kInt64) * (int64_t{1} << 40)},
                   {"rng.torch_cpu", torch::randint(0, 256, {13}, torch::kUInt8)},
                   {"flags", torch::tensor({true, false, true})},
                   {"empty", torch::empty({0}, torch::kFloat64)}};
  state.params = {{"embed.weight", {4, 5}, 0}, {"norm.gain", {5}, 20}, {"head.bias", {12}, 25}};
  return state;
}

void expect_same_state(const CheckpointState& expected, const CheckpointState& actual) {
  EXPECT_EQ(actual.step, expected.step);
  EXPECT_EQ(actual.epoch, expected.epoch);
  EXPECT_EQ(actual.samples_consumed, expected.samples_consumed);
  EXPECT_EQ(actual.config_yaml, expected.config_yaml);
  EXPECT_EQ(actual.extra, expected.extra);
  ASSERT_EQ(actual.tensors.size(), expected.tensors.size());
  for (size_t i = 0; i < expected.tensors.size(); ++i) {
    EXPECT_EQ(actual.tensors[i].name, expected.tensors[i].name);
    EXPECT_EQ(actual.tensors[i].full.scalar_type(), expected.tensors[i].full.scalar_type());
    EXPECT_TRUE(torch::equal(actual.tensors[i].full, expected.tensors[i].full))
        << expected.tensors[i].name;
  }
  ASSERT_EQ(actual.params.size(), expected.params.size());
  for (size_t i = 0; i < expected.params.size(); ++i) {
    EXPECT_EQ(actual.params[i].name, expected.params[i].name);
    EXPECT_EQ(actual.params[i].shape, expected.params[i].shape);
    EXPECT_EQ(actual.params[i].offset, expected.params[i].offset);
  }
}

class CheckpointFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            fmt::format("pride_ckpt_{}_{}", ::getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string save(int64_t step, SaveOptions options = {}) {
    return save_checkpoint(dir_, sample_state(step), comm_, options);
  }
  std::string shard_path(int64_t step) {
    return dir_ + "/" + step_dir_name(step) + "/shard-0-of-1.bin";
  }

  // The path load_resume_point picks, or nullopt.
  std::optional<std::string> resume_path(const std::string& dir_or_path) {
    const auto resumed = load_resume_point(dir_or_path, comm_);
    return resumed ? std::optional<std::string>(resumed->path) : std::nullopt;
  }

  LocalCommunicator comm_;
  std::string dir_;
};

TEST(OwnedRange, TilesTheTensorInBalancedContiguousRanges) {
  for (int64_t length : {0, 1, 2, 3, 7, 64, 1000, 1001, 123457}) {
    for (int world = 1; world <= 9; ++world) {
      int64_t expected_begin = 0;
      for (int rank = 0; rank < world; ++rank) {
        auto [begin, end] = owned_range(length, rank, world);
        EXPECT_EQ(begin, expected_begin) << length << " " << rank << "/" << world;
        EXPECT_GE(end - begin, length / world);
        EXPECT_LE(end - begin, length / world + 1);
        expected_begin = end;
      }
      EXPECT_EQ(expected_begin, length);
    }
  }
  EXPECT_THROW(owned_range(10, 2, 2), Error);
}

TEST_F(CheckpointFormatTest, RoundTripsEveryDtypeAndTheMetadata) {
  const std::string path = save(7);
  EXPECT_EQ(path, dir_ + "/step_00000007");
  const CheckpointState loaded = load_checkpoint(path, comm_);
  expect_same_state(sample_state(7), loaded);
  EXPECT_EQ(loaded.world_size, 1);
}

// Shards are read in 8 MiB chunks: an odd-sized int8 tensor first makes the float32 and float64
// elements after it straddle chunk boundaries, for the full load and for owned ranges alike.
TEST_F(CheckpointFormatTest, TensorsSpanningReadChunksLoadExactly) {
  CheckpointState state;
  state.step = 1;
  state.tensors = {{"odd", (torch::arange(5'000'001) % 251).to(torch::kInt8)},
                   {"floats", torch::arange(3'000'000, torch::kFloat32)},
                   {"doubles", torch::rand({700'001}, torch::kFloat64)}};
  const std::string path = save_checkpoint(dir_, state, comm_, {});
  const CheckpointState loaded = load_checkpoint(path, comm_);
  const Manifest manifest = read_manifest(path + "/" + kManifestFile);
  constexpr int kWorld = 3;
  std::vector<std::vector<torch::Tensor>> parts;
  for (int rank = 0; rank < kWorld; ++rank) {
    parts.push_back(read_owned_parts(path, manifest, rank, kWorld));
  }
  for (size_t t = 0; t < state.tensors.size(); ++t) {
    const TensorEntry& entry = state.tensors[t];
    EXPECT_TRUE(torch::equal(loaded.tensor(entry.name), entry.full)) << entry.name;
    const torch::Tensor joined = torch::cat({parts[0][t], parts[1][t], parts[2][t]});
    EXPECT_TRUE(torch::equal(joined, entry.full)) << entry.name << " from " << kWorld << " ranks";
  }
}

TEST_F(CheckpointFormatTest, ManifestDescribesShardsAndTensors) {
  const std::string path = save(7);
  const auto manifest = nlohmann::json::parse(read_file(path + "/manifest.json"));
  EXPECT_EQ(manifest["format"], "pride-checkpoint");
  EXPECT_EQ(manifest["version"], 1);
  EXPECT_EQ(manifest["step"], 7);
  EXPECT_EQ(manifest["samples_consumed"], 112);
  EXPECT_EQ(manifest["world_size"], 1);
  EXPECT_EQ(manifest["extra"]["scheduler"]["position"], 7);
  ASSERT_EQ(manifest["shards"].size(), 1u);
  EXPECT_EQ(manifest["shards"][0]["file"], "shard-0-of-1.bin");
  EXPECT_EQ(manifest["shards"][0]["bytes"].get<int64_t>(),
            static_cast<int64_t>(fs::file_size(shard_path(7))));
  EXPECT_EQ(manifest["shards"][0]["xxh64"].get<std::string>().size(), 16u);
  const auto& counters = manifest["tensors"][2];
  EXPECT_EQ(counters["name"], "counters");
  EXPECT_EQ(counters["dtype"], "int64");
  EXPECT_EQ(counters["length"], 11);
  EXPECT_EQ(counters["ranges"][0]["end"], 11);
  // model.params (37 float32) then exp_avg (37 float32) precede it after the 32-byte header.
  EXPECT_EQ(counters["ranges"][0]["byte_offset"], 32 + 2 * 37 * 4);
  EXPECT_EQ(manifest["params"][1]["name"], "norm.gain");
  EXPECT_EQ(read_file(dir_ + "/latest"), "step_00000007\n");
}

TEST_F(CheckpointFormatTest, FlippedByteIsAChecksumErrorNamingTheShard) {
  const std::string path = save(3);
  flip_byte(shard_path(3), 100);
  const std::string message = error_of([&] { load_checkpoint(path, comm_); });
  EXPECT_NE(message.find("shard-0-of-1.bin"), std::string::npos) << message;
  EXPECT_NE(message.find("checksum"), std::string::npos) << message;
  EXPECT_THROW(inspect_checkpoint(path), Error);
}

TEST_F(CheckpointFormatTest, MissingFilesAreErrorsNamingTheFile) {
  const std::string path = save(3);
  fs::remove(shard_path(3));
  std::string message = error_of([&] { load_checkpoint(path, comm_); });
  EXPECT_NE(message.find("shard-0-of-1.bin"), std::string::npos) << message;
  fs::remove(path + "/manifest.json");
  message = error_of([&] { load_checkpoint(path, comm_); });
  EXPECT_NE(message.find("manifest.json"), std::string::npos) << message;
}

TEST_F(CheckpointFormatTest, TruncatedShardAndBadManifestAreErrors) {
  const std::string path = save(3);
  fs::resize_file(shard_path(3), 40);
  EXPECT_NE(error_of([&] { load_checkpoint(path, comm_); }).find("shard-0-of-1.bin"),
            std::string::npos);
  std::ofstream(path + "/manifest.json") << "{\"format\": \"pride-checkpoint\"";
  EXPECT_NE(error_of([&] { load_checkpoint(path, comm_); }).find("manifest.json"),
            std::string::npos);
}

TEST_F(CheckpointFormatTest, LeftoverTemporaryDirIsIgnoredAndCleaned) {
  save(5);
  fs::create_directories(dir_ + "/.tmp-step_00000009");
  std::ofstream(dir_ + "/.tmp-step_00000009/shard-0-of-1.bin") << "partial";
  std::ofstream(dir_ + "/latest.tmp") << "step_00000009";
  EXPECT_EQ(resume_path(dir_), dir_ + "/step_00000005");
  clean_incomplete(dir_);
  EXPECT_FALSE(fs::exists(dir_ + "/.tmp-step_00000009"));
  EXPECT_FALSE(fs::exists(dir_ + "/latest.tmp"));
  EXPECT_TRUE(fs::exists(dir_ + "/step_00000005/manifest.json"));
}

TEST_F(CheckpointFormatTest, ResumeFallsBackToThePreviousValidCheckpoint) {
  save(1);
  save(2);
  flip_byte(shard_path(2), 50);
  ::testing::internal::CaptureStderr();
  const auto resumed = load_resume_point(dir_, comm_);
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->path, dir_ + "/step_00000001");
  EXPECT_EQ(resumed->state.step, 1);
  EXPECT_NE(warnings.find("warning"), std::string::npos);
  EXPECT_NE(warnings.find("step_00000002"), std::string::npos) << warnings;
  // An explicit path must be valid; an empty root has nothing to resume.
  EXPECT_THROW(resume_path(dir_ + "/step_00000002"), Error);
  EXPECT_EQ(resume_path(dir_ + "/step_00000001"), dir_ + "/step_00000001");
  EXPECT_EQ(resume_path(dir_ + "/nothing-here"), std::nullopt);
}

TEST_F(CheckpointFormatTest, LatestNamingAMissingCheckpointFallsBack) {
  save(1);
  save(2);
  fs::remove_all(dir_ + "/step_00000002");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(resume_path(dir_), dir_ + "/step_00000001");
  ::testing::internal::GetCapturedStderr();
}

// A manifest edited by hand or by an attacker: values that would overflow or mistype are errors
// naming the manifest, never a read outside a shard or an exception of another kind.
TEST_F(CheckpointFormatTest, HostileManifestValuesAreErrorsNamingTheManifest) {
  const std::string path = save(4);
  const std::string manifest_path = path + "/manifest.json";
  const auto original = nlohmann::json::parse(read_file(manifest_path));
  const auto expect_rejected = [&](const std::function<void(nlohmann::json&)>& edit,
                                   const std::string& expected) {
    nlohmann::json hostile = original;
    edit(hostile);
    std::ofstream(manifest_path) << hostile.dump();
    const std::string message = error_of([&] { read_manifest(manifest_path); });
    EXPECT_NE(message.find("manifest.json"), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  };
  expect_rejected(
      [](nlohmann::json& m) {
        m["tensors"][0]["ranges"][0]["byte_offset"] = int64_t{0x7ffffffffffffff0};
      },
      "invalid range");
  expect_rejected(
      [](nlohmann::json& m) {
        m["tensors"][0]["ranges"][0]["begin"] = std::numeric_limits<int64_t>::min();
      },
      "tensors[0]: ranges[0]: \"begin\" must be an integer in [0, 9223372036854775807]");
  expect_rejected([](nlohmann::json& m) { m["extra"] = nullptr; }, "\"extra\" must be an object");
  expect_rejected([](nlohmann::json& m) { m["step"] = "x"; }, "\"step\" must be an integer");
  expect_rejected([](nlohmann::json& m) { m["step"] = -1; }, "\"step\" must be an integer");
  // get<int>() used to wrap 2^32 + 1 to a world size of 1.
  expect_rejected([](nlohmann::json& m) { m["world_size"] = (int64_t{1} << 32) + 1; },
                  "\"world_size\" must be an integer");
  expect_rejected([](nlohmann::json& m) { m["params"][0]["shape"][0] = 4.5; },
                  "params[0]: \"shape\" must be an integer");
  // A slice past model.params used to reach LibTorch's narrow() (exit 1).
  expect_rejected([](nlohmann::json& m) { m["params"][2]["offset"] = 30; },
                  "parameter 'head.bias' (shape [12] at offset 30) lies outside model.params");
  expect_rejected(
      [](nlohmann::json& m) {
        m["params"][0]["shape"] = {int64_t{1} << 40, int64_t{1} << 40};
      },
      "parameter 'embed.weight'");
}

TEST_F(CheckpointFormatTest, LatestNamingADirectoryOutsideItsRootIsAnError) {
  save(1);
  for (const char* name : {"../elsewhere", "/tmp", "a/b", ""}) {
    std::ofstream(dir_ + "/latest") << name << "\n";
    const std::string message = error_of([&] { read_latest(dir_); });
    EXPECT_NE(message.find("latest: names"), std::string::npos) << name << ": " << message;
  }
  std::ofstream(dir_ + "/latest") << "step_00000001\n";
  EXPECT_EQ(read_latest(dir_), dir_ + "/step_00000001");
}

TEST_F(CheckpointFormatTest, RetentionKeepsNewestAndMilestones) {
  for (int64_t step = 1; step <= 10; ++step) save(step, {2, 4});
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"latest", "step_00000004", "step_00000008",
                                             "step_00000009", "step_00000010"}));
}

TEST_F(CheckpointFormatTest, SavingAStepAgainReplacesIt) {
  save(4);
  CheckpointState second = sample_state(4);
  second.extra = {{"second", true}};
  save_checkpoint(dir_, second, comm_, {});
  EXPECT_EQ(load_checkpoint(dir_ + "/step_00000004", comm_).extra, second.extra);
  EXPECT_FALSE(fs::exists(dir_ + "/.tmp-replaced-step_00000004"));
}

TEST_F(CheckpointFormatTest, InspectReportsTensorsAndVerifiedShards) {
  const std::string report = inspect_checkpoint(save(6));
  EXPECT_NE(report.find("optim.exp_avg"), std::string::npos) << report;
  EXPECT_NE(report.find("step 6"), std::string::npos) << report;
  EXPECT_NE(report.find("all shards verified"), std::string::npos) << report;
}

TEST_F(CheckpointFormatTest, SafetensorsExportHoldsTheParameters) {
  const std::string out = dir_ + "/student.safetensors";
  export_safetensors(save(2), out);
  const std::string bytes = read_file(out);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  ASSERT_EQ(header_length % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_length));
  EXPECT_EQ(header["__metadata__"]["step"], "2");
  const CheckpointState state = sample_state(2);
  int64_t expected_end = 0;
  for (const ParamSlice& param : state.params) {
    const auto& entry = header.at(param.name);
    EXPECT_EQ(entry["dtype"], "F32");
    EXPECT_EQ(entry["shape"].get<std::vector<int64_t>>(), param.shape);
    const int64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
    EXPECT_EQ(begin, expected_end);
    expected_end = end;
    std::vector<float> values((end - begin) / 4);
    std::memcpy(values.data(), bytes.data() + 8 + header_length + begin, end - begin);
    const torch::Tensor expected =
        state.tensor("model.params").slice(0, param.offset, param.offset + values.size());
    EXPECT_TRUE(torch::equal(torch::tensor(values), expected)) << param.name;
  }
  EXPECT_EQ(static_cast<int64_t>(bytes.size()),
            8 + static_cast<int64_t>(header_length) + expected_end);
  if (std::system("python3 -c 'pass' > /dev/null 2>&1") == 0) {
    const std::string check =
        "python3 -c \"import json,struct,sys; b=open(sys.argv[1],'rb').read(); "
        "n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); "
        "w=h['norm.gain']; s,e=w['data_offsets']; "
        "v=struct.unpack('<5f',b[8+n+s:8+n+e]); "
        "assert w['shape']==[5] and v==(12.0,12.5,13.0,13.5,14.0), v\" " +
        out;
    EXPECT_EQ(std::system(check.c_str()), 0);
  }
}

TEST_F(CheckpointFormatTest, AsyncSaverWritesWhatTheSyncSaverWrites) {
  const std::string sync_dir = dir_ + "/sync", async_dir = dir_ + "/async";
  const CheckpointState state = sample_state(12);
  save_checkpoint(sync_dir, state, comm_, {});
  CheckpointState live = sample_state(12);
  {
    AsyncCheckpointer saver(comm_, async_dir, {});
    saver.save(live);
    live.tensors[0].full.add_(1000.0);  // training goes on: the snapshot must not see it
    live.tensors[1].full.zero_();
    EXPECT_TRUE(saver.in_flight());
    while (saver.in_flight()) saver.poll();
    EXPECT_EQ(saver.last_saved(), async_dir + "/step_00000012");
    saver.wait();
  }
  for (const std::string file : {"manifest.json", "shard-0-of-1.bin"}) {
    EXPECT_EQ(read_file(sync_dir + "/step_00000012/" + file),
              read_file(async_dir + "/step_00000012/" + file))
        << file;
  }
  EXPECT_EQ(read_file(async_dir + "/latest"), "step_00000012\n");
}

TEST_F(CheckpointFormatTest, AsyncSaveWaitsForThePreviousOne) {
  AsyncCheckpointer saver(comm_, dir_, {2, 0});
  for (int64_t step = 1; step <= 4; ++step) saver.save(sample_state(step));
  saver.wait();
  EXPECT_FALSE(saver.in_flight());
  EXPECT_EQ(resume_path(dir_), dir_ + "/step_00000004");
  EXPECT_TRUE(fs::exists(dir_ + "/step_00000003"));
  EXPECT_FALSE(fs::exists(dir_ + "/step_00000002"));
}

TEST_F(CheckpointFormatTest, UnsaveableTensorsAreRejected) {
  CheckpointState state = sample_state(1);
  state.tensors.push_back({"matrix", torch::zeros({2, 2})});
  EXPECT_NE(error_of([&] { save_checkpoint(dir_, state, comm_, {}); }).find("matrix"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ + "/step_00000001"));
}

}  // namespace
}  // namespace pride

namespace pride {
namespace {

TEST(FileIo, FullDiskIsATransientErrorNamingTheFile) {
  // /dev/full answers every write with ENOSPC: a full disk is the machine's fault, not the
  // input's, so the job exits with the transient-fault code the Slurm templates requeue on.
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const char bytes[4096] = {};
  try {
    write_file_durably("/dev/full", {{bytes, sizeof(bytes)}});
    FAIL() << "writing to /dev/full succeeded";
  } catch (const TransientError& e) {
    EXPECT_TRUE(test::contains(e.what(), "/dev/full")) << e.what();
    EXPECT_TRUE(test::contains(e.what(), std::strerror(ENOSPC))) << e.what();
  }
}

}  // namespace
}  // namespace pride
