#!/usr/bin/env python3
"""Tabular peers for leadladder (LightGBM and CatBoost): strong tabular learners trained on the
same leads, the same temporal split and the same label as `leadladder train`, scored on the same
test period with the same metric conventions as `leadladder audit --split temporal`, so their
rows can sit in the same table as leadladder's own methods.

What it does
  1. Reads the lead CSV and its ladder spec (TOML). Inputs are exactly the spec's model inputs:
     `columns.categorical` (pandas `category`, categories taken from the fit period; unseen or
     empty -> NaN), `columns.numeric` (float, empty -> NaN), `columns.boolean` (yes/no/true/false
     and the other spellings leadladder accepts -> 0/1, empty -> NaN) and, for the tf-idf
     variants, `columns.text`. The id, created_at, outcome (label and rung) columns,
     `columns.score` and `columns.ignore` are never inputs.
  2. Label: `[label] column / equals` evaluated like leadladder (strings trimmed and compared
     case-insensitively; a missing cell is a negative). For the synthetic funnel that is
     outcome == "locked_in".
  3. Temporal split as crates/core/src/split.rs: leads sorted by (created_at as epoch seconds, id,
     file row); the first round(n * train_fraction) (half away from zero) are the training period,
     the rest the test period. The newest round(n_train * val_fraction) training leads are the
     validation slice (as trainer/src/train.rs); every model is fit on the rest of the training
     period (the fit period) and early-stopped on validation AUC (binary_logloss is logged too).
     Everything that is chosen (tuned parameters, the best iteration, the text vocabulary) is
     chosen on the fit period and the validation slice; the test period is only scored.
  4. Metrics on the test period evaluated in FILE order (the test leads in CSV order), as
     crates/core/src/audit.rs does, so ties break the same way: AUC = sklearn roc_auc_score
     (ties count 1/2); top-K = the first ceil(K * n / 100) leads (exact with fractions, clamped
     to [1, n]) in np.argsort(-score, kind="stable") order; P@K = hits / k, recall@K = hits /
     positives, lift@K = P@K / test positive rate. Same rule as
     tests/fixtures/metrics/make_reference.py.

Variants (--variants, comma-separated; default: every one the data allows). Each writes one score
column; the JSON names each column's method (family) and the inputs it reads.
  fields            LightGBM binary on the label, fields only, fixed parameters (LGB_PARAMS)
                    ("lightgbm binary (fields)", column lightgbm_fields).
  lambdarank        LightGBM lambdarank on the ladder's grades, fixed parameters ("lightgbm
                    lambdarank (ladder grades)", lightgbm_lambdarank): the graded label is
                    `leadladder audit --rungs-out`'s `grade` (bit R-1-k set when the lead is
                    `better` at rung k, so the top rung outweighs all below), queries are
                    consecutive blocks of 500 leads of the time-ordered fit period (a day's
                    queue, not the whole year at once), early stopping on the validation AUC of
                    the binary label. Needs --rungs.
  tfidf             as fields, plus the text features below ("lightgbm binary (fields +
                    tf-idf)", lightgbm_fields_tfidf).
  lambdarank_tfidf  as lambdarank, plus the text features ("lightgbm lambdarank (ladder grades,
                    fields + tf-idf)", lightgbm_lambdarank_tfidf).
  tuned             LightGBM binary, fields only, parameters tuned on the validation slice, then
                    a seed bag ("lightgbm binary tuned, 3-seed bag (fields)",
                    lightgbm_tuned_fields). The grid (tuning_grid) is num_leaves {7, 15, 31, 63}
                    x min_data_in_leaf {5, 20, 50, 100} x learning_rate {0.03, 0.1} x
                    feature_fraction {0.7, 1.0}, plus the fixed LGB_PARAMS as one more
                    candidate (so the chosen validation AUC is never below the fixed
                    variant's); min_data_in_leaf values above a tenth of the fit period are
                    dropped and replaced by 2 (p4g's 641 fit leads get {2, 5, 20, 50}), so a
                    small dataset is not forced into heavy leaves. Every candidate is trained
                    with --seed and early-stopped on validation AUC; the candidate with the best
                    validation AUC (the first in grid order on a tie) is chosen. The chosen
                    parameters are then trained with --bag seeds (seed, seed + 1000, seed +
                    2000, ...; the first is the tuning run itself) and the bag's predicted
                    probabilities are averaged: that average is the variant's score.
  tuned_tfidf       as tuned, plus the text features (lightgbm_tuned_fields_tfidf).
  catboost          CatBoost with its default parameters (CatBoostClassifier: Logloss, 1,000
                    iterations, automatic learning rate, depth 6), the categorical columns as
                    native cat_features (the raw trimmed strings; empty -> "(blank)"), early
                    stopping (200 rounds) and use_best_model on the validation AUC,
                    thread_count=1; a --bag seed bag as above, probabilities averaged
                    ("catboost defaults, 3-seed bag (fields)", catboost_fields).
  catboost_tfidf    as catboost, plus the text features (catboost_fields_tfidf).
  Text features: the spec's text columns (joined with a newline) -> TfidfVectorizer(word 1-2
  grams, max_features=2000, sublinear_tf) -> TruncatedSVD(32, random_state=--seed) -> 32 dense
  features. Vectorizer and SVD are fit on the fit period only (like leadladder's tokenizer);
  validation and test leads are only transformed. Only where the spec has text columns.
  --text none|tfidf|both is the older spelling of --variants fields|tfidf|fields,tfidf.

Labels: with --rungs FILE (written by `leadladder audit --rungs-out FILE`), labels and grades
are leadladder's own reading of the spec (any condition); without it only `[label]
column/equals` is supported.

Reproduce (CPU, single thread):
  python3 -m venv /tmp/peer-venv
  /tmp/peer-venv/bin/pip install lightgbm==4.7.0 catboost==1.2.10 pandas==3.1.1 numpy==2.4.6 \
      scikit-learn==1.9.1
  OMP_NUM_THREADS=1 /tmp/peer-venv/bin/python trainer/bench/lightgbm_peer.py \
      --input leads.csv --ladder leads.toml --seed 7 --json peer.json
  (leads.csv / leads.toml from `leadladder synth`, e.g. 20,000 leads with seed 7.)
  Cross-check against leadladder's own metric code (training-period scores are in-sample, but
  `--split temporal` audits only the test period):
  ... lightgbm_peer.py --input leads.csv --ladder leads.toml --scored-csv scored.csv
  leadladder audit --input scored.csv --ladder leads.toml --split temporal --bootstrap 0 \
      --score lightgbm_fields --score lightgbm_tuned_fields --score catboost_fields

Seeds
  --seed (default 7) seeds LightGBM (seed, bagging, feature fraction; deterministic=True,
  num_threads=1), CatBoost (random_seed, thread_count=1) and TruncatedSVD (random_state); the
  bagged variants also use seed + 1000 * j for their j-th bag member. Split and metrics involve
  no randomness. With the same library versions (recorded in the JSON) reruns give identical
  numbers.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import re
import sys
import time
import tomllib
from dataclasses import dataclass
from fractions import Fraction

os.environ.setdefault("OMP_NUM_THREADS", "1")

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.decomposition import TruncatedSVD  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

K_PERCENTS = ["0.1", "1", "10"]  # decimal strings, read exactly with Fraction


@dataclass(frozen=True)
class Variant:
    key: str
    method: str  # the family name in the results table
    column: str  # the score column
    learner: str  # "lightgbm" (fixed parameters), "tuned" (grid + bag), "catboost" (bag)
    text: bool  # reads the tf-idf text features
    rank: bool = False  # lambdarank on the ladder's grades

    @property
    def inputs(self) -> str:
        return "fields + text" if self.text else "fields"


def variants_for(bag: int) -> dict[str, Variant]:
    vs = [
        Variant("fields", "lightgbm binary (fields)", "lightgbm_fields", "lightgbm", False),
        Variant("lambdarank", "lightgbm lambdarank (ladder grades)", "lightgbm_lambdarank",
                "lightgbm", False, rank=True),
        Variant("tfidf", "lightgbm binary (fields + tf-idf)", "lightgbm_fields_tfidf",
                "lightgbm", True),
        Variant("lambdarank_tfidf", "lightgbm lambdarank (ladder grades, fields + tf-idf)",
                "lightgbm_lambdarank_tfidf", "lightgbm", True, rank=True),
        Variant("tuned", f"lightgbm binary tuned, {bag}-seed bag (fields)",
                "lightgbm_tuned_fields", "tuned", False),
        Variant("tuned_tfidf", f"lightgbm binary tuned, {bag}-seed bag (fields + tf-idf)",
                "lightgbm_tuned_fields_tfidf", "tuned", True),
        Variant("catboost", f"catboost defaults, {bag}-seed bag (fields)", "catboost_fields",
                "catboost", False),
        Variant("catboost_tfidf", f"catboost defaults, {bag}-seed bag (fields + tf-idf)",
                "catboost_fields_tfidf", "catboost", True),
    ]
    return {v.key: v for v in vs}


QUERY_SIZE = 500
TFIDF_FEATURES = 2000
SVD_DIMS = 32
BAG_SEED_STEP = 1000

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

# The tuned variants' grid (tuning_grid adapts min_data_in_leaf to the fit period's size); the
# other LGB_PARAMS entries (bagging 0.8 every round, lambda_l2 1) stay as they are.
GRID = {
    "num_leaves": [7, 15, 31, 63],
    "min_data_in_leaf": [5, 20, 50, 100],
    "learning_rate": [0.03, 0.1],
    "feature_fraction": [0.7, 1.0],
}
SMALL_LEAF = 2  # replaces the min_data_in_leaf values a small fit period drops

# The CatBoost settings that are not CatBoost's defaults: evaluation and stopping on the
# validation slice, one thread, no files.
CATBOOST_SETTINGS = {
    "eval_metric": "AUC",
    "use_best_model": True,
    "early_stopping_rounds": EARLY_STOP,
    "thread_count": 1,
    "verbose": False,
    "allow_writing_files": False,
}
BLANK_CATEGORY = "(blank)"

# crates/core/src/value.rs parse_bool
TRUE = {"true", "t", "yes", "y", "1", "1.0", "on", "x", "是", "有", "真"}
FALSE = {"false", "f", "no", "n", "0", "0.0", "off", "否", "无", "没有", "假"}


def warn(msg: str) -> None:
    print(f"lightgbm_peer: {msg}", file=sys.stderr, flush=True)


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("lightgbm", "catboost", "scikit-learn", "numpy", "pandas"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


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
        feats[c] = pd.Categorical(v.where(v.isin(cats)), categories=cats)  # unseen -> NaN
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


def catboost_frame(df: pd.DataFrame, spec: dict, fields: pd.DataFrame):
    """The fields for CatBoost: categorical columns as their raw trimmed strings (CatBoost's own
    statistics handle values unseen in the fit period), the rest as for LightGBM."""
    cats = list(spec["columns"].get("categorical", []))
    X = fields.copy()
    for c in cats:
        X[c] = df[c].str.strip().replace("", BLANK_CATEGORY).astype(str)
    return X, cats


def text_features(df: pd.DataFrame, spec: dict, fit_idx: np.ndarray, seed: int) -> pd.DataFrame:
    text_cols = spec["columns"].get("text", [])
    if not text_cols:
        sys.exit("lightgbm_peer: the tf-idf variants need `columns.text` in the spec")
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


def tuning_grid(n_fit: int) -> list[dict]:
    """GRID's candidates for a fit period of n_fit leads, then the fixed LGB_PARAMS."""
    leaves = [v for v in GRID["min_data_in_leaf"] if v * 10 <= n_fit]
    if len(leaves) < len(GRID["min_data_in_leaf"]):
        leaves = [SMALL_LEAF] + leaves
    out = [
        {"num_leaves": nl, "min_data_in_leaf": md, "learning_rate": lr, "feature_fraction": ff}
        for nl in GRID["num_leaves"] for md in leaves for lr in GRID["learning_rate"]
        for ff in GRID["feature_fraction"]
    ]
    fixed = {k: LGB_PARAMS[k] for k in GRID}
    if fixed not in out:
        out.append(fixed)
    return out


def fit_lightgbm(params, X, y, fit_idx, val_idx, grades=None) -> dict:
    """One LightGBM model, early-stopped on validation AUC; scores for every lead."""
    t0 = time.perf_counter()
    evals: dict = {}
    if grades is None:
        dfit = lgb.Dataset(X.iloc[fit_idx], label=y[fit_idx], free_raw_data=False)
        dval = lgb.Dataset(X.iloc[val_idx], label=y[val_idx], reference=dfit, free_raw_data=False)
        feval = None
    else:
        params = dict(params, objective="lambdarank", metric="None")
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
    scores = np.asarray(booster.predict(X, num_iteration=best), dtype=np.float64)
    out = {"best_iteration": best, "val_auc": float(evals["val"]["auc"][best - 1]),
           "seconds": time.perf_counter() - t0, "scores": scores}
    if "binary_logloss" in evals["val"]:
        out["val_logloss"] = float(evals["val"]["binary_logloss"][best - 1])
    return out


def fit_catboost(seed, X, cats, y, fit_idx, val_idx) -> dict:
    from catboost import CatBoostClassifier, Pool

    t0 = time.perf_counter()
    yi = y.astype(np.int64)
    fit_pool = Pool(X.iloc[fit_idx], yi[fit_idx], cat_features=cats)
    val_pool = Pool(X.iloc[val_idx], yi[val_idx], cat_features=cats)
    model = CatBoostClassifier(random_seed=seed, **CATBOOST_SETTINGS)
    model.fit(fit_pool, eval_set=val_pool)
    scores = np.asarray(model.predict_proba(Pool(X, cat_features=cats))[:, 1], dtype=np.float64)
    p = model.get_all_params()
    return {
        "best_iteration": int(model.tree_count_),  # trees kept (use_best_model), 1-based
        "val_auc": float(roc_auc_score(y[val_idx], scores[val_idx])),
        "seconds": time.perf_counter() - t0,
        "params": {k: p.get(k) for k in (
            "loss_function", "iterations", "learning_rate", "depth", "l2_leaf_reg",
            "border_count", "one_hot_max_size", "random_strength", "bootstrap_type",
            "bagging_temperature", "grow_policy", "leaf_estimation_method", "nan_mode",
            "od_type", "od_wait", "random_seed", "thread_count")},
        "scores": scores,
    }


def member(seed: int, fit: dict) -> dict:
    return {"seed": seed} | {k: v for k, v in fit.items() if k != "scores"}


def run_variant(v: Variant, X, y, fit_idx, val_idx, seed, bag, grades=None, cats=None):
    """Trains one variant; returns (JSON row without test metrics, scores for every lead)."""
    t0 = time.perf_counter()
    row: dict = {"method": v.method, "column": v.column, "variant": v.key, "inputs": v.inputs,
                 "learner": v.learner, "seed": seed}
    if v.learner == "lightgbm":
        params = dict(LGB_PARAMS, seed=seed)
        fit = fit_lightgbm(params, X, y, fit_idx, val_idx, grades if v.rank else None)
        row.update(member(seed, fit), params=dict(params, max_rounds=MAX_ROUNDS,
                                                  early_stopping_rounds=EARLY_STOP))
        if v.rank:
            row["params"].update(objective="lambdarank", metric="None")
        scores = fit["scores"]
    else:
        seeds = [seed + BAG_SEED_STEP * j for j in range(bag)]
        fits = []
        if v.learner == "tuned":
            grid = tuning_grid(len(fit_idx))
            trials, best = [], None
            t_tune = time.perf_counter()
            for cand in grid:
                fit = fit_lightgbm(dict(LGB_PARAMS, **cand, seed=seed), X, y, fit_idx, val_idx)
                trials.append({"params": cand} | member(seed, fit))
                if best is None or fit["val_auc"] > best[1]["val_auc"]:
                    best = (cand, fit)
            chosen, fit0 = best
            row["tuning"] = {"grid": grid, "trials": trials, "chosen": chosen,
                             "val_auc": fit0["val_auc"], "seconds": time.perf_counter() - t_tune}
            params = dict(LGB_PARAMS, **chosen)
            row["params"] = dict(params, max_rounds=MAX_ROUNDS, early_stopping_rounds=EARLY_STOP)
            fits.append(fit0)  # the tuning run is the bag's first member (same seed)
            for s in seeds[1:]:
                fits.append(fit_lightgbm(dict(params, seed=s), X, y, fit_idx, val_idx))
            warn(f"{v.method}: chose {chosen} of {len(grid)} candidates "
                 f"(validation AUC {fit0['val_auc']:.4f})")
        else:
            for s in seeds:
                fits.append(fit_catboost(s, X, cats, y, fit_idx, val_idx))
            row["params"] = dict(CATBOOST_SETTINGS, cat_features=cats,
                                 chosen_by_catboost=fits[0]["params"])
        scores = np.mean([f["scores"] for f in fits], axis=0)
        row["bag"] = [member(s, f) for s, f in zip(seeds, fits)]
        row["best_iteration"] = [f["best_iteration"] for f in fits]
        row["val_auc"] = float(roc_auc_score(y[val_idx], scores[val_idx]))
        row["val_auc_members"] = [f["val_auc"] for f in fits]
    row["features"] = list(X.columns)
    row["seconds"] = time.perf_counter() - t0
    return row, scores


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
    ap.add_argument("--input", help="lead CSV (required)")
    ap.add_argument("--ladder", help="ladder spec (TOML) (required)")
    ap.add_argument("--train-fraction", type=float, default=0.7)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bag", type=int, default=3,
                    help="seeds per bagged variant (tuned*, catboost*) [default: 3]")
    ap.add_argument("--variants", help="comma-separated, of: " + ", ".join(variants_for(3))
                    + " [default: all the data allows]")
    ap.add_argument("--text", choices=["none", "tfidf", "both"],
                    help="older spelling of --variants (none=fields, both=fields,tfidf)")
    ap.add_argument("--rungs", help="`leadladder audit --rungs-out` CSV: labels and grades")
    ap.add_argument("--scores-out", help="write the test period's scores here (id plus one "
                    "column per variant)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--list-variants", action="store_true",
                    help="print the variants (key, method, column, inputs, ...) as JSON and exit")
    ap.add_argument("--scored-csv", help="write the input CSV plus one score column per variant "
                    "(e.g. lightgbm_fields), for `leadladder audit --score`")
    args = ap.parse_args()
    if not 0 < args.train_fraction < 1:
        sys.exit("lightgbm_peer: --train-fraction must be strictly between 0 and 1")
    if args.bag < 1:
        sys.exit("lightgbm_peer: --bag must be at least 1")
    known = variants_for(args.bag)
    if args.list_variants:
        print(json.dumps([dict(vars(v), inputs=v.inputs) for v in known.values()], indent=1))
        return
    if not args.input or not args.ladder:
        ap.error("--input and --ladder are required")

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

    has_text = bool(spec["columns"].get("text"))
    if args.variants:
        chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    elif args.text:
        chosen = {"none": ["fields"], "tfidf": ["tfidf"], "both": ["fields", "tfidf"]}[args.text]
    else:
        chosen = [k for k, v in known.items()
                  if (has_text or not v.text) and (grades is not None or not v.rank)]
    for v in chosen:
        if v not in known:
            sys.exit(f"lightgbm_peer: unknown variant {v!r} (known: {', '.join(known)})")
        if known[v].rank and grades is None:
            sys.exit(f"lightgbm_peer: the {v} variant needs --rungs")
    fields = field_features(df, spec, fit_idx)
    text = text_features(df, spec, fit_idx, args.seed) if any(
        known[v].text for v in chosen) else None
    cb_fields = None
    rows, scored = [], {}
    for key in chosen:
        v = known[key]
        cats = None
        if v.learner == "catboost":
            if cb_fields is None:
                cb_fields, cb_cats = catboost_frame(df, spec, fields)
            X, cats = cb_fields, cb_cats
        else:
            X = fields
        if v.text:
            X = pd.concat([X, text], axis=1)
        row, all_scores = run_variant(v, X, y, fit_idx, val_idx, args.seed, args.bag, grades,
                                      cats)
        m = ranking_metrics(all_scores[test_file_order], y[test_file_order])
        m.update(row)
        scored[v.column] = all_scores
        warn(f"{v.method}: best iteration {row['best_iteration']}, "
             f"validation AUC {row['val_auc']:.4f}, {row['seconds']:.1f} s")
        rows.append(m)
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
        ver = versions()
        out = {
            "generator": "trainer/bench/lightgbm_peer.py ("
                         + ", ".join(f"{k} {v}" for k, v in ver.items() if v) + ")",
            "versions": ver,
            "input": args.input, "ladder": args.ladder,
            "train_fraction": args.train_fraction, "val_fraction": args.val_fraction,
            "seed": args.seed, "bag": args.bag,
            "bag_seeds": [args.seed + BAG_SEED_STEP * j for j in range(args.bag)],
            "split": {"fit_n": len(fit_idx), "val_n": len(val_idx), "test_n": len(test),
                      "train_positive_rate": float(y[train].mean()),
                      "test_positive_rate": float(y[test].mean())},
            "lightgbm_params": dict(LGB_PARAMS, seed=args.seed, max_rounds=MAX_ROUNDS,
                                    early_stopping_rounds=EARLY_STOP),
            "grid": {"axes": GRID, "small_leaf": SMALL_LEAF,
                     "candidates": tuning_grid(len(fit_idx)),
                     "rule": "min_data_in_leaf values above a tenth of the fit period are "
                             "replaced by small_leaf; the fixed parameters are one more "
                             "candidate; best validation AUC wins, first in grid order on a tie"},
            "catboost_settings": CATBOOST_SETTINGS,
            "k_percents": [float(k) for k in K_PERCENTS],
            "methods": rows,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
