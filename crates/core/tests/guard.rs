//! The guard on crafted test-period reports: it fires when the model's AUC interval lies
//! entirely below recency's (or the hand tier sort's), stays silent when the intervals overlap,
//! and says it could not run without intervals.
#![allow(clippy::unwrap_used)]

use leadladder_core::audit::{HAND_TIER, RANDOM, RECENCY};
use leadladder_core::guard::{Guard, GuardStatus, train_lines};
use leadladder_core::metrics::{Estimate, EvalConfig, MethodReport};
use leadladder_core::report::AuditReport;

const MODEL: &str = "leadladder demo (hpro+semantic)";

fn est(value: f64, ci: Option<(f64, f64)>) -> Estimate {
    Estimate {
        value,
        lo: ci.map(|c| c.0),
        hi: ci.map(|c| c.1),
    }
}

fn method(name: &str, auc: Estimate) -> MethodReport {
    MethodReport {
        name: name.to_string(),
        n: 1000,
        positives: 40,
        auc,
        at_k: Vec::new(),
        brier: None,
        ece: None,
        bootstrap_used: 1000,
    }
}

fn report(model: Estimate, recency: Estimate, tier: Option<Estimate>) -> AuditReport {
    let mut r = AuditReport::new("Test period", 1000, 40, EvalConfig::default())
        .with_method(method(RECENCY, recency));
    if let Some(t) = tier {
        r = r.with_method(method(HAND_TIER, t));
    }
    r.with_method(method(RANDOM, est(0.5, Some((0.45, 0.55)))))
        .with_method(method(MODEL, model))
}

#[test]
fn fires_when_the_model_loses_to_recency_beyond_the_intervals() {
    let r = report(
        est(0.52, Some((0.49, 0.55))),
        est(0.72, Some((0.70, 0.74))),
        Some(est(0.53, Some((0.50, 0.56)))),
    );
    let g = Guard::check(&r, MODEL).unwrap();
    assert_eq!(g.status, GuardStatus::Worse);
    assert!(g.fires());
    assert_eq!(
        g.message,
        "This model ranks worse than recency on its own test period: AUC 0.52 [0.49, 0.55] \
         against 0.72 [0.70, 0.74]. Do not trust its queue; work the leads newest first until \
         a model trained on newer leads beats it."
    );
    let beats: Vec<(&str, bool)> = g
        .baselines
        .iter()
        .map(|b| (b.name.as_str(), b.beats_model))
        .collect();
    assert_eq!(beats, [(RECENCY, true), (HAND_TIER, false)]);
    assert_eq!(
        train_lines(&r, MODEL).unwrap(),
        [format!("WARNING: {}", g.message)]
    );
    assert_eq!(Guard::from_json(&g.to_json().unwrap()).unwrap(), g);
}

#[test]
fn names_every_baseline_that_wins_and_works_by_the_best() {
    let r = report(
        est(0.52, Some((0.49, 0.55))),
        est(0.60, Some((0.57, 0.63))),
        Some(est(0.70, Some((0.67, 0.73)))),
    );
    let g = Guard::check(&r, MODEL).unwrap();
    assert_eq!(g.status, GuardStatus::Worse);
    assert!(
        g.message.starts_with(
            "This model ranks worse than recency and the hand tier sort on its own test \
             period: AUC 0.52 [0.49, 0.55] against 0.60 [0.57, 0.63] and 0.70 [0.67, 0.73]. \
             Do not trust its queue; work the leads by the hand tier sort"
        ),
        "{}",
        g.message
    );
}

#[test]
fn stays_silent_when_the_intervals_overlap() {
    // The point estimate is lower, but the intervals overlap: no verdict against the model.
    let r = report(
        est(0.66, Some((0.60, 0.71))),
        est(0.72, Some((0.70, 0.74))),
        None,
    );
    let g = Guard::check(&r, MODEL).unwrap();
    assert_eq!(g.status, GuardStatus::Passed);
    assert!(!g.fires());
    assert!(g.baselines.iter().all(|b| !b.beats_model));
    assert!(g.lines().is_empty());
    assert!(train_lines(&r, MODEL).unwrap().is_empty());
    assert!(
        g.message.contains("does not rank worse than recency"),
        "{}",
        g.message
    );
}

#[test]
fn without_intervals_it_says_it_could_not_run() {
    let r = report(est(0.40, None), est(0.72, None), Some(est(0.70, None)));
    let g = Guard::check(&r, MODEL).unwrap();
    assert_eq!(g.status, GuardStatus::NotRun);
    assert!(!g.fires());
    assert!(g.message.contains("could not run") && g.message.contains("--bootstrap 0"));
    assert_eq!(g.lines(), [format!("note: {}", g.message)]);
    // An interval on one side only is no interval.
    let r = report(est(0.40, Some((0.38, 0.42))), est(0.72, None), None);
    assert_eq!(Guard::check(&r, MODEL).unwrap().status, GuardStatus::NotRun);
}

#[test]
fn an_unknown_model_or_a_report_without_recency_is_an_error() {
    let r = report(
        est(0.52, Some((0.49, 0.55))),
        est(0.72, Some((0.70, 0.74))),
        None,
    );
    let e = Guard::check(&r, "nope").unwrap_err().to_string();
    assert!(e.contains("`nope`") && e.contains(RECENCY), "{e}");
    let mut no_recency = r.clone();
    no_recency.methods.retain(|m| m.name != RECENCY);
    let e = Guard::check(&no_recency, MODEL).unwrap_err().to_string();
    assert!(e.contains("recency"), "{e}");
    assert!(Guard::from_json("{}").is_err());
}
