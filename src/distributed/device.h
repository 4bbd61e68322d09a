// Which device a rank computes on: the placement rule shared by train, eval, teach and bench.
#pragma once

#include <torch/types.h>

#include "config/config.h"
#include "distributed/communicator.h"

namespace pride {

// cuda:<local rank mod devices> when run.device allows it and CUDA is present, else CPU;
// run.device = cuda without a usable GPU is a pride::Error.
torch::Device choose_device(const Config& config, const WorldInfo& world);

}  // namespace pride
