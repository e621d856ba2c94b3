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

fn ranks(x: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    for (pos, &i) in idx.iter().enumerate() {
        r[i] = pos as f64;
    }
    r
}

/// Spearman rank correlation (no ties expected in continuous scores).
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}
