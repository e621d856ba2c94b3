//! `leadladder rank` and `leadladder audit` read a file a batch at a time: the same bytes
//! whatever the reads and the scoring threads, and memory that does not grow with the file
//! beyond a few dozen bytes per lead. (That the page's in-memory queue, scored a part at a
//! time, writes these bytes too is tested in leadladder-model's `tests/pipeline.rs` and, in a
//! browser, by tests/browser/run.mjs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{bin, demo_model, peak_rss_kib, rank_cmd, run, tmp};

/// `leadladder synth` into `dir`: the CSV and its spec.
fn synth(dir: &Path, name: &str, leads: usize, seed: u64, lang: &str) -> (PathBuf, PathBuf) {
    let csv = dir.join(format!("{name}.csv"));
    let spec = dir.join(format!("{name}.toml"));
    run(bin()
        .args([
            "synth",
            "--leads",
            &leads.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--lang", lang, "--out"])
        .arg(&csv)
        .arg("--spec")
        .arg(&spec));
    (csv, spec)
}

/// Ranks `input` in batches of 1,000 rows on two scoring threads, and in batches of 4,096 on
/// one, with the same options; both outputs must be the same bytes. Returns the output.
fn same_both_ways(dir: &Path, input: &Path, extra: &[&str]) -> Vec<u8> {
    let (two, one) = (dir.join("two-threads.csv"), dir.join("one-thread.csv"));
    let mut args = vec!["--read-batch", "1000", "--threads", "2"];
    args.extend_from_slice(extra);
    let o = run(&mut rank_cmd(&demo_model(), input, &two, &args));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut args = vec!["--read-batch", "4096", "--threads", "1"];
    args.extend_from_slice(extra);
    run(&mut rank_cmd(&demo_model(), input, &one, &args));
    let (a, b) = (std::fs::read(&two).unwrap(), std::fs::read(&one).unwrap());
    assert!(
        a == b,
        "{}: the outputs of two threads and one differ ({} vs {} bytes)\n{stdout}",
        input.display(),
        a.len(),
        b.len()
    );
    // The scratch file is gone.
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    a
}

fn records(bytes: &[u8]) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn streamed_rank_writes_the_same_bytes_whatever_the_reads_and_threads() {
    let dir = tmp("stream-same");
    // 5,000 leads: two scoring blocks (4,096 leads each at most), five reads of 1,000 rows.
    let (csv, _) = synth(&dir, "leads", 5000, 21, "en");
    let out = same_both_ways(&dir, &csv, &["--explain", "6"]);
    // The retired --in-memory flag is accepted, said to be ignored, and changes nothing.
    let again = dir.join("in-memory.csv");
    let o = run(&mut rank_cmd(
        &demo_model(),
        &csv,
        &again,
        &["--explain", "6", "--in-memory"],
    ));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--in-memory is no longer needed and is ignored"),
        "{stderr}"
    );
    assert!(std::fs::read(&again).unwrap() == out);
    let rows = records(&out);
    assert_eq!(rows.len(), 5001);
    let reasons = rows[0].len() - 1;
    let explained = rows[1..].iter().filter(|r| !r[reasons].is_empty()).count();
    assert_eq!(explained, 6);
}

#[test]
fn streamed_rank_breaks_ties_and_skips_bad_rows() {
    let dir = tmp("stream-ties");
    let (csv, _) = synth(&dir, "leads", 1500, 22, "en");
    let mut rows = records(&std::fs::read(&csv).unwrap());
    // Copies of lead 10 under new ids: the same model input, so the same score where they are
    // scored in one batch. Four share its created_at (ties broken by id, here out of file
    // order), three are a year newer or older.
    let base = rows[10].clone();
    let id = base[0].to_string();
    let copy = |suffix: &str, from: &str, to: &str| {
        let mut r: Vec<String> = base.iter().map(str::to_string).collect();
        r[0] = format!("{id}{suffix}");
        r[1] = r[1].replacen(from, to, 1);
        csv::StringRecord::from(r)
    };
    for (k, suffix) in ["z", "b", "y", "a"].iter().enumerate() {
        rows.insert(11 + k, copy(suffix, "", ""));
    }
    rows.push(copy("n", "2025-", "2026-"));
    rows.push(copy("o", "2025-", "2024-"));
    rows.push(copy("p", "2025-", "2026-"));
    // Bad rows: a date that is none, a repeated id, a short row.
    let mut bad_date: Vec<String> = rows[41].iter().map(str::to_string).collect();
    bad_date[1] = "someday".into();
    rows.insert(40, csv::StringRecord::from(bad_date));
    rows.insert(60, rows[61].clone());
    rows.insert(80, csv::StringRecord::from(vec!["L9999999", "2025-02-02"]));
    let path = dir.join("ties.csv");
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(&path)
        .unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();

    let out = same_both_ways(&dir, &path, &["--on-error", "skip", "--explain", "3"]);
    let rows = records(&out);
    assert_eq!(rows.len(), 1 + 1500 + 7);
    let score = rows[0].iter().position(|h| h == "score").unwrap();
    let copies = rows[1..].iter().filter(|r| r[0].starts_with(&id)).count();
    assert_eq!(copies, 8);
    // Queue order: score, then the newer lead, then the smaller id; the copies tie on score
    // where they were scored in one batch.
    let created = rows[0].iter().position(|h| h == "created_at").unwrap();
    let key = |r: &csv::StringRecord| {
        let s: f32 = r[score].parse().unwrap();
        (s, r[created].to_string(), r[0].to_string())
    };
    let mut ties = 0;
    for w in rows[1..].windows(2) {
        let ((s1, c1, i1), (s2, c2, i2)) = (key(&w[0]), key(&w[1]));
        assert!(s1 >= s2, "{i1} before {i2}");
        if s1 == s2 {
            ties += 1;
            assert!(c1 > c2 || (c1 == c2 && i1 < i2), "{i1} before {i2}");
        }
    }
    assert!(ties >= 3, "only {ties} ties");

    // Strict: the first bad row stops every run, with the same message.
    let fail = |extra: &[&str]| {
        let o = rank_cmd(&demo_model(), &path, &dir.join("x.csv"), extra)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| l.starts_with("error"))
            .collect::<String>()
    };
    let a = fail(&["--read-batch", "7"]);
    assert!(a.contains("row 40"), "{a}");
    assert_eq!(a, fail(&["--threads", "1"]));
}

#[test]
fn streamed_rank_reads_gbk() {
    let dir = tmp("stream-gbk");
    let (csv, _) = synth(&dir, "zh", 1200, 23, "zh");
    let text = std::fs::read_to_string(&csv).unwrap();
    let (gbk, _, bad) = encoding_rs::GBK.encode(&text);
    assert!(!bad, "synth zh text is GBK");
    assert_ne!(gbk.as_ref(), text.as_bytes(), "the file has Chinese text");
    let path = dir.join("gbk.csv");
    std::fs::write(&path, &gbk).unwrap();
    let o = run(&mut rank_cmd(
        &demo_model(),
        &path,
        &dir.join("probe.csv"),
        &["--explain", "0", "--read-batch", "100"],
    ));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("GB18030"), "{stderr}");
    same_both_ways(&dir, &path, &["--explain", "2"]);
}

#[test]
fn streamed_audit_reports_what_the_in_memory_one_reports() {
    let dir = tmp("stream-audit");
    let (csv, spec) = synth(&dir, "leads", 3000, 24, "en");
    let audit = |extra: &[&str]| {
        let o = run(bin()
            .args(["audit", "--input"])
            .arg(&csv)
            .arg("--ladder")
            .arg(&spec)
            .args(["--score", "crm_score", "--score", "calls_so_far"])
            .args(["--split", "temporal", "--bootstrap", "50", "--json"])
            .arg("--rungs-out")
            .arg(dir.join(format!("rungs{}.csv", extra.len())))
            .args(extra));
        String::from_utf8(o.stdout).unwrap()
    };
    let streamed = audit(&[]);
    assert!(streamed.contains("crm_score"), "{streamed}");
    assert_eq!(streamed, audit(&["--in-memory"]));
    assert_eq!(
        std::fs::read(dir.join("rungs0.csv")).unwrap(),
        std::fs::read(dir.join("rungs1.csv")).unwrap()
    );
}

/// A small model over the synthetic funnel's columns (random weights; 16-token prompts): fast
/// enough to rank 200,000 leads in a test.
fn tiny_bundle(dir: &Path, spec: &Path) -> PathBuf {
    use leadladder_bundle::{
        BundleConfig, BundleMeta, LeadEncoder, ModelConfig, Provenance, StoreDtype, train_bpe,
        write_bundle,
    };
    let mut spec =
        leadladder_core::Spec::from_toml(&std::fs::read_to_string(spec).unwrap()).unwrap();
    // Without the dialogue the prompts are short, so tokenizing (most of the time in a debug
    // build) is quick; the dialogue cells are still read, spilled and written.
    spec.columns.text.clear();
    let corpus = (0..40).map(|i| format!("rep: hello {i} customer: test drive price 试驾"));
    let tokenizer = train_bpe(corpus, 300).unwrap();
    let model = ModelConfig {
        vocab_size: 320,
        hidden_size: 16,
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        max_position_embeddings: 64,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: false,
    };
    let config = BundleConfig::new(model, 16, tokenizer.pad_id(), tokenizer.eos_id());
    let provenance = Provenance {
        data_hash: "sha256:0000".into(),
        seed: 7,
        code_version: "test".into(),
        preset: "tiny".into(),
        created: "2026-01-01T00:00:00Z".into(),
    };
    let encoder = LeadEncoder::text(tokenizer);
    let meta = BundleMeta::new(
        &config,
        &encoder,
        &spec,
        r#"{"auc": 0.5}"#.into(),
        &provenance,
    )
    .unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let weights: Vec<(String, Vec<usize>, Vec<f32>)> = config
        .model
        .expected_tensors()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let v = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
                })
                .collect();
            (name, shape, v)
        })
        .collect();
    let path = dir.join("tiny.safetensors");
    std::fs::write(
        &path,
        write_bundle(&weights, &meta, StoreDtype::F32).unwrap(),
    )
    .unwrap();
    path
}

/// Ten times the leads, at most 1.3 times the memory: what grows with the file is a few dozen
/// bytes per lead (scores, created_at, id, where its row waits on disk), not the rows.
#[cfg(target_os = "linux")]
#[test]
fn peak_memory_does_not_grow_with_the_file() {
    let dir = tmp("stream-memory");
    let (small, spec) = synth(&dir, "small", 20_000, 25, "en");
    let (large, _) = synth(&dir, "large", 200_000, 26, "en");
    let model = tiny_bundle(&dir, &spec);
    let rss = |input: &Path| {
        let out = dir.join("ranked.csv");
        let args = ["--explain", "2", "--threads", "2"];
        peak_rss_kib(&mut rank_cmd(&model, input, &out, &args))
    };
    let (a, b) = (rss(&small), rss(&large));
    eprintln!("peak RSS: 20k leads {a} KiB, 200k leads {b} KiB");
    assert!(
        b * 10 <= a * 13,
        "200k leads peaked at {b} KiB, 20k at {a} KiB"
    );
}
