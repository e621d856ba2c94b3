//! Shared by the trainer's integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use leadladder_core::{Dataset, Spec};
use leadladder_synth::SynthConfig;

/// The `tiny` preset scaled down for a test: `epochs` epochs on a sample of `train_sample`
/// training leads, `max_tokens`-token prompts, a `vocab_size` BPE, batches of 16, no bootstrap.
pub fn tiny(
    epochs: usize,
    train_sample: usize,
    max_tokens: usize,
    vocab_size: usize,
) -> leadladder_trainer::train::TrainOptions {
    let mut o = leadladder_trainer::preset::preset("tiny").unwrap();
    o.epochs = epochs;
    o.train_sample = Some(train_sample);
    o.bootstrap = 0;
    o.max_tokens = max_tokens;
    o.vocab_size = vocab_size;
    o.batch_size = 16;
    o
}

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

/// Every trained tensor's bits: the merged model, the LoRA adapters (if any) and the heads, of
/// every ensemble member.
pub fn weights(t: &leadladder_trainer::train::Trained) -> Vec<(String, Vec<u32>)> {
    t.members()
        .into_iter()
        .enumerate()
        .flat_map(|(m, (model, heads))| {
            model
                .hf_tensors()
                .unwrap()
                .into_iter()
                .chain(model.lora_tensors())
                .chain(heads.tensors().unwrap())
                .map(move |(n, x)| {
                    let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
                    (
                        format!("{m}.{n}"),
                        v.into_iter().map(f32::to_bits).collect(),
                    )
                })
        })
        .collect()
}

/// Asserts two runs trained the same tensors bit for bit, naming the first that differs.
#[track_caller]
pub fn assert_same_weights(
    a: &leadladder_trainer::train::Trained,
    b: &leadladder_trainer::train::Trained,
) {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.len(), b.len(), "tensor count");
    for ((name, x), (other, y)) in a.iter().zip(&b) {
        assert_eq!(name, other);
        let differ = x.iter().zip(y).filter(|(p, q)| p != q).count();
        assert!(differ == 0, "{name}: {differ} of {} values differ", x.len());
    }
}

/// The log without its wall-clock fields.
pub fn losses(t: &leadladder_trainer::train::Trained) -> Vec<[u64; 9]> {
    t.log
        .iter()
        .map(|e| {
            [
                e.epoch as u64,
                e.step,
                e.train_loss.to_bits(),
                e.loss_point.to_bits(),
                e.loss_pair.to_bits(),
                e.loss_sem.to_bits(),
                e.val_p_at_1.to_bits(),
                e.val_auc.to_bits(),
                e.val_p_at_10.to_bits(),
            ]
        })
        .collect()
}
