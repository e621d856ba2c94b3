#!/usr/bin/env bash
# Volume benchmark of `leadladder rank`: leads/s and peak RSS for synthetic files of several sizes,
# before (the in-memory pipeline of `main`) and after (the streamed one), and the scoring-thread
# settings. Writes one line per run to results.tsv in the working folder.
#
#   BEFORE=/path/to/leadladder-from-main AFTER=/path/to/leadladder bash bench/volume/run.sh sizes 10000 100000
#   AFTER=/path/to/leadladder bash bench/volume/run.sh threads 10000
#   BEFORE=... AFTER=... bash bench/volume/run.sh audit 100000 1000000
#
# Both binaries are release builds (`cargo build --release -p leadladder-cli`). Needs GNU time
# (/usr/bin/time) for the peak RSS.
set -euo pipefail

MODEL="${MODEL:-$(cd "$(dirname "$0")/../.." && pwd)/web/models/demo.int8.safetensors}"
AFTER="${AFTER:?set AFTER to the leadladder binary to measure}"
mode="${1:?sizes, threads or audit}"
shift

# leads-N.csv, made once per size with a fixed seed.
leads() {
  local n=$1
  [ -s "leads-$n.csv" ] || "$AFTER" synth --leads "$n" --seed 31 --out "leads-$n.csv" --spec leads.toml >/dev/null 2>&1
  echo "leads-$n.csv"
}

# One run: label, leads, binary, then the command's arguments; `{out}` in them is replaced by an
# output path. Appends wall s, user s, sys s, peak KiB, leads/s (end to end), the load average
# before the run, and the hash of the output (the ranked file, or what the command printed).
measure() {
  local label=$1 n=$2 bin=$3
  shift 3
  local out="out-$label-$n" load args=()
  for a in "$@"; do args+=("${a//\{out\}/$out.csv}"); done
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -o time.txt -f "%e %U %S %M" nice -n 10 "$bin" "${args[@]}" >"$out.stdout" 2>/dev/null
  read -r wall user sys peak <time.txt
  local hash
  if [ -s "$out.csv" ]; then hash=$(sha256sum "$out.csv" | cut -c1-16); else hash=$(sha256sum "$out.stdout" | cut -c1-16); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\n' "$label" "$n" "$wall" "$user" "$sys" "$peak" \
    "$(echo "$n / $wall" | bc -l)" "$load" "$hash" | tee -a results.tsv
  rm -f "$out.csv" "$out.stdout"
}

rank() { measure "$1" "$2" "$3" rank --model "$MODEL" --out "{out}" "${@:4}"; }

case "$mode" in
  sizes)
    for n in "$@"; do
      f=$(leads "$n")
      if [ -n "${BEFORE:-}" ]; then
        rank before "$n" "$BEFORE" --input "$f"
      fi
      rank after "$n" "$AFTER" --input "$f"
    done
    ;;
  threads)
    n=${1:-10000}
    f=$(leads "$n")
    for rep in 1 2; do
      rank "t1-k0" "$n" "$AFTER" --input "$f" --threads 1 --kernel-threads 0
      rank "t1-k1" "$n" "$AFTER" --input "$f" --threads 1 --kernel-threads 1
      rank "t2-k0" "$n" "$AFTER" --input "$f" --threads 2 --kernel-threads 0
      rank "t2-k1" "$n" "$AFTER" --input "$f" --threads 2 --kernel-threads 1
      rank "t2-k1-shared" "$n" "$AFTER" --input "$f" --threads 2 --kernel-threads 1 --share-model
    done
    ;;
  audit)
    for n in "$@"; do
      f=$(leads "$n")
      for who in before after; do
        bin=$AFTER
        [ "$who" = before ] && bin=${BEFORE:?set BEFORE for the audit runs}
        measure "audit-$who" "$n" "$bin" audit --input "$f" --ladder leads.toml --score crm_score \
          --bootstrap 0 --json
      done
    done
    ;;
  *)
    echo "unknown mode $mode (sizes, threads or audit)" >&2
    exit 2
    ;;
esac
