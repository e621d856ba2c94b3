#!/usr/bin/env bash
# The quality benchmark (bench/quality/bench.py): every method on the same split of the synthetic
# funnel and of the public funnels in ../shared/data, audited together.
#
#   bash bench/quality/run.sh            # the full run: synth 200,000 leads, synth-drift 50,000,
#                                        # the public funnels, demo preset, 3 seeds
#   bash bench/quality/run.sh --quick    # synth and synth-drift 20,000 leads each, tiny preset,
#                                        # 3 seeds, results in bench/quality/results-quick
#   bash bench/quality/run.sh --only synth-drift olist    # some datasets (any bench.py option
#                                        # passes: --seeds 1,2,3,4,5, --synth-leads N, ...)
#
# Installs the peers' Python packages (pinned) in a virtual environment under the cache folder
# (LEADLADDER_QUALITY_CACHE, default /var/tmp/leadladder-quality), builds the leadladder binary
# (release profile), and writes bench/quality/results/results.{md,json} (or --results DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${LEADLADDER_QUALITY_CACHE:-/var/tmp/leadladder-quality}"
mkdir -p "$CACHE"
VENV="$CACHE/venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  lightgbm==4.7.0 catboost==1.2.10 pandas==3.1.1 numpy==2.4.6 scikit-learn==1.9.1 \
  openpyxl==3.1.5

cargo build --release --locked -p leadladder-cli
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/leadladder"

ARGS=()
QUICK=0
for a in "$@"; do
  if [ "$a" = "--quick" ]; then QUICK=1; else ARGS+=("$a"); fi
done
if [ "$QUICK" = 1 ]; then
  SIZE=(--synth-leads 20000 --synth-drift-leads 20000 --preset tiny
        --results bench/quality/results-quick)
else
  SIZE=(--synth-leads 200000 --synth-drift-leads 50000 --preset demo)
fi

exec "$VENV/bin/python" bench/quality/bench.py --bin "$BIN" --python "$VENV/bin/python" \
  --cache "$CACHE" --command "bash bench/quality/run.sh $*" "${SIZE[@]}" "${ARGS[@]}"
