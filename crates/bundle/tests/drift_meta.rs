//! The optional `drift_profile` and `guard` metadata keys: typed round trip, bundles without
//! them (older ones) still loading, malformed values refused at load naming the key, and new
//! metadata written over stored tensors without touching them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use leadladder_bundle::{Bundle, Error, StoreDtype, keys, write_bundle};
use leadladder_core::dataset::Lead;
use leadladder_core::drift::DriftProfile;
use leadladder_core::guard::{Guard, GuardStatus};
use leadladder_core::metrics::{Estimate, EvalConfig, MethodReport};
use leadladder_core::report::AuditReport;
use leadladder_core::value::Value;

fn fit_leads() -> Vec<Lead> {
    (0..80)
        .map(|i| Lead {
            id: format!("L{i}").into(),
            created_at: i,
            values: vec![
                Value::Str(["referral", "web", "phone"][(i % 3) as usize].into()),
                Value::Num((i % 9) as f64),
                Value::Bool(i % 2 == 0),
                Value::Str("rep: hi".into()),
                Value::Str("open".into()),
            ]
            .into_boxed_slice(),
            row: i as u64 + 1,
        })
        .collect()
}

fn profile() -> DriftProfile {
    DriftProfile::fit(&schema(), fit_leads().iter()).unwrap()
}

fn guard() -> Guard {
    let m = |name: &str, value: f64, lo: f64, hi: f64| MethodReport {
        name: name.into(),
        n: 500,
        positives: 20,
        auc: Estimate {
            value,
            lo: Some(lo),
            hi: Some(hi),
        },
        at_k: Vec::new(),
        brier: None,
        ece: None,
        bootstrap_used: 1000,
    };
    let report = AuditReport::new("Test period", 500, 20, EvalConfig::default())
        .with_method(m(leadladder_core::audit::RECENCY, 0.72, 0.70, 0.74))
        .with_method(m("leadladder tiny (hpro)", 0.52, 0.49, 0.55));
    Guard::check(&report, "leadladder tiny (hpro)").unwrap()
}

fn rejects(case: &str, bytes: &[u8], key: &str) {
    match Bundle::from_bytes(bytes) {
        Ok(_) => panic!("{case}: loaded"),
        Err(e) => {
            assert!(matches!(e, Error::BadMetadata { .. }), "{case}: {e:?}");
            assert!(e.to_string().contains(&format!("`{key}`")), "{case}: {e}");
        }
    }
}

#[test]
fn both_keys_round_trip_typed() {
    let (p, g) = (profile(), guard());
    assert_eq!(g.status, GuardStatus::Worse);
    let c = bundle_config(false);
    for dtype in [StoreDtype::F32, StoreDtype::Int8] {
        let meta = meta(&c)
            .with_drift_profile(&p)
            .unwrap()
            .with_guard(&g)
            .unwrap();
        let bytes = write_bundle(&weights(&c.model, 1), &meta, dtype).unwrap();
        let b = Bundle::from_bytes(&bytes).unwrap();
        assert_eq!(b.drift_profile(), Some(&p));
        assert_eq!(b.guard(), Some(&g));
        assert_eq!(b.meta.drift_profile().unwrap(), Some(p.clone()));
        assert_eq!(b.meta.guard().unwrap(), Some(g.clone()));
        let parts = split(&bytes);
        assert!(parts.meta.contains_key(keys::DRIFT_PROFILE));
        assert!(parts.meta.contains_key(keys::GUARD));
        let info = b.info();
        assert_eq!(info.drift_profile_leads, Some(80));
        assert_eq!(
            info.drift_fields,
            ["channel", "calls_so_far", "visit_booked"]
        );
        assert_eq!(info.guard.as_ref(), Some(&g));
    }
}

#[test]
fn bundles_without_them_load_as_before() {
    for dtype in [StoreDtype::F32, StoreDtype::F16, StoreDtype::Int8] {
        let b = Bundle::from_bytes(&good_bundle(dtype)).unwrap();
        assert_eq!(b.drift_profile(), None);
        assert_eq!(b.guard(), None);
        let info = b.info();
        assert_eq!(info.drift_profile_leads, None);
        assert!(info.drift_fields.is_empty());
        assert!(info.guard.is_none());
    }
    // The demo model as shipped before them (leadladder-bundle/2) loads without them.
    let old = Bundle::from_bytes(include_bytes!(
        "../../../tests/fixtures/old-bundle/demo-bundle2.int8.safetensors"
    ))
    .unwrap();
    assert!(old.drift_profile().is_none() && old.guard().is_none());
    // The shipped demo model carries both: its fit period's distribution and a guard that passed.
    let demo =
        Bundle::from_bytes(include_bytes!("../../../web/models/demo.int8.safetensors")).unwrap();
    let profile = demo
        .drift_profile()
        .expect("the demo stores its drift profile");
    assert_eq!(profile.leads, 31_500);
    assert!(!demo.guard().expect("the demo stores its guard").fires());
}

#[test]
fn malformed_values_are_refused_at_load_naming_the_key() {
    let other = {
        let mut p = profile();
        p.codec.fields.pop();
        p.fields.pop();
        p
    };
    let wrong_fields = other.to_json().unwrap();
    let mut unsorted = profile();
    unsorted.fields[0].seen = Some(vec!["web".into(), "phone".into(), "referral".into()]);
    let unsorted = unsorted.to_json().unwrap();
    for (key, value) in [
        (keys::DRIFT_PROFILE, "{oops"),
        (keys::DRIFT_PROFILE, "{\"format\": \"leadladder-drift/1\"}"),
        (keys::DRIFT_PROFILE, wrong_fields.as_str()),
        (keys::DRIFT_PROFILE, unsorted.as_str()),
        (keys::GUARD, "[]"),
        (keys::GUARD, "{\"format\": \"leadladder-guard/9\"}"),
    ] {
        let mut parts = split(&good_bundle(StoreDtype::F32));
        parts.meta.insert(key.to_string(), value.to_string());
        rejects(&format!("{key} = {value:.40}"), &join(&parts), key);
    }
    // The writer refuses them too, before anything is written.
    let c = bundle_config(false);
    let mut m = meta(&c);
    m.drift_profile_json = Some(wrong_fields);
    let e = write_bundle(&weights(&c.model, 1), &m, StoreDtype::F32).unwrap_err();
    assert!(e.to_string().contains("`drift_profile`"), "{e}");
    assert!(
        e.to_string().contains("calls_so_far") && e.to_string().contains("visit_booked"),
        "{e}"
    );
}

#[test]
fn new_metadata_over_stored_tensors_keeps_them_byte_for_byte() {
    let old = good_bundle(StoreDtype::Int8);
    let b = Bundle::from_bytes(&old).unwrap();
    let meta = b.meta.clone().with_drift_profile(&profile()).unwrap();
    let new = b.with_meta(&meta).unwrap();
    let back = Bundle::from_bytes(&new).unwrap();
    assert_eq!(back.drift_profile(), Some(&profile()));
    assert_eq!(
        back.meta.extra.get(keys::WEIGHTS_HASH),
        b.meta.extra.get(keys::WEIGHTS_HASH),
        "the stored tensors' hash is unchanged"
    );
    let (a, z) = (split(&old), split(&new));
    assert_eq!(a.tensors.len(), z.tensors.len());
    for ((na, ra), (nz, rz)) in a.tensors.iter().zip(&z.tensors) {
        assert_eq!(
            (na, ra.dtype, &ra.shape, &ra.data),
            (nz, rz.dtype, &rz.shape, &rz.data)
        );
    }
    let mut changed = meta.clone();
    changed.config_json = changed
        .config_json
        .replace("\"max_tokens\":64", "\"max_tokens\":32");
    assert_ne!(changed.config_json, meta.config_json);
    let e = b.with_meta(&changed).unwrap_err();
    assert!(e.to_string().contains("`config`"), "{e}");
}
