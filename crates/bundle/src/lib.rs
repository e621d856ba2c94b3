//! # leadladder-bundle
//!
//! The one file between training and scoring: a safetensors container with the Qwen2 ranker's
//! weights (Hugging Face tensor names plus the `score.rank` / `score.point` heads; 2-D weights
//! stored as f32, f16 or per-row int8, 1-D always f32) and string metadata: `format`
//! ([`FORMAT`]), `config` ([`BundleConfig`]), `tokenizer` (`tokenizer.json`), `ladder` (the spec),
//! `prompt_version`, `metrics`, `provenance` ([`Provenance`]), for field-token encodings
//! `fields` (the fitted field tables, see [`LeadEncoder`]), and optionally `drift_profile` (the
//! fit period's per-field distributions, [`leadladder_core::drift::DriftProfile`]) and `guard`
//! (the verdict on the model's test period, [`leadladder_core::guard::Guard`]).
//!
//! [`write_bundle`] produces it (the trainer); [`Bundle::from_bytes`] checks and loads it, once
//! per bundle (the native and browser scorers); [`Bundle::info`] describes it. [`ModelConfig`]
//! is the project's one Qwen2 configuration, parsed strictly from Hugging Face `config.json`,
//! and [`ModelConfig::expected_tensors`] the tensor list every writer and loader agrees on.
//! [`LeadEncoder`] turns a lead into token ids the same way everywhere.
//!
//! Must not: depend on an ML runtime (candle, Burn) or the model; touch the file system (except
//! the native-only [`read_file`]); use threads; panic on any input. Builds for
//! `wasm32-unknown-unknown` with default features.

#![warn(missing_docs)]

pub mod config;
pub mod container;
pub mod encoder;
pub mod error;
pub mod format;
pub mod info;
pub mod stored;
pub mod tokenizer;

pub use config::{
    ARCHITECTURE, BundleConfig, CalibratedHead, Calibration, HEADS, MAX_ENSEMBLE, ModelConfig,
    member_tensor_name,
};
pub use encoder::LeadEncoder;
pub use error::{Error, Result};
pub use format::{
    Bundle, BundleMeta, FORMAT, FORMAT_V1, FORMAT_V2, FORMATS_READ, Provenance, SCALE_SUFFIX, keys,
    write_bundle,
};
pub use info::BundleInfo;
pub use stored::{OwnedTensor, StoreDtype, StoredKind, StoredTensors, TensorRef, Tensors};
pub use tokenizer::{EOS_TOKEN, Encoded, LeadTokenizer, PAD_TOKEN, train_bpe};

/// Reads and checks a bundle file (native targets only).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: impl AsRef<std::path::Path>) -> Result<Bundle> {
    Bundle::from_vec(std::fs::read(path)?)
}
