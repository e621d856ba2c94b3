#!/usr/bin/env python3
"""PyTorch + PEFT peer for the trainer's LoRA throughput: the same checkpoint, the same LoRA
settings, the same batch shape and a loss of the same form, timed the same way (real, non-pad
tokens of optimiser steps 2..N over their wall time).

    python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch transformers peft tokenizers
    /tmp/hf/bin/python trainer/bench/peft_peer.py --base trainer/tests/fixtures/tiny_qwen2/untied \\
        --input leads.csv --device cuda:0 --steps 100 --json peft_peer.json

What it does
  * Loads `--base` (a Hugging Face Qwen2 folder with tokenizer.json) as Qwen2ForCausalLM, frozen,
    in bf16 on CUDA and f32 on the CPU (as `leadladder train --preset qwen2-lora` does), wraps it
    with PEFT LoRA (`--lora-rank`, `--lora-alpha`, `--lora-dropout`, all seven linears) and adds
    two Linear(hidden, 1) heads (rank, point) in f32 on the last non-pad token's final hidden state.
  * Inputs: every lead's dialogue cell of `--input` (a `leadladder synth` CSV), tokenized with the
    folder's tokenizer.json, cut to `--max-tokens - 1` tokens plus <|endoftext|>, right-padded
    with it. leadladder renders the field block before the dialogue; the peer feeds the dialogue
    only, so its sequences are a little shorter: compare tokens/s, not steps/s.
  * Loss per batch: BCE of the point head on the label (`outcome == locked_in`) + a margin-free
    pairwise softplus over every (buyer, non-buyer) pair in the batch on the rank head + 0.1 x the
    LM loss on the dialogue tokens: the same three terms as the trainer's HPRO + semantic loss.
  * AdamW (lr 3e-4, no weight decay), `--batch-size` 16, `--grad-accum` 2, like the preset.

`--scratch tiny|demo --mean-tokens N` instead trains a fresh transformers Qwen2 of that leadladder
preset's shape (hidden 64, 2 layers, 4/2 heads, intermediate 128, vocabulary 1,100 of BPE and field
tokens) in full f32, no LoRA, on random token ids whose lengths average N (uniform in [N/2, 3N/2]):
the PyTorch peer of the from-scratch presets' tokens/s (`trainer/bench/gpu_check.sh` passes our
measured tokens per lead).

`--make-base DIR --tokenizer tokenizer.json` instead writes a random Qwen2.5-0.5B-shaped
checkpoint (hidden 896, 24 layers, 14/2 heads, intermediate 4864, vocab 151936, tied, bf16) with
that tokenizer, for a throughput comparison at a realistic size (the real Qwen tokenizer comes
from crates/bundle/tests/fetch_qwen_tokenizer.sh).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import time

import torch
import torch.nn.functional as F

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_base(out: str, tokenizer: str) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    shutil.copy(tokenizer, os.path.join(out, "tokenizer.json"))
    print(f"wrote a random Qwen2.5-0.5B-shaped checkpoint to {out}")


def load_leads(path: str, tok, max_tokens: int, eos: int):
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ids = tok.encode(row["dialogue"], add_special_tokens=False).ids[: max_tokens - 1] + [eos]
            out.append((ids, 1.0 if row["outcome"].strip().lower() == "locked_in" else 0.0))
    return out


def scratch(args) -> int:
    """Full training of a fresh, preset-shaped Qwen2 on random ids: the from-scratch peer."""
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    dev = torch.device(args.device)
    vocab = 1100
    cfg = Qwen2Config(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
    )
    model = Qwen2ForCausalLM(cfg).to(dev)
    heads = torch.nn.Linear(64, 2).to(dev)
    params = list(model.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    model.train()
    n = args.mean_tokens

    def batch():
        lens = [random.randint(max(2, n // 2), max(3, 3 * n // 2)) for _ in range(args.batch_size)]
        t = max(lens)
        ids = torch.randint(0, vocab, (len(lens), t))
        mask = torch.zeros((len(lens), t), dtype=torch.long)
        for i, k in enumerate(lens):
            mask[i, :k] = 1
        y = (torch.rand(len(lens)) < 0.1).float()
        return ids.to(dev), mask.to(dev), y.to(dev), sum(lens)

    marks, tokens = [], 0
    for _ in range(args.steps):
        for _ in range(args.grad_accum):
            ids, mask, y, k = batch()
            tokens += k
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            last = out.hidden_states[-1][torch.arange(ids.shape[0], device=dev), mask.sum(1) - 1]
            r, z = heads(last).unbind(-1)
            loss = F.binary_cross_entropy_with_logits(z, y)
            pos, neg = (y > 0.5).nonzero().flatten(), (y < 0.5).nonzero().flatten()
            if len(pos) and len(neg):
                loss = loss + F.softplus(-(r[pos][:, None] - r[neg][None, :])).mean()
            logits = out.logits[:, :-1]
            tgt = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            loss = loss + 0.1 * F.cross_entropy(logits.reshape(-1, vocab), tgt.reshape(-1))
            (loss / args.grad_accum).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        marks.append((time.perf_counter(), tokens))
    secs = marks[-1][0] - marks[0][0]
    timed = marks[-1][1] - marks[0][1]
    result = {
        "peer": f"pytorch scratch ({args.scratch} shape)",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "device": args.device, "dtype": "float32", "steps_timed": len(marks) - 1,
        "tokens": timed, "seconds": secs, "tokens_per_s": timed / max(secs, 1e-9),
        "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None,
    }
    return report(args, result)


def report(args, result: dict) -> int:
    """Prints the result as one JSON line and writes it to --json if given."""
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base")
    ap.add_argument("--input")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--lora-rank", type=int, default=8)
    ap.add_argument("--lora-alpha", type=float, default=16)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json")
    ap.add_argument("--make-base")
    ap.add_argument("--tokenizer")
    ap.add_argument("--scratch", choices=["tiny", "demo"])
    ap.add_argument("--mean-tokens", type=int, default=40)
    args = ap.parse_args()
    if args.make_base:
        make_base(args.make_base, args.tokenizer)
        return 0
    if args.scratch:
        return scratch(args)
    if not (args.base and args.input):
        ap.error("--base and --input are required")

    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    dev = torch.device(args.device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    tok = Tokenizer.from_file(os.path.join(args.base, "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    leads = load_leads(args.input, tok, args.max_tokens, eos)
    base = Qwen2ForCausalLM.from_pretrained(args.base, dtype=dtype, attn_implementation="sdpa")
    model = get_peft_model(base, LoraConfig(
        r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=TARGETS, task_type="CAUSAL_LM", bias="none",
    )).to(dev)
    for n, p in model.named_parameters():
        if "lora_" in n:
            p.data = p.data.float()
    h = base.config.hidden_size
    heads = torch.nn.Linear(h, 2).to(dev)
    params = [p for p in model.parameters() if p.requires_grad] + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.0)
    model.train()

    def batch():
        rows = random.sample(leads, args.batch_size)
        t = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), t), eos, dtype=torch.long)
        mask = torch.zeros((len(rows), t), dtype=torch.long)
        for i, (r, _) in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        y = torch.tensor([lab for _, lab in rows])
        return ids.to(dev), mask.to(dev), y.to(dev), int(mask.sum())

    marks = []
    tokens = 0
    for step in range(args.steps):
        for _ in range(args.grad_accum):
            ids, mask, y, n = batch()
            tokens += n
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32):
                out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            hidden = out.hidden_states[-1]
            last = hidden[torch.arange(ids.shape[0], device=dev), mask.sum(1) - 1].float()
            r, z = heads(last).unbind(-1)
            loss = F.binary_cross_entropy_with_logits(z, y)
            pos, neg = (y > 0.5).nonzero().flatten(), (y < 0.5).nonzero().flatten()
            if len(pos) and len(neg):
                diff = r[pos][:, None] - r[neg][None, :]
                loss = loss + F.softplus(-diff).mean()
            logits = out.logits[:, :-1].float()
            tgt = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            loss = loss + 0.1 * F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
            (loss / args.grad_accum).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        marks.append((time.perf_counter(), tokens))
    secs = marks[-1][0] - marks[0][0]
    timed = marks[-1][1] - marks[0][1]
    result = {
        "peer": "pytorch+peft",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__},
        "device": args.device, "dtype": str(dtype).replace("torch.", ""),
        "steps_timed": len(marks) - 1, "tokens": timed, "seconds": secs,
        "tokens_per_s": timed / max(secs, 1e-9),
        "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None,
    }
    return report(args, result)


if __name__ == "__main__":
    sys.exit(main())
