#!/usr/bin/env bash
# Makes (once) the real-size fixture: a Qwen2.5-0.5B-shaped Hugging Face folder with random
# weights and the real Qwen tokenizer (`cargo xtask qwen-fixture`), a small synthetic funnel, and
# the int8 and f16 bundles that `leadladder train --preset qwen2-lora --base` makes of it in a
# few LoRA steps. Prints the folder on its last stdout line (tests read it from
# LEADLADDER_REAL_SIZE; bench/realsize/run.sh takes it as its argument).
#
# The folder is ${LEADLADDER_FIXTURES:-$HOME/.cache/leadladder}/qwen2.5-0.5b-random. Each stage
# is skipped when its output is there; a change of $VERSION (or of the generator's version,
# recorded in base/fixture.json) starts afresh. Uses $LEADLADDER_BIN, else builds the release
# binary. Needs ~2.5 GB of disk and ~10 GB of memory (the trainer loads the base as f32).
#
# What it holds:
#   base/             config.json, model.safetensors (BF16, 494 M parameters), tokenizer.json
#   leads.csv/.toml   40 synthetic leads (seed 22: the test period has buyers, which the audit needs)
#   int8.safetensors  the LoRA-merged bundle, int8 (and .report.md/.json, .peft/ beside it)
#   f16.safetensors   the same training run exported as f16
#   scores.csv        the trainer's own scores (f32, candle) of the 12 test-period leads
set -euo pipefail

VERSION="real-size v1: qwen2.5-0.5b-random v1; synth 40 seed 22; lora r8, 4 leads, batch 1, 64 tokens, 1 epoch, no LM loss"

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LEADLADDER_FIXTURES:-$HOME/.cache/leadladder}/qwen2.5-0.5b-random"
mkdir -p "$dir"

if [[ -f "$dir/VERSION" && "$(cat "$dir/VERSION")" == "$VERSION" && -f "$dir/f16.safetensors" ]]; then
  echo "real-size fixture is current ($VERSION)" >&2
  echo "$dir"
  exit 0
fi
if [[ ! -f "$dir/VERSION" || "$(cat "$dir/VERSION")" != "$VERSION" ]]; then
  # Another recipe: start afresh (the base is kept if its own generator version still matches).
  find "$dir" -mindepth 1 -maxdepth 1 ! -name base -exec rm -rf {} +
fi

stage() { # stage NAME COMMAND...: runs it and reports how long it took
  local name="$1" t0=$SECONDS
  shift
  "$@"
  echo "[real-size] $name: $((SECONDS - t0)) s" >&2
}

if [[ -n "${LEADLADDER_BIN:-}" ]]; then
  bin="$LEADLADDER_BIN"
else
  stage "build leadladder" cargo build --release --locked -p leadladder-cli --manifest-path "$root/Cargo.toml" >&2
  bin="${CARGO_TARGET_DIR:-$root/target}/release/leadladder"
fi

gen_version="$(sed -n 's/^pub const VERSION: &str = "\(.*\)";/\1/p' "$root/xtask/src/qwen_fixture.rs")"
if ! grep -qF "\"$gen_version\"" "$dir/base/fixture.json" 2>/dev/null || [[ ! -f "$dir/base/model.safetensors" ]]; then
  rm -rf "$dir/base"
  stage "base (cargo xtask qwen-fixture)" bash -c "cd '$root' && cargo xtask qwen-fixture --out '$dir/base' >/dev/null"
fi

if [[ ! -f "$dir/leads.toml" ]]; then
  stage "synth" "$bin" synth --leads 40 --seed 22 --out "$dir/leads.csv" --spec "$dir/leads.toml.tmp" >&2
  mv "$dir/leads.toml.tmp" "$dir/leads.toml"
fi

train() { # train DTYPE: the same seeded run, exported as DTYPE
  "$bin" train --input "$dir/leads.csv" --ladder "$dir/leads.toml" --out "$dir/$1.safetensors" \
    --preset qwen2-lora --base "$dir/base" --lora-rank 8 --train-sample 4 --batch-size 1 \
    --epochs 1 --max-tokens 64 --no-semantic --bootstrap 0 --dtype "$1" \
    --scores-out "$dir/scores.$1.csv" >/dev/null
}
for dtype in int8 f16; do
  if [[ ! -f "$dir/$dtype.safetensors" ]]; then
    stage "train + export $dtype" train "$dtype"
  fi
done
if ! cmp -s "$dir/scores.int8.csv" "$dir/scores.f16.csv"; then
  echo "the int8 and f16 training runs scored the test period differently" >&2
  exit 1
fi
cp "$dir/scores.int8.csv" "$dir/scores.csv"
echo "$VERSION" >"$dir/VERSION"
echo "$dir"
