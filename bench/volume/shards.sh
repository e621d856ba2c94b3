#!/usr/bin/env bash
# The "beyond one machine" worked example (bench/volume/README.md): a file cut into shards on
# record boundaries, each ranked by its own `leadladder rank` (two at a time, one thread each),
# merged into one queue by score, and compared with ranking the whole file on one machine.
#
#   B=target/release/leadladder bash bench/volume/shards.sh [leads] [shards]
#
# Run it in an empty folder; prints the timings and bench/compare_ranked.py's comparison.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
B="${B:?set B to a release build of leadladder}"
M="${M:-$here/../../web/models/demo.int8.safetensors}"
n="${1:-20000}"
k="${2:-4}"
secs() { date +%s.%N; }

"$B" synth --leads "$n" --seed 5 --out leads.csv >/dev/null 2>&1
rm -rf shards && python3 "$here/split_csv.py" leads.csv shards "$k" --key lead_id
t0=$(secs)
ls shards/part-*.csv | xargs -P 2 -I{} "$B" rank --model "$M" --input {} --out {}.ranked \
  --threads 1 --explain 10 2>/dev/null
t1=$(secs)
python3 "$here/merge_ranked.py" --out ranked.csv shards/*.ranked
t2=$(secs)
"$B" rank --model "$M" --input leads.csv --out whole.csv --explain 10 2>/dev/null
t3=$(secs)
printf 'shards: %s x %s leads, ranked two at a time in %.1f s; merge %.1f s; whole file (all cores) %.1f s\n' \
  "$k" "$((n / k))" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" "$(echo "$t3 - $t2" | bc -l)"
python3 - ranked.csv whole.csv <<'PY'
import csv, sys
a = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
b = list(csv.DictReader(open(sys.argv[2], newline="", encoding="utf-8")))
ga = {r["lead_id"]: r for r in a}
gb = {r["lead_id"]: r for r in b}
assert ga.keys() == gb.keys(), "the merged queue and the whole-file queue hold different leads"
diff = [abs(float(ga[i]["score"]) - float(gb[i]["score"])) for i in ga]
first = next((i + 1 for i, (x, y) in enumerate(zip(a, b)) if x["lead_id"] != y["lead_id"]), None)
print(f"leads {len(a)} in both; grades equal: {all(ga[i]['grade'] == gb[i]['grade'] for i in ga)}; "
      f"top 100 same order: {[r['lead_id'] for r in a[:100]] == [r['lead_id'] for r in b[:100]]}; "
      f"scores differing: {sum(d > 0 for d in diff)} (largest {max(diff):.1e}); "
      f"order first differs at rank {first}")
PY
