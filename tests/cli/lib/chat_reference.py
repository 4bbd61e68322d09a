#!/usr/bin/python3
"""Independent reference for chat-formatted prompts in `pride teach` and `pride generate --chat`
(shares no code with pride): Jinja2 configured as Hugging Face configures it
(tests/chat/jinja2_reference.py), the messages built as docs/chat-templates.md says, and token ids
decoded by hand from tokenizer.json.

  chat_reference.py fixture DIR CONFIG [--bos]
      turns the byte-level tokenizer of DIR (hf_reference.py make-tokenizer) into a chat model's:
      the chat special tokens as added tokens, CONFIG (a published tokenizer_config.json with its
      chat_template) as DIR/tokenizer_config.json; --bos: a TemplateProcessing post-processor
      that adds <|begin_of_text|>, as Llama 3's tokenizer does
  chat_reference.py render CONFIG CONVERSATIONS.jsonl OUT.jsonl
      each conversation rendered with the generation prompt, as {"prompt": TEXT} lines
  chat_reference.py student-prompts SAMPLES.jsonl OUT_DIR MESSAGES.jsonl IDS.jsonl
      per sample, the dialogue's messages (as the student's context renders them) and the
      context ids stored in OUT_DIR, as {"prompt_ids": [...]} lines
  chat_reference.py check-teach SAMPLES.jsonl PROMPTS_DIR OUT_DIR TEACHER STUDENT SYSTEM
      pride's prompt log and shards against the reference: the teacher's prompts are
      [system (when not empty), user: the default text prompt] in TEACHER's template, the
      student's context the dialogue's messages in STUDENT's template (user/assistant by speaker,
      same-role turns joined by a newline), its ids decode to that text with each special token
      one id, and the response is the text without the " " prefix, then the eos
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "../../chat")]
from hf_reference import byte_characters  # noqa: E402
from jinja2_reference import build_environment, chat_variables  # noqa: E402
from teach_reference import read_shards, texts  # noqa: E402

SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
ENV = None


def render(config, messages):
    global ENV
    ENV = ENV or build_environment()
    source, variables = chat_variables(
        {"tokenizer_config": config, "messages": messages, "add_generation_prompt": True})
    return ENV.from_string(source).render(**variables)


def fixture(directory, config, bos):
    path = os.path.join(directory, "tokenizer.json")
    tokenizer = json.load(open(path))
    next_id = max(tokenizer["model"]["vocab"].values()) + 1 + len(tokenizer["added_tokens"])
    for i, content in enumerate(SPECIALS):
        tokenizer["added_tokens"].append({
            "id": next_id + i, "content": content, "special": True, "single_word": False,
            "lstrip": False, "rstrip": False, "normalized": False})
    if bos:
        bos_id = next_id + SPECIALS.index("<|begin_of_text|>")
        tokenizer["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<|begin_of_text|>": {
                "id": "<|begin_of_text|>", "ids": [bos_id], "tokens": ["<|begin_of_text|>"]}}}
    json.dump(tokenizer, open(path, "w"))
    with open(config) as f, open(os.path.join(directory, "tokenizer_config.json"), "w") as out:
        out.write(f.read())


def decoder(directory):
    """ids -> text for a byte-level BPE tokenizer.json (GPT-2's byte-to-unicode table)."""
    tokenizer = json.load(open(os.path.join(directory, "tokenizer.json")))
    bs, cs = byte_characters()
    to_byte = {chr(c): b for b, c in zip(bs, cs)}
    pieces = {i: bytes(to_byte[ch] for ch in token) for token, i in tokenizer["model"]["vocab"].items()}
    specials = {t["id"]: t["content"].encode() for t in tokenizer["added_tokens"]}
    return (lambda ids: b"".join(specials.get(i, pieces.get(i)) for i in ids).decode()), \
        {t["content"]: t["id"] for t in tokenizer["added_tokens"]}


def dialogue_messages(sample):
    messages = []
    for turn in sample["context"]:
        role = "assistant" if turn["speaker"] == sample["response"]["speaker"] else "user"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + turn["text"]
        else:
            messages.append({"role": role, "content": turn["text"]})
    return messages


def check_teach(samples_path, prompts_dir, out_dir, teacher, student, system):
    samples = [json.loads(line) for line in open(samples_path)]
    logged = {}
    for name in os.listdir(prompts_dir):
        for line in open(os.path.join(prompts_dir, name)):
            entry = json.loads(line)
            logged[entry["sample"]] = entry
    decode, special_ids = decoder(teacher)
    rows = read_shards(out_dir)
    assert len(rows) == len(samples) == len(logged), (len(rows), len(samples), len(logged))
    for i, (s, row) in enumerate(zip(samples, rows)):
        def expect(what, got, want):
            if got != want:
                sys.exit(f"sample {i} ({s['id']}): {what}\n  pride:     {got!r}\n  reference: {want!r}")
        plain = texts([s])[0]  # the default text prompts, the user's message
        request = lambda user: ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": user}]
        teacher_config = os.path.join(teacher, "tokenizer_config.json")
        expect("reasoning prompt", logged[i]["reasoning_prompt"],
               render(teacher_config, request(plain["reasoning_prompt"])))
        expect("scoring prompt", logged[i]["score_prompt"],
               render(teacher_config, request(plain["context"])))
        context = render(os.path.join(student, "tokenizer_config.json"), dialogue_messages(s))
        expect("student context", logged[i]["context"], context)
        expect("stored context ids, decoded", decode(row["context"]), context)
        for token in SPECIALS:  # each special token of the text is its one id
            expect(f"ids of {token}", row["context"].count(special_ids[token]), context.count(token))
        expect("response", decode(row["response"][:-1]), s["response"]["text"])
        expect("response eos", row["response"][-1], row["eos"])
    print(f"{len(samples)} samples: teacher prompts, student context and its ids equal the reference")


def main(argv):
    if argv[1] == "fixture":
        fixture(argv[2], argv[3], "--bos" in argv[4:])
    elif argv[1] == "render":
        with open(argv[4], "w") as out:
            for line in open(argv[3]):
                if line.strip():
                    conversation = json.loads(line)
                    messages = conversation["messages"] if isinstance(conversation, dict) else conversation
                    out.write(json.dumps({"prompt": render(argv[2], messages)}) + "\n")
    elif argv[1] == "student-prompts":
        with open(argv[4], "w") as messages, open(argv[5], "w") as ids:
            for sample, row in zip(map(json.loads, open(argv[2])), read_shards(argv[3])):
                messages.write(json.dumps(dialogue_messages(sample)) + "\n")
                ids.write(json.dumps({"prompt_ids": row["context"]}) + "\n")
    elif argv[1] == "check-teach":
        check_teach(*argv[2:8])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
