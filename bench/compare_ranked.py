#!/usr/bin/env python3
"""Compares two ranked CSVs written by `leadladder rank` for the same input (e.g. --device cpu
and --device wgpu): Spearman correlation of the scores, the largest score and p_convert
differences, and whether the top of the queue is the same.

    python3 bench/compare_ranked.py cpu.csv wgpu.csv [--top 100]

Standard library only. Exits 1 when Spearman < 0.999 or a p_convert differs by more than 1e-3.
"""
import argparse
import csv
import sys


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no rows")
    key = "lead_id" if "lead_id" in rows[0] else next(iter(rows[0]))
    return key, rows


def ranks(values):
    """Average ranks (ties share the mean rank)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / (va * vb) ** 0.5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--top", type=int, default=100)
    args = ap.parse_args()
    key, a = read(args.a)
    _, b = read(args.b)
    by_id = {r[key]: r for r in b}
    missing = [r[key] for r in a if r[key] not in by_id]
    if missing or len(a) != len(b):
        sys.exit(f"the files hold different leads ({len(a)} vs {len(b)}; {len(missing)} of the first not in the second)")
    sa = [float(r["score"]) for r in a]
    sb = [float(by_id[r[key]]["score"]) for r in a]
    pa = [float(r["p_convert"]) for r in a]
    pb = [float(by_id[r[key]]["p_convert"]) for r in a]
    rho = spearman(sa, sb)
    dscore = max(abs(x - y) for x, y in zip(sa, sb))
    dp = max(abs(x - y) for x, y in zip(pa, pb))
    top_a = [r[key] for r in a[: args.top]]
    top_b = [r[key] for r in b[: args.top]]
    overlap = len(set(top_a) & set(top_b))
    print(f"leads {len(a)}; Spearman {rho:.6f}; max |score diff| {dscore:.2e}; max |p_convert diff| {dp:.2e}")
    print(f"top lead {top_a[0]} vs {top_b[0]}; top {args.top} overlap {overlap}/{args.top}; "
          f"same top-{args.top} order: {top_a == top_b}")
    ok = rho >= 0.999 and dp <= 1e-3
    print("OK" if ok else "FAIL: Spearman < 0.999 or p_convert differs by more than 1e-3")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
