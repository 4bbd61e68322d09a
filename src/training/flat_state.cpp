// Implements training/flat_state.h.
#include "training/flat_state.h"

#include <cmath>

namespace pride {

FlatParameters::FlatParameters(torch::nn::Module& module) {
  const auto named = module.named_parameters(/*recurse=*/true);
  int64_t total = 0;
  for (const auto& item : named) {
    const auto& p = item.value();
    layout_.push_back({item.key(), p.sizes().vec(), total, p.numel(), p.requires_grad()});
    total += p.numel();
  }
  auto options = named.size() ? named[0].value().options().dtype(torch::kFloat32)
                              : torch::TensorOptions().dtype(torch::kFloat32);
  values_ = torch::zeros({total}, options);
  grads_ = torch::zeros({total}, options);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < named.size(); ++i) {
    torch::Tensor p = named[i].value();
    const auto& slot = layout_[i];
    auto value_view = values_.narrow(0, slot.offset, slot.numel).view(slot.shape);
    value_view.copy_(p);
    p.set_data(value_view);
    p.mutable_grad() = grads_.narrow(0, slot.offset, slot.numel).view(slot.shape);
    params_.push_back(p);
  }
}

FlatAdamW::FlatAdamW(const FlatParameters& params, AdamWOptions options) : options_(options) {
  exp_avg_ = torch::zeros_like(params.values());
  exp_avg_sq_ = torch::zeros_like(params.values());
  decay_mask_ = torch::zeros_like(params.values());
  for (const auto& slot : params.layout()) {
    if (slot.shape.size() >= 2 && slot.trainable)
      decay_mask_.narrow(0, slot.offset, slot.numel).fill_(1.0);
  }
}

void FlatAdamW::step(torch::Tensor& values, const torch::Tensor& grads, double lr) {
  torch::NoGradGuard no_grad;
  ++step_count_;
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_count_));
  const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_count_));
  values.mul_(1.0 - lr * options_.weight_decay * decay_mask_);
  exp_avg_.mul_(options_.beta1).add_(grads, 1.0 - options_.beta1);
  exp_avg_sq_.mul_(options_.beta2).addcmul_(grads, grads, 1.0 - options_.beta2);
  const auto denom = (exp_avg_sq_ / bias2).sqrt_().add_(options_.eps);
  values.addcdiv_(exp_avg_, denom, -lr / bias1);
}

double clip_grad_norm(torch::Tensor& grads, double max_norm) {
  const double norm = grads.norm().item<double>();
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) grads.mul_(max_norm / (norm + 1e-6));
  return norm;
}

}  // namespace pride
