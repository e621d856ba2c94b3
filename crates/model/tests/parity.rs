//! The Burn scorer against the trainer's candle model, through the committed fixture in
//! `tests/fixtures/parity/` (kept tied to the trainer by `trainer/tests/parity_fixture.rs`).
//! One body per device: Flex always, wgpu when the crate is built with `--features wgpu`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{demo_bundle, read, spearman, synth};
use leadladder_core::ingest::read_csv;
use leadladder_core::{Dataset, IngestOptions, Spec};
use leadladder_model::{DeviceKind, Score, Scorer};
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/parity";

fn fixture(name: &str) -> Vec<u8> {
    read(&format!("{FIXTURE}/{name}"))
}

/// The trainer's expected rows (`expected`) and the fixture's leads (`csv`, read with `toml`),
/// one row per lead.
fn load(expected: &str, csv: &str, toml: &str) -> (Vec<Value>, Dataset) {
    let expected: Value = serde_json::from_slice(&fixture(expected)).unwrap();
    let rows = expected["leads"].as_array().unwrap().clone();
    let spec = Spec::from_toml(&String::from_utf8(fixture(toml)).unwrap()).unwrap();
    let data = read_csv(&fixture(csv), &spec, &IngestOptions::default()).unwrap();
    assert_eq!(rows.len(), data.leads.len());
    (rows, data)
}

/// `scorer`'s token ids of every lead, each asserted equal to the trainer's.
fn checked_ids(scorer: &Scorer, data: &Dataset, rows: &[Value]) -> Vec<Vec<u32>> {
    let mut ids = Vec::new();
    for (i, (row, lead)) in rows.iter().zip(&data.leads).enumerate() {
        let got = scorer.encode(&data.schema, lead).unwrap();
        let want: Vec<u32> = serde_json::from_value(row["ids"].clone()).unwrap();
        assert_eq!(got, want, "token ids of lead {i}");
        ids.push(got);
    }
    ids
}

/// Asserts every lead's rank, logit and p_convert within `tol` of the trainer's f32 scores;
/// returns the worst difference.
fn check_f32_scores(kind: DeviceKind, scores: &[Score], rows: &[Value], tol: f32) -> f32 {
    let mut worst = 0f32;
    for (i, (s, row)) in scores.iter().zip(rows).enumerate() {
        for (name, got) in [
            ("rank", s.rank),
            ("logit", s.logit),
            ("p_convert", s.p_convert),
        ] {
            let want = row["f32"][name].as_f64().unwrap() as f32;
            let diff = (got - want).abs();
            worst = worst.max(diff);
            assert!(
                diff <= tol,
                "{kind:?}: {name} of lead {i}: burn {got}, candle {want} (tolerance {tol})"
            );
        }
    }
    worst
}

/// Checks one device against the fixture: token ids exactly, the f32 bundle's scores within
/// `tol`, and the int8 bundle's ranking (Spearman ≥ 0.999 against the f32 expectations).
fn fixture_parity(kind: DeviceKind, tol: f32) {
    let (rows, data) = load("expected.json", "leads.csv", "leads.toml");
    let rows = &rows;
    let f32_scorer = Scorer::from_bytes(&fixture("tiny.f32.safetensors"), kind).unwrap();
    let int8_scorer = Scorer::from_bytes(&fixture("tiny.int8.safetensors"), kind).unwrap();
    assert_eq!(f32_scorer.device_info().kind, kind);
    let ids = checked_ids(&f32_scorer, &data, rows);

    // Mixed lengths in each batch, so padding is exercised too.
    let mut scores = Vec::new();
    for chunk in ids.chunks(7) {
        scores.extend(f32_scorer.score_ids(chunk).unwrap());
    }
    let worst = check_f32_scores(kind, &scores, rows, tol);
    eprintln!("{kind:?}: worst |burn - candle| over the f32 fixture = {worst:e}");

    let int8 = int8_scorer.score_many(&ids, 16, &mut |_| {}).unwrap();
    let want_rank: Vec<f32> = rows
        .iter()
        .map(|r| r["f32"]["rank"].as_f64().unwrap() as f32)
        .collect();
    let got_rank: Vec<f32> = int8.iter().map(|s| s.rank).collect();
    let rho = spearman(&got_rank, &want_rank);
    assert!(
        rho >= 0.999,
        "{kind:?}: int8 bundle Spearman {rho} against f32 expectations"
    );
    for (s, row) in int8.iter().zip(rows) {
        let want = row["int8"]["rank"].as_f64().unwrap() as f32;
        assert!(
            (s.rank - want).abs() <= tol,
            "{kind:?}: int8 rank {} vs candle {want}",
            s.rank
        );
    }
}

#[test]
fn flex_matches_the_trainer_fixture() {
    fixture_parity(DeviceKind::Cpu, 1e-4);
}

/// The ensemble fixture (two members, out-of-range field tokens, a drifting funnel): the same
/// token ids as the trainer (out-of-range tokens included) and the members' mean scores.
fn ensemble_parity(kind: DeviceKind, tol: f32) {
    let (rows, data) = load(
        "expected-ensemble.json",
        "leads-drift.csv",
        "leads-drift.toml",
    );
    let scorer = Scorer::from_bytes(&fixture("ensemble.f32.safetensors"), kind).unwrap();
    assert_eq!(scorer.ranker().members(), 2);
    let ids = checked_ids(&scorer, &data, &rows);
    let scores = scorer.score_many(&ids, 16, &mut |_| {}).unwrap();
    let worst = check_f32_scores(kind, &scores, &rows, tol);
    eprintln!("{kind:?}: worst |burn - candle| over the ensemble fixture = {worst:e}");
}

#[test]
fn flex_matches_the_trainer_ensemble_fixture() {
    ensemble_parity(DeviceKind::Cpu, 1e-4);
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_matches_the_trainer_ensemble_fixture() {
    ensemble_parity(DeviceKind::Wgpu, 1e-3);
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_matches_the_trainer_fixture() {
    fixture_parity(DeviceKind::Wgpu, 1e-3);
}

/// The demo bundle on ~200 synthetic leads: wgpu agrees with Flex.
#[cfg(feature = "wgpu")]
#[test]
fn demo_bundle_wgpu_matches_flex() {
    let bytes = demo_bundle();
    let cpu = Scorer::from_bytes(&bytes, DeviceKind::Cpu).unwrap();
    let gpu = Scorer::from_bytes(&bytes, DeviceKind::Wgpu).unwrap_or_else(|e| {
        panic!("no wgpu adapter for the GPU tests (install mesa-vulkan-drivers for lavapipe): {e}")
    });
    let (_, data) = synth(200, 4);
    let a = cpu
        .score_leads(&data.schema, &data.leads, 32, &mut |_| {})
        .unwrap();
    let b = gpu
        .score_leads(&data.schema, &data.leads, 32, &mut |_| {})
        .unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x.p_convert - y.p_convert).abs() <= 1e-3,
            "lead {i}: flex p {} vs wgpu p {}",
            x.p_convert,
            y.p_convert
        );
    }
}

/// Without the `wgpu` feature the demo bundle still runs end to end on Flex, with real spread.
#[test]
fn demo_bundle_scores_synthetic_leads_on_flex() {
    let scorer = Scorer::from_bytes(&demo_bundle(), DeviceKind::Cpu).unwrap();
    let (_, data) = synth(40, 4);
    let mut seen = Vec::new();
    let s = scorer
        .score_leads(&data.schema, &data.leads, 8, &mut |n| seen.push(n))
        .unwrap();
    assert_eq!(s.len(), 40);
    assert_eq!(seen.last(), Some(&40));
    assert!(
        s.iter()
            .all(|x| x.rank.is_finite() && (0.0..=1.0).contains(&x.p_convert))
    );
    let (lo, hi) = s
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x.p_convert), hi.max(x.p_convert))
        });
    assert!(hi > lo, "scores differ across leads");
}

/// Scores with every weight on the device against the same bundle kept as stored on the host
/// (embedding rows gathered there, layer matrices dequantized per forward pass): what a
/// real-size model does on the CPU, and on a GPU whose buffers cannot hold its embedding table.
fn host_residency_matches(kind: DeviceKind, tol: f32) {
    use leadladder_bundle::Bundle;
    use leadladder_model::Residency;
    // Mixed lengths (padding exercised), ids inside every vocabulary.
    let ids: Vec<Vec<u32>> = (0..24u32)
        .map(|i| (0..(3 + i % 9)).map(|j| 1 + (i * 7 + j * 3) % 10).collect())
        .collect();
    for bytes in [fixture("tiny.int8.safetensors"), demo_bundle()] {
        let bundle = Bundle::from_bytes(&bytes).unwrap();
        let base = Scorer::from_bundle(&bundle, kind).unwrap();
        let device = base.ranker().device().clone();
        let want = base.score_ids(&ids).unwrap();
        for residency in [
            Residency {
                host_embedding: true,
                host_layers: false,
            },
            Residency {
                host_embedding: true,
                host_layers: kind == DeviceKind::Cpu,
            },
        ] {
            let s = Scorer::on_device_with(&bundle, kind, device.clone(), residency).unwrap();
            let got = s.score_ids(&ids).unwrap();
            assert_eq!(got.len(), want.len());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a.rank - b.rank).abs() <= tol && (a.p_convert - b.p_convert).abs() <= tol,
                    "{kind:?} {residency:?}: sequence {i}: {a:?} vs {b:?} on the device"
                );
            }
        }
    }
}

#[test]
fn flex_host_kept_weights_score_exactly_as_device_weights() {
    host_residency_matches(DeviceKind::Cpu, 0.0);
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_host_gathered_embedding_matches_the_device_table() {
    host_residency_matches(DeviceKind::Wgpu, 1e-5);
}
