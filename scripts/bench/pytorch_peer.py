#!/usr/bin/env python3
"""The PyTorch peer of `pride train`: the same student, losses and AdamW, written as a good PyTorch
2.x training loop, so that pride's tokens/s can be compared with PyTorch's on the same GPU.

The student and loss terms come from scripts/bench/reference_step.py (the line-by-line mirror of
the C++ student). What makes it a fast loop: bf16 autocast (--precision bf16), fused attention
(F.scaled_dot_product_attention), fused AdamW, masked loss reductions without host syncs (the
reference's boolean indexing and label checks are for CPU parity), a DataLoader with worker
processes and pinned memory, non-blocking copies, and one host sync per timed window. Optional
torch.compile (--compile). On torch 1.x (Debian's, CPU) the 2.x features fall back, so the loop
can be tested without a GPU.

Data: the pride HDF5 file (h5py), collated as src/data/batch.cpp does (rows context ++ response,
right-padded). With --data random, or without h5py, random batches of the same shapes
(--min-context/--max-context).

Prints one JSON line: tokens_per_s_per_gpu (padded tokens, as pride's metric), mfu (with
--peak-tflops), step_ms, peak memory. Usage:
  python3 scripts/bench/pytorch_peer.py --config configs/gpu-125m.yaml --data train.h5 \\
      --precision bf16 --steps 30 --warmup 5 [--device cuda] [--peak-tflops 989] [--compile]
"""

import argparse
import contextlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_step as ref  # noqa: E402

try:
    import h5py
except ImportError:
    h5py = None

PI_SOURCES = ["reasoning", "annotation", "future_summary"]


# ---- data: pride's HDF5 format (docs/data-format.md) and collate (src/data/batch.cpp) ----------

class PrideH5(torch.utils.data.Dataset):
    """Samples of a pride data file; opened lazily so that each DataLoader worker has its own."""

    def __init__(self, path):
        self.path, self.file = path, None
        with h5py.File(path, "r") as f:
            attrs = f.attrs
            self.size = len(f["samples/emotion"])
            text = lambda a: a.decode() if isinstance(a, bytes) else str(a)
            modalities = [m for m in text(attrs["modalities"]).split(",") if m]
            self.info = {
                "vocab_size": int(attrs["vocab_size"]), "num_emotions": int(attrs["num_emotions"]),
                "pad_id": int(attrs["pad_id"]), "topk": f["teacher/topk_ids"].shape[1],
                "teacher_hidden": f["teacher/hidden"].shape[1],
                "audio_dim": f["samples/audio"].shape[1] if "audio" in modalities else 0,
                "visual_dim": f["samples/visual"].shape[1] if "visual" in modalities else 0,
                "privileged_sources": text(attrs["privileged_sources"]).split(",")}

    def __len__(self):
        return self.size

    def ragged(self, name, i):
        offsets = self.file[name + "_offsets"]
        begin, end = offsets[i], offsets[i + 1]
        return self.file[name][begin:end], begin, end

    def __getitem__(self, i):
        if self.file is None:
            self.file = h5py.File(self.path, "r")
        f = self.file
        response, begin, end = self.ragged("samples/response", i)
        sample = {"context": self.ragged("samples/context", i)[0], "response": response,
                  "emotion": int(f["samples/emotion"][i]),
                  "topk_ids": f["teacher/topk_ids"][begin:end],
                  "topk_logprobs": f["teacher/topk_logprobs"][begin:end].astype(np.float32),
                  "teacher_hidden": f["teacher/hidden"][i].astype(np.float32),
                  "privileged": {s: self.ragged("samples/privileged/" + s, i)[0]
                                 for s in self.info["privileged_sources"]}}
        for modality in ("audio", "visual"):
            if self.info[modality + "_dim"]:
                sample[modality] = self.ragged("samples/" + modality, i)[0].astype(np.float32)
        return sample


class RandomLike(torch.utils.data.Dataset):
    """Without h5py: random samples with the synthetic generator's shapes (throughput only)."""

    def __init__(self, size, info, min_context, max_context, seed):
        self.size, self.info, self.seed = size, info, seed
        self.min_context, self.max_context = min_context, max_context

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        rng = np.random.default_rng(self.seed * 1000003 + i)
        info, vocab = self.info, self.info["vocab_size"]
        length = int(rng.integers(7, 18))
        logprobs = np.sort(np.log(rng.dirichlet(np.ones(info["topk"] + 1), length)[:, :-1]))
        sample = {"context": rng.integers(3, vocab, int(rng.integers(self.min_context,
                                                                       self.max_context + 1))),
                  "response": rng.integers(3, vocab, length), "emotion": int(rng.integers(0, 6)),
                  "topk_ids": rng.integers(3, vocab, (length, info["topk"])),
                  "topk_logprobs": logprobs[:, ::-1].astype(np.float32),
                  "teacher_hidden": rng.standard_normal(info["teacher_hidden"], np.float32),
                  "privileged": {s: rng.integers(3, vocab, n) for s, n in
                                 zip(PI_SOURCES, (6, 4, 4))}}
        for modality, frames in (("audio", (4, 12)), ("visual", (2, 6))):
            count = int(rng.integers(frames[0], frames[1] + 1))
            sample[modality] = rng.standard_normal((count, info[modality + "_dim"]), np.float32)
        return sample


def pad_lists(lists, pad_id):
    longest = max(len(x) for x in lists)
    tokens = torch.full((len(lists), longest), pad_id, dtype=torch.int64)
    mask = torch.zeros(len(lists), longest, dtype=torch.bool)
    for b, x in enumerate(lists):
        tokens[b, :len(x)] = torch.as_tensor(np.asarray(x, dtype=np.int64))
        mask[b, :len(x)] = True
    return tokens, mask


def pad_frames(samples, name, dim):
    longest = max(len(s[name]) for s in samples)
    values = torch.zeros(len(samples), longest, dim)
    mask = torch.zeros(len(samples), longest, dtype=torch.bool)
    for b, s in enumerate(samples):
        values[b, :len(s[name])] = torch.from_numpy(s[name])
        mask[b, :len(s[name])] = True
    return values, mask


class Collate:
    """batch.cpp's collate: rows context ++ response cut to max_seq_len, targets shifted by one,
    response token j predicted at position context_len - 1 + j."""

    def __init__(self, info, max_seq_len):
        self.info, self.max_seq_len = info, max_seq_len

    def __call__(self, samples):
        info, rows, topk = self.info, len(samples), self.info["topk"]
        spans = []
        for s in samples:
            response = min(len(s["response"]), self.max_seq_len - 1 if len(s["context"]) else
                           self.max_seq_len)
            context = min(len(s["context"]), self.max_seq_len - response)
            spans.append((context, response))
        longest = max(c + r for c, r in spans)
        batch = {"tokens": torch.full((rows, longest), info["pad_id"], dtype=torch.int64),
                 "targets": torch.full((rows, longest), info["pad_id"], dtype=torch.int64),
                 "context_mask": torch.zeros(rows, longest, dtype=torch.bool),
                 "response_mask": torch.zeros(rows, longest, dtype=torch.bool),
                 "topk_ids": torch.zeros(rows, longest, topk, dtype=torch.int64),
                 "topk_logprobs": torch.zeros(rows, longest, topk)}
        for b, (s, (context, response)) in enumerate(zip(samples, spans)):
            row = np.concatenate([s["context"][len(s["context"]) - context:],
                                  s["response"][:response]]).astype(np.int64)
            batch["tokens"][b, :len(row)] = torch.from_numpy(row)
            batch["targets"][b, :len(row) - 1] = torch.from_numpy(row[1:])
            batch["context_mask"][b, :context] = True
            first = max(0, context - 1)
            skipped = first - (context - 1)
            predicted = response - skipped
            if predicted > 0:
                batch["response_mask"][b, first:first + predicted] = True
                batch["topk_ids"][b, first:first + predicted] = torch.from_numpy(
                    np.asarray(s["topk_ids"][skipped:skipped + predicted], dtype=np.int64))
                batch["topk_logprobs"][b, first:first + predicted] = torch.from_numpy(
                    np.ascontiguousarray(s["topk_logprobs"][skipped:skipped + predicted]))
        batch["emotion"] = torch.tensor([s["emotion"] for s in samples], dtype=torch.int64)
        batch["teacher_hidden"] = torch.stack([torch.from_numpy(s["teacher_hidden"])
                                               for s in samples])
        for modality in ("audio", "visual"):
            batch[modality], batch[modality + "_mask"] = pad_frames(
                samples, modality, info[modality + "_dim"])
        batch["privileged"], batch["privileged_mask"] = {}, {}
        for source in info["privileged_sources"]:
            batch["privileged"][source], batch["privileged_mask"][source] = pad_lists(
                [s["privileged"][source] for s in samples], info["pad_id"])
        # Host-side counts: the loss normalisers need no device sync.
        batch["response_tokens"] = int(batch["response_mask"].sum())
        return batch


def to_device(batch, device):
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    return batch


# ---- losses: reference_step.py's terms as masked reductions (no boolean indexing, no syncs) ----

def masked_ce_sum(logits, targets, mask):
    log_probs = torch.log_softmax(logits.float(), -1)
    return -(log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * mask).sum()


def masked_reverse_kl_sum(logits, topk_ids, topk_logprobs, mask, temperature, tail_bucket):
    log_q = ref.student_log_buckets(logits.float(), topk_ids, temperature, tail_bucket)
    log_p = ref.teacher_log_buckets(topk_logprobs.float(), temperature, tail_bucket)
    return ((log_q.exp() * (log_q - log_p)).sum(-1) * mask).sum()


def training_loss(student, batch, real_pi_rows, config, accumulation, autocast):
    """Forward under `autocast`; the loss terms (and MMD) in float32 outside it, as pride."""
    with autocast():
        out = student(batch, True, real_pi_rows)
    loss, mask = config["loss"], batch["response_mask"]
    tokens, samples = float(batch["response_tokens"]), float(batch["tokens"].size(0))
    ce = masked_ce_sum(out["logits"], batch["targets"], mask)
    rkl = masked_reverse_kl_sum(out["logits"], batch["topk_ids"], batch["topk_logprobs"], mask,
                                loss["rkl_temperature"], loss["rkl_tail_bucket"])
    mmd = ref.mmd2_unbiased(out["features"].float(), batch["teacher_hidden"],
                            loss["mmd_bandwidths"])
    emotion = ref.nll_sum(out["emotion_logits"].float(), batch["emotion"])
    total = (loss["ce_weight"] * ce / tokens + loss["rkl_weight"] * rkl / tokens +
             loss["mmd_weight"] * mmd + loss["emotion_weight"] * emotion / samples +
             config["pi"]["align_weight"] * out["pi_align"].float().sum() / samples)
    return total / accumulation


# ---- the loop -----------------------------------------------------------------------------------

def make_optimizer(student, train, device):
    """AdamW with pride's grouping (decay on matrices only); fused where this torch has it."""
    params = list(student.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": train["weight_decay"]},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    options = dict(lr=train["lr"], betas=(train["beta1"], train["beta2"]), eps=1e-8)
    for extra in ({"fused": True}, {"foreach": True}, {}):
        try:
            if extra.get("fused") and device.type != "cuda":
                continue
            return torch.optim.AdamW(groups, **options, **extra), (list(extra) or ["plain"])[0]
        except (TypeError, RuntimeError):
            continue


def apply_override(config, override):
    """pride's `--set section.key=value` (value in YAML syntax) for the keys the student reads."""
    key, _, value = override.partition("=")
    section, _, name = key.partition(".")
    if name not in config.get(section, {}):
        return  # a key the peer does not model (data paths, checkpoints, ...)
    config[section][name] = ref.yaml_scalar(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/gpu-125m.yaml")
    parser.add_argument("--data", help="pride HDF5 training file (default: the config's); "
                        "'random': random batches of the synthetic data's shapes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed optimizer steps first")
    parser.add_argument("--micro-batch", type=int, help="override train.micro_batch_size")
    parser.add_argument("--global-batch", type=int, help="override train.global_batch_size")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="device peak for mfu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the student")
    parser.add_argument("--min-context", type=int, default=992, help="random data only")
    parser.add_argument("--max-context", type=int, default=1007, help="random data only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key as pride's --set does (repeatable)")
    args = parser.parse_args()

    config = ref.load_config(args.config)
    for override in args.set:
        apply_override(config, override)
    data_paths = (ref.load_yaml(args.config).get("data") or {}).get("train") or []
    device = torch.device(args.device)
    train = config["train"]
    micro = args.micro_batch or train["micro_batch_size"]
    accumulation = max(1, (args.global_batch or train["global_batch_size"]) // micro)
    torch.manual_seed(config["run"]["seed"])

    path = args.data or (data_paths[0] if data_paths else "random")
    if h5py is not None and path != "random":
        if not os.path.isfile(path):
            sys.exit(f"pytorch_peer: no data file {path} (make it with pride data synth)")
        dataset, source = PrideH5(path), path
    else:
        vocab = config["model"]["vocab_size"] or 16384
        info = {"vocab_size": vocab, "num_emotions": 6, "pad_id": 0, "topk": 20,
                "teacher_hidden": 1024, "audio_dim": 64, "visual_dim": 64,
                "privileged_sources": PI_SOURCES}
        dataset = RandomLike(4096, info, args.min_context, args.max_context, config["run"]["seed"])
        source = "random batches" + (" (no h5py)" if h5py is None else "")
    info = dataset.info
    cuda = device.type == "cuda"
    workers = {"num_workers": args.workers, "persistent_workers": True, "prefetch_factor": 4}
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=micro, shuffle=True, drop_last=True, pin_memory=cuda,
        collate_fn=Collate(info, config["model"]["max_seq_len"]),
        **(workers if args.workers > 0 else {}))

    ref.Attention.use_sdpa = hasattr(F, "scaled_dot_product_attention")
    ref.Student.validate_tokens = False  # a host sync per check; pride data inspect validates
    student = ref.Student(config["model"], info).to(device)
    num_parameters = student.num_parameters()
    optimizer, adamw_kind = make_optimizer(student, train, device)
    model = torch.compile(student) if args.compile and hasattr(torch, "compile") else student
    bf16 = args.precision == "bf16"
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else \
        contextlib.nullcontext

    def batches():
        while True:
            yield from loader

    stream = batches()
    padded_tokens, loss, timed_start = 0, None, None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            timed_start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        for _ in range(accumulation):
            batch = to_device(next(stream), device)
            progress = step / max(1, args.warmup + args.steps)
            real_pi_rows = torch.rand(batch["tokens"].size(0), device=device) < 1.0 - progress
            loss = training_loss(model, batch, real_pi_rows, config, accumulation, autocast)
            loss.backward()
            if step >= args.warmup:
                padded_tokens += batch["tokens"].numel()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - timed_start
    tokens_per_s = padded_tokens / seconds
    result = {
        "impl": "pytorch", "torch": torch.__version__, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "precision": args.precision, "sdpa": ref.Attention.use_sdpa, "adamw": adamw_kind,
        "compile": bool(args.compile and hasattr(torch, "compile")), "data": source,
        "num_parameters": num_parameters, "micro_batch": micro, "accumulation": accumulation,
        "steps": args.steps, "step_ms": 1e3 * seconds / max(1, args.steps),
        "tokens_per_s_per_gpu": tokens_per_s, "final_loss": float(loss.item()) * accumulation,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
    }
    if args.peak_tflops > 0:
        result["mfu"] = 6.0 * num_parameters * tokens_per_s / (args.peak_tflops * 1e12)
    if not math.isfinite(result["final_loss"]):
        print("pytorch_peer: the loss is not finite", file=sys.stderr)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
