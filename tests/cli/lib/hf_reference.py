#!/usr/bin/python3
"""Independent reference for pride's Hugging Face causal LMs (shares no code with pride).

Writes tiny random models in the Hugging Face layout (config.json, model.safetensors or shards
with model.safetensors.index.json; the safetensors format by hand: an 8-byte little-endian header
length, a JSON header, the raw little-endian data), and runs a from-scratch forward written from
the transformers definitions of LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and
Qwen3ForCausalLM (RMSNorm in fp32, rotate_half RoPE with optional llama3 scaling, GQA, Qwen2 q/k/v
biases, Qwen3 per-head q/k RMSNorm, Mistral's sliding window: key j visible from query i when
i - window < j <= i).

  hf_reference.py make DIR ARCH [--tied] [--dtype F32|F16|BF16] [--shards N] [--seed S] [--width W]
                               [--layers L] [--vocab V]
  hf_reference.py make-tokenizer DIR [--merges "a b,ab c"] [--special-config]
                                                            a byte-level BPE tokenizer.json
  hf_reference.py logits DIR PROMPTS.jsonl OUT.jsonl       each prompt alone, unpadded
  hf_reference.py compare A.jsonl B.jsonl TOL               max |logit difference| <= TOL
  hf_reference.py greedy DIR PROMPTS.jsonl N OUT.jsonl      greedy, full prefix each step
  hf_reference.py reference DIR PROMPTS.jsonl N LOGITS.jsonl GREEDY.jsonl
                                                            logits, then greedy, in one process

make-tokenizer and compare are plain Python: importing torch costs 2-3 s of CPU per process, which
the end-to-end tests pay once per command otherwise.
"""
import json
import math
import struct
import sys
import time

if __name__ == "__main__":
    torch = None  # main() imports it for the commands that need it
else:
    import torch  # imported as a module (teach_reference.py): the caller wants the forward

ST_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, tensor in tensors.items():
        data = tensor.to(getattr(torch, ST_DTYPES[dtype])).contiguous()
        raw = data.view(torch.int16 if data.element_size() == 2 else torch.int32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(data.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for raw in blobs:
            out.write(raw)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = bytearray(blob[8 + length + begin:8 + length + end])
        dtype = getattr(torch, ST_DTYPES[info["dtype"]])
        carrier = torch.int16 if dtype != torch.float32 else torch.int32
        flat = torch.frombuffer(raw, dtype=carrier).view(dtype) if raw else torch.zeros(0, dtype=dtype)
        out[name] = flat.reshape(info["shape"]).float()
    return out


def read_model(directory):
    with open(f"{directory}/config.json") as f:
        config = json.load(f)
    try:
        with open(f"{directory}/model.safetensors.index.json") as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    except FileNotFoundError:
        files = ["model.safetensors"]
    weights = {}
    for name in files:
        weights.update(read_safetensors(f"{directory}/{name}"))
    return config, weights


# --- the model, from the transformers definitions ------------------------------------------------

def head_dim_of(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def rms_norm(x, weight, eps):
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def inverse_frequencies(c):
    dim, base = head_dim_of(c), c.get("rope_theta", 10000.0)
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaling = c.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type")) != "llama3":
        return inv_freq
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_context / low, old_context / high
    wavelen = 2 * math.pi / inv_freq
    llama = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * llama / factor + smooth * llama
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, llama)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(c, w, ids):
    """Logits [T, V] of one unpadded sequence."""
    head = w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else w["lm_head.weight"]
    return hidden_states(c, w, ids) @ head.T


def hidden_states(c, w, ids):
    """Final hidden states [T, H] (after the last norm) of one unpadded sequence."""
    t, heads, kv_heads, hd = len(ids), c["num_attention_heads"], c["num_key_value_heads"], head_dim_of(c)
    eps = c["rms_norm_eps"]
    kind = c["model_type"]
    qkv_bias = kind == "qwen2" or (kind in ("llama", "qwen3") and c.get("attention_bias", False))
    o_bias = kind in ("llama", "qwen3") and c.get("attention_bias", False)
    freqs = torch.arange(t).float()[:, None] * inverse_frequencies(c)[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    visible = j <= i
    if kind == "mistral" and c.get("sliding_window"):
        visible &= i - j < c["sliding_window"]
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        proj = {}
        for name in "qkv":
            y = h @ w[p + f"self_attn.{name}_proj.weight"].T
            if qkv_bias:
                y = y + w[p + f"self_attn.{name}_proj.bias"]
            proj[name] = y.view(t, -1, hd)
        q, k, v = proj["q"], proj["k"], proj["v"]
        if kind == "qwen3":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(heads // kv_heads, dim=0)
        v = v.repeat_interleave(heads // kv_heads, dim=0)
        scores = (q @ k.transpose(1, 2)) / math.sqrt(hd)
        scores = scores.masked_fill(~visible, float("-inf"))
        attn = (scores.softmax(-1) @ v).transpose(0, 1).reshape(t, heads * hd)
        out = attn @ w[p + "self_attn.o_proj.weight"].T
        if o_bias:
            out = out + w[p + "self_attn.o_proj.bias"]
        x = x + out
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    return rms_norm(x, w["model.norm.weight"], eps)


# --- tiny random models --------------------------------------------------------------------------

def make(directory, arch, tied=False, dtype="F32", shards=1, seed=0, width=64, layers=2, vocab=101):
    import os
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(seed)
    heads, kv_heads = 4, 2
    c = {"model_type": arch, "architectures": [arch.capitalize() + "ForCausalLM"],
         "vocab_size": vocab, "hidden_size": width, "intermediate_size": width * 3 // 2,
         "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
         "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
         "tie_word_embeddings": tied, "max_position_embeddings": 256, "bos_token_id": 1,
         "eos_token_id": 2, "torch_dtype": ST_DTYPES[dtype]}
    if arch == "llama":
        c.update(rope_theta=500000.0, eos_token_id=[2, 3], attention_bias=tied,
                 rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    if arch == "mistral":
        c.update(sliding_window=5)
    if arch == "qwen2":
        c.update(use_sliding_window=False, sliding_window=None)
    if arch == "qwen3":
        c.update(head_dim=24, num_key_value_heads=1, attention_bias=False)
    hd, kv = head_dim_of(c), c["num_key_value_heads"]
    std = 0.3 / math.sqrt(width)  # large enough that logits are far from ties
    w = {"model.embed_tokens.weight": torch.randn(vocab, width)}
    for layer in range(layers):
        p = f"model.layers.{layer}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(width)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(width)
        for name, rows in (("q", heads * hd), ("k", kv * hd), ("v", kv * hd)):
            w[p + f"self_attn.{name}_proj.weight"] = torch.randn(rows, width) * std * 3
            if arch == "qwen2" or c.get("attention_bias"):
                w[p + f"self_attn.{name}_proj.bias"] = 0.1 * torch.randn(rows)
        w[p + "self_attn.o_proj.weight"] = torch.randn(width, heads * hd) * std
        if c.get("attention_bias"):
            w[p + "self_attn.o_proj.bias"] = 0.1 * torch.randn(width)
        if arch == "qwen3":
            w[p + "self_attn.q_norm.weight"] = 1 + 0.1 * torch.randn(hd)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.1 * torch.randn(hd)
        ff = c["intermediate_size"]
        w[p + "mlp.gate_proj.weight"] = torch.randn(ff, width) * std * 3
        w[p + "mlp.up_proj.weight"] = torch.randn(ff, width) * std * 3
        w[p + "mlp.down_proj.weight"] = torch.randn(width, ff) * std
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(width)
    if not tied:
        w["lm_head.weight"] = torch.randn(vocab, width) * 0.5
    with open(f"{directory}/config.json", "w") as f:
        json.dump(c, f, indent=2)
    names = list(w)
    if shards == 1:
        write_safetensors(f"{directory}/model.safetensors", w, dtype)
        return
    weight_map = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: w[n] for n in names[s::shards]}
        write_safetensors(f"{directory}/{file}", part, dtype)
        weight_map.update({n: file for n in part})
    with open(f"{directory}/model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)


def byte_characters():
    """GPT-2's byte-level table: the character standing for each byte, in token id order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, cs


def make_tokenizer(directory, merges=("h e", "he l"), special_config=False):
    """A byte-level BPE tokenizer.json: 256 byte tokens, `merges` (ids 256...) and <eos> after
    them; with special_config, a tokenizer_config.json naming <eos> as eos and pad token."""
    import os
    os.makedirs(directory, exist_ok=True)
    _, cs = byte_characters()
    vocab = {chr(c): i for i, c in enumerate(cs)}
    for merge in merges:
        vocab[merge.replace(" ", "")] = len(vocab)
    eos = len(vocab)
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0", "normalizer": None, "post_processor": None,
        "added_tokens": [{"id": eos, "content": "<eos>", "special": True, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False}],
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "decoder": {"type": "ByteLevel", **byte_level, "add_prefix_space": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab, "merges": list(merges)}}
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f)
    if special_config:
        with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
            json.dump({"eos_token": "<eos>", "pad_token": "<eos>"}, f)


def read_prompts(path):
    with open(path) as f:
        return [json.loads(line)["prompt_ids"] for line in f if line.strip()]


def greedy(c, w, prompt, max_new):
    eos = c.get("eos_token_id")
    stops = set(eos if isinstance(eos, list) else [eos])
    ids, new = list(prompt), []
    for _ in range(max_new):
        token = int(forward(c, w, ids)[-1].argmax())
        new.append(token)
        ids.append(token)
        if token in stops:
            break
    return new


def write_logits(directory, prompts_path, out_path):
    c, w = read_model(directory)
    with open(out_path, "w") as out:
        for index, prompt in enumerate(read_prompts(prompts_path)):
            out.write(json.dumps({"index": index, "logits": forward(c, w, prompt).tolist()}) + "\n")


def write_greedy(directory, prompts_path, max_new, out_path):
    c, w = read_model(directory)
    prompts = read_prompts(prompts_path)
    begin, generated = time.perf_counter(), 0
    with open(out_path, "w") as out:
        for index, prompt in enumerate(prompts):
            ids = greedy(c, w, prompt, max_new)
            generated += len(ids)
            out.write(json.dumps({"index": index, "ids": ids}) + "\n")
    seconds = time.perf_counter() - begin
    print(json.dumps({"impl": "python-reference", "generated_tokens": generated, "seconds": seconds,
                      "tokens_per_s": generated / seconds, "threads": torch.get_num_threads()}),
          file=sys.stderr)


def compare(a_path, b_path, tolerance):
    with open(a_path) as a, open(b_path) as b:
        rows_a = [json.loads(line) for line in a]
        rows_b = [json.loads(line) for line in b]
    if len(rows_a) != len(rows_b):
        sys.exit(f"compare: {len(rows_a)} rows against {len(rows_b)}")
    worst = 0.0
    for x, y in zip(rows_a, rows_b):
        flat_a, flat_b = flatten(x["logits"]), flatten(y["logits"])
        if shape_of(x["logits"]) != shape_of(y["logits"]):
            sys.exit(f"compare: row {x['index']}: shapes {shape_of(x['logits'])} and "
                     f"{shape_of(y['logits'])}")
        worst = max([worst] + [abs(p - q) for p, q in zip(flat_a, flat_b)])
    print(f"max |logit difference| {worst:.3g} over {len(rows_a)} prompts")
    sys.exit(0 if worst <= tolerance else 1)


def shape_of(nested):
    return [len(nested)] + shape_of(nested[0]) if isinstance(nested, list) and nested else \
        ([0] if isinstance(nested, list) else [])


def flatten(nested):
    return [v for item in nested for v in flatten(item)] if isinstance(nested, list) else [nested]


def main(argv):
    command = argv[1]
    if command == "make-tokenizer":
        flags = argv[3:]
        merges = flags[flags.index("--merges") + 1].split(",") if "--merges" in flags else ["h e", "he l"]
        make_tokenizer(argv[2], merges, "--special-config" in flags)
        return
    if command == "compare":
        compare(argv[2], argv[3], float(argv[4]))
        return
    global torch
    import torch
    torch.set_grad_enabled(False)
    if command == "make":
        args, flags = argv[2:4], argv[4:]
        options = {"tied": "--tied" in flags}
        for key, cast in (("--dtype", str), ("--shards", int), ("--seed", int), ("--width", int),
                          ("--layers", int), ("--vocab", int)):
            if key in flags:
                options[key[2:]] = cast(flags[flags.index(key) + 1])
        make(*args, **options)
    elif command == "logits":
        write_logits(argv[2], argv[3], argv[4])
    elif command == "greedy":
        write_greedy(argv[2], argv[3], int(argv[4]), argv[5])
    elif command == "reference":
        write_logits(argv[2], argv[3], argv[5])
        write_greedy(argv[2], argv[3], int(argv[4]), argv[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
