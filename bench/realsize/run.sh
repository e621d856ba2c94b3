#!/usr/bin/env bash
# Real-size CPU benchmark: `leadladder` on the int8 and f16 bundles of the Qwen2.5-0.5B-shaped
# fixture (scripts/real-size-fixture.sh), beside PyTorch + transformers on the same weights and
# the same token ids (bench/torch_peer.py). For each bundle:
#   - `leadladder bench`: forward-only leads/s and GFLOP/s on LEADS leads in batches of BATCH;
#   - `leadladder rank` of 1 lead and of LEADS leads (--explain 0): wall time and peak RSS (GNU
#     time), so load time ≈ rank-1 wall - 1 / leads/s;
#   - torch_peer.py on the ids `leadladder bench --dump-ids` wrote: leads/s, peak RSS, and the
#     largest score difference from leadladder's.
# Writes results.tsv (one line per run) and the raw outputs in the working folder.
#
#   bash bench/realsize/run.sh [FIXTURE_DIR]      # default: $LEADLADDER_REAL_SIZE, else the script's
#   LEADLADDER_BIN=... PYTHON=/path/venv/bin/python THREADS=2 LEADS=32 BATCH=8 bash bench/realsize/run.sh
#
# Needs GNU time (/usr/bin/time); for the peer a Python with torch (CPU), transformers and numpy
# (PYTHON; skipped when it cannot import them).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
fixture="${1:-${LEADLADDER_REAL_SIZE:-}}"
if [[ -z "$fixture" ]]; then
  fixture="$(bash "$root/scripts/real-size-fixture.sh" | tail -n 1)"
fi
bin="${LEADLADDER_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/leadladder}"
python="${PYTHON:-python3}"
threads="${THREADS:-$(nproc)}"
leads="${LEADS:-32}"
batch="${BATCH:-8}"
export RAYON_NUM_THREADS="$threads"

# The first LEADS leads, and the first one alone (a CSV row may span lines: let the CLI's own
# reader count rows, by way of Python's csv module).
"$python" - "$fixture/leads.csv" "$leads" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
n = int(sys.argv[2])
for name, k in (("leads-n.csv", n), ("leads-1.csv", 1)):
    with open(name, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows[: k + 1])
EOF

commit="$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- crates trainer || echo -dirty)"
echo "# commit $commit; fixture $(cat "$fixture/VERSION"); threads $threads; leads $leads; batch $batch" | tee -a results.tsv

# One result line, ending with the load average before it (the machine may be shared).
row() { (IFS=$'\t'; echo "$*	load $load") | tee -a results.tsv; }
load=

for dtype in int8 f16; do
  load="$(cut -d' ' -f1 /proc/loadavg)"
  model="$fixture/$dtype.safetensors"
  /usr/bin/time -o time.txt -f "%e %M" "$bin" bench --model "$model" --input leads-n.csv --leads "$leads" \
    --batch "$batch" --device cpu --dump-ids "ids-$dtype.json" >"bench-$dtype.txt" 2>&1
  read -r wall peak <time.txt
  line="$(grep '^| cpu' "bench-$dtype.txt" | tail -n 1)"
  lps="$(echo "$line" | awk -F'|' '{printf "%.3f", $4 / $5}')"
  gflops="$(echo "$line" | awk -F'|' '{gsub(/ /,"",$7); print $7}')"
  tokens="$(sed -n 's/.* \([0-9.]*\) tokens\/lead on average.*/\1/p' "bench-$dtype.txt")"
  row "$dtype" "bench" "leads/s $lps" "GFLOP/s $gflops" "tokens/lead $tokens" "wall $wall s" "peak $((peak / 1024)) MiB"
  for n in 1 "$leads"; do
    load="$(cut -d' ' -f1 /proc/loadavg)"
    input=leads-n.csv
    [[ $n == 1 ]] && input=leads-1.csv
    /usr/bin/time -o time.txt -f "%e %M" "$bin" rank --model "$model" --input "$input" \
      --out "ranked-$dtype-$n.csv" --explain 0 --threads 1 --batch "$batch" >/dev/null 2>&1
    read -r wall peak <time.txt
    row "$dtype" "rank $n" "wall $wall s" "peak $((peak / 1024)) MiB" "leads/s $(awk -v n="$n" -v w="$wall" 'BEGIN { printf "%.3f", n / w }')"
  done
  load="$(cut -d' ' -f1 /proc/loadavg)"
  if "$python" -c 'import torch, transformers, numpy' 2>/dev/null; then
    /usr/bin/time -o time.txt -f "%e %M" "$python" "$root/bench/torch_peer.py" --bundle "$model" \
      --ids "ids-$dtype.json" --threads "$threads" --out "peer-$dtype.json" >/dev/null 2>"peer-$dtype.err"
    read -r wall peak <time.txt
    peer="$("$python" -c "
import json, sys
r = json.load(open('peer-$dtype.json'))
run = r['runs'][-1]
print(f\"leads/s {run['leads_per_s']:.3f}\ttorch {r['torch']}\tmax |diff| vs leadladder {r.get('max_abs_diff_vs_rust', float('nan')):.2e}\")
")"
    row "$dtype" "torch" "$peer" "wall $wall s" "peak $((peak / 1024)) MiB"
  else
    row "$dtype" "torch" "skipped: $python cannot import torch, transformers and numpy"
  fi
done
