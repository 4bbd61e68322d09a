// generate(): the decoding loop over an IncrementalDecoder, and token selection.
#include "models/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <limits>

#include "util/error.h"

namespace pride {

std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts,
                                                 int64_t pad_id, torch::Device device) {
  size_t longest = 0, shortest = std::numeric_limits<size_t>::max();
  for (const auto& prompt : prompts) {
    longest = std::max(longest, prompt.size());
    shortest = std::min(shortest, prompt.size());
  }
  auto tokens = torch::full({int64_t(prompts.size()), int64_t(longest)}, pad_id, torch::kLong);
  auto valid = torch::zeros(tokens.sizes(), torch::kBool);
  for (size_t row = 0; row < prompts.size(); ++row) {
    const int64_t n = prompts[row].size(), start = longest - n;
    tokens[row].narrow(0, start, n).copy_(torch::tensor(prompts[row], torch::kLong));
    valid[row].narrow(0, start, n).fill_(true);
  }
  return {tokens.to(device), shortest == longest ? torch::Tensor() : valid.to(device)};
}

torch::Tensor pick_next_tokens(const torch::Tensor& all_logits, const GenerationOptions& options,
                               at::Generator& generator) {
  const int64_t limit = options.vocab_limit;
  const torch::Tensor logits = limit > 0 && limit < all_logits.size(-1)
                                   ? all_logits.narrow(-1, 0, limit)
                                   : all_logits;  // ids keep their values: the kept rows come first
  if (options.temperature <= 0.0) return logits.argmax(-1);
  auto scaled = logits.to(torch::kFloat).cpu() / options.temperature;
  const double minus_inf = -std::numeric_limits<double>::infinity();
  if (options.top_k > 0 && options.top_k < scaled.size(-1)) {
    auto kth = std::get<0>(scaled.topk(options.top_k, -1)).narrow(-1, options.top_k - 1, 1);
    scaled = scaled.masked_fill(scaled < kth, minus_inf);
  }
  if (options.top_p < 1.0) {
    // Keep the likeliest tokens until their mass reaches top_p (the first one always).
    auto [sorted, order] = scaled.sort(-1, /*descending=*/true);
    auto probs = sorted.softmax(-1);
    auto mass_before = probs.cumsum(-1) - probs;
    auto drop_sorted = mass_before >= options.top_p;
    auto drop = torch::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
    scaled = scaled.masked_fill(drop, minus_inf);
  }
  return torch::multinomial(scaled.softmax(-1), 1, /*replacement=*/false, generator)
      .squeeze(-1)
      .to(logits.device());
}

namespace {

void check_prompts(const std::vector<std::vector<int64_t>>& prompts, int64_t vocab) {
  if (prompts.empty()) fail("generate: no prompts");
  for (size_t row = 0; row < prompts.size(); ++row) {
    if (prompts[row].empty()) fail("generate: prompt {} is empty", row);
    for (int64_t id : prompts[row]) {
      if (id < 0 || id >= vocab) {
        fail("generate: prompt {} holds token id {} outside [0, {})", row, id, vocab);
      }
    }
  }
}

}  // namespace

std::vector<Generation> generate(IncrementalDecoder& model,
                                 const std::vector<std::vector<int64_t>>& prompts,
                                 const GenerationOptions& options, torch::Device device) {
  check_prompts(prompts, model.vocab_size());
  if (options.max_new_tokens < 0) fail("generate: max_new_tokens must be >= 0");
  if (options.min_new_tokens < 0) fail("generate: min_new_tokens must be >= 0");
  if (options.top_p <= 0.0 || options.top_p > 1.0) fail("generate: top_p must be in (0, 1]");
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const int64_t pad_id = 0;  // any id: pads are never attended to
  auto [tokens, valid] = left_pad(prompts, pad_id, device);
  const int64_t rows = tokens.size(0), capacity = tokens.size(1) + options.max_new_tokens;
  auto stop_ids =
      torch::tensor(options.stop_ids.empty() ? std::vector<int64_t>{-1} : options.stop_ids,
                    torch::dtype(torch::kLong).device(device));

  std::vector<Generation> out(rows, Generation{{}, "length"});
  auto done = torch::zeros({rows}, torch::dtype(torch::kBool).device(device));
  DecodeState state = model.start(rows, capacity);
  auto logits = model.forward_cached(tokens, valid, state, false).select(1, 0);
  // Stop ids masked out while a response is shorter than min_new_tokens.
  std::vector<int64_t> stoppable;
  for (int64_t id : options.stop_ids) {
    if (id >= 0 && id < model.vocab_size()) stoppable.push_back(id);
  }
  const auto suppressed = torch::tensor(stoppable, torch::dtype(torch::kLong).device(device));
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    if (step < options.min_new_tokens && !stoppable.empty()) {
      logits = logits.index_fill(-1, suppressed, -std::numeric_limits<double>::infinity());
    }
    auto next = pick_next_tokens(logits, options, generator);
    next = torch::where(done, torch::full_like(next, pad_id), next);
    const auto stopped = (next.unsqueeze(1) == stop_ids).any(1) & done.logical_not();
    const auto host_next = next.cpu(), host_done = done.cpu(), host_stopped = stopped.cpu();
    for (int64_t row = 0; row < rows; ++row) {
      if (host_done[row].item<bool>()) continue;
      out[row].tokens.push_back(host_next[row].item<int64_t>());
      if (host_stopped[row].item<bool>()) out[row].finish_reason = "stop";
    }
    done = done | stopped;
    if (done.all().item<bool>() || step + 1 == options.max_new_tokens) break;
    if (options.use_cache) {
      logits = model.forward_cached(next.unsqueeze(1), {}, state, false).select(1, 0);
    } else {  // the whole prefix again, from a fresh state
      tokens = torch::cat({tokens, next.unsqueeze(1)}, 1);
      if (valid.defined())
        valid = torch::cat({valid, torch::ones_like(next, torch::kBool).unsqueeze(1)}, 1);
      DecodeState fresh = model.start(rows, tokens.size(1));
      logits = model.forward_cached(tokens, valid, fresh, false).select(1, 0);
    }
  }
  return out;
}

}  // namespace pride
