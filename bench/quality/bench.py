#!/usr/bin/env python3
"""The quality benchmark: on each dataset, one split, every method, one audit.

    bash bench/quality/run.sh [--quick]          # the entry point (installs the peers' packages)

Per dataset (the synthetic funnel, the drifting synthetic funnel and the four public funnels of
../shared/data, each with its ladder spec in bench/quality/specs/ or the one `leadladder synth`
writes):

1. `leadladder audit --rungs-out` records leadladder's reading of the label and the rungs.
2. The tabular peers (trainer/bench/lightgbm_peer.py) train on the same fit period and
   validation slice, once per seed: LightGBM with fixed parameters (binary on the fields,
   lambdarank on the ladder's grades), LightGBM tuned on the validation slice (a grid, then a
   3-seed bag) and CatBoost with its defaults (a 3-seed bag); where the data has text, each
   again with tf-idf features of the text.
3. leadladder trains binary, hpro and hpro+semantic, once per seed (`--scores-out`). Where the
   spec has text columns, leadladder also trains WITHOUT the text (a derived spec beside the
   runs with `columns.text` moved to `columns.ignore`, nothing else changed;
   `--fields-only-objectives`), so fields-only and fields-plus-text methods compare like with
   like.
4. Every method's test-period scores go into one CSV beside the data (one column per method and
   seed, `<variant>_s<seed>`), and ONE `leadladder audit --split temporal` computes AUC, P@K
   (with k) and 95% bootstrap CIs for all of them, next to recency, the hand tier sort and any
   vendor score of the spec, with the metric code the product uses.

The results land in <results>/results.md (a table per dataset, rows grouped by the inputs each
method reads, the command, the commit) and results.json (every number; per seeded method the
mean, min, max and standard deviation over seeds, and for the peers the library versions, the
grid, the chosen parameters per seed, the best iterations and wall seconds). Methods trained over
several seeds show the mean over seeds and, in brackets, the lowest and highest seed; single-run
rows (recency, hand tier sort, vendor scores) show their 95% bootstrap CI. A dataset whose files
are absent is skipped with a message.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import hashlib
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEER = os.path.join(ROOT, "trainer", "bench", "lightgbm_peer.py")
K_PERCENTS = [0.1, 1.0, 10.0]
FIELDS = "fields"
FIELDS_TEXT = "fields + text"
# The order of the input groups in a table; baselines first.
INPUT_ORDER = ["created_at", "fields (tier rules)", "vendor score", FIELDS, FIELDS_TEXT]


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


def run(cmd: list[str], env: dict | None = None, stdout=None, stderr_to=None) -> float:
    """Runs a command, failing loudly; returns its wall time in seconds. With `stderr_to` (an
    open file), its standard error is kept there too."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if stderr_to is not None:
        stderr_to.write(proc.stderr)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"quality: failed ({proc.returncode}): {shlex.join(cmd)}")
    return time.perf_counter() - t0


def synth(args, name: str, leads: int, extra: list[str], note: str) -> Dataset | None:
    """`leadladder synth` once per size (kept in the cache); its spec is the TOML beside it."""
    synth_dir = os.path.join(args.cache, "synth")
    os.makedirs(synth_dir, exist_ok=True)
    path = os.path.join(synth_dir, f"{name}-{leads}-s7.csv")
    cmd = [args.bin, "synth", "--leads", str(leads), "--seed", "7"] + extra
    if not os.path.exists(path):
        if extra:
            helptext = subprocess.run([args.bin, "synth", "--help"], capture_output=True,
                                      text=True).stdout
            missing = [a for a in extra if a.startswith("--") and a not in helptext]
            if missing:
                log(f"{name}: this leadladder's synth has no {' '.join(missing)}: skipped")
                return None
        log(shlex.join(cmd[1:]))
        run(cmd + ["--out", path])
    return Dataset(name, path, path[:-4] + ".toml", args.preset,
                   f"`{shlex.join(['leadladder'] + cmd[1:])}`: {note}")


def datasets(args) -> list[Dataset]:
    wanted = (lambda n: n in args.only) if args.only else (lambda n: True)
    # The public funnels first (short runs), then synth-drift, then the large synth: the
    # results files are rewritten after every dataset, so a long run keeps what it finished.
    synths = []
    if wanted("synth-drift"):
        synths.append(synth(
            args, "synth-drift", args.synth_drift_leads, ["--drift", "1"],
            "temporal 70:30 split of a drifting funnel (from about 60% of the period on: a new "
            "channel and car model the training period never saw, period-level indices outside "
            "their training range or with a flipped relation to buying, about twice the buyer "
            "rate in the test period)"))
    if wanted("synth"):
        synths.append(synth(args, "synth", args.synth_leads, [], "temporal 70:30 split"))
    synths = [d for d in synths if d is not None]
    out = []
    notes = {
        "xeducation": "X Education leads; split by Lead Number (a creation-order proxy, not time)",
        "olist": "Olist marketing-qualified leads; real temporal split (strong drift)",
        "hillstrom": "Hillstrom e-mail campaign; no time: a seeded RANDOM 70:30 split",
        "p4g": "PersuasionForGood dialogues; temporal split by dialogue timestamp",
    }
    notes = {k: v for k, v in notes.items() if wanted(k)}
    if not notes:
        return synths
    data_dir = os.path.join(args.cache, "data")
    have = os.path.isdir(args.data)
    if not have:
        log(f"{args.data} is absent: the public funnels are skipped")
    else:
        # The peers' Python: it has openpyxl, which p4g's annotated rung needs.
        run([args.python, os.path.join(HERE, "prepare.py"), "--data", args.data, "--out", data_dir])
    for name, note in notes.items():
        path = os.path.join(data_dir, f"{name}.csv")
        if have and os.path.exists(path):
            out.append(Dataset(name, path, os.path.join(HERE, "specs", f"{name}.toml"),
                               args.preset, note))
        elif have:
            log(f"{name}: no prepared file (its folder under {args.data} is absent): skipped")
    return out + synths


# --- the fields-only spec -------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML spelling for {type(v).__name__} {v!r}")


def toml_dumps(doc: dict) -> str:
    """TOML for a ladder spec: top-level values, then tables, then arrays of tables (nested
    tables inline). Checked by parsing it back."""
    def is_table_array(v):
        return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)

    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict) and not is_table_array(v)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += ["", f"[{toml_key(k)}]"] + [f"{toml_key(a)} = {toml_value(b)}"
                                                 for a, b in v.items()]
    for k, v in doc.items():
        if is_table_array(v):
            for item in v:
                lines += ["", f"[[{toml_key(k)}]]"] + [f"{toml_key(a)} = {toml_value(b)}"
                                                       for a, b in item.items()]
    text = "\n".join(lines) + "\n"
    if tomllib.loads(text) != doc:
        raise SystemExit("quality: the derived spec does not read back as written")
    return text


def fields_only_spec(ds: Dataset, spec: dict, out_dir: str) -> str:
    """The spec with `columns.text` moved to `columns.ignore`, nothing else changed."""
    derived = json.loads(json.dumps(spec))  # a deep copy (specs hold no dates)
    cols = derived["columns"]
    text = cols.pop("text")
    cols["ignore"] = list(cols.get("ignore", [])) + [c for c in text
                                                    if c not in cols.get("ignore", [])]
    path = os.path.join(out_dir, "fields-only.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# {ds.spec} with columns.text {text} moved to columns.ignore (nothing else "
                "changed): leadladder without the text.\n")
        f.write(toml_dumps(derived))
    return path


# --- jobs -------------------------------------------------------------------------------------

OBJECTIVES = {
    "binary": ["--objective", "binary", "--no-semantic"],
    "hpro": ["--objective", "hpro", "--no-semantic"],
    "hpro+semantic": ["--objective", "hpro"],
    "binary+semantic": ["--objective", "binary"],
}


def reused(args, stem: str, cmd: list[str], outputs: list[str], inputs: list[str]) -> float | None:
    """With --reuse: the seconds of a finished run of exactly `cmd` (same binary file, same
    arguments) on the same input files (by content) whose outputs are all there; otherwise None."""
    if not args.reuse:
        return None
    try:
        with open(stem + ".done") as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None
    same = (done.get("command") == shlex.join(cmd) and done.get("bin_mtime") == bin_mtime(cmd[0])
            and done.get("inputs") == digests(inputs))
    if same and all(os.path.exists(o) for o in outputs):
        return float(done["seconds"])
    return None


def bin_mtime(path: str) -> float:
    return os.stat(path).st_mtime


def digests(paths: list[str]) -> dict[str, str]:
    """SHA-256 of each input file: a prepared dataset rewritten with other contents (another
    prepare.py, a missing optional column) is not mistaken for the one a run used."""
    out = {}
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[p] = h.hexdigest()
    return out


def finished(stem: str, cmd: list[str], secs: float, inputs: list[str]) -> None:
    """Marks a run finished, for --reuse."""
    with open(stem + ".done", "w") as f:
        json.dump({"command": shlex.join(cmd), "seconds": secs, "bin_mtime": bin_mtime(cmd[0]),
                   "inputs": digests(inputs)}, f)


def train_job(args, ds: Dataset, objective: str, seed: int, spec: str | None = None) -> dict:
    """One leadladder run; with `spec`, the fields-only spec instead of the dataset's."""
    tag = objective.replace("+", "_") + ("_fields_only" if spec else "")
    stem = os.path.join(args.cache, "runs", ds.name, f"{tag}.s{seed}")
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    scores = stem + ".scores.csv"
    cmd = [args.bin, "train", "--input", ds.csv, "--ladder", spec or ds.spec, "--out",
           stem + ".safetensors", "--preset", ds.preset, "--seed", str(seed),
           "--bootstrap", "0", "--scores-out", scores] + OBJECTIVES[objective] + ds.extra_train_args
    cmd += args.train_args
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    what = objective + (", fields only" if spec else "")
    inputs = [ds.csv, spec or ds.spec]
    done = reused(args, stem, cmd, [scores], inputs)
    if done is not None:
        secs = done
        log(f"{ds.name}: leadladder {what} seed {seed}: reused the finished run ({secs:.0f} s)")
    else:
        with open(stem + ".log", "w") as out:
            secs = run(cmd, env=env, stdout=out, stderr_to=out)
        finished(stem, cmd, secs, inputs)
        log(f"{ds.name}: leadladder {what} seed {seed} trained in {secs:.0f} s")
    return {"objective": objective, "fields_only": bool(spec), "tag": tag, "seed": seed,
            "scores": scores, "seconds": secs, "command": shlex.join(cmd),
            "family": f"leadladder {ds.preset} ({what})"}


def peer_job(args, ds: Dataset, rungs: str, group: str, variants: list[str], seed: int) -> dict:
    stem = os.path.join(args.cache, "runs", ds.name, f"peer-{group}.s{seed}")
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    cmd = [args.python, PEER, "--input", ds.csv, "--ladder", ds.spec, "--rungs", rungs,
           "--seed", str(seed), "--bag", str(args.bag), "--variants", ",".join(variants),
           "--scores-out", stem + ".scores.csv", "--json", stem + ".json"]
    inputs = [ds.csv, ds.spec, rungs]
    done = reused(args, stem, cmd, [stem + ".scores.csv", stem + ".json"], inputs)
    if done is not None:
        secs = done
        log(f"{ds.name}: peers {group} seed {seed}: reused the finished run ({secs:.0f} s)")
    else:
        with open(stem + ".log", "w") as out:
            secs = run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=out, stderr_to=out)
        finished(stem, cmd, secs, inputs)
        log(f"{ds.name}: peers {group} seed {seed} in {secs:.0f} s")
    with open(stem + ".json") as f:
        res = json.load(f)
    return {"seed": seed, "group": group, "scores": stem + ".scores.csv", "json": res,
            "command": shlex.join(cmd)}


def peer_variants(args) -> list[dict]:
    """The peer script's own list of variants (key, method, column, learner, text, rank)."""
    out = subprocess.run([args.python, PEER, "--list-variants", "--bag", str(args.bag)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit("quality: the peer script does not run (see above)")
    return json.loads(out.stdout)


def peer_groups(args, has_text: bool) -> list[tuple[str, list[str]]]:
    """One job per tuned or bagged variant; the cheap fixed-parameter LightGBM variants share
    one. Text variants only where the spec has text columns."""
    groups: dict[str, list[str]] = {}
    for v in args.peer_variants:
        if v["text"] and not has_text:
            continue
        if args.peers and v["key"] not in args.peers:
            continue
        group = "lightgbm" if v["learner"] == "lightgbm" else v["key"]
        groups.setdefault(group, []).append(v["key"])
    return list(groups.items())


# --- merging and summarising ------------------------------------------------------------------

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


def peer_record(m: dict, seed: int) -> dict:
    """What results.json keeps of one peer run: parameters, iterations, seconds, and the tuning
    trials as compact rows (the peer's own JSON in the cache has everything)."""
    keep = ("variant", "column", "learner", "inputs", "val_auc", "val_logloss",
            "val_auc_members", "best_iteration", "seconds", "params", "bag", "features")
    rec = {"seed": seed} | {k: m[k] for k in keep if k in m}
    if "tuning" in m:
        t = m["tuning"]
        axes = list(t["chosen"])
        rec["tuning"] = {
            "chosen": t["chosen"], "val_auc": t["val_auc"], "seconds": t["seconds"],
            "trial_columns": axes + ["best_iteration", "val_auc", "seconds"],
            "trials": [[tr["params"][a] for a in axes]
                       + [tr["best_iteration"], round(tr["val_auc"], 6), round(tr["seconds"], 2)]
                       for tr in t["trials"]],
        }
    return rec


def baseline_inputs(name: str) -> str:
    if name.startswith("recency"):
        return "created_at"
    if name == "hand tier sort":
        return "fields (tier rules)"
    return "vendor score"


def seeds_for(args, name: str) -> list[int]:
    """The seeds of one dataset: `--synth-seeds` for the synthetic funnels when given."""
    if name.startswith("synth") and args.synth_seeds:
        return args.synth_seeds
    return args.seeds


def bench_dataset(args, ds: Dataset, pool: cf.Executor) -> dict:
    log(f"== {ds.name}: {ds.note}")
    with open(ds.spec, "rb") as f:
        spec = tomllib.load(f)
    id_col = spec["columns"]["id"]
    has_text = bool(spec["columns"].get("text"))
    run_dir = os.path.join(args.cache, "runs", ds.name)
    os.makedirs(run_dir, exist_ok=True)
    rungs = os.path.join(run_dir, "rungs.csv")
    run([args.bin, "audit", "--input", ds.csv, "--ladder", ds.spec, "--bootstrap", "0",
         "--rungs-out", rungs], stdout=subprocess.DEVNULL)
    fields_spec = fields_only_spec(ds, spec, run_dir) if has_text else None
    seeds = seeds_for(args, ds.name)
    # The long leadladder runs first, so the short peer jobs fill the gaps at the end.
    jobs = [pool.submit(train_job, args, ds, o, s) for o in args.objectives for s in seeds]
    if fields_spec:
        jobs += [pool.submit(train_job, args, ds, o, s, fields_spec)
                 for o in args.fields_only_objectives for s in seeds]
    jobs += [pool.submit(peer_job, args, ds, rungs, g, vs, s)
             for g, vs in peer_groups(args, has_text) for s in seeds]
    results = [j.result() for j in jobs]
    peers = [r for r in results if "json" in r]
    ours = [r for r in results if "objective" in r]

    # One audit of every method's test-period scores; the peer's JSON names each column's family.
    columns: dict[str, tuple[str, int]] = {}
    families: dict[str, dict] = {}

    def family(name: str, inputs: str) -> dict:
        return families.setdefault(name, {"inputs": inputs, "columns": [], "seconds": [],
                                          "runs": []})

    for p in peers:
        header, _ = read_scores(p["scores"])
        for m in p["json"]["methods"]:
            name = f"{m['column']}_s{p['seed']}"
            columns[name] = (p["scores"], header.index(m["column"]) - 1)
            fam = family(m["method"], m["inputs"])
            fam["columns"].append(name)
            fam["seconds"].append(m["seconds"])
            fam["runs"].append(peer_record(m, p["seed"]))
            fam["command"] = p["command"]
    for o in ours:
        name = f"leadladder_{o['tag']}_s{o['seed']}"
        columns[name] = (o["scores"], 0)
        fam = family(o["family"], FIELDS if (o["fields_only"] or not has_text) else FIELDS_TEXT)
        fam["columns"].append(name)
        fam["seconds"].append(o["seconds"])
        fam["runs"].append({"seed": o["seed"], "seconds": o["seconds"]})
        fam["command"] = o["command"]
    merged = os.path.join(run_dir, "all-scores.csv")
    merge(ds, columns, merged, id_col)
    audit_json = os.path.join(run_dir, "audit.json")
    cmd = [args.bin, "audit", "--input", merged, "--ladder", ds.spec, "--split", "temporal",
           "--bootstrap", str(args.bootstrap), "--seed", "7", "--json", "--out", audit_json]
    for c in columns:
        cmd += ["--score", c]
    run(cmd, stdout=subprocess.DEVNULL)
    with open(audit_json) as f:
        report = json.load(f)
    rows = method_rows(report)
    methods = []
    for name, m in rows.items():  # every row of the audit that is not one of our columns
        if name not in columns:
            methods.append({"method": name, "inputs": baseline_inputs(name), "runs": 1,
                            "single": m})
    for fam_name, fam in families.items():
        per = [rows[c] for c in fam["columns"]]
        entry = {"method": fam_name, "inputs": fam["inputs"], "runs": len(per),
                 "seeds": [r["seed"] for r in fam["runs"]], "columns": fam["columns"],
                 "seconds": summarise(fam["seconds"]),
                 "auc": summarise([m["auc"]["value"] for m in per])}
        for k in K_PERCENTS:
            vals = []
            for m in per:
                a = next(a for a in m["at_k"] if abs(a["k_percent"] - k) < 1e-9)
                vals.append(a["precision"]["value"])
                entry.setdefault("k_count", {})[str(k)] = a["k_count"]
            entry[f"p_at_{k}"] = summarise(vals)
        entry["command"] = fam["command"]
        if any("params" in r for r in fam["runs"]):
            entry["peer_runs"] = fam["runs"]
        entry["per_seed"] = per
        methods.append(entry)
    # Group by inputs (baselines, fields only, fields + text); the order within a group is kept.
    methods.sort(key=lambda m: INPUT_ORDER.index(m["inputs"]))
    split = report.get("split") or {}
    header = (f"Test period: {report['n']:,} leads, {report['positives']:,} positive "
              f"({100 * report['base_rate']:.2f}%); training period {split.get('train_n', 0):,} "
              f"leads ({100 * split.get('train_positive_rate', 0):.2f}% positive).")
    peer0 = peers[0]["json"] if peers else {}
    return {"dataset": ds.name, "note": ds.note, "header": header,
            "n": report.get("n"), "positives": report.get("positives"),
            "spec": ds.spec, "fields_only_spec": fields_spec,
            "text_columns": spec["columns"].get("text", []),
            "peer": {k: peer0.get(k) for k in ("versions", "split", "bag_seeds", "grid",
                                               "lightgbm_params", "catboost_settings")},
            "report": report, "methods": methods}


# --- the markdown -----------------------------------------------------------------------------

def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def cell(entry: dict, key: str, k: str | None = None) -> str:
    if "single" in entry:
        m = entry["single"]
        if key == "auc":
            v = m["auc"]
            if v is None or v.get("value") is None:
                return "n/a"
            if v.get("lo") is None:
                return f"{v['value']:.4f}"
            return f"{v['value']:.4f} [{v['lo']:.3f}, {v['hi']:.3f}]"
        a = next(a for a in m["at_k"] if abs(a["k_percent"] - float(k)) < 1e-9)
        v = a["precision"]
        if v.get("lo") is None:
            return pct(v["value"])
        return f"{pct(v['value'])} [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}]"
    s = entry[key]
    if entry["runs"] == 1:
        return f"{s['mean']:.4f}" if key == "auc" else pct(s["mean"])
    if key == "auc":
        return f"{s['mean']:.4f} [{s['min']:.3f}, {s['max']:.3f}]"
    return f"{pct(s['mean'])} [{100 * s['min']:.1f}, {100 * s['max']:.1f}]"


def markdown(results: list[dict], meta: dict) -> str:
    v = meta.get("peer_versions") or {}
    libs = ", ".join(f"{k} {v[k]}" for k in ("lightgbm", "catboost", "scikit-learn", "numpy",
                                             "pandas") if v.get(k))
    g = meta.get("peer_grid") or {}
    grid = " x ".join(f"{k} {{{', '.join(map(str, v))}}}" for k, v in g.get("axes", {}).items())
    small = g.get("small_leaf")
    lines = ["# Quality benchmark", "",
             f"Commit `{meta['commit']}`, {meta['date']}, {meta['machine']}.", "",
             "```sh", meta["command"], "```", "",
             "Every row of a table is audited by one `leadladder audit --split temporal` on the same "
             "test period. Methods trained per seed show the mean over "
             f"{len(meta['seeds'])} seeds ({', '.join(map(str, meta['seeds']))}"
             + (f"; {', '.join(map(str, meta['synth_seeds']))} on the synthetic funnels"
                if meta.get("synth_seeds") else "") + ") and, in brackets, "
             "the lowest and highest seed (results.json adds the standard deviation); recency, the "
             "hand tier sort and vendor scores show their 95% bootstrap "
             f"interval ({meta['bootstrap']} resamples). k is the number of leads in the top K%. "
             "Wall time is one training run (mean over seeds; every run uses one thread, "
             f"{meta['jobs']} at a time); for the tuned and bagged peers it includes the grid "
             "and all the bag's models.", "",
             "**Inputs.** Rows are grouped by what the method reads: *fields* are the spec's "
             "categorical, numeric and boolean columns; *fields + text* adds the spec's text "
             "columns (the dialogue). Where a dataset has text, leadladder is trained both ways "
             "(`fields only`: the spec with `columns.text` moved to `columns.ignore`), so each "
             "group compares like with like.", "",
             f"**Peers** (`trainer/bench/lightgbm_peer.py`; {libs}). Fixed LightGBM: parameters "
             f"chosen once on the 20,000-lead synth's validation slice. *Tuned*: {grid} "
             f"(min_data_in_leaf values above a tenth of the fit period replaced by {small}), "
             "plus the fixed parameters, each early-stopped on validation AUC; the "
             f"best on the validation slice is trained with {meta['bag']} seeds and their "
             "probabilities averaged. CatBoost: its defaults, categorical columns as native "
             "cat_features, early stopping and use_best_model on validation AUC, "
             f"{meta['bag']} seeds averaged. *tf-idf*: word 1-2 grams -> TruncatedSVD(32), fit "
             "on the fit period only. Every peer is single-threaded and early-stops on the "
             "newest 10% of the training period; nothing looks at the test period. Chosen "
             "parameters, best iterations and every grid trial per seed are in results.json.", ""]
    for r in results:
        lines += [f"## {r['dataset']}", "", r["note"] + ".", ""]
        if r.get("header"):
            lines += [r["header"], ""]
        kc = next((m["k_count"] for m in r["methods"] if "k_count" in m), {})
        head = ["inputs", "method", "AUC"] + [f"P@{k:g}% (k={kc.get(str(k), '?')})"
                                              for k in K_PERCENTS] + ["train s"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for m in r["methods"]:
            secs = f"{m['seconds']['mean']:.0f}" if "seconds" in m else ""
            lines.append("| " + " | ".join(
                [m["inputs"], m["method"], cell(m, "auc")]
                + [cell(m, f"p_at_{k}", str(k)) for k in K_PERCENTS] + [secs]) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the leadladder binary")
    ap.add_argument("--python", default=sys.executable,
                    help="python with the peers' packages (lightgbm, catboost, scikit-learn)")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--cache", required=True, help="work folder (outside the repository)")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--synth-leads", type=int, default=200_000,
                    help="leads of the synthetic funnel `synth` [default: 200000]")
    ap.add_argument("--synth-drift-leads", type=int, default=50_000,
                    help="leads of the drifting synthetic funnel `synth-drift` [default: 50000]")
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3],
                    help="seeds, comma-separated [default: 1,2,3]")
    ap.add_argument("--synth-seeds", type=lambda s: [int(x) for x in s.split(",")], default=None,
                    help="seeds for synth and synth-drift, whose runs are the long ones "
                    "[default: --seeds]")
    ap.add_argument("--bag", type=int, default=3,
                    help="seeds in each bagged peer's average (tuned LightGBM, CatBoost) "
                    "[default: 3]")
    ap.add_argument("--objectives", type=lambda s: [x for x in s.split(",") if x],
                    default=list(OBJECTIVES),
                    help=f"leadladder objectives to train, comma-separated (of "
                    f"{', '.join(OBJECTIVES)}); empty for none")
    ap.add_argument("--fields-only-objectives", type=lambda s: [x for x in s.split(",") if x],
                    default=["hpro"],
                    help="leadladder objectives also trained without the text where the spec "
                    "has text columns, comma-separated; empty for none [default: hpro]")
    ap.add_argument("--peers", type=lambda s: s.split(","),
                    help="peer variants to run, comma-separated (of lightgbm_peer.py "
                    "--list-variants) [default: every one the data allows]")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--only", nargs="*",
                    help="datasets: synth, synth-drift, xeducation, olist, hillstrom, p4g")
    ap.add_argument("--train-args", type=shlex.split, default=[],
                    help="extra `leadladder train` arguments for every run")
    ap.add_argument("--command", default="", help="the command line to record")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the leadladder and peer runs an interrupted run finished (same binary "
                    "or python, same command; their scores are in the cache) instead of running "
                    "them again")
    args = ap.parse_args()
    for o in args.objectives + args.fields_only_objectives:
        if o not in OBJECTIVES:
            ap.error(f"unknown objective {o!r}; known: {', '.join(OBJECTIVES)}")
    for given in (args.seeds, args.synth_seeds or []):
        if len(set(given)) != len(given):
            ap.error("--seeds or --synth-seeds repeats a seed")
    known_sets = {"synth", "synth-drift", "xeducation", "olist", "hillstrom", "p4g"}
    for n in args.only or []:
        if n not in known_sets:
            ap.error(f"unknown dataset {n!r}; known: {', '.join(sorted(known_sets))}")
    args.peer_variants = peer_variants(args)
    for p in args.peers or []:
        if p not in {v["key"] for v in args.peer_variants}:
            ap.error(f"unknown peer variant {p!r}")
    os.makedirs(args.results, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {"commit": commit + ("+uncommitted changes" if dirty else ""),
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, no GPU",
            "command": args.command or shlex.join(sys.argv),
            "seeds": args.seeds, "synth_seeds": args.synth_seeds, "objectives": args.objectives,
            "fields_only_objectives": args.fields_only_objectives, "bag": args.bag,
            "bootstrap": args.bootstrap, "preset": args.preset, "jobs": args.jobs,
            "synth_leads": args.synth_leads, "synth_drift_leads": args.synth_drift_leads}
    results = []
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for ds in datasets(args):
            results.append(bench_dataset(args, ds, pool))
            peer = next((r["peer"] for r in results if r["peer"].get("versions")), {})
            meta["peer_versions"] = peer.get("versions")
            meta["peer_grid"] = {k: v for k, v in (peer.get("grid") or {}).items()
                                 if k in ("axes", "small_leaf", "rule")}
            meta["wall_seconds"] = time.perf_counter() - t0
            with open(os.path.join(args.results, "results.json"), "w") as f:
                json.dump({"meta": meta, "results": results}, f, indent=1)
            with open(os.path.join(args.results, "results.md"), "w") as f:
                f.write(markdown(results, meta))
    log(f"wrote {args.results}/results.md ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
