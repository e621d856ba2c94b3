#!/usr/bin/env bash
# LoRA smoke test on CUDA: builds leadladder with the trainer's `cuda` feature, fine-tunes a
# Hugging Face Qwen2 checkpoint with `--preset qwen2-lora` for STEPS optimiser steps (bf16 frozen
# base on CUDA), checks the bundle and the PEFT adapter were written, and prints its training
# tokens/s beside PyTorch + PEFT (trainer/bench/peft_peer.py) on the same checkpoint and leads.
#
#   trainer/bench/cuda_smoke.sh [BASE_DIR]
#
# BASE_DIR defaults to the tiny random checkpoint trainer/tests/fixtures/tiny_qwen2/untied; for a
# realistic size, write a random Qwen2.5-0.5B-shaped one first:
#   python3 trainer/bench/peft_peer.py --make-base /tmp/q05b --tokenizer target/qwen-tokenizer/tokenizer.json
# Environment: DEVICE (cuda:0), STEPS (100), PROFILE (release), PY (python3 with torch,
# transformers, peft, tokenizers), CARGO_TARGET_DIR. DEVICE=cpu runs the same smoke test on the CPU
# without the cuda feature. Needs nvcc (CUDA toolkit) for the cuda build.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
device="${DEVICE:-cuda:0}"
steps="${STEPS:-100}"
profile="${PROFILE:-release}"
py="${PY:-python3}"
base="$(cd "${1:-$root/trainer/tests/fixtures/tiny_qwen2/untied}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

features=()
if [[ "$device" == cuda* ]]; then
  command -v nvcc >/dev/null || { echo "nvcc not found: the cuda feature needs the CUDA toolkit" >&2; exit 1; }
  features=(--features leadladder-trainer/cuda)
fi
(cd "$root" && cargo build --profile "$profile" -p leadladder-cli "${features[@]}")
dir="$profile"; [[ "$profile" == dev ]] && dir=debug
bin="${CARGO_TARGET_DIR:-$root/target}/$dir/leadladder"

"$bin" synth --leads 8000 --seed 7 --out "$work/leads.csv" >/dev/null
# qwen2-lora trains batches of 16 with 2 accumulation steps: 32 leads per optimiser step.
"$bin" train --input "$work/leads.csv" --ladder "$work/leads.toml" --out "$work/q.safetensors" \
  --preset qwen2-lora --base "$base" --device "$device" --epochs 1 \
  --train-sample $((steps * 32)) --max-tokens 128 --bootstrap 0 >/dev/null
test -s "$work/q.safetensors"
test -s "$work/q.safetensors.peft/adapter_model.safetensors"
ours="$("$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["epoch"]["tokens_per_s"])' \
  "$work/q.safetensors.metrics.jsonl")"
peer="$("$py" "$root/trainer/bench/peft_peer.py" --base "$base" --input "$work/leads.csv" \
  --device "$device" --steps "$steps" --max-tokens 128 2>/dev/null | tail -1)"
peer_tps="$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["tokens_per_s"])' "$peer")"
echo "| trainer | device | steps | tokens/s |"
echo "|---|---|---:|---:|"
printf '| leadladder (candle, qwen2-lora) | %s | %s | %.0f |\n' "$device" "$steps" "$ours"
printf '| PyTorch + PEFT | %s | %s | %.0f |\n' "$device" "$steps" "$peer_tps"
echo "base: $base"
