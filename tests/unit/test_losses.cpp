// Loss terms: hand-computed values, zero/positivity properties, masking, temperature, MMD
// behaviour, and autograd gradients against central finite differences in double precision; the
// CE and RKL computed together against the two terms apart.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "models/losses.h"
#include "util/error.h"

namespace pride {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kDouble);
const auto kI64 = torch::TensorOptions().dtype(torch::kLong);

double value(const torch::Tensor& t) {
  return t.item<double>();
}

// Checks d loss / d input from autograd against central differences, all in double.
template <typename Loss>
void expect_gradient_matches_finite_differences(Loss loss, const torch::Tensor& at) {
  auto input = at.to(torch::kDouble).detach().requires_grad_(true);
  auto analytic = torch::autograd::grad({loss(input)}, {input})[0];
  torch::NoGradGuard no_grad;
  auto numeric = torch::zeros_like(analytic);
  const double eps = 1e-6;
  for (int64_t i = 0; i < input.numel(); ++i) {
    auto plus = input.detach().clone(), minus = input.detach().clone();
    plus.view(-1)[i] += eps;
    minus.view(-1)[i] -= eps;
    numeric.view(-1)[i] = (value(loss(plus)) - value(loss(minus))) / (2 * eps);
  }
  EXPECT_TRUE(torch::allclose(analytic, numeric, 1e-5, 1e-7))
      << "autograd\n"
      << analytic << "\nfinite differences\n"
      << numeric;
}

double log_sum_exp(const std::vector<double>& v) {
  double total = 0;
  for (double x : v) total += std::exp(x);
  return std::log(total);
}

// ---- cross-entropy -------------------------------------------------------------------------

TEST(CrossEntropySum, MatchesHandComputedValueOverMaskedPositions) {
  auto logits = torch::tensor({1.0, 2.0, 0.5, -1.0, 0.0, 3.0, 2.0, 2.0, 2.0}, kF64).view({1, 3, 3});
  auto targets = torch::tensor({{1, 2, 0}}, kI64);
  auto mask = torch::tensor({{true, true, false}});
  const double expected = -(2.0 - log_sum_exp({1.0, 2.0, 0.5})) - (3.0 - log_sum_exp({-1, 0, 3}));
  EXPECT_NEAR(value(cross_entropy_sum(logits, targets, mask)), expected, 1e-12);
  EXPECT_NEAR(value(cross_entropy_sum(logits.to(torch::kFloat), targets, mask)), expected, 1e-5);
}

TEST(CrossEntropySum, MaskedPositionsContributeNothing) {
  auto logits = torch::randn({2, 4, 5});
  auto targets = torch::randint(5, {2, 4}, kI64);
  auto mask = torch::tensor({{true, false, true, false}, {false, false, true, true}});
  auto changed = logits.clone();
  changed.index_put_({mask.logical_not()}, 100.0);
  auto bad_targets = targets.masked_fill(mask.logical_not(), -1);  // never read
  EXPECT_FLOAT_EQ(value(cross_entropy_sum(logits, targets, mask)),
                  value(cross_entropy_sum(changed, bad_targets, mask)));
  EXPECT_EQ(value(cross_entropy_sum(logits, targets, torch::zeros_like(mask))), 0.0);
}

TEST(CrossEntropySum, ReturnsFloat32ForFloatAndFloat64ForDouble) {
  auto mask = torch::ones({1, 2}, torch::kBool);
  auto targets = torch::zeros({1, 2}, kI64);
  EXPECT_EQ(cross_entropy_sum(torch::randn({1, 2, 3}), targets, mask).scalar_type(), torch::kFloat);
  EXPECT_EQ(cross_entropy_sum(torch::randn({1, 2, 3}, kF64), targets, mask).scalar_type(),
            torch::kDouble);
  EXPECT_EQ(cross_entropy_sum(torch::randn({1, 2, 3}, kF64), targets, mask).dim(), 0);
}

TEST(CrossEntropySum, GradientMatchesFiniteDifferences) {
  auto targets = torch::tensor({{1, 2, 0}, {3, 3, 1}}, kI64);
  auto mask = torch::tensor({{true, false, true}, {true, true, false}});
  expect_gradient_matches_finite_differences(
      [&](const torch::Tensor& l) { return cross_entropy_sum(l, targets, mask); },
      torch::randn({2, 3, 4}, kF64));
}

TEST(CrossEntropySum, OutOfRangeTargetIsAnError) {
  auto mask = torch::ones({1, 2}, torch::kBool);
  auto targets = torch::tensor({{0, 7}}, kI64);
  EXPECT_THROW(cross_entropy_sum(torch::randn({1, 2, 3}), targets, mask), Error);
  EXPECT_THROW(
      cross_entropy_sum(torch::randn({1, 2, 3}), targets, torch::ones({1, 3}, torch::kBool)),
      Error);
}

// ---- reverse KL ----------------------------------------------------------------------------

// One position, V = 4, teacher top-2 = ids {0, 2} with probabilities 0.6 and 0.3.
struct RklCase {
  std::vector<double> student = {0.5, -1.0, 1.5, 0.2};
  std::vector<int64_t> ids = {0, 2};
  std::vector<double> teacher = {std::log(0.6), std::log(0.3)};

  torch::Tensor logits() const { return torch::tensor(student, kF64).view({1, 1, 4}); }
  torch::Tensor topk_ids() const { return torch::tensor(ids, kI64).view({1, 1, 2}); }
  torch::Tensor topk_logprobs() const { return torch::tensor(teacher, kF64).view({1, 1, 2}); }
  double rkl(double temperature, bool tail) const {
    return value(reverse_kl_sum(logits(), topk_ids(), topk_logprobs(),
                                torch::ones({1, 1}, torch::kBool), temperature, tail));
  }
};

// sum_i q_i log(q_i / p_i) for two distributions given as weights (normalised here).
double kl(std::vector<double> q, std::vector<double> p) {
  double q_sum = 0, p_sum = 0, result = 0;
  for (size_t i = 0; i < q.size(); ++i) q_sum += q[i], p_sum += p[i];
  for (size_t i = 0; i < q.size(); ++i) {
    result += q[i] / q_sum * std::log((q[i] / q_sum) / (p[i] / p_sum));
  }
  return result;
}

TEST(ReverseKlSum, MatchesHandComputedValueWithoutTail) {
  RklCase c;
  for (double t : {1.0, 2.0}) {
    const double expected =
        kl({std::exp(0.5 / t), std::exp(1.5 / t)}, {std::pow(0.6, 1 / t), std::pow(0.3, 1 / t)});
    EXPECT_NEAR(c.rkl(t, false), expected, 1e-12) << "T=" << t;
  }
}

TEST(ReverseKlSum, MatchesHandComputedValueWithTail) {
  RklCase c;
  for (double t : {1.0, 2.0}) {
    std::vector<double> q;
    double z = 0;
    for (double s : c.student) z += std::exp(s / t);
    for (double s : c.student) q.push_back(std::exp(s / t) / z);
    const std::vector<double> student = {q[0], q[2], q[1] + q[3]};
    const std::vector<double> teacher = {std::pow(0.6, 1 / t), std::pow(0.3, 1 / t),
                                         std::pow(0.1, 1 / t)};
    EXPECT_NEAR(c.rkl(t, true), kl(student, teacher), 1e-12) << "T=" << t;
  }
}

TEST(ReverseKlSum, ZeroWhenStudentEqualsTeacherOnSupport) {
  // Without tail: student logits at the top-K ids = teacher log-probs + any constant.
  auto ids = torch::tensor({{{3, 0, 5}, {1, 2, 4}}}, kI64);
  auto teacher = torch::log_softmax(torch::randn({1, 2, 3}, kF64), -1) - 0.4;
  auto logits = torch::randn({1, 2, 6}, kF64).scatter(-1, ids, teacher + 2.5);
  auto mask = torch::ones({1, 2}, torch::kBool);
  for (double t : {0.5, 1.0, 3.0}) {
    EXPECT_NEAR(value(reverse_kl_sum(logits, ids, teacher, mask, t, false)), 0.0, 1e-12);
  }
  // With tail: the student's full distribution gives the teacher's top-K log-probs.
  auto full = torch::randn({1, 2, 6}, kF64);
  auto exact = torch::log_softmax(full, -1).gather(-1, ids);
  EXPECT_NEAR(value(reverse_kl_sum(full, ids, exact, mask, 1.0, true)), 0.0, 1e-12);
  EXPECT_NEAR(
      value(reverse_kl_sum(full.to(torch::kFloat), ids, exact.to(torch::kFloat), mask, 1.0, true)),
      0.0, 1e-6);
}

TEST(ReverseKlSum, PositiveWhenStudentDiffers) {
  RklCase c;
  EXPECT_GT(c.rkl(1.0, false), 1e-3);
  EXPECT_GT(c.rkl(1.0, true), 1e-3);
}

TEST(ReverseKlSum, MaskedPositionsContributeNothing) {
  RklCase c;
  auto logits = torch::cat({c.logits(), torch::randn({1, 1, 4}, kF64)}, 1);
  auto ids = torch::cat({c.topk_ids(), torch::full({1, 1, 2}, 999, kI64)}, 1);  // never read
  auto teacher = torch::cat({c.topk_logprobs(), torch::zeros({1, 1, 2}, kF64)}, 1);
  auto mask = torch::tensor({{true, false}});
  for (bool tail : {false, true}) {
    EXPECT_NEAR(value(reverse_kl_sum(logits, ids, teacher, mask, 1.0, tail)), c.rkl(1.0, tail),
                1e-12);
  }
}

TEST(ReverseKlSum, HighTemperatureFlattensBothSidesTowardsZero) {
  RklCase c;
  const double t1 = c.rkl(1.0, false), t4 = c.rkl(4.0, false), t64 = c.rkl(64.0, false);
  EXPECT_GT(t1, t4);
  EXPECT_GT(t4, t64);
  EXPECT_LT(t64, 1e-3 * t1);
}

TEST(ReverseKlSum, GradientMatchesFiniteDifferencesWithAndWithoutTail) {
  auto ids = torch::tensor({{{3, 0}, {1, 2}, {4, 0}}}, kI64);
  auto teacher = torch::log(torch::tensor({{{0.5, 0.2}, {0.7, 0.25}, {0.1, 0.05}}}, kF64));
  auto mask = torch::tensor({{true, false, true}});
  for (bool tail : {false, true}) {
    expect_gradient_matches_finite_differences(
        [&](const torch::Tensor& l) { return reverse_kl_sum(l, ids, teacher, mask, 1.5, tail); },
        torch::randn({1, 3, 5}, kF64));
  }
}

TEST(ReverseKlSum, SurvivesExhaustedTailAndMinusInfinityTeacher) {
  // K == V: the student's tail is empty; a -inf teacher log-prob must not give inf/NaN.
  auto ids = torch::tensor({0, 1, 2}, kI64).view({1, 1, 3});
  auto teacher = torch::tensor({0.0f, -INFINITY, -INFINITY}).view({1, 1, 3});
  auto logits = torch::randn({1, 1, 3}).requires_grad_(true);
  auto loss = reverse_kl_sum(logits, ids, teacher, torch::ones({1, 1}, torch::kBool), 1.0, true);
  loss.backward();
  EXPECT_TRUE(std::isfinite(value(loss)));
  EXPECT_TRUE(torch::isfinite(logits.grad()).all().item<bool>());
}

// ---- CE and RKL together -------------------------------------------------------------------

// token_loss_sums (one autograd node with its gradient written out) against cross_entropy_sum
// and reverse_kl_sum (autograd through their composites), in double: both sums, and the logits'
// gradient of a weighted sum of the two.
void expect_token_losses_match_the_terms(const torch::Tensor& logits_at, const torch::Tensor& ids,
                                         const torch::Tensor& teacher, const torch::Tensor& mask,
                                         double temperature, bool tail) {
  const auto targets = torch::randint(logits_at.size(-1), mask.sizes(), kI64);
  auto fused_logits = logits_at.clone().requires_grad_();
  auto terms_logits = logits_at.clone().requires_grad_();
  const auto fused = token_loss_sums(fused_logits, targets, ids, teacher, mask, temperature, tail);
  const auto ce = cross_entropy_sum(terms_logits, targets, mask);
  const auto rkl = reverse_kl_sum(terms_logits, ids, teacher, mask, temperature, tail);
  EXPECT_NEAR(value(fused.ce), value(ce), 1e-12 * (1 + std::abs(value(ce))));
  EXPECT_NEAR(value(fused.rkl), value(rkl), 1e-12 * (1 + std::abs(value(rkl))));
  (0.7 * fused.ce + 1.3 * fused.rkl).backward();
  (0.7 * ce + 1.3 * rkl).backward();
  EXPECT_TRUE(torch::allclose(fused_logits.grad(), terms_logits.grad(), 1e-10, 1e-12))
      << "fused\n"
      << fused_logits.grad() << "\nterms\n"
      << terms_logits.grad();
}

// With and without the tail bucket, at T = 1 (one log-softmax for both terms) and T = 1.5, with
// distinct top-K ids and with ids that repeat in a row.
TEST(TokenLossSums, EqualTheTwoTermsValuesAndGradients) {
  torch::manual_seed(11);
  const auto mask = torch::tensor({{true, false, true, true}, {false, true, true, false}});
  auto distinct = torch::empty({2, 4, 3}, kI64);
  for (int64_t i = 0; i < 8; ++i)
    distinct.view({8, 3})[i] = torch::randperm(9, kI64).narrow(0, 0, 3);
  auto repeating = distinct.clone();
  repeating.select(2, 2).copy_(repeating.select(2, 0));
  const auto teacher = torch::log_softmax(torch::randn({2, 4, 4}, kF64), -1).narrow(2, 0, 3);
  for (const auto& ids : {distinct, repeating}) {
    for (double temperature : {1.0, 1.5}) {
      for (bool tail : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "T " << temperature << " tail " << tail);
        expect_token_losses_match_the_terms(torch::randn({2, 4, 9}, kF64), ids, teacher, mask,
                                            temperature, tail);
      }
    }
  }
}

// The student's tail bucket empty (the top K is the whole vocabulary) and a -inf teacher
// log-probability: finite sums and gradients, as for reverse_kl_sum; no masked row: zero sums.
TEST(TokenLossSums, SurviveAnExhaustedTailAndNoMaskedRow) {
  const auto ids = torch::tensor({0, 1, 2}, kI64).view({1, 1, 3});
  const auto teacher = torch::tensor({0.0f, -INFINITY, -INFINITY}).view({1, 1, 3});
  const auto targets = torch::zeros({1, 1}, kI64);
  for (bool masked : {true, false}) {
    auto logits = torch::randn({1, 1, 3}).requires_grad_(true);
    const auto mask = torch::full({1, 1}, masked, torch::kBool);
    auto sums = token_loss_sums(logits, targets, ids, teacher, mask, 1.0, true);
    (sums.ce + sums.rkl).backward();
    EXPECT_TRUE(std::isfinite(value(sums.rkl)) && std::isfinite(value(sums.ce)));
    EXPECT_TRUE(torch::isfinite(logits.grad()).all().item<bool>());
    if (!masked) {
      EXPECT_EQ(value(sums.ce) + value(sums.rkl), 0.0);
    }
  }
}

// ---- MMD -----------------------------------------------------------------------------------

const std::vector<double> kBandwidths = {0.5, 1.0, 2.0};

// Unbiased MMD^2 by explicit loops, with a given (fixed) bandwidth.
double reference_mmd2(const torch::Tensor& x, const torch::Tensor& y, double bandwidth) {
  auto k = [&](const torch::Tensor& a, const torch::Tensor& b) {
    const double d2 = value((a - b).pow(2).sum());
    double total = 0;
    for (double s : kBandwidths) total += std::exp(-d2 / (s * bandwidth));
    return total;
  };
  const int64_t n = x.size(0), m = y.size(0);
  double xx = 0, yy = 0, xy = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) xx += i == j ? 0 : k(x[i], x[j]);
    for (int64_t j = 0; j < m; ++j) xy += k(x[i], y[j]);
  }
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) yy += i == j ? 0 : k(y[i], y[j]);
  }
  return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m);
}

// Mean squared distance over the distinct pairs of the pooled sample.
double pooled_bandwidth(const torch::Tensor& x, const torch::Tensor& y) {
  auto z = torch::cat({x, y}, 0);
  const int64_t n = z.size(0);
  return value(torch::cdist(z, z).pow(2).sum()) / (n * (n - 1));
}

TEST(Mmd2Unbiased, MatchesExplicitFormula) {
  auto x = torch::randn({3, 2}, kF64), y = torch::randn({4, 2}, kF64) + 0.7;
  EXPECT_NEAR(value(mmd2_unbiased(x, y, kBandwidths)), reference_mmd2(x, y, pooled_bandwidth(x, y)),
              1e-12);
}

TEST(Mmd2Unbiased, NearZeroForOneDistributionPositiveForShifted) {
  torch::manual_seed(3);
  auto x = torch::randn({128, 8}), y = torch::randn({128, 8});
  const double same = value(mmd2_unbiased(x, y, kBandwidths));
  const double shifted = value(mmd2_unbiased(x, y + 1.0, kBandwidths));
  EXPECT_LT(std::abs(same), 0.02);
  EXPECT_GT(shifted, 0.2);
  EXPECT_GT(shifted, 10 * std::abs(same));
}

TEST(Mmd2Unbiased, Symmetric) {
  auto x = torch::randn({5, 3}), y = torch::randn({7, 3}) * 2;
  EXPECT_NEAR(value(mmd2_unbiased(x, y, kBandwidths)), value(mmd2_unbiased(y, x, kBandwidths)),
              1e-6);
}

TEST(Mmd2Unbiased, GradientTreatsBandwidthAsConstant) {
  auto x = torch::randn({3, 2}, kF64), y = torch::randn({3, 2}, kF64) + 0.5;
  const double fixed = pooled_bandwidth(x, y);
  auto analytic = [&](const torch::Tensor& input) { return mmd2_unbiased(input, y, kBandwidths); };
  auto input = x.clone().requires_grad_(true);
  auto grad = torch::autograd::grad({analytic(input)}, {input})[0];
  // Finite differences of the explicit formula with the bandwidth held fixed.
  const double eps = 1e-6;
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto plus = x.clone(), minus = x.clone();
    plus.view(-1)[i] += eps;
    minus.view(-1)[i] -= eps;
    const double numeric =
        (reference_mmd2(plus, y, fixed) - reference_mmd2(minus, y, fixed)) / (2 * eps);
    EXPECT_NEAR(value(grad.view(-1)[i]), numeric, 1e-6) << "element " << i;
  }
}

TEST(Mmd2Unbiased, GradientWrtBothInputsMatchesFiniteDifferencesAtFixedBandwidth) {
  // Gradient w.r.t. y through the pooled sample, same bandwidth-as-constant convention.
  auto x = torch::randn({4, 2}, kF64), y = torch::randn({3, 2}, kF64);
  const double fixed = pooled_bandwidth(x, y);
  auto input = y.clone().requires_grad_(true);
  auto grad = torch::autograd::grad({mmd2_unbiased(x, input, kBandwidths)}, {input})[0];
  const double eps = 1e-6;
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto plus = y.clone(), minus = y.clone();
    plus.view(-1)[i] += eps;
    minus.view(-1)[i] -= eps;
    EXPECT_NEAR(value(grad.view(-1)[i]),
                (reference_mmd2(x, plus, fixed) - reference_mmd2(x, minus, fixed)) / (2 * eps),
                1e-6);
  }
}

TEST(Mmd2Unbiased, RejectsTooFewSamplesOrMismatchedWidths) {
  EXPECT_THROW(mmd2_unbiased(torch::randn({1, 2}), torch::randn({3, 2}), kBandwidths), Error);
  EXPECT_THROW(mmd2_unbiased(torch::randn({3, 2}), torch::randn({3, 4}), kBandwidths), Error);
  EXPECT_THROW(mmd2_unbiased(torch::randn({3, 2}), torch::randn({3, 2}), {}), Error);
}

// ---- emotion CE ----------------------------------------------------------------------------

TEST(EmotionCeSum, MatchesHandComputedValue) {
  auto logits = torch::tensor({0.0, 1.0, 2.0, 1.0, 1.0, -1.0}, kF64).view({2, 3});
  auto labels = torch::tensor({2, 0}, kI64);
  const double expected = -(2.0 - log_sum_exp({0, 1, 2})) - (1.0 - log_sum_exp({1, 1, -1}));
  EXPECT_NEAR(value(emotion_ce_sum(logits, labels)), expected, 1e-12);
}

TEST(EmotionCeSum, GradientMatchesFiniteDifferences) {
  auto labels = torch::tensor({2, 0, 1}, kI64);
  expect_gradient_matches_finite_differences(
      [&](const torch::Tensor& l) { return emotion_ce_sum(l, labels); },
      torch::randn({3, 4}, kF64));
}

TEST(EmotionCeSum, BadLabelIsAnErrorNamingIt) {
  try {
    emotion_ce_sum(torch::randn({2, 3}), torch::tensor({1, 5}, kI64));
    FAIL() << "expected pride::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 5"), std::string::npos) << e.what();
  }
}

// ---- emotion KD (HEF) ----------------------------------------------------------------------

TEST(EmotionKdSum, MatchesHandComputedValue) {
  // Two samples: KL(p || softmax(logits)) = sum_e p_e (log p_e - logits_e + logsumexp(logits)).
  const std::vector<std::vector<double>> p = {{0.7, 0.2, 0.1}, {0.25, 0.25, 0.5}};
  const std::vector<std::vector<double>> l = {{1.0, 0.0, -1.0}, {0.5, 2.0, 0.0}};
  double expected = 0;
  for (size_t b = 0; b < 2; ++b) {
    for (size_t e = 0; e < 3; ++e) {
      expected += p[b][e] * (std::log(p[b][e]) - l[b][e] + log_sum_exp(l[b]));
    }
  }
  auto logits = torch::tensor({1.0, 0.0, -1.0, 0.5, 2.0, 0.0}, kF64).view({2, 3});
  auto teacher = torch::tensor({0.7, 0.2, 0.1, 0.25, 0.25, 0.5}, kF64).view({2, 3}).log();
  EXPECT_NEAR(value(emotion_kd_sum(logits, teacher)), expected, 1e-12);
}

TEST(EmotionKdSum, ZeroWhenTheStudentIsTheTeacher) {
  auto logits = torch::randn({4, 5}, kF64);
  EXPECT_NEAR(value(emotion_kd_sum(logits, torch::log_softmax(logits, -1))), 0.0, 1e-12);
}

TEST(EmotionKdSum, GradientMatchesFiniteDifferences) {
  auto teacher = torch::log_softmax(torch::randn({3, 4}, kF64), -1);
  expect_gradient_matches_finite_differences(
      [&](const torch::Tensor& l) { return emotion_kd_sum(l, teacher); },
      torch::randn({3, 4}, kF64));
}

TEST(EmotionKdSum, ShapeMismatchIsAnError) {
  EXPECT_THROW(emotion_kd_sum(torch::randn({2, 3}), torch::randn({2, 4})), Error);
  EXPECT_THROW(emotion_kd_sum(torch::randn({6}), torch::randn({6})), Error);
}

}  // namespace
}  // namespace pride
