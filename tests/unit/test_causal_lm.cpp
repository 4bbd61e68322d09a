// Hugging Face causal LMs and generation: scaled-dot-product attention against the explicit
// masked-softmax path it replaced, config.json and safetensors errors, loading by name, the KV
// cache against recomputing the prefix, batched prompts against one at a time, sampling
// determinism. (Logits against an independent Python forward: tests/cli/hf_models.sh.)
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "checkpoints/safetensors.h"
#include "models/causal_lm.h"
#include "models/generate.h"
#include "support.h"

namespace pride {
namespace {

using nlohmann::json;
using test::contains;
using test::error_of;
using test::greedy;

// The attention math before SDPA: scores, a finite floor for masked keys, zeroed empty rows.
torch::Tensor explicit_attention(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const torch::Tensor& allowed) {
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(q.size(-1)));
  scores = scores.masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
  auto probs = torch::softmax(scores, -1);
  probs = probs.masked_fill(allowed.any(-1, true).logical_not(), 0.0);
  return torch::matmul(probs, v);
}

TEST(ScaledDotProduct, MatchesTheExplicitPathWithPaddingAndEmptyRows) {
  torch::manual_seed(3);
  auto q = torch::randn({3, 4, 7, 16}), k = torch::randn({3, 4, 9, 16}),
       v = torch::randn({3, 4, 9, 16});
  auto allowed = torch::rand({3, 1, 7, 9}) > 0.4;
  allowed[1][0][2].fill_(false);  // a query with no admissible key
  auto ours = scaled_dot_product(q, k, v, AttentionMask(allowed));
  EXPECT_LT((ours - explicit_attention(q, k, v, allowed)).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(ours[1][0][2].abs().sum().item<double>(), 0.0);
}

TEST(ScaledDotProduct, CausalFlagMatchesTheTriangularMask) {
  torch::manual_seed(4);
  auto q = torch::randn({2, 4, 8, 16}), k = torch::randn({2, 4, 8, 16}),
       v = torch::randn({2, 4, 8, 16});
  auto tril = torch::ones({8, 8}, torch::kBool).tril().view({1, 1, 8, 8});
  auto flagged = scaled_dot_product(q, k, v, AttentionMask::causal_only());
  EXPECT_LT((flagged - explicit_attention(q, k, v, tril)).abs().max().item<double>(), 1e-5);
}

std::vector<std::string> names_of(const torch::nn::Module& module) {
  std::vector<std::string> names;
  for (const auto& item : module.named_parameters()) names.push_back(item.key());
  return names;
}

// Checkpoints store the student's parameters by name and order: the shared block keeps them.
TEST(DecoderLayer, StudentBlockKeepsItsParameterOrderAndThePlainBlockDropsCrossAttention) {
  BlockShape shape{16, 4, 2, 24, 1e-6};
  shape.cross_attention = true;
  const std::vector<std::string> student = {"input_layernorm.weight",
                                            "self_attn.q_proj.weight",
                                            "self_attn.k_proj.weight",
                                            "self_attn.v_proj.weight",
                                            "self_attn.o_proj.weight",
                                            "cross_attn_layernorm.weight",
                                            "cross_attn.q_proj.weight",
                                            "cross_attn.k_proj.weight",
                                            "cross_attn.v_proj.weight",
                                            "cross_attn.o_proj.weight",
                                            "post_attention_layernorm.weight",
                                            "mlp.gate_proj.weight",
                                            "mlp.up_proj.weight",
                                            "mlp.down_proj.weight"};
  EXPECT_EQ(names_of(*DecoderLayer(shape)), student);
  shape.cross_attention = false;
  shape.qkv_bias = shape.qk_norm = true;
  const std::vector<std::string> qwen = {"input_layernorm.weight",
                                         "self_attn.q_proj.weight",
                                         "self_attn.q_proj.bias",
                                         "self_attn.k_proj.weight",
                                         "self_attn.k_proj.bias",
                                         "self_attn.v_proj.weight",
                                         "self_attn.v_proj.bias",
                                         "self_attn.o_proj.weight",
                                         "self_attn.q_norm.weight",
                                         "self_attn.k_norm.weight",
                                         "post_attention_layernorm.weight",
                                         "mlp.gate_proj.weight",
                                         "mlp.up_proj.weight",
                                         "mlp.down_proj.weight"};
  EXPECT_EQ(names_of(*DecoderLayer(shape)), qwen);
}

CausalLMConfig tiny_config(const std::string& type) {
  json raw = {{"model_type", type},       {"vocab_size", 53},       {"hidden_size", 32},
              {"intermediate_size", 48},  {"num_hidden_layers", 2}, {"num_attention_heads", 4},
              {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-5},   {"eos_token_id", 2}};
  if (type == "mistral") raw["sliding_window"] = 4;
  if (type == "qwen3") raw["head_dim"] = 12;
  if (type == "llama") {
    raw["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", 8.0},
                           {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", 16}};
  }
  return parse_causal_lm_config(raw, "config.json");
}

// A random model with weights large enough that greedy choices are not near ties.
CausalLM random_model(const std::string& type) {
  torch::manual_seed(7);
  CausalLM model(tiny_config(type));
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, p.dim() == 1 ? 1.0 : 0.3);
  model->eval();
  return model;
}

const std::vector<std::vector<int64_t>> kPrompts = {{5, 9, 13, 7, 30, 11, 4}, {8}, {21, 22, 3}};

class EachArchitecture : public ::testing::TestWithParam<std::string> {};

TEST_P(EachArchitecture, CacheGivesTheSameGreedyTokensAsRecomputingThePrefix) {
  CausalLM model = random_model(GetParam());
  auto cached = generate(*model, kPrompts, greedy(12));
  auto options = greedy(12);
  options.use_cache = false;
  auto recomputed = generate(*model, kPrompts, options);
  for (size_t row = 0; row < kPrompts.size(); ++row) {
    EXPECT_EQ(cached[row].tokens, recomputed[row].tokens) << "row " << row;
    EXPECT_FALSE(cached[row].tokens.empty());
  }
}

TEST_P(EachArchitecture, BatchedPromptsEqualOneAtATime) {
  CausalLM model = random_model(GetParam());
  auto batched = generate(*model, kPrompts, greedy(10));
  for (size_t row = 0; row < kPrompts.size(); ++row) {
    auto alone = generate(*model, {kPrompts[row]}, greedy(10));
    EXPECT_EQ(batched[row].tokens, alone[0].tokens) << "row " << row;
    EXPECT_EQ(batched[row].finish_reason, alone[0].finish_reason);
  }
}

TEST_P(EachArchitecture, PaddedForwardEqualsUnpaddedLogits) {
  CausalLM model = random_model(GetParam());
  torch::NoGradGuard no_grad;
  auto [tokens, valid] = left_pad(kPrompts, 0, torch::kCPU);
  auto logits = model->forward(tokens, valid);
  for (size_t row = 0; row < kPrompts.size(); ++row) {
    const int64_t n = kPrompts[row].size();
    auto alone = model->forward(torch::tensor(kPrompts[row]).unsqueeze(0))[0];
    auto padded = logits[row].narrow(0, tokens.size(1) - n, n);
    EXPECT_LT((alone - padded).abs().max().item<double>(), 1e-4) << "row " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, EachArchitecture,
                         ::testing::Values("llama", "mistral", "qwen2", "qwen3"));

TEST(Generate, SamplingIsDeterministicUnderASeed) {
  CausalLM model = random_model("llama");
  GenerationOptions options = greedy(16);
  options.temperature = 1.5;
  options.top_k = 20;
  options.top_p = 0.9;
  options.seed = 11;
  auto first = generate(*model, kPrompts, options), again = generate(*model, kPrompts, options);
  options.seed = 12;
  auto other = generate(*model, kPrompts, options);
  bool differs = false;
  for (size_t row = 0; row < kPrompts.size(); ++row) {
    EXPECT_EQ(first[row].tokens, again[row].tokens);
    differs = differs || first[row].tokens != other[row].tokens;
  }
  EXPECT_TRUE(differs) << "another seed should sample other tokens";
}

TEST(Generate, TopKOneAndTinyTopPAreGreedy) {
  torch::manual_seed(5);
  auto logits = torch::randn({4, 50});
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  GenerationOptions options;
  options.temperature = 1.0;
  options.top_k = 1;
  EXPECT_TRUE(torch::equal(pick_next_tokens(logits, options, generator), logits.argmax(-1)));
  options.top_k = 0;
  options.top_p = 1e-6;
  EXPECT_TRUE(torch::equal(pick_next_tokens(logits, options, generator), logits.argmax(-1)));
}

TEST(Generate, StopsOnAStopIdAndReportsWhy) {
  CausalLM model = random_model("qwen2");
  auto free_run = generate(*model, {kPrompts[0]}, greedy(6))[0];
  ASSERT_GE(free_run.tokens.size(), 3u);
  auto options = greedy(6);
  options.stop_ids = {free_run.tokens[2]};
  auto stopped = generate(*model, {kPrompts[0]}, options)[0];
  EXPECT_EQ(stopped.finish_reason, "stop");
  EXPECT_EQ(stopped.tokens.back(), free_run.tokens[2]);
  EXPECT_LE(stopped.tokens.size(), 3u);
  EXPECT_EQ(generate(*model, {kPrompts[0]}, greedy(6))[0].finish_reason, "length");
}

// --- config.json --------------------------------------------------------------------------------

std::string config_error(const std::function<void(json&)>& edit) {
  json raw = {{"model_type", "llama"},  {"vocab_size", 10},       {"hidden_size", 8},
              {"intermediate_size", 8}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
  edit(raw);
  return error_of([&] { parse_causal_lm_config(raw, "dir/config.json"); });
}

TEST(CausalLMConfig, ErrorsNameTheField) {
  EXPECT_TRUE(
      contains(config_error([](json& c) { c["model_type"] = "gpt2"; }), "\"model_type\" 'gpt2'"));
  EXPECT_TRUE(
      contains(config_error([](json& c) { c.erase("hidden_size"); }), "missing \"hidden_size\""));
  EXPECT_TRUE(contains(config_error([](json& c) { c["vocab_size"] = "ten"; }), "\"vocab_size\""));
  EXPECT_TRUE(contains(config_error([](json& c) {
                         c["rope_scaling"] = {{"rope_type", "yarn"}};
                       }),
                       "\"rope_scaling.rope_type\" = \"yarn\""));
  EXPECT_TRUE(contains(config_error([](json& c) { c["mlp_bias"] = true; }), "\"mlp_bias\""));
  EXPECT_TRUE(contains(config_error([](json& c) { c["hidden_act"] = "gelu"; }), "\"hidden_act\""));
  EXPECT_TRUE(contains(config_error([](json& c) {
                         c["model_type"] = "qwen2";
                         c["use_sliding_window"] = true;
                       }),
                       "\"use_sliding_window\""));
  EXPECT_TRUE(contains(config_error([](json& c) {
                         c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
                       }),
                       "rope_scaling.original_max_position_embeddings"));
}

// Zero, negative or infinite scales made every logit NaN; a product of bounded sizes wrapped past
// 2^63 and slipped under the weights-hold-config check.
TEST(CausalLMConfig, ScalesArePositiveAndSizesDoNotOverflow) {
  for (const char* key : {"rope_theta", "rms_norm_eps"}) {
    for (const json value : {json(0), json(-1e-5)}) {
      EXPECT_TRUE(contains(config_error([&](json& c) { c[key] = value; }),
                           std::string("\"") + key + "\" must be a finite number above 0"));
    }
  }
  EXPECT_TRUE(contains(config_error([](json& c) { c["num_attention_heads"] = 3; }),
                       "\"num_attention_heads\" 3"));
  json huge = {{"model_type", "qwen3"},       {"vocab_size", 1 << 24},
               {"hidden_size", 1 << 24},      {"intermediate_size", 1 << 24},
               {"num_hidden_layers", 4096},   {"num_attention_heads", 4096},
               {"num_key_value_heads", 4096}, {"head_dim", 1 << 24}};
  EXPECT_EQ(parameter_count(parse_causal_lm_config(huge, "config.json")),
            std::numeric_limits<int64_t>::max());
}

// --- safetensors and loading
// -----------------------------------------------------------------------

void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header << data;
}

// Writes `tensors` (fp32) as a safetensors file.
void write_safetensors(const std::string& path,
                       const std::map<std::string, torch::Tensor>& tensors) {
  json header = json::object();
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    auto values = tensor.to(torch::kFloat).contiguous();
    header[name] = {{"dtype", "F32"},
                    {"shape", values.sizes().vec()},
                    {"data_offsets", {data.size(), data.size() + values.numel() * 4}}};
    data.append(static_cast<const char*>(values.data_ptr()), values.numel() * 4);
  }
  write_raw(path, header.dump(), data);
}

TEST(Safetensors, ReadsTensorsOverTheMappedFile) {
  const std::string path = test::temp_path("ok.safetensors");
  auto a = torch::randn({3, 4});
  write_safetensors(path, {{"a", a}, {"b", torch::arange(5).to(torch::kFloat)}});
  SafetensorsFile file(path);
  ASSERT_EQ(file.entries().size(), 2u);
  EXPECT_TRUE(torch::equal(file.tensor(*file.find("a")), a));
  EXPECT_EQ(file.find("c"), nullptr);
}

TEST(Safetensors, BadFilesAreClearErrors) {
  const std::string path = test::temp_path("bad.safetensors");
  auto error_for = [&](const std::string& header, const std::string& data) {
    write_raw(path, header, data);
    return error_of([&] { SafetensorsFile file(path); });
  };
  const std::string eight(8, '\0');
  EXPECT_TRUE(contains(
      error_for("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", "1234"),
      "truncated: tensor 'w'"));
  EXPECT_TRUE(contains(
      error_for("{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [8], \"data_offsets\": [0, 8]}}",
                eight),
      "tensor 'w': unknown dtype 'F8_E4M3'"));
  EXPECT_TRUE(contains(
      error_for("{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", eight),
      "tensor 'w': data_offsets [0, 8] hold 8 bytes"));
  EXPECT_TRUE(contains(error_for("{\"w\": [1, 2", eight), "header: not valid JSON"));
  { std::ofstream(path, std::ios::binary) << "abc"; }
  EXPECT_TRUE(contains(error_of([&] { SafetensorsFile file(path); }), "truncated: 3 bytes"));
  {
    std::ofstream out(path, std::ios::binary);
    const uint64_t huge = 1000;
    out.write(reinterpret_cast<const char*>(&huge), 8);
    out << "{}";
  }
  EXPECT_TRUE(contains(error_of([&] { SafetensorsFile file(path); }), "header length 1000"));
}

// A model directory holding `model`'s weights, with `edit` applied to the tensors first.
std::string model_dir(const std::string& name, CausalLM& model, const json& config,
                      const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
  const std::string dir = test::temp_path(name);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump();
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : model->named_parameters()) tensors[item.key()] = item.value().detach();
  edit(tensors);
  write_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

TEST(LoadCausalLM, LoadsByNameAndNamesTheBadTensor) {
  const json config = {
      {"model_type", "qwen3"},    {"vocab_size", 20},       {"hidden_size", 16},
      {"intermediate_size", 24},  {"num_hidden_layers", 1}, {"num_attention_heads", 2},
      {"num_key_value_heads", 1}, {"head_dim", 8},          {"tie_word_embeddings", true}};
  torch::manual_seed(2);
  CausalLM model(parse_causal_lm_config(config, "config.json"));
  const auto tokens = torch::tensor({1, 5, 7}, torch::kLong).unsqueeze(0);
  torch::NoGradGuard no_grad;
  const auto expected = model->forward(tokens);

  auto loaded = load_causal_lm(model_dir("good", model, config, [](auto&) {}));
  EXPECT_TRUE(torch::allclose(loaded->forward(tokens), expected, 1e-6, 1e-6));

  const std::string q_norm = "model.layers.0.self_attn.q_norm.weight";
  EXPECT_TRUE(contains(error_of([&] {
                         load_causal_lm(model_dir("missing", model, config,
                                                  [&](auto& t) { t.erase(q_norm); }));
                       }),
                       "missing tensor '" + q_norm + "'"));
  EXPECT_TRUE(contains(error_of([&] {
                         load_causal_lm(model_dir("shape", model, config,
                                                  [&](auto& t) { t[q_norm] = torch::ones({9}); }));
                       }),
                       "tensor '" + q_norm + "' has shape [9], the model expects [8]"));
  EXPECT_TRUE(contains(error_of([&] {
                         load_causal_lm(model_dir("extra", model, config, [&](auto& t) {
                           t["model.layers.0.self_attn.q_proj.bias"] = torch::ones({16});
                         }));
                       }),
                       "unexpected tensor 'model.layers.0.self_attn.q_proj.bias'"));
  const std::string empty = test::temp_path("empty");
  std::filesystem::create_directories(empty);
  std::ofstream(empty + "/config.json") << config.dump();
  EXPECT_TRUE(contains(error_of([&] { load_causal_lm(empty); }), "model.safetensors.index.json"));
}

}  // namespace
}  // namespace pride
