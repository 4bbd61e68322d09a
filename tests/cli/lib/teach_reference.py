#!/usr/bin/python3
"""Independent reference for `pride teach` (shares no code with pride).

  teach_reference.py texts SAMPLES.jsonl OUT.json
      the texts pride must have tokenized, rendered here from the documented default templates:
      per sample its context prompt and reasoning prompt (special tokens added) and its response
      and privileged texts (without); tokenize them with Hugging Face's tokenizers (teach.sh).
  teach_reference.py check SAMPLES.jsonl TEXTS.json IDS.json OUT_DIR MODEL_DIR MAX_REASONING
                           TOKENIZER_VOCAB TOL
      reads every shard of OUT_DIR (in manifest order) with h5py and checks each sample against
      the reference: ids = the reference tokenizer's, reasoning = the greedy continuation of the
      reasoning prompt over the tokenizer's ids (the model's extra embedding rows are not
      tokens), top-K and hidden states = the from-scratch forward of hf_reference.py over
      context + response, within TOL.
"""
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_reference import forward, hidden_states, read_model  # noqa: E402

REASONING_TEMPLATE = (
    "{dialogue}\n"
    "Before {speaker} replies, think it through step by step.\n"
    "1. Feelings: what does the other person feel, and why?\n"
    "2. Situation: what happened, and what do they need now?\n"
    "3. Reply: what must an empathetic reply from {speaker} address?\n"
    "Reasoning:")


def reasoning_of(c, w, prompt, max_new, vocab, tokenizer_eos):
    """Greedy continuation over ids below `vocab`, the whole prefix recomputed each step, until
    an eos of config.json or the tokenizer's; the eos dropped unless it is all there is."""
    eos = c.get("eos_token_id")
    stops = set(eos if isinstance(eos, list) else [eos]) | {tokenizer_eos}
    ids, new = list(prompt), []
    for _ in range(max_new):
        token = int(forward(c, w, ids)[-1][:vocab].argmax())
        new.append(token)
        ids.append(token)
        if token in stops:
            return new[:-1] if len(new) > 1 else new
    return new


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def texts(samples):
    jobs = []
    for s in samples:
        dialogue = "".join(f"{t['speaker']}: {t['text']}\n" for t in s["context"])
        speaker = s["response"]["speaker"]
        jobs.append({"context": dialogue + speaker + ":",
                     "reasoning_prompt": REASONING_TEMPLATE.format(dialogue=dialogue, speaker=speaker),
                     "response": " " + s["response"]["text"],
                     "privileged": s.get("privileged", {})})
    return jobs


def read_shards(out_dir):
    manifest = json.load(open(os.path.join(out_dir, "manifest.json")))
    rows = []
    for shard in manifest["shards"]:
        f = h5py.File(os.path.join(out_dir, shard["file"]), "r")
        def ragged(name, i):
            offsets = f[name + "_offsets"]
            return f[name][offsets[i]:offsets[i + 1]]
        response_offsets = f["samples/response_offsets"][...]
        for i in range(shard["samples"]):
            r0, r1 = response_offsets[i], response_offsets[i + 1]
            rows.append({
                "context": ragged("samples/context", i).tolist(),
                "response": ragged("samples/response", i).tolist(),
                "emotion": int(f["samples/emotion"][i]),
                "privileged": {k: ragged(f"samples/privileged/{k}", i).tolist()
                               for k in f["samples/privileged"] if not k.endswith("_offsets")},
                "topk_ids": f["teacher/topk_ids"][r0:r1].astype(np.int64),
                "topk_logprobs": f["teacher/topk_logprobs"][r0:r1].astype(np.float64),
                "hidden": f["teacher/hidden"][i].astype(np.float64),
                "hidden_tokens": (f["teacher/hidden_tokens"][r0:r1].astype(np.float64)
                                  if "teacher/hidden_tokens" in f else None),
                "labels": f.attrs["emotion_labels"],
                "eos": int(f.attrs["eos_id"]),
            })
    return rows


def check(samples, ids, rows, model_dir, max_reasoning, vocab, tol):
    c, w = read_model(model_dir)
    if len(rows) != len(samples):
        sys.exit(f"{len(rows)} samples in the shards, {len(samples)} in the input")
    worst = {"topk": 0.0, "hidden": 0.0, "hidden_tokens": 0.0}
    for i, (s, want, row) in enumerate(zip(samples, ids, rows)):
        def expect(what, got, expected):
            if got != expected:
                sys.exit(f"sample {i} ({s['id']}): {what} {got} != reference {expected}")
        expect("context", row["context"], want["context"])
        expect("response", row["response"], want["response"] + [row["eos"]])
        labels = row["labels"]
        labels = (labels.decode() if isinstance(labels, bytes) else str(labels)).split(",")
        expect("emotion", labels[row["emotion"]], s["emotion"])
        for name, text_ids in want["privileged"].items():
            expect(f"privileged {name}", row["privileged"][name], text_ids)
        reasoning = reasoning_of(c, w, want["reasoning_prompt"], max_reasoning, vocab, row["eos"])
        expect("reasoning", row["privileged"]["reasoning"], reasoning)

        sequence = row["context"] + row["response"]
        first = len(row["context"]) - 1
        positions = list(range(first, first + len(row["response"])))
        logprobs = forward(c, w, sequence)[positions].double().log_softmax(-1)
        k = row["topk_ids"].shape[1]
        top_values = logprobs.topk(k, -1).values.numpy()
        at_stored_ids = logprobs.gather(1, torch.from_numpy(row["topk_ids"])).numpy()
        worst["topk"] = max(worst["topk"], np.abs(top_values - row["topk_logprobs"]).max(),
                            np.abs(at_stored_ids - row["topk_logprobs"]).max())
        states = hidden_states(c, w, sequence)[positions].double().numpy()
        worst["hidden"] = max(worst["hidden"], np.abs(states.mean(0) - row["hidden"]).max())
        if row["hidden_tokens"] is not None:
            worst["hidden_tokens"] = max(worst["hidden_tokens"],
                                         np.abs(states - row["hidden_tokens"]).max())
    print(f"{len(rows)} samples: ids, emotions, reasoning equal; max |difference| "
          + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()))
    if max(worst.values()) > tol:
        sys.exit(f"a difference exceeds {tol}")


def main(argv):
    torch.set_grad_enabled(False)
    if argv[1] == "texts":
        json.dump(texts(read_jsonl(argv[2])), open(argv[3], "w"))
    elif argv[1] == "check":
        samples, ids = read_jsonl(argv[2]), json.load(open(argv[4]))
        check(samples, ids, read_shards(argv[5]), argv[6], int(argv[7]), int(argv[8]), float(argv[9]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
