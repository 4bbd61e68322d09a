#!/usr/bin/env python3
"""Per-rank memory of a LoRA student from element counts (docs/models.md, "LoRA"): the student's
parameters (the pretrained language model, PRIDE's cross-attention, memory and PI modules and
heads, the adapters), and the float32 gradients and AdamW moments that exist for the trainable
ones alone. Mirrors src/models/student.cpp's constructor and models/layers.h's adapters.

  scripts/bench/lora_memory.py                       # Llama-3.1-8B shape, rank 8, q/v and all 7
  scripts/bench/lora_memory.py --d-model 64 ... --audio-dim 8   # any other shape
"""
import argparse

TARGETS_ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def attention(d, heads, kv_heads, hd):
    return d * heads * hd * 2 + d * kv_heads * hd * 2  # q, o; k, v (no biases)


def mlp(d, ff):
    return 3 * d * ff


def counts(a, targets):
    d, hd = a.d_model, a.d_model // a.n_heads
    block = 2 * d + attention(d, a.n_heads, a.n_kv_heads, hd) + mlp(d, a.d_ff)  # + 2 norms
    language_model = 2 * a.vocab * d + a.n_layers * block + d  # embeddings, LM head, final norm
    cross = a.n_layers * (d + attention(d, a.n_heads, a.n_kv_heads, hd))
    pool_hd = d // a.n_heads
    resampler = (a.memory_slots * d + 3 * d + attention(d, a.n_heads, a.n_kv_heads, pool_hd)
                 + mlp(d, a.d_ff))
    memory = (3 * d + (a.audio_dim + 1) * d * (a.audio_dim > 0)
              + (a.visual_dim + 1) * d * (a.visual_dim > 0) + d + max(1, a.pi_sources) * d
              + 2 * resampler + (d + 1) * a.emotions + (d + 1) * a.teacher_hidden)
    shapes = {"q_proj": (d, a.n_heads * hd), "k_proj": (d, a.n_kv_heads * hd),
              "v_proj": (d, a.n_kv_heads * hd), "o_proj": (a.n_heads * hd, d),
              "gate_proj": (d, a.d_ff), "up_proj": (d, a.d_ff), "down_proj": (a.d_ff, d)}
    adapters = a.n_layers * sum(a.rank * (i + o) for i, o in (shapes[t] for t in targets))
    return language_model, cross + memory, adapters


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("vocab", 128256), ("d-model", 4096), ("n-layers", 32), ("n-heads", 32),
                          ("n-kv-heads", 8), ("d-ff", 14336), ("memory-slots", 8), ("rank", 8),
                          ("audio-dim", 0), ("visual-dim", 0), ("pi-sources", 3), ("emotions", 7),
                          ("teacher-hidden", 4096), ("ranks", 8)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    mib = lambda n: n * 4 / 2**20
    print("| model.lora.targets | trainable | parameters | gradients | optimizer state | total "
          "| ZeRO-1 on %d ranks |" % a.ranks)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, targets in [("q_proj, v_proj", ["q_proj", "v_proj"]), ("all 7", TARGETS_ALL)]:
        lm, pride, adapters = counts(a, targets)
        total = lm + pride + adapters
        for trained, label in [(adapters, name), (adapters + pride, name + " (memory trained)")]:
            params, grads, state = mib(total), mib(trained), mib(2 * trained)
            zero = params + grads + state / a.ranks + grads / a.ranks
            print(f"| {label} | {trained / 1e6:.2f}M of {total / 1e6:.1f}M | {params:,.0f} MiB "
                  f"| {grads:,.1f} MiB | {state:,.1f} MiB | {params + grads + state:,.0f} MiB "
                  f"| {zero:,.0f} MiB |")
    lm, pride, _ = counts(a, [])
    adapters = [counts(a, targets)[2] for targets in (["q_proj", "v_proj"], TARGETS_ALL)]
    print(f"language model {lm:,} + PRIDE's parts {pride:,} parameters; adapters: {adapters[0]:,} "
          f"on q_proj, v_proj, {adapters[1]:,} on all 7 (totals {lm + pride + adapters[0]:,}, "
          f"{lm + pride + adapters[1]:,})")


if __name__ == "__main__":
    main()
