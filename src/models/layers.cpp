// Llama-family layers shared by the Hugging Face causal LMs and the PRIDE student: RMSNorm, rotary
// tables, grouped-query attention by scaled-dot-product attention, SwiGLU, the decoder block with
// its optional multi-source cross-attention, the learned-query resampler, and LoRA adapters added
// to the stacked projections' outputs. The linear layers, the rotation, and on LibTorch 1.13
// RMSNorm and attention, have their gradients written out: autograd through the composites
// dispatches several times as many operators per step (docs/performance.md, "Operators per
// step"). They equal autograd's within float rounding (tests/unit/test_layers.cpp).
#include "models/layers.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "models/cpu_gemm.h"
#include "util/error.h"
#include "util/tensor_constants.h"
#include "util/torch_compat.h"

namespace pride {
namespace {

// Attention scores and norms run in fp32 (or fp64 when the model is double, for tests).
torch::ScalarType accumulate_type(const torch::Tensor& x) {
  return x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

// x * cos + rotate_half(x) * sin, where rotate_half(x) = [-x2, x1]: rolling x by half its width
// gives [x2, x1], and the sign sits in the table (sin_signed = [-sin, sin]), so the rotation is
// three operators (a product, a roll and an addcmul) instead of seven, with its gradient written
// out in three more: g * cos + roll(g * sin_signed) (rolling by half the width is its own
// inverse), where autograd records four and the tables take no gradient.
struct RotateFunction : torch::autograd::Function<RotateFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& cos, const torch::Tensor& sin_signed) {
    ctx->save_for_backward({cos, sin_signed});
    return torch::addcmul(x * cos, x.roll(x.size(-1) / 2, -1), sin_signed);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &cos = saved[0], &sin_signed = saved[1];
    const auto& grad = grads[0];
    auto rolled = (grad * sin_signed).roll(grad.size(-1) / 2, -1);
    return {torch::addcmul(rolled, grad, cos), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos,
                     const torch::Tensor& sin_signed) {
  return RotateFunction::apply(x, cos, sin_signed);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const Rotary& rotary) {
  return rotate(x, rotary.cos, rotary.sin_signed);
}

// x [..., d] as rows [N, d], without dispatching an operator when it already is 2-D.
torch::Tensor as_rows(const torch::Tensor& x) {
  return x.dim() == 2 ? x : x.reshape({-1, x.size(-1)});
}

// x in `type`, without dispatching an operator when it already is.
torch::Tensor as_type(const torch::Tensor& x, torch::ScalarType type) {
  return x.scalar_type() == type ? x : x.to(type);
}

// The positions of x, [B, T, d] or rows [B*T, d]: B*T.
int64_t rows_of(const torch::Tensor& x) {
  return x.dim() == 2 ? x.size(0) : x.size(0) * x.size(1);
}

// One or more concatenated tensors as one (no copy for a single one).
torch::Tensor joined(at::TensorList parts) {
  if (parts.empty()) return {};
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

// `parts` (matrices [rows_i, in]) as one [sum of rows, in] tensor without a copy, when they lie
// back to back in one buffer (the trainer's flat parameter and gradient buffers); else undefined.
// `cached` keeps the view from one step to the next: reused (no operator) while it still is that
// tensor, rebuilt otherwise.
torch::Tensor adjacent_rows(const std::vector<torch::Tensor>& parts, torch::Tensor& cached) {
  const auto& first = parts[0];
  const int64_t width = first.size(1);
  int64_t rows = 0;
  for (const auto& part : parts) {
    const auto* expected =
        static_cast<const char*>(first.data_ptr()) + rows * width * first.element_size();
    if (part.dim() != 2 || part.size(1) != width || part.scalar_type() != first.scalar_type() ||
        !part.is_contiguous() || !part.is_alias_of(first) || part.data_ptr() != expected) {
      return {};
    }
    rows += part.size(0);
  }
  if (parts.size() == 1) return first;
  const bool reusable = cached.defined() && cached.is_alias_of(first) &&
                        cached.data_ptr() == first.data_ptr() && cached.size(0) == rows &&
                        cached.size(1) == width && cached.scalar_type() == first.scalar_type();
  if (!reusable) {
    torch::NoGradGuard no_grad;  // a view for reading and writing values, not part of any graph
    cached = first.as_strided({rows, width}, {width, 1});
  }
  return cached;
}

// The .grad tensors of `weights` when a backward function may add their gradient there itself
// (compat::will_add_into_grad) in `type`, the type its products ran in; else none.
std::vector<torch::Tensor> grads_to_add_into(const std::vector<torch::Tensor>& weights,
                                             torch::ScalarType type) {
  std::vector<torch::Tensor> grads;
  for (const auto& weight : weights) {
    if (!compat::will_add_into_grad(weight)) return {};
    const auto& grad = weight.grad();
    if (grad.scalar_type() != type || !grad.sizes().equals(weight.sizes())) return {};
    grads.push_back(grad);
  }
  return grads;
}

// y = x W^T + b for the weights (and biases) of one or more linear layers that read the same x,
// stacked: one GEMM instead of one per layer, and the gradient written out. Autograd through
// aten::linear records about ten operators per layer in backward (the matmul's reshapes and
// transposes); this records two products and a transpose for the whole stack when the input and
// its gradient are rows [N, d] (plus a reshape for each that is not), the weight gradient added
// straight into the flat gradient buffer where autograd would add it there (one addmm_ where the
// weights' .grads lie back to back, one split and _foreach_add_ for layers of several modules;
// else a split and autograd's add per layer). Weights that do not lie back to back (layers of
// several modules) are joined by a copy each forward. Under autocast the products run in the type
// aten::linear chose; gradients return in the inputs' types.
struct StackedLinearFunction : torch::autograd::Function<StackedLinearFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               at::TensorList weights, at::TensorList biases,
                               c10::intrusive_ptr<StackedViews> views) {
    auto weight = adjacent_rows(weights.vec(), views->weights);
    const bool copied = !weight.defined();
    if (copied) weight = joined(weights);
    auto y = at::linear(x, weight, joined(biases));  // one operator (the frontend's is two)
    const auto type = y.scalar_type();
    // A joined copy is made again in backward rather than kept in between (for the blocks'
    // memory projections of a large student, a copy of every block's key and value weights).
    ctx->save_for_backward({as_type(x, type), copied ? torch::Tensor() : as_type(weight, type)});
    ctx->saved_data["weights"] = weights.vec();  // the parameters, whose .grad backward may fill
    std::vector<int64_t> rows;
    for (const auto& w : weights) rows.push_back(w.size(0));
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["biases"] = static_cast<int64_t>(biases.size());
    ctx->saved_data["x_type"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["weight_type"] = static_cast<int64_t>(weights[0].scalar_type());
    ctx->saved_data["views"] = c10::IValue::make_capsule(std::move(views));
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto weights = ctx->saved_data["weights"].toTensorVector();
    const auto weight = saved[1].defined() ? saved[1] : as_type(joined(weights), x.scalar_type());
    const auto grad = as_type(grads[0], x.scalar_type());
    const auto rows = ctx->saved_data["rows"].toIntVector();
    const auto weight_type = static_cast<torch::ScalarType>(ctx->saved_data["weight_type"].toInt());
    const auto x_type = static_cast<torch::ScalarType>(ctx->saved_data["x_type"].toInt());
    torch::autograd::variable_list out{as_type(torch::matmul(grad, weight), x_type)};
    auto split = [&](const torch::Tensor& whole) {
      if (rows.size() == 1) return out.push_back(as_type(whole, weight_type));
      for (auto& part : as_type(whole, weight_type).split_with_sizes(rows)) out.push_back(part);
    };
    // grad^T x over all rows, as autograd's mm backward computes it (the transposed operand as a
    // view): the same rounding as the layers' own backward, which a permuted copy would not give.
    const auto rows_grad = as_rows(grad);
    const auto rows_x = as_rows(x);
    auto views = ctx->saved_data["views"].toCapsule();
    const auto into = grads_to_add_into(weights, x.scalar_type());
    const auto adjacent = into.empty()
                              ? torch::Tensor()
                              : adjacent_rows(into, static_cast<StackedViews&>(*views).grads);
    if (!ctx->needs_input_grad({{1, 1 + rows.size()}})) {
      // Frozen weights (model.freeze, LoRA's base): no product whose result autograd would drop.
      out.resize(out.size() + rows.size());
    } else if (!into.empty()) {
      // Added where AccumulateGrad would add it, onto a zeroed .grad the same values as the mm:
      // one addmm_ where the .grads lie back to back (in the flat buffer, the layers of one
      // module), else one multi-tensor add_ of the product's parts (layers of several modules),
      // instead of an mm, a split and autograd's add_ per layer.
      if (adjacent.defined()) {
        adjacent.addmm_(rows_grad.t(), rows_x);
      } else {
        torch::_foreach_add_(into, rows_grad.t().mm(rows_x).split_with_sizes(rows));
      }
      out.resize(out.size() + rows.size());  // undefined: nothing left for autograd to add
    } else {
      split(rows_grad.t().mm(rows_x));  // [out, in]
    }
    const auto biases = static_cast<size_t>(ctx->saved_data["biases"].toInt());
    if (biases > 0 && ctx->needs_input_grad({{1 + rows.size(), 1 + rows.size() + biases}})) {
      split(rows_grad.sum(0));
    } else {
      out.resize(out.size() + biases);
    }
    out.emplace_back();  // none for the views
    return out;
  }
};

// The stacked layers' output (see StackedLinearFunction); the layers keep their own parameters
// (names, initialisation, checkpoint and Hugging Face layouts). `views`: the stacking module's,
// kept across steps (none: built for this call).
torch::Tensor stacked_linear(const torch::Tensor& x,
                             const std::vector<const torch::nn::Linear*>& layers,
                             c10::intrusive_ptr<StackedViews> views = {}) {
  std::vector<torch::Tensor> weights, biases;
  for (const auto* layer : layers) {
    weights.push_back((*layer)->weight);
    if ((*layer)->bias.defined()) biases.push_back((*layer)->bias);
  }
  if (!biases.empty() && biases.size() != weights.size()) {
    fail("stacked linear layers must all have biases or none");
  }
  if (!views) views = c10::make_intrusive<StackedViews>();
  return StackedLinearFunction::apply(x, at::TensorList(weights), at::TensorList(biases),
                                      std::move(views));
}

#if !PRIDE_TORCH_HAS_RMS_NORM
// A column [n, 1] or a row [1, n] filled with `value`, made once per thread: with them RMSNorm's
// reductions over rows [N, D] are products (addmm), one operator each.
const torch::Tensor& filled_column(int64_t n, double value, const torch::TensorOptions& options) {
  return per_thread_constant(std::make_tuple(n, value, placement_of(options)), [&] {
    return torch::full({n, 1}, value, options);
  });
}
const torch::Tensor& ones_row(int64_t n, const torch::TensorOptions& options) {
  return per_thread_constant(std::make_tuple(n, placement_of(options)), [&] {
    return torch::ones({1, n}, options);
  });
}

// RMSNorm on LibTorch before 2.4 (no at::rms_norm), for x and weight of one type, float or double:
// y = x * r * weight, r = rsqrt(mean(x^2) + eps), with its gradient written out as one formula.
// Autograd through the composite records 16 operators in backward and hands x two gradient parts
// (one through the product, one through x^2) that the residual stream then sums with another add;
// this records 6 and returns one. Over rows [N, D] (the blocks' layout) mean(x^2) + eps is one
// addmm, and the weight's gradient, a sum over rows, is one addmm_ straight into its .grad when
// autograd would add it there (compat::will_add_into_grad), instead of a sum and autograd's add_.
// With a `branch`, the input is the residual sum x + branch, which is returned too (outputs
// {y, sum}): the sum's own gradient joins the norm's in the formula's last operator (an addcmul
// for a product), where autograd would add the two with one more operator.
// It rounds differently from autograd's chain (the same value within float rounding;
// tests/unit/test_layers.cpp holds it to a double-precision reference).
// `views`: the module's weight as a column [D, 1] (weights) and its .grad as a row [1, D]
// (grads), kept across steps.
struct RMSNormFunction : torch::autograd::Function<RMSNormFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& input,
                                                const c10::optional<torch::Tensor>& branch,
                                                const torch::Tensor& weight, double eps,
                                                c10::intrusive_ptr<StackedViews> views) {
    const auto x = branch ? input + *branch : input;
    torch::Tensor mean_square;  // mean(x^2) + eps, [..., 1]
    if (x.dim() == 2) {
      const auto width = x.size(1);
      mean_square = torch::addmm(filled_column(1, eps, x.options()), x.pow(2),
                                 filled_column(width, 1.0 / double(width), x.options()));
    } else {
      mean_square = x.pow(2).mean(-1, /*keepdim=*/true) + eps;
    }
    auto inv_rms = torch::rsqrt(mean_square);
    auto normed = x * inv_rms;
    ctx->save_for_backward({inv_rms, normed});
    ctx->saved_data["weight"] = weight;  // the parameter itself, whose .grad backward may fill
    ctx->saved_data["views"] = c10::IValue::make_capsule(std::move(views));
    ctx->saved_data["branch"] = branch.has_value();
    if (!branch) return {normed * weight};
    return {normed * weight, x};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &inv_rms = saved[0], &normed = saved[1];
    const auto weight = ctx->saved_data["weight"].toTensor();
    auto& views = static_cast<StackedViews&>(*ctx->saved_data["views"].toCapsule());
    const bool branch = ctx->saved_data["branch"].toBool();
    const auto& grad = grads[0];
    const auto grad_times_normed = grad * normed;
    torch::Tensor grad_weight;
    const auto& into = grad_row(weight, normed, views.grads);
    if (into.defined()) {
      into.addmm_(ones_row(normed.size(0), normed.options()), grad_times_normed);
    } else {
      std::vector<int64_t> leading(normed.dim() - 1);
      std::iota(leading.begin(), leading.end(), 0);
      grad_weight = grad_times_normed.sum(leading);
    }
    auto grad_normed = grad * weight;
    // d/dx of normed = x * r: r * (grad_normed - normed * mean(grad_normed * normed)), the second
    // term being r's own dependence on x (dr/dx = -r^3 x / D); sum(grad_normed * normed) over a
    // row is (grad * normed) . weight, one product.
    const auto row_sums = torch::matmul(grad_times_normed, column_of(weight, views.weights));
    const double width = double(normed.size(-1));
    const auto inner = torch::addcmul(grad_normed, normed, row_sums, /*value=*/-1.0 / width);
    const auto& grad_sum = branch ? grads[1] : torch::Tensor();
    auto grad_x = grad_sum.defined() ? torch::addcmul(grad_sum, inner, inv_rms) : inner * inv_rms;
    return {grad_x, branch ? grad_x : torch::Tensor(), grad_weight, torch::Tensor(),
            torch::Tensor()};
  }

  // The weight as a column [D, 1], of the detached weight (read only, and outside autograd's view
  // tracking: the optimizer updates the weight in place between uses); `cached` while current.
  static const torch::Tensor& column_of(const torch::Tensor& weight, torch::Tensor& cached) {
    if (!cached.defined() || cached.data_ptr() != weight.data_ptr() ||
        cached.size(0) != weight.size(0) || cached.scalar_type() != weight.scalar_type() ||
        cached.device() != weight.device()) {
      cached = weight.detach().view({-1, 1});
    }
    return cached;
  }

  // The weight's .grad as a row [1, D] when backward may add the gradient of rows `normed`
  // [N, D] there itself; else undefined. `cached` while it views that .grad.
  static const torch::Tensor& grad_row(const torch::Tensor& weight, const torch::Tensor& normed,
                                       torch::Tensor& cached) {
    static const torch::Tensor none;
    if (normed.dim() != 2) return none;
    const auto into = grads_to_add_into({weight}, normed.scalar_type());
    if (into.empty() || !into[0].is_contiguous()) return none;
    const auto& grad = into[0];
    if (!cached.defined() || !cached.is_alias_of(grad) || cached.data_ptr() != grad.data_ptr() ||
        cached.size(1) != grad.numel()) {
      torch::NoGradGuard no_grad;
      cached = grad.view({1, -1});
    }
    return cached;
  }
};
#endif

// theta^(-2i/head_dim) for i < head_dim/2, in fp64; with Llama 3 scaling, wavelengths beyond the
// original context are stretched by `factor`, those between the two cut-offs blended smoothly.
torch::Tensor inverse_frequencies(int64_t head_dim, const RopeConfig& rope, torch::Device device) {
  auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(device);
  auto inv_freq = torch::pow(rope.theta, -torch::arange(0, head_dim, 2, f64) / double(head_dim));
  if (rope.llama3_factor == 0.0) return inv_freq;
  const double factor = rope.llama3_factor, context = rope.original_max_position_embeddings;
  const double low_wavelen = context / rope.low_freq_factor;
  const double high_wavelen = context / rope.high_freq_factor;
  auto wavelen = 2.0 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_wavelen, inv_freq / factor, inv_freq);
  auto smooth =
      (context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
  auto blended = (1.0 - smooth) * scaled / factor + smooth * scaled;
  auto medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
  return torch::where(medium, blended, scaled);
}

// The tables repeat each frequency's value over the two halves of a head.
Rotary tables_from(const torch::Tensor& freqs, const torch::Tensor& like) {
  const auto type = like.scalar_type();
  auto cos = freqs.cos(), sin = freqs.sin();
  return {torch::cat({cos, cos}, -1).to(type), torch::cat({sin, sin}, -1).to(type),
          torch::cat({-sin, sin}, -1).to(type)};
}

// [B, kv, T, d] -> [B, heads, T, d]: kv head j serves query heads j*rep .. (j+1)*rep-1 (a copy, for
// the attention kernels that take as many key/value heads as query heads).
torch::Tensor repeat_kv(const torch::Tensor& x, int64_t heads) {
  const int64_t kv = x.size(1), rep = heads / kv;
  if (rep == 1) return x;
  return x.unsqueeze(2)
      .expand({x.size(0), kv, rep, x.size(2), x.size(3)})
      .reshape({x.size(0), heads, x.size(2), x.size(3)});
}

// [..., T, C] -> [..., rep * T, C]: the rows repeated `rep` times one after the other, as the
// grouped query rows of MathAttentionFunction take them (a copy; none when there is one row,
// which broadcasts, or one copy).
torch::Tensor grouped_rows(const torch::Tensor& x, int64_t rep) {
  if (rep == 1 || x.size(-2) == 1) return x;
  std::vector<int64_t> repeats(x.dim(), 1);
  repeats[x.dim() - 2] = rep;
  return x.repeat(repeats);
}

// The causal mask of `rep` groups of t query rows over t keys, [rep * t, t], true above each
// group's diagonal: built once per shape and device on each thread.
const torch::Tensor& grouped_future_mask(int64_t t, int64_t rep, const torch::Device& device) {
  return per_thread_constant(std::make_tuple(t, rep, device.str()), [&] {
    return grouped_rows(compat::causal_future_mask(t, device), rep);
  });
}

// LibTorch before 2.0 has no fused attention: softmax(q k^T / sqrt(d) + mask) v is math, and
// autograd through it records about 25 operators per call in backward (each 4-D matmul's
// reshapes, expands and transposes), plus three for each key and value head copy that
// grouped-query attention would make (and three for each copy's gradient). This is the same math
// (compat's, with the same types) with its gradient written out, and no copies: the query heads
// that share a key/value head are stacked as one group of rows, [B, KV, rep * Tq, d] (query head
// j*rep + i is row block i of group j), so each product reads every key/value head once (half as
// many, twice as tall GEMMs for two query heads per key/value head) and the keys' and values'
// gradients come out summed over their query heads.
// The scores' divisor sqrt(d) comes folded into q where the rotary tables scaled it (q_scale),
// and into the mask's add where there is one (an add with alpha). The six products go through
// batched_matmul: on the CPU one BLAS gemm per batch entry, with no operator dispatched.
// q [B, H, Tq, d]; k, v [B, KV, Tk, d] with KV dividing H; masks broadcast to [B, 1, Tq, Tk].
struct MathAttentionFunction : torch::autograd::Function<MathAttentionFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q,
                               const torch::Tensor& k, const torch::Tensor& v,
                               const c10::optional<torch::Tensor>& additive_mask,
                               const c10::optional<torch::Tensor>& no_key, bool causal,
                               double q_scale) {
    const auto wide = accumulate_type(q);
    const int64_t batch = q.size(0), kv_heads = k.size(1), rep = q.size(1) / kv_heads;
    const int64_t rows = q.size(2), width = q.size(3);
    const auto grouped_q = as_type(q, wide).reshape({batch, kv_heads, rep * rows, width});
    const auto wide_k = as_type(k, wide);
    const double divisor = scores_divisor(width, q_scale);
    auto scores = batched_matmul(grouped_q, wide_k, /*transpose_a=*/false, /*transpose_b=*/true);
    if (additive_mask) {
      scores = torch::add(grouped_rows(as_type(*additive_mask, wide), rep), scores, 1.0 / divisor);
    } else if (divisor != 1.0) {
      scores = scores / divisor;
    }
    if (causal) {
      scores.masked_fill_(grouped_future_mask(rows, rep, q.device()),
                          -std::numeric_limits<double>::infinity());
    }
    auto probs = torch::softmax(scores, -1);
    // Rows without any key: zero weights give zero outputs, and zero gradients through the
    // softmax, as zeroing the outputs after would (one operator fewer in backward).
    if (no_key) probs.masked_fill_(grouped_rows(*no_key, rep), 0.0);
    ctx->save_for_backward({grouped_q, wide_k, v, probs});
    ctx->saved_data["q_type"] = static_cast<int64_t>(q.scalar_type());
    ctx->saved_data["k_type"] = static_cast<int64_t>(k.scalar_type());
    ctx->saved_data["divisor"] = divisor;
    return batched_matmul(as_type(probs, v.scalar_type()), v).view(q.sizes());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    const auto grad = grads[0].reshape(q.sizes().vec());  // [B, KV, rep * Tq, d]
    auto grad_v = batched_matmul(as_type(probs, v.scalar_type()), grad, /*transpose_a=*/true);
    auto grad_probs = as_type(batched_matmul(grad, v, /*transpose_a=*/false, /*transpose_b=*/true),
                              probs.scalar_type());
    auto grad_scores = torch::_softmax_backward_data(grad_probs, probs, -1, probs.scalar_type());
    const double divisor = ctx->saved_data["divisor"].toDouble();
    if (divisor != 1.0) grad_scores = grad_scores / divisor;
    auto grad_q = batched_matmul(grad_scores, k).view(grads[0].sizes());
    auto grad_k = batched_matmul(grad_scores, q, /*transpose_a=*/true);
    auto type_of = [&](const char* key) {
      return static_cast<torch::ScalarType>(ctx->saved_data[key].toInt());
    };
    return {as_type(grad_q, type_of("q_type")),
            as_type(grad_k, type_of("k_type")),
            grad_v,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }

  // What the scores q k^T are divided by, sqrt(d) / q_scale: exactly 1 where q_scale folded all
  // of the scale in.
  static double scores_divisor(int64_t width, double q_scale) {
    const double divisor = std::sqrt(double(width)) * q_scale;
    return std::abs(divisor - 1.0) < 1e-12 ? 1.0 : divisor;
  }
};

// compat::scaled_dot_product_attention, with the written-out gradient where LibTorch has no
// fused attention (outside autocast).
// Query rows marked in `no_key` (undefined: none) output zeros. `q_scale`: as scaled_dot_product's.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& additive_mask, const torch::Tensor& no_key,
                        bool causal, double q_scale) {
  // Under autocast the products' types are autocast's (bf16) while the saved operands are not:
  // there the composite, whose backward autograd types.
  if (compat::kHasFusedAttention || compat::AutocastGuard::is_enabled(q.device().type())) {
    const int64_t heads = q.size(1);
    auto out = compat::scaled_dot_product_attention(q, repeat_kv(k, heads), repeat_kv(v, heads),
                                                    additive_mask, causal, q_scale);
    return no_key.defined() ? out.masked_fill(no_key, 0.0) : out;
  }
  // Optionals, not undefined tensors: autograd asks every tensor input for its device.
  auto optional = [](const torch::Tensor& t) {
    return t.defined() ? c10::optional<torch::Tensor>(t) : c10::nullopt;
  };
  return MathAttentionFunction::apply(q, k, v, optional(additive_mask), optional(no_key), causal,
                                      q_scale);
}

// Writes this call's keys/values [B, kv, T, hd] after the cached ones; returns all of them.
std::pair<torch::Tensor, torch::Tensor> append_to_cache(KVCache& cache, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  const int64_t end = cache.length + k.size(2);
  if (end > cache.capacity) {
    fail("attention: KV cache of {} positions cannot take {} more after {}", cache.capacity,
         k.size(2), cache.length);
  }
  if (!cache.keys.defined()) {
    cache.keys = torch::empty({k.size(0), k.size(1), cache.capacity, k.size(3)}, k.options());
    cache.values = torch::empty_like(cache.keys);
  }
  cache.keys.narrow(2, cache.length, k.size(2)).copy_(k);
  cache.values.narrow(2, cache.length, v.size(2)).copy_(v);
  cache.length = end;
  return {cache.keys.narrow(2, 0, end), cache.values.narrow(2, 0, end)};
}

}  // namespace

void LoraAdapters::add(torch::nn::Linear& layer, std::shared_ptr<const LoraSettings> shared) {
  settings = std::move(shared);
  const auto& options = layer->options;
  // torch::nn::Linear initialises its weight kaiming-uniform with a = sqrt(5), as PEFT's lora_A.
  Pair pair{torch::nn::Linear(
                torch::nn::LinearOptions(options.in_features(), settings->rank).bias(false)),
            torch::nn::Linear(
                torch::nn::LinearOptions(settings->rank, options.out_features()).bias(false))};
  {
    torch::NoGradGuard no_grad;
    pair.b->weight.zero_();
    pair.a->to(layer->weight.device(), layer->weight.scalar_type());
    pair.b->to(layer->weight.device(), layer->weight.scalar_type());
  }
  layer->register_module("lora_A", pair.a);
  layer->register_module("lora_B", pair.b);
  of_layer[layer.get()] = pair;
}

torch::Tensor LoraAdapters::added_to(torch::Tensor y, const torch::Tensor& x,
                                     std::initializer_list<const torch::nn::Linear*> layers,
                                     bool training) const {
  if (of_layer.empty() || !settings->enabled) return y;
  std::vector<int64_t> widths;
  for (const auto* layer : layers) widths.push_back((*layer)->weight.size(0));
  // The adapters' outputs are added to their layers' columns of the stacked product: W + BA is
  // never formed, which would keep a second copy of the weights for backward.
  std::vector<torch::Tensor> columns =
      layers.size() == 1 ? std::vector<torch::Tensor>{y} : y.split_with_sizes(widths, -1);
  size_t i = 0;
  for (const auto* layer : layers) {
    const auto found = of_layer.find(layer->get());
    if (found != of_layer.end()) {
      // PEFT draws a dropout mask per adapted layer.
      const auto input = training && settings->dropout > 0
                             ? torch::dropout(x, settings->dropout, /*train=*/true)
                             : x;
      const auto& [a, b] = found->second;
      columns[i] =
          columns[i] + at::linear(at::linear(input, a->weight), b->weight) * settings->scale;
    }
    ++i;
  }
  return columns.size() == 1 ? columns[0] : torch::cat(columns, -1);
}

namespace {

// stacked_linear with the layers' LoRA adapters.
torch::Tensor adapted_linear(const torch::Tensor& x,
                             std::initializer_list<const torch::nn::Linear*> layers,
                             const LoraAdapters& lora, bool training,
                             c10::intrusive_ptr<StackedViews> views = {}) {
  return lora.added_to(stacked_linear(x, layers, std::move(views)), x, layers, training);
}

// Adds an adapter to each of `layers` (by name) that `targets` names.
void add_targets(LoraAdapters& lora,
                 std::initializer_list<std::pair<const char*, torch::nn::Linear*>> layers,
                 const std::vector<std::string>& targets,
                 const std::shared_ptr<const LoraSettings>& settings) {
  for (const auto& [name, layer] : layers) {
    if (std::find(targets.begin(), targets.end(), name) != targets.end()) {
      lora.add(*layer, settings);
    }
  }
}

// Frozen weights (model.freeze, LoRA's base) lie in separate tensors, outside the trainer's flat
// buffer, so stacked_linear would concatenate them into a copy on every forward, which backward
// keeps (for an 8B model, gigabytes): moved back to back into one buffer, it views them as one
// matrix instead. Weights that train are left to the flat buffer.
void pack_frozen_rows(std::initializer_list<torch::nn::Linear*> layers) {
  std::vector<torch::Tensor> weights;
  for (auto* layer : layers) {
    if ((*layer)->weight.requires_grad()) return;
    weights.push_back((*layer)->weight);
  }
  torch::NoGradGuard no_grad;
  const auto packed = torch::cat(weights);
  int64_t row = 0;
  for (auto& weight : weights) {
    const int64_t rows = weight.size(0);
    weight.set_data(packed.narrow(0, row, rows));
    row += rows;
  }
}

}  // namespace

torch::Tensor apply_linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  return stacked_linear(x, {&layer});
}

torch::nn::Linear init_linear(int64_t in, int64_t out, bool bias) {
  torch::nn::Linear layer(torch::nn::LinearOptions(in, out).bias(bias));
  torch::NoGradGuard no_grad;
  layer->weight.normal_(0.0, kInitStd);
  if (bias) layer->bias.zero_();
  return layer;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight_ = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
#if PRIDE_TORCH_HAS_RMS_NORM
  // One ATen operator (one fused kernel on CUDA from LibTorch 2.8, with its own backward).
  return at::rms_norm(x, {weight_.size(0)}, weight_, eps_);
#else
  // On 1.13 the composite with its gradient written out (RMSNormFunction), where the types allow.
  if (written_out(x)) return RMSNormFunction::apply(x, c10::nullopt, weight_, eps_, views_)[0];
  const auto wide = as_type(x, accumulate_type(x));
  auto normed = wide * torch::rsqrt(wide.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return as_type(normed, x.scalar_type()) * weight_;
#endif
}

std::pair<torch::Tensor, torch::Tensor> RMSNormImpl::add_and_norm(const torch::Tensor& x,
                                                                  const torch::Tensor& branch) {
#if !PRIDE_TORCH_HAS_RMS_NORM
  if (written_out(x) && branch.scalar_type() == x.scalar_type()) {
    auto outputs = RMSNormFunction::apply(x, branch, weight_, eps_, views_);
    return {outputs[1], outputs[0]};
  }
#endif
  auto sum = x + branch;
  return {sum, forward(sum)};
}

bool RMSNormImpl::written_out(const torch::Tensor& x) const {
  return !PRIDE_TORCH_HAS_RMS_NORM && x.scalar_type() == weight_.scalar_type() &&
         x.scalar_type() == accumulate_type(x);
}

Rotary rotary_tables(int64_t length, int64_t head_dim, double theta, const torch::Tensor& like) {
  RopeConfig rope;
  rope.theta = theta;
  auto inv_freq = inverse_frequencies(head_dim, rope, like.device());
  return tables_from(torch::outer(torch::arange(length, inv_freq.options()), inv_freq), like);
}

Rotary rotary_tables_at(const torch::Tensor& positions, int64_t head_dim, const RopeConfig& rope,
                        const torch::Tensor& like) {
  auto inv_freq = inverse_frequencies(head_dim, rope, like.device());
  auto rotary = tables_from(positions.to(torch::kDouble).unsqueeze(-1) * inv_freq, like);
  return {rotary.cos.unsqueeze(1), rotary.sin.unsqueeze(1),
          rotary.sin_signed.unsqueeze(1)};  // [B, 1, T, head_dim]
}

Rotary with_projection_tables(Rotary rotary, int64_t heads, int64_t kv_heads, double query_scale) {
  torch::NoGradGuard no_grad;
  // [B, 1, T, d] -> [B, T, 1, d], over q heads (scaled) and k heads, then v's heads: cos 1 and
  // sin 0 give v back exactly (v * 1 + roll(v) * 0).
  auto over_heads = [&](const torch::Tensor& table, double v_value) {
    const auto rows = table.transpose(1, 2);
    auto sizes = rows.sizes().vec();
    sizes[2] = 1;
    auto kept = torch::full({sizes[0], sizes[1], kv_heads, sizes[3]}, v_value, table.options());
    return torch::cat({(rows * query_scale).expand({sizes[0], sizes[1], heads, sizes[3]}),
                       rows.expand({sizes[0], sizes[1], kv_heads, sizes[3]}), kept},
                      2);
  };
  rotary.projection_cos = over_heads(rotary.cos, 1.0);
  rotary.projection_sin_signed = over_heads(rotary.sin_signed, 0.0);
  rotary.projection_heads = heads;
  rotary.projection_kv_heads = kv_heads;
  rotary.projection_query_scale = query_scale;
  return rotary;
}

double folded_query_scale(int64_t head_dim) {
  return compat::kHasFusedAttention ? 1.0 : 1.0 / std::sqrt(double(head_dim));
}

AttentionImpl::AttentionImpl(const AttentionShape& s)
    : n_heads_(s.n_heads),
      n_kv_heads_(s.n_kv_heads),
      head_dim_(s.head_dim > 0 ? s.head_dim : (s.n_heads > 0 ? s.d_model / s.n_heads : 0)) {
  if (s.n_heads <= 0 || s.n_kv_heads <= 0 || s.n_heads % s.n_kv_heads != 0 || head_dim_ <= 0 ||
      head_dim_ % 2 != 0 || (s.head_dim == 0 && s.d_model % s.n_heads != 0)) {
    fail(
        "model: d_model={} n_heads={} n_kv_heads={} head_dim={} need an even head width "
        "(d_model / n_heads unless given) and n_heads % n_kv_heads == 0",
        s.d_model, s.n_heads, s.n_kv_heads, s.head_dim);
  }
  q_proj = register_module("q_proj", init_linear(s.d_model, n_heads_ * head_dim_, s.qkv_bias));
  k_proj = register_module("k_proj", init_linear(s.d_model, n_kv_heads_ * head_dim_, s.qkv_bias));
  v_proj = register_module("v_proj", init_linear(s.d_model, n_kv_heads_ * head_dim_, s.qkv_bias));
  o_proj = register_module("o_proj", init_linear(n_heads_ * head_dim_, s.d_model, s.o_bias));
  if (s.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim_, s.norm_eps));
    k_norm = register_module("k_norm", RMSNorm(head_dim_, s.norm_eps));
  }
}

// Self-attention projects q, k and v in one product and rotates q and k together.
AttentionImpl::Heads AttentionImpl::project(const torch::Tensor& x, int64_t batch,
                                            const Rotary* rotary) {
  const int64_t qk_heads = n_heads_ + n_kv_heads_;
  const int64_t length = rows_of(x) / batch;
  const bool normed = !q_norm.is_empty();
  auto qkv = adapted_linear(x, {&q_proj, &k_proj, &v_proj}, lora_, is_training(), qkv_views_)
                 .view({batch, length, qk_heads + n_kv_heads_, head_dim_});
  if (rotary != nullptr && !normed && rotates_whole_projection(*rotary, length)) {
    // The same values as rotating q and k after the split (v comes back as it is).
    auto parts = rotate(qkv, rotary->projection_cos, rotary->projection_sin_signed)
                     .transpose(1, 2)
                     .split_with_sizes({n_heads_, n_kv_heads_, n_kv_heads_}, 1);
    return {parts[0], parts[1], parts[2], rotary->projection_query_scale};
  }
  // Splits, not narrows: backward joins the parts in one cat, where each narrow's backward
  // would write its gradient into a zeroed tensor of the whole size.
  torch::Tensor q, k, v, qk;  // qk: q and k side by side, [B, T, heads + kv heads, head_dim]
  if (rotary != nullptr && !normed) {
    auto parts = qkv.split_with_sizes({qk_heads, n_kv_heads_}, 2);
    qk = parts[0];
    v = parts[1];
  } else {
    auto parts = qkv.split_with_sizes({n_heads_, n_kv_heads_, n_kv_heads_}, 2);
    q = parts[0];
    k = parts[1];
    v = parts[2];
  }
  if (normed) {
    q = q_norm(q);
    k = k_norm(k);
  }
  v = v.transpose(1, 2);
  if (rotary == nullptr) return {q.transpose(1, 2), k.transpose(1, 2), v};
  if (!qk.defined()) qk = torch::cat({q, k}, 2);
  qk = apply_rotary(qk.transpose(1, 2), *rotary);  // q and k in one rotation
  auto parts = qk.split_with_sizes({n_heads_, n_kv_heads_}, 1);
  return {parts[0], parts[1], v};
}

AttentionImpl::Heads AttentionImpl::project_queries(const torch::Tensor& x, int64_t batch,
                                                    const KeyValues& memory, const Rotary* rotary) {
  auto q = adapted_linear(x, {&q_proj}, lora_, is_training())
               .view({batch, rows_of(x) / batch, n_heads_, head_dim_});
  if (!q_norm.is_empty()) q = q_norm(q);
  q = q.transpose(1, 2);
  if (rotary == nullptr) return {q, memory.keys, memory.values};
  return {apply_rotary(q, *rotary), apply_rotary(memory.keys, *rotary), memory.values};
}

std::vector<AttentionImpl::KeyValues> AttentionImpl::project_memory(
    const std::vector<AttentionImpl*>& layers, const torch::Tensor& memory) {
  if (memory.dim() != 3) fail("attention: memory must be [B, M, d], got {}", memory.sizes());
  const auto& first = *layers.at(0);
  bool adapted = false;
  std::vector<const torch::nn::Linear*> projections;
  for (const auto* layer : layers) {
    if (layer->n_kv_heads_ != first.n_kv_heads_ || layer->head_dim_ != first.head_dim_) {
      fail("attention: layers projecting one memory together need one kv_heads and head_dim");
    }
    adapted = adapted || !layer->lora_.of_layer.empty();
    projections.insert(projections.end(), {&layer->k_proj, &layer->v_proj});
  }
  std::vector<KeyValues> projected;
  if (layers.size() > 1 && adapted) {  // each layer with its own adapters
    for (auto* layer : layers) projected.push_back(project_memory({layer}, memory)[0]);
    return projected;
  }
  const auto all = layers.size() == 1
                       ? adapted_linear(memory, {&first.k_proj, &first.v_proj}, first.lora_,
                                        first.is_training(), first.kv_views_)
                       : stacked_linear(memory, projections);
  // [B, M, layers * 2 kv_heads * head_dim] -> 2 * layers parts [B, kv_heads, M, head_dim]: each
  // layer's keys, then its values, in one transpose and one split.
  const auto parts = all.view({memory.size(0), memory.size(1), -1, first.head_dim_})
                         .transpose(1, 2)
                         .chunk(2 * int64_t(layers.size()), 1);
  for (size_t i = 0; i < layers.size(); ++i) {
    auto& norm = layers[i]->k_norm;
    projected.push_back({norm.is_empty() ? parts[2 * i] : norm(parts[2 * i]), parts[2 * i + 1]});
  }
  return projected;
}

bool AttentionImpl::rotates_whole_projection(const Rotary& rotary, int64_t length) const {
  return rotary.projection_cos.defined() && rotary.projection_heads == n_heads_ &&
         rotary.projection_kv_heads == n_kv_heads_ && rotary.projection_cos.size(1) == length &&
         rotary.projection_cos.size(-1) == head_dim_;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                     const AttentionMask& mask, const Rotary* rotary,
                                     KVCache* cache) {
  return forward_rows(x, x.size(0), memory, mask, rotary, cache);
}

torch::Tensor AttentionImpl::forward_rows(const torch::Tensor& x, int64_t batch,
                                          const torch::Tensor& memory, const AttentionMask& mask,
                                          const Rotary* rotary, KVCache* cache) {
  return attend(x, batch,
                x.is_same(memory)
                    ? project(x, batch, rotary)
                    : project_queries(x, batch, project_memory({this}, memory)[0], rotary),
                mask, cache);
}

torch::Tensor AttentionImpl::forward_rows(const torch::Tensor& x, int64_t batch,
                                          const KeyValues& memory, const AttentionMask& mask) {
  return attend(x, batch, project_queries(x, batch, memory, nullptr), mask, nullptr);
}

torch::Tensor AttentionImpl::attend(const torch::Tensor& x, int64_t batch, Heads heads,
                                    const AttentionMask& mask, KVCache* cache) {
  auto& [q, k, v, q_scale] = heads;
  if (cache != nullptr) std::tie(k, v) = append_to_cache(*cache, k, v);
  // [B, T, heads, head_dim]
  auto out = scaled_dot_product(q, k, v, mask, q_scale).transpose(1, 2);
  const int64_t width = n_heads_ * head_dim_;
  return adapted_linear(
      x.dim() == 2 ? out.reshape({-1, width}) : out.reshape({batch, out.size(1), width}), {&o_proj},
      lora_, is_training());
}

void AttentionImpl::pack_frozen_weights() {
  pack_frozen_rows({&q_proj, &k_proj, &v_proj});
}

void AttentionImpl::add_lora(const std::vector<std::string>& targets,
                             const std::shared_ptr<const LoraSettings>& settings) {
  add_targets(lora_,
              {{"q_proj", &q_proj}, {"k_proj", &k_proj}, {"v_proj", &v_proj}, {"o_proj", &o_proj}},
              targets, settings);
}

AttentionMask AttentionMask::prepared(torch::ScalarType scores_type, bool some_key_always) const {
  AttentionMask ready = *this;
  if (!allowed.defined()) return ready;
  // A finite floor instead of -inf keeps rows without any admissible key NaN-free (half the
  // lowest value, so that adding a score cannot overflow); those rows are zeroed after.
  const double floor = scores_type == torch::kHalf     ? -32752.0
                       : scores_type == torch::kDouble ? std::numeric_limits<double>::lowest() / 2
                                                       : std::numeric_limits<float>::lowest() / 2;
  const auto refused = allowed.logical_not();
  ready.additive = torch::zeros(allowed.sizes(), allowed.options().dtype(scores_type))
                       .masked_fill(refused, floor);
  if (!some_key_always) ready.no_key = refused.all(-1, /*keepdim=*/true);
  return ready;
}

torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const AttentionMask& mask,
                                 double q_scale) {
  if (!mask.allowed.defined()) {
    return attention(q, k, v, {}, {}, mask.causal && q.size(2) > 1, q_scale);
  }
  const bool ready = mask.additive.defined() && mask.additive.scalar_type() == q.scalar_type();
  const AttentionMask prepared = ready ? mask : mask.prepared(q.scalar_type());
  return attention(q, k, v, prepared.additive, prepared.no_key, /*causal=*/false, q_scale);
}

SwiGLUImpl::SwiGLUImpl(int64_t d_model, int64_t d_ff) {
  gate_proj = register_module("gate_proj", init_linear(d_model, d_ff, false));
  up_proj = register_module("up_proj", init_linear(d_model, d_ff, false));
  down_proj = register_module("down_proj", init_linear(d_ff, d_model, false));
}

torch::Tensor SwiGLUImpl::forward(const torch::Tensor& x) {
  auto gate_up =
      adapted_linear(x, {&gate_proj, &up_proj}, lora_, is_training(), gate_up_views_).chunk(2, -1);
  return adapted_linear(torch::silu(gate_up[0]) * gate_up[1], {&down_proj}, lora_, is_training());
}

void SwiGLUImpl::pack_frozen_weights() {
  pack_frozen_rows({&gate_proj, &up_proj});
}

void SwiGLUImpl::add_lora(const std::vector<std::string>& targets,
                          const std::shared_ptr<const LoraSettings>& settings) {
  add_targets(lora_, {{"gate_proj", &gate_proj}, {"up_proj", &up_proj}, {"down_proj", &down_proj}},
              targets, settings);
}

DecoderLayerImpl::DecoderLayerImpl(const BlockShape& s) {
  input_layernorm = register_module("input_layernorm", RMSNorm(s.d_model, s.norm_eps));
  self_attn = register_module("self_attn", Attention(s.attention()));
  if (s.cross_attention) {
    cross_attn_layernorm = register_module("cross_attn_layernorm", RMSNorm(s.d_model, s.norm_eps));
    cross_attn = register_module("cross_attn", Attention(s.attention()));
  }
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(s.d_model, s.norm_eps));
  mlp = register_module("mlp", SwiGLU(s.d_model, s.d_ff));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const AttentionMask& self_mask,
                                        const Rotary& rotary, const torch::Tensor& memory,
                                        const AttentionMask& memory_mask, KVCache* cache) {
  const auto projected = cross_attn.is_empty() || !memory.defined()
                             ? AttentionImpl::KeyValues{}
                             : AttentionImpl::project_memory({cross_attn.get()}, memory)[0];
  return forward_rows(x.reshape({-1, x.size(-1)}), x.size(0), self_mask, rotary, projected,
                      memory_mask, cache)
      .view(x.sizes());
}

torch::Tensor DecoderLayerImpl::forward_rows(torch::Tensor x, int64_t batch,
                                             const AttentionMask& self_mask, const Rotary& rotary,
                                             const AttentionImpl::KeyValues& memory,
                                             const AttentionMask& memory_mask, KVCache* cache) {
  auto h = input_layernorm(x);
  auto branch = self_attn->forward_rows(h, batch, h, self_mask, &rotary, cache);
  if (!cross_attn.is_empty()) {
    if (!memory.keys.defined()) fail("decoder layer: the cross-attention needs a memory");
    std::tie(x, h) = cross_attn_layernorm->add_and_norm(x, branch);
    branch = cross_attn->forward_rows(h, batch, memory, memory_mask);
  }
  std::tie(x, h) = post_attention_layernorm->add_and_norm(x, branch);
  return x + mlp(h);
}

void DecoderLayerImpl::add_lora(const std::vector<std::string>& targets,
                                const std::shared_ptr<const LoraSettings>& settings) {
  self_attn->add_lora(targets, settings);
  mlp->add_lora(targets, settings);
}

void DecoderLayerImpl::pack_frozen_weights() {
  self_attn->pack_frozen_weights();
  mlp->pack_frozen_weights();
}

ResamplerImpl::ResamplerImpl(const BlockShape& s, int64_t num_slots) {
  queries_ = register_parameter("queries", torch::randn({num_slots, s.d_model}) * kInitStd);
  query_norm = register_module("query_norm", RMSNorm(s.d_model, s.norm_eps));
  input_norm = register_module("input_norm", RMSNorm(s.d_model, s.norm_eps));
  attn = register_module("attn", Attention(s.d_model, s.n_heads, s.n_kv_heads));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(s.d_model, s.norm_eps));
  mlp = register_module("mlp", SwiGLU(s.d_model, s.d_ff));
}

torch::Tensor ResamplerImpl::forward(const torch::Tensor& tokens, const torch::Tensor& mask) {
  const int64_t batch = tokens.size(0);
  // Every sample's slots as rows [B * slots, d], as DecoderLayer::forward_rows has its positions.
  auto slots = queries_.repeat({batch, 1});
  // mask [B, L] -> [B, 1, 1, L]: every slot sees the same admissible tokens.
  auto attended = attn->forward_rows(query_norm(slots), batch, input_norm(tokens),
                                     mask.unsqueeze(1).unsqueeze(1));
  auto [sum, normed] = post_attention_layernorm->add_and_norm(slots, attended);
  slots = sum + mlp(normed);
  return slots.view({batch, queries_.size(0), slots.size(-1)});
}

}  // namespace pride
