#!/usr/bin/env python3
"""Opens a pride dialogue file with h5py (no pride code) and checks its shapes and invariants.

Usage: make_h5py_check.py FILE SAMPLES TOPK HIDDEN   (exit status 0 when everything holds)
"""
import sys

import h5py
import numpy as np


def check_ragged(f, name, n):
    offsets = f[name + "_offsets"][()]
    assert offsets.shape == (n + 1,), (name, offsets.shape)
    assert offsets[0] == 0 and np.all(np.diff(offsets) >= 0), name
    assert offsets[-1] == f[name].shape[0], name
    return offsets


def main(path, samples, topk, hidden):
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] in (b"pride-dialogue", "pride-dialogue"), f.attrs["format"]
        assert int(f.attrs["version"]) == 1
        vocab = int(f.attrs["vocab_size"])
        assert f["samples/emotion"].shape == (samples,)
        check_ragged(f, "samples/context", samples)
        response = check_ragged(f, "samples/response", samples)
        rows = int(response[-1])
        assert f["teacher/topk_ids"].shape == (rows, topk)
        logprobs = f["teacher/topk_logprobs"]
        assert logprobs.shape == (rows, topk)
        assert logprobs.dtype in (np.float16, np.float32), logprobs.dtype
        assert np.all(np.isfinite(logprobs[()])) and np.all(logprobs[()] <= 1e-3)
        assert f["teacher/hidden"].shape == (samples, hidden)
        sources = f.attrs["privileged_sources"]
        sources = sources.decode() if isinstance(sources, bytes) else sources
        for source in sources.split(","):
            check_ragged(f, "samples/privileged/" + source, samples)
        for name in ("samples/context", "samples/response", "teacher/topk_ids"):
            values = f[name][()]
            assert values.min() >= 0 and values.max() < vocab, name
    print(f"h5py check passed: {path} ({h5py.__version__}, topk_logprobs {logprobs.dtype})")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
