//! Shared by the trainer's integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use leadladder_core::ingest::read_csv;
use leadladder_core::{Dataset, IngestOptions, Spec};
use leadladder_synth::{SynthConfig, spec_toml, write_csv};

/// A synthetic funnel of `leads` leads, read back through core's ingest with its ladder spec.
pub fn funnel(leads: usize, seed: u64) -> (Spec, Dataset) {
    let mut csv = Vec::new();
    write_csv(
        &SynthConfig {
            leads,
            seed,
            ..SynthConfig::default()
        },
        &mut csv,
        |_| {},
    )
    .unwrap();
    let spec = Spec::from_toml(spec_toml()).unwrap();
    let data = read_csv(&csv, &spec, &IngestOptions::default()).unwrap();
    (spec, data)
}
