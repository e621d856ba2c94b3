#!/usr/bin/env python3
"""The quality benchmark: on each dataset, one split, every method, one audit.

    bash bench/quality/run.sh [--quick]          # the entry point (installs the peers' packages)

Per dataset (the synthetic funnel and the four public funnels of ../shared/data, each with its
ladder spec in bench/quality/specs/ or the one `leadladder synth` writes):

1. `leadladder audit --rungs-out` records leadladder's reading of the label and the rungs.
2. The LightGBM peer (trainer/bench/lightgbm_peer.py) trains on the same fit period and
   validation slice: binary on the fields, lambdarank on the ladder's grades, and binary on the
   fields plus tf-idf of the text where the data has text; once per seed.
3. leadladder trains binary, hpro and hpro+semantic, once per seed (`--scores-out`).
4. Every method's test-period scores go into one CSV beside the data, and ONE `leadladder
   audit --split temporal` computes AUC, P@K (with k) and 95% bootstrap CIs for all of them, next
   to recency and the hand tier sort, with the metric code the product uses.

The results land in <results>/results.md (table per dataset, the command, the commit) and
results.json (every number). Methods trained over several seeds show the mean over seeds and,
in brackets, the lowest and highest seed; single-run rows (recency, hand tier sort) show their
95% bootstrap CI. A dataset whose files are absent is skipped with a message.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEER = os.path.join(ROOT, "trainer", "bench", "lightgbm_peer.py")
K_PERCENTS = [0.1, 1.0, 10.0]


@dataclass
class Dataset:
    name: str
    csv: str
    spec: str
    preset: str
    note: str
    extra_train_args: list[str] = field(default_factory=list)


def log(msg: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict | None = None, stdout=None) -> float:
    """Runs a command, failing loudly; returns its wall time in seconds."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"quality: failed ({proc.returncode}): {shlex.join(cmd)}")
    return time.perf_counter() - t0


def datasets(args) -> list[Dataset]:
    out = []
    synth_dir = os.path.join(args.cache, "synth")
    os.makedirs(synth_dir, exist_ok=True)
    synth_csv = os.path.join(synth_dir, f"synth-{args.synth_leads}-s7.csv")
    if not os.path.exists(synth_csv):
        log(f"leadladder synth --leads {args.synth_leads} --seed 7")
        run([args.bin, "synth", "--leads", str(args.synth_leads), "--seed", "7", "--out", synth_csv])
    spec = synth_csv[:-4] + ".toml"
    out.append(Dataset(
        "synth", synth_csv, spec, args.preset,
        f"`leadladder synth --leads {args.synth_leads} --seed 7`: temporal 70:30 split",
    ))
    data_dir = os.path.join(args.cache, "data")
    have = os.path.isdir(args.data)
    if not have:
        log(f"{args.data} is absent: the public funnels are skipped")
    else:
        run([sys.executable, os.path.join(HERE, "prepare.py"), "--data", args.data, "--out", data_dir])
    notes = {
        "xeducation": "X Education leads; split by Lead Number (a creation-order proxy, not time)",
        "olist": "Olist marketing-qualified leads; real temporal split (strong drift)",
        "hillstrom": "Hillstrom e-mail campaign; no time: a seeded RANDOM 70:30 split",
        "p4g": "PersuasionForGood dialogues; temporal split by dialogue timestamp",
    }
    for name, note in notes.items():
        path = os.path.join(data_dir, f"{name}.csv")
        if have and os.path.exists(path):
            out.append(Dataset(name, path, os.path.join(HERE, "specs", f"{name}.toml"),
                               args.preset, note))
        elif have:
            log(f"{name}: no prepared file (its folder under {args.data} is absent): skipped")
    if args.only:
        out = [d for d in out if d.name in args.only]
    return out


OBJECTIVES = {
    "binary": ["--objective", "binary", "--no-semantic"],
    "hpro": ["--objective", "hpro", "--no-semantic"],
    "hpro+semantic": ["--objective", "hpro"],
}


def train_job(args, ds: Dataset, objective: str, seed: int) -> dict:
    stem = os.path.join(args.cache, "runs", ds.name, f"{objective.replace('+', '_')}.s{seed}")
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    scores = stem + ".scores.csv"
    cmd = [args.bin, "train", "--input", ds.csv, "--ladder", ds.spec, "--out",
           stem + ".safetensors", "--preset", ds.preset, "--seed", str(seed),
           "--bootstrap", "0", "--scores-out", scores] + OBJECTIVES[objective] + ds.extra_train_args
    cmd += args.train_args
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    with open(stem + ".log", "w") as out:
        secs = run(cmd, env=env, stdout=out)
    log(f"{ds.name}: {objective} seed {seed} trained in {secs:.0f} s")
    return {"objective": objective, "seed": seed, "scores": scores, "seconds": secs,
            "command": shlex.join(cmd)}


def peer_job(args, ds: Dataset, rungs: str, seed: int) -> dict:
    stem = os.path.join(args.cache, "runs", ds.name, f"lightgbm.s{seed}")
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    cmd = [args.python, PEER, "--input", ds.csv, "--ladder", ds.spec, "--rungs", rungs,
           "--seed", str(seed), "--scores-out", stem + ".scores.csv", "--json", stem + ".json"]
    with open(stem + ".log", "w") as out:
        secs = run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=out)
    with open(stem + ".json") as f:
        res = json.load(f)
    log(f"{ds.name}: LightGBM seed {seed} in {secs:.0f} s")
    return {"seed": seed, "scores": stem + ".scores.csv", "json": res, "command": shlex.join(cmd)}


def read_scores(path: str) -> tuple[list[str], dict[str, list[str]]]:
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = list(r)
    return header, {row[0]: row[1:] for row in rows}


def merge(ds: Dataset, columns: dict[str, tuple[str, int]], out_path: str, id_col: str) -> None:
    """Writes the dataset's CSV plus one column per method (test-period scores; blank elsewhere)."""
    loaded: dict[str, tuple[list[str], dict]] = {}
    for path, _ in columns.values():
        if path not in loaded:
            loaded[path] = read_scores(path)
    with open(ds.csv, newline="", encoding="utf-8-sig") as f, open(out_path, "w", newline="") as g:
        r = csv.reader(f)
        w = csv.writer(g, lineterminator="\n")
        header = next(r)
        norm = [h.strip().lower() for h in header]
        id_at = norm.index(id_col.strip().lower())
        w.writerow(header + list(columns))
        for row in r:
            if not any(c.strip() for c in row):
                continue
            lead = row[id_at].strip()
            extra = []
            for path, col in columns.values():
                vals = loaded[path][1].get(lead)
                extra.append(vals[col] if vals is not None else "")
            w.writerow(row + extra)


def method_rows(report: dict) -> dict[str, dict]:
    return {m["name"]: m for m in report["methods"]}


def summarise(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}


def bench_dataset(args, ds: Dataset, pool: cf.Executor) -> dict:
    log(f"== {ds.name}: {ds.note}")
    with open(ds.spec, "rb") as f:
        import tomllib
        spec = tomllib.load(f)
    id_col = spec["columns"]["id"]
    rungs = os.path.join(args.cache, "runs", ds.name, "rungs.csv")
    os.makedirs(os.path.dirname(rungs), exist_ok=True)
    run([args.bin, "audit", "--input", ds.csv, "--ladder", ds.spec, "--bootstrap", "0",
         "--rungs-out", rungs], stdout=subprocess.DEVNULL)
    jobs = [pool.submit(peer_job, args, ds, rungs, s) for s in args.seeds]
    jobs += [pool.submit(train_job, args, ds, o, s) for o in args.objectives for s in args.seeds]
    results = [j.result() for j in jobs]
    peers = [r for r in results if "json" in r]
    ours = [r for r in results if "objective" in r]

    # One audit of every method's test-period scores.
    columns: dict[str, tuple[str, int]] = {}
    families: dict[str, list[str]] = {}
    seconds: dict[str, list[float]] = {}
    for p in peers:
        header, _ = read_scores(p["scores"])
        for k, col in enumerate(header[1:]):
            name = f"{col}_s{p['seed']}"
            columns[name] = (p["scores"], k)
            fam = next(m["method"] for m in p["json"]["methods"]
                       if col == {"lightgbm binary (fields)": "lightgbm_fields",
                                  "lightgbm lambdarank (ladder grades)": "lightgbm_lambdarank",
                                  "lightgbm binary (fields + tf-idf)": "lightgbm_fields_tfidf"}[m["method"]])
            families.setdefault(fam, []).append(name)
            secs = next(m["seconds"] for m in p["json"]["methods"] if m["method"] == fam)
            seconds.setdefault(fam, []).append(secs)
    for o in ours:
        name = f"leadladder_{o['objective'].replace('+', '_')}_s{o['seed']}"
        columns[name] = (o["scores"], 0)
        fam = f"leadladder {ds.preset} ({o['objective']})"
        families.setdefault(fam, []).append(name)
        seconds.setdefault(fam, []).append(o["seconds"])
    merged = os.path.join(args.cache, "runs", ds.name, "all-scores.csv")
    merge(ds, columns, merged, id_col)
    audit_json = os.path.join(args.cache, "runs", ds.name, "audit.json")
    cmd = [args.bin, "audit", "--input", merged, "--ladder", ds.spec, "--split", "temporal",
           "--bootstrap", str(args.bootstrap), "--seed", "7", "--json", "--out", audit_json]
    for c in columns:
        cmd += ["--score", c]
    run(cmd, stdout=subprocess.DEVNULL)
    with open(audit_json) as f:
        report = json.load(f)
    rows = method_rows(report)
    methods = []
    for base in ("recency (newest first)", "hand tier sort"):
        if base in rows:
            methods.append({"method": base, "runs": 1, "single": rows[base]})
    for fam, cols in families.items():
        per = [rows[c] for c in cols]
        entry = {"method": fam, "runs": len(per), "seconds": summarise(seconds[fam]),
                 "auc": summarise([m["auc"]["value"] for m in per])}
        for k in K_PERCENTS:
            vals = []
            for m in per:
                a = next(a for a in m["at_k"] if abs(a["k_percent"] - k) < 1e-9)
                vals.append(a["precision"]["value"])
                entry.setdefault("k_count", {})[str(k)] = a["k_count"]
            entry[f"p_at_{k}"] = summarise(vals)
        entry["per_seed"] = per
        methods.append(entry)
    split = report.get("split") or {}
    header = (f"Test period: {report['n']:,} leads, {report['positives']:,} positive "
              f"({100 * report['base_rate']:.2f}%); training period {split.get('train_n', 0):,} "
              f"leads ({100 * split.get('train_positive_rate', 0):.2f}% positive).")
    return {"dataset": ds.name, "note": ds.note, "header": header,
            "n": report.get("n"), "positives": report.get("positives"),
            "report": report, "methods": methods,
            "peer_command": peers[0]["command"] if peers else None,
            "train_commands": [o["command"] for o in ours[:3]]}


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def cell(entry: dict, key: str, k: str | None = None) -> str:
    if "single" in entry:
        m = entry["single"]
        if key == "auc":
            v = m["auc"]
            if v.get("lo") is None:
                return f"{v['value']:.4f}"
            return f"{v['value']:.4f} [{v['lo']:.3f}, {v['hi']:.3f}]"
        a = next(a for a in m["at_k"] if abs(a["k_percent"] - float(k)) < 1e-9)
        v = a["precision"]
        if v.get("lo") is None:
            return pct(v["value"])
        return f"{pct(v['value'])} [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}]"
    s = entry[key]
    if key == "auc":
        return f"{s['mean']:.4f} [{s['min']:.3f}, {s['max']:.3f}]"
    return f"{pct(s['mean'])} [{100 * s['min']:.1f}, {100 * s['max']:.1f}]"


def markdown(results: list[dict], meta: dict) -> str:
    lines = ["# Quality benchmark", "",
             f"Commit `{meta['commit']}`, {meta['date']}, {meta['machine']}.", "",
             "```sh", meta["command"], "```", "",
             "Every row of a table is audited by one `leadladder audit --split temporal` on the same "
             "test period. Methods trained per seed show the mean over "
             f"{len(meta['seeds'])} seeds ({', '.join(map(str, meta['seeds']))}) and, in brackets, "
             "the lowest and highest seed; recency and the hand tier sort show their 95% bootstrap "
             f"interval ({meta['bootstrap']} resamples). k is the number of leads in the top K%. "
             "Wall time is one training run (mean over seeds; leadladder runs use one thread each, "
             "two at a time).", ""]
    for r in results:
        lines += [f"## {r['dataset']}", "", r["note"] + ".", ""]
        if r.get("header"):
            lines += [r["header"], ""]
        kc = next((m["k_count"] for m in r["methods"] if "k_count" in m), {})
        head = ["method", "AUC"] + [f"P@{k:g}% (k={kc.get(str(k), '?')})" for k in K_PERCENTS] + ["train s"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for m in r["methods"]:
            secs = f"{m['seconds']['mean']:.0f}" if "seconds" in m else ""
            lines.append("| " + " | ".join(
                [m["method"], cell(m, "auc")] + [cell(m, f"p_at_{k}", str(k)) for k in K_PERCENTS]
                + [secs]) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the leadladder binary")
    ap.add_argument("--python", default=sys.executable, help="python with lightgbm")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--cache", required=True, help="work folder (outside the repository)")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--synth-leads", type=int, default=50_000)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3])
    ap.add_argument("--objectives", type=lambda s: s.split(","), default=list(OBJECTIVES),
                    help=f"leadladder objectives to train, comma-separated (of {', '.join(OBJECTIVES)})")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--train-args", type=shlex.split, default=[],
                    help="extra `leadladder train` arguments for every run")
    ap.add_argument("--command", default="", help="the command line to record")
    args = ap.parse_args()
    for o in args.objectives:
        if o not in OBJECTIVES:
            ap.error(f"unknown objective {o!r}; known: {', '.join(OBJECTIVES)}")
    os.makedirs(args.results, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {"commit": commit + ("+uncommitted changes" if dirty else ""),
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, no GPU",
            "command": args.command or shlex.join(sys.argv),
            "seeds": args.seeds, "objectives": args.objectives, "bootstrap": args.bootstrap, "preset": args.preset,
            "synth_leads": args.synth_leads}
    results = []
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for ds in datasets(args):
            results.append(bench_dataset(args, ds, pool))
            with open(os.path.join(args.results, "results.json"), "w") as f:
                json.dump({"meta": meta, "results": results}, f, indent=1)
            with open(os.path.join(args.results, "results.md"), "w") as f:
                f.write(markdown(results, meta))
    log(f"wrote {args.results}/results.md")


if __name__ == "__main__":
    main()
