//! Agreement with an independent reference: `tests/fixtures/metrics/make_reference.py` computes
//! AUC with scikit-learn and P@K / recall@K with NumPy's stable argsort; every value must match
//! to 1e-9 (counts exactly).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use leadladder_core::Spec;
use leadladder_core::metrics::{
    EvalConfig, auc, brier, ece, evaluate, lift_at_k, precision_at_k, recall_at_k, top_k_count,
};
use leadladder_core::report::AuditReport;
use serde::Deserialize;

const TOL: f64 = 1e-9;

#[derive(Debug, Deserialize)]
struct Expected {
    n: usize,
    positives: usize,
    k_percents: Vec<f64>,
    methods: Vec<ExpectedMethod>,
    calibration: ExpectedCalibration,
}

#[derive(Debug, Deserialize)]
struct ExpectedMethod {
    name: String,
    auc: f64,
    at_k: Vec<ExpectedAtK>,
}

#[derive(Debug, Deserialize)]
struct ExpectedAtK {
    k_percent: f64,
    k_count: usize,
    hits: usize,
    precision: f64,
    recall: f64,
}

#[derive(Debug, Deserialize)]
struct ExpectedCalibration {
    brier: f64,
    ece_bins: usize,
    ece: f64,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/metrics")
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) to epoch seconds.
fn epoch_seconds(s: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19)
}

struct Leads {
    labels: Vec<bool>,
    scores: Vec<(String, Vec<f64>)>,
}

fn load() -> Leads {
    let mut reader = csv::Reader::from_path(fixtures().join("audit_reference.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (outcome, created) = (col("outcome"), col("created_at"));
    let score_cols = ["score_a", "score_b", "score_c"].map(|c| (c, col(c)));
    let mut labels = Vec::new();
    let mut scores: Vec<(String, Vec<f64>)> = score_cols
        .iter()
        .map(|(c, _)| (c.to_string(), Vec::new()))
        .chain(std::iter::once(("recency".to_string(), Vec::new())))
        .collect();
    for record in reader.records() {
        let record = record.unwrap();
        labels.push(&record[outcome] == "locked_in");
        for (j, (_, idx)) in score_cols.iter().enumerate() {
            scores[j].1.push(record[*idx].parse().unwrap());
        }
        scores[3].1.push(epoch_seconds(&record[created]) as f64);
    }
    Leads { labels, scores }
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixtures().join("audit_reference.expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: got {got}, want {want} (diff {:e})",
        got - want
    );
}

#[test]
fn spec_fixture_parses() {
    let text = std::fs::read_to_string(fixtures().join("audit_reference.toml")).unwrap();
    let spec = Spec::from_toml(&text).unwrap();
    assert_eq!(spec.name, "audit-reference");
    assert_eq!(spec.columns.score, ["score_a", "score_b", "score_c"]);
    assert_eq!(spec.rungs.len(), 2);
}

#[test]
fn fixture_has_the_intended_shape() {
    let leads = load();
    let exp = expected();
    assert_eq!(leads.labels.len(), exp.n);
    assert_eq!(leads.labels.iter().filter(|&&y| y).count(), exp.positives);
    let distinct = |s: &[f64]| {
        let mut v = s.to_vec();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.len()
    };
    let by_name = |n: &str| &leads.scores.iter().find(|(m, _)| m == n).unwrap().1;
    // score_b and score_c are heavily tied, recency has many shared hours.
    assert!(distinct(by_name("score_b")) < exp.n / 10);
    assert!(distinct(by_name("score_c")) <= 6);
    assert!(distinct(by_name("recency")) < exp.n);
}

#[test]
fn functions_match_reference() {
    let leads = load();
    let exp = expected();
    let y = &leads.labels;
    let base_rate = exp.positives as f64 / exp.n as f64;
    for (name, s) in &leads.scores {
        let want = exp.methods.iter().find(|m| &m.name == name).unwrap();
        assert_close(&format!("{name} AUC"), auc(s, y).unwrap(), want.auc);
        for a in &want.at_k {
            let what = format!("{name} @{}%", a.k_percent);
            assert_eq!(top_k_count(a.k_percent, exp.n), a.k_count, "{what} k");
            assert_close(
                &what,
                precision_at_k(s, y, a.k_percent).unwrap(),
                a.precision,
            );
            assert_close(&what, recall_at_k(s, y, a.k_percent).unwrap(), a.recall);
            assert_close(
                &what,
                lift_at_k(s, y, a.k_percent).unwrap(),
                a.precision / base_rate,
            );
        }
    }
    assert_eq!(exp.methods.len(), leads.scores.len());
}

#[test]
fn evaluate_matches_reference() {
    let leads = load();
    let exp = expected();
    let y = &leads.labels;
    let cfg = EvalConfig {
        k_percents: exp.k_percents.clone(),
        bootstrap: 200,
        seed: 11,
        ece_bins: exp.calibration.ece_bins,
        ..EvalConfig::default()
    };
    for (name, s) in &leads.scores {
        let want = exp.methods.iter().find(|m| &m.name == name).unwrap();
        let probs: Option<Vec<f64>> =
            (name == "score_a").then(|| s.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect());
        let r = evaluate(name, s, y, probs.as_deref(), &cfg).unwrap();
        assert_eq!((r.n, r.positives), (exp.n, exp.positives));
        assert_close(&format!("{name} AUC"), r.auc.value, want.auc);
        assert_eq!(r.at_k.len(), want.at_k.len());
        for (got, a) in r.at_k.iter().zip(&want.at_k) {
            let what = format!("{name} @{}%", a.k_percent);
            assert_eq!((got.k_count, got.hits), (a.k_count, a.hits), "{what}");
            assert_close(&what, got.precision.value, a.precision);
            assert_close(&what, got.recall, a.recall);
            let (lo, hi) = (got.precision.lo.unwrap(), got.precision.hi.unwrap());
            assert!((0.0..=1.0).contains(&lo) && lo <= hi && hi <= 1.0, "{what}");
        }
        assert_eq!(r.bootstrap_used, 200);
        let (lo, hi) = (r.auc.lo.unwrap(), r.auc.hi.unwrap());
        assert!(lo <= hi && (lo - r.auc.value).abs() < 0.1 && (hi - r.auc.value).abs() < 0.1);
        if let Some(p) = &probs {
            assert_close("brier", r.brier.unwrap(), exp.calibration.brier);
            assert_close("ece", r.ece.unwrap(), exp.calibration.ece);
            assert_close("brier fn", brier(p, y).unwrap(), exp.calibration.brier);
            assert_close(
                "ece fn",
                ece(p, y, exp.calibration.ece_bins).unwrap(),
                exp.calibration.ece,
            );
        } else {
            assert_eq!((r.brier, r.ece), (None, None));
        }
    }
}

#[test]
fn audit_report_renders_the_reference_table() {
    let leads = load();
    let exp = expected();
    let cfg = EvalConfig {
        bootstrap: 100,
        seed: 3,
        ..EvalConfig::default()
    };
    let mut report = AuditReport::new("Audit: audit-reference", exp.n, exp.positives, cfg.clone())
        .relative_to("recency");
    // Baseline first, the method under audit last.
    for (name, s) in leads.scores.iter().rev() {
        report = report.with_method(evaluate(name, s, &leads.labels, None, &cfg).unwrap());
    }
    let md = report.to_markdown();
    println!("{md}");
    assert!(
        md.contains("n = 3,001 leads, 84 positives (base rate 2.80%)"),
        "{md}"
    );
    assert!(
        md.contains("P@0.1% (k=4)") && md.contains("P@1% (k=31)"),
        "{md}"
    );
    assert!(md.contains("P@10% (k=301)"), "{md}");
    // score_a: AUC 0.8944, P@1% = 20/31 = 64.52%, lift 0.6452 / 0.0280 = 23.0x.
    let row = md.lines().find(|l| l.starts_with("| score_a")).unwrap();
    assert!(row.contains("| 0.8944 ["), "{row}");
    assert!(row.contains("| 64.52% ["), "{row}");
    assert!(row.contains("23.0x"), "{row}");
    assert!(md.contains("| Relative lift: score_a vs recency"), "{md}");
    let back = AuditReport::from_json(&report.to_json().unwrap()).unwrap();
    assert_eq!(back.methods.len(), 4);
}
