#!/usr/bin/env bash
# Compiles the CUDA and NCCL build of the workspace (the trainer, the CLI and their tests) with
# warnings as errors. No GPU is needed: the CUDA 13.4 compiler comes from PyPI (`nvcc`, `cicc`)
# and is installed once into a cached prefix outside the clone; candle's CUDA kernels are then
# compiled by that `nvcc` for CUDA_COMPUTE_CAP (default 80, the oldest architecture for which
# candle builds every kernel, bf16 included; its PTX runs on newer GPUs through the driver's JIT).
# Linking a CUDA binary needs the driver's libcuda and the NCCL library, which only a GPU machine
# has: trainer/bench/gpu_check.sh does that.
#
#   bash scripts/check-cuda.sh            # clippy --workspace --all-targets, cuda + nccl
#   LEADLADDER_CUDA_PREFIX=/opt/cu13 bash scripts/check-cuda.sh
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="${LEADLADDER_CUDA_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/leadladder/cuda-13.4}"
py="$prefix/venv/bin/python"
# cudarc 0.19's build script refuses CUDA 13.5; these wheels carry nvcc, cicc, the CUDA headers
# and the runtime for 13.4, and CCCL (`nv/target`, which cuda_fp16.h includes; CCCL's wheels are
# versioned apart from the toolkit's).
wheels=("nvidia-cuda-nvcc==13.4.92" "nvidia-nvvm==13.4.92" "nvidia-cuda-crt==13.4.92"
  "nvidia-cuda-runtime==13.4.*" "nvidia-cuda-cccl==13.3.5.0.6")

cuda_dir() { "$py" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))' 2>/dev/null; }

if [ ! -x "$py" ] || [ ! -x "$(cuda_dir)/bin/nvcc" ] || [ ! -d "$(cuda_dir)/include/nv" ]; then
  echo "installing the CUDA 13.4 compiler into $prefix"
  if ! python3 -m venv --help >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3-venv
  fi
  rm -rf "$prefix/venv"
  mkdir -p "$prefix"
  python3 -m venv "$prefix/venv"
  "$py" -m pip install --quiet --disable-pip-version-check "${wheels[@]}"
fi

C="$(cuda_dir)"
"$C/bin/nvcc" --version | tail -n 2
export PATH="$C/bin:$PATH" CUDA_ROOT="$C" CUDA_PATH="$C" CUDA_HOME="$C"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"

cargo clippy --workspace --all-targets --locked \
  --features leadladder-trainer/cuda,leadladder-trainer/nccl -- -D warnings
