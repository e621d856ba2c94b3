//! Training checkpoints: one safetensors file with every trainable variable (by name), the AdamW
//! moments (`adam.m.*`, `adam.v.*`), the best validation snapshot (`best.*`), and the loop's
//! position and running sums as JSON in the file's metadata (`leadladder.checkpoint`).
//!
//! Files are written atomically: `<path>.tmp`, fsync, rename (then fsync of the folder), so a
//! process killed at any moment leaves either the previous checkpoint or the new one.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use candle_core::safetensors::Load;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::EpochLog;

/// Metadata key holding [`LoopState`] as JSON.
const META_KEY: &str = "leadladder.checkpoint";
/// Format tag of [`LoopState`].
pub const FORMAT: &str = "leadladder-checkpoint/1";

/// Where the training loop stood, and what it had accumulated, at an optimiser-step boundary.
/// f64 values round-trip exactly (serde_json's `float_roundtrip`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopState {
    pub format: String,
    /// Hash of the result-relevant options and the encoded data; a resume must match it.
    pub fingerprint: String,
    /// Optimiser steps taken.
    pub step: u64,
    /// The epoch in progress.
    pub epoch: usize,
    /// Batches of that epoch already consumed.
    pub batch: usize,
    /// Running sums of the epoch in progress: total, point, pair, semantic loss.
    pub sums: [f64; 4],
    /// Micro-batches counted into `sums`.
    pub count: usize,
    pub epoch_tokens: usize,
    /// Seconds already spent in the epoch in progress (timing only).
    pub epoch_seconds: f64,
    pub train_tokens: usize,
    pub train_seconds: f64,
    /// Validation P@1% of the best snapshot (whose tensors are stored as `best.<name>`).
    pub best_p_at_1: Option<f64>,
    pub since_best: usize,
    /// Epoch logs so far.
    pub log: Vec<EpochLog>,
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    pub state: LoopState,
    /// Every tensor of the file, by name (CPU, as stored).
    pub tensors: HashMap<String, Tensor>,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// 64-bit FNV-1a over bytes, streamed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    pub fn finish(self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

/// Writes `tensors` and `state` to `path` atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], state: &LoopState) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let json = serde_json::to_string(state).map_err(|source| Error::Json {
        path: path.into(),
        source,
    })?;
    let cpu = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([(META_KEY.to_string(), json)]);
    let bytes = safetensors::serialize(cpu.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| Error::Safetensors {
            path: path.into(),
            message: e.to_string(),
        })?;
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    // Make the rename itself durable; not every platform lets a folder be opened, so best effort.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a checkpoint written by [`save`].
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    let bad = |message: String| Error::Safetensors {
        path: path.into(),
        message,
    };
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a checkpoint: {e}")))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| {
            bad(format!(
                "not a leadladder checkpoint (no `{META_KEY}` metadata)"
            ))
        })?;
    let state: LoopState = serde_json::from_str(json).map_err(|source| Error::Json {
        path: path.into(),
        source,
    })?;
    if state.format != FORMAT {
        return Err(bad(format!(
            "checkpoint format `{}`, expected `{FORMAT}`",
            state.format
        )));
    }
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        tensors.insert(name, view.load(&Device::Cpu)?);
    }
    Ok(Checkpoint { state, tensors })
}
