#!/usr/bin/env python3
"""Merges the ranked CSVs that `leadladder rank` wrote for shards of one file into one queue: rows in
leadladder's queue order (score descending, then the newer created_at, then the smaller id), with
`rank` and `grade` recomputed over all leads (grades are per file: A is the top 5%, B to 20%, C to
50%, D the rest, cut-offs rounded up). Each shard is already in that order, so this is a k-way
merge that holds one row per shard; the shards are read twice (first to count the leads).

created_at cells are compared as text, which orders ISO 8601 timestamps written one way (what
`leadladder synth` writes); parse them first if your export mixes formats.

    python3 bench/volume/merge_ranked.py --out ranked.csv shards/*.ranked.csv
"""
import argparse
import csv
import heapq


def grade(rank: int, n: int) -> str:
    for letter, percent in (("A", 5), ("B", 20), ("C", 50)):
        if rank <= (n * percent + 99) // 100:
            return letter
    return "D"


class Key:
    """Queue order: `a < b` when a comes first."""

    __slots__ = ("score", "created", "id")

    def __init__(self, score: float, created: str, id_: str):
        self.score, self.created, self.id = score, created, id_

    def __lt__(self, other: "Key") -> bool:
        if self.score != other.score:
            return self.score > other.score
        if self.created != other.created:
            return self.created > other.created
        return self.id < other.id


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--id", default="lead_id", help="the id column (default lead_id)")
    p.add_argument("--created-at", default="created_at", help="the created_at column")
    args = p.parse_args()

    def rows(path):
        with open(path, newline="", encoding="utf-8") as f:
            r = csv.reader(f)
            next(r)
            yield from r

    with open(args.shards[0], newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    # The five columns leadladder appends, whatever they are called (`rank_leadladder`, ...).
    rank_col, score_col, grade_col = len(header) - 5, len(header) - 4, len(header) - 2
    id_col, created_col = header.index(args.id), header.index(args.created_at)
    n = sum(sum(1 for _ in rows(s)) for s in args.shards)

    def keyed(path):
        for row in rows(path):
            yield Key(float(row[score_col]), row[created_col], row[id_col]), row

    with open(args.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        merged = heapq.merge(*(keyed(s) for s in args.shards), key=lambda kr: kr[0])
        for k, (_, row) in enumerate(merged, start=1):
            row[rank_col], row[grade_col] = str(k), grade(k, n)
            w.writerow(row)
    print(f"merged {n} leads from {len(args.shards)} shards into {args.out}")


if __name__ == "__main__":
    main()
