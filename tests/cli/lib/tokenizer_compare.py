#!/usr/bin/python3
"""Compares two files line by line (pride's output and a reference's) and prints, per corpus
category, how many lines agree, and the first mismatches. Exit 1 on any mismatch that is not
explained.

usage: tokenizer_compare.py WHAT PRIDE_OUT REFERENCE_OUT CATEGORIES INPUT [HF_OUT QUIRK]

With HF_OUT (Hugging Face's own tokenizers, Rust, on the same input) a mismatch with the JS
library is explained, not failed, where pride agrees with HF and one of two JS deviations applies:
  whitespace:    the input line holds U+0085 or U+FEFF. The JS regexes use ECMAScript's \\s, which
                 excludes U+0085 (NEL) and includes U+FEFF (BOM); HF's Oniguruma \\s is Unicode
                 White_Space (U+0085 in, U+FEFF out).
  byte_fallback: pride's (= HF's) text holds U+FFFD. HF's ByteFallback decoder turns a run of
                 <0xNN> tokens that is not valid UTF-8 into one U+FFFD per byte token; the JS one
                 runs the run through a lossy TextDecoder (valid parts kept, one U+FFFD per
                 maximal invalid subpart).
"""
import collections
import sys

QUIRKS = {
    "whitespace": lambda ours, line: "\u0085".encode() in line or "\ufeff".encode() in line,
    "byte_fallback": lambda ours, line: "\ufffd".encode() in ours,
}


def read(path):
    return open(path, "rb").read().split(b"\n")[:-1]


def main():
    what, ours_path, theirs_path, categories_path, input_path = sys.argv[1:6]
    ours, theirs, inputs = read(ours_path), read(theirs_path), read(input_path)
    hf = read(sys.argv[6]) if len(sys.argv) > 6 else None
    quirk = sys.argv[7] if len(sys.argv) > 7 else None
    categories = open(categories_path).read().split("\n")[:-1]
    if not (len(ours) == len(theirs) == len(categories) == len(inputs)):
        print(f"{what}: line counts differ: pride {len(ours)}, reference {len(theirs)}, "
              f"categories {len(categories)}, input {len(inputs)}")
        sys.exit(1)
    passed, failed, explained = collections.Counter(), collections.Counter(), 0
    shown = 0
    for i, (a, b, category) in enumerate(zip(ours, theirs, categories)):
        if a == b:
            passed[category] += 1
            continue
        if hf is not None and a == hf[i] and QUIRKS[quirk](a, inputs[i]):
            explained += 1
            continue
        failed[category] += 1
        if shown < 5:
            shown += 1
            print(f"  MISMATCH {what} line {i + 1} ({category}): {inputs[i][:200]!r}")
            print(f"    pride:     {a[:300]!r}")
            print(f"    reference: {b[:300]!r}")
    for category in sorted(set(categories)):
        if failed[category]:
            print(f"  {what} {category}: {passed[category]} passed, {failed[category]} failed")
    note = f", {explained} explained by the JS {quirk} quirk (pride == HF there)" if hf else ""
    print(f"{what}: {sum(passed.values())} passed, {sum(failed.values())} failed{note}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
