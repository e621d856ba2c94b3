#!/usr/bin/env python3
"""The README's quality tables from bench/quality/results/results.json: every method of the run as
a column (recency, the hand tier sort, every GBDT peer, every leadladder row), one row per
dataset, test-period AUC and P@1% (mean over seeds [lowest, highest]); then the issue's targets
checked per dataset: the shipped recipe (leadladder, hpro+semantic) against the best GBDT peer
that reads the same inputs.

    python bench/quality/summary.py [--results bench/quality/results/results.json]
"""

from __future__ import annotations

import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = "leadladder demo (hpro+semantic)"
OURS_FIELDS = "leadladder demo (hpro+semantic, fields only)"
ABLATION = "leadladder demo (binary+semantic)"


def estimate(e: dict, f) -> str:
    """A single run's value and, when it has one, its bootstrap interval."""
    return f(e["value"]) + (f" [{f(e['lo'])}, {f(e['hi'])}]" if e.get("lo") is not None else "")


def cell(m: dict, key: str, pct: bool) -> str:
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.3f}")
    if "single" in m and key == "auc":
        return estimate(m["single"]["auc"], f)
    v = m.get(key)
    if not v:
        return ""
    if v["min"] == v["max"]:
        return f(v["mean"])
    return f"{f(v['mean'])} [{f(v['min'])}, {f(v['max'])}]"


def single_p1(m: dict) -> str:
    """P@1% of a single-run method (recency, tier) with its bootstrap interval."""
    for a in m["single"].get("at_k", []):
        if abs(float(a["k_percent"]) - 1.0) < 1e-9:
            return estimate(a["precision"], lambda x: f"{100 * x:.1f}%")
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=os.path.join(HERE, "results", "results.json"))
    args = ap.parse_args()
    with open(args.results) as f:
        d = json.load(f)
    methods: list[str] = []
    for r in d["results"]:
        for m in r["methods"]:
            if m["method"] not in methods:
                methods.append(m["method"])
    for metric, key, pct in (("AUC", "auc", False), ("P@1%", "p_at_1.0", True)):
        print(f"Test-period {metric} (mean over seeds [lowest, highest]; recency and the tier sort: "
              "one run [95% bootstrap interval]):\n")
        print("| dataset | k at 1% | " + " | ".join(methods) + " |")
        print("|---|---|" + "---|" * len(methods))
        for r in d["results"]:
            by = {m["method"]: m for m in r["methods"]}
            k = next((m["k_count"]["1.0"] for m in r["methods"] if m.get("k_count")), "")
            cells = []
            for name in methods:
                m = by.get(name)
                if m is None:
                    cells.append("—")
                elif "single" in m and key != "auc":
                    cells.append(single_p1(m))
                else:
                    cells.append(cell(m, key, pct))
            print(f"| {r['dataset']} | {k} | " + " | ".join(cells) + " |")
        print()
    print("Targets (the shipped recipe against the best GBDT peer on the same inputs; AUC mean "
          "over seeds; 'apart' = seed ranges do not overlap):\n")
    print("| dataset | inputs | ours AUC | best GBDT peer | its AUC | AUC ≥ peer − 0.005 | ours P@1% "
          "| peer P@1% | P@1% ≥ peer | AUC ahead, ranges apart | hpro / binary P@1% |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in d["results"]:
        by = {m["method"]: m for m in r["methods"]}
        for ours_name, inputs in ((OURS_FIELDS, "fields"), (OURS, None)):
            ours = by.get(ours_name)
            if ours is None:
                continue
            inp = inputs or ours["inputs"]
            peers = [m for m in r["methods"] if m["inputs"] == inp and "leadladder" not in m["method"]
                     and m.get("auc") and m.get("runs", 1) and "single" not in m]
            if not peers:
                continue
            best = max(peers, key=lambda m: m["auc"]["mean"])
            best_p = max(peers, key=lambda m: m["p_at_1.0"]["mean"])
            oa, pa = ours["auc"], best["auc"]
            apart = oa["min"] > pa["max"]
            abl = by.get(ABLATION) if inp == ours["inputs"] and ours_name == OURS else None
            ratio = ""
            if abl and abl["p_at_1.0"]["mean"] > 0:
                ratio = f"{ours['p_at_1.0']['mean'] / abl['p_at_1.0']['mean']:.2f}x"
            print(f"| {r['dataset']} | {inp} | {oa['mean']:.3f} | {best['method']} | "
                  f"{pa['mean']:.3f} | {'yes' if oa['mean'] >= pa['mean'] - 0.005 else 'NO'} | "
                  f"{100 * ours['p_at_1.0']['mean']:.1f}% | {100 * best_p['p_at_1.0']['mean']:.1f}% "
                  f"({best_p['method']}) | "
                  f"{'yes' if ours['p_at_1.0']['mean'] >= best_p['p_at_1.0']['mean'] else 'NO'} | "
                  f"{'yes' if apart else 'no'} | {ratio} |")


if __name__ == "__main__":
    main()
