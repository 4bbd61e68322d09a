#!/usr/bin/env python3
"""PyTorch-in-Python reference of one PRIDE training step, for `pride bench step`.

Also a module: scripts/bench/pytorch_peer.py imports its student and losses for the GPU peer.

A line-by-line mirror of the C++ student (src/models/layers.cpp, src/models/student.cpp), its loss
terms (src/training/losses.cpp) and the benchmark step (src/training/bench_step.cpp): the same
modules, registered in the same order under the same parameter names, the same input checks, the
same synthetic batch, the same global-norm clip and AdamW (decay on matrices only). Seeded like
the C++ side, it builds bit-identical initial weights and batch, so "final_loss" should agree with
the C++ line to float precision (the two AdamW implementations round differently): a check that
both time the same computation.

Threads: torch's default unless OMP_NUM_THREADS is set, as on the C++ side; both sides load the same
system LibTorch, so they pick the same default (1 on the 2-vCPU development machine). The JSON
reports torch.get_num_threads().

Usage: python3 scripts/bench/reference_step.py [--config configs/tiny.yaml] [--warmup 3]
       [--iters 20] [--list-parameters]
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

try:
    import yaml
except ImportError:  # python3-yaml comes with python3-torch; without it, the built-in defaults
    yaml = None

# The C++ defaults of the keys the step reads (src/config/config.h).
DEFAULTS = {
    "run": {"seed": 1234},
    "model": {"vocab_size": 0, "d_model": 128, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2,
              "d_ff": 344, "max_seq_len": 256, "memory_slots": 8, "rope_theta": 10000.0,
              "norm_eps": 1e-5, "feature_source": "pi_slots"},
    "pi": {"align_weight": 1.0},
    "train": {"global_batch_size": 16, "micro_batch_size": 16, "lr": 3e-3, "weight_decay": 0.01,
              "beta1": 0.9, "beta2": 0.95, "grad_clip": 1.0},
    "loss": {"ce_weight": 1.0, "rkl_weight": 1.0, "mmd_weight": 1.0, "emotion_weight": 0.5,
             "rkl_temperature": 1.0, "rkl_tail_bucket": True,
             "mmd_bandwidths": [0.25, 0.5, 1.0, 2.0, 4.0]},
}

# bench_step.cpp's constants: the tiny config's data shapes.
DEFAULT_VOCAB = 512
CONTEXT_LEN, RESPONSE_LEN = 16, 11
TOPK, TEACHER_HIDDEN, NUM_EMOTIONS = 8, 64, 6
FEATURE_DIM, AUDIO_FRAMES, VISUAL_FRAMES = 16, 8, 4
FIRST_WORD_ID = 3
TEACHER_TOPK_MASS = 0.9
PRIVILEGED_SOURCES = [("reasoning", 6), ("annotation", 4), ("future_summary", 4)]
PAD_ID = 0

INIT_STD = 0.02
AUDIO, VISUAL, PI_SLOTS, NUM_SOURCES = 0, 1, 2, 3
TEACHER_TAIL_FLOOR = 1e-8
LOG_FLOOR = -100.0


def yaml_scalar(text):
    """One YAML value as pride's configs write them: number, bool, string or [a, b] list."""
    if yaml is not None:
        return yaml.safe_load(text)
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [yaml_scalar(item) for item in text[1:-1].split(",") if item.strip()]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip("'\"")


def load_yaml(path):
    """The config file as nested dicts; without PyYAML (a bare GPU machine's Python), a reader
    of the two-level `section:` / `  key: value` layout that pride's configs use."""
    with open(path) as f:
        if yaml is not None:
            return yaml.safe_load(f) or {}
        loaded, section = {}, None
        for raw in f:
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            key, _, value = line.strip().partition(":")
            if not raw[0].isspace():
                section = loaded.setdefault(key, {}) if not value.strip() else None
                if value.strip():
                    loaded[key] = yaml_scalar(value)
            elif section is not None:
                section[key] = yaml_scalar(value)
        return loaded


def load_config(path):
    config = {section: dict(values) for section, values in DEFAULTS.items()}
    if path:
        loaded = load_yaml(path)
        for section, values in config.items():
            for key in values:
                if key in (loaded.get(section) or {}):
                    values[key] = loaded[section][key]
    return config


# ---- layers.cpp ---------------------------------------------------------------------------------

def accumulate_type(x):
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def init_linear(n_in, n_out, bias):
    layer = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.normal_(0.0, INIT_STD)
        if bias:
            layer.bias.zero_()
    return layer


def init_embedding(count, dim):
    embedding = nn.Embedding(count, dim)
    with torch.no_grad():
        embedding.weight.normal_(0.0, INIT_STD)
    return embedding


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        wide = x.to(accumulate_type(x))
        normed = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.to(x.dtype) * self.weight


def rotary_tables(length, head_dim, theta, like):
    f64 = dict(dtype=torch.float64, device=like.device)
    inv_freq = torch.pow(theta, -torch.arange(0, head_dim, 2, **f64) / float(head_dim))
    freqs = torch.outer(torch.arange(length, **f64), inv_freq)
    angles = torch.cat([freqs, freqs], -1)
    return angles.cos().to(like.dtype), angles.sin().to(like.dtype)


def rotate_half(x):
    halves = x.chunk(2, -1)
    return torch.cat([-halves[1], halves[0]], -1)


def apply_rotary(x, rotary):
    cos, sin = rotary
    return x * cos + rotate_half(x) * sin


def fused_attention(q, k, v, key_mask, causal):
    """F.scaled_dot_product_attention (PyTorch 2.x), the peer's path. causal: rows are right-padded,
    so the causal flag alone gives every real query the same keys as the causal & real mask (pad
    queries differ, and no loss reads them). Otherwise rows without any key get zeros, as in the
    explicit path."""
    q, k = q.to(v.dtype), k.to(v.dtype)  # the rotary tables are float32, autocast's v is not
    if causal:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    empty = key_mask.any(-1, keepdim=True).logical_not()
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask | empty)
    return out.masked_fill(empty, 0.0)


class Attention(nn.Module):
    use_sdpa = False  # pytorch_peer.py switches every attention to fused_attention

    def __init__(self, d_model, n_heads, n_kv_heads):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, d_model // n_heads
        assert d_model % n_heads == 0 and n_heads % n_kv_heads == 0 and self.head_dim % 2 == 0
        self.q_proj = init_linear(d_model, n_heads * self.head_dim, False)
        self.k_proj = init_linear(d_model, n_kv_heads * self.head_dim, False)
        self.v_proj = init_linear(d_model, n_kv_heads * self.head_dim, False)
        self.o_proj = init_linear(n_heads * self.head_dim, d_model, False)

    def split_heads(self, x, heads):
        return x.view(x.size(0), x.size(1), heads, self.head_dim).transpose(1, 2)

    def repeat_kv(self, x):
        rep = self.n_heads // self.n_kv_heads
        if rep == 1:
            return x
        return (x.unsqueeze(2)
                .expand(x.size(0), self.n_kv_heads, rep, x.size(2), self.head_dim)
                .reshape(x.size(0), self.n_heads, x.size(2), self.head_dim))

    def forward(self, x, memory, key_mask, rotary=None, causal=False):
        q = self.split_heads(self.q_proj(x), self.n_heads)
        k = self.split_heads(self.k_proj(memory), self.n_kv_heads)
        v = self.split_heads(self.v_proj(memory), self.n_kv_heads)
        if rotary is not None:
            q = apply_rotary(q, rotary)
            k = apply_rotary(k, rotary)
        k = self.repeat_kv(k)
        v = self.repeat_kv(v)
        if self.use_sdpa:
            out = fused_attention(q, k, v, key_mask, causal)
            return self.o_proj(
                out.transpose(1, 2).reshape(x.size(0), x.size(1), self.n_heads * self.head_dim))
        wide = accumulate_type(x)
        scores = torch.matmul(q.to(wide), k.to(wide).transpose(-2, -1)) / math.sqrt(self.head_dim)
        lowest = max(torch.finfo(torch.float32).min, torch.finfo(scores.dtype).min)  # autocast
        scores = scores.masked_fill(key_mask.logical_not(), lowest)
        probs = torch.softmax(scores, -1)
        probs = probs.masked_fill(key_mask.any(-1, keepdim=True).logical_not(), 0.0)
        out = torch.matmul(probs.to(v.dtype), v)
        return self.o_proj(
            out.transpose(1, 2).reshape(x.size(0), x.size(1), self.n_heads * self.head_dim))


class SwiGLU(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.gate_proj = init_linear(d_model, d_ff, False)
        self.up_proj = init_linear(d_model, d_ff, False)
        self.down_proj = init_linear(d_ff, d_model, False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, d_model, n_heads, n_kv_heads, d_ff, norm_eps):
        super().__init__()
        self.input_layernorm = RMSNorm(d_model, norm_eps)
        self.self_attn = Attention(d_model, n_heads, n_kv_heads)
        self.cross_attn_layernorm = RMSNorm(d_model, norm_eps)
        self.cross_attn = Attention(d_model, n_heads, n_kv_heads)
        self.post_attention_layernorm = RMSNorm(d_model, norm_eps)
        self.mlp = SwiGLU(d_model, d_ff)

    def forward(self, x, self_mask, rotary, memory, memory_mask):
        h = self.input_layernorm(x)
        x = x + self.self_attn(h, h, self_mask, rotary, causal=True)
        x = x + self.cross_attn(self.cross_attn_layernorm(x), memory, memory_mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Resampler(nn.Module):
    def __init__(self, d_model, n_heads, n_kv_heads, d_ff, norm_eps, num_slots):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_slots, d_model) * INIT_STD)
        self.query_norm = RMSNorm(d_model, norm_eps)
        self.input_norm = RMSNorm(d_model, norm_eps)
        self.attn = Attention(d_model, n_heads, n_kv_heads)
        self.post_attention_layernorm = RMSNorm(d_model, norm_eps)
        self.mlp = SwiGLU(d_model, d_ff)

    def forward(self, tokens, mask):
        slots = self.queries.unsqueeze(0).expand(tokens.size(0), -1, -1)
        slots = slots + self.attn(self.query_norm(slots), self.input_norm(tokens),
                                  mask.unsqueeze(1).unsqueeze(1))
        return slots + self.mlp(self.post_attention_layernorm(slots))


# ---- student.cpp --------------------------------------------------------------------------------

def masked_mean(x, mask):
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def check_tokens(tokens, vocab, what):
    bad = (tokens < 0) | (tokens >= vocab)
    if bad.any().item():
        raise ValueError(f"student: {what} holds a token id outside [0, {vocab})")


def check_mask(mask, like, what):
    if mask.dtype != torch.bool or mask.shape != like.shape[:2]:
        raise ValueError(f"student: {what} must be a bool tensor of shape {like.shape[:2]}")


class Student(nn.Module):
    validate_tokens = True  # pytorch_peer.py turns the id checks (host syncs) off

    def __init__(self, model, info):
        super().__init__()
        self.model, self.info = model, info
        self.vocab_size = model["vocab_size"] if model["vocab_size"] > 0 else info["vocab_size"]
        d = model["d_model"]
        shape = (d, model["n_heads"], model["n_kv_heads"], model["d_ff"], model["norm_eps"])
        self.embed_tokens = init_embedding(self.vocab_size, d)
        self.layers = nn.ModuleList([DecoderLayer(*shape) for _ in range(model["n_layers"])])
        self.norm = RMSNorm(d, model["norm_eps"])
        self.lm_head = init_linear(d, self.vocab_size, False)
        self.source_embed = init_embedding(NUM_SOURCES, d)
        self.audio_proj = init_linear(info["audio_dim"], d, True)
        self.visual_proj = init_linear(info["visual_dim"], d, True)
        self.memory_norm = RMSNorm(d, model["norm_eps"])
        self.pi_source_embed = init_embedding(max(1, len(info["privileged_sources"])), d)
        self.pi_encoder = Resampler(*shape, model["memory_slots"])
        self.pi_predictor = Resampler(*shape, model["memory_slots"])
        self.emotion_head = init_linear(d, info["num_emotions"], True)
        self.feature_head = init_linear(d, info["teacher_hidden"], True)

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def check_batch(self, batch):
        if self.validate_tokens:
            check_tokens(batch["tokens"], self.vocab_size, "tokens")
        assert batch["tokens"].size(1) <= self.model["max_seq_len"]
        check_mask(batch["context_mask"], batch["tokens"], "context_mask")
        check_mask(batch["response_mask"], batch["tokens"], "response_mask")

    def forward(self, batch, use_pi, real_pi_rows):
        self.check_batch(batch)
        tokens = batch["tokens"]
        length = tokens.size(1)
        x = self.embed_tokens(tokens)
        memory, memory_mask, pi_align = self.build_memory(batch, x, use_pi, real_pi_rows)
        slots = self.model["memory_slots"]
        pi_summary = memory[:, -slots:].mean(1)
        causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).tril()
        real = (tokens != self.info["pad_id"]).view(tokens.size(0), 1, 1, length)
        self_mask = causal & real
        memory_mask = memory_mask.unsqueeze(1).unsqueeze(1)
        rotary = rotary_tables(length, self.model["d_model"] // self.model["n_heads"],
                               self.model["rope_theta"], x)
        for layer in self.layers:
            x = layer(x, self_mask, rotary, memory, memory_mask)
        hidden = self.norm(x)
        logits = self.lm_head(hidden)
        if logits.dtype != torch.float64:
            logits = logits.to(torch.float32)
        return {
            "logits": logits,
            "emotion_logits": self.emotion_head(masked_mean(hidden, batch["context_mask"])),
            "features": self.feature_head(pi_summary if self.model["feature_source"] == "pi_slots"
                                          else masked_mean(hidden, batch["response_mask"])),
            "pi_align": pi_align,
        }

    def build_memory(self, batch, token_embeddings, use_pi, real_pi_rows):
        values, masks = [], []
        for name, proj, source in (("audio", self.audio_proj, AUDIO),
                                   ("visual", self.visual_proj, VISUAL)):
            frames, mask = batch[name], batch[name + "_mask"]
            assert frames.dim() == 3 and frames.size(2) == proj.in_features
            values.append(proj(frames.to(self.source_embed.weight.dtype)) +
                          self.source_embed.weight[source])
            check_mask(mask, frames, name + "_mask")
            masks.append(mask)
        observed = torch.cat([token_embeddings] + values, 1)
        observed_mask = torch.cat([batch["context_mask"]] + masks, 1)
        slots, pi_align = self.pi_slots(batch, observed, observed_mask, use_pi, real_pi_rows)
        values.append(slots + self.source_embed.weight[PI_SLOTS])
        masks.append(torch.ones(batch["tokens"].size(0), slots.size(1), dtype=torch.bool,
                                device=slots.device))
        return self.memory_norm(torch.cat(values, 1)), torch.cat(masks, 1), pi_align

    def pi_slots(self, batch, observed, observed_mask, use_pi, real_pi_rows):
        predicted = self.pi_predictor(observed, observed_mask)
        if not use_pi or not batch["privileged"]:
            return predicted, None
        encoded = self.encode_privileged(batch)
        pi_align = (predicted - encoded.detach()).pow(2).mean((1, 2))
        if real_pi_rows is None:
            return predicted, pi_align
        assert real_pi_rows.dtype == torch.bool and real_pi_rows.shape == (batch["tokens"].size(0),)
        return torch.where(real_pi_rows.view(-1, 1, 1), encoded, predicted), pi_align

    def encode_privileged(self, batch):
        tokens, masks = [], []
        names = self.info["privileged_sources"]
        for name in sorted(batch["privileged"]):  # std::map order, as in C++
            ids = batch["privileged"][name]
            if self.validate_tokens:
                check_tokens(ids, self.vocab_size, f"privileged source '{name}'")
            mask = batch["privileged_mask"][name]
            check_mask(mask, ids, f"privileged source '{name}' mask")
            tokens.append(self.embed_tokens(ids) + self.pi_source_embed.weight[names.index(name)])
            masks.append(mask)
        return self.pi_encoder(torch.cat(tokens, 1), torch.cat(masks, 1))


# ---- losses.cpp ---------------------------------------------------------------------------------

def widen(x):
    return x.to(accumulate_type(x))


def check_labels(labels, classes, loss):
    bad = (labels < 0) | (labels >= classes)
    if bad.any().item():
        raise ValueError(f"{loss}: a label is outside [0, {classes})")


def nll_sum(logits, labels):
    log_probs = torch.log_softmax(widen(logits), -1)
    return -log_probs.gather(-1, labels.unsqueeze(-1)).sum()


def log_tail_mass(log_probs, ids):
    outside = log_probs.scatter(-1, ids, -math.inf)
    return torch.logsumexp(outside, -1, keepdim=True).clamp_min(LOG_FLOOR)


def teacher_log_buckets(topk_logprobs, temperature, tail_bucket):
    log_b = topk_logprobs.clamp_min(LOG_FLOOR)
    if tail_bucket:
        tail = (1.0 - log_b.exp().sum(-1, True)).clamp_min(TEACHER_TAIL_FLOOR)
        log_b = torch.cat([log_b, tail.log()], -1)
    return torch.log_softmax(log_b / temperature, -1)


def student_log_buckets(logits, ids, temperature, tail_bucket):
    log_probs = torch.log_softmax(logits / temperature, -1)
    log_q = log_probs.gather(-1, ids)
    if not tail_bucket:
        return torch.log_softmax(log_q, -1)
    return torch.cat([log_q, log_tail_mass(log_probs, ids)], -1)


def cross_entropy_sum(logits, targets, mask):
    picked = targets[mask]
    check_labels(picked, logits.size(-1), "cross_entropy_sum")
    return nll_sum(logits[mask], picked)


def reverse_kl_sum(logits, topk_ids, topk_logprobs, mask, temperature, tail_bucket):
    ids = topk_ids[mask]
    check_labels(ids, logits.size(-1), "reverse_kl_sum")
    log_q = student_log_buckets(widen(logits[mask]), ids, temperature, tail_bucket)
    teacher = topk_logprobs[mask].to(log_q.dtype)
    log_p = teacher_log_buckets(teacher, temperature, tail_bucket)
    return (log_q.exp() * (log_q - log_p)).sum()


def mmd2_unbiased(x, y, bandwidth_multipliers):
    n, m = x.size(0), y.size(0)
    total = n + m
    z = widen(torch.cat([x, y], 0))
    norms = z.pow(2).sum(-1)
    diagonal = torch.eye(total, dtype=torch.bool, device=z.device)
    sq_dist = ((norms.unsqueeze(0) + norms.unsqueeze(1) - 2 * z.matmul(z.t()))
               .clamp_min(0).masked_fill(diagonal, 0.0))
    bandwidth = (sq_dist.detach().sum() / float(total * (total - 1))).clamp_min(1e-12)
    kernel = torch.zeros_like(sq_dist)
    for s in bandwidth_multipliers:
        kernel = kernel + torch.exp(-sq_dist / (bandwidth * s))

    def off_diagonal_mean(k):
        size = k.size(0)
        return (k.sum() - k.diagonal().sum()) / float(size * (size - 1))

    k_xx, k_yy, k_xy = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    return off_diagonal_mean(k_xx) + off_diagonal_mean(k_yy) - 2 * k_xy.mean()


def emotion_ce_sum(logits, labels):
    check_labels(labels, logits.size(1), "emotion_ce_sum")
    return nll_sum(logits, labels)


# ---- bench_step.cpp -----------------------------------------------------------------------------

def bench_info(config):
    vocab = config["model"]["vocab_size"]
    return {"vocab_size": vocab if vocab > 0 else DEFAULT_VOCAB, "num_emotions": NUM_EMOTIONS,
            "pad_id": PAD_ID, "topk": TOPK, "teacher_hidden": TEACHER_HIDDEN,
            "audio_dim": FEATURE_DIM, "visual_dim": FEATURE_DIM,
            "privileged_sources": [name for name, _ in PRIVILEGED_SOURCES]}


def random_words(rows, length, vocab):
    return torch.randint(FIRST_WORD_ID, vocab, (rows, length), dtype=torch.int64)


def all_true(rows, length):
    return torch.ones(rows, length, dtype=torch.bool)


def bench_batch(info, rows):
    length = CONTEXT_LEN + RESPONSE_LEN
    position = torch.arange(length, dtype=torch.int64)
    batch = {"tokens": random_words(rows, length, info["vocab_size"])}
    batch["context_mask"] = (position < CONTEXT_LEN).expand(rows, length).contiguous()
    batch["response_mask"] = ((position >= CONTEXT_LEN - 1) & (position < length - 1)).expand(
        rows, length).contiguous()
    nxt = torch.roll(batch["tokens"], -1, 1)
    batch["targets"] = torch.where(batch["response_mask"], nxt,
                                   torch.full_like(nxt, info["pad_id"]))
    batch["emotion"] = torch.randint(0, info["num_emotions"], (rows,), dtype=torch.int64)
    ids = (batch["targets"].unsqueeze(-1) + torch.arange(TOPK, dtype=torch.int64)) % info[
        "vocab_size"]
    on_response = batch["response_mask"].unsqueeze(-1)
    batch["topk_ids"] = ids * on_response
    logprobs = torch.log_softmax(torch.randn(rows, length, TOPK), -1) + math.log(TEACHER_TOPK_MASS)
    batch["topk_logprobs"] = logprobs * on_response
    batch["teacher_hidden"] = torch.randn(rows, TEACHER_HIDDEN)
    batch["audio"] = torch.randn(rows, AUDIO_FRAMES, FEATURE_DIM)
    batch["audio_mask"] = all_true(rows, AUDIO_FRAMES)
    batch["visual"] = torch.randn(rows, VISUAL_FRAMES, FEATURE_DIM)
    batch["visual_mask"] = all_true(rows, VISUAL_FRAMES)
    batch["privileged"], batch["privileged_mask"] = {}, {}
    for name, count in PRIVILEGED_SOURCES:
        batch["privileged"][name] = random_words(rows, count, info["vocab_size"])
        batch["privileged_mask"][name] = all_true(rows, count)
    batch["response_tokens"] = batch["response_mask"].sum().item()
    return batch


def training_loss(student, batch, real_pi_rows, config):
    out = student(batch, True, real_pi_rows)
    tokens, samples = float(batch["response_tokens"]), float(batch["tokens"].size(0))
    loss = config["loss"]
    ce = cross_entropy_sum(out["logits"], batch["targets"], batch["response_mask"])
    rkl = reverse_kl_sum(out["logits"], batch["topk_ids"], batch["topk_logprobs"],
                         batch["response_mask"], loss["rkl_temperature"], loss["rkl_tail_bucket"])
    mmd = mmd2_unbiased(out["features"], batch["teacher_hidden"], loss["mmd_bandwidths"])
    emotion = emotion_ce_sum(out["emotion_logits"], batch["emotion"])
    return (loss["ce_weight"] * ce / tokens + loss["rkl_weight"] * rkl / tokens +
            loss["mmd_weight"] * mmd + loss["emotion_weight"] * emotion / samples +
            config["pi"]["align_weight"] * out["pi_align"].sum() / samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/tiny.yaml")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--list-parameters", action="store_true",
                        help="print every parameter's name and shape, then exit")
    args = parser.parse_args()
    config = load_config(args.config)

    torch.manual_seed(config["run"]["seed"])
    info = bench_info(config)
    student = Student(config["model"], info)
    if args.list_parameters:
        for name, p in student.named_parameters():
            print(name, list(p.shape))
        return
    batch = bench_batch(info, config["train"]["micro_batch_size"])
    real_pi_rows = torch.arange(batch["tokens"].size(0)) % 2 == 0  # real PI on the even rows
    train = config["train"]
    # pride's FlatAdamW: weight decay on the matrices only, every parameter in one update; here
    # PyTorch's multi-tensor (foreach) AdamW, its nearest built-in.
    params = list(student.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": train["weight_decay"]},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=train["lr"], betas=(train["beta1"], train["beta2"]),
                                  eps=1e-8, foreach=True)

    step_ms, cpu_ms, last_loss = [], [], 0.0
    for i in range(args.warmup + args.iters):
        start, cpu_start = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        loss = training_loss(student, batch, real_pi_rows, config)
        loss.backward()
        if train["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, train["grad_clip"])
        optimizer.step()
        last_loss = loss.item()
        elapsed = (time.perf_counter() - start) * 1000.0
        if i >= args.warmup:
            step_ms.append(elapsed)
            cpu_ms.append((time.process_time() - cpu_start) * 1000.0)
    ms = statistics.median(step_ms)
    tokens_per_step = batch["tokens"].numel()
    print(json.dumps({
        "batch": batch["tokens"].size(0),
        "bench": "step",
        "cpu_ms_median": statistics.median(cpu_ms),
        "final_loss": last_loss,
        "impl": "python",
        "iters": args.iters,
        "num_parameters": student.num_parameters(),
        "seq_len": batch["tokens"].size(1),
        "step_ms_median": ms,
        "step_ms_min": min(step_ms),
        "threads": torch.get_num_threads(),
        "tokens_per_s": tokens_per_step / (ms / 1000.0),
        "tokens_per_step": tokens_per_step,
        "torch": torch.__version__,
        "warmup": args.warmup,
    }, sort_keys=True))


if __name__ == "__main__":
    main()
