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

/// Whether a GPU whose adapter reports `limits` (WebGPU names, e.g. `maxStorageBufferBindingSize`)
/// can hold a model that needs `needed` bytes in one storage buffer; when not, the reason in words
/// a user can act on. An adapter that reports no such limit is given the benefit of the doubt
/// (the warm-up forward pass still has to succeed).
pub fn gpu_limits_fit(
    limits: &std::collections::BTreeMap<String, f64>,
    needed: u64,
) -> std::result::Result<(), String> {
    let mib = |b: f64| b / (1024.0 * 1024.0);
    match limits.get("maxStorageBufferBindingSize") {
        Some(&max) if max < needed as f64 => Err(format!(
            "this GPU allows storage buffers of at most {:.1} MiB and the model needs {:.1} MiB \
             (maxStorageBufferBindingSize), so it runs on the CPU",
            mib(max),
            mib(needed as f64)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::gpu_limits_fit;

    #[test]
    fn gpu_limits_name_the_limit_and_both_sizes_when_too_small() {
        let mut limits = BTreeMap::new();
        limits.insert(
            "maxStorageBufferBindingSize".to_string(),
            128.0 * 1024.0 * 1024.0,
        );
        assert_eq!(gpu_limits_fit(&limits, 64 << 20), Ok(()));
        assert_eq!(gpu_limits_fit(&limits, 128 << 20), Ok(()));
        let err = gpu_limits_fit(&limits, 300 << 20).unwrap_err();
        assert!(err.contains("128.0 MiB"), "{err}");
        assert!(err.contains("300.0 MiB"), "{err}");
        assert!(err.contains("maxStorageBufferBindingSize"), "{err}");
        assert_eq!(gpu_limits_fit(&BTreeMap::new(), u64::MAX), Ok(()));
    }
}
