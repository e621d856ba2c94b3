//! End-to-end tests of the `leadladder` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, fail, repo, run, tmp};
use serde_json::Value;

#[test]
fn synth_is_byte_identical_for_a_seed_and_writes_a_valid_spec() {
    let dir = tmp("synth");
    for (name, seed) in [("a", 3), ("b", 3), ("c", 4)] {
        run(bin()
            .args([
                "synth",
                "--leads",
                "3000",
                "--seed",
                &seed.to_string(),
                "--lang",
                "mixed",
                "--out",
            ])
            .arg(dir.join(format!("{name}.csv"))));
    }
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    assert_eq!(read("a.csv"), read("b.csv"));
    assert_ne!(read("a.csv"), read("c.csv"));
    let spec = String::from_utf8(read("a.toml")).unwrap();
    leadladder_core::Spec::from_toml(&spec).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// `audit --json` agrees with scikit-learn / NumPy (tests/fixtures/metrics/make_reference.py).
#[test]
fn audit_matches_the_scikit_learn_reference() {
    let fx = repo().join("tests/fixtures/metrics");
    let out = run(bin()
        .args([
            "audit",
            "--json",
            "--bootstrap",
            "0",
            "--score",
            "score_a",
            "--score",
            "score_b",
            "--score",
            "score_c",
        ])
        .arg("--input")
        .arg(fx.join("audit_reference.csv"))
        .arg("--ladder")
        .arg(fx.join("audit_reference.toml")));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(fx.join("audit_reference.expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(got["n"], want["n"]);
    assert_eq!(got["positives"], want["positives"]);
    let methods = got["methods"].as_array().unwrap();
    let mut checked = 0;
    for w in want["methods"].as_array().unwrap() {
        let name = w["name"].as_str().unwrap();
        let name = if name == "recency" {
            leadladder_core::audit::RECENCY
        } else {
            name
        };
        let g = methods
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no method {name}"));
        let close = |a: &Value, b: &Value, what: &str| {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= 1e-9, "{name} {what}: {a} vs {b}");
        };
        close(&g["auc"]["value"], &w["auc"], "auc");
        for (ga, wa) in g["at_k"]
            .as_array()
            .unwrap()
            .iter()
            .zip(w["at_k"].as_array().unwrap())
        {
            assert_eq!(ga["k_count"], wa["k_count"], "{name}");
            assert_eq!(ga["hits"], wa["hits"], "{name}");
            close(&ga["precision"]["value"], &wa["precision"], "precision");
            close(&ga["recall"], &wa["recall"], "recall");
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "score_a, score_b, score_c and recency");
}

/// On the synthetic funnel's test period the hand tier sort beats recency and the latent-intent
/// oracle beats both by a clear margin: learnable, not trivial.
#[test]
fn audit_of_the_synthetic_test_period_orders_baselines_sensibly() {
    let dir = tmp("funnel");
    let csv = dir.join("leads.csv");
    run(bin()
        .args(["synth", "--leads", "60000", "--seed", "7", "--out"])
        .arg(&csv));
    let out = run(bin()
        .args([
            "audit",
            "--json",
            "--bootstrap",
            "200",
            "--split",
            "temporal",
            "--score",
            "latent_intent",
        ])
        .arg("--input")
        .arg(&csv)
        .arg("--ladder")
        .arg(dir.join("leads.toml")));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["n"], 18_000);
    let p1 = |name: &str| {
        let m = report["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap();
        m["at_k"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["k_percent"] == 1.0)
            .unwrap()["precision"]["value"]
            .as_f64()
            .unwrap()
    };
    let (recency, tier, oracle) = (
        p1(leadladder_core::audit::RECENCY),
        p1(leadladder_core::audit::HAND_TIER),
        p1("latent_intent"),
    );
    assert!(tier > recency, "tier {tier} vs recency {recency}");
    assert!(oracle > 2.0 * tier, "oracle {oracle} vs tier {tier}");
    assert!(oracle < 0.6, "the oracle is not perfect: {oracle}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn audit_errors_name_the_problem() {
    let fx = repo().join("tests/fixtures/metrics");
    let dir = tmp("errors");
    // A spec that uses an outcome as an input is refused, naming the column.
    let leaky = std::fs::read_to_string(fx.join("audit_reference.toml"))
        .unwrap()
        .replace("[columns]\n", "[columns]\nboolean = [\"test_drive\"]\n");
    std::fs::write(dir.join("leaky.toml"), leaky).unwrap();
    let err = fail(
        bin()
            .arg("audit")
            .arg("--input")
            .arg(fx.join("audit_reference.csv"))
            .arg("--ladder")
            .arg(dir.join("leaky.toml")),
    );
    assert!(
        err.contains("`test_drive`") && err.contains("leaks"),
        "{err}"
    );
    // A bad cell names row, column and value.
    std::fs::write(
        dir.join("bad.csv"),
        "lead_id,created_at,outcome,test_drive,score_a,score_b,score_c\nA,2025-01-01,open,false,1,1,1\nB,someday,open,false,1,1,1\n",
    )
    .unwrap();
    let err = fail(
        bin()
            .arg("audit")
            .arg("--input")
            .arg(dir.join("bad.csv"))
            .arg("--ladder")
            .arg(fx.join("audit_reference.toml")),
    );
    assert!(
        err.contains("row 2") && err.contains("created_at") && err.contains("someday"),
        "{err}"
    );
    // A missing file.
    let err = fail(
        bin()
            .args(["audit", "--input", "/nonexistent/x.csv", "--ladder"])
            .arg(fx.join("audit_reference.toml")),
    );
    assert!(err.contains("/nonexistent/x.csv"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
