#!/usr/bin/python3
"""Independent reference for pride's preference data and DPO step (shares no code with pride).

  dpo_reference.py check-pairs PAIRS.jsonl PAIRS.h5 MODEL_DIR
      the stored ids decode to what TRL's DPOTrainer tokenizes: a plain prompt as it is, a plain
      response then the tokenizer's eos_token; chat messages rendered by Jinja2 as Hugging Face configures it, the
      prompt with the generation prompt, each response as the whole conversation's text after
      the prompt's; every special token one id
  dpo_reference.py check-step POLICY_DIR REFERENCE_DIR PAIRS.h5 METRICS.jsonl BETA LOSS EPS TOL
      step 1 of `pride train` (train.objective dpo, the global batch = every pair of PAIRS.h5, a
      policy initialised from POLICY_DIR whose only trainable part is the language model):
      the reference log-probabilities stored in PAIRS.h5 equal REFERENCE_DIR's forward; the loss,
      rewards, log-probabilities and gradient norm equal the DPO formula (Rafailov et al. 2023;
      TRL's sigmoid with label smoothing EPS, IPO on per-token mean log-probabilities, hinge)
      computed with autograd over the from-scratch HF forward (hf_reference.py), within TOL
      (relative for log-probabilities and the gradient norm; the rewards, beta times differences
      of log-probabilities, relative to beta times those log-probabilities: pride subtracts them
      in float32, whose spacing at |log p| ~ 350 is 3e-5)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "../../chat")]


def read_pairs(path):
    import h5py
    with h5py.File(path, "r") as f:
        def rows(name):
            data, offsets = f[name][:], f[name + "_offsets"][:]
            return [data[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
        pairs = list(zip(rows("/pairs/prompt"), rows("/pairs/chosen"), rows("/pairs/rejected")))
        reference = None
        if "/reference/chosen_logps" in f:
            reference = list(zip(f["/reference/chosen_logps"][:].tolist(),
                                 f["/reference/rejected_logps"][:].tolist()))
        return pairs, reference


def render(config, messages, generation_prompt):
    from jinja2_reference import build_environment, chat_variables
    source, variables = chat_variables({"tokenizer_config": config, "messages": messages,
                                        "add_generation_prompt": generation_prompt})
    return build_environment().from_string(source).render(**variables)


def check_pairs(jsonl, h5, model_dir):
    from chat_reference import decoder
    decode, specials = decoder(model_dir)
    config = os.path.join(model_dir, "tokenizer_config.json")
    eos = json.load(open(config))["eos_token"]
    eos = eos["content"] if isinstance(eos, dict) else eos
    pairs, _ = read_pairs(h5)
    rows = [json.loads(line) for line in open(jsonl) if line.strip()]
    assert len(rows) == len(pairs), (len(rows), len(pairs))
    chat_rows = 0
    for index, (row, ids) in enumerate(zip(rows, pairs)):
        if isinstance(row["prompt"], str):
            expected = [row["prompt"], row["chosen"] + eos, row["rejected"] + eos]
        else:
            chat_rows += 1
            prompt = render(config, row["prompt"], True)
            expected = [prompt] + [render(config, row["prompt"] + row[key], False)[len(prompt):]
                                   for key in ("chosen", "rejected")]
        for text, part in zip(expected, ids):
            if decode(part) != text:
                print(f"pair {index}: {decode(part)!r} != {text!r}")
                return False
            for special, special_id in specials.items():
                if text.count(special) != part.count(special_id):
                    print(f"pair {index}: {special} is not one id in {part}")
                    return False
    print(f"{len(pairs)} pairs ({chat_rows} chat) decode to the reference texts")
    return True


def sequence_logp(c, w, prompt, response):
    import torch
    logits = forward(c, w, prompt + response)
    logps = torch.log_softmax(logits.float(), -1)
    start = len(prompt) - 1
    return sum(logps[start + j, token] for j, token in enumerate(response))


def dpo_losses(pc, pr, rc, rr, beta, loss, eps):
    import torch
    import torch.nn.functional as F
    h = (pc - pr) - (rc - rr)
    if loss == "sigmoid":
        return -F.logsigmoid(beta * h) * (1 - eps) - F.logsigmoid(-beta * h) * eps
    if loss == "ipo":
        return (h - 1 / (2 * beta)) ** 2
    return torch.relu(1 - beta * h)


def check_step(policy_dir, reference_dir, h5, metrics, beta, loss, eps, tol):
    import torch
    beta, eps, tol = float(beta), float(eps), float(tol)
    pairs, stored = read_pairs(h5)
    c, w = read_model(policy_dir)
    for tensor in w.values():
        tensor.requires_grad_(True)
    rc_, rw = read_model(reference_dir)
    with torch.no_grad():
        reference = [(float(sequence_logp(rc_, rw, p, a)), float(sequence_logp(rc_, rw, p, b)))
                     for p, a, b in pairs]
    worst = max(abs(x - y) / max(1.0, abs(y)) for got, want in zip(stored, reference)
                for x, y in zip(got, want))
    print(f"stored reference log-probabilities: worst relative difference {worst:.2e}")
    ok = worst <= tol
    policy = [(sequence_logp(c, w, p, a), sequence_logp(c, w, p, b)) for p, a, b in pairs]
    pc = torch.stack([a for a, _ in policy])
    pr = torch.stack([b for _, b in policy])
    rc = torch.tensor([a for a, _ in reference])
    rr = torch.tensor([b for _, b in reference])
    if loss == "ipo":
        lengths_c = torch.tensor([float(len(a)) for _, a, _ in pairs])
        lengths_r = torch.tensor([float(len(b)) for _, _, b in pairs])
        pc, pr, rc, rr = pc / lengths_c, pr / lengths_r, rc / lengths_c, rr / lengths_r
    losses = dpo_losses(pc, pr, rc, rr, beta, loss, eps)
    objective = losses.mean()
    objective.backward()
    grad_norm = float(torch.sqrt(sum((t.grad.double() ** 2).sum() for t in w.values())))
    chosen_rewards, rejected_rewards = beta * (pc - rc).detach(), beta * (pr - rr).detach()
    want = {"loss": float(objective), "rewards/chosen": float(chosen_rewards.mean()),
            "rewards/rejected": float(rejected_rewards.mean()),
            "rewards/margins": float((chosen_rewards - rejected_rewards).mean()),
            "rewards/accuracies": float((chosen_rewards > rejected_rewards).float().mean()),
            "logps/chosen": float(pc.detach().mean()), "logps/rejected": float(pr.detach().mean()),
            "grad_norm": grad_norm}
    got = json.loads(open(metrics).readline())
    logp_scale = max(1.0, abs(want["logps/chosen"]), abs(want["logps/rejected"]))
    for key, value in want.items():
        diff = abs(got[key] - value)
        scale = max(1.0, abs(value)) if key.startswith("logps") or key == "grad_norm" else 1.0
        if key.startswith("rewards/") and key != "rewards/accuracies":
            scale = max(1.0, beta * logp_scale)
        good = diff <= tol * scale
        ok = ok and good
        print(f"{key}: pride {got[key]:.8g}, reference {value:.8g}, |diff| {diff:.2e}"
              f"{'' if good else '  <-- over ' + str(tol)}")
    return ok


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "check-pairs":
        sys.exit(not check_pairs(*sys.argv[2:5]))
    elif command == "check-step":
        import torch  # noqa: F401  (hf_reference imports torch when imported as a module)
        from hf_reference import forward, read_model  # noqa: E402
        sys.exit(not check_step(*sys.argv[2:10]))
    else:
        sys.exit(__doc__)
