//! wasm-bindgen bindings used by the page and the `<lead-ladder>` widget; the JavaScript
//! contract is `API.md`. Everything but the JavaScript conversion lives in plain Rust modules
//! ([`session`], [`mapping`], [`info`]) that are tested natively.

mod error;
pub mod info;
pub mod mapping;
pub mod queue;
pub mod session;

#[cfg(target_arch = "wasm32")]
mod bindings;

pub use error::{Error, Result};

/// Rows per scoring batch inside one `scoreRange` call.
pub const BATCH: usize = 16;

/// Bytes of the largest GPU buffer the scorer needs for a batch of `batch` sequences of
/// `max_tokens` tokens: the attention scores, the MLP activations or the embedding matrix.
pub fn gpu_bytes_needed(cfg: &leadladder_bundle::BundleConfig, batch: usize) -> u64 {
    let m = &cfg.model;
    let (b, t) = (batch as u64, cfg.max_tokens as u64);
    let attention = b * m.num_attention_heads as u64 * t * t * 4;
    let mlp = b * t * m.intermediate_size as u64 * 4;
    let embed = m.vocab_size as u64 * m.hidden_size as u64 * 4;
    attention.max(mlp).max(embed)
}
