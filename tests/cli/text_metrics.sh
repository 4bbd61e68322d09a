#!/usr/bin/env bash
# `pride score` (eval/text_metrics.h) against an independent reference on fixed corpora:
# BLEU-1..4 from Debian's python3-nltk corpus_bleu (SmoothingFunction().method1), ROUGE-L F
# (beta 1.2), Dist-1/2 and the average length from scratch in tests/cli/lib/text_metrics_reference.py;
# equal within 1e-6. The corpora hold the edge cases: an empty hypothesis, one-token hypotheses (no
# higher-order match), no trigram match, repeated n-grams, no unigram match, all hypotheses empty.
source "$(dirname "$0")/lib/common.sh"
REF="/usr/bin/python3 $REPO/tests/cli/lib/text_metrics_reference.py"

$REF cases "$WORK/cases"
for corpus in "$WORK"/cases/*.jsonl; do
  "$PRIDE" score --in "$corpus" >"$corpus.pride.json"
  check "$(basename "$corpus" .jsonl): pride score equals the reference within 1e-6" \
    $REF check "$corpus" "$corpus.pride.json" 1e-6
done

echo '{"hypothesis": [1, 2]}' >"$WORK/bad.jsonl"
code=0
"$PRIDE" score --in "$WORK/bad.jsonl" 2>"$WORK/err.txt" || code=$?
check "a line without a reference is named (exit 2)" \
  bash -c "[[ $code -eq 2 ]] && grep -qF 'bad.jsonl:1: each line must be an object with' '$WORK/err.txt'"
