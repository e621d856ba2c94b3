#!/usr/bin/env python3
"""PyTorch/transformers peer for `leadladder bench`: the same bundle, the same token ids, timed.

Loads a leadladder bundle (safetensors; int8 tensors dequantised with their per-row `.scale`, f16
widened to f32) into a transformers `Qwen2Model` plus the two linear score heads, scores the token
ids that `leadladder bench --dump-ids ids.json` wrote, at the batch sizes listed there, on the
CPU, and prints a JSON report (also to --out):

    {"peer": "torch", "torch": "1.13.1", "transformers": "4.44.2", "threads": 1,
     "runs": [{"batch": 8, "leads": 256, "seconds": 1.2, "leads_per_s": 213.0}, ...],
     "scores": [...], "max_abs_diff_vs_rust": 1e-5}

`leadladder bench --peer that.json` prints the leads/s ratio next to its own table. Scores are
the ranking head on the last non-pad token of each right-padded sequence, as the Rust scorer does;
they are compared with the scores in ids.json as a parity check.

Needs: torch (CPU), transformers >= 4.37 (Qwen2), safetensors, numpy.
    python3 bench/torch_peer.py --bundle web/models/demo.int8.safetensors --ids ids.json
"""

import argparse
import json
import struct
import sys
import time

import numpy as np
import torch
import transformers
from transformers import Qwen2Config, Qwen2Model


def read_bundle(path):
    """Returns (metadata dict, {name: float32 ndarray}) with int8 tensors dequantised."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F16": np.float16, "I8": np.int8}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        arr = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        tensors[name] = arr
    out = {}
    for name, arr in tensors.items():
        if name.endswith(".scale"):
            continue
        if arr.dtype == np.int8:
            scale = tensors[name + ".scale"].astype(np.float32)
            out[name] = arr.astype(np.float32) * scale[:, None]
        else:
            out[name] = arr.astype(np.float32)
    return meta, out


class Ranker(torch.nn.Module):
    def __init__(self, config, weights, calibration):
        super().__init__()
        hf = Qwen2Config(
            vocab_size=config["vocab_size"],
            hidden_size=config["hidden_size"],
            intermediate_size=config["intermediate_size"],
            num_hidden_layers=config["num_hidden_layers"],
            num_attention_heads=config["num_attention_heads"],
            num_key_value_heads=config["num_key_value_heads"],
            max_position_embeddings=config.get("max_position_embeddings", 32768),
            rope_theta=config.get("rope_theta", 10000.0),
            rms_norm_eps=config.get("rms_norm_eps", 1e-6),
            tie_word_embeddings=config.get("tie_word_embeddings", False),
            use_sliding_window=False,
        )
        hf._attn_implementation = "eager"
        self.trunk = Qwen2Model(hf).eval()
        state = {
            k[len("model.") :]: torch.from_numpy(v.copy())
            for k, v in weights.items()
            if k.startswith("model.")
        }
        missing, unexpected = self.trunk.load_state_dict(state, strict=False)
        # Qwen2Model registers no buffers that the bundle would carry except rotary inv_freq.
        missing = [m for m in missing if not m.endswith("inv_freq")]
        if missing or unexpected:
            raise SystemExit(f"weights do not match: missing {missing}, unexpected {unexpected}")
        self.rank_w = torch.from_numpy(weights["score.rank.weight"].copy())
        self.rank_b = torch.from_numpy(weights["score.rank.bias"].copy())
        self.point_w = torch.from_numpy(weights["score.point.weight"].copy())
        self.point_b = torch.from_numpy(weights["score.point.bias"].copy())
        self.cal_a = float(calibration.get("a", 1.0))
        self.cal_b = float(calibration.get("b", 0.0))

    @torch.no_grad()
    def forward(self, ids, mask):
        hidden = self.trunk(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        last = mask.sum(dim=1) - 1
        pooled = hidden[torch.arange(ids.shape[0]), last]
        rank = pooled @ self.rank_w.T + self.rank_b
        point = pooled @ self.point_w.T + self.point_b
        p = torch.sigmoid(self.cal_a * point + self.cal_b)
        return rank[:, 0], p[:, 0]


def batches(ids, batch, pad):
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        width = max(len(s) for s in chunk)
        t = torch.full((len(chunk), width), pad, dtype=torch.long)
        m = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, s in enumerate(chunk):
            t[j, : len(s)] = torch.tensor(s, dtype=torch.long)
            m[j, : len(s)] = 1
        yield t, m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--ids", required=True, help="JSON written by leadladder bench --dump-ids")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", help="also write the JSON report here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    meta, weights = read_bundle(args.bundle)
    config = json.loads(meta["config"])
    model = Ranker(config, weights, config.get("calibration", {}))
    dump = json.load(open(args.ids))
    ids = dump["ids"]
    pad = int(config["pad_token_id"])

    runs = []
    scores = []
    for batch in dump.get("batches", [1, 8, 32]):
        # One warm-up batch, then the timed pass over every lead.
        for t, m in batches(ids[:batch], batch, pad):
            model(t, m)
        start = time.perf_counter()
        out = []
        for t, m in batches(ids, batch, pad):
            r, _ = model(t, m)
            out.extend(r.tolist())
        seconds = time.perf_counter() - start
        runs.append(
            {"batch": batch, "leads": len(ids), "seconds": seconds, "leads_per_s": len(ids) / seconds}
        )
        scores = out
        print(f"batch {batch:>3}: {len(ids) / seconds:10.1f} leads/s", file=sys.stderr)

    report = {
        "peer": "torch",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": args.threads,
        "runs": runs,
        "scores": scores,
    }
    if dump.get("scores"):
        rust = np.asarray(dump["scores"], dtype=np.float64)
        report["max_abs_diff_vs_rust"] = float(np.max(np.abs(rust - np.asarray(scores))))
    text = json.dumps(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
