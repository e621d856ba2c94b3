//! The cross-implementation parity fixture in `tests/fixtures/parity/`: a small trained model
//! (f32 and int8 bundles), 64 held-out leads with their ladder spec, and what the trainer's
//! candle model says about them (token ids, rank score, point logit, calibrated probability).
//!
//! A second part holds an ensemble with out-of-range field tokens: a two-member model trained
//! with field dropout on a drifting funnel (`synth --drift 1`), `ensemble.f32.safetensors`, and
//! 64 leads of that funnel spread over its whole year (`leads-drift.csv`), so the later ones
//! carry numbers below and above the fitted ranges (`expected-ensemble.json`).
//!
//! `LEADLADDER_REGEN_PARITY=1` trains the models and rewrites the fixture. Without it, this test
//! checks that candle, loading the committed bundles, still reproduces the expectations within
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
use leadladder_synth::{SynthConfig, spec_toml, spec_toml_for, write_csv};
use leadladder_trainer::data::encode;
use leadladder_trainer::train::{score_ensemble, train};
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
    let k = bundle.config.ensemble;
    let mut trunk: Vec<HashMap<String, Tensor>> = vec![HashMap::new(); k];
    let mut head: Vec<HashMap<String, Tensor>> = vec![HashMap::new(); k];
    for (name, (shape, values)) in &bundle.tensors.to_f32() {
        let t = Tensor::from_vec(values.clone(), shape.as_slice(), &dev).unwrap();
        // Member m > 0 stores its tensors under `ensemble.<m>.`.
        let (m, plain) = match name.strip_prefix("ensemble.") {
            Some(rest) => {
                let (m, plain) = rest.split_once('.').unwrap();
                (m.parse::<usize>().unwrap(), plain.to_string())
            }
            None => (0, name.clone()),
        };
        if plain.starts_with("score.") {
            head[m].insert(plain, t);
        } else {
            trunk[m].insert(plain, t);
        }
    }
    let members: Vec<(Model, ScoreHeads)> = trunk
        .into_iter()
        .zip(head)
        .map(|(t, h)| {
            (
                Model::from_tensors(&cfg, t, &dev, None).unwrap(),
                ScoreHeads::from_tensors(cfg.model.hidden_size, h, &dev, None).unwrap(),
            )
        })
        .collect();
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
    let refs: Vec<(&Model, &ScoreHeads)> = members.iter().map(|(m, h)| (m, h)).collect();
    let (r, z) = score_ensemble(
        &refs,
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
        .map(|(&r, &z)| (r, z, cal.p_convert(f64::from(r), f64::from(z)) as f32))
        .collect();
    (examples.into_iter().map(|e| e.ids).collect(), scores)
}

fn score_json(s: &(f32, f32, f32)) -> Value {
    json!({ "rank": s.0, "logit": s.1, "p_convert": s.2 })
}

fn regenerate() {
    let (spec, data) = funnel(3000, 21);
    let mut o = common::tiny(2, 1200, 96, 400);
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
    regenerate_ensemble();
}

/// The drifting funnel of the ensemble part.
fn drift_config(leads: usize, seed: u64) -> SynthConfig {
    SynthConfig {
        leads,
        seed,
        drift: 1.0,
        ..SynthConfig::default()
    }
}

fn regenerate_ensemble() {
    let (spec, data) = leadladder_synth::dataset(&drift_config(3000, 23)).unwrap();
    let mut o = common::tiny(1, 800, 64, 400);
    o.seed = 6;
    o.ensemble = 2;
    o.field_dropout = 0.1;
    o.field_fit.out_of_range = true;
    let trained = train(&spec, &data, &o, &mut |_| {}).unwrap();
    let bytes = trained
        .export(&spec, StoreDtype::F32, "parity-fixture")
        .unwrap();
    let mut csv = Vec::new();
    write_csv(&drift_config(LEADS, 98), &mut csv, |_| {}).unwrap();
    let spec_text = spec_toml_for(&drift_config(LEADS, 98));
    let (spec, leads) = load_leads(&csv, &spec_text);
    let (ids, scores) = candle_scores(&bytes, &spec, &leads);
    let rows: Vec<Value> = (0..leads.leads.len())
        .map(|i| {
            json!({
                "id": leads.leads[i].id.to_string(),
                "ids": ids[i],
                "f32": score_json(&scores[i]),
            })
        })
        .collect();
    let expected = json!({
        "about": "the trainer's candle scores of leads-drift.csv under ensemble.f32.safetensors (2 members, out-of-range field tokens); regenerate with LEADLADDER_REGEN_PARITY=1 cargo test -p leadladder-trainer --test parity_fixture",
        "leads": rows,
    });
    let d = dir();
    std::fs::write(d.join("ensemble.f32.safetensors"), &bytes).unwrap();
    std::fs::write(d.join("leads-drift.csv"), &csv).unwrap();
    std::fs::write(d.join("leads-drift.toml"), spec_text).unwrap();
    std::fs::write(
        d.join("expected-ensemble.json"),
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

#[test]
fn candle_reproduces_the_committed_ensemble_fixture() {
    // (Regenerated by the test above with LEADLADDER_REGEN_PARITY=1.)
    if std::env::var("LEADLADDER_REGEN_PARITY").as_deref() == Ok("1") {
        return;
    }
    let expected: Value = serde_json::from_slice(&read("expected-ensemble.json")).unwrap();
    let rows = expected["leads"].as_array().unwrap();
    let spec_toml = String::from_utf8(read("leads-drift.toml")).unwrap();
    let (spec, leads) = load_leads(&read("leads-drift.csv"), &spec_toml);
    let bytes = read("ensemble.f32.safetensors");
    let bundle = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(bundle.config.ensemble, 2);
    assert_eq!(bundle.meta.prompt_version, "leadladder-prompt/3");
    let (ids, scores) = candle_scores(&bytes, &spec, &leads);
    let codec = bundle.encoder.fields().unwrap();
    let base = bundle.encoder.tokenizer().vocab_size();
    let mut outside = 0;
    for (i, row) in rows.iter().enumerate() {
        let want_ids: Vec<u32> = serde_json::from_value(row["ids"].clone()).unwrap();
        assert_eq!(ids[i], want_ids, "token ids of lead {i}");
        outside += ids[i]
            .iter()
            .filter(|&&id| {
                (id as usize) >= base
                    && codec
                        .token_name(id as usize - base)
                        .is_some_and(|n| n.contains("fitted range"))
            })
            .count();
        let want = expected_score(row, "f32");
        for (name, got, want) in [
            ("rank", scores[i].0, want.0),
            ("logit", scores[i].1, want.1),
            ("p_convert", scores[i].2, want.2),
        ] {
            assert!(
                (got - want).abs() <= TOL,
                "{name} of lead {i}: candle {got}, fixture {want}"
            );
        }
    }
    // The fixture exercises the out-of-range tokens.
    assert!(
        outside >= 20,
        "only {outside} out-of-range tokens in the fixture"
    );
}
