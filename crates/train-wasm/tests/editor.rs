//! The ladder editor's Rust side on a synthetic export: the columns it shows, the spec it writes
//! from them, and the options a run takes (no training here: tests/browser/train.mjs trains in
//! the page against native `leadladder train`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use leadladder_core::Spec;
use leadladder_synth::SynthConfig;
use leadladder_train_wasm::{inspect, job, spec_toml};

fn synth_csv(leads: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let cfg = SynthConfig {
        leads,
        seed: 3,
        ..SynthConfig::default()
    };
    leadladder_synth::write_csv(&cfg, &mut out, |_| ()).unwrap();
    out
}

#[test]
fn columns_of_a_synthetic_export() {
    let cols = inspect::inspect(&synth_csv(200)).unwrap();
    assert_eq!(cols.rows, 200);
    let by = |name: &str| cols.columns.iter().find(|c| c.name == name).unwrap();
    assert_eq!(by("lead_id").suggested, "id");
    assert_eq!(by("created_at").suggested, "created_at");
    assert_eq!(by("dialogue").suggested, "text");
    assert!(by("calls_so_far").numeric);
    let outcome = by("outcome");
    assert!(
        outcome.top.iter().any(|(v, _)| v == "locked_in"),
        "{outcome:?}"
    );
    assert!(outcome.top.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[test]
fn the_synth_spec_survives_the_editor_and_matches_the_cli_reading() {
    let text = leadladder_synth::spec_toml();
    let spec = job::read_spec(text).unwrap();
    let written = spec_toml::to_toml(&spec).unwrap();
    assert_eq!(Spec::from_toml(&written).unwrap(), spec);
    // Reading a file with it works as the CLI reads it.
    let data =
        leadladder_core::ingest::read_csv(&synth_csv(50), &spec, &Default::default()).unwrap();
    assert_eq!(data.len(), 50);
}

#[test]
fn only_from_scratch_presets_and_the_flags_the_cli_overrides() {
    let err = job::options(&job::Job {
        preset: "qwen2-lora".into(),
        seed: None,
        epochs: None,
        bootstrap: None,
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("leadladder train"), "{err}");
    let o = job::options(&job::Job {
        preset: "demo".into(),
        seed: Some(11),
        epochs: Some(1),
        bootstrap: Some(0),
    })
    .unwrap();
    let preset = leadladder_trainer::preset::preset("demo").unwrap();
    assert_eq!((o.seed, o.epochs, o.bootstrap), (11, 1, 0));
    assert_eq!(o.ensemble, preset.ensemble);
    assert_eq!(o.max_tokens, preset.max_tokens);
}
