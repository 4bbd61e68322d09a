// Implements models/flat_state.h.
#include "models/flat_state.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace pride {

FlatParameters::FlatParameters(torch::nn::Module& module, int64_t pad_to_multiple_of) {
  const auto named = module.named_parameters(/*recurse=*/true);
  int64_t trainable = 0;
  for (const auto& item : named) {
    const auto& p = item.value();
    ParamLayout slot{item.key(), p.sizes().vec(), numel_, p.numel(), p.requires_grad()};
    if (slot.trainable) {
      slot.trainable_offset = trainable;
      trainable += p.numel();
    }
    layout_.push_back(slot);
    all_params_.push_back(p);
    numel_ += p.numel();
  }
  auto options = named.size() ? named[0].value().options().dtype(torch::kFloat32)
                              : torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t multiple = std::max<int64_t>(1, pad_to_multiple_of);
  const int64_t padded = (trainable + multiple - 1) / multiple * multiple;
  padded_values_ = torch::zeros({padded}, options);
  padded_grads_ = torch::zeros({padded}, options);
  values_ = padded_values_.narrow(0, 0, trainable);
  grads_ = padded_grads_.narrow(0, 0, trainable);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < named.size(); ++i) {
    const auto& slot = layout_[i];
    if (!slot.trainable) continue;
    torch::Tensor p = named[i].value();
    auto value_view = values_.narrow(0, slot.trainable_offset, slot.numel).view(slot.shape);
    value_view.copy_(p);
    p.set_data(value_view);
    p.mutable_grad() = grads_.narrow(0, slot.trainable_offset, slot.numel).view(slot.shape);
    params_.push_back(p);
  }
}

torch::Tensor FlatParameters::all_values() const {
  torch::NoGradGuard no_grad;
  torch::Tensor all = torch::empty({numel_}, torch::kFloat32);
  for (size_t i = 0; i < layout_.size(); ++i) {
    all.narrow(0, layout_[i].offset, layout_[i].numel).copy_(all_params_[i].reshape({-1}));
  }
  return all;
}

void FlatParameters::load_all_values(const torch::Tensor& all) {
  if (all.numel() != numel_) {
    fail("model parameters: {} values given but the model has {}", all.numel(), numel_);
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor flat = all.reshape({-1});
  for (size_t i = 0; i < layout_.size(); ++i) {
    const auto& slot = layout_[i];
    all_params_[i].copy_(flat.narrow(0, slot.offset, slot.numel).view(slot.shape));
  }
}

FlatAdamW::FlatAdamW(const FlatParameters& params, AdamWOptions options, int64_t begin,
                     int64_t length)
    : options_(options) {
  const int64_t trainable = params.trainable_numel();
  if (length < 0) length = trainable - begin;
  for (const auto& slot : params.layout()) {
    if (slot.shape.size() < 2 || !slot.trainable) continue;
    const int64_t from = std::max(slot.trainable_offset, begin) - begin;
    const int64_t to = std::min(slot.trainable_offset + slot.numel, begin + length) - begin;
    if (from >= to) continue;
    if (!decay_ranges_.empty() && decay_ranges_.back().second == from) {
      decay_ranges_.back().second = to;
    } else {
      decay_ranges_.emplace_back(from, to);
    }
  }
  exp_avg_ = torch::zeros({length}, params.values().options());
  exp_avg_sq_ = torch::zeros({length}, params.values().options());
}

void FlatAdamW::step(torch::Tensor& values, const torch::Tensor& grads, double lr) {
  torch::NoGradGuard no_grad;
  ++step_count_;
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_count_));
  const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_count_));
  // Rounded as the float32 factor 1 - float(lr * wd), which a float mask would give.
  const float keep = 1.0f - static_cast<float>(lr * options_.weight_decay);
  if (decay_views_of_ != values.data_ptr()) {
    decay_views_.clear();
    for (const auto& [begin, end] : decay_ranges_) {
      decay_views_.push_back(values.narrow(0, begin, end - begin));
    }
    decay_views_of_ = values.data_ptr();
  }
  if (!decay_views_.empty()) at::_foreach_mul_(decay_views_, keep);
  exp_avg_.mul_(options_.beta1).add_(grads, 1.0 - options_.beta1);
  exp_avg_sq_.mul_(options_.beta2).addcmul_(grads, grads, 1.0 - options_.beta2);
  const auto denom = (exp_avg_sq_ / bias2).sqrt_().add_(options_.eps);
  values.addcdiv_(exp_avg_, denom, -lr / bias1);
}

torch::Tensor squared_norm_fp64(const torch::Tensor& values) {
  if (values.numel() == 0) return torch::zeros({}, values.options().dtype(torch::kFloat64));
  // Three operators a piece (a widening copy, a dot product, an add), and one split for all. Two
  // pieces at most beyond 16M values: a float64 half takes the memory of the float32 temporary
  // that AdamW's update makes anyway (the denominator), and a piece per 16M values cost 3
  // operators each (24 at 125M parameters).
  const int64_t piece_size = std::max<int64_t>(int64_t{1} << 24, (values.numel() + 1) / 2);
  torch::Tensor total;
  for (const auto& piece : (values.dim() == 1 ? values : values.reshape(-1)).split(piece_size)) {
    const auto wide = piece.to(torch::kFloat64);
    auto squares = torch::dot(wide, wide);
    total = total.defined() ? total.add_(squares) : squares;
  }
  return total;
}

void scale_to_max_norm(torch::Tensor& grads, double norm, double max_norm) {
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) grads.mul_(max_norm / (norm + 1e-6));
}

void load_checkpoint_params(const CheckpointState& state, const std::string& path,
                            FlatParameters& flat) {
  torch::Tensor all = torch::empty({flat.numel()}, torch::kFloat32);
  copy_checkpoint_tensor(state, "model.params", path, all);
  flat.load_all_values(all);
}

}  // namespace pride
