// Implements models/student_generation.h.
#include "models/student_generation.h"

#include <algorithm>

#include "util/error.h"

namespace pride {

std::vector<std::vector<int64_t>> context_prompts(const Batch& batch, int64_t max_tokens,
                                                  int64_t bos_id) {
  const auto tokens = batch.tokens.cpu();
  const auto mask = batch.context_mask.cpu();
  std::vector<std::vector<int64_t>> prompts(batch.size());
  for (int64_t row = 0; row < batch.size(); ++row) {
    auto& prompt = prompts[row];
    for (int64_t t = 0; t < tokens.size(1); ++t) {
      if (mask[row][t].item<bool>()) prompt.push_back(tokens[row][t].item<int64_t>());
    }
    if (int64_t(prompt.size()) > max_tokens)
      prompt.erase(prompt.begin(), prompt.end() - max_tokens);
    if (prompt.empty()) prompt.push_back(bos_id);
  }
  return prompts;
}

Batch prompt_batch(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id) {
  if (prompts.empty()) fail("generate: no prompts");
  size_t longest = 0;
  for (const auto& prompt : prompts) longest = std::max(longest, prompt.size());
  Batch batch;
  const int64_t rows = prompts.size();
  batch.tokens = torch::full({rows, int64_t(longest)}, pad_id, torch::kLong);
  batch.context_mask = torch::zeros({rows, int64_t(longest)}, torch::kBool);
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = prompts[row].size();
    if (n == 0) fail("generate: prompt {} is empty", row);
    batch.tokens[row].narrow(0, 0, n).copy_(torch::tensor(prompts[row], torch::kLong));
    batch.context_mask[row].narrow(0, 0, n).fill_(true);
    batch.indices.push_back(row);
  }
  batch.response_mask = torch::zeros_like(batch.context_mask);
  return batch;
}

std::vector<Generation> generate_responses(Student& model, const Batch& batch,
                                           GenerationOptions options, int64_t max_seq_len) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t room = max_seq_len - options.max_new_tokens;
  if (room < 1) {
    fail("generate: max_new_tokens {} leaves no room for a prompt in model.max_seq_len {}",
         options.max_new_tokens, max_seq_len);
  }
  const auto& info = model->info();
  const auto prompts = context_prompts(batch, room, info.bos_id);
  const auto& eos = model->arch().eos_ids;
  options.stop_ids.insert(options.stop_ids.end(), eos.begin(), eos.end());
  const torch::Device device = model->parameters().front().device();
  StudentDecoder decoder(model, model->inference_memory(batch.to(device)));
  auto out = generate(decoder, prompts, options, device);
  if (was_training) model->train();
  return out;
}

std::vector<int64_t> response_tokens(const Generation& generation) {
  const size_t kept = generation.tokens.size() - (generation.finish_reason == "stop" ? 1 : 0);
  return {generation.tokens.begin(), generation.tokens.begin() + kept};
}

}  // namespace pride
