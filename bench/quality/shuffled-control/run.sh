#!/usr/bin/env bash
# The shuffled-label control of trainer/tests/fields.rs, twelve times: the training period's
# ladder columns of `synth --leads 4000 --seed 11` permuted with six seeds (shuffle.py), each file
# trained with two model seeds, and the test-period AUC of each model printed.
#
#   bash bench/quality/shuffled-control/run.sh BIN WORKDIR
set -euo pipefail
BIN="$1"; W="$2"; HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$W"
"$BIN" synth --leads 4000 --seed 11 --out "$W/s4k.csv" >/dev/null
for p in 1 2 3 4 5 6; do
  python3 "$HERE/shuffle.py" "$W/s4k.csv" "$W/p$p.csv" "$p"
  for s in 7 8; do
    RAYON_NUM_THREADS=1 "$BIN" train --input "$W/p$p.csv" --ladder "$W/s4k.toml" \
      --out "$W/p$p.s$s.safetensors" --preset tiny --max-tokens 40 --no-semantic \
      --bootstrap 0 --seed "$s" > "$W/p$p.s$s.log" 2>&1
    python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['methods'][-1]; print(sys.argv[2], round(m['auc']['value'], 3))" \
      "$W/p$p.s$s.safetensors.report.json" "permutation $p, seed $s:"
  done
done
