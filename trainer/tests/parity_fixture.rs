//! The cross-implementation parity fixture in `tests/fixtures/parity/`: a small trained model
//! (f32 and int8 bundles), 64 held-out leads with their ladder spec, and what the trainer's
//! candle model says about them (token ids, rank score, point logit, calibrated probability).
//!
//! `LEADLADDER_REGEN_PARITY=1` trains the model and rewrites the fixture. Without it, this test
//! checks that candle, loading the committed bundles, still reproduces `expected.json` within
//! 1e-5, so the fixture the Burn scorer is tested against stays tied to the trainer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use common::funnel;
use leadladder_bundle::{Bundle, StoreDtype};
use leadladder_core::ingest::read_csv;
use leadladder_core::ladder::Ladder;
use leadladder_core::{Dataset, IngestOptions, Spec};
use leadladder_synth::{SynthConfig, spec_toml, write_csv};
use leadladder_trainer::data::encode;
use leadladder_trainer::preset::preset;
use leadladder_trainer::train::{score, train};
use leadladder_trainer::{Config, Model, ScoreHeads};
use serde_json::{Value, json};

/// Leads in the fixture.
const LEADS: usize = 64;
/// Largest allowed difference between candle now and the committed expectations.
const TOL: f32 = 1e-5;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity")
}

/// Loads the fixture's leads through core's ingest with the fixture's ladder spec.
fn load_leads(csv: &[u8], spec_toml: &str) -> (Spec, Dataset) {
    let spec = Spec::from_toml(spec_toml).unwrap();
    let data = read_csv(csv, &spec, &IngestOptions::default()).unwrap();
    (spec, data)
}

/// Per lead: the token ids and (rank, logit, p_convert) as the trainer's candle model computes
/// them from a bundle.
#[allow(clippy::type_complexity)]
fn candle_scores(
    bundle_bytes: &[u8],
    spec: &Spec,
    data: &Dataset,
) -> (Vec<Vec<u32>>, Vec<(f32, f32, f32)>) {
    let bundle = Bundle::from_bytes(bundle_bytes).unwrap();
    let cfg: Config = serde_json::from_str(&bundle.meta.config_json).unwrap();
    let dev = Device::Cpu;
    let mut trunk: HashMap<String, Tensor> = HashMap::new();
    let mut head: HashMap<String, Tensor> = HashMap::new();
    for (name, (shape, values)) in &bundle.tensors.to_f32() {
        let t = Tensor::from_vec(values.clone(), shape.as_slice(), &dev).unwrap();
        if name.starts_with("score.") {
            head.insert(name.clone(), t);
        } else {
            trunk.insert(name.clone(), t);
        }
    }
    let model = Model::from_tensors(&cfg, trunk, &dev, None).unwrap();
    let heads = ScoreHeads::from_tensors(cfg.model.hidden_size, head, &dev, None).unwrap();
    let ladder = Ladder::assign(spec, data).unwrap();
    let indices: Vec<usize> = (0..data.leads.len()).collect();
    let examples = encode(
        &bundle.encoder,
        data,
        &ladder,
        &indices,
        &spec.parse.turn_separator,
        bundle.config.max_tokens,
    )
    .unwrap();
    let (r, z) = score(
        &model,
        &heads,
        &examples,
        bundle.encoder.pad_id(),
        16,
        bundle.config.pool_position,
    )
    .unwrap();
    let cal = bundle.config.calibration;
    let scores = r
        .iter()
        .zip(&z)
        .map(|(&r, &z)| (r, z, cal.probability(f64::from(z)) as f32))
        .collect();
    (examples.into_iter().map(|e| e.ids).collect(), scores)
}

fn score_json(s: &(f32, f32, f32)) -> Value {
    json!({ "rank": s.0, "logit": s.1, "p_convert": s.2 })
}

fn regenerate() {
    let (spec, data) = funnel(3000, 21);
    let mut o = preset("tiny").unwrap();
    o.epochs = 2;
    o.train_sample = Some(1200);
    o.bootstrap = 0;
    o.max_tokens = 96;
    o.vocab_size = 400;
    o.batch_size = 16;
    o.seed = 5;
    let trained = train(&spec, &data, &o, &mut |_| {}).unwrap();
    let f32_bytes = trained
        .export(&spec, StoreDtype::F32, "parity-fixture")
        .unwrap();
    let int8_bytes = trained
        .export(&spec, StoreDtype::Int8, "parity-fixture")
        .unwrap();

    // Held-out leads from another seed of the same generator.
    let mut csv = Vec::new();
    write_csv(
        &SynthConfig {
            leads: LEADS,
            seed: 99,
            ..SynthConfig::default()
        },
        &mut csv,
        |_| {},
    )
    .unwrap();
    let (spec, leads) = load_leads(&csv, spec_toml());
    let (ids, f32_scores) = candle_scores(&f32_bytes, &spec, &leads);
    let (ids8, int8_scores) = candle_scores(&int8_bytes, &spec, &leads);
    assert_eq!(ids, ids8, "both bundles carry the same tokenizer");
    let rows: Vec<Value> = (0..leads.leads.len())
        .map(|i| {
            json!({
                "id": leads.leads[i].id.to_string(),
                "ids": ids[i],
                "f32": score_json(&f32_scores[i]),
                "int8": score_json(&int8_scores[i]),
            })
        })
        .collect();
    let expected = json!({
        "about": "the trainer's candle scores of leads.csv under tiny.*.safetensors; regenerate with LEADLADDER_REGEN_PARITY=1 cargo test -p leadladder-trainer --test parity_fixture",
        "leads": rows,
    });
    let d = dir();
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("tiny.f32.safetensors"), &f32_bytes).unwrap();
    std::fs::write(d.join("tiny.int8.safetensors"), &int8_bytes).unwrap();
    std::fs::write(d.join("leads.csv"), &csv).unwrap();
    std::fs::write(d.join("leads.toml"), spec_toml()).unwrap();
    std::fs::write(
        d.join("expected.json"),
        serde_json::to_string_pretty(&expected).unwrap() + "\n",
    )
    .unwrap();
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn expected_score(row: &Value, which: &str) -> (f32, f32, f32) {
    let f = |k: &str| row[which][k].as_f64().unwrap() as f32;
    (f("rank"), f("logit"), f("p_convert"))
}

#[test]
fn candle_reproduces_the_committed_parity_fixture() {
    if std::env::var("LEADLADDER_REGEN_PARITY").as_deref() == Ok("1") {
        regenerate();
    }
    let expected: Value = serde_json::from_slice(&read("expected.json")).unwrap();
    let rows = expected["leads"].as_array().unwrap();
    let spec_toml = String::from_utf8(read("leads.toml")).unwrap();
    let (spec, leads) = load_leads(&read("leads.csv"), &spec_toml);
    assert_eq!(rows.len(), LEADS);
    assert_eq!(leads.leads.len(), LEADS);

    let mut spread = (f32::INFINITY, f32::NEG_INFINITY);
    for (file, which) in [
        ("tiny.f32.safetensors", "f32"),
        ("tiny.int8.safetensors", "int8"),
    ] {
        let (ids, scores) = candle_scores(&read(file), &spec, &leads);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row["id"].as_str().unwrap(), leads.leads[i].id.to_string());
            let want_ids: Vec<u32> = serde_json::from_value(row["ids"].clone()).unwrap();
            assert_eq!(ids[i], want_ids, "{which}: token ids of lead {i}");
            let want = expected_score(row, which);
            for (name, got, want) in [
                ("rank", scores[i].0, want.0),
                ("logit", scores[i].1, want.1),
                ("p_convert", scores[i].2, want.2),
            ] {
                assert!(
                    (got - want).abs() <= TOL,
                    "{which}: {name} of lead {i}: candle {got}, fixture {want}"
                );
            }
            spread = (spread.0.min(want.0), spread.1.max(want.0));
        }
    }
    // A fixture whose scores are all alike would prove little about a forward pass.
    assert!(
        spread.1 - spread.0 > 0.5,
        "rank scores spread only {spread:?}"
    );
}
