#!/usr/bin/env python3
"""Turns the four public funnels of ../shared/data into lead CSVs that `leadladder` and the
LightGBM peer read with the ladder specs in bench/quality/specs/.

    python3 bench/quality/prepare.py --data ../shared/data --out /var/tmp/leadladder-quality/data

Writes <out>/<name>.csv for each dataset whose folder is present (and says which are absent).
Uses only the Python standard library (plus openpyxl for PersuasionForGood's 300 annotated
dialogues, optional: without it that rung is empty and the script says so). Deterministic: the
same inputs give byte-identical CSVs. Nothing here is committed data: the CSVs stay outside the
repository.

What each file holds (outcome columns are rung or label material only; the specs never list them
as inputs, and leadladder refuses a spec that does):

xeducation  9,240 leads of the X Education case study (Leads.csv). No timestamp: `created_at` is
            2020-01-01 plus `Lead Number` seconds (the MANIFEST's creation-order proxy), so the
            70:30 "temporal" split is by Lead Number, NOT a real time split. "Select" (an
            unanswered form field) is blank. Outcomes: converted, lead_quality, tags,
            last_activity, last_notable_activity (sales-team fields filled after contact).
olist       8,000 marketing-qualified leads (2017-06..2018-05), first contact date as created_at,
            real temporal split. Inputs are thin: origin, landing_page_id, contact weekday.
            Outcomes: won (closed deal), sold (the won seller appears in the sellers table).
hillstrom   64,000 customers of the MineThatData e-mail campaign. One campaign, no time: ids are
            row numbers and `created_at` is a seeded pseudo-random permutation, so the split is a
            RANDOM 70:30 split (stated in the results). Outcomes: conversion, visit, spend.
p4g         1,017 PersuasionForGood dialogues (persuadee side): the dialogue text (both roles,
            one turn per line), the persuadee's background and personality scores; created_at
            from the timestamp in the dialogue id. Outcomes: donated (actual donation > 0),
            intended (the annotated intended donation > 0; 300 dialogues annotated, blank
            otherwise).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from datetime import datetime, timedelta, timezone

EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def snake(name: str) -> str:
    out, pending = [], False
    for c in name.strip().lower():
        if c.isalnum():
            if pending and out:
                out.append("_")
            pending = False
            out.append(c)
        else:
            pending = True
    return "".join(out)


def write(path: str, header: list[str], rows: list[list[str]]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)
    print(f"prepare: wrote {path} ({len(rows)} leads)", file=sys.stderr)


# --- X Education --------------------------------------------------------------------------

XED_OUTCOMES = ["Converted", "Tags", "Lead Quality", "Last Activity", "Last Notable Activity"]
XED_DROPPED = [  # leak (sales-team scores filled after contact) or ids
    "Prospect ID", "Lead Number", "Lead Profile", "Asymmetrique Activity Index",
    "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score", "",
]


def xeducation(src: str, out: str) -> None:
    with open(os.path.join(src, "Leads.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    col = {h: i for i, h in enumerate(header)}
    inputs = [h for h in header if h not in XED_OUTCOMES and h not in XED_DROPPED]
    out_header = ["lead_id", "created_at"] + [snake(h) for h in inputs] + [snake(h) for h in XED_OUTCOMES]
    data = []
    for r in body:
        clean = lambda h: "" if r[col[h]].strip() == "Select" else r[col[h]].strip()  # noqa: E731
        created = EPOCH + timedelta(seconds=int(r[col["Lead Number"]]))
        data.append([r[col["Prospect ID"]], iso(created)] + [clean(h) for h in inputs]
                    + [clean(h) for h in XED_OUTCOMES])
    write(os.path.join(out, "xeducation.csv"), out_header, data)


# --- Olist --------------------------------------------------------------------------------

def olist(src: str, out: str) -> None:
    def read(name):
        with open(os.path.join(src, name), encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    mql = read("olist_marketing_qualified_leads_dataset.csv")
    deals = {d["mql_id"]: d for d in read("olist_closed_deals_dataset.csv")}
    sellers = {s["seller_id"] for s in read("olist_sellers_dataset.csv")}
    header = ["lead_id", "created_at", "origin", "landing_page_id", "contact_weekday", "won", "sold"]
    data = []
    for m in mql:
        t = datetime.strptime(m["first_contact_date"].strip(), "%Y-%m-%d").replace(tzinfo=timezone.utc)
        d = deals.get(m["mql_id"])
        won = d is not None
        sold = won and d["seller_id"] in sellers
        data.append([m["mql_id"], iso(t), m["origin"].strip(), m["landing_page_id"].strip(),
                     t.strftime("%a"), "yes" if won else "no", "yes" if sold else "no"])
    write(os.path.join(out, "olist.csv"), header, data)


# --- Hillstrom ----------------------------------------------------------------------------

def hillstrom(src: str, out: str) -> None:
    with open(os.path.join(src, "hillstrom.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    inputs = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie",
              "channel", "segment"]
    header = ["customer_id", "created_at"] + inputs + ["visit", "conversion", "spend"]
    data = []
    for i, r in enumerate(rows):
        cid = f"H{i + 1:05d}"
        # A seeded pseudo-random order (no time in this data): a hash of the id.
        h = int.from_bytes(hashlib.sha256(f"hillstrom-order/{cid}".encode()).digest()[:4], "big")
        created = EPOCH + timedelta(seconds=h % (365 * 86400))
        data.append([cid, iso(created)] + [r[c].strip() for c in inputs]
                    + [r["visit"].strip(), r["conversion"].strip(), r["spend"].strip()])
    write(os.path.join(out, "hillstrom.csv"), header, data)


# --- PersuasionForGood --------------------------------------------------------------------

def p4g(src: str, out: str) -> None:
    with open(os.path.join(src, "FullData", "full_info.csv"), encoding="utf-8", newline="") as f:
        info = [r for r in csv.DictReader(f) if r["B4"].strip() == "1"]
    turns: dict[str, list[tuple[int, int, str]]] = {}
    with open(os.path.join(src, "FullData", "full_dialog.csv"), encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            turns.setdefault(r["B2"], []).append((int(r["Turn"]), int(r[""]), r["B4"], r["Unit"]))
    intended: dict[str, str] = {}
    xlsx = os.path.join(src, "AnnotatedData", "300_info.xlsx")
    try:
        import openpyxl  # type: ignore

        ws = openpyxl.load_workbook(xlsx, read_only=True).active
        rows = list(ws.iter_rows(values_only=True))
        h = [str(c) for c in rows[0]]
        for r in rows[1:]:
            rec = dict(zip(h, r))
            # Persuadee rows of the annotated dialogues; a blank B5 means no intended donation
            # was stated (198 of 300 state one, as the dataset's paper reports).
            if str(rec.get("B4")).strip() in ("1", "1.0"):
                stated = rec.get("B5") is not None and float(rec["B5"]) > 0
                intended[str(rec["B2"]).strip()] = "yes" if stated else "no"
    except ImportError:
        # Without it every lead's `intended` would be blank: the spec's second rung would form
        # no pair, and HPRO and lambdarank would silently train on another ladder.
        sys.exit("prepare: p4g needs openpyxl to read the annotated intended donations "
                 f"({xlsx}); pip install openpyxl (bench/quality/run.sh installs it)")
    traits = [k for k in info[0] if k.endswith(".x")]
    categorical = {"sex.x", "race.x", "edu.x", "marital.x", "employment.x", "religion.x", "ideology.x"}
    header = (["dialogue_id", "created_at"] + [k[:-2] for k in traits]
              + ["dialogue", "donated", "donation", "intended"])
    data = []
    for r in info:
        did = r["B2"].strip()
        stamp = did.removeprefix("BAD_").split("_")[0]
        t = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
        lines = [f"{'persuader' if role == '0' else 'persuadee'}: {' '.join(text.split())}"
                 for _, _, role, text in sorted(turns.get(did, []))]
        donation = float(r["B6"]) if r["B6"].strip() else 0.0
        vals = []
        for k in traits:
            v = r[k].strip()
            vals.append(v if k in categorical or v == "" else repr(float(v)))
        data.append([did, iso(t)] + vals + ["\n".join(lines), "yes" if donation > 0 else "no",
                     repr(min(donation, 2.0)), intended.get(did, "")])
    write(os.path.join(out, "p4g.csv"), header, data)


DATASETS = {
    "xeducation": ("xeducation-leads", xeducation),
    "olist": ("olist-funnel", olist),
    "hillstrom": ("hillstrom-email", hillstrom),
    "p4g": ("persuasionforgood", p4g),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../../shared/data"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", choices=sorted(DATASETS))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, (folder, fn) in DATASETS.items():
        if args.only and name not in args.only:
            continue
        src = os.path.join(args.data, folder)
        if not os.path.isdir(src):
            print(f"prepare: {src} is absent: skipping {name}", file=sys.stderr)
            continue
        fn(src, args.out)


if __name__ == "__main__":
    main()
