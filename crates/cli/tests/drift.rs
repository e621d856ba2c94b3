//! The drift check and the guard on the command line: `leadladder profile` stores the training
//! data's distribution in the demo bundle; `rank` (streamed and in memory) and `audit --model`
//! then warn about a shifted file naming its fields, find nothing in a file like the training
//! data, and say the check is unavailable with a bundle that has no profile; a guard that fired
//! is repeated by `rank`; `train` says when the guard could not run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{bin, demo_model, fail, rank_cmd, run, tmp};
use leadladder_core::drift::UNAVAILABLE;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `leadladder audit --json` of `input` read with `spec`, checked against the bundle `model`
/// (no bootstrap).
fn audit_with_model(input: &Path, spec: &Path, model: &Path) -> serde_json::Value {
    let mut cmd = bin();
    cmd.arg("audit")
        .arg("--input")
        .arg(input)
        .arg("--ladder")
        .arg(spec)
        .arg("--model")
        .arg(model)
        .args(["--bootstrap", "0", "--json"]);
    serde_json::from_slice(&run(&mut cmd).stdout).unwrap()
}

/// `leadladder train --preset tiny --epochs 1` of `csv` (with `spec`) into `out` on one thread,
/// with `extra` arguments; its stderr.
fn train_tiny(csv: &Path, spec: &Path, out: &Path, extra: &[&str]) -> String {
    stderr(&run(bin()
        .arg("train")
        .arg("--input")
        .arg(csv)
        .arg("--ladder")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .args(["--preset", "tiny", "--epochs", "1"])
        .args(extra)
        .env("RAYON_NUM_THREADS", "1")))
}

/// `synth` leads; returns the CSV and its spec.
fn synth(dir: &Path, name: &str, leads: &str, seed: &str) -> (PathBuf, PathBuf) {
    let csv = dir.join(format!("{name}.csv"));
    run(bin()
        .args(["synth", "--leads", leads, "--seed", seed, "--out"])
        .arg(&csv));
    (csv.clone(), csv.with_extension("toml"))
}

/// `csv` with every lead on a channel never seen and far more calls than any training lead.
fn shifted(csv: &Path, out: &Path) {
    let mut r = csv::Reader::from_path(csv).unwrap();
    let header = r.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (channel, calls) = (at("channel"), at("calls_so_far"));
    let mut w = csv::Writer::from_path(out).unwrap();
    w.write_record(&header).unwrap();
    for rec in r.records() {
        let mut cells: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        cells[channel] = "tiktok".into();
        cells[calls] = "500".into();
        w.write_record(&cells).unwrap();
    }
    w.flush().unwrap();
}

struct Fixture {
    dir: PathBuf,
    model: PathBuf,
    spec: PathBuf,
    similar: PathBuf,
    shifted: PathBuf,
}

fn fixture(name: &str) -> Fixture {
    let dir = tmp(name);
    let (fit, spec) = synth(&dir, "fit", "2000", "7");
    let model = dir.join("demo-profiled.safetensors");
    let log = stderr(&run(bin()
        .arg("profile")
        .arg("--model")
        .arg(demo_model())
        .arg("--input")
        .arg(&fit)
        .arg("--out")
        .arg(&model)));
    assert!(
        log.contains("stored the distribution of 1260 fit-period leads"),
        "{log}"
    );
    let (similar, _) = synth(&dir, "similar", "400", "8");
    let shifted_csv = dir.join("shifted.csv");
    shifted(&similar, &shifted_csv);
    Fixture {
        dir,
        model,
        spec,
        similar,
        shifted: shifted_csv,
    }
}

fn check_shifted_warnings(log: &str) {
    assert!(
        log.contains(
            "channel: 100% of these leads have values the model never saw in training (e.g. \
             \"tiktok\"); the ranking may not hold."
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "calls_so_far: 100% of these leads lie outside anything the model was trained on \
             (above "
        ),
        "{log}"
    );
    assert!(log.contains("fields have drifted"), "{log}");
    // Drift is said after the ranking, not instead of it.
    assert!(
        log.find("read 400 leads") < log.find("drift check"),
        "{log}"
    );
}

#[test]
fn rank_warns_about_a_shifted_file_naming_its_fields() {
    let f = fixture("rank-shifted");
    let out = f.dir.join("ranked.csv");
    let json = f.dir.join("drift.json");
    let log = stderr(&run(rank_cmd(
        &f.model,
        &f.shifted,
        &out,
        &["--explain", "0", "--drift-json"],
    )
    .arg(&json)));
    check_shifted_warnings(&log);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["available"], true);
    assert_eq!(v["leads"], 400);
    assert_eq!(v["fit_leads"], 1260);
    let field = |name: &str| {
        v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(field("channel")["unseen"], 1.0);
    assert_eq!(field("channel")["top_unseen"][0]["value"], "tiktok");
    assert_eq!(field("calls_so_far")["above"], 1.0);
    assert!(field("calls_so_far")["psi"].as_f64().unwrap() > 1.0);
    // The page's read (the whole file in memory, core's Queue) finds the same drift.
    let bundle = leadladder_bundle::Bundle::from_vec(std::fs::read(&f.model).unwrap()).unwrap();
    let page = leadladder_core::Queue::read_checked(
        &bundle.ladder,
        std::fs::read(&f.shifted).unwrap(),
        leadladder_core::IngestOptions::default(),
        bundle.drift_profile(),
    )
    .unwrap();
    let tail = |s: &str| {
        s[s.find("drift check").unwrap()..]
            .lines()
            .filter(|l| !l.starts_with("wrote the drift numbers"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(page.drift().unwrap().lines().join("\n"), tail(&log));
    // The ranking itself is what it was without a profile.
    let plain = f.dir.join("ranked-plain.csv");
    run(&mut rank_cmd(
        &demo_model(),
        &f.shifted,
        &plain,
        &["--explain", "0"],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&plain).unwrap());
}

#[test]
fn rank_finds_no_drift_in_a_file_like_the_training_data() {
    let f = fixture("rank-similar");
    let log = stderr(&run(&mut rank_cmd(
        &f.model,
        &f.similar,
        &f.dir.join("ranked.csv"),
        &["--explain", "0"],
    )));
    assert!(
        log.contains(
            "drift check: no drift found (10 fields, 400 leads against 1,260 training leads)"
        ),
        "{log}"
    );
    assert!(!log.contains("may not hold"), "{log}");
}

#[test]
fn an_old_bundle_says_the_check_is_unavailable() {
    let dir = tmp("rank-old");
    let old = common::repo().join("tests/fixtures/old-bundle/demo-bundle2.int8.safetensors");
    let (csv, spec) = synth(&dir, "leads", "120", "3");
    let json = dir.join("drift.json");
    let log = stderr(&run(rank_cmd(
        &old,
        &csv,
        &dir.join("ranked.csv"),
        &["--explain", "0", "--drift-json"],
    )
    .arg(&json)));
    assert!(log.contains(UNAVAILABLE), "{log}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["available"], false);
    assert_eq!(v["summary"], UNAVAILABLE);
    let md = run(bin()
        .arg("audit")
        .arg("--input")
        .arg(&csv)
        .arg("--ladder")
        .arg(&spec)
        .arg("--model")
        .arg(&old)
        .args(["--bootstrap", "0"]));
    assert!(String::from_utf8_lossy(&md.stdout).contains(UNAVAILABLE));
}

#[test]
fn audit_with_a_model_checks_its_input_for_drift() {
    let f = fixture("audit");
    let audit = |extra: &[&str]| {
        let mut cmd = bin();
        cmd.arg("audit")
            .arg("--input")
            .arg(&f.shifted)
            .arg("--ladder")
            .arg(&f.spec)
            .arg("--model")
            .arg(&f.model)
            .args(["--bootstrap", "0"])
            .args(extra);
        run(&mut cmd)
    };
    let md = String::from_utf8_lossy(&audit(&[]).stdout).into_owned();
    assert!(md.contains("## Drift from the training data"), "{md}");
    check_shifted_warnings(&format!("read 400 leads {md}"));
    assert!(md.contains("| calls_so_far | numeric |"), "{md}");
    for extra in [&["--json"][..], &["--json", "--in-memory"][..]] {
        let out = audit(extra);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["methods"].as_array().unwrap().len() >= 2, "{v}");
        let drift = &v["drift"];
        assert_eq!(drift["available"], true);
        assert_eq!(drift["leads"], 400);
        let warned: Vec<&str> = drift["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert!(
            warned.iter().any(|w| w.starts_with("channel:")),
            "{warned:?}"
        );
        assert!(
            warned.iter().any(|w| w.starts_with("calls_so_far:")),
            "{warned:?}"
        );
        assert!(stderr(&out).contains("calls_so_far:"));
    }
    // Without --model the JSON is the audit report alone, as before.
    let mut cmd = bin();
    cmd.arg("audit")
        .arg("--input")
        .arg(&f.shifted)
        .arg("--ladder")
        .arg(&f.spec)
        .args(["--bootstrap", "0", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&run(&mut cmd).stdout).unwrap();
    assert!(v.get("drift").is_none());
    // A ladder spec that does not read a field of the profile: the error names it.
    let spec = std::fs::read_to_string(&f.spec)
        .unwrap()
        .replace("\"calls_so_far\", ", "");
    let narrow = f.dir.join("narrow.toml");
    std::fs::write(&narrow, spec).unwrap();
    let e = fail(
        bin()
            .arg("audit")
            .arg("--input")
            .arg(&f.shifted)
            .arg("--ladder")
            .arg(&narrow)
            .arg("--model")
            .arg(&f.model),
    );
    assert!(
        e.contains("`calls_so_far`") && e.contains("training data"),
        "{e}"
    );
}

#[test]
fn a_guard_that_fired_is_repeated_by_rank_and_audit() {
    let f = fixture("guard");
    // The demo model's own test-period report, with the model made to lose to recency.
    let mut report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("web/models/demo.report.json")).unwrap(),
    )
    .unwrap();
    let recency = report["methods"][0]["auc"].clone();
    assert_eq!(report["methods"][0]["name"], "recency (newest first)");
    let model = report["methods"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap();
    let hi = recency["lo"].as_f64().unwrap() - 0.05;
    let model_auc = serde_json::json!({ "value": hi - 0.03, "lo": hi - 0.06, "hi": hi });
    model["auc"] = model_auc.clone();
    let path = f.dir.join("losing.report.json");
    std::fs::write(&path, report.to_string()).unwrap();
    let guarded = f.dir.join("guarded.safetensors");
    let log = stderr(&run(bin()
        .arg("profile")
        .arg("--model")
        .arg(demo_model())
        .arg("--input")
        .arg(f.dir.join("fit.csv"))
        .arg("--out")
        .arg(&guarded)
        .arg("--report")
        .arg(&path)));
    assert!(log.contains("This model ranks worse than recency"), "{log}");
    let log = stderr(&run(&mut rank_cmd(
        &guarded,
        &f.similar,
        &f.dir.join("ranked.csv"),
        &["--explain", "0"],
    )));
    let text = |e: &serde_json::Value| {
        format!(
            "{:.2} [{:.2}, {:.2}]",
            e["value"].as_f64().unwrap(),
            e["lo"].as_f64().unwrap(),
            e["hi"].as_f64().unwrap()
        )
    };
    let (mine, theirs) = (text(&model_auc), text(&recency));
    assert!(
        log.contains("WARNING: This model ranks worse than recency")
            && log.contains(&format!(
                "on its own test period: AUC {mine} against {theirs}"
            )),
        "{log}"
    );
    assert!(log.contains("Do not trust its queue"), "{log}");
    // The unchanged demo report passes: rank says nothing about the guard.
    let log = stderr(&run(&mut rank_cmd(
        &f.model,
        &f.similar,
        &f.dir.join("ranked2.csv"),
        &["--explain", "0"],
    )));
    assert!(!log.contains("WARNING"), "{log}");
    let v = audit_with_model(&f.similar, &f.spec, &guarded);
    assert_eq!(v["guard"]["status"], "worse");
}

#[test]
fn train_says_when_the_guard_could_not_run() {
    let dir = tmp("train-guard");
    let (csv, spec) = synth(&dir, "leads", "1500", "7");
    let out = dir.join("m.safetensors");
    let log = train_tiny(
        &csv,
        &spec,
        &out,
        &["--train-sample", "200", "--bootstrap", "0"],
    );
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("note: The guard against recency could not run")
            && last.contains("--bootstrap 0"),
        "{log}"
    );
}

/// A funnel where only time tells buyers apart: the later a lead arrives, the likelier it buys
/// (up to one in two at the very end), while its fields are noise. Recency ranks the test period
/// well; a model of the fields cannot.
fn recency_funnel(dir: &Path) -> (PathBuf, PathBuf) {
    let csv = dir.join("recency.csv");
    let spec = dir.join("recency.toml");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = 3000;
    let mut text = String::from("lead_id,created_at,channel,rate_index,visit,outcome\n");
    for i in 0..n {
        let t = i as f64 / n as f64;
        let p = 0.02 + 0.6 * t.powi(8);
        let won = uniform() < p;
        let channel = ["web", "phone", "store", "partner"][(uniform() * 4.0) as usize % 4];
        let rate = 1.0 + uniform() * 2.0;
        let visit = if uniform() < 0.5 { "yes" } else { "no" };
        let (day, hour) = (i / 24, i % 24);
        let (month, mday) = (1 + day / 28, 1 + day % 28);
        text.push_str(&format!(
            "L{i:05},2025-{month:02}-{mday:02}T{hour:02}:00:00Z,{channel},{rate:.3},{visit},{}\n",
            if won { "won" } else { "lost" }
        ));
    }
    std::fs::write(&csv, text).unwrap();
    std::fs::write(
        &spec,
        "name = \"recency-only\"\n\n[columns]\nid = \"lead_id\"\ncreated_at = \"created_at\"\n\
         categorical = [\"channel\"]\nnumeric = [\"rate_index\"]\nboolean = [\"visit\"]\n\n\
         [label]\ncolumn = \"outcome\"\nequals = \"won\"\n",
    )
    .unwrap();
    (csv, spec)
}

#[test]
fn train_warns_and_the_bundle_keeps_the_warning_when_the_model_loses_to_recency() {
    let dir = tmp("train-guard-fires");
    let (csv, spec) = recency_funnel(&dir);
    let out = dir.join("m.safetensors");
    let log = train_tiny(&csv, &spec, &out, &["--bootstrap", "200"]);
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("WARNING: This model ranks worse than recency")
            && last.contains("work the leads newest first"),
        "{log}"
    );
    // The bundle carries the verdict: ranking with it repeats the warning, and the drift
    // check of its own training file finds nothing to say.
    let log = stderr(&run(&mut rank_cmd(
        &out,
        &csv,
        &dir.join("ranked.csv"),
        &["--explain", "0"],
    )));
    assert!(
        log.contains("WARNING: This model ranks worse than recency"),
        "{log}"
    );
    let drift_json = dir.join("drift.json");
    run(rank_cmd(
        &out,
        &csv,
        &dir.join("ranked2.csv"),
        &["--explain", "0", "--drift-json"],
    )
    .arg(&drift_json));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&drift_json).unwrap()).unwrap();
    assert_eq!(v["available"], true, "{v}");
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    let v = audit_with_model(&csv, &spec, &out);
    assert_eq!(v["guard"]["status"], "worse", "{v}");
}
