//! # leadladder-bundle
//!
//! The one file between training and scoring: a safetensors container with the Qwen2 ranker's
//! weights (Hugging Face tensor names plus the `score.rank` / `score.point` heads; 2-D weights
//! stored as f32, f16 or per-row int8, 1-D always f32) and string metadata: `format`
//! ([`FORMAT`]), `config` ([`BundleConfig`]), `tokenizer` (`tokenizer.json`), `ladder` (the spec),
//! `prompt_version`, `metrics`, `provenance` ([`Provenance`]).
//!
//! [`write_bundle`] produces it (the trainer); [`Bundle::from_bytes`] checks and loads it (the
//! native and browser scorers); [`ModelConfig::expected_tensors`] is the tensor list both agree
//! on. [`LeadTokenizer`] turns a lead into token ids the same way everywhere.
//!
//! Builds for `wasm32-unknown-unknown` with default features: no file system (except the
//! native-only [`read_file`]), no threads, no panics on any input.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod format;
pub mod tokenizer;

pub use config::{ARCHITECTURE, BundleConfig, Calibration, HEADS, ModelConfig};
pub use error::{Error, Result};
pub use format::{
    Bundle, BundleMeta, FORMAT, Provenance, SCALE_SUFFIX, StoreDtype, Tensors, keys, write_bundle,
};
pub use tokenizer::{EOS_TOKEN, Encoded, LeadTokenizer, PAD_TOKEN, train_bpe};

/// Reads and checks a bundle file (native targets only).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: impl AsRef<std::path::Path>) -> Result<Bundle> {
    Bundle::from_bytes(&std::fs::read(path)?)
}
