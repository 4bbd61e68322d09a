#!/usr/bin/env bash
# scripts/hef_example.sh runs as documented (docs/hef.md): every step, on 2 ranks, ends in a report
# with the emotion metrics of the plug-in, the teacher and the teacher with the plug-in.
source "$(dirname "$0")/lib/common.sh"
OUT="$WORK/example" PRIDE_BIN="$PRIDE" bash "$REPO/scripts/hef_example.sh" 2 >"$WORK/log" 2>&1 ||
  { cat "$WORK/log"; exit 1; }
check "the example wrote its report" /usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
ok = m["samples"] == 5 and all(0 <= m["emotion"][k]["accuracy"] <= 1
                                for k in ("plugin", "teacher", "teacher_with_plugin"))
sys.exit(not (ok and "rouge_l" in m["generation"]["response"]))' "$WORK/example/report/metrics.json"
check "the new student trained on the plug-in's cause words" \
  grep -q "emotion_cause" "$WORK/log"
