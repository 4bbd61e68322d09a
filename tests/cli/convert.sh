# `pride data convert` end to end on the fixtures in the published formats (tests/data/dialogue/):
# each data set to JSONL, read back with Python's json module and checked sample by sample; MELD
# with an HDF5 feature file written by h5py; bad input exits 2 naming the file and line or record
# and leaves no output behind.
source "$(dirname "$0")/lib/common.sh"
DATA="$REPO/tests/data/dialogue"
PY=/usr/bin/python3

convert() {  # convert FROM IN OUT [extra args...]: runs the converter, keeps its summary
  local from=$1 in=$2 out=$3
  shift 3
  "$PRIDE" data convert --from "$from" --in "$in" --out "$out" "$@" >"$WORK/summary"
  cat "$WORK/summary"
}

# Checks a JSONL file with Python: every line an object with exactly the format's keys, ids
# unique, and the assertions given as Python on `s` (the list of samples, in file order).
check_jsonl() {  # check_jsonl FILE PYTHON-ASSERTIONS
  $PY - "$1" "$2" <<'PYEOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
assert lines[-1] == "", "the file must end with a newline"
s = [json.loads(line) for line in lines[:-1]]
allowed = {"id", "label_set", "emotion", "context", "response", "privileged", "audio", "visual"}
for x in s:
    assert set(x) <= allowed and {"id", "label_set", "emotion", "context", "response"} <= set(x), x
    assert all(set(t) == {"speaker", "text"} for t in x["context"] + [x["response"]]), x
assert len({x["id"] for x in s}) == len(s), "duplicate ids"
by_id = {x["id"]: x for x in s}
exec(sys.argv[2])
PYEOF
}

# --- EmpatheticDialogues --------------------------------------------------------------------------
convert empathetic-dialogues "$DATA/empathetic_dialogues.csv" "$WORK/ed.jsonl"
check "ED summary" grep -q "wrote 5 samples from 3 dialogues" "$WORK/summary"
check "ED samples: listener turns, context, _comma_, overflow fields, situation" check_jsonl "$WORK/ed.jsonl" '
assert [x["id"] for x in s] == ["hit:0_conv:1_utt2", "hit:0_conv:1_utt4", "hit:1_conv:2_utt2",
                                "hit:1_conv:2_utt4", "hit:2_conv:3_utt2"]
assert all(x["label_set"] == "empathetic-dialogues-32" and x["response"]["speaker"] == "listener" for x in s)
x = by_id["hit:0_conv:1_utt4"]
assert x["emotion"] == "sentimental" and len(x["context"]) == 3
assert [t["speaker"] for t in x["context"]] == ["speaker", "listener", "speaker"]
assert x["context"][1]["text"] == "Was this a friend you were in love with, or just a best friend?"
assert x["privileged"]["situation"].startswith("I remember going to the fireworks with my best friend. There was a lot of people, but")
assert by_id["hit:1_conv:2_utt2"]["response"]["text"] == "Oh no, that sounds terrifying, what did you do?"
assert by_id["hit:1_conv:2_utt4"]["response"]["text"] == f"I{chr(39)}m glad you{chr(39)}re safe \U0001F60A"
assert by_id["hit:1_conv:2_utt4"]["context"][2]["text"] == "I ran to my car \u2014 na\u00efve maybe, but I was scared."
assert by_id["hit:2_conv:3_utt2"]["privileged"] == {"situation": "My daughter finished her first marathon, in under 4 hours"}
'

# --- MELD, with a feature file keyed by dia<D>_utt<U> ---------------------------------------------
$PY - "$WORK/meld_features.h5" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    for u in range(5):
        f[f"features/dia0_utt{u}/audio"] = np.full((u + 1, 4), u, dtype=np.float32)
        f[f"features/dia0_utt{u}/visual"] = np.full((2, 3), -u, dtype=np.float32)
    f["features/dia1_utt1/audio"] = np.arange(8, dtype=np.float32).reshape(2, 4)
PYEOF
mkdir "$WORK/out"
convert meld "$DATA/meld.csv" "$WORK/out/meld.jsonl" --features "$WORK/meld_features.h5"
check "MELD summary" grep -q "wrote 10 samples from 3 dialogues .*(samples without features: 4)" "$WORK/summary"
check "MELD samples: history, future summary, quoting, encodings, feature references" check_jsonl "$WORK/out/meld.jsonl" '
assert [x["id"] for x in s][:5] == [f"dia0_utt{u}" for u in range(5)]
assert all(x["label_set"] == "meld-7" for x in s)
assert [len(x["context"]) for x in s] == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1]
assert by_id["dia0_utt0"]["response"] == {"speaker": "Chandler", "text": "also I was the point person on my company\u2019s transition from the KL-5 to GR-6 system."}
assert by_id["dia0_utt3"]["response"]["text"] == "So let\u2019s talk a little bit about your duties."
assert by_id["dia0_utt2"]["privileged"]["future_summary"] == "The Interviewer: So let\u2019s talk a little bit about your duties.\nChandler: My duties?  All right."
assert "future_summary" not in by_id["dia0_utt4"]["privileged"]
assert by_id["dia1_utt0"]["response"]["text"] == "He said, \"Pivot!\"\nAnd then, it fell."
assert by_id["dia1_utt1"]["response"]["text"] == "Oh my God\u2026 he\u2019s lost it \u2014 totally."
assert by_id["dia2_utt0"]["response"]["text"] == "Let\u2019s go to the caf\u00e9."
assert by_id["dia0_utt4"]["emotion"] == "surprise" and by_id["dia2_utt1"]["emotion"] == "disgust"
assert by_id["dia0_utt1"]["audio"] == {"file": "../meld_features.h5"} == by_id["dia0_utt1"]["visual"]
assert "visual" not in by_id["dia1_utt1"] and by_id["dia1_utt1"]["audio"]["file"] == "../meld_features.h5"
assert not any(k in by_id[i] for i in ("dia1_utt0", "dia2_utt0", "dia2_utt1") for k in ("audio", "visual"))
'
# The referenced datasets are where the format says: /features/<id>/<modality>, relative to the JSONL.
check "MELD references resolve to the feature arrays" $PY - "$WORK/out/meld.jsonl" <<'PYEOF'
import json, os, sys, h5py
base = os.path.dirname(sys.argv[1])
for line in open(sys.argv[1]):
    x = json.loads(line)
    for m in ("audio", "visual"):
        if m in x:
            with h5py.File(os.path.join(base, x[m]["file"]), "r") as f:
                a = f[f"features/{x['id']}/{m}"][()]
            assert a.ndim == 2 and (m != "audio" or x["id"] != "dia0_utt3" or a.shape == (4, 4))
PYEOF

# --- ESConv -----------------------------------------------------------------------------------
convert esconv "$DATA/esconv.json" "$WORK/esconv.jsonl"
check "ESConv summary" grep -q "wrote 5 samples from 2 dialogues .*(empty turns skipped: 1)" "$WORK/summary"
check "ESConv samples: supporter turns, situation, problem, strategy" check_jsonl "$WORK/esconv.jsonl" '
assert [x["id"] for x in s] == ["conv0_turn0", "conv0_turn3", "conv0_turn5", "conv1_turn1", "conv1_turn3"]
assert all(x["label_set"] == "esconv-11" and x["response"]["speaker"] == "supporter" for x in s)
x = by_id["conv0_turn3"]
assert x["emotion"] == "anxiety"
assert x["privileged"] == {"problem": "job crisis", "situation": "I hope to find a new job, but the market is slow.", "strategy": "Reflection of feelings"}
assert [t["speaker"] for t in x["context"]] == ["supporter", "seeker", "seeker"]
assert x["context"][2]["text"] == "I can\u2019t sleep. \U0001F61F"
assert by_id["conv1_turn3"]["emotion"] == "sadness" and by_id["conv1_turn3"]["privileged"]["strategy"] == "Self-disclosure"
'

# --- bad input: exit 2, the file and line (or record) named, no output left -------------------
expect_error() {  # expect_error "what" "message part" pride-args...
  local what=$1 part=$2
  shift 2
  local code=0
  "$PRIDE" "$@" >/dev/null 2>"$WORK/err" || code=$?
  check "$what: exit 2 ($(head -c 160 "$WORK/err"))" test "$code" = 2
  check "$what: message names '$part'" grep -qF -- "$part" "$WORK/err"
}
sed 's/,afraid,/,scared,/' "$DATA/empathetic_dialogues.csv" >"$WORK/bad_ed.csv"
expect_error "ED emotion outside the 32" "bad_ed.csv:7: context: emotion 'scared'" \
  data convert --from empathetic-dialogues --in "$WORK/bad_ed.csv" --out "$WORK/bad.jsonl"
check "no output after an error" test ! -e "$WORK/bad.jsonl" -a ! -e "$WORK/bad.jsonl.partial"
sed 's/,anger,negative,/,rage,negative,/' "$DATA/meld.csv" >"$WORK/bad_meld.csv"
expect_error "MELD emotion outside the 7, on a multi-line record" "bad_meld.csv:7: Emotion 'rage'" \
  data convert --from meld --in "$WORK/bad_meld.csv" --out "$WORK/bad.jsonl"
sed 's/"sadness"/"sorrow"/' "$DATA/esconv.json" >"$WORK/bad_esconv.json"
expect_error "ESConv emotion outside the 11" "bad_esconv.json: [1].emotion_type: 'sorrow'" \
  data convert --from esconv --in "$WORK/bad_esconv.json" --out "$WORK/bad.jsonl"
expect_error "unknown data set" "--from: unknown data set 'dailydialog'" \
  data convert --from dailydialog --in "$DATA/meld.csv" --out "$WORK/bad.jsonl"
expect_error "features for a data set without them" "--features: only MELD" \
  data convert --from esconv --in "$DATA/esconv.json" --out "$WORK/bad.jsonl" --features "$WORK/meld_features.h5"
expect_error "missing input" "absent.csv: cannot open" \
  data convert --from meld --in "$WORK/absent.csv" --out "$WORK/bad.jsonl"
