// The trainer's model and optimizer state as flat float32 vectors.
//
// Every trainable parameter becomes a view into one flat buffer, and its .grad a view into one
// flat gradient buffer, in named_parameters() order. This gives: gradient buckets that are
// contiguous slices (no packing copies before all-reduce), an AdamW update that is a handful of
// vector ops, a global-norm clip that is one norm, and checkpoints that save contiguous ranges per
// rank. Frozen parameters (requires_grad false, model.freeze) stay where they are, outside these
// buffers: they get no gradient memory, no optimizer state and no communication, which is what
// lets a large pretrained student with a frozen decoder fit.
#pragma once

#include <torch/torch.h>

#include "checkpoints/checkpoint.h"

#include <string>
#include <utility>
#include <vector>

namespace pride {

struct ParamLayout {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in all_values(): every parameter, trainable or not (checkpoints)
  int64_t numel = 0;
  bool trainable = true;          // false: frozen (model.freeze), never updated nor decayed
  int64_t trainable_offset = -1;  // in values() and grads(); -1 when frozen
};

class FlatParameters {
 public:
  // Moves `module`'s trainable parameters into one flat buffer (values preserved). The buffers'
  // storage is padded with zeros to a multiple of pad_to_multiple_of (the world size), so that
  // ZeRO-1 can split it into equal per-rank slices without copies.
  explicit FlatParameters(torch::nn::Module& module, int64_t pad_to_multiple_of = 1);

  // The trainable parameters' values and gradients (what the optimizer sees).
  torch::Tensor& values() { return values_; }
  const torch::Tensor& values() const { return values_; }
  torch::Tensor& grads() { return grads_; }
  // The same buffers with the zero padding (values() and grads() are their first
  // trainable_numel()).
  torch::Tensor& padded_values() { return padded_values_; }
  torch::Tensor& padded_grads() { return padded_grads_; }
  const torch::Tensor& padded_grads() const { return padded_grads_; }
  // The trainable parameters, in buffer order.
  const std::vector<torch::Tensor>& params() const { return params_; }
  // Every parameter, in named_parameters() order.
  const std::vector<ParamLayout>& layout() const { return layout_; }
  int64_t numel() const { return numel_; }  // every parameter
  int64_t trainable_numel() const { return values_.numel(); }

  // Every parameter's values back to back in layout() order, as one new float32 CPU tensor of
  // numel() elements (checkpoints' "model.params"), and putting such a tensor back.
  torch::Tensor all_values() const;
  void load_all_values(const torch::Tensor& all);

  // Zeroes the gradient buffer in place (the views stay attached to their parameters).
  void zero_grad() { grads_.zero_(); }

 private:
  torch::Tensor padded_values_, padded_grads_, values_, grads_;
  std::vector<torch::Tensor> params_;      // trainable
  std::vector<torch::Tensor> all_params_;  // in layout order
  std::vector<ParamLayout> layout_;
  int64_t numel_ = 0;
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.01;
};

// Decoupled weight decay Adam (Loshchilov & Hutter) over a flat vector. Weight decay applies to
// matrices only (ndim >= 2), not to norms' gains, as is usual for transformers. It works on the
// trainable parameters' buffer (frozen ones are not in it) and holds state for `length` elements
// of it from `begin` (-1: all of it); under ZeRO-1 that is this rank's slice, which may reach
// into the padding.
class FlatAdamW {
 public:
  FlatAdamW(const FlatParameters& params, AdamWOptions options, int64_t begin = 0,
            int64_t length = -1);

  void step(torch::Tensor& values, const torch::Tensor& grads, double lr);

  torch::Tensor& exp_avg() { return exp_avg_; }
  torch::Tensor& exp_avg_sq() { return exp_avg_sq_; }
  const torch::Tensor& exp_avg() const { return exp_avg_; }
  const torch::Tensor& exp_avg_sq() const { return exp_avg_sq_; }
  int64_t step_count() const { return step_count_; }
  void set_step_count(int64_t count) { step_count_ = count; }

 private:
  AdamWOptions options_;
  torch::Tensor exp_avg_, exp_avg_sq_;
  // [begin, end) of the slice that weight decay applies to (the matrices), neighbours merged: a
  // few ranges per layer instead of a float mask as large as the moments.
  std::vector<std::pair<int64_t, int64_t>> decay_ranges_;
  // Those ranges as views of the values last stepped (rebuilt when the values move), decayed by
  // one multi-tensor operator a step instead of one operator per range.
  std::vector<torch::Tensor> decay_views_;
  const void* decay_views_of_ = nullptr;
  int64_t step_count_ = 0;
};

// Scales `grads` in place so that its L2 norm, `norm` (computed by the caller, e.g. over ranks'
// slices), becomes at most max_norm (0: no clipping; a non-finite norm: no scaling).
void scale_to_max_norm(torch::Tensor& grads, double norm, double max_norm);
// Sum of squares of `values` accumulated in float64, as a float64 scalar tensor: a float32
// norm over millions of values is off by ~1e-6 relative, which Adam carries into the parameters
// and which would differ between one buffer and ZeRO-1's per-rank slices; in float64 every
// layout and world size agrees to ~1e-16. Converts in pieces, bounding the temporary copy.
torch::Tensor squared_norm_fp64(const torch::Tensor& values);

// The checkpoint's "model.params" (every parameter, frozen ones included) into `flat`'s parameters.
void load_checkpoint_params(const CheckpointState& state, const std::string& path,
                            FlatParameters& flat);

}  // namespace pride
