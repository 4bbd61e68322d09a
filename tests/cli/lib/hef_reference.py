#!/usr/bin/python3
"""Independent reference for HEF's teacher side (shares no code with pride).

  hef_reference.py labels PROMPTS_DIR LABELS_OUT.json
      the texts to tokenize: every emotion prompt pride logged (PRIDE_TEACH_PROMPTS, all ranks, in
      sample order) and every label of EmpatheticDialogues' 32 after a space (teach.sh's node
      script tokenizes them with Hugging Face's tokenizers).
  hef_reference.py check IDS.json OUT_DIR MODEL_DIR TOL
      per sample: each label's mean token log-probability after its prompt, from the from-scratch
      forward of hf_reference.py, normalised over the labels; equal to /teacher/emotion_logprobs
      of OUT_DIR's shards (in manifest order) within TOL.
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


if __name__ == "__main__":
    if sys.argv[1] == "labels":
        labels(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        sys.exit(not check(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
    else:
        sys.exit(__doc__)
