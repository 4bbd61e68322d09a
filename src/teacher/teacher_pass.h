// `pride teach` (docs/teacher.md): a Hugging Face teacher turns dialogue text into the training
// data of docs/data-format.md. Each rank takes a contiguous share of the samples and, batch by
// batch: generates the teacher's empathy reasoning (the privileged source `reasoning`), scores the
// gold response teacher-forced (top-K log-probabilities and hidden states), and writes parts that
// a rerun skips; the parts become one shard file per rank, and rank 0 writes the manifest the
// trainer reads once every shard exists. The ranks meet through `comm` after every batch, so a
// lost rank ends the job after dist.timeout_s.
#pragma once

#include <torch/torch.h>

#include "config/config.h"
#include "distributed/communicator.h"

namespace pride::teacher {

void run_teach(const Config& config, Communicator& comm, torch::Device device);

}  // namespace pride::teacher
