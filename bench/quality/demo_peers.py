#!/usr/bin/env python3
"""The demo model beside its LightGBM peers on the same split (web/models/demo.report.md).

    leadladder synth --leads 50000 --seed 7 --out leads.csv
    leadladder rank --model web/models/demo.int8.safetensors --input leads.csv --out ranked.csv
    leadladder audit --input leads.csv --ladder leads.toml --bootstrap 0 --rungs-out rungs.csv
    python trainer/bench/lightgbm_peer.py --input leads.csv --ladder leads.toml --rungs rungs.csv \
        --variants fields,lambdarank,tfidf \
        --seed 1 --scores-out lightgbm.csv --json lightgbm.json
    python bench/quality/demo_peers.py --leads leads.csv --ranked ranked.csv \
        --peers lightgbm.csv --out merged.csv
    leadladder audit --input merged.csv --ladder leads.toml --split temporal --seed 7 \
        --score leadladder_demo --score lightgbm_fields --score lightgbm_lambdarank \
        --score lightgbm_fields_tfidf

Writes --out: the leads with one column per method: the demo's rank score (from `leadladder rank`,
every row) and each LightGBM variant's test-period score (blank in the training period, which
`audit --split temporal` does not read).
"""

import argparse
import csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", required=True)
    ap.add_argument("--ranked", required=True, help="`leadladder rank` output")
    ap.add_argument("--peers", required=True, help="lightgbm_peer.py --scores-out CSV")
    ap.add_argument("--out", required=True)
    ap.add_argument("--id", default="lead_id")
    args = ap.parse_args()

    with open(args.ranked, newline="", encoding="utf-8") as f:
        demo = {row[args.id]: row["score"] for row in csv.DictReader(f)}
    with open(args.peers, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        peer_header = next(r)[1:]
        peers = {row[0]: row[1:] for row in r}
    with open(args.leads, newline="", encoding="utf-8") as f, \
            open(args.out, "w", newline="", encoding="utf-8") as g:
        r = csv.reader(f)
        w = csv.writer(g, lineterminator="\n")
        header = next(r)
        at = header.index(args.id)
        w.writerow(header + ["leadladder_demo"] + peer_header)
        for row in r:
            lead = row[at]
            if lead not in demo:
                raise SystemExit(f"{args.ranked}: no score for lead {lead!r}")
            w.writerow(row + [demo[lead]] + peers.get(lead, [""] * len(peer_header)))


if __name__ == "__main__":
    main()
