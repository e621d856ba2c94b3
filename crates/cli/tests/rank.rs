//! End-to-end tests of `leadladder rank` with the committed demo bundle on synthetic leads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{bin, demo_model, fail, run, tmp};
use leadladder_core::export::{grade_for_rank, sanitize_cell};

const LEADS: usize = 300;

type Table = (Vec<String>, Vec<Vec<String>>);

fn read_table(bytes: &[u8]) -> Table {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect::<Vec<_>>());
    let header = rows.next().unwrap();
    (header, rows.collect())
}

fn write_table(path: &Path, (header, rows): &Table) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// Synthetic leads plus two columns of our own: `note`, where every seventh cell is a formula,
/// and `rank`, a column the output must not overwrite.
fn leads_csv(dir: &Path) -> (PathBuf, Table) {
    let mut bytes = Vec::new();
    let cfg = leadladder_synth::SynthConfig {
        leads: LEADS,
        seed: 11,
        ..leadladder_synth::SynthConfig::default()
    };
    leadladder_synth::write_csv(&cfg, &mut bytes, |_| {}).unwrap();
    let (mut header, mut rows) = read_table(&bytes);
    header.push("note".into());
    header.push("rank".into());
    for (i, r) in rows.iter_mut().enumerate() {
        r.push(match i % 7 {
            0 => "=cmd()".to_string(),
            1 => "+1-2".to_string(),
            2 => "@SUM(A1:A9)".to_string(),
            _ => format!("note {i}"),
        });
        r.push(format!("old-{i}"));
    }
    let path = dir.join("leads.csv");
    let table = (header, rows);
    write_table(&path, &table);
    (path, table)
}

fn rank(input: &Path, out: &Path, device: &str) -> String {
    let o = run(bin()
        .arg("rank")
        .arg("--model")
        .arg(demo_model())
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(["--device", device, "--explain", "5", "--batch", "16"]));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Lead id → (score, p_convert) of a ranked file.
fn scores(table: &Table) -> HashMap<String, (f64, f64)> {
    let (header, rows) = table;
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (id, score, p) = (col("lead_id"), col("score"), col("p_convert"));
    rows.iter()
        .map(|r| {
            (
                r[id].clone(),
                (r[score].parse().unwrap(), r[p].parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn ranks_every_lead_and_keeps_every_column() {
    let dir = tmp("cpu");
    let (input, (in_header, in_rows)) = leads_csv(&dir);
    let out = dir.join("ranked.csv");
    let stdout = rank(&input, &out, "cpu");
    assert!(
        stdout.contains(&format!("ranked {LEADS} leads on cpu")),
        "{stdout}"
    );
    assert!(stdout.contains("top 5:"), "{stdout}");

    let (header, rows) = read_table(&std::fs::read(&out).unwrap());
    let mut want_header = in_header.clone();
    want_header
        .extend(["rank_leadladder", "score", "p_convert", "grade", "reasons"].map(String::from));
    assert_eq!(header, want_header);
    assert_eq!(rows.len(), in_rows.len());

    let w = in_header.len();
    let by_id: HashMap<&str, &Vec<String>> = in_rows.iter().map(|r| (r[0].as_str(), r)).collect();
    let mut prev = f64::INFINITY;
    for (k, r) in rows.iter().enumerate() {
        // Every input cell, as a spreadsheet-safe copy of the original.
        let original = by_id[r[0].as_str()];
        for (got, want) in r[..w].iter().zip(original) {
            assert_eq!(got, &sanitize_cell(want).into_owned());
        }
        assert_eq!(r[w], (k + 1).to_string(), "ranks run 1..n");
        let score: f64 = r[w + 1].parse().unwrap();
        assert!(score <= prev, "row {k}: {score} after {prev}");
        prev = score;
        let p: f64 = r[w + 2].parse().unwrap();
        assert!((0.0..=1.0).contains(&p));
        assert_eq!(r[w + 3], grade_for_rank(k + 1, LEADS).as_str());
        // The top 5 are explained ("name (+0.12); …"), the rest are not.
        if k < 5 {
            assert!(
                r[w + 4].contains(" (+") || r[w + 4].contains(" (-"),
                "{}",
                r[w + 4]
            );
        } else {
            assert_eq!(r[w + 4], "");
        }
    }
    // Formula cells are neutralised; the input's own `rank` column is kept as it was.
    let note = header.iter().position(|h| h == "note").unwrap();
    let old_rank = header.iter().position(|h| h == "rank").unwrap();
    let notes: Vec<&str> = rows.iter().map(|r| r[note].as_str()).collect();
    assert!(notes.contains(&"'=cmd()"));
    assert!(notes.contains(&"'+1-2"));
    assert!(notes.contains(&"'@SUM(A1:A9)"));
    assert!(
        rows.iter()
            .all(|r| !r[note].starts_with(['=', '+', '-', '@']))
    );
    assert!(rows.iter().all(|r| r[old_rank].starts_with("old-")));
    // Grades: 300 leads → 15 A, 45 B, 90 C, 150 D.
    let count = |g: &str| rows.iter().filter(|r| r[w + 3] == g).count();
    assert_eq!(
        [count("A"), count("B"), count("C"), count("D")],
        [15, 45, 90, 150]
    );

    // Same input, same bytes.
    let again = dir.join("again.csv");
    rank(&input, &again, "cpu");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn wgpu_agrees_with_cpu() {
    let dir = tmp("wgpu");
    let (input, _) = leads_csv(&dir);
    let (cpu_out, gpu_out) = (dir.join("cpu.csv"), dir.join("gpu.csv"));
    rank(&input, &cpu_out, "cpu");
    let stdout = rank(&input, &gpu_out, "wgpu");
    assert!(stdout.contains("on wgpu"), "{stdout}");
    let cpu = scores(&read_table(&std::fs::read(&cpu_out).unwrap()));
    let gpu = scores(&read_table(&std::fs::read(&gpu_out).unwrap()));
    assert_eq!(cpu.len(), LEADS);
    let ids: Vec<&String> = cpu.keys().collect();
    let a: Vec<f64> = ids.iter().map(|id| cpu[*id].0).collect();
    let b: Vec<f64> = ids.iter().map(|id| gpu[*id].0).collect();
    let rho = leadladder_core::metrics::spearman(&a, &b).unwrap();
    assert!(rho >= 0.999, "Spearman {rho}");
    for id in ids {
        let (p_cpu, p_gpu) = (cpu[id].1, gpu[id].1);
        assert!((p_cpu - p_gpu).abs() <= 1e-3, "{id}: p {p_cpu} vs {p_gpu}");
    }
}

#[test]
fn clear_errors() {
    let dir = tmp("errors");
    let (input, (header, rows)) = leads_csv(&dir);
    let out = dir.join("ranked.csv");

    let missing = dir.join("no-such-model.safetensors");
    let err = fail(
        bin()
            .arg("rank")
            .arg("--model")
            .arg(&missing)
            .arg("--input")
            .arg(&input)
            .arg("--out")
            .arg(&out),
    );
    assert!(err.contains("reading the model"), "{err}");
    assert!(err.contains("no-such-model.safetensors"), "{err}");

    // Not a bundle: the loader's own message comes through.
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"not a bundle").unwrap();
    let err = fail(
        bin()
            .arg("rank")
            .arg("--model")
            .arg(&junk)
            .arg("--input")
            .arg(&input)
            .arg("--out")
            .arg(&out),
    );
    assert!(err.contains("loading the model"), "{err}");
    assert!(
        err.contains("truncated") || err.contains("malformed"),
        "{err}"
    );

    // A CSV without a column the model reads: the column is named.
    let d = header.iter().position(|h| h == "dialogue").unwrap();
    let drop = |v: &Vec<String>| {
        let mut v = v.clone();
        v.remove(d);
        v
    };
    let lacking = dir.join("lacking.csv");
    write_table(&lacking, &(drop(&header), rows.iter().map(drop).collect()));
    let err = fail(
        bin()
            .arg("rank")
            .arg("--model")
            .arg(demo_model())
            .arg("--input")
            .arg(&lacking)
            .arg("--out")
            .arg(&out),
    );
    assert!(err.contains("\"dialogue\""), "{err}");
    assert!(
        err.contains("lacks column(s) that the model reads"),
        "{err}"
    );
    assert!(!out.exists(), "no output on failure");

    // Outcome and score columns are not needed to rank new leads.
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| {
            !matches!(
                header[i].as_str(),
                "outcome"
                    | "crm_score"
                    | "test_drive"
                    | "long_call"
                    | "store_visit"
                    | "latent_intent"
            )
        })
        .collect();
    let pick = |v: &Vec<String>| keep.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
    let fresh = dir.join("fresh.csv");
    write_table(&fresh, &(pick(&header), rows.iter().map(pick).collect()));
    run(bin()
        .arg("rank")
        .arg("--model")
        .arg(demo_model())
        .arg("--input")
        .arg(&fresh)
        .arg("--out")
        .arg(&out)
        .args(["--explain", "0"]));
    assert!(out.exists());
}
