#!/usr/bin/env bash
# The demo model beside every peer of the benchmark on the same split (web/models/demo.report.md's
# last section): the demo's rank scores from `leadladder rank` and each peer of
# trainer/bench/lightgbm_peer.py (seed 1) in one `leadladder audit`.
#
#   bash bench/quality/demo_report.sh BIN PYTHON WORKDIR
#
# BIN: the leadladder binary; PYTHON: a Python with the peers' packages (bench/quality/run.sh
# installs them); WORKDIR: a folder outside the repository. Prints the audit table (Markdown).
set -euo pipefail
BIN="$1"; PY="$2"; W="$3"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$W"
"$BIN" synth --leads 50000 --seed 7 --out "$W/leads.csv" >&2
"$BIN" rank --model "$ROOT/web/models/demo.int8.safetensors" --input "$W/leads.csv" \
  --out "$W/ranked.csv" --explain 0 >&2
"$BIN" audit --input "$W/leads.csv" --ladder "$W/leads.toml" --bootstrap 0 \
  --rungs-out "$W/rungs.csv" >/dev/null
VARIANTS=fields,lambdarank,tfidf,lambdarank_tfidf,tuned,tuned_tfidf,catboost,catboost_tfidf
RAYON_NUM_THREADS=1 "$PY" "$ROOT/trainer/bench/lightgbm_peer.py" --input "$W/leads.csv" \
  --ladder "$W/leads.toml" --rungs "$W/rungs.csv" --variants "$VARIANTS" --seed 1 \
  --scores-out "$W/peers.csv" --json "$W/peers.json" >&2
"$PY" "$ROOT/bench/quality/demo_peers.py" --leads "$W/leads.csv" --ranked "$W/ranked.csv" \
  --peers "$W/peers.csv" --out "$W/merged.csv"
SCORES=(--score leadladder_demo)
for c in $(head -1 "$W/peers.csv" | tr ',' ' ' | cut -d' ' -f2-); do SCORES+=(--score "$c"); done
"$BIN" audit --input "$W/merged.csv" --ladder "$W/leads.toml" --split temporal --seed 7 "${SCORES[@]}"
