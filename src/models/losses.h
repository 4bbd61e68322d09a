// The PRIDE loss terms. Each returns a SUM (not a mean) as a 0-dim tensor, float32 (float64 for
// double inputs), so the trainer can divide by global token/sample counts gathered across ranks
// and N ranks train exactly like one. Bad shapes or labels raise pride::Error.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "config/config.h"
#include "data/sample.h"

namespace pride {

// Whether every id of an integer host tensor lies in [0, end): one operator (aminmax) whose two
// results are read in place, where comparing against both bounds dispatches five.
bool ids_in_range(const torch::Tensor& ids, int64_t end);

// Gold-token cross-entropy over the masked positions:
//   CE = sum_{t: mask_t} -log softmax(logits_t)[targets_t]
// logits [..., V], targets and mask [...] (e.g. [B, T, V] with [B, T]).
torch::Tensor cross_entropy_sum(const torch::Tensor& logits, const torch::Tensor& targets,
                                const torch::Tensor& mask);

// Reverse KL(student || teacher) over the teacher's top-K support, summed over masked positions:
//   without tail bucket: p_k = softmax_k(topk_logprobs / T), q_k = softmax_k(logits[ids_k] / T)
//     (both renormalised over the K ids);
//   with tail bucket (K+1 buckets, no renormalisation over the top-K):
//     student q_k = softmax(logits / T)[ids_k], q_tail = 1 - sum_k q_k (as a logsumexp over the
//     ids outside the top-K); teacher buckets b_k = exp(topk_logprobs_k),
//     b_tail = max(1 - sum_k b_k, 1e-8), tempered as p_i = b_i^(1/T) / sum_j b_j^(1/T);
//   RKL_t = sum_i q_i (log q_i - log p_i).
// logits [B, T, V], topk_ids [B, T, K] int64, topk_logprobs [B, T, K], mask [B, T] bool.
torch::Tensor reverse_kl_sum(const torch::Tensor& logits, const torch::Tensor& topk_ids,
                             const torch::Tensor& topk_logprobs, const torch::Tensor& mask,
                             double temperature, bool tail_bucket);

// cross_entropy_sum and reverse_kl_sum of the same logits, masked positions and temperature
// together, as one pass over the vocabulary: the masked rows are taken (by the mask's positions,
// read back to the host; the training step passes its rows instead, token_loss_sums_of_rows) and
// widened once, at T = 1 both terms read one log-softmax (no second [tokens, vocab]
// log-probability tensor), and the gradient of both is written out as one autograd node. The
// same values and gradients as the two functions, within float rounding.
struct TokenLossSums {
  torch::Tensor ce, rkl;
};
TokenLossSums token_loss_sums(const torch::Tensor& logits, const torch::Tensor& targets,
                              const torch::Tensor& topk_ids, const torch::Tensor& topk_logprobs,
                              const torch::Tensor& mask, double temperature, bool tail_bucket);

// The rows [N, ...] of x [B, T, ...] at the flat positions `rows` [N] int64 (b * T + t, as
// Batch::response_rows holds them): one index_select, nothing read back to the host.
torch::Tensor rows_at(const torch::Tensor& x, const torch::Tensor& rows);

// token_loss_sums of logits taken at the masked positions already: logit rows [N, V] (as
// StudentOutput::response_logits), targets [N], topk_ids and topk_logprobs [N, K] (rows_at).
TokenLossSums token_loss_sums_of_rows(const torch::Tensor& logit_rows, const torch::Tensor& targets,
                                      const torch::Tensor& topk_ids,
                                      const torch::Tensor& topk_logprobs, double temperature,
                                      bool tail_bucket);
// cross_entropy_sum likewise: logit rows [N, V], targets [N].
torch::Tensor cross_entropy_sum_of_rows(const torch::Tensor& logit_rows,
                                        const torch::Tensor& targets);

// The terms above at `batch`'s response positions (Batch::response_rows_of), from the logits of
// those positions (StudentOutput::response_logits, LogitRows::response): the targets and the
// teacher's top-K are taken there by rows_at.
TokenLossSums response_token_losses(const torch::Tensor& response_logits, const Batch& batch,
                                    double temperature, bool tail_bucket);
torch::Tensor response_cross_entropy(const torch::Tensor& response_logits, const Batch& batch);
// sequence_logps likewise: each row's summed log-probability of its response tokens, [B] float32.
torch::Tensor response_logps(const torch::Tensor& response_logits, const Batch& batch);

// Unbiased multi-kernel Gaussian MMD^2 between x [n, d] and y [m, d], n, m >= 2:
//   k(a, b) = sum_s exp(-||a - b||^2 / (s * bw)), bw = mean squared distance over the distinct
//   pairs of the pooled sample {x, y}, detached (a constant for the gradient);
//   MMD^2 = sum_{i!=j} k(x_i, x_j) / (n(n-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
//           - 2 sum_{i,j} k(x_i, y_j) / (nm).
// x and y are the global batch (all-gathered from every rank); this is one value, not a sum.
torch::Tensor mmd2_unbiased(const torch::Tensor& x, const torch::Tensor& y,
                            const std::vector<double>& bandwidth_multipliers);

// Emotion cross-entropy summed over samples: sum_b -log softmax(logits_b)[labels_b].
// logits [B, E], labels [B] int64.
torch::Tensor emotion_ce_sum(const torch::Tensor& logits, const torch::Tensor& labels);

// Emotion distillation (HEF, docs/hef.md): KL(teacher || student) between the teacher's emotion
// distribution and the student's, summed over samples:
//   sum_b sum_e p_be (log p_be - log softmax(logits_b)_e),  p_b = exp(teacher_logprobs_b).
// logits [B, E], teacher_logprobs [B, E] (each row a distribution).
torch::Tensor emotion_kd_sum(const torch::Tensor& logits, const torch::Tensor& teacher_logprobs);

// Each row's summed log-probability of its masked next tokens (a response's log-likelihood):
//   logp_b = sum_{t: mask_bt} log softmax(logits_bt)[targets_bt]
// logits [B, T, V] (computed in float32), targets and mask [B, T]; returns [B] float32.
torch::Tensor sequence_logps(const torch::Tensor& logits, const torch::Tensor& targets,
                             const torch::Tensor& mask);

// Direct preference optimization per pair (Rafailov et al. 2023; TRL's DPOTrainer losses), from
// the policy's and the reference's log-probabilities of the chosen (c) and rejected (r) responses,
// each [P]:
//   h = (pi_c - pi_r) - (ref_c - ref_r)
//   sigmoid: -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)   (eps: label_smoothing)
//   ipo:     (h - 1 / (2 beta))^2      (TRL passes per-token mean log-probabilities for ipo)
//   hinge:   relu(1 - beta h)
// Rewards (constants for the gradient): beta (pi_c - ref_c) and beta (pi_r - ref_r).
struct DpoTerms {
  torch::Tensor losses, chosen_rewards, rejected_rewards;  // each [P]
};
DpoTerms dpo_terms(const torch::Tensor& policy_chosen, const torch::Tensor& policy_rejected,
                   const torch::Tensor& reference_chosen, const torch::Tensor& reference_rejected,
                   const DpoConfig& options);

// The terms of the objective, each already normalised (CE and RKL per response token, emotion CE,
// emotion KD and PI alignment per sample, MMD^2 as it is). T: torch::Tensor or double.
// emotion_kd is read only when loss.emotion_kd_weight > 0 (off, it costs no operator at all).
template <typename T>
struct LossTerms {
  T ce, rkl, mmd, emotion, emotion_kd, pi_align;
};

// Each term's weight in the objective: loss.ce_weight, rkl_weight, mmd_weight, emotion_weight,
// emotion_kd_weight and pi.align_weight (docs/method.md, "Total loss").
LossTerms<double> loss_weights(const Config& config);

// loss = ce_weight*CE + rkl_weight*RKL + mmd_weight*MMD^2 + emotion_weight*CE_emo
//        + emotion_kd_weight*KD_emo + pi.align_weight*align, from the terms' values.
double weighted_loss(const Config& config, const LossTerms<double>& terms);

// weighted_loss of the terms' unnormalised sums (0-dim tensors of one type), each normalised by
// its `scales` entry: one dot product with coefficients weight * scale multiplied on the host, so
// the objective and its gradient cost three operators each way instead of two or three per term.
torch::Tensor weighted_loss(const Config& config, const LossTerms<torch::Tensor>& sums,
                            const LossTerms<double>& scales);

}  // namespace pride
