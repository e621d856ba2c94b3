#!/usr/bin/env python3
"""LightGBM peer benchmark for leadladder: a strong tabular learner trained on the same leads, the
same temporal split and the same label as `leadladder train`, scored on the same test period with
the same metric conventions as `leadladder audit --split temporal`, so its rows can sit in the
same table as leadladder's own methods.

What it does
  1. Reads the lead CSV and its ladder spec (TOML). Inputs are exactly the spec's model inputs:
     `columns.categorical` (pandas `category`, categories taken from the fit period; unseen or
     empty -> NaN), `columns.numeric` (float, empty -> NaN), `columns.boolean` (yes/no/true/false
     and the other spellings leadladder accepts -> 0/1, empty -> NaN) and, with `--text tfidf`,
     `columns.text`. The id, created_at, outcome (label and rung) columns, `columns.score` and
     `columns.ignore` are never inputs.
  2. Label: `[label] column / equals` evaluated like leadladder (strings trimmed and compared
     case-insensitively; a missing cell is a negative). For the synthetic funnel that is
     outcome == "locked_in".
  3. Temporal split as crates/core/src/split.rs: leads sorted by (created_at as epoch seconds, id,
     file row); the first round(n * train_fraction) (half away from zero) are the training period,
     the rest the test period. The newest round(n_train * val_fraction) training leads are the
     validation slice (as trainer/src/train.rs); the model is fit on the rest of the training
     period and early-stopped on validation AUC (binary_logloss is logged too).
  4. Metrics on the test period evaluated in FILE order (the test leads in CSV order), as
     crates/core/src/audit.rs does, so ties break the same way: AUC = sklearn roc_auc_score
     (ties count 1/2); top-K = the first ceil(K * n / 100) leads (exact with fractions, clamped
     to [1, n]) in np.argsort(-score, kind="stable") order; P@K = hits / k, recall@K = hits /
     positives, lift@K = P@K / test positive rate. Same rule as
     tests/fixtures/metrics/make_reference.py.

Variants (--variants, comma-separated; default: every one the data allows)
  fields      binary objective on the label, fields only ("lightgbm binary (fields)").
  lambdarank  lambdarank on the ladder's grades ("lightgbm lambdarank (ladder grades)"): the
              graded label is `leadladder audit --rungs-out`'s `grade` (bit R-1-k set when the lead
              is `better` at rung k, so the top rung outweighs all below), queries are
              consecutive blocks of 500 leads of the time-ordered fit period (a day's queue, not
              the whole year at once), early stopping on the validation AUC of the binary label.
              Needs --rungs.
  tfidf       binary objective, fields plus the spec's text columns (joined with a newline) ->
              TfidfVectorizer(word 1-2 grams, max_features=2000, sublinear_tf) ->
              TruncatedSVD(32) -> 32 dense features ("lightgbm binary (fields + tf-idf)").
              Vectorizer and SVD are fit on the fit period only (the training period without
              the validation slice, like leadladder's tokenizer); validation and test leads are
              only transformed. Only where the spec has text columns.
  --text none|tfidf|both is the older spelling of --variants fields|tfidf|fields,tfidf.

Labels: with --rungs FILE (written by `leadladder audit --rungs-out FILE`), labels and grades
are leadladder's own reading of the spec (any condition); without it only `[label]
column/equals` is supported.

Reproduce (CPU, single thread):
  python3 -m venv /tmp/lgbm-venv
  /tmp/lgbm-venv/bin/pip install lightgbm pandas numpy scikit-learn
  OMP_NUM_THREADS=1 /tmp/lgbm-venv/bin/python trainer/bench/lightgbm_peer.py \
      --input leads.csv --ladder leads.toml --seed 7 --json lightgbm_peer.json
  (leads.csv / leads.toml from `leadladder synth`, e.g. 20,000 leads with seed 7.)
  Cross-check against leadladder's own metric code (training-period scores are in-sample, but
  `--split temporal` audits only the test period):
  ... lightgbm_peer.py --input leads.csv --ladder leads.toml --scored-csv scored.csv
  leadladder audit --input scored.csv --ladder leads.toml --split temporal --bootstrap 0 \
      --score lightgbm_fields --score lightgbm_fields_tfidf

Seeds
  --seed (default 7) seeds LightGBM (seed, bagging, feature fraction; deterministic=True,
  num_threads=1) and TruncatedSVD (random_state). Split and metrics involve no randomness. With
  the same library versions (printed in the JSON) reruns give identical numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import tomllib
from fractions import Fraction

os.environ.setdefault("OMP_NUM_THREADS", "1")

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn.decomposition import TruncatedSVD  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

K_PERCENTS = ["0.1", "1", "10"]  # decimal strings, read exactly with Fraction
VARIANTS = {
    "fields": "lightgbm binary (fields)",
    "lambdarank": "lightgbm lambdarank (ladder grades)",
    "tfidf": "lightgbm binary (fields + tf-idf)",
}
SCORE_COLUMNS = {
    "fields": "lightgbm_fields",
    "lambdarank": "lightgbm_lambdarank",
    "tfidf": "lightgbm_fields_tfidf",
}
QUERY_SIZE = 500
TFIDF_FEATURES = 2000
SVD_DIMS = 32

# Chosen once on the VALIDATION slice of the 20,000-lead synth (seed 7) among num_leaves
# {7, 15, 31} x min_data_in_leaf {20, 100} x learning_rate {0.05, 0.02}, early stopping on AUC or
# logloss; the test period was never looked at. Small trees win: ~200 positives in the fit period.
LGB_PARAMS = {
    "objective": "binary",
    "metric": ["auc", "binary_logloss"],
    "first_metric_only": True,  # early stopping watches validation AUC
    "learning_rate": 0.02,
    "num_leaves": 7,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}
MAX_ROUNDS = 3000
EARLY_STOP = 200

# crates/core/src/value.rs parse_bool
TRUE = {"true", "t", "yes", "y", "1", "1.0", "on", "x", "是", "有", "真"}
FALSE = {"false", "f", "no", "n", "0", "0.0", "off", "否", "无", "没有", "假"}


def warn(msg: str) -> None:
    print(f"lightgbm_peer: {msg}", file=sys.stderr)


def normalize_name(name: str) -> str:
    """crates/core/src/spec.rs normalize_name: BOM, trim, lowercase, runs of space _ - . -> _."""
    out, pending = [], False
    for c in name.lstrip("\ufeff").strip():
        if c.isspace() or c in "_-.":
            pending = bool(out)
        else:
            if pending:
                out.append("_")
                pending = False
            out.append(c.lower())
    return "".join(out)


def parse_bool(s: str) -> float:
    t = s.strip().lower()
    return 1.0 if t in TRUE else 0.0 if t in FALSE else math.nan


_CURRENCY = re.compile(r"^[$€£¥￥]\s*")


def parse_number(s: str) -> float:
    """Plain numbers, with a leading currency sign, trailing % or `,` thousands separators."""
    t = _CURRENCY.sub("", s.strip())
    if t.endswith("%"):
        t = t[:-1].strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", t):
        t = t.replace(",", "")
    try:
        x = float(t)
    except ValueError:
        return math.nan
    return x if math.isfinite(x) else math.nan


def round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5))  # x >= 0 here; Rust f64::round


def top_k_count(k_percent: str, n: int) -> int:
    return max(1, min(n, math.ceil(Fraction(k_percent) * n / 100)))


def load(csv_path: str, spec: dict) -> pd.DataFrame:
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    # Rows whose cells are all blank are not data rows (ingest.rs).
    blank = df.apply(lambda col: col.str.strip() == "").all(axis=1)
    df = df[~blank].reset_index(drop=True)
    by_norm = {normalize_name(c): c for c in df.columns}
    cols = spec["columns"]
    wanted = [cols["id"], cols["created_at"], spec["label"]["column"]]
    for role in ("categorical", "numeric", "boolean", "text"):
        wanted += cols.get(role, [])
    missing = [w for w in wanted if normalize_name(w) not in by_norm]
    if missing:
        sys.exit(f"lightgbm_peer: columns missing from {csv_path}: {missing}")
    return df.rename(columns={by_norm[normalize_name(w)]: w for w in wanted})


def labels(df: pd.DataFrame, cond: dict) -> np.ndarray:
    if set(cond) != {"column", "equals"}:
        sys.exit(f"lightgbm_peer: only `[label] column/equals` is supported (found {sorted(cond)})")
    cells = df[cond["column"]].str.strip()
    want = cond["equals"]
    if isinstance(want, bool):
        y = cells.map(parse_bool) == float(want)
    elif isinstance(want, (int, float)):
        y = cells.map(parse_number) == float(want)
    else:
        y = (cells.str.lower() == str(want).strip().lower()) & (cells != "")
    return y.to_numpy(dtype=bool)


def epoch_seconds(col: pd.Series) -> np.ndarray:
    s = col.str.strip()
    digits = s.str.fullmatch(r"\d{9,10}|\d{12,13}")
    out = np.empty(len(s), dtype=np.int64)
    if digits.any():
        v = s[digits].astype(np.int64).to_numpy()
        out[digits.to_numpy()] = np.where(s[digits].str.len().to_numpy() > 10, v // 1000, v)
    rest = ~digits
    if rest.any():
        ts = pd.to_datetime(s[rest], utc=True, format="ISO8601", errors="coerce")
        if ts.isna().any():
            bad = s[rest][ts.isna()].iloc[0]
            sys.exit(f"lightgbm_peer: created_at {bad!r} is not an ISO 8601 time or epoch")
        ns = ts.astype("datetime64[ns, UTC]").astype(np.int64).to_numpy()
        out[rest.to_numpy()] = ns // 1_000_000_000  # floor to whole seconds
    return out


def temporal_split(df: pd.DataFrame, spec: dict, train_fraction: float):
    n = len(df)
    n_train = round_half_away(n * train_fraction)
    if not 0 < n_train < n:
        sys.exit(f"lightgbm_peer: a {train_fraction} split of {n} leads leaves one side empty")
    t = epoch_seconds(df[spec["columns"]["created_at"]])
    ids = df[spec["columns"]["id"]].str.strip().tolist()
    # Python str order is code-point order = Rust's UTF-8 byte order.
    order = sorted(range(n), key=lambda i: (t[i], ids[i], i))
    return np.array(order[:n_train]), np.array(order[n_train:])


def field_features(df: pd.DataFrame, spec: dict, fit_idx: np.ndarray) -> pd.DataFrame:
    cols = spec["columns"]
    feats = {}
    for c in cols.get("categorical", []):
        v = df[c].str.strip().replace("", np.nan)
        cats = sorted(v.iloc[fit_idx].dropna().unique())
        feats[c] = pd.Categorical(v, categories=cats)
    for c in cols.get("numeric", []):
        raw = df[c].str.strip()
        x = raw.map(parse_number)
        bad = int(((raw != "") & x.isna()).sum())
        if bad:
            warn(f"{bad} unparsable values in numeric column {c!r} read as missing")
        feats[c] = x.astype(float)
    for c in cols.get("boolean", []):
        raw = df[c].str.strip()
        x = raw.map(parse_bool)
        bad = int(((raw != "") & x.isna()).sum())
        if bad:
            warn(f"{bad} unparsable values in boolean column {c!r} read as missing")
        feats[c] = x.astype(float)
    return pd.DataFrame(feats)


def text_features(df: pd.DataFrame, spec: dict, fit_idx: np.ndarray, seed: int) -> pd.DataFrame:
    text_cols = spec["columns"].get("text", [])
    if not text_cols:
        sys.exit("lightgbm_peer: --text tfidf needs `columns.text` in the spec")
    sep = spec.get("parse", {}).get("turn_separator", "\n")
    docs = df[text_cols].apply(lambda r: "\n".join(r), axis=1)
    if sep != "\n":
        docs = docs.str.replace(sep, "\n", regex=False)
    tfidf = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), max_features=TFIDF_FEATURES, sublinear_tf=True,
        dtype=np.float32,
    )
    tfidf.fit(docs.iloc[fit_idx])
    svd = TruncatedSVD(n_components=SVD_DIMS, random_state=seed)
    svd.fit(tfidf.transform(docs.iloc[fit_idx]))
    z = svd.transform(tfidf.transform(docs))
    return pd.DataFrame(z, columns=[f"text_svd_{i:02d}" for i in range(SVD_DIMS)])


def ranking_metrics(score: np.ndarray, label: np.ndarray) -> dict:
    n = len(score)
    positives = int(label.sum())
    base = positives / n
    order = np.argsort(-score, kind="stable")
    at_k = []
    for k_str in K_PERCENTS:
        k = top_k_count(k_str, n)
        hits = int(label[order[:k]].sum())
        p = hits / k
        at_k.append({
            "k_percent": float(k_str), "k_count": k, "hits": hits, "precision": p,
            "recall": hits / positives if positives else math.nan,
            "lift": p / base if base else math.nan,
        })
    return {"n": n, "positives": positives, "auc": float(roc_auc_score(label, score)), "at_k": at_k}


def groups(n: int) -> list[int]:
    return [QUERY_SIZE] * (n // QUERY_SIZE) + ([n % QUERY_SIZE] if n % QUERY_SIZE else [])


def run_variant(name, X, y, fit_idx, val_idx, test_file_order, seed, grades=None):
    t0 = time.perf_counter()
    evals: dict = {}
    if grades is None:
        params = dict(LGB_PARAMS, seed=seed)
        dfit = lgb.Dataset(X.iloc[fit_idx], label=y[fit_idx], free_raw_data=False)
        dval = lgb.Dataset(X.iloc[val_idx], label=y[val_idx], reference=dfit, free_raw_data=False)
        feval = None
    else:
        params = dict(LGB_PARAMS, seed=seed, objective="lambdarank", metric="None")
        dfit = lgb.Dataset(X.iloc[fit_idx], label=grades[fit_idx], group=groups(len(fit_idx)),
                           free_raw_data=False)
        dval = lgb.Dataset(X.iloc[val_idx], label=grades[val_idx], group=groups(len(val_idx)),
                           reference=dfit, free_raw_data=False)
        y_val = y[val_idx]

        def feval(preds, _data):  # early stopping on the binary label's AUC, as the others
            return "auc", float(roc_auc_score(y_val, preds)), True
    booster = lgb.train(
        params, dfit, num_boost_round=MAX_ROUNDS, valid_sets=[dval], valid_names=["val"],
        feval=feval,
        callbacks=[
            lgb.early_stopping(EARLY_STOP, first_metric_only=True, verbose=False),
            lgb.record_evaluation(evals),
        ],
    )
    best = booster.best_iteration
    all_scores = np.asarray(booster.predict(X, num_iteration=best), dtype=np.float64)
    m = ranking_metrics(all_scores[test_file_order], y[test_file_order])
    m.update({
        "method": name,
        "best_iteration": best,
        "val_auc": float(evals["val"]["auc"][best - 1]),
        "features": list(X.columns),
        "seconds": time.perf_counter() - t0,
    })
    if "binary_logloss" in evals["val"]:
        m["val_logloss"] = float(evals["val"]["binary_logloss"][best - 1])
    return m, all_scores


def markdown(rows: list[dict]) -> str:
    head = ["method", "n", "positives", "AUC"]
    for k in K_PERCENTS:
        head += [f"P@{k}%", f"R@{k}%", f"lift@{k}%"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["method"], str(r["n"]), str(r["positives"]), f"{r['auc']:.4f}"]
        for a in r["at_k"]:
            cells += [f"{a['precision']:.4f} ({a['hits']}/{a['k_count']})", f"{a['recall']:.4f}",
                      f"{a['lift']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, help="lead CSV")
    ap.add_argument("--ladder", required=True, help="ladder spec (TOML)")
    ap.add_argument("--train-fraction", type=float, default=0.7)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--variants", help="comma-separated: fields, lambdarank, tfidf "
                    "[default: all the data allows]")
    ap.add_argument("--text", choices=["none", "tfidf", "both"],
                    help="older spelling of --variants (none=fields, both=fields,tfidf)")
    ap.add_argument("--rungs", help="`leadladder audit --rungs-out` CSV: labels and grades")
    ap.add_argument("--scores-out", help="write the test period's scores here (id plus one "
                    "column per variant)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--scored-csv", help="write the input CSV plus one score column per variant "
                    f"({', '.join(SCORE_COLUMNS.values())}), for `leadladder audit --score`")
    args = ap.parse_args()
    if not 0 < args.train_fraction < 1:
        sys.exit("lightgbm_peer: --train-fraction must be strictly between 0 and 1")

    with open(args.ladder, "rb") as f:
        spec = tomllib.load(f)
    df = load(args.input, spec)
    grades = None
    if args.rungs:
        rungs = pd.read_csv(args.rungs, dtype=str, keep_default_na=False)
        by_id = dict(zip(rungs["id"], range(len(rungs))))
        ids = df[spec["columns"]["id"]].str.strip()
        missing = [i for i in ids if i not in by_id]
        if missing or len(rungs) != len(df):
            sys.exit(f"lightgbm_peer: {args.rungs} does not match {args.input} "
                     f"({len(rungs)} vs {len(df)} leads; first unmatched id {missing[:1]})")
        pos = ids.map(by_id).to_numpy()
        y = rungs["label"].to_numpy()[pos] == "1"
        grades = rungs["grade"].astype(int).to_numpy()[pos]
    else:
        y = labels(df, spec["label"])
    train, test = temporal_split(df, spec, args.train_fraction)
    n_val = round_half_away(len(train) * args.val_fraction)
    if not 0 < n_val < len(train):
        sys.exit(f"lightgbm_peer: a validation share of {args.val_fraction} leaves no "
                 f"validation or no fit leads ({len(train)} in the training period)")
    fit_idx, val_idx = train[: len(train) - n_val], train[len(train) - n_val:]
    test_file_order = np.sort(test)  # evaluate in file order, as audit.rs
    warn(f"{len(df)} leads: fit {len(fit_idx)} ({int(y[fit_idx].sum())} positive), "
         f"validation {len(val_idx)} ({int(y[val_idx].sum())}), "
         f"test {len(test)} ({int(y[test].sum())})")

    if args.variants:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    elif args.text:
        variants = {"none": ["fields"], "tfidf": ["tfidf"], "both": ["fields", "tfidf"]}[args.text]
    else:
        variants = ["fields"] + (["lambdarank"] if grades is not None else []) + (
            ["tfidf"] if spec["columns"].get("text") else [])
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"lightgbm_peer: unknown variant {v!r} (known: {', '.join(VARIANTS)})")
        if v == "lambdarank" and grades is None:
            sys.exit("lightgbm_peer: the lambdarank variant needs --rungs")
    fields = field_features(df, spec, fit_idx)
    rows, scored = [], {}
    for v in variants:
        X = fields if v != "tfidf" else pd.concat(
            [fields, text_features(df, spec, fit_idx, args.seed)], axis=1)
        r, all_scores = run_variant(VARIANTS[v], X, y, fit_idx, val_idx, test_file_order,
                                    args.seed, grades if v == "lambdarank" else None)
        scored[SCORE_COLUMNS[v]] = all_scores
        warn(f"{r['method']}: best iteration {r['best_iteration']}, "
             f"validation AUC {r['val_auc']:.4f}, {r['seconds']:.1f} s")
        rows.append(r)
    print(markdown(rows))

    if args.scores_out:
        ids = df[spec["columns"]["id"]].str.strip().to_numpy()
        out = pd.DataFrame({"id": ids[test_file_order]})
        for name, col in scored.items():
            out[name] = [repr(float(x)) for x in col[test_file_order]]
        out.to_csv(args.scores_out, index=False, lineterminator="\n")

    if args.scored_csv:
        # Re-read untouched so every original cell is written back as it was.
        raw = pd.read_csv(args.input, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        raw = raw[~raw.apply(lambda col: col.str.strip() == "").all(axis=1)].reset_index(drop=True)
        for name, col in scored.items():
            raw[name] = [repr(float(x)) for x in col]
        raw.to_csv(args.scored_csv, index=False, lineterminator="\n")

    if args.json:
        out = {
            "generator": f"trainer/bench/lightgbm_peer.py (lightgbm {lgb.__version__}, "
                         f"scikit-learn {sklearn.__version__}, pandas {pd.__version__}, "
                         f"numpy {np.__version__}, python {sys.version.split()[0]})",
            "input": args.input, "ladder": args.ladder,
            "train_fraction": args.train_fraction, "val_fraction": args.val_fraction,
            "seed": args.seed,
            "split": {"fit_n": len(fit_idx), "val_n": len(val_idx), "test_n": len(test),
                      "train_positive_rate": float(y[train].mean()),
                      "test_positive_rate": float(y[test].mean())},
            "lightgbm_params": dict(LGB_PARAMS, seed=args.seed, max_rounds=MAX_ROUNDS,
                                    early_stopping_rounds=EARLY_STOP),
            "k_percents": [float(k) for k in K_PERCENTS],
            "methods": rows,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
