#!/usr/bin/env python3
"""Compares two training runs for the CLI tests.

  compare_runs.py metrics A/metrics.jsonl B/metrics.jsonl [--rtol R] [--keys k1,k2]
  compare_runs.py weights A.safetensors B.safetensors [--rtol R]

Exit 0 when every compared value agrees within the relative tolerance (0 means bit for bit),
1 otherwise, printing the first disagreements.
"""
import argparse
import json
import struct
import sys

import numpy as np

LOSS_KEYS = "loss,ce,rkl,mmd,emotion_ce,pi_align,grad_norm,eval_ce,eval_rkl,eval_emotion_acc"


def read_metrics(path):
    records = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            kind = "eval" if "eval_ce" in r else "train"
            records[(kind, r["step"])] = r
    return records


def read_safetensors(path):
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
    return tensors


def close(a, b, rtol):
    if rtol == 0:
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-3)


def compare_metrics(a_path, b_path, rtol, keys):
    a, b = read_metrics(a_path), read_metrics(b_path)
    if set(a) != set(b):
        print(f"different logged steps: {sorted(set(a) ^ set(b))[:10]}")
        return 1
    bad = 0
    worst = 0.0
    for step in sorted(a):
        for key in keys:
            if key in a[step]:
                x, y = a[step][key], b[step][key]
                worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-3))
            if key in a[step] and not close(a[step][key], b[step][key], rtol):
                bad += 1
                if bad <= 10:
                    print(f"{step} {key}: {a[step][key]!r} vs {b[step][key]!r}")
    print(f"compared {len(a)} records: {bad} disagreements, worst relative difference "
          f"{worst:.3g} (rtol {rtol})")
    return 1 if bad else 0


def compare_weights(a_path, b_path, rtol):
    a, b = read_safetensors(a_path), read_safetensors(b_path)
    if set(a) != set(b):
        print(f"different tensor names: {sorted(set(a) ^ set(b))[:10]}")
        return 1
    worst = 0.0  # relative difference of each tensor: ||a - b|| / ||a||
    for name in a:
        diff = np.linalg.norm((a[name] - b[name]).astype(np.float64))
        scale = max(np.linalg.norm(a[name].astype(np.float64)), 1e-12)
        worst = max(worst, float(diff / scale))
    print(f"compared {len(a)} tensors: worst relative difference {worst:.3g} (rtol {rtol})")
    return 0 if worst <= rtol else 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["metrics", "weights"])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--keys", default=LOSS_KEYS)
    args = parser.parse_args()
    if args.kind == "metrics":
        return compare_metrics(args.a, args.b, args.rtol, args.keys.split(","))
    return compare_weights(args.a, args.b, args.rtol)


if __name__ == "__main__":
    sys.exit(main())
