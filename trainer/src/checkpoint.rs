//! Training checkpoints: one safetensors file with every trainable variable (by name), the AdamW
//! moments (`adam.m.*`, `adam.v.*`), the best validation snapshot (`best.*`), and the loop's
//! position and running sums as JSON in the file's metadata (`leadladder.checkpoint`).
//!
//! Files are written with [`leadladder_core::fs::write_atomic`] (temporary file, fsync, rename,
//! fsync of the folder), so a process killed at any moment leaves either the previous
//! checkpoint or the new one.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One line of the metrics log (JSONL), one per epoch; a checkpoint keeps those so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// The ensemble member (0 for a single model).
    #[serde(default)]
    pub member: usize,
    pub epoch: usize,
    pub step: u64,
    pub train_loss: f64,
    pub loss_point: f64,
    pub loss_pair: f64,
    pub loss_sem: f64,
    /// Validation ROC AUC of the rank score against the label: the early-stopping metric.
    pub val_auc: f64,
    /// Validation P@1% and P@10% (logged; too few leads at small K to select on).
    pub val_p_at_1: f64,
    pub val_p_at_10: f64,
    pub tokens_per_s: f64,
    pub seconds: f64,
}

/// Metadata key holding [`LoopState`] as JSON.
const META_KEY: &str = "leadladder.checkpoint";
/// Format tag of [`LoopState`].
pub const FORMAT: &str = "leadladder-checkpoint/2";

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
    /// Validation AUC of the best snapshot (whose tensors are stored as `best.<name>`).
    pub best_val_auc: Option<f64>,
    pub since_best: usize,
    /// Epoch logs so far.
    pub log: Vec<EpochLog>,
    /// The run (an ensemble member) had finished training: its best snapshot is final.
    #[serde(default)]
    pub finished: bool,
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    pub state: LoopState,
    /// Every tensor of the file, by name (CPU, as stored).
    pub tensors: HashMap<String, Tensor>,
}

/// The fingerprint hash ([`leadladder_core::hash::Fnv`]).
pub(crate) use leadladder_core::hash::Fnv;

/// Writes `tensors` and `state` to `path` atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], state: &LoopState) -> Result<()> {
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
    leadladder_core::fs::write_file_atomic(path, &bytes)?;
    Ok(())
}

/// Reads a checkpoint written by [`save`] (streamed by [`crate::params::read_safetensors_with_metadata`],
/// the trainer's one safetensors reader).
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bad = |message: String| Error::Safetensors {
        path: path.into(),
        message,
    };
    let (tensors, meta) =
        crate::params::read_safetensors_with_metadata(path).map_err(|e| match e {
            Error::Safetensors { message, .. } => bad(format!("not a checkpoint: {message}")),
            other => other,
        })?;
    let json = meta.get(META_KEY).ok_or_else(|| {
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
    Ok(Checkpoint { state, tensors })
}
