// PI-free evaluation: the student sees the dialogue context and the multimodal features only.
// Samples are read with with_privileged=false, so no privileged dataset is ever opened or read,
// and the model runs on its predicted PI slots. Sums are all-reduced, so the figures do not depend
// on the number of ranks.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "data/reader.h"
#include "distributed/communicator.h"
#include "models/student.h"

namespace pride {

struct EvalResult {
  double ce = 0, ppl = 0, rkl = 0, emotion_acc = 0;
  int64_t samples = 0, tokens = 0;
  bool teacher = true, emotions = true;  // whether the data have teacher targets and emotions
  nlohmann::json to_json(int64_t step) const;
};

// How many samples evaluation reads: the first train.eval_samples (0: all) of `data`.
int64_t eval_total(const DialogueDataset& data, const Config& config);
// This rank's evaluation samples: of the eval_total, rank r takes r, r+W, ..., so every rank gets
// a near-equal share.
std::vector<int64_t> eval_share(const DialogueDataset& data, const Config& config,
                                const Communicator& comm);

EvalResult evaluate(Student& model, const DialogueDataset& data, const Config& config,
                    Communicator& comm, const torch::Device& device);

}  // namespace pride
