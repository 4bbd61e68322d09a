// Config loading: defaults, file merging, --set overrides, and each kind of error.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>

#include "config/config.h"
#include "support.h"
#include "util/error.h"

namespace pride {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

using test::error_of;

TEST(Config, DefaultsAreValid) {
  Config c = load_config({}, {});
  EXPECT_EQ(c.train.global_batch_size, 16);
  EXPECT_EQ(c.dist.backend, "auto");
}

TEST(Config, LaterFilesOverrideEarlierOnes) {
  auto a = write_temp("a.yaml", "train:\n  lr: 0.5\n  max_steps: 7\n");
  auto b = write_temp("b.yaml", "train:\n  lr: 0.25\n");
  Config c = load_config({a, b}, {});
  EXPECT_DOUBLE_EQ(c.train.lr, 0.25);
  EXPECT_EQ(c.train.max_steps, 7);
}

TEST(Config, SetOverridesFilesAndParsesYamlValues) {
  auto a = write_temp("c.yaml", "train:\n  lr: 0.5\n");
  Config c = load_config({a}, {"train.lr=0.125", "data.train=[x.h5, y.h5]", "pi.enabled=false",
                               "loss.mmd_bandwidths=[1, 2]"});
  EXPECT_DOUBLE_EQ(c.train.lr, 0.125);
  EXPECT_EQ(c.data.train, (std::vector<std::string>{"x.h5", "y.h5"}));
  EXPECT_FALSE(c.pi.enabled);
  EXPECT_EQ(c.loss.mmd_bandwidths, (std::vector<double>{1, 2}));
}

TEST(Config, SinglePathIsAListOfOne) {
  Config c = load_config({}, {"data.train=shards/"});
  EXPECT_EQ(c.data.train, std::vector<std::string>{"shards/"});
}

TEST(Config, UnknownKeyNamesKeyAndFile) {
  auto a = write_temp("unknown.yaml", "train:\n  learning_rate: 0.1\n");
  auto msg = error_of([&] { load_config({a}, {}); });
  EXPECT_NE(msg.find("train.learning_rate"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown.yaml"), std::string::npos) << msg;
}

TEST(Config, UnknownSection) {
  auto msg = error_of([] { load_config({}, {"optimizer.lr=1"}); });
  EXPECT_NE(msg.find("optimizer.lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--set"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesKey) {
  auto a = write_temp("type.yaml", "train:\n  max_steps: ten\n");
  auto msg = error_of([&] { load_config({a}, {}); });
  EXPECT_NE(msg.find("train.max_steps"), std::string::npos) << msg;
  EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("type.yaml"), std::string::npos) << msg;
}

TEST(Config, FractionIsNotAnInteger) {
  auto msg = error_of([] { load_config({}, {"train.max_steps=2.5"}); });
  EXPECT_NE(msg.find("train.max_steps"), std::string::npos) << msg;
}

TEST(Config, OutOfRangeNamesKeyAndBounds) {
  auto msg = error_of([] { load_config({}, {"train.lr=-1"}); });
  EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
}

TEST(Config, BadChoice) {
  auto msg = error_of([] { load_config({}, {"dist.backend=gloo"}); });
  EXPECT_NE(msg.find("dist.backend"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nccl"), std::string::npos) << msg;
}

TEST(Config, SectionMustBeMapping) {
  auto msg = error_of([] { load_config({}, {"train=3"}); });
  EXPECT_NE(msg.find("train"), std::string::npos) << msg;
}

TEST(Config, CrossKeyConstraints) {
  auto msg = error_of([] { load_config({}, {"model.n_heads=4", "model.n_kv_heads=3"}); });
  EXPECT_NE(msg.find("model.n_kv_heads"), std::string::npos) << msg;
  // A micro-batch cap that does not divide the global batch is fine (the plan picks a divisor).
  EXPECT_NO_THROW(load_config({}, {"train.global_batch_size=10", "train.micro_batch_size=4"}));
  // MMD needs two rows a side; a global batch of one trains only without it.
  msg = error_of([] {
    load_config({}, {"train.global_batch_size=1", "train.micro_batch_size=1"});
  });
  EXPECT_NE(msg.find("loss.mmd_weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("global_batch_size"), std::string::npos) << msg;
  EXPECT_NO_THROW(load_config({}, {"train.global_batch_size=1", "loss.mmd_weight=0"}));
}

TEST(Config, MalformedYamlAndMissingFile) {
  auto a = write_temp("bad.yaml", "train: [unclosed\n");
  auto msg = error_of([&] { load_config({a}, {}); });
  EXPECT_NE(msg.find("bad.yaml"), std::string::npos) << msg;
  msg = error_of([] { load_config({"/nonexistent/x.yaml"}, {}); });
  EXPECT_NE(msg.find("/nonexistent/x.yaml"), std::string::npos) << msg;
  msg = error_of([] { load_config({}, {"novalue"}); });
  EXPECT_NE(msg.find("novalue"), std::string::npos) << msg;
}

TEST(Config, ActivationCheckpointingIsATrueOrFalseKeyOffByDefault) {
  EXPECT_FALSE(load_config({}, {}).train.activation_checkpointing);
  EXPECT_TRUE(
      load_config({}, {"train.activation_checkpointing=true"}).train.activation_checkpointing);
  auto msg = error_of([] { load_config({}, {"train.activation_checkpointing=2"}); });
  EXPECT_NE(msg.find("train.activation_checkpointing must be true or false"), std::string::npos)
      << msg;
}

TEST(Config, EffectiveYamlRoundTrips) {
  Config c = load_config({}, {"train.lr=0.0625", "data.train=[a.h5]", "run.dir=out/x"});
  Config back;
  apply_yaml(back, to_yaml(c), "dump");
  EXPECT_EQ(to_yaml(back), to_yaml(c));
  EXPECT_DOUBLE_EQ(back.train.lr, 0.0625);
  EXPECT_EQ(back.run.dir, "out/x");
}

}  // namespace
}  // namespace pride
