#!/usr/bin/python3
"""The table and comparisons of an ablation (scripts/bench/ablations.sh, hef_ablation.sh): the PI-free
eval metrics of each run's last evaluation as mean ± standard deviation over seeds, then for each
"A:B" pair whether A beats B on eval RKL (lower) and emotion accuracy (higher): it does when the
means differ in its favour by more than the two standard deviations added together.

    ablation_table.py WORK "V1 V2 ..." "A:B A:C ..." SEED...      (runs are WORK/<variant>-<seed>)
"""
import json
import statistics
import sys

KEYS = ["eval_ce", "eval_rkl", "eval_emotion_acc"]


def main(work, variants, pairs, seeds):
    stats = {}
    width = max(len(v) for v in variants) + 1
    print(f"{'variant':{width}} {'eval_ce':>16} {'eval_rkl':>16} {'eval_emotion_acc':>18}   "
          f"({len(seeds)} seeds)")
    for variant in variants:
        finals = [[json.loads(line) for line in open(f"{work}/{variant}-{seed}/metrics.jsonl")
                   if "eval_ce" in line][-1] for seed in seeds]
        for key in KEYS:
            values = [final[key] for final in finals]
            stats[variant, key] = (statistics.mean(values),
                                   statistics.stdev(values) if len(values) > 1 else 0.0)
        cells = [f"{stats[variant, k][0]:.4f} ± {stats[variant, k][1]:.4f}" for k in KEYS]
        print(f"{variant:{width}} {cells[0]:>16} {cells[1]:>16} {cells[2]:>18}")
    print()
    for pair in pairs:
        a, b = pair.split(":")
        verdicts = []
        for key, sign in [("eval_rkl", -1), ("eval_emotion_acc", 1)]:
            (mean_a, std_a), (mean_b, std_b) = stats[a, key], stats[b, key]
            margin, spread = sign * (mean_a - mean_b), std_a + std_b
            verdicts.append(f"{key} margin {margin:+.4f} vs spread {spread:.4f}"
                            f" ({'beats' if margin > spread else 'does not beat'})")
        print(f"{a} vs {b}: " + "; ".join(verdicts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4:])
