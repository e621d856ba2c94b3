//! The training loop end to end on a small synthetic funnel: determinism, export, and that the
//! exported bundle scores exactly like the model that was trained.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use common::{funnel, score_test_period};
use leadladder_bundle::{Bundle, StoreDtype};
use leadladder_core::{Dataset, Spec};
use leadladder_trainer::train::{TrainOptions, Trained, score, train};
use leadladder_trainer::{Config, Model, ScoreHeads};

fn options() -> TrainOptions {
    common::tiny(1, 500, 96, 400)
}

fn run(spec: &Spec, data: &Dataset, o: &TrainOptions) -> Trained {
    train(spec, data, o, &mut |_| {}).unwrap()
}

#[test]
fn same_seed_same_loss_curve_and_weights() {
    let (spec, data) = funnel(2500, 3);
    let a = run(&spec, &data, &options());
    let b = run(&spec, &data, &options());
    let losses = |t: &Trained| {
        t.log
            .iter()
            .map(|e| (e.train_loss, e.loss_pair, e.loss_sem))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&a), losses(&b));
    assert!(
        a.log[0].loss_pair > 0.0 && a.log[0].loss_sem > 0.0,
        "all three loss terms are live"
    );
    let flat = |t: &Trained| -> Vec<Vec<f32>> {
        t.model
            .hf_tensors()
            .unwrap()
            .iter()
            .map(|(_, x)| x.flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    };
    assert_eq!(flat(&a), flat(&b));
    let mut other = options();
    other.seed = 8;
    assert_ne!(losses(&a), losses(&run(&spec, &data, &other)));
}

#[test]
fn exported_bundle_scores_like_the_trained_model() {
    let (spec, data) = funnel(2500, 3);
    let o = options();
    let trained = run(&spec, &data, &o);
    let report = &trained.report;
    assert_eq!(
        report.methods.last().unwrap().name,
        "leadladder tiny (hpro+semantic)"
    );

    // The test-period leads, encoded as the trainer encodes them.
    let (test, want_r, want_z) = score_test_period(&trained, &spec, &data, o.train_fraction, 200);
    let pad = trained.encoder.pad_id();

    let mut f32_scores = Vec::new();
    for dtype in [StoreDtype::F32, StoreDtype::F16, StoreDtype::Int8] {
        let bytes = trained.export(&spec, dtype, "test-hash").unwrap();
        let bundle = Bundle::from_bytes(&bytes).unwrap();
        let m = &bundle.meta;
        assert_eq!(m.format, leadladder_bundle::FORMAT);
        for (key, value) in [
            ("config", &m.config_json),
            ("tokenizer", &m.tokenizer_json),
            ("ladder", &m.ladder_json),
            ("prompt_version", &m.prompt_version),
            ("metrics", &m.metrics_json),
            ("provenance", &m.provenance_json),
        ] {
            assert!(!value.is_empty(), "metadata `{key}` is present");
        }
        assert!(
            m.metrics_json.contains("leadladder tiny"),
            "the report rides in the bundle"
        );
        let (cfg, tensors, head_tensors) = split_bundle(&bundle);
        let dev = Device::Cpu;
        let model = Model::from_tensors(&cfg, tensors, &dev, None).unwrap();
        let heads =
            ScoreHeads::from_tensors(cfg.model.hidden_size, head_tensors, &dev, None).unwrap();
        let (r, z) = score(&model, &heads, &test, pad, 32, bundle.config.pool_position).unwrap();
        match dtype {
            StoreDtype::F32 => {
                for (a, b) in r.iter().zip(&want_r).chain(z.iter().zip(&want_z)) {
                    assert!((a - b).abs() <= 1e-5, "f32 bundle: {a} vs {b}");
                }
                f32_scores = r;
            }
            _ => {
                let rho = spearman(&r, &f32_scores);
                assert!(
                    rho >= 0.99,
                    "{dtype:?} bundle keeps the order: Spearman {rho}"
                );
            }
        }
    }
}

/// A one-member bundle's config and tensors on the CPU: the trunk's and the score heads'.
#[allow(clippy::type_complexity)]
fn split_bundle(bundle: &Bundle) -> (Config, HashMap<String, Tensor>, HashMap<String, Tensor>) {
    let cfg: Config = serde_json::from_str(&bundle.meta.config_json).unwrap();
    let (mut trunk, mut head) = (HashMap::new(), HashMap::new());
    for (name, (shape, values)) in &bundle.tensors.to_f32() {
        let t = Tensor::from_vec(values.clone(), shape.as_slice(), &Device::Cpu).unwrap();
        if name.starts_with("score.") {
            head.insert(name.clone(), t);
        } else {
            trunk.insert(name.clone(), t);
        }
    }
    (cfg, trunk, head)
}

fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    leadladder_core::metrics::spearman(&wide(a), &wide(b)).unwrap()
}

#[test]
fn prepared_data_is_shared_only_by_runs_with_the_same_data_options() {
    use leadladder_trainer::train::{Objective, prepare, train_prepared};
    let (spec, data) = funnel(1500, 9);
    let mut o = options();
    o.train_sample = Some(200);
    let prepared = prepare(&spec, &data, &o, &mut |_| {}).unwrap();
    // An ablation arm (other objective, no semantic loss) on the shared data equals its own run.
    let binary = TrainOptions {
        objective: Objective::Binary,
        lambda_sem: 0.0,
        ..o.clone()
    };
    let shared = train_prepared(&spec, &data, &binary, &prepared, &mut |_| {}).unwrap();
    let alone = run(&spec, &data, &binary);
    let losses = |t: &Trained| t.log.iter().map(|e| e.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(&shared), losses(&alone));
    assert_eq!(
        shared.report.methods.last().unwrap().name,
        "leadladder tiny (binary)"
    );
    // Another sample, seed or prompt budget needs its own preparation.
    for other in [
        TrainOptions {
            seed: 8,
            ..o.clone()
        },
        TrainOptions {
            max_tokens: 64,
            ..o.clone()
        },
    ] {
        let err = train_prepared(&spec, &data, &other, &prepared, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("prepared data"), "{err}");
    }
}

#[test]
fn ordinal_numeric_embeddings_train_and_export_the_summed_table() {
    use leadladder_trainer::train::{NumericEmbedding, ordinal_blocks};
    let (spec, data) = funnel(1500, 5);
    let mut o = common::tiny(1, 400, 64, 400);
    o.numeric_embedding = NumericEmbedding::Ordinal;
    let trained = run(&spec, &data, &o);
    let codec = trained.encoder.fields().expect("tiny reads field tokens");
    let base = trained.encoder.tokenizer().vocab_size();
    let blocks = ordinal_blocks(codec, base);
    assert!(
        blocks.iter().any(|&(_, len)| len > 2),
        "the funnel has numeric fields with several bins: {blocks:?}"
    );

    // The bundle stores the summed table: a model built from it (no ordinal blocks) scores
    // exactly as the trained one, and its block rows are running sums of the raw rows.
    let (test, want_r, _) = score_test_period(&trained, &spec, &data, o.train_fraction, 100);
    let bundle = Bundle::from_bytes(&trained.export(&spec, StoreDtype::F32, "h").unwrap()).unwrap();
    let (cfg, trunk, head) = split_bundle(&bundle);
    let dev = Device::Cpu;
    let table: Vec<Vec<f32>> = trunk["model.embed_tokens.weight"].to_vec2().unwrap();
    let raw: Vec<Vec<f32>> = trained.model.embed_tokens.to_vec2().unwrap();
    for &(first, len) in &blocks {
        let mut sum = vec![0f32; raw[0].len()];
        for i in 0..len {
            for (s, x) in sum.iter_mut().zip(&raw[first + i]) {
                *s += x;
            }
            for (a, b) in table[first + i].iter().zip(&sum) {
                assert!(
                    (a - b).abs() <= 1e-5,
                    "row {} is the running sum",
                    first + i
                );
            }
        }
    }
    let model = Model::from_tensors(&cfg, trunk, &dev, None).unwrap();
    let heads = ScoreHeads::from_tensors(cfg.model.hidden_size, head, &dev, None).unwrap();
    let pad = trained.encoder.pad_id();
    let (r, _) = score(&model, &heads, &test, pad, 32, bundle.config.pool_position).unwrap();
    for (a, b) in r.iter().zip(&want_r) {
        assert!((a - b).abs() <= 1e-5, "bundle {a} vs trained {b}");
    }

    // The option changes training (same seed, free rows per bin, other scores).
    let mut bins = o.clone();
    bins.numeric_embedding = NumericEmbedding::Bins;
    let plain = run(&spec, &data, &bins);
    let (_, plain_r, _) = score_test_period(&plain, &spec, &data, o.train_fraction, 100);
    assert!(
        plain_r
            .iter()
            .zip(&want_r)
            .any(|(a, b)| (a - b).abs() > 1e-3)
    );
}
