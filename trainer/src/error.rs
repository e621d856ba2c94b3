//! The trainer's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the trainer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shape mismatch inside the graph, device error, ...).
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file (config.json, index) could not be parsed or written.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A safetensors file could not be parsed or written.
    #[error("{}: safetensors: {message}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A `leadladder-core` error (spec, ingest, metrics, writing a file).
    #[error(transparent)]
    Core(#[from] leadladder_core::Error),
    /// A `leadladder-bundle` error (tokenizer, bundle config, bundle writing).
    #[error("bundle: {0}")]
    Bundle(#[from] leadladder_bundle::Error),
    /// The model configuration is invalid or asks for something this Qwen2 does not implement.
    #[error("model config: {0}")]
    Config(String),
    /// A weight the model needs is not in the checkpoint.
    #[error("missing tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        /// HF name of the tensor.
        name: String,
        /// The shape the model expected.
        expected: Vec<usize>,
    },
    /// The checkpoint holds tensors the model does not use: loading is all-or-nothing.
    #[error("unused tensors in checkpoint: {}", names.join(", "))]
    UnusedTensors {
        /// HF names, sorted.
        names: Vec<String>,
    },
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// HF name of the tensor.
        name: String,
        /// The shape the model expected.
        expected: Vec<usize>,
        /// The shape in the checkpoint.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype that cannot be converted to f32 weights.
    #[error("tensor `{name}` has unsupported dtype {dtype} (f32, f16 and bf16 are supported)")]
    UnsupportedDType {
        /// HF name of the tensor.
        name: String,
        /// The stored dtype.
        dtype: String,
    },
    /// The same tensor name appears twice (in two shards, or twice in one model).
    #[error("duplicate tensor `{0}`")]
    DuplicateTensor(String),
    /// A shared variable map's lock was poisoned by a panic in another thread.
    #[error("variable map lock poisoned")]
    Poisoned,
    /// A caller passed inputs that do not fit (bad shapes, left padding, empty sequences, ...).
    #[error("invalid input: {0}")]
    Input(String),
    /// A data-parallel run's launch settings or its links between ranks (see `crate::parallel`).
    #[error("data-parallel run: {0}")]
    Parallel(String),
    /// Training stopped early on purpose (`max_steps_this_run`); resume from the checkpoint.
    #[error("training stopped after optimiser step {step} (max_steps_this_run)")]
    Stopped {
        /// Optimiser steps taken in total.
        step: u64,
    },
}

/// The trainer's result type.
pub type Result<T> = std::result::Result<T, Error>;
