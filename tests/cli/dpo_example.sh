#!/usr/bin/env bash
# scripts/dpo_example.sh runs as documented (docs/dpo.md): every step on 2 ranks, from the
# teacher's improved replies through SFT and DPO to the judge's win rate of DPO against SFT.
source "$(dirname "$0")/lib/common.sh"
OUT="$WORK/example" PRIDE_BIN="$PRIDE" bash "$REPO/scripts/dpo_example.sh" 2 >"$WORK/log" 2>&1 ||
  { cat "$WORK/log"; exit 1; }
check "the teacher's replies were improved, keeping the gold and the direct reply" /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(not (len(rows) == 5 and all(r["reference"] and r["original"] for r in rows)))' \
  "$WORK/example/improve/responses.jsonl"
check "SFT then DPO from the SFT student, with TRL's metric names" /usr/bin/python3 -c '
import json, sys
sft = [json.loads(l) for l in open(sys.argv[1])]
dpo = [json.loads(l) for l in open(sys.argv[2])]
first = dpo[0]
sys.exit(not ("ce" in sft[0] and abs(first["loss"] - 0.693147) < 1e-5
              and "rewards/accuracies" in dpo[-2] and "eval_rewards/margins" in dpo[-1]))' \
  "$WORK/example/sft/metrics.jsonl" "$WORK/example/dpo/metrics.jsonl"
check "the judge compared the DPO student's 5 replies with the SFT student's" /usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
rates = m["win"]["rate"] + m["tie"]["rate"] + m["loss"]["rate"]
sys.exit(not (m["pairs"] == 5 and abs(rates - 1) < 1e-9))' "$WORK/example/judge/metrics.json"
