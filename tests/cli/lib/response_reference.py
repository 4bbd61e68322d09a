#!/usr/bin/python3
"""Independent reference for `pride teach`'s response modes and `pride data pairs --from
dialogues` (shares no code with pride; docs/dpo.md).

  response_reference.py direct-prompts SAMPLES.jsonl PROMPTS_DIR
      each logged prompt is the built-in direct prompt: the context turns as "{speaker}: {text}"
      lines, then "Write {speaker}'s next reply: one or two empathetic sentences." and "{speaker}:"
  response_reference.py improve-prompts SAMPLES.jsonl PROMPTS_DIR
      each logged prompt shows the dialogue and quotes the response being improved
  response_reference.py texts PROMPTS_DIR OUT.json
      the logged prompts in sample order, as encode_label_texts.js reads them
  response_reference.py check-replies MODEL_DIR IDS.json N SAMPLES.jsonl OUT.jsonl MODE
      the teacher's replies: greedy from each prompt (the from-scratch forward of hf_reference.py),
      up to N tokens or the first stop id (the config's eos ids and the tokenizer's eos), decoded,
      its first line trimmed (the input's response when that is empty); "reference" is the gold
      response and, for MODE improve, "original" the input's response
  response_reference.py check-pairs DIALOGUES.jsonl PAIRS.h5 MODEL_DIR
      the context ids decode to the student's context ("{speaker}: {text}" lines then
      "{speaker}:"), chosen to " " + the response + eos, rejected to " " + "original" + eos
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "../../chat")]


def samples(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def dialogue_text(sample):
    return "".join(f"{t['speaker']}: {t['text']}\n" for t in sample["context"])


def logged(prompts_dir):
    rows = {}
    for path in glob.glob(os.path.join(prompts_dir, "prompts-*.jsonl")):
        for row in samples(path):
            rows[row["sample"]] = row["prompt"]
    return [rows[i] for i in sorted(rows)]


def direct_prompts(samples_path, prompts_dir):
    got = logged(prompts_dir)
    for index, (sample, prompt) in enumerate(zip(samples(samples_path), got)):
        speaker = sample["response"]["speaker"]
        want = (f"{dialogue_text(sample)}\nWrite {speaker}'s next reply: one or two empathetic "
                f"sentences.\n{speaker}:")
        if prompt != want:
            print(f"sample {index}: {prompt!r} != {want!r}")
            return False
    print(f"{len(got)} direct prompts as documented")
    return len(got) == len(samples(samples_path))


def improve_prompts(samples_path, prompts_dir):
    got = logged(prompts_dir)
    for index, (sample, prompt) in enumerate(zip(samples(samples_path), got)):
        speaker = sample["response"]["speaker"]
        quoted = f"{speaker} plans to reply: \"{sample['response']['text']}\""
        if not prompt.startswith(dialogue_text(sample) + "\n" + quoted) or \
                not prompt.endswith(f"\n{speaker}:"):
            print(f"sample {index}: {prompt!r} does not show the dialogue and {quoted!r}")
            return False
    print(f"{len(got)} improvement prompts show the dialogue and quote the reply")
    return len(got) == len(samples(samples_path))


def texts(prompts_dir, out):
    json.dump({"prompts": logged(prompts_dir), "labels": []}, open(out, "w"))


def check_replies(model_dir, ids_path, max_new, samples_path, out_path, mode):
    import torch
    from hf_reference import greedy, read_model
    from chat_reference import decoder
    torch.set_grad_enabled(False)
    c, w = read_model(model_dir)
    tokenizer = json.load(open(os.path.join(model_dir, "tokenizer.json")))
    eos_text = json.load(open(os.path.join(model_dir, "tokenizer_config.json")))["eos_token"]
    eos = c["eos_token_id"] if isinstance(c["eos_token_id"], list) else [c["eos_token_id"]]
    stops = set(eos) | {tokenizer["model"]["vocab"].get(eos_text, -1)} | \
        {t["id"] for t in tokenizer["added_tokens"] if t["content"] == eos_text}
    pieces = {i: token for token, i in tokenizer["model"]["vocab"].items()}
    from hf_reference import byte_characters
    bs, cs = byte_characters()
    to_byte = {chr(cc): b for b, cc in zip(bs, cs)}
    decode = lambda ids: b"".join(bytes(to_byte[ch] for ch in pieces[i]) for i in ids).decode(
        "utf-8", errors="replace")
    inputs, outputs = samples(samples_path), samples(out_path)
    prompts = json.load(open(ids_path))["prompts"]
    if not (len(inputs) == len(outputs) == len(prompts)):
        print("counts differ:", len(inputs), len(outputs), len(prompts))
        return False
    for index, (prompt, sample, written) in enumerate(zip(prompts, inputs, outputs)):
        new = greedy(c, w, prompt, int(max_new))
        cut = next((k for k, token in enumerate(new) if token in stops), len(new))
        text = decode(new[:cut]).split("\n")[0].strip(" \t")
        want = text or sample["response"]["text"]
        gold = sample.get("reference", sample["response"]["text"])
        fields_ok = written["reference"] == gold and (
            written.get("original") == sample["response"]["text"] if mode == "improve"
            else "original" not in written)
        if written["response"]["text"] != want or not fields_ok or written["id"] != sample["id"]:
            print(f"sample {index}: wrote {written!r}, expected reply {want!r}, reference {gold!r}")
            return False
    print(f"{len(outputs)} replies equal the reference generation; reference/original kept")
    return True


def check_pairs(dialogues_path, h5, model_dir):
    import h5py
    from chat_reference import decoder
    decode, _ = decoder(model_dir)
    eos = json.load(open(os.path.join(model_dir, "tokenizer_config.json")))["eos_token"]
    with h5py.File(h5, "r") as f:
        def rows(name):
            data, offsets = f[name][:], f[name + "_offsets"][:]
            return [data[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
        pairs = list(zip(rows("/pairs/prompt"), rows("/pairs/chosen"), rows("/pairs/rejected")))
    dialogues = samples(dialogues_path)
    for index, (sample, (prompt, chosen, rejected)) in enumerate(zip(dialogues, pairs)):
        speaker = sample["response"]["speaker"]
        want = [f"{dialogue_text(sample)}{speaker}:", " " + sample["response"]["text"] + eos,
                " " + sample["original"] + eos]
        got = [decode(prompt), decode(chosen), decode(rejected)]
        if got != want:
            print(f"pair {index}: {got!r} != {want!r}")
            return False
    print(f"{len(pairs)} pairs: the student's context, the improved and the original reply")
    return len(pairs) == len(dialogues)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "direct-prompts":
        sys.exit(not direct_prompts(*args))
    elif command == "improve-prompts":
        sys.exit(not improve_prompts(*args))
    elif command == "texts":
        texts(*args)
    elif command == "check-replies":
        sys.exit(not check_replies(*args))
    elif command == "check-pairs":
        sys.exit(not check_pairs(*args))
    else:
        sys.exit(__doc__)
