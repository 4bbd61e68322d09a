// Learning-rate schedule: linear warmup from 0 to lr, then cosine decay to lr * min_lr_ratio at
// max_steps. A pure function of the step, so a resumed run needs no scheduler state beyond it.
#pragma once

#include <cmath>
#include <cstdint>

#include "config/config.h"

namespace pride {

inline double learning_rate_at(int64_t step, const TrainConfig& train) {
  if (step < train.warmup_steps) {
    return train.lr * static_cast<double>(step + 1) / static_cast<double>(train.warmup_steps + 1);
  }
  const double span =
      static_cast<double>(std::max<int64_t>(1, train.max_steps - train.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - train.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  const double min_lr = train.lr * train.min_lr_ratio;
  return min_lr + (train.lr - min_lr) * cosine;
}

}  // namespace pride
