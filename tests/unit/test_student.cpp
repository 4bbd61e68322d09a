// The PRIDE student: shapes, causality over the response, padding invariance, running without PI,
// per-row real/predicted PI memory, what the PI predictor reads, alignment loss, which parameters
// the MMD features train, GQA, deterministic init, that a few Adam steps on a fixed batch lower
// the cross-entropy, and that activation checkpointing leaves every gradient as it was.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "models/losses.h"
#include "models/student.h"
#include "support.h"
#include "util/error.h"
#include "util/torch_compat.h"

namespace pride {
namespace {

constexpr int64_t kVocab = 40, kPad = 0, kAudioDim = 6, kEmotions = 5, kTeacherHidden = 12;

ModelConfig tiny_config() {
  return test::small_student_config();
}

DatasetInfo tiny_info() {
  DatasetInfo info;
  info.vocab_size = kVocab;
  info.num_emotions = kEmotions;
  info.teacher_hidden = kTeacherHidden;
  info.audio_dim = kAudioDim;
  info.privileged_sources = {"annotation", "reasoning"};
  return info;
}

struct Row {
  std::vector<int64_t> context, response;
  int64_t audio_frames = 3;
};

std::vector<int64_t> random_ids(int64_t n) {
  auto t = torch::randint(3, kVocab, {n}, torch::kLong);
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

Row random_row(int64_t context_len, int64_t response_len) {
  return {random_ids(context_len), random_ids(response_len)};
}

// A padded batch in the collate layout (context, response, pad), with audio frames but no PI.
Batch make_batch(const std::vector<Row>& rows, int64_t length) {
  const int64_t b = rows.size(), frames = 4;
  Batch batch;
  batch.tokens = torch::full({b, length}, kPad, torch::kLong);
  batch.context_mask = torch::zeros({b, length}, torch::kBool);
  batch.response_mask = torch::zeros({b, length}, torch::kBool);
  batch.targets = torch::full({b, length}, kPad, torch::kLong);
  batch.emotion = torch::arange(b, torch::kLong) % kEmotions;
  batch.audio = torch::zeros({b, frames, kAudioDim});
  batch.audio_mask = torch::zeros({b, frames}, torch::kBool);
  for (int64_t r = 0; r < b; ++r) {
    std::vector<int64_t> ids = rows[r].context;
    ids.insert(ids.end(), rows[r].response.begin(), rows[r].response.end());
    const int64_t n = ids.size(), c = rows[r].context.size();
    batch.tokens[r].slice(0, 0, n).copy_(torch::tensor(ids, torch::kLong));
    batch.context_mask[r].slice(0, 0, c).fill_(true);
    batch.response_mask[r].slice(0, c - 1, n - 1).fill_(true);
    batch.targets[r].slice(0, c - 1, n - 1).copy_(batch.tokens[r].slice(0, c, n));
    // Audio frame f of row r is a fixed function of (r, f), so rows stay reproducible.
    for (int64_t f = 0; f < rows[r].audio_frames; ++f) {
      batch.audio[r][f] = torch::sin(torch::arange(kAudioDim) * (f + 1) + double(ids[0]));
      batch.audio_mask[r][f] = true;
    }
    batch.indices.push_back(100 + r);
  }
  batch.response_tokens = batch.response_mask.sum().item<int64_t>();
  return batch;
}

// Adds both privileged sources, with row-dependent lengths.
void add_privileged(Batch& batch) {
  const int64_t b = batch.size();
  for (const auto& [name, length] : {std::pair<std::string, int64_t>{"reasoning", 5},
                                     std::pair<std::string, int64_t>{"annotation", 3}}) {
    batch.privileged[name] = torch::randint(3, kVocab, {b, length}, torch::kLong);
    auto mask = torch::ones({b, length}, torch::kBool);
    mask[0].slice(0, length - 1).fill_(false);
    batch.privileged_mask[name] = mask;
  }
}

Student make_student(ModelConfig config = tiny_config(), uint64_t seed = 1) {
  torch::manual_seed(seed);
  return Student(config, tiny_info());
}

bool same(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::allclose(a, b, 1e-5, 1e-6);
}

class StudentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(42);
    rows = {random_row(4, 3), random_row(6, 4)};
    batch = make_batch(rows, 12);
  }
  Student student = make_student();
  std::vector<Row> rows;
  Batch batch;
};

TEST_F(StudentTest, OutputShapes) {
  auto out = student->forward(batch);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 12, kVocab}));
  EXPECT_EQ(out.logits.scalar_type(), torch::kFloat);
  EXPECT_EQ(out.emotion_logits.sizes(), (std::vector<int64_t>{2, kEmotions}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{2, kTeacherHidden}));
  EXPECT_FALSE(out.pi_align.defined());
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
}

// Logits of the response positions only are the full logits at those positions, and the loss
// terms and log-likelihoods of those rows are token_loss_sums' and sequence_logps' (the trainer's,
// evaluator's and DPO's path against the masked full logits), with collate's rows or, for a batch
// built without them, rows from the mask.
TEST_F(StudentTest, ResponseLogitsAreTheFullLogitsAtTheResponsePositions) {
  batch.topk_ids = torch::randint(kVocab, {2, 12, 3}, torch::kLong);
  batch.topk_logprobs = torch::log_softmax(torch::randn({2, 12, 4}), -1).narrow(2, 0, 3);
  const auto full = student->forward(batch).logits;
  Batch with_rows = batch;  // as collate makes it
  with_rows.response_rows = batch.response_mask.reshape(-1).nonzero().squeeze(1);
  for (const Batch* b : {&with_rows, &batch}) {
    const auto out = student->forward(*b, {}, LogitRows::response);
    EXPECT_FALSE(out.logits.defined());
    const auto rows = b->response_rows_of();
    EXPECT_EQ(rows.size(0), batch.response_mask.sum().item<int64_t>());
    EXPECT_TRUE(
        torch::allclose(out.response_logits, full.index({batch.response_mask}), 1e-6, 1e-6));
    const auto of_rows = token_loss_sums_of_rows(out.response_logits, rows_at(batch.targets, rows),
                                                 rows_at(batch.topk_ids, rows),
                                                 rows_at(batch.topk_logprobs, rows), 1.0, true);
    const auto masked = token_loss_sums(full, batch.targets, batch.topk_ids, batch.topk_logprobs,
                                        batch.response_mask, 1.0, true);
    EXPECT_NEAR(of_rows.ce.item<double>(), masked.ce.item<double>(), 1e-5);
    EXPECT_NEAR(of_rows.rkl.item<double>(), masked.rkl.item<double>(), 1e-5);
    EXPECT_NEAR(
        cross_entropy_sum_of_rows(out.response_logits, rows_at(batch.targets, rows)).item<double>(),
        masked.ce.item<double>(), 1e-5);
    const auto response = response_token_losses(out.response_logits, *b, 1.0, true);
    EXPECT_EQ(response.ce.item<double>(), of_rows.ce.item<double>());
    EXPECT_EQ(response.rkl.item<double>(), of_rows.rkl.item<double>());
    EXPECT_EQ(response_cross_entropy(out.response_logits, *b).item<double>(),
              of_rows.ce.item<double>());
    // Each row's log-likelihood of its response, as sequence_logps gives it from the full logits.
    EXPECT_TRUE(torch::allclose(response_logps(out.response_logits, *b),
                                sequence_logps(full, batch.targets, batch.response_mask), 1e-6,
                                1e-5));
  }
}

TEST_F(StudentTest, ChangingAFutureResponseTokenLeavesEarlierLogitsUnchanged) {
  const int64_t changed_at = 7;  // row 1: context 0..5, response 6..9
  auto before = student->forward(batch).logits;
  Batch edited = batch;
  edited.tokens = batch.tokens.clone();
  edited.tokens[1][changed_at] = (edited.tokens[1][changed_at].item<int64_t>() + 1) % kVocab;
  auto after = student->forward(edited).logits;
  EXPECT_TRUE(same(before[1].slice(0, 0, changed_at), after[1].slice(0, 0, changed_at)));
  EXPECT_FALSE(same(before[1][changed_at], after[1][changed_at]));
  EXPECT_TRUE(same(before[0], after[0]));
}

TEST_F(StudentTest, PaddingDoesNotChangeRealPositions) {
  auto alone = student->forward(make_batch({rows[0]}, 7));
  auto padded = student->forward(batch);  // row 0 padded from 7 to 12 next to a longer row
  EXPECT_TRUE(same(alone.logits[0], padded.logits[0].slice(0, 0, 7)));
  EXPECT_TRUE(same(alone.emotion_logits[0], padded.emotion_logits[0]));
  EXPECT_TRUE(same(alone.features[0], padded.features[0]));
}

TEST_F(StudentTest, WithoutPiFlagThePrivilegedMapIsNeverRead) {
  auto reference = student->forward(batch, {});
  Batch with_pi = batch;
  add_privileged(with_pi);
  auto ignored = student->forward(with_pi, {/*use_pi=*/false, torch::ones({2}, torch::kBool)});
  EXPECT_TRUE(torch::equal(reference.logits, ignored.logits));
  EXPECT_FALSE(ignored.pi_align.defined());
  // Garbage PI (unknown source, out-of-vocabulary ids) is fine when it is not read.
  Batch garbage = batch;
  garbage.privileged["nonsense"] = torch::full({2, 3}, 10 * kVocab, torch::kLong);
  EXPECT_TRUE(torch::equal(reference.logits, student->forward(garbage).logits));
  // use_pi with an empty map (evaluation) runs on predicted slots only.
  auto empty = student->forward(batch, {true, torch::ones({2}, torch::kBool)});
  EXPECT_TRUE(torch::equal(reference.logits, empty.logits));
  EXPECT_FALSE(empty.pi_align.defined());
}

TEST_F(StudentTest, RealPiRowsSwitchTheMemoryPerRow) {
  add_privileged(batch);
  auto predicted_only = student->forward(batch, {true, torch::tensor({false, false})});
  auto first_real = student->forward(batch, {true, torch::tensor({true, false})});
  EXPECT_FALSE(same(predicted_only.logits[0], first_real.logits[0]));
  EXPECT_TRUE(same(predicted_only.logits[1], first_real.logits[1]));
  // No real rows: the same as evaluation without PI.
  Batch evaluation = batch;
  evaluation.privileged.clear();
  evaluation.privileged_mask.clear();
  EXPECT_TRUE(same(predicted_only.logits, student->forward(evaluation).logits));
}

TEST_F(StudentTest, AlignmentLossIsPerSampleNonNegativeAndTrainsOnlyThePredictor) {
  add_privileged(batch);
  auto out = student->forward(batch, {true, torch::tensor({true, false})});
  ASSERT_TRUE(out.pi_align.defined());
  EXPECT_EQ(out.pi_align.sizes(), (std::vector<int64_t>{2}));
  EXPECT_TRUE((out.pi_align > 0).all().item<bool>());
  out.pi_align.sum().backward();
  for (const auto& p : student->named_parameters()) {
    const bool has_grad =
        p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0;
    if (p.key().rfind("pi_encoder.", 0) == 0) {
      EXPECT_FALSE(has_grad) << p.key();
    } else if (p.key().rfind("pi_predictor.", 0) == 0) {
      EXPECT_TRUE(has_grad) << p.key();
    }
  }
}

// Which parameters the MMD features reach decides what the MMD can reshape: from the PI slots,
// the slot encoder/predictor and never the decoder layers or the LM head; from the response, the
// decoder too. Row 0 reads real PI, row 1 predicted slots.
TEST_F(StudentTest, FeatureSourceDecidesWhichParametersTheFeaturesTrain) {
  add_privileged(batch);
  for (const std::string source : {"pi_slots", "response"}) {
    ModelConfig config = tiny_config();
    config.feature_source = source;
    Student model = make_student(config);
    model->forward(batch, {true, torch::tensor({true, false})}).features.pow(2).sum().backward();
    auto trained = [&](const std::string& prefix) {
      for (const auto& p : model->named_parameters()) {
        const auto& grad = p.value().grad();
        if (p.key().rfind(prefix, 0) == 0 && grad.defined() && grad.abs().sum().item<double>() > 0)
          return true;
      }
      return false;
    };
    const bool from_slots = source == "pi_slots";
    EXPECT_TRUE(trained("feature_head.")) << source;
    EXPECT_TRUE(trained("pi_encoder.")) << source;
    EXPECT_TRUE(trained("pi_predictor.")) << source;
    EXPECT_EQ(trained("layers."), !from_slots) << source;
    EXPECT_EQ(trained("norm."), !from_slots) << source;
  }
}

// The PI predictor reads what inference has: the context and the frames, never the response.
TEST_F(StudentTest, PredictedSlotsReadContextAndFramesButNotTheResponse) {
  const auto reference = student->forward(batch).features;
  Batch other_audio = batch;
  other_audio.audio = batch.audio + 1.0;
  EXPECT_FALSE(same(reference[0], student->forward(other_audio).features[0]));
  Batch other_response = batch;
  other_response.tokens = batch.tokens.clone();
  other_response.tokens[1][8] = (other_response.tokens[1][8].item<int64_t>() + 1) % kVocab;
  EXPECT_TRUE(same(reference, student->forward(other_response).features));
  Batch other_context = batch;
  other_context.tokens = batch.tokens.clone();
  other_context.tokens[1][2] = (other_context.tokens[1][2].item<int64_t>() + 1) % kVocab;
  EXPECT_FALSE(same(reference[1], student->forward(other_context).features[1]));
}

TEST(Student, UnknownFeatureSourceIsAnError) {
  ModelConfig config = tiny_config();
  config.feature_source = "context";
  EXPECT_THROW(make_student(config), Error);
}

TEST_F(StudentTest, UnknownPrivilegedSourceIsAnError) {
  add_privileged(batch);
  batch.privileged["gossip"] = batch.privileged["reasoning"];
  EXPECT_THROW(student->forward(batch, {true, torch::tensor({true, true})}), Error);
}

TEST_F(StudentTest, BadTokensAndOverlongSequencesAreErrorsNamingTheSample) {
  Batch bad = batch;
  bad.tokens = batch.tokens.clone();
  bad.tokens[1][2] = kVocab;
  try {
    student->forward(bad);
    FAIL() << "expected pride::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 101"), std::string::npos) << e.what();
  }
  EXPECT_THROW(student->forward(make_batch({random_row(30, 10)}, 40)), Error);
}

TEST(Student, GroupedQueryAttentionShapesAndValidation) {
  torch::manual_seed(5);
  Batch batch = make_batch({random_row(3, 3)}, 6);
  for (int64_t kv_heads : {1, 2, 4}) {
    ModelConfig config = tiny_config();
    config.n_kv_heads = kv_heads;
    Student student = make_student(config);
    const int64_t head_dim = config.d_model / config.n_heads;
    auto params = student->named_parameters();
    EXPECT_EQ(params["layers.0.self_attn.k_proj.weight"].size(0), kv_heads * head_dim);
    EXPECT_EQ(params["layers.0.self_attn.q_proj.weight"].size(0), config.d_model);
    EXPECT_TRUE(torch::isfinite(student->forward(batch).logits).all().item<bool>());
  }
  ModelConfig bad = tiny_config();
  bad.n_kv_heads = 3;
  EXPECT_THROW(make_student(bad), Error);
}

TEST(Student, InitIsDeterministicUnderManualSeedWithLlamaNames) {
  auto a = make_student(tiny_config(), 7)->named_parameters();
  auto b = make_student(tiny_config(), 7)->named_parameters();
  auto c = make_student(tiny_config(), 8)->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  bool any_differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key(), b[i].key());
    EXPECT_TRUE(torch::equal(a[i].value(), b[i].value())) << a[i].key();
    any_differs |= !torch::equal(a[i].value(), c[i].value());
  }
  EXPECT_TRUE(any_differs);
  EXPECT_EQ(a[0].key(), "embed_tokens.weight");
  for (const char* name :
       {"layers.1.self_attn.o_proj.weight", "layers.0.mlp.gate_proj.weight",
        "layers.0.mlp.down_proj.weight", "layers.0.input_layernorm.weight",
        "layers.0.post_attention_layernorm.weight", "norm.weight", "lm_head.weight"}) {
    EXPECT_NE(a.find(name), nullptr) << name;
  }
  EXPECT_TRUE(torch::equal(a["norm.weight"], torch::ones({32})));
  EXPECT_NEAR(a["lm_head.weight"].std().item<double>(), 0.02, 0.002);
  EXPECT_TRUE(torch::equal(a["emotion_head.bias"], torch::zeros({kEmotions})));
}

TEST(Student, NumParametersCountsEveryParameter) {
  Student student = make_student();
  int64_t total = 0;
  for (const auto& p : student->parameters()) total += p.numel();
  EXPECT_EQ(student->num_parameters(), total);
  EXPECT_GT(total, 2 * kVocab * 32);
}

TEST(Student, AdamStepsOnAFixedBatchLowerTheCrossEntropy) {
  torch::manual_seed(11);
  Batch batch = make_batch({random_row(5, 6), random_row(4, 8), random_row(6, 5)}, 13);
  add_privileged(batch);
  Student student = make_student();
  torch::optim::Adam adam(student->parameters(), torch::optim::AdamOptions(1e-2));
  const PiUsage pi{true, torch::tensor({true, false, true})};
  auto ce = [&] {
    auto out = student->forward(batch, pi);
    return std::make_pair(cross_entropy_sum(out.logits, batch.targets, batch.response_mask) /
                              double(batch.response_tokens),
                          out.pi_align.mean());
  };
  const double initial = ce().first.item<double>();
  for (int step = 0; step < 25; ++step) {
    adam.zero_grad();
    auto [loss, align] = ce();
    (loss + align).backward();
    adam.step();
  }
  const double final_ce = ce().first.item<double>();
  EXPECT_LT(final_ce, 0.5 * initial) << "initial " << initial;
}

// One training step's parameter gradients, accumulated into .grad over `micro` micro-batches
// (under bf16 autocast if asked), with every output in the loss and real PI on the first row;
// also how often each parameter's accumulate-grad hook ran (the gradient sync's trigger).
struct StepGradients {
  std::vector<torch::Tensor> grads;
  std::vector<int> hook_runs;
};

StepGradients step_gradients(const std::vector<Batch>& micro, bool checkpointing, bool bf16) {
  Student student = make_student();
  student->set_activation_checkpointing(checkpointing);
  const auto params = student->parameters();
  StepGradients out;
  out.hook_runs.assign(params.size(), 0);
  std::vector<std::unique_ptr<compat::PostAccumulateGradHook>> hooks;
  for (size_t i = 0; i < params.size(); ++i) {
    hooks.push_back(std::make_unique<compat::PostAccumulateGradHook>(
        params[i], [&out, i] { ++out.hook_runs[i]; }));
  }
  for (const Batch& batch : micro) {
    StudentOutput y;
    {
      compat::AutocastGuard autocast(torch::Device(torch::kCPU), bf16);
      y = student->forward(batch, {true, torch::tensor({true, false})});
    }
    auto loss = cross_entropy_sum(y.logits, batch.targets, batch.response_mask) +
                y.emotion_logits.to(torch::kFloat).pow(2).sum() +
                y.features.to(torch::kFloat).pow(2).sum() + y.pi_align.to(torch::kFloat).sum();
    loss.backward();
  }
  for (const auto& p : params) out.grads.push_back(p.grad().clone());
  return out;
}

// train.activation_checkpointing recomputes each decoder block in backward: every parameter's
// gradient (decoder blocks, and through the memory the PI encoder/predictor and frame
// projections) is that of the plain step, over two accumulated micro-batches, in fp32 and under
// bf16 autocast (which the recompute must re-enter), and each accumulate-grad hook runs once per
// micro-batch as before.
TEST(Student, ActivationCheckpointingKeepsEveryGradient) {
  torch::manual_seed(5);
  std::vector<Batch> micro = {make_batch({random_row(4, 3), random_row(6, 4)}, 12),
                              make_batch({random_row(5, 5), random_row(3, 6)}, 11)};
  for (Batch& batch : micro) add_privileged(batch);
  for (const bool bf16 : {false, true}) {
    const auto plain = step_gradients(micro, /*checkpointing=*/false, bf16);
    const auto checkpointed = step_gradients(micro, /*checkpointing=*/true, bf16);
    const auto names = make_student()->named_parameters().keys();
    for (size_t i = 0; i < names.size(); ++i) {
      const auto& a = plain.grads[i];
      const auto& b = checkpointed.grads[i];
      ASSERT_GT(a.norm().item<double>(), 0) << names[i];
      const double relative = (a - b).norm().item<double>() / a.norm().item<double>();
      EXPECT_LE(relative, 1e-6) << names[i] << (bf16 ? " bf16" : " fp32");
      EXPECT_EQ(plain.hook_runs[i], 2) << names[i];
      EXPECT_EQ(checkpointed.hook_runs[i], 2) << names[i];
    }
  }
}

}  // namespace
}  // namespace pride
