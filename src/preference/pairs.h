// `pride data pairs`: preference JSONL as the Hugging Face ecosystem writes it (TRL's "prompt" /
// "chosen" / "rejected", each plain text or a list of chat messages), tokenized as TRL's
// DPOTrainer does, or dialogue JSONL with a second response (teacher-improved vs original, or a
// student's generation), tokenized as `pride teach` tokenizes contexts and responses, to the
// preference HDF5 that train.objective dpo and sft read (data/preference.h); with
// --reference, also the reference model's log-probabilities of both responses, so that DPO runs
// without a second model (docs/dpo.md); under mpirun the ranks score contiguous shares of the
// pairs on their devices and rank 0 writes the file.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "distributed/communicator.h"

namespace pride::preference {

struct PairsOptions {
  // "trl": JSONL of {"prompt", "chosen", "rejected"}; "dialogues": dialogue JSONL (pride teach's
  // response modes): the prompt is the student's context as `pride teach` renders it, chosen the
  // response, rejected the "original" (teach.mode improve) or the line of `rejected_file`.
  std::string from = "trl";
  std::string input;          // JSONL, one pair per line
  std::string rejected_file;  // from dialogues: the rejected responses (e.g. pride generate's)
  int64_t max_context_tokens = 768, max_response_tokens = 128;  // from dialogues, as teach.*
  std::string output;                                           // the preference HDF5
  std::string tokenizer;      // tokenizer.json, .model or a model directory (its chat template too)
  std::string chat = "auto";  // auto: message lists are rendered in the tokenizer's template
  // A Hugging Face model directory or a pride student (what model.init_from takes): its summed
  // log-probabilities of each response are stored; "" stores none.
  std::string reference;
  // The student's vocabulary (its embedding rows, often more than the tokenizer's ids); 0: the
  // tokenizer's.
  int64_t vocab_size = 0;
  int64_t max_seq_len = 256;  // rows are cut to this, as the training run (model.max_seq_len) cuts
  int64_t batch_size = 8;     // pairs scored together by the reference
};

struct PairsStats {
  int64_t pairs = 0, chat_pairs = 0;
};

// Collective over `comm` (none: this process alone): every rank tokenizes (cheap and
// deterministic), the reference scoring is split over the ranks, and rank 0 writes the file;
// every rank returns once it exists.
PairsStats write_pairs(const PairsOptions& options, Communicator* comm = nullptr,
                       torch::Device device = torch::kCPU);

}  // namespace pride::preference
