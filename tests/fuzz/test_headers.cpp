// Regression tests of the LibTorch-free header readers: the shard manifest (wrong types, negative
// and overflowing counts, names that escape the directory) and the safetensors header validator
// (offsets and dims at or above 2^62/2^63, overflowing sizes, overlaps, truncation, metadata).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "checkpoints/safetensors_header.h"
#include "data/shard_manifest.h"
#include "util/error.h"

namespace pride {
namespace {

using nlohmann::json;

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pride-manifest-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  json valid() const {
    return {{"format", "pride-dialogue"},
            {"version", 1},
            {"source", "train.h5"},
            {"num_samples", 5},
            {"shards",
             {{{"file", "a.h5"}, {"samples", 2}, {"first_sample", 0}, {"xxh64", "0"}},
              {{"file", "b.h5"}, {"samples", 3}, {"first_sample", 2}, {"xxh64", "0"}}}}};
  }
  std::string read_error(const json& manifest) {
    std::ofstream(dir_ / "manifest.json") << manifest.dump();
    return error_of([&] { read_shard_manifest(dir_.string()); });
  }

  std::filesystem::path dir_;
};

TEST_F(ManifestTest, ValidManifestIsRead) {
  EXPECT_EQ(read_error(valid()), "(no error)");
}

TEST_F(ManifestTest, WrongTypesAreNamedErrors) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, json>>{{"version", "1"},
                                                 {"version", 1.5},
                                                 {"version", true},
                                                 {"num_samples", -5},
                                                 {"num_samples", uint64_t{1} << 63},
                                                 {"source", nullptr},
                                                 {"shards", json::object()}}) {
    json manifest = valid();
    manifest[key] = value;
    const std::string message = read_error(manifest);
    EXPECT_NE(message.find("manifest.json"), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << key << " " << value << ": " << message;
  }
  json manifest = valid();
  manifest["shards"][1]["samples"] = "3";
  EXPECT_NE(read_error(manifest).find("shards[1]: key 'samples' must be an integer"),
            std::string::npos);
  EXPECT_NE(read_error(json::array()).find("expected an object"), std::string::npos);
}

TEST_F(ManifestTest, OverflowingCountsAreErrors) {
  json manifest = valid();
  const int64_t big = std::numeric_limits<int64_t>::max();
  manifest["shards"][0]["samples"] = big;
  manifest["shards"][1]["first_sample"] = big;
  manifest["num_samples"] = big;
  EXPECT_NE(read_error(manifest).find("overflow"), std::string::npos) << read_error(manifest);
}

TEST_F(ManifestTest, FileNamesStayInsideTheDirectory) {
  for (const std::string& name : std::vector<std::string>{"../x.h5", "/etc/hostname", "..", ".", "",
                                                          std::string("a\0b", 3), "sub/a.h5"}) {
    json manifest = valid();
    manifest["shards"][0]["file"] = name;
    EXPECT_NE(read_error(manifest).find("must be a plain name inside the directory"),
              std::string::npos)
        << name;
  }
  json manifest = valid();
  manifest["shards"][1]["file"] = "a.h5";
  EXPECT_NE(read_error(manifest).find("listed twice"), std::string::npos);
}

// --- safetensors header --------------------------------------------------------------------------

std::string file_of(const json& header, size_t data_bytes) {
  const std::string text = header.dump();
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(uint64_t{text.size()} >> (8 * i));
  return bytes + text + std::string(data_bytes, '\0');
}

std::string header_error(const json& header, size_t data_bytes) {
  const std::string bytes = file_of(header, data_bytes);
  return error_of([&] { parse_safetensors_header(bytes, bytes.size(), "m.safetensors"); });
}

json tensor(const char* dtype, json shape, json offsets) {
  return {{"dtype", dtype}, {"shape", std::move(shape)}, {"data_offsets", std::move(offsets)}};
}

TEST(SafetensorsHeader, ValidHeaderIsRead) {
  const json header = {{"__metadata__", {{"format", "pt"}}},
                       {"a", tensor("F32", {2, 3}, {0, 24})},
                       {"b", tensor("BF16", {4}, {24, 32})},
                       {"e", tensor("I64", {0}, {32, 32})}};
  const std::string bytes = file_of(header, 32);
  const SafetensorsHeader parsed = parse_safetensors_header(bytes, bytes.size(), "m");
  ASSERT_EQ(parsed.entries.size(), 3u);
  EXPECT_EQ(parsed.entries[0].end, 24u);
  EXPECT_EQ(parsed.metadata.at("format"), "pt");
  EXPECT_EQ(parsed.data_bytes, 32u);
}

TEST(SafetensorsHeader, HostileOffsetsAndShapesAreErrors) {
  const uint64_t two63 = uint64_t{1} << 63;
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"a", tensor("F32", {2}, {two63, two63 + 8})}}, "truncated: tensor 'a'"},
      {{{"a", tensor("F32", {2}, {0, ~uint64_t{0}})}}, "truncated: tensor 'a'"},
      {{{"a", tensor("F32", {2}, {8, 0})}}, "end before they begin"},
      {{{"a", tensor("F32", {2}, {1, 9})}}, "(no error)"},  // odd offsets are legal
      {{{"a", tensor("F32", {two63}, {0, 8})}}, "not below 2^62"},
      {{{"a", tensor("F32", {uint64_t{1} << 31, uint64_t{1} << 31, 4}, {0, 8})}}, "overflows"},
      {{{"a", tensor("F32", {-1}, {0, 8})}}, "non-negative integers"},
      {{{"a", tensor("F32", {2.5}, {0, 8})}}, "non-negative integers"},
      {{{"a", tensor("F32", {2}, {-8, 0})}}, "non-negative integers"},
      {{{"a", tensor("F128", {2}, {0, 8})}}, "unknown dtype 'F128'"},
      {{{"a", tensor("F32", {3}, {0, 8})}}, "hold 8 bytes"},
      {{{"a", tensor("F32", {2}, {0, 8})}, {"b", tensor("F32", {1}, {4, 8})}}, "overlap"},
      {{{"__metadata__", {{"x", 1}}}}, "__metadata__.x must be a string"},
      {{{"__metadata__", json::array()}}, "must be an object"},
      {{{"a", {{"dtype", "F32"}}}}, "needs \"dtype\""},
      {json::array(), "not a JSON object"}};
  for (const auto& [header, expected] : cases) {
    const std::string message = header_error(header, 9);
    EXPECT_NE(message.find(expected), std::string::npos) << header.dump() << ": " << message;
  }
}

TEST(SafetensorsHeader, HostileLengthsAreErrors) {
  std::string bytes = file_of(json::object(), 0);
  for (const uint64_t length : {uint64_t{1} << 63, ~uint64_t{0}, uint64_t{100'000'001}}) {
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(length >> (8 * i));
    EXPECT_NE(
        error_of([&] { parse_safetensors_header(bytes, bytes.size(), "m"); }).find("does not fit"),
        std::string::npos);
  }
  EXPECT_NE(error_of([&] { parse_safetensors_header("abc", 3, "m"); }).find("truncated: 3 bytes"),
            std::string::npos);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("pride-st-" + std::to_string(::getpid())))
          .string();
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_NE(error_of([&] { read_safetensors_header(path); }).find("does not fit"),
            std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace pride
