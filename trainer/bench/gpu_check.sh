#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (about 10 minutes on one H100 with a warm
# cargo cache, most of it the first build). Writes bench/gpu/results.md (and results.json).
#
#   1. builds the CLI and the trainer's tests with CUDA and NCCL (`nccl` links libnccl; without
#      NCCL on the machine, NCCL=0 builds with `cuda` alone and skips step 4);
#   2. CPU vs CUDA agreement (trainer/tests/cuda.rs): the tiny preset trained on both devices
#      (losses within 1e-3 relative, test AUC within 0.01), the same weights scored on both
#      (within 1e-4), and the 0.5B-shaped fixture's forward pass (f32 within 1e-3, bf16 base
#      within 5e-2, relative to the hidden states' scale);
#   3. tokens/s and peak GPU memory of `leadladder train` for the tiny, demo and qwen2-lora
#      (0.5B-shaped, bf16 base) presets, beside PyTorch on the same GPU: a from-scratch
#      transformers Qwen2 of the same shape for tiny and demo, PyTorch + PEFT for qwen2-lora
#      (trainer/bench/peft_peer.py);
#   4. with two or more GPUs: 2 ranks on NCCL against one process with --grad-accum 2 (the test
#      period's scores must agree within 1e-4), and the 2-rank tokens/s.
#
# Environment: PY (a python3 with torch, transformers, peft, tokenizers; default python3),
# STEPS (optimiser steps timed per run, default 60), CUDA_COMPUTE_CAP (default: the GPU's),
# NCCL (1), LEADLADDER_REAL_SIZE (the 0.5B-shaped fixture folder; made by
# scripts/real-size-fixture.sh when unset), CARGO_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="${PY:-python3}"
steps="${STEPS:-60}"
nccl="${NCCL:-1}"
out_dir="$root/bench/gpu"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
t_start=$(date +%s)

command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi: this needs a GPU machine" >&2; exit 1; }
command -v nvcc >/dev/null || { echo "gpu_check: nvcc not found (install the CUDA toolkit, or see scripts/check-cuda.sh for the PyPI one)" >&2; exit 1; }
gpu="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)"
n_gpus="$(nvidia-smi -L | wc -l)"
if [ -z "${CUDA_COMPUTE_CAP:-}" ]; then
  CUDA_COMPUTE_CAP="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d .)"
  export CUDA_COMPUTE_CAP
fi
features="leadladder-trainer/cuda"
[ "$nccl" = 1 ] && features="$features,leadladder-trainer/nccl"
echo "== $gpu ($n_gpus GPU(s)), compute cap $CUDA_COMPUTE_CAP, features $features"

echo "== 1. build"
t0=$(date +%s)
cargo build --release --locked -p leadladder-cli --features "$features"
cargo test --release --locked -p leadladder-trainer --features "${features//leadladder-trainer\//}" --test cuda --no-run
build_s=$(( $(date +%s) - t0 ))
bin="${CARGO_TARGET_DIR:-$root/target}/release/leadladder"

if [ -z "${LEADLADDER_REAL_SIZE:-}" ]; then
  LEADLADDER_REAL_SIZE="$(LEADLADDER_BIN="$bin" bash scripts/real-size-fixture.sh | tail -n 1)"
fi
export LEADLADDER_REAL_SIZE

echo "== 2. CPU vs CUDA agreement"
t0=$(date +%s)
cargo test --release --locked -p leadladder-trainer --features "${features//leadladder-trainer\//}" --test cuda -- --test-threads 1 2>&1 | tee "$work/agree.log"
agree="$(grep -E '^test result' "$work/agree.log" | tail -n 1)"
agree_s=$(( $(date +%s) - t0 ))

echo "== 3. throughput"
"$bin" synth --leads 20000 --seed 7 --out "$work/leads.csv" >/dev/null
# Peak GPU memory of a command: nvidia-smi's per-process figure, polled every 100 ms.
peak_of() {
  local log="$1"; shift
  "$@" &
  local pid=$! peak=0
  while kill -0 "$pid" 2>/dev/null; do
    local m
    m="$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null \
      | awk -F', ' -v p="$pid" '$1==p {print $2}' | head -n 1)"
    [ -n "$m" ] && [ "$m" -gt "$peak" ] && peak="$m"
    sleep 0.1
  done
  wait "$pid"
  echo "$peak" > "$log"
}
tps_of() { "$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["epoch"]["tokens_per_s"])' "$1"; }
rows=()
for preset in tiny demo; do
  # One ensemble member, one epoch, STEPS optimiser steps of 32 leads.
  peak_of "$work/$preset.peak" "$bin" train --input "$work/leads.csv" --ladder "$work/leads.toml" \
    --out "$work/$preset.safetensors" --preset "$preset" --ensemble 1 --epochs 1 \
    --train-sample $((steps * 32)) --bootstrap 0 --device cuda:0 >/dev/null
  ours="$(tps_of "$work/$preset.safetensors.metrics.jsonl")"
  # The peer's sequences average our real tokens per lead (train sample less the 10% validation).
  tokens_per_lead="$("$py" -c 'import json,sys; e=json.loads(open(sys.argv[1]).readline())["epoch"]; print(max(8, round(e["tokens_per_s"] * e["seconds"] / (int(sys.argv[2]) * 0.9))))' \
    "$work/$preset.safetensors.metrics.jsonl" $((steps * 32)))"
  peer="$("$py" trainer/bench/peft_peer.py --scratch "$preset" --device cuda:0 --steps "$steps" \
    --batch-size 32 --grad-accum 1 --mean-tokens "$tokens_per_lead" 2>/dev/null | tail -n 1)"
  rows+=("$preset|$ours|$(cat "$work/$preset.peak")|$peer")
done
base="$LEADLADDER_REAL_SIZE/base"
peak_of "$work/lora.peak" "$bin" train --input "$work/leads.csv" --ladder "$work/leads.toml" \
  --out "$work/lora.safetensors" --preset qwen2-lora --base "$base" --epochs 1 \
  --train-sample $((steps * 32)) --max-tokens 128 --bootstrap 0 --device cuda:0 >/dev/null
ours="$(tps_of "$work/lora.safetensors.metrics.jsonl")"
peer="$("$py" trainer/bench/peft_peer.py --base "$base" --input "$work/leads.csv" --device cuda:0 \
  --steps "$steps" --max-tokens 128 2>/dev/null | tail -n 1)"
rows+=("qwen2-lora (0.5B shape, bf16 base)|$ours|$(cat "$work/lora.peak")|$peer")

dp="not run: one GPU"
if [ "$nccl" = 1 ] && [ "$n_gpus" -ge 2 ]; then
  echo "== 4. two ranks on NCCL"
  common=(train --input "$work/leads.csv" --ladder "$work/leads.toml" --preset tiny --epochs 1
    --train-sample $((steps * 64)) --bootstrap 0 --device cuda)
  "$bin" "${common[@]}" --out "$work/one.safetensors" --grad-accum 2 --scores-out "$work/one.csv" >/dev/null
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 \
      "$bin" "${common[@]}" --out "$work/two.safetensors" --grad-accum 1 --scores-out "$work/two.csv" >/dev/null &
  done
  wait
  dp="$("$py" - "$work/one.csv" "$work/two.csv" "$work/one.safetensors.metrics.jsonl" "$work/two.safetensors.metrics.jsonl" <<'EOF'
import csv, json, sys
a = {r["id"]: float(r["score"]) for r in csv.DictReader(open(sys.argv[1]))}
b = {r["id"]: float(r["score"]) for r in csv.DictReader(open(sys.argv[2]))}
d = max(abs(a[k] - b[k]) for k in a)
t1 = json.loads(open(sys.argv[3]).readline())["epoch"]["tokens_per_s"]
t2 = json.loads(open(sys.argv[4]).readline())["epoch"]["tokens_per_s"]
ok = "agree" if d <= 1e-4 else "DIFFER"
print(f"max |Δscore| {d:.2e} ({ok}, tolerance 1e-4); tokens/s one GPU {t1:.0f}, rank 0 of two {t2:.0f}")
EOF
)"
fi

mkdir -p "$out_dir"
"$py" - "$out_dir" "$gpu" "$n_gpus" "$build_s" "$agree" "$agree_s" "$dp" "$steps" "$(git rev-parse --short HEAD)" "${rows[@]}" <<'EOF'
import json, sys
out, gpu, n_gpus, build_s, agree, agree_s, dp, steps, commit, *rows = sys.argv[1:]
table = []
for r in rows:
    name, ours, peak, peer = r.split("|", 3)
    p = json.loads(peer) if peer.strip().startswith("{") else {}
    table.append({"preset": name, "leadladder_tokens_per_s": float(ours), "leadladder_peak_mib": int(peak),
                  "pytorch_tokens_per_s": p.get("tokens_per_s"), "pytorch_peak_mib": p.get("peak_cuda_mib"),
                  "pytorch": p.get("peer"), "versions": p.get("versions")})
res = {"gpu": gpu, "gpus": int(n_gpus), "commit": commit, "steps": int(steps), "build_seconds": int(build_s),
       "agreement": agree, "agreement_seconds": int(agree_s), "data_parallel": dp, "throughput": table}
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
with open(f"{out}/results.md", "w") as f:
    f.write(f"# GPU check\n\n`bash trainer/bench/gpu_check.sh` at commit {commit} on {gpu} ({n_gpus} GPU(s)).\n\n")
    f.write(f"- build: {build_s} s\n- CPU vs CUDA agreement (trainer/tests/cuda.rs): {agree} ({agree_s} s)\n")
    f.write(f"- data parallel, 2 ranks on NCCL vs one process with --grad-accum 2: {dp}\n\n")
    f.write(f"Training throughput, {steps} optimiser steps each (leadladder: real tokens over the epoch; PyTorch: steps 2..N):\n\n")
    f.write("| preset | leadladder tokens/s | leadladder peak MiB | PyTorch tokens/s | PyTorch peak MiB | ratio |\n|---|---:|---:|---:|---:|---:|\n")
    for t in table:
        pt = t["pytorch_tokens_per_s"]
        ratio = f"{t['leadladder_tokens_per_s'] / pt:.2f}x" if pt else "n/a"
        pm = f"{t['pytorch_peak_mib']:.0f}" if t["pytorch_peak_mib"] else "n/a"
        ptxt = f"{pt:.0f}" if pt else "n/a"
        f.write(f"| {t['preset']} | {t['leadladder_tokens_per_s']:.0f} | {t['leadladder_peak_mib']} | {ptxt} | {pm} | {ratio} |\n")
    f.write("\nleadladder's peak is nvidia-smi's per-process figure (CUDA context included); PyTorch's is\n"
            "torch.cuda.max_memory_allocated (tensors only), so the memory columns compare loosely.\n")
print(open(f"{out}/results.md").read())
EOF
echo "gpu_check: $(( $(date +%s) - t_start )) s"
