//! The page's session logic natively, with the demo bundle on Flex: mapping, scoring in ranges,
//! ranking, export and audit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use leadladder_model::{DeviceKind, Scorer};
use leadladder_synth::{SynthConfig, write_csv};
use leadladder_wasm::session::{MODEL_METHOD, Session};

fn demo() -> Scorer {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/models/demo.int8.safetensors"
    ))
    .unwrap();
    Scorer::from_bytes(&bytes, DeviceKind::Cpu).unwrap()
}

fn synth(leads: usize, seed: u64) -> Vec<u8> {
    let mut csv = Vec::new();
    let cfg = SynthConfig {
        leads,
        seed,
        ..SynthConfig::default()
    };
    write_csv(&cfg, &mut csv, |_| {}).unwrap();
    csv
}

fn score_all(scorer: &Scorer, s: &mut Session) {
    let n = s.len();
    let mut start = 0;
    while start < n {
        let end = (start + 13).min(n);
        let enc = s
            .encode_range(start, end, |l| scorer.encode(&s.data().schema, l))
            .unwrap();
        let ids: Vec<Vec<u32>> = enc.iter().map(|(_, i)| i.clone()).collect();
        let idx: Vec<usize> = enc.iter().map(|(i, _)| *i).collect();
        let scores = scorer.score_ids(&ids).unwrap();
        s.set_scores(&idx, &scores).unwrap();
        start = end;
    }
}

#[test]
fn a_mapped_header_scores_like_the_original_and_exports_the_files_own_names() {
    let scorer = demo();
    let spec = &scorer.bundle().spec;
    let csv = synth(60, 21);
    let (mut plain, report) = Session::load(spec, &csv, None, "strict").unwrap();
    assert_eq!(report.rows, 60);
    assert!(report.has_outcomes);
    assert!(
        plain
            .ranking()
            .unwrap_err()
            .to_string()
            .contains("not scored yet")
    );
    score_all(&scorer, &mut plain);

    let text = String::from_utf8(csv.clone()).unwrap();
    let renamed = text.replacen("channel", "Lead Source", 1);
    let mut mapping = BTreeMap::new();
    mapping.insert("channel".to_string(), "Lead Source".to_string());
    let (mut mapped, report) =
        Session::load(spec, renamed.as_bytes(), Some(&mapping), "strict").unwrap();
    assert!(report.header.contains(&"Lead Source".to_string()));
    score_all(&scorer, &mut mapped);

    let (a, b) = (plain.ranking().unwrap(), mapped.ranking().unwrap());
    assert_eq!(a.len(), 60);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.id, y.id);
        assert_eq!(x.score, y.score);
    }
    assert!(a.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(a[0].grade, "A");
    assert_eq!(a[59].grade, "D");

    let export = mapped.export_csv().unwrap();
    let first_line = export.lines().next().unwrap();
    assert!(first_line.contains("Lead Source"), "{first_line}");
    assert!(first_line.ends_with("rank,score,p_convert,grade,reasons"));
    let records = csv::Reader::from_reader(export.as_bytes())
        .records()
        .count();
    assert_eq!(records, 60);
    // Without a mapping the export is the same apart from that header cell.
    assert_eq!(
        plain
            .export_csv()
            .unwrap()
            .replacen("channel", "Lead Source", 1),
        export
    );
}

#[test]
fn audit_reports_the_model_against_the_baselines_on_every_lead() {
    let scorer = demo();
    let spec = &scorer.bundle().spec;
    let csv = synth(400, 5);
    let (mut s, _) = Session::load(spec, &csv, None, "strict").unwrap();
    score_all(&scorer, &mut s);
    let audit = s.audit(spec, &[1.0, 10.0]).unwrap();
    assert_eq!(audit.n, 400);
    let names: Vec<&str> = audit.methods.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&MODEL_METHOD), "{names:?}");
    assert!(names.iter().any(|n| n.contains("recency")), "{names:?}");
    for m in &audit.methods {
        assert_eq!(m.at_k.len(), 2, "{}", m.name);
        assert!((0.0..=1.0).contains(&m.auc));
    }
    let curve = audit.curve.iter().find(|c| c.name == MODEL_METHOD).unwrap();
    assert!(curve.points.len() >= 10);
    assert!(
        (curve.points.last().unwrap().lift - 1.0).abs() < 1e-9,
        "at 100% lift is 1"
    );
}

#[test]
fn bad_rows_are_named_under_strict_and_reported_under_skip() {
    let scorer = demo();
    let spec = &scorer.bundle().spec;
    let csv = synth(20, 3);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header = reader.headers().unwrap().clone();
    let col = header.iter().position(|h| h == "created_at").unwrap();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&header).unwrap();
    for (i, rec) in reader.records().enumerate() {
        let mut cells: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        if i == 3 {
            // Data row 4.
            cells[col] = "not a date".into();
        }
        out.write_record(&cells).unwrap();
    }
    let bad = String::from_utf8(out.into_inner().unwrap()).unwrap();
    let err = Session::load(spec, bad.as_bytes(), None, "strict")
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 4") && err.contains("created_at"), "{err}");
    let (s, report) = Session::load(spec, bad.as_bytes(), None, "skip").unwrap();
    assert_eq!(report.skipped, 1);
    assert_eq!(s.len(), 19);
    assert!(report.skipped_reasons[0].contains("not a date"));
    let err = Session::load(spec, bad.as_bytes(), None, "lenient")
        .unwrap_err()
        .to_string();
    assert!(err.contains("onError"), "{err}");
}
