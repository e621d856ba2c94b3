//! Field-token bundles (`leadladder-bundle/2`, `leadladder-prompt/2`): the encoding, the field
//! tables travelling in the metadata, the two-position pooling flag, and the checks that keep an
//! old or inconsistent bundle from being mis-read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use leadladder_bundle::{
    Bundle, BundleConfig, BundleMeta, CalibratedHead, FORMAT, FORMAT_V1, LeadEncoder, StoreDtype,
    write_bundle,
};
use leadladder_core::fields::{FIELD_PROMPT_VERSION, FieldCodec, FitOptions};
use leadladder_core::prompt::PROMPT_VERSION;
use leadladder_core::value::Value;

fn codec() -> FieldCodec {
    let leads: Vec<_> = (0..60)
        .map(|i| {
            let mut l = lead("rep: hi");
            l.values[0] = Value::Str(["referral", "web_form", "app"][i % 3].into());
            l.values[1] = Value::Num((i % 7) as f64);
            l.values[2] = Value::Bool(i % 2 == 0);
            l
        })
        .collect();
    FieldCodec::fit(&schema(), leads.iter(), &FitOptions::default()).unwrap()
}

fn encoder() -> LeadEncoder {
    LeadEncoder::with_fields(tokenizer().clone(), codec())
}

fn v2_config() -> BundleConfig {
    let mut c = bundle_config(false);
    c.model.vocab_size = encoder().vocab_size() + 5;
    c.pool_position = Some(2);
    c.calibration.head = CalibratedHead::Rank;
    c
}

fn v2_bundle() -> Vec<u8> {
    let c = v2_config();
    let meta = BundleMeta::new(&c, &encoder(), &spec(), "{}".into(), &provenance()).unwrap();
    write_bundle(&weights(&c.model, 3), &meta, StoreDtype::Int8).unwrap()
}

fn dialogue(n: usize) -> String {
    (0..n)
        .map(|i| format!("customer: turn {i} about the test drive"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn field_tokens_come_first_then_the_dialogue_then_eos() {
    let e = encoder();
    let base = tokenizer().vocab_size() as u32;
    let enc = e
        .encode_lead(&schema(), &lead(&dialogue(3)), "\n", 200)
        .unwrap();
    let fields = codec().encode(&schema(), &lead(""));
    assert_eq!(
        &enc.ids[..3],
        fields
            .iter()
            .map(|&k| base + k)
            .collect::<Vec<_>>()
            .as_slice()
    );
    assert_eq!(*enc.ids.last().unwrap(), tokenizer().eos_id());
    assert!(enc.ids[3..enc.ids.len() - 1].iter().all(|&id| id < base));
    assert_eq!(&enc.text_mask[..3], &[0, 0, 0]);
    assert!(enc.text_mask[3..enc.ids.len() - 1].iter().all(|&m| m == 1));
    assert_eq!(*enc.text_mask.last().unwrap(), 0);
    assert_eq!(
        (enc.turns_kept, enc.turns_total, enc.truncated),
        (3, 3, false)
    );
    let text = tokenizer().decode(&enc.ids[3..]).unwrap();
    assert!(text.starts_with("dialogue:\ncustomer: turn 0"), "{text}");
    assert!(
        e.token_name(base).contains("channel"),
        "{}",
        e.token_name(base)
    );
    assert_eq!(e.prompt_version(), FIELD_PROMPT_VERSION);
}

#[test]
fn budget_drops_oldest_turns_and_keeps_every_field() {
    let e = encoder();
    let full = e
        .encode_lead(&schema(), &lead(&dialogue(12)), "\n", 10_000)
        .unwrap();
    for budget in [full.ids.len() - 1, full.ids.len() / 2, 12, 5, 4] {
        let enc = e
            .encode_lead(&schema(), &lead(&dialogue(12)), "\n", budget)
            .unwrap();
        assert!(enc.ids.len() <= budget, "{budget}: {}", enc.ids.len());
        assert_eq!(
            &enc.ids[..3],
            &full.ids[..3],
            "fields kept whole at {budget}"
        );
        assert!(!enc.truncated, "{budget}");
        assert!(enc.turns_kept < 12, "{budget}");
    }
    // Below the field block: cut, flagged, still ending with EOS.
    let enc = e
        .encode_lead(&schema(), &lead(&dialogue(2)), "\n", 3)
        .unwrap();
    assert_eq!(enc.ids.len(), 3);
    assert!(enc.truncated);
    assert_eq!(enc.ids[2], tokenizer().eos_id());
    assert!(e.encode_lead(&schema(), &lead("x"), "\n", 1).is_err());
}

#[test]
fn v2_bundle_round_trips_its_fields_and_pooling() {
    let bytes = v2_bundle();
    let b = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(b.meta.format, FORMAT);
    assert_eq!(b.meta.prompt_version, FIELD_PROMPT_VERSION);
    assert_eq!(b.encoder.fields(), Some(&codec()));
    assert_eq!(b.config.pool_position, Some(2));
    assert_eq!(b.config.calibration.head, CalibratedHead::Rank);
    let l = lead(&dialogue(4));
    assert_eq!(
        b.encoder.encode_lead(&schema(), &l, "\n", 64).unwrap(),
        encoder().encode_lead(&schema(), &l, "\n", 64).unwrap()
    );
}

fn with_meta(bytes: &[u8], key: &str, value: Option<&str>) -> Vec<u8> {
    let mut parts = split(bytes);
    match value {
        Some(v) => parts.meta.insert(key.into(), v.into()),
        None => parts.meta.remove(key),
    };
    join(&parts)
}

fn err(bytes: &[u8]) -> String {
    Bundle::from_bytes(bytes).unwrap_err().to_string()
}

#[test]
fn inconsistent_field_bundles_are_refused_by_name() {
    let good = v2_bundle();
    let e = err(&with_meta(&good, "fields", None));
    assert!(e.contains("prompt_version") && e.contains("fields"), "{e}");
    let e = err(&with_meta(&good, "prompt_version", Some(PROMPT_VERSION)));
    assert!(e.contains("prompt_version"), "{e}");
    let e = err(&with_meta(
        &good,
        "prompt_version",
        Some("leadladder-prompt/9"),
    ));
    assert!(e.contains("leadladder-prompt/9"), "{e}");
    // Field tables for other columns than the spec's inputs.
    let mut other = codec();
    other.fields[1].name = "calls".into();
    let e = err(&with_meta(&good, "fields", Some(&other.to_json().unwrap())));
    assert!(e.contains("`fields`") && e.contains("calls"), "{e}");
    // Unsorted bin edges.
    let mut bad = codec();
    if let leadladder_core::fields::FieldKind::Numeric { edges, .. } = &mut bad.fields[1].kind {
        edges.reverse();
    }
    let e = err(&with_meta(&good, "fields", Some(&bad.to_json().unwrap())));
    assert!(
        e.contains("calls_so_far") && e.contains("increasing"),
        "{e}"
    );
    // A pooled position that is not the last field token.
    let mut c = v2_config();
    c.pool_position = Some(1);
    let e = err(&with_meta(&good, "config", Some(&c.to_json().unwrap())));
    assert!(e.contains("pool_position"), "{e}");
    // The field tokens must fit the embedding.
    let mut c = v2_config();
    c.model.vocab_size = tokenizer().vocab_size() + 2;
    let e = err(&with_meta(&good, "config", Some(&c.to_json().unwrap())));
    assert!(e.contains("vocab"), "{e}");
}

#[test]
fn a_v1_bundle_keeps_its_old_meaning_and_nothing_newer_passes_as_v1() {
    // Written as format 1 (text prompt, point-head calibration): still loads, same encoding.
    let c = bundle_config(false);
    let meta = meta(&c);
    let v2 = write_bundle(&weights(&c.model, 1), &meta, StoreDtype::F32).unwrap();
    let v1 = with_meta(&v2, "format", Some(FORMAT_V1));
    let b = Bundle::from_bytes(&v1).unwrap();
    assert_eq!(b.meta.prompt_version, PROMPT_VERSION);
    assert_eq!(b.config.calibration.head, CalibratedHead::Point);
    let l = lead(&dialogue(2));
    assert_eq!(
        b.encoder.encode_lead(&schema(), &l, "\n", 64).unwrap(),
        tokenizer().encode_lead(&schema(), &l, "\n", 64).unwrap()
    );
    // A config without the calibration head key (as format 1 wrote it) reads as the point head.
    let mut cfg: serde_json::Value = serde_json::from_str(&b.meta.config_json).unwrap();
    cfg["calibration"].as_object_mut().unwrap().remove("head");
    let old = with_meta(&v1, "config", Some(&cfg.to_string()));
    assert_eq!(
        Bundle::from_bytes(&old).unwrap().config.calibration.head,
        CalibratedHead::Point
    );
    // Field tokens, rank calibration or pooling under the format-1 tag are refused.
    let e = err(&with_meta(&v2_bundle(), "format", Some(FORMAT_V1)));
    assert!(e.contains("prompt_version"), "{e}");
    let mut rank = c.clone();
    rank.calibration.head = CalibratedHead::Rank;
    let e = err(&with_meta(&v1, "config", Some(&rank.to_json().unwrap())));
    assert!(e.contains("point head"), "{e}");
    // An unknown format names both that this build reads.
    let e = err(&with_meta(&v1, "format", Some("leadladder-bundle/9")));
    assert!(e.contains(FORMAT_V1) && e.contains(FORMAT), "{e}");
}
