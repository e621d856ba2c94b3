#!/usr/bin/env python3
"""Adds the `weights_fnv1a64` metadata key to a bundle written before the key existed, leaving
every tensor byte as it is (re-encoding through the loader would re-quantize int8 weights).

    python3 scripts/add_weights_hash.py web/models/demo.int8.safetensors

The hash is FNV-1a 64 over every tensor in name order: its name, a 0 byte, its stored bytes
(crates/bundle/src/format.rs, `keys::WEIGHTS_HASH`). Standard library only.
"""
import json
import struct
import sys

KEY = "weights_fnv1a64"


def fnv1a64(chunks):
    h = 0xCBF29CE484222325
    for chunk in chunks:
        for b in chunk:
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    chunks = []
    for name in sorted(header):
        start, end = header[name]["data_offsets"]
        chunks += [name.encode(), b"\0", data[start:end]]
    meta[KEY] = "fnv1a64:%016x" % fnv1a64(chunks)
    # Same layout as the project's writer: metadata first, then tensors by offset.
    out = {"__metadata__": dict(sorted(meta.items()))}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        out[name] = info
    text = json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    print(f"{path}: {meta[KEY]}")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        main(p)
