//! The drift check against an independent reference: `tests/fixtures/drift/make_reference.py`
//! writes a fit period, a shifted file and a file drawn like the fit period, and computes every
//! bucket count, share and PSI in plain Python; these tests fit a profile on the same fit period
//! and compare. Also: the warnings' words, the shares of unseen values and of values outside the
//! fitted range on crafted files, the streaming readers (queue, audit) giving the same report,
//! too few leads, fields the file lacks, and the profile's JSON.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use leadladder_core::audit::read_for_audit_checked;
use leadladder_core::drift::{DriftProfile, DriftReport, MAX_DISTINCT, MIN_LEADS, psi};
use leadladder_core::ingest::read_csv;
use leadladder_core::{Dataset, IngestOptions, Queue, Spec};
use serde_json::Value as Json;

const TOL: f64 = 1e-9;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/drift")
}

fn spec() -> Spec {
    Spec::from_toml(&std::fs::read_to_string(fixtures().join("drift.toml")).unwrap()).unwrap()
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn read(spec: &Spec, bytes: &[u8]) -> Dataset {
    read_csv(bytes, spec, &IngestOptions::default()).unwrap()
}

fn expected() -> Json {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
        .unwrap()
}

fn profile() -> DriftProfile {
    let fit = read(&spec(), &bytes("fit.csv"));
    DriftProfile::fit(&fit.schema, fit.leads.iter()).unwrap()
}

fn check(profile: &DriftProfile, data: &Dataset) -> DriftReport {
    let mut c = profile.checker(&data.schema).unwrap();
    for lead in &data.leads {
        c.add(lead);
    }
    c.finish()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= TOL, "{what}: {a} vs reference {b}");
}

#[test]
fn psi_equals_the_reference_on_fixed_tables() {
    let e = expected();
    for t in e["tables"].as_array().unwrap() {
        let counts = |k: &str| -> Vec<u64> {
            t[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        };
        let got = psi(&counts("expected"), &counts("actual")).unwrap();
        close(got, t["psi"].as_f64().unwrap(), &format!("{t}"));
    }
}

/// Every number of the report on `file` against the reference's `key` section.
fn compare_with_reference(report: &DriftReport, key: &str) {
    let e = &expected()[key];
    let fit_leads = report.fit_leads as f64;
    let leads = report.leads as f64;
    for f in &report.fields {
        let r = &e[f.name.as_str()];
        let what = |s: &str| format!("{key} {}: {s}", f.name);
        close(f.psi.unwrap(), r["psi"].as_f64().unwrap(), &what("psi"));
        close(
            f.missing_then,
            r["missing_then"].as_f64().unwrap(),
            &what("missing then"),
        );
        close(
            f.missing_now,
            r["missing_now"].as_f64().unwrap(),
            &what("missing now"),
        );
        let then: Vec<f64> = f
            .buckets
            .iter()
            .map(|b| (b.then * fit_leads).round())
            .collect();
        let now: Vec<f64> = f.buckets.iter().map(|b| (b.now * leads).round()).collect();
        let counts = |k: &str| -> Vec<f64> {
            r[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        assert_eq!(then, counts("then"), "{}", what("fit-period buckets"));
        assert_eq!(now, counts("now"), "{}", what("buckets"));
        for (got, k) in [(f.below, "below"), (f.above, "above"), (f.unseen, "unseen")] {
            match r.get(k) {
                Some(v) => close(got.unwrap(), v.as_f64().unwrap(), &what(k)),
                None => assert_eq!(got, None, "{}", what(k)),
            }
        }
        if let Some(range) = r.get("range") {
            let got = f.range.unwrap();
            close(got.min, range[0].as_f64().unwrap(), &what("min"));
            close(got.max, range[1].as_f64().unwrap(), &what("max"));
        }
    }
}

#[test]
fn a_shifted_file_warns_and_names_the_fields_that_moved() {
    let p = profile();
    assert_eq!(p.leads, 600);
    assert_eq!(p.field_names(), ["channel", "rate_index", "visit"]);
    let report = check(&p, &read(&spec(), &bytes("shifted.csv")));
    compare_with_reference(&report, "shifted");
    assert!(report.judged && report.drifted());
    assert_eq!(
        report.warnings,
        [
            "channel: 38% of these leads have values the model never saw in training (e.g. \
             \"tiktok\", \"radio\"); the ranking may not hold.",
            "rate_index: 90% of these leads lie outside anything the model was trained on \
             (below 2.31); the ranking may not hold.",
        ]
    );
    let channel = &report.fields[0];
    let top: Vec<(&str, u64)> = channel
        .top_unseen
        .iter()
        .map(|u| (u.value.as_str(), u.leads))
        .collect();
    assert_eq!(top, [("tiktok", 30), ("radio", 15)]);
    // `visit` moved (33% to 50% yes) but stays under the PSI threshold.
    assert!(report.fields[2].warning.is_none());
    assert!(
        report.summary.contains("2 of 3 fields have drifted"),
        "{}",
        report.summary
    );
}

#[test]
fn a_file_drawn_like_the_fit_period_does_not_warn() {
    let report = check(&profile(), &read(&spec(), &bytes("similar.csv")));
    compare_with_reference(&report, "similar");
    assert!(report.judged);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(
        report
            .summary
            .starts_with("drift check: no drift found (3 fields, 300 leads"),
        "{}",
        report.summary
    );
}

#[test]
fn unseen_and_out_of_range_shares_on_a_crafted_file() {
    // 100 leads: 25 on a new channel, 5 on another, the rest on a known one; rate_index 10
    // below the fitted range [2.31, 3.26], 60 above it, 30 inside; visit always missing.
    let mut csv = String::from("lead_id,created_at,channel,rate_index,visit,outcome\n");
    for i in 0..100 {
        let channel = match i {
            0..25 => "new-one",
            25..30 => " new-two ",
            30..35 => "fax", // seen in training, rarely
            35..40 => "",
            _ => "web",
        };
        let rate = match i % 10 {
            0 => "0.5",
            1..=6 => "10",
            _ => "2.5",
        };
        csv += &format!("C{i},2026-01-01,{channel},{rate},,won\n");
    }
    let report = check(&profile(), &read(&spec(), csv.as_bytes()));
    let [channel, rate, visit] = &report.fields[..] else {
        panic!("three fields")
    };
    assert!((channel.unseen.unwrap() - 0.30).abs() < TOL);
    assert!((channel.missing_now - 0.05).abs() < TOL);
    let top: Vec<(&str, u64)> = channel
        .top_unseen
        .iter()
        .map(|u| (u.value.as_str(), u.leads))
        .collect();
    assert_eq!(top, [("new-one", 25), ("new-two", 5)], "values are trimmed");
    assert!((rate.below.unwrap() - 0.10).abs() < TOL);
    assert!((rate.above.unwrap() - 0.60).abs() < TOL);
    assert!((visit.missing_now - 1.0).abs() < TOL);
    assert_eq!(
        rate.warning.as_deref(),
        Some(
            "rate_index: 70% of these leads lie outside anything the model was trained on (10% \
             below 2.31, 60% above 3.26); the ranking may not hold."
        )
    );
    assert!(
        channel.warning.as_deref().unwrap().starts_with(
            "channel: 30% of these leads have values the model never saw in training (e.g. \
             \"new-one\", \"new-two\")"
        ),
        "{:?}",
        channel.warning
    );
    let v = visit.warning.as_deref().unwrap();
    assert!(
        v.starts_with("visit: its values are spread differently from training (PSI")
            && v.contains("missing in 100% of these leads against 2% in training"),
        "{v}"
    );
}

#[test]
fn the_queue_and_the_audit_reader_check_while_they_read() {
    let p = profile();
    let spec = spec();
    let shifted = bytes("shifted.csv");
    let whole = check(&p, &read(&spec, &shifted));
    let q =
        Queue::read_checked(&spec, shifted.clone(), IngestOptions::default(), Some(&p)).unwrap();
    assert_eq!(q.drift(), Some(&whole));
    assert_eq!(
        Queue::read(&spec, shifted.clone(), IngestOptions::default())
            .unwrap()
            .drift(),
        None
    );
    let (data, drift) = read_for_audit_checked(
        std::io::Cursor::new(shifted),
        &spec,
        &IngestOptions::default(),
        &[],
        7,
        Some(&p),
    )
    .unwrap();
    assert_eq!(drift.as_ref(), Some(&whole));
    // The audit keeps only what it reads; the check saw every input column.
    assert!(data.schema.index("rate_index").is_none());
}

#[test]
fn too_few_leads_say_so_instead_of_warning() {
    let data = read(&spec(), &bytes("shifted.csv"));
    let p = profile();
    let mut c = p.checker(&data.schema).unwrap();
    for lead in data.leads.iter().take(MIN_LEADS as usize - 1) {
        c.add(lead);
    }
    let report = c.finish();
    assert!(!report.judged);
    assert!(report.warnings.is_empty());
    assert!(report.fields.iter().all(|f| f.warning.is_none()));
    assert_eq!(
        report.summary,
        "drift check: only 49 leads, too few to judge drift (at least 50 are needed)"
    );
    // The numbers are still there.
    assert!(report.fields[1].below.unwrap() > 0.8);
}

#[test]
fn a_field_the_file_lacks_or_reads_otherwise_is_named() {
    let p = profile();
    let text = std::fs::read_to_string(fixtures().join("drift.toml")).unwrap();
    let without = Spec::from_toml(&text.replace("numeric = [\"rate_index\"]", "")).unwrap();
    let data = read(&without, &bytes("fit.csv"));
    let e = p.checker(&data.schema).unwrap_err().to_string();
    assert!(
        e.contains("`rate_index`") && e.contains("not among this file's columns"),
        "{e}"
    );
    let as_category = Spec::from_toml(
        &text
            .replace("numeric = [\"rate_index\"]", "")
            .replace("[\"channel\"]", "[\"channel\", \"rate_index\"]"),
    )
    .unwrap();
    let data = read(&as_category, &bytes("fit.csv"));
    let e = p.checker(&data.schema).unwrap_err().to_string();
    assert!(
        e.contains("`rate_index` was numeric in the training data but is read as categorical"),
        "{e}"
    );
}

#[test]
fn json_round_trip_and_malformed_profiles() {
    let p = profile();
    let back = DriftProfile::from_json(&p.to_json().unwrap()).unwrap();
    assert_eq!(back, p);
    let mut bad = p.clone();
    bad.fields[1].counts[3] += 1;
    let e = DriftProfile::from_json(&bad.to_json().unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("`rate_index`") && e.to_string().contains("add up"),
        "{e}"
    );
    let mut bad = p.clone();
    bad.fields[0].seen = Some(vec!["web".into(), "app".into()]);
    let e = DriftProfile::from_json(&bad.to_json().unwrap()).unwrap_err();
    assert!(e.to_string().contains("`channel`"), "{e}");
    let mut bad = p.clone();
    bad.format = "leadladder-drift/9".into();
    assert!(DriftProfile::from_json(&bad.to_json().unwrap()).is_err());
    assert!(DriftProfile::from_json("{\"format\": 1}").is_err());
    p.check_inputs(&spec().input_columns()).unwrap();
    let mut other = spec();
    other.columns.boolean.clear();
    let e = p.check_inputs(&other.input_columns()).unwrap_err();
    assert!(e.to_string().contains("visit"), "{e}");
}

#[test]
fn a_field_with_too_many_values_keeps_none_and_says_so() {
    let mut csv = String::from("lead_id,created_at,channel,rate_index,visit,outcome\n");
    for i in 0..=MAX_DISTINCT {
        csv += &format!("F{i},2025-01-01,value-{i},{},yes,won\n", i % 7);
    }
    let data = read(&spec(), csv.as_bytes());
    let p = DriftProfile::fit(&data.schema, data.leads.iter()).unwrap();
    assert_eq!(p.fields[0].seen, None);
    assert_eq!(p.fields[0].distinct, Some(MAX_DISTINCT as u64 + 1));
    let report = check(&p, &read(&spec(), &bytes("shifted.csv")));
    let channel = &report.fields[0];
    assert_eq!(channel.unseen, None);
    assert!(
        channel
            .note
            .as_deref()
            .unwrap()
            .contains("1,001 distinct values, more than the 1,000 a profile keeps"),
        "{:?}",
        channel.note
    );
    // Every value reads as `other` in both periods: no shift is visible there, and none is made up.
    assert!(channel.warning.is_none());
    let empty: Vec<&leadladder_core::Lead> = Vec::new();
    assert!(DriftProfile::fit(&data.schema, empty.into_iter()).is_err());
}
