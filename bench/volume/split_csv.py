#!/usr/bin/env python3
"""Splits a lead CSV into N shards of whole records, each with the header. Quoted cells may hold
line breaks, so `split -l` would cut leads in two; this reads records. Lead k goes to shard k mod N,
or with --key to the shard of a hash of that column (trimmed), so that rows repeating an id land in
one shard, where `leadladder rank` finds them as it does in one file.

    python3 bench/volume/split_csv.py leads.csv shards 4 --key lead_id   # shards/part-000.csv ...
"""
import argparse
import csv
import os
import zlib


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("out_dir")
    p.add_argument("shards", type=int)
    p.add_argument("--key", help="shard by a hash of this column instead of round robin")
    args = p.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    n = args.shards
    files = [
        open(os.path.join(args.out_dir, f"part-{i:03}.csv"), "w", newline="", encoding="utf-8")
        for i in range(n)
    ]
    writers = [csv.writer(f, lineterminator="\n") for f in files]
    with open(args.input, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows)
        key = header.index(args.key) if args.key else None
        for w in writers:
            w.writerow(header)
        for k, row in enumerate(rows):
            if key is None or key >= len(row):
                shard = k % n
            else:
                shard = zlib.crc32(row[key].strip().encode("utf-8")) % n
            writers[shard].writerow(row)
    for f in files:
        f.close()


if __name__ == "__main__":
    main()
