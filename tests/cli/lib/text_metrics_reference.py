#!/usr/bin/python3
"""Independent reference for `pride score` (shares no code with pride).

BLEU-1..4 from Debian's python3-nltk (corpus_bleu, SmoothingFunction().method1, one reference per
hypothesis); ROUGE-L F (LCS, beta 1.2, per pair then averaged), Dist-1/2 and the average length
written here from their definitions. Text is scored on its words (docs/evaluation.md): ASCII
letters lowercased, runs of [a-z0-9_] and non-ASCII characters, every other non-space character
alone.

  text_metrics_reference.py cases DIR            writes the fixed test corpora DIR/<name>.jsonl
  text_metrics_reference.py tokenizer FILE.json  writes a 512-token tokenizer.json (Metaspace
        decoder, special <pad> <s> </s> = 0 1 2) whose pieces glue, case and punctuate words
  text_metrics_reference.py check FILE.jsonl PRIDE.json TOL [TOKENIZER.json]
        every metric of pride's JSON equals the reference within TOL; lines with
        "hypothesis_text" and "reference_text" are scored on those. With TOKENIZER.json the ids
        are decoded here (special tokens skipped), must equal those texts, and are scored.
"""
import json
import os
import re
import sys

from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

BETA = 1.2
WEIGHTS = [(1, 0, 0, 0), (0.5, 0.5, 0, 0), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]


WORD = re.compile("[a-z0-9_\u0080-\U0010ffff]+|[^ \t\n\v\f\ra-z0-9_\u0080-\U0010ffff]")


def words(text):
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    return WORD.findall(lowered)


def tokens(value):
    return words(value) if isinstance(value, str) else [str(i) for i in value]


def make_tokenizer(path):
    """Pieces: word starts ("\u2581Sad"), continuations ("ing"), glued punctuation, case variants
    and non-ASCII words, so that words differ from pieces; filled up to 512 with numbered ones."""
    stems = ["I", "feel", "so", "Sad", "sad", "SAD", "sorry", "you", "That", "that", "hear", "to",
             "job", "lost", "my", "friend", "happy", "great", "news", "caf\u00e9", "na\u00efve",
             "really", "hope", "better", "soon", "what", "happened", "oh", "no", "it", "hard"]
    pieces = [".", ",", "!", "?", "'", "'s", "'m", "n't", "...", "\u2581-", ":)", "(", ")", "ing"]
    for stem in stems:
        pieces += ["\u2581" + stem, stem, "\u2581" + stem + ".", stem + ","]
    n = 0
    while len(pieces) < 509:
        pieces += ["\u2581w%d" % n, "%d" % n, "\u2581W%d!" % n]
        n += 1
    pieces = list(dict.fromkeys(pieces))[:509]
    assert len(pieces) == 509
    specials = ["<pad>", "<s>", "</s>"]
    vocab = {token: i for i, token in enumerate(specials + pieces)}
    meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    with open(path, "w") as out:
        json.dump({"version": "1.0",
                   "added_tokens": [{"id": i, "content": t, "special": True, "single_word": False,
                                     "lstrip": False, "rstrip": False, "normalized": False}
                                    for i, t in enumerate(specials)],
                   "normalizer": None, "pre_tokenizer": meta, "post_processor": None,
                   "decoder": meta,
                   "model": {"type": "BPE", "dropout": None, "unk_token": None,
                             "continuing_subword_prefix": None, "end_of_word_suffix": None,
                             "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                             "merges": []}}, out, ensure_ascii=False)


def decoder_of(path):
    """Ids to text as the Metaspace decoder does (its markers dropped from the first piece, spaces
    elsewhere), special tokens skipped."""
    with open(path) as f:
        tok = json.load(f)
    piece = {i: t for t, i in tok["model"]["vocab"].items()}
    special = {t["id"] for t in tok["added_tokens"] if t["special"]}
    def decode(ids):
        kept = [piece[i] for i in ids if i not in special]
        return "".join(p.replace("\u2581", "" if k == 0 else " ") for k, p in enumerate(kept))
    return decode


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
    # Text: case, punctuation glued to words, apostrophes, non-ASCII letters, tabs and newlines.
    "text": [
        ("I'm SO sorry...That's hard!", "i'm sorry. that's HARD"),
        ("Caf\u00e9 au lait?\tYes,\nplease", "caf\u00e9, please (yes)"),
        ("well-being:\u00c9t\u00e9 2024_x", "Well being"),
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
    elif sys.argv[1] == "tokenizer":
        make_tokenizer(sys.argv[2])
    elif sys.argv[1] == "check":
        with open(sys.argv[2]) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        pairs = [(r.get("hypothesis_text", r["hypothesis"]), r.get("reference_text", r["reference"]))
                 for r in lines]
        if len(sys.argv) > 5:
            decode = decoder_of(sys.argv[5])
            mine = [(decode(r["hypothesis"]), decode(r["reference"])) for r in lines]
            if mine != pairs:
                bad = next(i for i, (a, b) in enumerate(zip(mine, pairs)) if a != b)
                print("DECODED TEXT DIFFERS at line", bad + 1, "(reference, pride):", mine[bad],
                      pairs[bad])
                sys.exit(1)
            pairs = mine
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
