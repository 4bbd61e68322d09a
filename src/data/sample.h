// In-memory forms of the dialogue data: one Sample as read from the HDF5 file (docs/data-format.md)
// and a padded Batch of samples ready for the student.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pride {

// File-level attributes shared by every sample of a data set.
struct DatasetInfo {
  int64_t num_samples = 0;
  int64_t vocab_size = 0;
  int64_t num_emotions = 0;
  int64_t pad_id = 0, bos_id = 1, eos_id = 2;
  int64_t topk = 0;                             // K of the teacher's top-K
  int64_t teacher_hidden = 0;                   // H of /teacher/hidden
  int64_t audio_dim = 0;                        // 0: no audio
  int64_t visual_dim = 0;                       // 0: no visual
  std::vector<std::string> privileged_sources;  // e.g. reasoning, annotation, future_summary
  std::string tokenizer;                        // its identity, "" when the file does not say
  std::vector<std::string> emotion_labels;      // class names, empty when the file does not say
  bool teacher_emotion = false;                 // the file holds /teacher/emotion_logprobs
  // Preference data (data/preference.h): each sample is a pair, context = prompt, response = the
  // chosen response, Sample::rejected the other; no teacher (topk = teacher_hidden = 0), no
  // emotions (num_emotions = 0), no PI, no modalities.
  bool preference = false;
  bool reference_logps = false;  // the pairs carry the reference model's log-probabilities
};

struct Sample {
  int64_t index = -1;  // global sample index in its data set
  std::vector<int32_t> context;
  std::vector<int32_t> response;
  int32_t emotion = 0;
  std::map<std::string, std::vector<int32_t>> privileged;  // empty when PI is not read
  torch::Tensor audio;                     // [frames, audio_dim] float32, undefined when absent
  torch::Tensor visual;                    // [frames, visual_dim] float32, undefined when absent
  torch::Tensor topk_ids;                  // [response_len, K] int64
  torch::Tensor topk_logprobs;             // [response_len, K] float32
  torch::Tensor teacher_hidden;            // [H] float32
  torch::Tensor teacher_emotion_logprobs;  // [E] float32, undefined when the file has none
  std::vector<int32_t> rejected;           // preference data: the dispreferred response
  // Preference data with reference log-probabilities: [2] float32, the reference model's summed
  // log-probabilities of the chosen and the rejected response; undefined otherwise.
  torch::Tensor reference_logps;
};

// A padded batch. Sequence layout per row: context tokens, then response tokens, then padding.
// Position t predicts token t+1; response_mask marks the positions whose *next* token is a
// response token, i.e. where CE and RKL apply.
struct Batch {
  torch::Tensor tokens;         // [B, T] int64, right-padded: the student attends causally only
  torch::Tensor context_mask;   // [B, T] bool: context positions
  torch::Tensor response_mask;  // [B, T] bool: positions that predict a response token
  // [N] int64: b * T + t of each position in response_mask, row by row (made by collate on the
  // host, so that taking those positions on a GPU reads nothing back; see response_rows_of).
  torch::Tensor response_rows;
  torch::Tensor targets;         // [B, T] int64: next token (pad where not predicted)
  torch::Tensor emotion;         // [B] int64
  torch::Tensor topk_ids;        // [B, T, K] int64 teacher ids aligned with targets (0 elsewhere)
  torch::Tensor topk_logprobs;   // [B, T, K] float32 (0 elsewhere)
  torch::Tensor teacher_hidden;  // [B, H] float32
  torch::Tensor teacher_emotion_logprobs;  // [B, E] float32; undefined when the data has none
  // Modalities: [B, F, D] float32 with a [B, F] bool mask; undefined when absent.
  torch::Tensor audio, audio_mask, visual, visual_mask;
  // Privileged sources, each [B, L] int64 tokens with a [B, L] bool mask. Empty at evaluation.
  std::map<std::string, torch::Tensor> privileged, privileged_mask;
  // Preference pairs (collate_pairs): rows [0, P) hold the chosen responses and rows [P, 2P) the
  // rejected ones of the same P pairs; 0 for any other batch.
  int64_t pairs = 0;
  torch::Tensor
      reference_logps;          // [2P] float32 (chosen rows, then rejected), when the data has them
  int64_t response_tokens = 0;  // sum of response_mask
  int64_t input_tokens = 0;     // tokens that are not padding
  std::vector<int64_t> indices;  // global sample indices, in row order

  int64_t size() const { return tokens.defined() ? tokens.size(0) : 0; }
  // response_rows, or where a batch was built without them, computed from response_mask (on a
  // GPU a read back to the host).
  torch::Tensor response_rows_of() const;
  // Training samples in the batch: pairs, or rows.
  int64_t samples() const { return pairs > 0 ? pairs : size(); }
  // A copy on `device`; non_blocking overlaps the copy with host work when the batch is pinned.
  Batch to(const torch::Device& device, bool non_blocking = false) const;
  // A copy in page-locked host memory (what a non-blocking host-to-GPU copy needs).
  Batch pinned() const;

 private:
  Batch map(const std::function<torch::Tensor(const torch::Tensor&)>& f) const;
};

}  // namespace pride
