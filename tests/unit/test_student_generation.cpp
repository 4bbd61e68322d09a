// Student generation (models/student_generation.h): the cached decoder gives the training forward's
// logits (context and response, padded batch, audio frames, PI-free memory); greedy with the KV
// cache equals greedy recomputing the prefix; batched prompts equal one at a time; the memory is
// the one evaluation uses; prompts keep the context's tail.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "models/student_generation.h"
#include "models/student_init.h"
#include "support.h"

namespace pride {
namespace {

using test::greedy;

constexpr int64_t kDecodeVocab = 37, kDecodeAudioDim = 5, kDecodeFrames = 3;

DatasetInfo info() {
  DatasetInfo i;
  i.vocab_size = kDecodeVocab;
  i.num_emotions = 4;
  i.teacher_hidden = 8;
  i.audio_dim = kDecodeAudioDim;
  i.privileged_sources = {"reasoning"};
  return i;
}

// A random student with weights large enough that greedy choices are not near ties.
Student random_student() {
  ModelConfig c;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 48;
  c.max_seq_len = 64;
  c.memory_slots = 3;
  torch::manual_seed(3);
  Student model(c, info());
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, p.dim() == 1 ? 1.0 : 0.3);
  model->eval();
  return model;
}

const std::vector<std::vector<int64_t>> kContexts = {{5, 9, 13, 7, 30, 11, 4}, {8}, {21, 22, 3}};
const std::vector<std::vector<int64_t>> kResponses = {{6, 6, 2}, {17, 30, 4, 2}, {9, 2}};

// The collate layout: context ++ response, right-padded, with row-dependent audio frames.
Batch batch_of(const std::vector<std::vector<int64_t>>& contexts,
               const std::vector<std::vector<int64_t>>& responses) {
  std::vector<std::vector<int64_t>> rows;
  for (size_t r = 0; r < contexts.size(); ++r) {
    rows.push_back(contexts[r]);
    rows.back().insert(rows.back().end(), responses[r].begin(), responses[r].end());
  }
  Batch batch = prompt_batch(rows, 0);
  batch.context_mask.zero_();
  for (size_t r = 0; r < contexts.size(); ++r) {
    batch.context_mask[r].narrow(0, 0, contexts[r].size()).fill_(true);
  }
  const int64_t b = contexts.size();
  batch.audio = torch::randn({b, kDecodeFrames, kDecodeAudioDim});
  batch.audio_mask = torch::ones({b, kDecodeFrames}, torch::kBool);
  if (b > 1) batch.audio_mask[1][2] = false;  // a row with fewer frames
  return batch;
}

// Row `row` of batch_of(kContexts, kResponses) alone, with the same audio frames.
Batch one_row(const Batch& batch, size_t row) {
  Batch one = batch_of({kContexts[row]}, {kResponses[row]});
  one.audio = batch.audio.narrow(0, row, 1);
  one.audio_mask = batch.audio_mask.narrow(0, row, 1);
  return one;
}

TEST(StudentDecoding, CachedLogitsEqualTheTrainingForward) {
  Student model = random_student();
  torch::manual_seed(5);
  const Batch batch = batch_of(kContexts, kResponses);
  torch::NoGradGuard no_grad;
  const auto full = model->forward(batch).logits;
  // All rows at once, left-padded, through the batch's memory.
  StudentDecoder decoder(model, model->inference_memory(batch));
  auto [tokens, valid] = left_pad(kContexts, 0, torch::kCPU);
  DecodeState batched = decoder.start(tokens.size(0), tokens.size(1));
  const auto padded = decoder.forward_cached(tokens, valid, batched, true);
  for (size_t row = 0; row < kContexts.size(); ++row) {
    const int64_t n = kContexts[row].size();
    const auto difference =
        padded[row].narrow(0, tokens.size(1) - n, n) - full[row].narrow(0, 0, n);
    EXPECT_LT(difference.abs().max().item<double>(), 1e-4) << "padded row " << row;
  }
  for (size_t row = 0; row < kContexts.size(); ++row) {
    // Row alone, fed in two pieces (context, then response one token at a time) through the cache.
    StudentDecoder alone(model, model->inference_memory(one_row(batch, row)));
    const auto& context = kContexts[row];
    DecodeState state = alone.start(1, context.size() + kResponses[row].size());
    std::vector<torch::Tensor> pieces = {
        alone.forward_cached(torch::tensor(context).unsqueeze(0), {}, state, true)[0]};
    for (int64_t token : kResponses[row]) {
      pieces.push_back(
          alone.forward_cached(torch::tensor({token}).unsqueeze(0), {}, state, true)[0]);
    }
    const auto cached = torch::cat(pieces, 0);
    const auto expected = full[row].narrow(0, 0, cached.size(0));
    EXPECT_LT((cached - expected).abs().max().item<double>(), 1e-4) << "row " << row;
  }
}

TEST(StudentDecoding, AudioFramesChangeTheLogits) {
  Student model = random_student();
  torch::manual_seed(5);
  Batch batch = batch_of(kContexts, kResponses);
  torch::NoGradGuard no_grad;
  auto with_audio = model->inference_memory(batch);
  batch.audio = batch.audio * 3.0;
  auto louder = model->inference_memory(batch);
  EXPECT_GT((with_audio.values - louder.values).abs().max().item<double>(), 1e-3);
}

TEST(StudentGeneration, CacheGivesTheSameGreedyTokensAsRecomputingThePrefix) {
  Student model = random_student();
  torch::manual_seed(5);
  const Batch batch = batch_of(kContexts, kResponses);
  auto cached = generate_responses(model, batch, greedy(12), 64);
  auto options = greedy(12);
  options.use_cache = false;
  auto recomputed = generate_responses(model, batch, options, 64);
  for (size_t row = 0; row < kContexts.size(); ++row) {
    EXPECT_EQ(cached[row].tokens, recomputed[row].tokens) << "row " << row;
    EXPECT_FALSE(cached[row].tokens.empty());
  }
}

TEST(StudentGeneration, BatchedPromptsEqualOneAtATime) {
  Student model = random_student();
  torch::manual_seed(5);
  const Batch batch = batch_of(kContexts, kResponses);
  auto batched = generate_responses(model, batch, greedy(10), 64);
  for (size_t row = 0; row < kContexts.size(); ++row) {
    auto alone = generate_responses(model, one_row(batch, row), greedy(10), 64);
    EXPECT_EQ(batched[row].tokens, alone[0].tokens) << "row " << row;
  }
}

TEST(StudentGeneration, MinNewTokensHoldsBackTheStopIds) {
  Student model = random_student();
  torch::manual_seed(5);
  const Batch batch = batch_of(kContexts, kResponses);
  auto options = greedy(8);
  const auto free = generate_responses(model, batch, options, 64);
  options.stop_ids = {free[0].tokens[0]};  // row 0 would stop at once
  options.min_new_tokens = 3;
  const auto held = generate_responses(model, batch, options, 64);
  ASSERT_GE(held[0].tokens.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NE(held[0].tokens[i], options.stop_ids[0]);
  options.min_new_tokens = 0;
  EXPECT_EQ(generate_responses(model, batch, options, 64)[0].tokens.size(), 1u);
}

TEST(StudentGeneration, PromptsAreTheContextsTailAndStopAtEos) {
  const Batch batch = batch_of(kContexts, kResponses);
  const auto prompts = context_prompts(batch, 4, 1);
  EXPECT_EQ(prompts[0], (std::vector<int64_t>{7, 30, 11, 4}));
  EXPECT_EQ(prompts[1], (std::vector<int64_t>{8}));
  Generation stopped{{4, 9, 2}, "stop"};
  EXPECT_EQ(response_tokens(stopped), (std::vector<int64_t>{4, 9}));
  Generation cut{{4, 9, 2}, "length"};
  EXPECT_EQ(response_tokens(cut), (std::vector<int64_t>{4, 9, 2}));
}

// A student card's data shape sizes the student's layers: a damaged one is named before anything
// is allocated (a negative width reached LibTorch; a float was truncated).
TEST(StudentCard, DataShapeOutOfRangeOrMistypedIsNamed) {
  StudentSpec spec;
  spec.info.vocab_size = 24;
  spec.info.num_emotions = 3;
  spec.info.topk = 2;
  spec.info.teacher_hidden = 4;
  spec.info.privileged_sources = {"reasoning"};
  const nlohmann::json card = spec.to_json();
  EXPECT_NO_THROW(StudentSpec::from_json(card, "student.json"));
  const auto error_for = [&](const char* key, const nlohmann::json& value) {
    nlohmann::json hostile = card;
    hostile["data"][key] = value;
    return test::error_of([&] { StudentSpec::from_json(hostile, "student.json"); });
  };
  EXPECT_TRUE(test::contains(error_for("audio_dim", -1),
                             "student.json: \"data.audio_dim\" must be in [0, 16777216], got -1"));
  EXPECT_TRUE(test::contains(error_for("vocab_size", int64_t{1} << 40), "\"data.vocab_size\""));
  EXPECT_TRUE(test::contains(error_for("eos_id", 24), "\"data.eos_id\" must be in [0, 23]"));
  EXPECT_TRUE(test::contains(error_for("topk", 1.5),
                             "student.json: \"data.topk\" must be an integer, got 1.5"));
}

}  // namespace
}  // namespace pride
