#!/usr/bin/python3
"""Independent reference for label scoring (shares no code with pride): HEF's emotion labels and
`pride judge`'s answer labels.

  label_reference.py labels PROMPTS_DIR LABELS_OUT.json
      the texts to tokenize: every emotion prompt pride logged (PRIDE_TEACH_PROMPTS, all ranks, in
      sample order) and every label of EmpatheticDialogues' 32 after a space (teach.sh's node
      script tokenizes them with Hugging Face's tokenizers).
  label_reference.py check IDS.json OUT_DIR MODEL_DIR TOL
      per sample: each label's mean token log-probability after its prompt, from the from-scratch
      forward of hf_reference.py, normalised over the labels; equal to /teacher/emotion_logprobs
      of OUT_DIR's shards (in manifest order) within TOL.
  label_reference.py judge-texts VERDICTS.jsonl TEXTS.json
      the judge's prompts (both orders of every pair) and its answer labels " A" and " B".
  label_reference.py judge-check IDS.json VERDICTS.jsonl METRICS.json MODEL_DIR TOL
      P(A) of each prompt from the from-scratch forward, normalised over the two labels, equal to
      p_a_first (A shown first) and p_a_second (A shown second) within TOL; the verdicts follow
      the both-orders rule and the rates of METRICS.json count them.
"""
import glob
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_reference import forward, read_model  # noqa: E402

ED_LABELS = ("afraid angry annoyed anticipating anxious apprehensive ashamed caring confident "
             "content devastated disappointed disgusted embarrassed excited faithful furious "
             "grateful guilty hopeful impressed jealous joyful lonely nostalgic prepared proud sad "
             "sentimental surprised terrified trusting").split()


def logged_prompts(directory):
    rows = []
    for path in glob.glob(os.path.join(directory, "prompts-*.jsonl")):
        rows += [json.loads(line) for line in open(path, encoding="utf-8")]
    return sorted(rows, key=lambda r: r["sample"])


def labels(directory, out):
    rows = logged_prompts(directory)
    json.dump({"prompts": [r["emotion_prompt"] for r in rows],
               "labels": [" " + label for label in ED_LABELS]}, open(out, "w"))


def label_logprobs(c, w, prompt, label_ids):
    scores = []
    for label in label_ids:
        logits = forward(c, w, prompt + label)
        logprobs = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), -1)
        scores.append(float(np.mean([logprobs[len(prompt) - 1 + j, t].item()
                                     for j, t in enumerate(label)])))
    scores = torch.tensor(scores, dtype=torch.float64)
    return (scores - torch.logsumexp(scores, 0)).numpy()


def check(ids_path, out_dir, model_dir, tolerance):
    ids = json.load(open(ids_path))
    c, w = read_model(model_dir)
    manifest = json.load(open(os.path.join(out_dir, "manifest.json")))
    stored = np.concatenate([h5py.File(os.path.join(out_dir, s["file"]), "r")
                             ["teacher/emotion_logprobs"][...] for s in manifest["shards"]])
    worst = 0.0
    for i, prompt in enumerate(ids["prompts"]):
        expected = label_logprobs(c, w, prompt, ids["labels"])
        worst = max(worst, float(np.abs(expected - stored[i]).max()))
    print(f"{len(ids['prompts'])} samples x {len(ids['labels'])} labels, worst difference {worst:.2e}")
    return worst <= tolerance and len(ids["prompts"]) == len(stored)


def judge_texts(verdicts, out):
    rows = [json.loads(line) for line in open(verdicts)]
    prompts = [text for r in rows for text in (r["prompt_a_first"], r["prompt_a_second"])]
    json.dump({"prompts": prompts, "labels": [" A", " B"]}, open(out, "w"))


def judge_check(ids_path, verdicts, metrics_path, model_dir, tolerance):
    ids = json.load(open(ids_path))
    rows = [json.loads(line) for line in open(verdicts)]
    c, w = read_model(model_dir)
    worst, ok, counts = 0.0, True, {"a": 0, "tie": 0, "b": 0}
    for i, row in enumerate(rows):
        first = np.exp(label_logprobs(c, w, ids["prompts"][2 * i], ids["labels"]))[0]
        second = np.exp(label_logprobs(c, w, ids["prompts"][2 * i + 1], ids["labels"]))[1]
        worst = max(worst, abs(first - row["p_a_first"]), abs(second - row["p_a_second"]))
        expected = "a" if first > 0.5 and second > 0.5 else "b" if first < 0.5 and second < 0.5 else "tie"
        ok &= row["verdict"] == expected and row["pair"] == i
        counts[expected] += 1
    metrics = json.load(open(metrics_path))
    n = len(rows)
    for key, verdict in (("win", "a"), ("tie", "tie"), ("loss", "b")):
        rate = metrics[key]
        ok &= abs(rate["rate"] - counts[verdict] / n) < 1e-12 and rate["low"] <= rate["rate"] <= rate["high"]
    print(f"{n} pairs x 2 orders, worst probability difference {worst:.2e}, verdicts {counts}")
    return ok and worst <= tolerance and metrics["pairs"] == n


if __name__ == "__main__":
    if sys.argv[1] == "labels":
        labels(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        sys.exit(not check(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
    elif sys.argv[1] == "judge-texts":
        judge_texts(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "judge-check":
        sys.exit(not judge_check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                                 float(sys.argv[6])))
    else:
        sys.exit(__doc__)
