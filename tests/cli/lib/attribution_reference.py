#!/usr/bin/python3
"""Independent reference for the HEF plug-in's attributions and `pride hef`'s metrics (shares no
code with pride; the student is scripts/bench/reference_step.py's Python mirror).

  attribution_reference.py check EXPORT_DIR PREDICTIONS.jsonl STEPS TOL
      EXPORT_DIR: `pride ckpt export` of the plug-in (student.json + student.safetensors).
      For every line: integrated gradients of the predicted emotion's logit with respect to the
      input embeddings of "context_ids" (zero baseline, alphas s/STEPS for s = 1..STEPS; STEPS 1 is
      gradient x input), summed over the width, equal "token_scores" within TOL; the predicted
      emotion and probabilities equal the plug-in's; "cause_words" are the top distinct words of
      "words" by score.
  attribution_reference.py metrics PREDICTIONS.jsonl METRICS.json
      accuracy and macro-F1 (over the labels seen as gold or predicted) recomputed here.
"""
import json
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts", "bench"))
from hf_reference import read_safetensors  # noqa: E402
import reference_step  # noqa: E402


def load_student(export_dir):
    card = json.load(open(os.path.join(export_dir, "student.json")))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(card["model_yaml"])
    model = reference_step.load_config(f.name)["model"]
    os.unlink(f.name)
    info = dict(card["data"])
    student = reference_step.Student(model, info)
    weights = read_safetensors(os.path.join(export_dir, "student.safetensors"))
    missing, unexpected = student.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.split(".")[0] in ("audio_proj", "visual_proj") for k in missing)
    student.info = dict(info, pad_id=-1)  # one unpadded row: no key is padding
    return student.eval(), info


def attributions(student, info, ids, steps):
    tokens = torch.tensor([ids], dtype=torch.int64).expand(steps, len(ids))
    embeddings = student.embed_tokens(tokens[:1]).detach()
    alphas = torch.arange(1, steps + 1, dtype=embeddings.dtype).div(steps).view(-1, 1, 1)
    scaled = (alphas * embeddings).detach().requires_grad_(True)
    student.embed_tokens.forward = lambda _: scaled  # the forward reads these embeddings
    batch = {"tokens": tokens, "context_mask": torch.ones_like(tokens, dtype=torch.bool),
             "response_mask": torch.zeros_like(tokens, dtype=torch.bool)}
    for name in ("audio", "visual"):
        batch[name] = torch.zeros(steps, 0, info[name + "_dim"])
        batch[name + "_mask"] = torch.zeros(steps, 0, dtype=torch.bool)
    logits = student(batch, False, None)["emotion_logits"].float()
    probabilities = torch.softmax(logits[-1], -1)
    predicted = int(probabilities.argmax())
    (gradient,) = torch.autograd.grad(logits[:, predicted].sum(), scaled)
    return (embeddings[0] * gradient.mean(0)).sum(-1), probabilities, predicted


def check(export_dir, predictions, steps, tolerance):
    rows = [json.loads(line) for line in open(predictions)]
    worst, ok = 0.0, True
    for row in rows:
        student, info = load_student(export_dir)
        plugin = row["plugin"]
        scores, probabilities, predicted = attributions(student, info, plugin["context_ids"], steps)
        worst = max(worst, float((scores.double() - torch.tensor(plugin["token_scores"])).abs().max()))
        ok &= info["emotion_labels"][predicted] == plugin["emotion"]
        ok &= float((probabilities - torch.tensor(plugin["probabilities"])).abs().max()) <= tolerance
        ranked = sorted(plugin["words"], key=lambda w: -w[1])  # stable: context order on ties
        top = []
        for word, _ in ranked:
            if word not in top and len(top) < len(plugin["cause_words"]):
                top.append(word)
        ok &= top == plugin["cause_words"]
    print(f"{len(rows)} contexts, {steps} step(s): worst token score difference {worst:.2e}")
    return ok and worst <= tolerance


def emotion_scores(gold, predicted):
    labels = set(gold) | set(predicted)
    f1 = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        fp = sum(p == label != g for g, p in zip(gold, predicted))
        fn = sum(g == label != p for g, p in zip(gold, predicted))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold), sum(f1) / len(f1)


def metrics(predictions, metrics_path):
    rows = [json.loads(line) for line in open(predictions)]
    stored = json.load(open(metrics_path))["emotion"]
    gold = [r["gold_emotion"] for r in rows]
    ok = True
    for key, pick in (("plugin", lambda r: r["plugin"]["emotion"]),
                      ("teacher", lambda r: r["teacher"]["emotion"]),
                      ("teacher_with_plugin", lambda r: r["teacher_with_plugin"]["emotion"])):
        accuracy, macro_f1 = emotion_scores(gold, [pick(r) for r in rows])
        print(key, accuracy, macro_f1)
        ok &= abs(accuracy - stored[key]["accuracy"]) < 1e-12
        ok &= abs(macro_f1 - stored[key]["macro_f1"]) < 1e-12
    return ok


if __name__ == "__main__":
    if sys.argv[1] == "check":
        sys.exit(not check(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
    elif sys.argv[1] == "metrics":
        sys.exit(not metrics(sys.argv[2], sys.argv[3]))
    sys.exit(__doc__)
