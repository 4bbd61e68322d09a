// Implements label_scores.h: prompt + label rows, right-padded, a chunk of rows per forward; the
// logits only at the positions that predict a label token.
#include "teacher/label_scores.h"

#include "util/error.h"

namespace pride::teacher {
namespace {

constexpr int64_t kRowsPerForward = 64;  // prompt + label rows scored together

// Mean log-probability of each row's label tokens; rows are (prompt, label) pairs.
std::vector<double> score_rows(CausalLM& model, const std::vector<std::vector<int64_t>>& rows,
                               const std::vector<int64_t>& label_starts, torch::Device device) {
  const auto count = static_cast<int64_t>(rows.size());
  int64_t longest = 0;
  for (const auto& row : rows) longest = std::max<int64_t>(longest, row.size());
  torch::Tensor tokens = torch::zeros({count, longest}, torch::kInt64);
  torch::Tensor valid = torch::zeros({count, longest}, torch::kBool);
  std::vector<int64_t> positions, targets, owners;  // per scored label token
  for (int64_t r = 0; r < count; ++r) {
    const auto length = static_cast<int64_t>(rows[r].size());
    tokens[r].narrow(0, 0, length).copy_(torch::tensor(rows[r], torch::kInt64));
    valid[r].narrow(0, 0, length).fill_(true);
    for (int64_t j = label_starts[r]; j < length; ++j) {
      positions.push_back(r * longest + j - 1);  // the position that predicts token j
      targets.push_back(rows[r][j]);
      owners.push_back(r);
    }
  }
  const bool padded = !valid.all().item<bool>();
  const torch::Tensor hidden =
      model->hidden_states(tokens.to(device), padded ? valid.to(device) : torch::Tensor());
  const torch::Tensor states = hidden.reshape({count * longest, hidden.size(2)})
                                   .index_select(0, torch::tensor(positions).to(device));
  const torch::Tensor logprobs = torch::log_softmax(model->logits(states).to(torch::kFloat), -1)
                                     .gather(1, torch::tensor(targets).to(device).unsqueeze(1))
                                     .squeeze(1)
                                     .to(torch::kDouble)
                                     .cpu();
  const torch::Tensor sums =
      torch::zeros({count}, torch::kDouble).index_add_(0, torch::tensor(owners), logprobs);
  std::vector<double> scores(count);
  for (int64_t r = 0; r < count; ++r) {
    scores[r] = sums[r].item<double>() / static_cast<double>(rows[r].size() - label_starts[r]);
  }
  return scores;
}

}  // namespace

std::vector<std::vector<float>> score_labels(CausalLM& model,
                                             const std::vector<std::vector<int32_t>>& prompts,
                                             const std::vector<std::vector<int32_t>>& labels,
                                             const std::vector<std::string>& sample_names,
                                             torch::Device device) {
  torch::NoGradGuard no_grad;
  for (size_t e = 0; e < labels.size(); ++e) {
    if (labels[e].empty()) fail("teach: emotion label {} encodes to no tokens", e);
  }
  const auto num_labels = static_cast<int64_t>(labels.size());
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> label_starts;
  for (size_t b = 0; b < prompts.size(); ++b) {
    if (prompts[b].empty()) fail("teach: sample {}: the emotion prompt is empty", sample_names[b]);
    for (const auto& label : labels) {
      std::vector<int64_t> row(prompts[b].begin(), prompts[b].end());
      row.insert(row.end(), label.begin(), label.end());
      rows.push_back(std::move(row));
      label_starts.push_back(static_cast<int64_t>(prompts[b].size()));
    }
  }
  std::vector<double> scores;
  for (size_t first = 0; first < rows.size(); first += kRowsPerForward) {
    const size_t last = std::min(rows.size(), first + kRowsPerForward);
    const std::vector<double> chunk =
        score_rows(model, {rows.begin() + first, rows.begin() + last},
                   {label_starts.begin() + first, label_starts.begin() + last}, device);
    scores.insert(scores.end(), chunk.begin(), chunk.end());
  }
  std::vector<std::vector<float>> distributions;
  for (size_t b = 0; b < prompts.size(); ++b) {
    const torch::Tensor row = torch::log_softmax(
        torch::tensor(std::vector<double>(scores.begin() + b * num_labels,
                                          scores.begin() + (b + 1) * num_labels)),
        0);
    if (!torch::isfinite(row).all().item<bool>()) {
      fail("teach: sample {}: the teacher's emotion scores are not finite (try teach.dtype=fp32)",
           sample_names[b]);
    }
    const torch::Tensor values = row.to(torch::kFloat);
    distributions.emplace_back(values.data_ptr<float>(), values.data_ptr<float>() + num_labels);
  }
  return distributions;
}

}  // namespace pride::teacher
