// collate() and Batch::to(): padding samples into the student's batch layout (data/sample.h).
#include "data/batch.h"

#include <algorithm>

#include "util/error.h"

namespace pride {
namespace {

// Which part of a sample's context and response fits into max_seq_len.
struct RowSpan {
  int64_t context_begin = 0;  // first kept context token
  int64_t context_len = 0;    // kept context tokens
  int64_t response_len = 0;   // kept response tokens
  int64_t length() const { return context_len + response_len; }
};

RowSpan fit_row(const Sample& sample, int64_t max_seq_len) {
  const auto context = static_cast<int64_t>(sample.context.size());
  const auto response = static_cast<int64_t>(sample.response.size());
  RowSpan span;
  span.response_len = std::min(response, context > 0 ? max_seq_len - 1 : max_seq_len);
  span.context_len = std::min(context, max_seq_len - span.response_len);
  span.context_begin = context - span.context_len;
  return span;
}

// [B, L] int64 tokens padded with pad_id, and the [B, L] mask of real tokens.
std::pair<torch::Tensor, torch::Tensor> pad_token_lists(
    const std::vector<const std::vector<int32_t>*>& lists, int64_t pad_id) {
  int64_t longest = 0;
  for (const auto* list : lists) longest = std::max<int64_t>(longest, list->size());
  const auto rows = static_cast<int64_t>(lists.size());
  torch::Tensor tokens = torch::full({rows, longest}, pad_id, torch::kInt64);
  torch::Tensor mask = torch::zeros({rows, longest}, torch::kBool);
  auto token_access = tokens.accessor<int64_t, 2>();
  auto mask_access = mask.accessor<bool, 2>();
  for (int64_t b = 0; b < rows; ++b) {
    for (size_t t = 0; t < lists[b]->size(); ++t) {
      token_access[b][t] = (*lists[b])[t];
      mask_access[b][t] = true;
    }
  }
  return {tokens, mask};
}

// [B, F, D] frames padded with zeros and the [B, F] frame mask; undefined when no sample has any.
std::pair<torch::Tensor, torch::Tensor> pad_frames(const std::vector<Sample>& samples,
                                                   torch::Tensor Sample::*member, int64_t dim) {
  int64_t longest = 0;
  bool any = false;
  for (const Sample& sample : samples) {
    const torch::Tensor& frames = sample.*member;
    if (!frames.defined()) continue;
    any = true;
    longest = std::max(longest, frames.size(0));
  }
  if (!any) return {};
  const auto rows = static_cast<int64_t>(samples.size());
  torch::Tensor values = torch::zeros({rows, longest, dim});
  torch::Tensor mask = torch::zeros({rows, longest}, torch::kBool);
  for (int64_t b = 0; b < rows; ++b) {
    const torch::Tensor& frames = samples[b].*member;
    if (!frames.defined() || frames.size(0) == 0) continue;
    values[b].narrow(0, 0, frames.size(0)).copy_(frames);
    mask[b].narrow(0, 0, frames.size(0)).fill_(true);
  }
  return {values, mask};
}

void collate_privileged(const std::vector<Sample>& samples, const DatasetInfo& info, Batch& batch) {
  const bool with_pi = !samples.front().privileged.empty();
  for (const Sample& sample : samples) {
    if (sample.privileged.empty() == with_pi) {
      fail("collate: sample {} {} privileged information while sample {} does not", sample.index,
           with_pi ? "lacks" : "carries", samples.front().index);
    }
  }
  if (!with_pi) return;
  for (const std::string& source : info.privileged_sources) {
    std::vector<const std::vector<int32_t>*> lists;
    for (const Sample& sample : samples) {
      const auto found = sample.privileged.find(source);
      if (found == sample.privileged.end()) {
        fail("collate: sample {} lacks privileged source '{}'", sample.index, source);
      }
      lists.push_back(&found->second);
    }
    std::tie(batch.privileged[source], batch.privileged_mask[source]) =
        pad_token_lists(lists, info.pad_id);
  }
}

void check_teacher_rows(const Sample& sample, const RowSpan& span, int64_t topk) {
  const torch::Tensor& ids = sample.topk_ids;
  if (!ids.defined() || ids.dim() != 2 || ids.size(0) < span.response_len || ids.size(1) != topk ||
      !sample.topk_logprobs.defined() || sample.topk_logprobs.sizes() != ids.sizes()) {
    fail("collate: sample {} needs [{}, {}] teacher top-K rows", sample.index,
         sample.response.size(), topk);
  }
}

// Tokens, targets, masks and the teacher rows aligned with the positions that predict them.
void collate_sequences(const std::vector<Sample>& samples, const DatasetInfo& info,
                       int64_t max_seq_len, Batch& batch) {
  const auto rows = static_cast<int64_t>(samples.size());
  std::vector<RowSpan> spans;
  int64_t longest = 0;
  for (const Sample& sample : samples) {
    spans.push_back(fit_row(sample, max_seq_len));
    check_teacher_rows(sample, spans.back(), info.topk);
    longest = std::max(longest, spans.back().length());
  }
  batch.tokens = torch::full({rows, longest}, info.pad_id, torch::kInt64);
  batch.targets = torch::full({rows, longest}, info.pad_id, torch::kInt64);
  batch.context_mask = torch::zeros({rows, longest}, torch::kBool);
  batch.response_mask = torch::zeros({rows, longest}, torch::kBool);
  batch.topk_ids = torch::zeros({rows, longest, info.topk}, torch::kInt64);
  batch.topk_logprobs = torch::zeros({rows, longest, info.topk});
  auto tokens = batch.tokens.accessor<int64_t, 2>();
  auto context_mask = batch.context_mask.accessor<bool, 2>();
  for (int64_t b = 0; b < rows; ++b) {
    const Sample& sample = samples[b];
    const RowSpan& span = spans[b];
    for (int64_t t = 0; t < span.context_len; ++t) {
      tokens[b][t] = sample.context[span.context_begin + t];
      context_mask[b][t] = true;
    }
    for (int64_t j = 0; j < span.response_len; ++j) {
      tokens[b][span.context_len + j] = sample.response[j];
    }
    const int64_t length = span.length();
    if (length > 1) {
      batch.targets[b].narrow(0, 0, length - 1).copy_(batch.tokens[b].narrow(0, 1, length - 1));
    }
    // Response token j is predicted at position context_len - 1 + j (when that is >= 0).
    const int64_t first = std::max<int64_t>(0, span.context_len - 1);
    const int64_t skipped = first - (span.context_len - 1);
    const int64_t predicted = span.response_len - skipped;
    if (predicted <= 0) continue;
    batch.response_mask[b].narrow(0, first, predicted).fill_(true);
    batch.topk_ids[b]
        .narrow(0, first, predicted)
        .copy_(sample.topk_ids.narrow(0, skipped, predicted));
    batch.topk_logprobs[b]
        .narrow(0, first, predicted)
        .copy_(sample.topk_logprobs.narrow(0, skipped, predicted));
  }
  batch.response_tokens = batch.response_mask.sum().item<int64_t>();
  batch.response_rows = batch.response_mask.reshape(-1).nonzero().squeeze(1);
  batch.input_tokens = batch.tokens.ne(info.pad_id).sum().item<int64_t>();
}

// The teacher's emotion distributions, [B, E].
torch::Tensor teacher_emotions(const std::vector<Sample>& samples, const DatasetInfo& info) {
  std::vector<torch::Tensor> rows;
  for (const Sample& sample : samples) {
    const torch::Tensor& row = sample.teacher_emotion_logprobs;
    if (!row.defined() || row.dim() != 1 || row.size(0) != info.num_emotions) {
      fail("collate: sample {} has no teacher emotion distribution over {} emotions", sample.index,
           info.num_emotions);
    }
    rows.push_back(row.to(torch::kFloat32));
  }
  return torch::stack(rows);
}

}  // namespace

Batch collate(const std::vector<Sample>& samples, const DatasetInfo& info, int64_t max_seq_len) {
  if (samples.empty()) fail("collate: no samples");
  if (max_seq_len < 2) fail("collate: max_seq_len must be >= 2, got {}", max_seq_len);
  Batch batch;
  collate_sequences(samples, info, max_seq_len, batch);
  std::vector<int64_t> emotions;
  std::vector<torch::Tensor> hidden;
  for (const Sample& sample : samples) {
    emotions.push_back(sample.emotion);
    batch.indices.push_back(sample.index);
    if (!sample.teacher_hidden.defined()) {
      fail("collate: sample {} has no teacher hidden state", sample.index);
    }
    hidden.push_back(sample.teacher_hidden.to(torch::kFloat32));
  }
  batch.emotion = torch::tensor(emotions, torch::kInt64);
  batch.teacher_hidden = torch::stack(hidden);
  if (info.teacher_emotion) batch.teacher_emotion_logprobs = teacher_emotions(samples, info);
  std::tie(batch.audio, batch.audio_mask) = pad_frames(samples, &Sample::audio, info.audio_dim);
  std::tie(batch.visual, batch.visual_mask) = pad_frames(samples, &Sample::visual, info.visual_dim);
  collate_privileged(samples, info, batch);
  return batch;
}

Batch collate_pairs(const std::vector<Sample>& pairs, const DatasetInfo& info,
                    int64_t max_seq_len) {
  if (pairs.empty()) fail("collate: no pairs");
  std::vector<Sample> rows(pairs.begin(), pairs.end());
  for (const Sample& pair : pairs) {
    Sample rejected = pair;
    rejected.response = pair.rejected;
    rejected.topk_ids =
        torch::zeros({static_cast<int64_t>(pair.rejected.size()), info.topk}, torch::kInt64);
    rejected.topk_logprobs = torch::zeros({static_cast<int64_t>(pair.rejected.size()), info.topk});
    rows.push_back(std::move(rejected));
  }
  Batch batch = collate(rows, info, max_seq_len);
  batch.pairs = static_cast<int64_t>(pairs.size());
  if (info.reference_logps) {
    std::vector<torch::Tensor> chosen, rejected;
    for (const Sample& pair : pairs) {
      if (!pair.reference_logps.defined() || pair.reference_logps.numel() != 2) {
        fail("collate: pair {} has no reference log-probabilities", pair.index);
      }
      chosen.push_back(pair.reference_logps[0]);
      rejected.push_back(pair.reference_logps[1]);
    }
    batch.reference_logps = torch::cat({torch::stack(chosen), torch::stack(rejected)});
  }
  return batch;
}

torch::Tensor Batch::response_rows_of() const {
  return response_rows.defined() ? response_rows : response_mask.reshape(-1).nonzero().squeeze(1);
}

Batch Batch::to(const torch::Device& device, bool non_blocking) const {
  return map([&](const torch::Tensor& tensor) { return tensor.to(device, non_blocking); });
}

Batch Batch::pinned() const {
  return map([](const torch::Tensor& tensor) { return tensor.pin_memory(); });
}

Batch Batch::map(const std::function<torch::Tensor(const torch::Tensor&)>& f) const {
  auto move = [&](const torch::Tensor& tensor) { return tensor.defined() ? f(tensor) : tensor; };
  Batch moved = *this;
  for (torch::Tensor* tensor :
       {&moved.tokens, &moved.context_mask, &moved.response_mask, &moved.response_rows,
        &moved.targets, &moved.emotion, &moved.topk_ids, &moved.topk_logprobs,
        &moved.teacher_hidden, &moved.teacher_emotion_logprobs, &moved.audio, &moved.audio_mask,
        &moved.visual, &moved.visual_mask, &moved.reference_logps}) {
    *tensor = move(*tensor);
  }
  for (auto* tensors : {&moved.privileged, &moved.privileged_mask}) {
    for (auto& [name, tensor] : *tensors) tensor = move(tensor);
  }
  return moved;
}

}  // namespace pride
