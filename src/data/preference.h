// The preference format (docs/preference.md): pairs of responses to one prompt, the chosen and the
// rejected one, tokenized, as DPO trains on them; optionally with the reference model's summed
// log-probabilities of both responses, so that DPO needs no reference forward. HDF5, like the
// dialogue format:
//   root attributes: format "pride-preference", version 1, vocab_size, pad_id, bos_id, eos_id,
//                    tokenizer (identity, optional), reference (what the log-probs came from,
//                    optional);
//   /pairs/prompt, /pairs/chosen, /pairs/rejected: int32 token ids, flat, each with
//   "<name>_offsets"
//                    (int64, N+1 entries);
//   /reference/chosen_logps, /reference/rejected_logps: float32 [N], both or neither.
// A preference file is read through DialogueDataset like a dialogue file: each pair is a Sample
// whose context is the prompt, response the chosen response and `rejected` the other.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/reader.h"

namespace pride::preference {

inline constexpr char kFormatName[] = "pride-preference";
inline constexpr int64_t kVersion = 1;
inline constexpr char kPrompt[] = "/pairs/prompt";
inline constexpr char kChosen[] = "/pairs/chosen";
inline constexpr char kRejected[] = "/pairs/rejected";
inline constexpr char kReferenceChosen[] = "/reference/chosen_logps";
inline constexpr char kReferenceRejected[] = "/reference/rejected_logps";
inline constexpr char kAttrReference[] = "reference";

// One tokenized pair; reference log-probabilities NaN when absent.
struct TokenizedPair {
  std::vector<int32_t> prompt, chosen, rejected;
  float reference_chosen = 0, reference_rejected = 0;
};

// What a file says about all of its pairs.
struct PreferenceHeader {
  int64_t vocab_size = 0, pad_id = 0, bos_id = 0, eos_id = 0;
  std::string tokenizer;  // identity, "" when unknown
  std::string reference;  // non-empty: the pairs carry reference log-probabilities from it
};

// Writes `pairs` to `path` atomically; every id must lie in [0, vocab_size) and every response be
// non-empty (pride::Error naming the pair otherwise).
void write_preference_file(const std::string& path, const PreferenceHeader& header,
                           const std::vector<TokenizedPair>& pairs);

}  // namespace pride::preference

namespace pride {

// A pair as the trainer's Sample: context = prompt, response = chosen, and rejected; with empty
// top-K rows and hidden state (topk = teacher_hidden = 0), as collate() takes them.
Sample pair_sample(int64_t index, std::vector<int32_t> prompt, std::vector<int32_t> chosen,
                   std::vector<int32_t> rejected);

// Whether `path` is an HDF5 file of the preference format (false for any other file; a file that
// cannot be opened is left to the dialogue reader's error).
bool is_preference_file(const std::string& path);

class PreferenceReader : public SampleFile {
 public:
  explicit PreferenceReader(const std::string& path);
  ~PreferenceReader() override;

  const DatasetInfo& info() const override;
  const std::string& path() const override;
  // The pair as a Sample (context = prompt, response = chosen, rejected), with empty top-K rows
  // and hidden state (topk = teacher_hidden = 0). Preference data has no PI to read.
  Sample read(int64_t index, bool with_privileged) const override;
  // prompt + the longer response.
  int64_t sequence_length(int64_t index) const override;
  // The file's reference attribute ("" when it has no reference log-probabilities).
  const std::string& reference() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pride
