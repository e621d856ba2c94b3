//! Shared by the trainer's integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use leadladder_core::{Dataset, Spec};
use leadladder_synth::SynthConfig;

/// A synthetic funnel of `leads` leads, read back through core's ingest with its ladder spec.
pub fn funnel(leads: usize, seed: u64) -> (Spec, Dataset) {
    leadladder_synth::dataset(&SynthConfig {
        leads,
        seed,
        ..SynthConfig::default()
    })
    .unwrap()
}

/// The first `n` leads of the temporal test period, encoded as the trainer encodes them, and
/// what the trained (unmerged) model scores them: `(examples, rank scores, logits)`.
pub fn score_test_period(
    trained: &leadladder_trainer::train::Trained,
    spec: &Spec,
    data: &Dataset,
    train_fraction: f64,
    n: usize,
) -> (Vec<leadladder_trainer::data::Example>, Vec<f32>, Vec<f32>) {
    let ladder = leadladder_core::ladder::Ladder::assign(spec, data).unwrap();
    let split =
        leadladder_core::split::temporal_split(data, ladder.labels(), train_fraction).unwrap();
    let test = leadladder_trainer::data::encode(
        &trained.encoder,
        data,
        &ladder,
        &split.test[..n],
        "\n",
        trained.max_tokens,
    )
    .unwrap();
    let pad = trained.encoder.pad_id();
    let (rank, logit) = leadladder_trainer::train::score(
        &trained.model,
        &trained.heads,
        &test,
        pad,
        32,
        trained.pool_position,
    )
    .unwrap();
    (test, rank, logit)
}

/// Every element of a tensor as f32.
pub fn values(t: &candle_core::Tensor) -> Vec<f32> {
    t.to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}
