#!/usr/bin/env python3
"""Recipe tuning on the VALIDATION slice only (bench/quality/tuning.md).

    python bench/quality/tune.py --bin target/release/leadladder --data DIR --cache DIR \
        --name oor-drop10 --seeds 1,2 -- --out-of-range on --field-dropout 0.1

Trains `leadladder train --preset demo --seed S <extra args>` on each dataset and prints, per run,
the validation AUC of the model the trainer kept (its best epoch; for an ensemble, the mean
score's AUC), read from the report's "validation slice" note. The test period's AUC and P@1% are
recorded in the JSON lines (--log) so they can be reported later, but are not printed: recipes
are chosen on validation alone.

Datasets: synth (`synth --leads 50000 --seed 7`), synth-drift (`--drift 1`), and the prepared
public funnels in --data (bench/quality/prepare.py output: xeducation, olist, hillstrom, p4g),
each with its spec (bench/quality/specs/). Two runs at a time, one compute thread each.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def synth(bin_: str, cache: str, leads: int, drift: float) -> tuple[str, str]:
    stem = os.path.join(cache, f"synth-{leads}-s7" + (f"-d{drift:g}" if drift else ""))
    if not os.path.exists(stem + ".csv"):
        cmd = [bin_, "synth", "--leads", str(leads), "--seed", "7", "--out", stem + ".csv"]
        if drift:
            cmd += ["--drift", str(drift)]
        subprocess.run(cmd, check=True, capture_output=True)
    return stem + ".csv", stem + ".toml"


def datasets(args) -> dict[str, tuple[str, str]]:
    os.makedirs(args.cache, exist_ok=True)
    out = {
        "synth": synth(args.bin, args.cache, args.synth_leads, 0.0),
        "synth-drift": synth(args.bin, args.cache, args.synth_leads, 1.0),
    }
    for name in ("xeducation", "olist", "hillstrom", "p4g"):
        path = os.path.join(args.data, f"{name}.csv")
        if os.path.exists(path):
            out[name] = (path, os.path.join(HERE, "specs", f"{name}.toml"))
    if args.only:
        out = {k: v for k, v in out.items() if k in args.only}
    return out


def run_one(args, name: str, csv: str, spec: str, seed: int) -> dict:
    stem = os.path.join(args.cache, "tune", args.name, f"{name}.s{seed}")
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    cmd = [args.bin, "train", "--input", csv, "--ladder", spec, "--out", stem + ".safetensors",
           "--preset", "demo", "--seed", str(seed), "--bootstrap", "0"] + args.extra
    t0 = time.perf_counter()
    with open(stem + ".log", "w") as log:
        p = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                           env=dict(os.environ, RAYON_NUM_THREADS="1"))
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed: {shlex.join(cmd)} (see {stem}.log)")
    with open(stem + ".safetensors.report.json") as f:
        report = json.load(f)
    val = None
    for note in report.get("notes", []):
        m = re.match(r"validation slice: AUC ([0-9.]+)", note)
        if m:
            val = float(m.group(1))
    model = report["methods"][-1]
    p1 = next(a for a in model["at_k"] if abs(a["k_percent"] - 1.0) < 1e-9)
    return {"recipe": args.name, "dataset": name, "seed": seed, "val_auc": val,
            "test_auc": model["auc"]["value"], "test_p_at_1": p1["precision"]["value"],
            "seconds": secs, "command": shlex.join(cmd)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True, help="bench/quality/prepare.py output folder")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--name", required=True, help="recipe name")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--synth-leads", type=int, default=50_000)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--log", default=None, help="append JSON lines here")
    ap.add_argument("extra", nargs="*", help="extra `leadladder train` arguments (after --)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    ds = datasets(args)
    jobs = []
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, (csv, spec) in ds.items():
            for s in seeds:
                jobs.append(pool.submit(run_one, args, name, csv, spec, s))
        results = [j.result() for j in jobs]
    log = args.log or os.path.join(args.cache, "tune", "results.jsonl")
    with open(log, "a") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    by: dict[str, list[float]] = {}
    for r in results:
        by.setdefault(r["dataset"], []).append(r["val_auc"])
    line = [f"{args.name:<28}"]
    for name in ds:
        v = by[name]
        line.append(f"{name} {statistics.fmean(v):.4f} [{min(v):.4f}, {max(v):.4f}]")
    print("  ".join(line))
    secs = sum(r["seconds"] for r in results)
    print(f"  ({len(results)} runs, {secs:.0f} s of training)", file=sys.stderr)


if __name__ == "__main__":
    main()
