#!/usr/bin/python3
"""Independent reference for `pride score` (shares no code with pride).

BLEU-1..4 from Debian's python3-nltk (corpus_bleu, SmoothingFunction().method1, one reference per
hypothesis); ROUGE-L F (LCS, beta 1.2, per pair then averaged), Dist-1/2 and the average length
written here from their definitions.

  text_metrics_reference.py cases DIR            writes the fixed test corpora DIR/<name>.jsonl
  text_metrics_reference.py check FILE.jsonl PRIDE.json TOL
        every metric of pride's JSON equals the reference within TOL
"""
import json
import os
import sys

from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

BETA = 1.2
WEIGHTS = [(1, 0, 0, 0), (0.5, 0.5, 0, 0), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]


def tokens(value):
    return value.split() if isinstance(value, str) else [str(i) for i in value]


def lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def rouge_l(hyp, ref):
    common = lcs(hyp, ref)
    if common == 0:
        return 0.0
    p, r = common / len(hyp), common / len(ref)
    return (1 + BETA**2) * p * r / (r + BETA**2 * p)


def distinct(responses, n):
    grams = [tuple(r[i:i + n]) for r in responses for i in range(len(r) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def reference_metrics(pairs):
    hyps = [tokens(h) for h, _ in pairs]
    refs = [tokens(r) for _, r in pairs]
    bleu = corpus_bleu([[r] for r in refs], hyps, weights=WEIGHTS,
                       smoothing_function=SmoothingFunction().method1)
    out = {f"bleu{n + 1}": float(b) for n, b in enumerate(bleu)}
    out["rouge_l"] = sum(rouge_l(h, r) for h, r in zip(hyps, refs)) / len(pairs)
    out["dist1"], out["dist2"] = distinct(hyps, 1), distinct(hyps, 2)
    out["avg_len"] = sum(len(h) for h in hyps) / len(pairs)
    out["responses"] = len(pairs)
    return out


CASES = {
    # Words, with one empty hypothesis, a hypothesis longer than its reference, repeats.
    "words": [
        ("i am so sorry to hear that , that sounds hard", "i am sorry to hear that . that must be hard"),
        ("", "what happened ?"),
        ("the the the the the", "the cat sat on the mat"),
        ("that is great news ! congratulations on the new job , you earned it", "congratulations !"),
        ("oh no", "oh no , i hope you feel better soon"),
    ],
    # Token ids; one-token hypotheses: no bigram or higher match anywhere (smoothing decides).
    "short_ids": [([5], [5, 6, 7]), ([9], [9]), ([3], [4, 3])],
    # Bigram matches but no 3- or 4-gram match, hypotheses shorter than references (brevity).
    "no_trigrams": [([1, 2, 9, 1, 2], [1, 2, 3, 4, 5, 6]), ([7, 8], [7, 8, 9, 10])],
    # Repeated n-grams in and across responses (Dist-n counts each distinct one once).
    "repeats": [([4, 4, 4, 4], [4, 4]), ([4, 4, 5], [5, 4, 4]), ([1, 2, 1, 2, 1, 2], [2, 1])],
    # No unigram in common: BLEU is 0 for every order.
    "no_match": [([1, 2, 3], [4, 5, 6]), ([7], [8, 9])],
    # Every hypothesis empty.
    "all_empty": [([], [1, 2]), ([], [3])],
}


def main():
    if sys.argv[1] == "cases":
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, pairs in CASES.items():
            with open(os.path.join(sys.argv[2], name + ".jsonl"), "w") as out:
                for hyp, ref in pairs:
                    out.write(json.dumps({"hypothesis": hyp, "reference": ref}) + "\n")
    elif sys.argv[1] == "check":
        with open(sys.argv[2]) as f:
            pairs = [(r["hypothesis"], r["reference"]) for r in map(json.loads, f) if r]
        with open(sys.argv[3]) as f:
            pride = json.load(f)
        ref, tol = reference_metrics(pairs), float(sys.argv[4])
        bad = {k: (pride.get(k), v) for k, v in ref.items() if pride.get(k) is None
               or abs(pride[k] - v) > tol}
        print(os.path.basename(sys.argv[2]), "reference", json.dumps(ref))
        if bad:
            print("MISMATCH (pride, reference):", bad)
            sys.exit(1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
