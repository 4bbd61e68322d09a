// A synthetic batch of the data set's shapes and the single-process training objective: what
// `pride bench step` times and counts, and what the micro-batch probe (train.micro_batch_size:
// auto) runs to see how much memory a micro-batch takes.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "config/config.h"
#include "data/sample.h"
#include "models/student.h"

namespace pride {

struct SyntheticShape {
  int64_t rows = 1;
  int64_t context = 16, response = 11;  // tokens per row: context, then response (no padding)
  int64_t audio_frames = 8, visual_frames = 4;         // when the data set has that modality
  std::vector<int64_t> privileged_tokens = {6, 4, 4};  // per privileged source, cycled
};

// Random words (ids from 3, after pad, bos and eos); position t predicts t + 1, so the response's
// positions and the one before carry CE/RKL; the teacher's top-K at a position are the gold id and
// the ids after it, holding 90% of its mass; every frame and PI token valid. Drawn from torch's
// generator in a fixed order (scripts/bench/reference_step.py draws the same).
Batch synthetic_batch(const DatasetInfo& info, const SyntheticShape& shape);

// The trainer's objective for one process holding the whole global batch (docs/method.md): CE
// and RKL per response token, MMD^2 of the batch, emotion CE and PI alignment per sample.
torch::Tensor single_process_loss(Student& student, const Batch& batch, const PiUsage& pi,
                                  const Config& config);

}  // namespace pride
