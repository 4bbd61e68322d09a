// The PRIDE loss terms (formulas in losses.h), computed in fp32 (fp64 for double inputs). CE and
// RKL together (token_loss_sums) and MMD^2 have their gradients written out, one autograd node
// each (docs/performance.md, "Operators per step"); the other functions are autograd's.
#include "models/losses.h"

#include <fmt/ranges.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <tuple>

#include "util/error.h"
#include "util/tensor_constants.h"

namespace pride {

bool ids_in_range(const torch::Tensor& ids, int64_t end) {
  if (ids.numel() == 0) return true;
  const auto [low, high] = torch::aminmax(ids);
  bool inside = false;
  AT_DISPATCH_INTEGRAL_TYPES(low.scalar_type(), "ids_in_range", [&] {
    inside = *low.data_ptr<scalar_t>() >= 0 && int64_t(*high.data_ptr<scalar_t>()) < end;
  });
  return inside;
}

namespace {

constexpr double kTeacherTailFloor = 1e-8;
// Floor for log-probabilities: keeps -inf (an exhausted tail, a -inf teacher log-prob from the
// file) out of q * log q and log p without changing any value that matters (e^-100 ~ 0).
constexpr double kLogFloor = -100.0;

torch::ScalarType compute_type(const torch::Tensor& x) {
  return x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

// x in `type`, without dispatching an operator when it already is.
torch::Tensor as_type(const torch::Tensor& x, torch::ScalarType type) {
  return x.scalar_type() == type ? x : x.to(type);
}

// x in float32 (float64 when double).
torch::Tensor widen(const torch::Tensor& x) {
  return as_type(x, compute_type(x));
}

void check_mask(const torch::Tensor& mask, torch::IntArrayRef positions, const char* loss) {
  if (!mask.defined() || mask.scalar_type() != torch::kBool || !mask.sizes().equals(positions)) {
    fail("{}: mask must be a bool tensor of shape {}", loss, positions);
  }
}

// Class labels must index the last dim of logits; names the first bad position. Checked on host
// tensors only: on a GPU the check would stop the host every call, and the labels there came
// through the reader, which validates every id against the vocabulary and the emotion count.
void check_labels(const torch::Tensor& labels, int64_t classes, const char* loss) {
  if (!labels.device().is_cpu() || ids_in_range(labels, classes)) return;
  auto bad = (labels < 0) | (labels >= classes);
  auto where = bad.nonzero()[0];
  fail("{}: label {} at position {} is outside [0, {})", loss,
       labels.index({bad}).flatten()[0].item<int64_t>(),
       std::vector<int64_t>(where.data_ptr<int64_t>(), where.data_ptr<int64_t>() + where.numel()),
       classes);
}

// The label that nll_loss leaves out of its sum.
constexpr int64_t kIgnoredLabel = -100;

// sum over rows of -log softmax(logits)[label], logits [N, C], labels [N] (kIgnoredLabel: the row
// is left out): two operators each way, where picking the labels' log-probabilities one by one
// records five more.
torch::Tensor nll_sum(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nll_loss(torch::log_softmax(widen(logits), -1), labels, {}, at::Reduction::Sum,
                         kIgnoredLabel);
}

// The positions of x [..., D] where mask [...] is true, as rows [N, D], and how to sum a per-row
// value over them. On the CPU: only the masked rows (boolean indexing: fewer rows to compute). On a
// GPU: every row, weighted 0/1, because boolean indexing reads the row count back to the host.
struct MaskedRows {
  torch::Tensor mask;  // [...] bool
  bool indexed;

  MaskedRows(const torch::Tensor& mask, const torch::Tensor& like)
      : mask(mask), indexed(like.device().is_cpu()) {}
  // x [..., D] -> [N, D]
  torch::Tensor rows(const torch::Tensor& x) const {
    return indexed ? x.index({mask}) : x.reshape({-1, x.size(-1)});
  }
  // The labels [N] of the rows, the unmasked ones kIgnoredLabel.
  torch::Tensor kept_labels(const torch::Tensor& x) const {
    return indexed ? x.index({mask})
                   : x.reshape({-1}).masked_fill(~mask.reshape({-1}), kIgnoredLabel);
  }
  torch::Tensor sum(const torch::Tensor& per_row) const {
    if (indexed) return per_row.sum();
    return (per_row * mask.reshape({-1}).to(per_row.scalar_type())).sum();
  }
};

// Log of the probability mass of log_probs [N, V] outside the ids [N, K], in log space.
torch::Tensor log_tail_mass(const torch::Tensor& log_probs, const torch::Tensor& ids) {
  auto outside = log_probs.scatter(-1, ids, -std::numeric_limits<double>::infinity());
  return torch::logsumexp(outside, -1, /*keepdim=*/true).clamp_min(kLogFloor);
}

// The teacher's K or K+1 buckets as log-probabilities at temperature T.
torch::Tensor teacher_log_buckets(const torch::Tensor& topk_logprobs, double temperature,
                                  bool tail_bucket) {
  auto log_b = topk_logprobs.clamp_min(kLogFloor);
  if (tail_bucket) {
    auto tail = torch::rsub(log_b.exp().sum(-1, true), 1.0).clamp_min(kTeacherTailFloor);
    log_b = torch::cat({log_b, tail.log()}, -1);
  }
  return torch::log_softmax(temperature == 1.0 ? log_b : log_b / temperature, -1);
}

// log softmax(logits / T) over the vocabulary of rows [N, V] (no division at T = 1: x / 1 is x).
torch::Tensor tempered_log_probs(const torch::Tensor& logits, double temperature) {
  return torch::log_softmax(temperature == 1.0 ? logits : logits / temperature, -1);
}

// The student's K or K+1 buckets as log-probabilities, from its log-probabilities [N, V] at
// temperature T.
torch::Tensor student_log_buckets(const torch::Tensor& log_probs, const torch::Tensor& ids,
                                  bool tail_bucket) {
  auto log_q = log_probs.gather(-1, ids);
  if (!tail_bucket) return torch::log_softmax(log_q, -1);
  return torch::cat({log_q, log_tail_mass(log_probs, ids)}, -1);
}

// RKL per row from the student's tempered log-probabilities [N, V], the teacher's top-K ids and
// log-probabilities [N, K].
torch::Tensor reverse_kl_rows(const torch::Tensor& log_probs, const torch::Tensor& ids,
                              const torch::Tensor& topk_logprobs, double temperature,
                              bool tail_bucket) {
  auto log_q = student_log_buckets(log_probs, ids, tail_bucket);
  auto log_p =
      teacher_log_buckets(as_type(topk_logprobs, log_q.scalar_type()), temperature, tail_bucket);
  return (log_q.exp() * (log_q - log_p)).sum(-1);
}

void check_reverse_kl_inputs(const torch::Tensor& logits, const torch::Tensor& topk_ids,
                             const torch::Tensor& topk_logprobs, const torch::Tensor& mask,
                             double temperature) {
  check_mask(mask, logits.sizes().slice(0, logits.dim() - 1), "reverse_kl_sum");
  if (!(temperature > 0)) fail("reverse_kl_sum: temperature must be > 0, got {}", temperature);
  if (topk_ids.dim() != logits.dim() || !topk_ids.sizes().equals(topk_logprobs.sizes()) ||
      !topk_ids.sizes().slice(0, mask.dim()).equals(mask.sizes())) {
    fail("reverse_kl_sum: topk_ids {} and topk_logprobs {} must be [{}, K]", topk_ids.sizes(),
         topk_logprobs.sizes(), fmt::join(mask.sizes(), ", "));
  }
}

void check_cross_entropy_inputs(const torch::Tensor& logits, const torch::Tensor& targets,
                                const torch::Tensor& mask) {
  check_mask(mask, logits.sizes().slice(0, logits.dim() - 1), "cross_entropy_sum");
  if (!targets.sizes().equals(mask.sizes())) {
    fail("cross_entropy_sum: targets {} must match the mask {}", targets.sizes(), mask.sizes());
  }
}

}  // namespace

torch::Tensor cross_entropy_sum(const torch::Tensor& logits, const torch::Tensor& targets,
                                const torch::Tensor& mask) {
  check_cross_entropy_inputs(logits, targets, mask);
  const MaskedRows masked(mask, logits);
  auto picked = masked.kept_labels(targets);
  check_labels(picked, logits.size(-1), "cross_entropy_sum");
  return nll_sum(masked.rows(logits), picked);
}

torch::Tensor reverse_kl_sum(const torch::Tensor& logits, const torch::Tensor& topk_ids,
                             const torch::Tensor& topk_logprobs, const torch::Tensor& mask,
                             double temperature, bool tail_bucket) {
  check_reverse_kl_inputs(logits, topk_ids, topk_logprobs, mask, temperature);
  const MaskedRows masked(mask, logits);
  auto ids = masked.rows(topk_ids);
  check_labels(ids, logits.size(-1), "reverse_kl_sum");
  auto log_probs = tempered_log_probs(widen(masked.rows(logits)), temperature);
  return masked.sum(
      reverse_kl_rows(log_probs, ids, masked.rows(topk_logprobs), temperature, tail_bucket));
}

namespace {

// CE and RKL sums (token_loss_sums) over rows [N, V] of float logits as one autograd node, with
// the gradient written out: autograd through the two terms' composites records about forty
// operators in backward, this fourteen (at T = 1 with the tail bucket). Inputs: the rows' labels
// [N], the teacher's top-K ids [N, K] and its buckets' log-probabilities [N, K or K+1] (a
// constant). The gradient is autograd's chain rule term by term (duplicate ids
// included), except that the student's tail bucket passes its gradient even where it sits at the
// log floor: there its probability, below e^-100, makes that gradient vanish in float anyway.
struct TokenLossFunction : torch::autograd::Function<TokenLossFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& rows,
                                                const torch::Tensor& labels,
                                                const torch::Tensor& ids,
                                                const torch::Tensor& teacher, double temperature,
                                                bool tail_bucket) {
    const auto log_probs = torch::log_softmax(rows, -1);
    const auto ce = torch::nll_loss(log_probs, labels, {}, at::Reduction::Sum);
    const auto tempered = temperature == 1.0 ? log_probs : tempered_log_probs(rows, temperature);
    const auto picked = tempered.gather(-1, ids);
    torch::Tensor log_q, tail;  // the student's buckets; its tail's log-probability, floored
    if (tail_bucket) {
      tail = torch::logsumexp(tempered.scatter(-1, ids, -std::numeric_limits<double>::infinity()),
                              -1, /*keepdim=*/true)
                 .clamp_min(kLogFloor);
      log_q = torch::cat({picked, tail}, -1);
    } else {
      log_q = torch::log_softmax(picked, -1);
    }
    const auto rkl = torch::kl_div(teacher, log_q, at::Reduction::Sum, /*log_target=*/true);
    ctx->save_for_backward({log_probs, tempered, labels, ids, teacher, log_q, tail});
    ctx->saved_data["temperature"] = temperature;
    return {ce, rkl};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &log_probs = saved[0], &tempered = saved[1], &labels = saved[2], &ids = saved[3];
    const auto &teacher = saved[4], &log_q = saved[5], &tail = saved[6];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const auto &grad_ce = grads[0], &grad_rkl = grads[1];
    const int64_t top_k = ids.size(-1);

    // d RKL / d log q_i = q_i (log q_i - log p_i + 1)
    torch::Tensor grad_tempered;
    if (grad_rkl.defined()) {
      const auto q = log_q.exp();
      const auto grad_log_q = torch::addcmul(q, q, log_q - teacher) * grad_rkl;
      if (tail.defined()) {
        // The tail, a logsumexp over the ids outside the top K: d tail / d tempered_v =
        // exp(tempered_v - tail) there, 0 on the ids.
        const auto outside =
            tempered.scatter(-1, ids, -std::numeric_limits<double>::infinity()) - tail;
        grad_tempered = outside.exp() * grad_log_q.narrow(-1, top_k, 1);
        grad_tempered.scatter_add_(-1, ids, grad_log_q.narrow(-1, 0, top_k));
      } else {
        grad_tempered = torch::zeros_like(tempered).scatter_add_(
            -1, ids, torch::_log_softmax_backward_data(grad_log_q, log_q, -1, log_q.scalar_type()));
      }
    }
    // d CE / d log_probs: -grad_ce at each row's label.
    auto grad_log_probs = temperature == 1.0 && grad_tempered.defined()
                              ? grad_tempered
                              : torch::zeros_like(log_probs);
    if (grad_ce.defined()) {
      const auto& positions =
          per_thread_constant(std::make_tuple(labels.size(0), labels.device().str()),
                              [&] { return torch::arange(labels.size(0), labels.options()); });
      grad_log_probs.index_put_({positions, labels}, -grad_ce, /*accumulate=*/true);
    }
    auto grad_rows =
        torch::_log_softmax_backward_data(grad_log_probs, log_probs, -1, log_probs.scalar_type());
    if (temperature != 1.0 && grad_tempered.defined()) {
      grad_rows = grad_rows + torch::_log_softmax_backward_data(grad_tempered, tempered, -1,
                                                                tempered.scalar_type()) /
                                  temperature;
    }
    std::vector<torch::Tensor> out(6);
    out[0] = grad_rows;
    return out;
  }
};

}  // namespace

TokenLossSums token_loss_sums(const torch::Tensor& logits, const torch::Tensor& targets,
                              const torch::Tensor& topk_ids, const torch::Tensor& topk_logprobs,
                              const torch::Tensor& mask, double temperature, bool tail_bucket) {
  check_cross_entropy_inputs(logits, targets, mask);
  check_reverse_kl_inputs(logits, topk_ids, topk_logprobs, mask, temperature);
  const auto positions = mask.reshape(-1).nonzero().squeeze(1);
  return token_loss_sums_of_rows(rows_at(logits, positions), rows_at(targets, positions),
                                 rows_at(topk_ids, positions), rows_at(topk_logprobs, positions),
                                 temperature, tail_bucket);
}

torch::Tensor rows_at(const torch::Tensor& x, const torch::Tensor& rows) {
  if (x.dim() < 2) fail("rows_at: need a tensor [B, T, ...], got {}", x.sizes());
  auto sizes = x.sizes().slice(2).vec();
  sizes.insert(sizes.begin(), -1);
  return x.reshape(sizes).index_select(0, rows);
}

TokenLossSums token_loss_sums_of_rows(const torch::Tensor& logit_rows, const torch::Tensor& targets,
                                      const torch::Tensor& topk_ids,
                                      const torch::Tensor& topk_logprobs, double temperature,
                                      bool tail_bucket) {
  const int64_t n = logit_rows.size(0);
  if (logit_rows.dim() != 2 || !targets.sizes().equals({n}) || topk_ids.dim() != 2 ||
      topk_ids.size(0) != n || !topk_ids.sizes().equals(topk_logprobs.sizes())) {
    fail(
        "token_loss_sums: need logit rows [N, V], targets [N], top-K ids and log-probabilities "
        "[N, K], got {}, {}, {} and {}",
        logit_rows.sizes(), targets.sizes(), topk_ids.sizes(), topk_logprobs.sizes());
  }
  if (!(temperature > 0)) fail("reverse_kl_sum: temperature must be > 0, got {}", temperature);
  check_labels(targets, logit_rows.size(-1), "cross_entropy_sum");
  check_labels(topk_ids, logit_rows.size(-1), "reverse_kl_sum");
  const auto rows = widen(logit_rows);
  const auto teacher =
      teacher_log_buckets(as_type(topk_logprobs, rows.scalar_type()), temperature, tail_bucket);
  const auto sums =
      TokenLossFunction::apply(rows, targets, topk_ids, teacher, temperature, tail_bucket);
  return {sums[0], sums[1]};
}

TokenLossSums response_token_losses(const torch::Tensor& response_logits, const Batch& batch,
                                    double temperature, bool tail_bucket) {
  const auto rows = batch.response_rows_of();
  return token_loss_sums_of_rows(response_logits, rows_at(batch.targets, rows),
                                 rows_at(batch.topk_ids, rows), rows_at(batch.topk_logprobs, rows),
                                 temperature, tail_bucket);
}

torch::Tensor response_cross_entropy(const torch::Tensor& response_logits, const Batch& batch) {
  return cross_entropy_sum_of_rows(response_logits,
                                   rows_at(batch.targets, batch.response_rows_of()));
}

torch::Tensor response_logps(const torch::Tensor& response_logits, const Batch& batch) {
  const auto rows = batch.response_rows_of();
  const auto targets = rows_at(batch.targets, rows);
  if (response_logits.dim() != 2 || response_logits.size(0) != rows.size(0)) {
    fail("response_logps: need the logits of the batch's {} response positions, got {}",
         rows.size(0), response_logits.sizes());
  }
  check_labels(targets, response_logits.size(-1), "response_logps");
  const auto token_logps = torch::log_softmax(response_logits.to(torch::kFloat), -1)
                               .gather(-1, targets.unsqueeze(-1))
                               .squeeze(-1);
  // Each position's sample: its row of the [B, T] layout.
  const auto samples = torch::div(rows, batch.tokens.size(1), "floor");
  return torch::zeros({batch.size()}, token_logps.options()).index_add_(0, samples, token_logps);
}

torch::Tensor cross_entropy_sum_of_rows(const torch::Tensor& logit_rows,
                                        const torch::Tensor& targets) {
  if (logit_rows.dim() != 2 || !targets.sizes().equals({logit_rows.size(0)})) {
    fail("cross_entropy_sum: need logit rows [N, V] and targets [N], got {} and {}",
         logit_rows.sizes(), targets.sizes());
  }
  check_labels(targets, logit_rows.size(-1), "cross_entropy_sum");
  return nll_sum(logit_rows, targets);
}

namespace {

// The weights w of the unbiased MMD^2 as one sum over the kernel matrix K of [x; y] (n + m rows),
// MMD^2 = sum_ij w_ij K_ij: 1/(n(n-1)) within x and 1/(m(m-1)) within y off the diagonal, 0 on
// it, and -1/(nm) across (the mean of K_xy counted twice, as K_xy and K_yx). One product and one
// sum, where the three block means dispatch about twenty operators each way. Made once per
// shape, type and device on each thread.
const torch::Tensor& mmd_weights(int64_t n, int64_t m, const torch::TensorOptions& options) {
  return per_thread_constant(std::make_tuple(n, m, placement_of(options)), [&] {
    auto w = torch::full({n + m, n + m}, -1.0 / double(n * m), torch::kDouble);
    w.narrow(0, 0, n).narrow(1, 0, n).fill_(1.0 / double(n * (n - 1)));
    w.narrow(0, n, m).narrow(1, n, m).fill_(1.0 / double(m * (m - 1)));
    w.fill_diagonal_(0.0);
    return w.to(options);
  });
}

}  // namespace

namespace {

// The bandwidth multipliers as a [K, 1, 1] tensor of `options`, negated (the kernels' exponents
// are sq_dist / (bandwidth * -s)), made once per set and placement on each thread.
const torch::Tensor& negated_multipliers(const std::vector<double>& multipliers,
                                         const torch::TensorOptions& options) {
  return per_thread_constant(std::make_tuple(multipliers, placement_of(options)), [&] {
    std::vector<double> negated;
    for (double s : multipliers) negated.push_back(-s);
    return torch::tensor(negated, torch::kDouble).view({-1, 1, 1}).to(options);
  });
}

const torch::Tensor& diagonal_mask(int64_t n, const torch::Device& device) {
  return per_thread_constant(std::make_tuple(n, device.str()), [&] {
    return torch::eye(n, torch::TensorOptions(torch::kBool).device(device));
  });
}

// MMD^2 (mmd2_unbiased) as one autograd node with its gradient written out: autograd through the
// composite records about 35 operators in backward, this 9. With G = d MMD^2 / d sq_dist (the
// weights times the kernels' derivatives; the bandwidth is a constant), the gradient of the
// pooled sample z is 4 (rowsum(G) z - G z), G being symmetric; where a squared distance was
// clamped at 0 (two rows equal up to rounding) it passes the gradient of that rounding.
struct MmdFunction : torch::autograd::Function<MmdFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& y, const std::vector<double>& multipliers) {
    const int64_t n = x.size(0), m = y.size(0), total = n + m;
    const auto z = widen(torch::cat({x, y}, 0));
    const auto norms = z.pow(2).sum(-1);
    // |z_i|^2 + |z_j|^2 - 2 z_i . z_j, floored at 0, 0 on the diagonal
    const auto sq_dist = torch::addmm(norms.unsqueeze(0) + norms.unsqueeze(1), z, z.t(), 1.0, -2.0)
                             .clamp_min(0)
                             .masked_fill(diagonal_mask(total, z.device()), 0.0);
    const auto bandwidth = (sq_dist.sum() / double(total * (total - 1))).clamp_min(1e-12);
    // Every kernel at once, [K, N, N], weighted and summed in one product and one sum.
    const auto scales = bandwidth * negated_multipliers(multipliers, z.options());
    const auto kernels = torch::exp(sq_dist / scales);
    const auto& weights = mmd_weights(n, m, z.options());
    ctx->save_for_backward({z, kernels, scales, weights});
    ctx->saved_data["n"] = n;
    ctx->saved_data["x_type"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["y_type"] = static_cast<int64_t>(y.scalar_type());
    return (kernels * weights).sum();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &z = saved[0], &kernels = saved[1], &scales = saved[2], &weights = saved[3];
    const int64_t n = ctx->saved_data["n"].toInt();
    // G = weights * sum_k kernel_k / scale_k, times 4 and the incoming gradient
    const auto g = (kernels / scales).sum(0) * weights * (grads[0] * 4.0);
    const auto grad_z = torch::addmm(g.sum(1, /*keepdim=*/true) * z, g, z, 1.0, -1.0);
    auto type_of = [&](const char* key) {
      return static_cast<torch::ScalarType>(ctx->saved_data[key].toInt());
    };
    return {as_type(grad_z.narrow(0, 0, n), type_of("x_type")),
            as_type(grad_z.narrow(0, n, z.size(0) - n), type_of("y_type")), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor mmd2_unbiased(const torch::Tensor& x, const torch::Tensor& y,
                            const std::vector<double>& bandwidth_multipliers) {
  if (x.dim() != 2 || y.dim() != 2 || x.size(1) != y.size(1) || x.size(0) < 2 || y.size(0) < 2) {
    fail("mmd2_unbiased: need x [n, d] and y [m, d] with n, m >= 2, got {} and {}", x.sizes(),
         y.sizes());
  }
  if (bandwidth_multipliers.empty()) fail("mmd2_unbiased: no bandwidth multipliers");
  for (double s : bandwidth_multipliers) {
    if (!(s > 0)) fail("mmd2_unbiased: bandwidth multiplier {} must be > 0", s);
  }
  return MmdFunction::apply(x, y, bandwidth_multipliers);
}

LossTerms<double> loss_weights(const Config& config) {
  const LossConfig& w = config.loss;
  return {w.ce_weight,      w.rkl_weight,        w.mmd_weight,
          w.emotion_weight, w.emotion_kd_weight, config.pi.align_weight};
}

double weighted_loss(const Config& config, const LossTerms<double>& terms) {
  const auto w = loss_weights(config);
  double loss = terms.ce * w.ce + terms.rkl * w.rkl + terms.mmd * w.mmd +
                terms.emotion * w.emotion + terms.pi_align * w.pi_align;
  if (w.emotion_kd > 0) loss = loss + terms.emotion_kd * w.emotion_kd;
  return loss;
}

torch::Tensor weighted_loss(const Config& config, const LossTerms<torch::Tensor>& sums,
                            const LossTerms<double>& scales) {
  const auto w = loss_weights(config);
  std::vector<torch::Tensor> terms{sums.ce, sums.rkl, sums.mmd, sums.emotion, sums.pi_align};
  std::vector<double> coefficients{w.ce * scales.ce, w.rkl * scales.rkl, w.mmd * scales.mmd,
                                   w.emotion * scales.emotion, w.pi_align * scales.pi_align};
  if (w.emotion_kd > 0) {
    terms.push_back(sums.emotion_kd);
    coefficients.push_back(w.emotion_kd * scales.emotion_kd);
  }
  const auto stacked = torch::stack(terms);
  const auto weights =
      torch::from_blob(coefficients.data(), {int64_t(coefficients.size())}, torch::kDouble)
          .to(stacked.options());
  return torch::dot(stacked, weights);
}

torch::Tensor emotion_ce_sum(const torch::Tensor& logits, const torch::Tensor& labels) {
  if (logits.dim() != 2 || labels.dim() != 1 || labels.size(0) != logits.size(0)) {
    fail("emotion_ce_sum: need logits [B, E] and labels [B], got {} and {}", logits.sizes(),
         labels.sizes());
  }
  check_labels(labels, logits.size(1), "emotion_ce_sum");
  return nll_sum(logits, labels);
}

torch::Tensor emotion_kd_sum(const torch::Tensor& logits, const torch::Tensor& teacher_logprobs) {
  if (logits.dim() != 2 || teacher_logprobs.sizes() != logits.sizes()) {
    fail(
        "emotion_kd_sum: need student logits [B, E] and teacher log-probs of the same shape, got "
        "{} and {}",
        logits.sizes(), teacher_logprobs.sizes());
  }
  const auto teacher = teacher_logprobs.to(logits.scalar_type());
  return (teacher.exp() * (teacher - torch::log_softmax(logits, -1))).sum();
}

}  // namespace pride

namespace pride {

torch::Tensor sequence_logps(const torch::Tensor& logits, const torch::Tensor& targets,
                             const torch::Tensor& mask) {
  if (logits.dim() != 3 || targets.sizes() != logits.sizes().slice(0, 2) ||
      mask.sizes() != targets.sizes()) {
    fail("sequence_logps: need logits [B, T, V] with targets and mask [B, T], got {}, {} and {}",
         logits.sizes(), targets.sizes(), mask.sizes());
  }
  const auto token_logps = torch::log_softmax(logits.to(torch::kFloat), -1)
                               .gather(-1, targets.unsqueeze(-1))
                               .squeeze(-1);
  return torch::where(mask, token_logps, torch::zeros({}, token_logps.options())).sum(-1);
}

DpoTerms dpo_terms(const torch::Tensor& policy_chosen, const torch::Tensor& policy_rejected,
                   const torch::Tensor& reference_chosen, const torch::Tensor& reference_rejected,
                   const DpoConfig& options) {
  const auto shape = policy_chosen.sizes();
  for (const torch::Tensor* t : {&policy_rejected, &reference_chosen, &reference_rejected}) {
    if (t->sizes() != shape || shape.size() != 1) {
      fail("dpo_terms: need four [P] log-probabilities, got {}, {}, {} and {}",
           policy_chosen.sizes(), policy_rejected.sizes(), reference_chosen.sizes(),
           reference_rejected.sizes());
    }
  }
  const double beta = options.beta;
  const auto margin = (policy_chosen - policy_rejected) - (reference_chosen - reference_rejected);
  torch::Tensor losses;
  if (options.loss == "sigmoid") {
    const double eps = options.label_smoothing;
    losses =
        -torch::log_sigmoid(beta * margin) * (1 - eps) - torch::log_sigmoid(-beta * margin) * eps;
  } else if (options.loss == "ipo") {
    losses = (margin - 1 / (2 * beta)).pow(2);
  } else if (options.loss == "hinge") {
    losses = torch::relu(1 - beta * margin);
  } else {
    fail("dpo_terms: unknown loss '{}' (sigmoid, ipo, hinge)", options.loss);
  }
  return {losses, beta * (policy_chosen - reference_chosen).detach(),
          beta * (policy_rejected - reference_rejected).detach()};
}

}  // namespace pride
