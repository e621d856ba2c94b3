//! Shared by the model's integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;

use leadladder_core::{Dataset, Spec};
use leadladder_synth::SynthConfig;

/// A path from the repository root.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The committed demo bundle.
pub fn demo_bundle() -> Vec<u8> {
    read("web/models/demo.int8.safetensors")
}

/// Synthetic leads read back through core's ingest with their ladder spec.
pub fn synth(leads: usize, seed: u64) -> (Spec, Dataset) {
    leadladder_synth::dataset(&SynthConfig {
        leads,
        seed,
        ..SynthConfig::default()
    })
    .unwrap()
}

/// Spearman rank correlation of two f32 scorings ([`leadladder_core::metrics::spearman`]).
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    leadladder_core::metrics::spearman(&wide(a), &wide(b)).unwrap()
}

/// Runs a future to completion on this thread (the Flex backend's reads are ready at once; a
/// pending poll just yields and polls again).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
