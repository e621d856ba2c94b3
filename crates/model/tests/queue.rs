//! The ranked queue filled by the demo model on Flex, as `leadladder rank` and the page run it:
//! a column mapping, scoring a part at a time, ranking, reasons, export and audit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::demo_bundle;
use leadladder_core::pipeline::ScorePolicy;
use leadladder_core::queue::MODEL_METHOD;
use leadladder_core::{IngestOptions, Policy, Queue};
use leadladder_model::{DeviceKind, Scorer};
use leadladder_synth::{SynthConfig, write_csv};

fn demo() -> Scorer {
    Scorer::from_bytes(&demo_bundle(), DeviceKind::Cpu).unwrap()
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

/// A policy small enough that 60 leads make several blocks of several batches.
const POLICY: ScorePolicy = ScorePolicy {
    block: 25,
    batch: 7,
};

/// Scores the queue a part at a time, as the page does, planning each block once.
fn score_in_parts(scorer: &Scorer, q: &mut Queue) {
    let mut plan: Option<leadladder_core::pipeline::BlockPlan> = None;
    for part in POLICY.parts(q.len()) {
        if plan.as_ref().is_none_or(|p| p.block() != part.block) {
            plan = Some(scorer.plan_block(q, &POLICY, part.block.clone()).unwrap());
        }
        let plan = plan.as_ref().unwrap();
        let done = common::block_on(scorer.score_part_async(q, plan, part.batch)).unwrap();
        assert_eq!(done.len(), part.leads);
    }
}

#[test]
fn parts_and_one_pass_give_the_same_scores_and_a_mapping_keeps_the_files_header() {
    let scorer = demo();
    let spec = scorer.spec();
    let csv = synth(60, 21);
    let mut whole = Queue::read(spec, csv.clone(), IngestOptions::default()).unwrap();
    assert!(whole.has_outcomes());
    assert!(
        whole
            .ranking()
            .unwrap_err()
            .to_string()
            .contains("not scored yet")
    );
    let mut seen = Vec::new();
    scorer
        .score_queue(&mut whole, &POLICY, &mut |n| seen.push(n))
        .unwrap();
    assert_eq!(seen.last(), Some(&60));

    let text = String::from_utf8(csv).unwrap();
    let renamed = text.replacen("channel", "Lead Source", 1);
    let mut opts = IngestOptions::default();
    opts.rename
        .insert("channel".to_string(), "Lead Source".to_string());
    let mut mapped = Queue::read(spec, renamed.into_bytes(), opts).unwrap();
    assert!(
        mapped
            .load_report()
            .header
            .contains(&"Lead Source".to_string())
    );
    score_in_parts(&scorer, &mut mapped);

    let (a, b) = (whole.ranking().unwrap(), mapped.ranking().unwrap());
    assert_eq!(a.len(), 60);
    for (x, y) in a.iter().zip(&b) {
        // The same batches by construction: the same bits.
        assert_eq!((&x.id, x.score.to_bits()), (&y.id, y.score.to_bits()));
    }
    assert!(a.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!((a[0].grade.as_str(), a[59].grade.as_str()), ("A", "D"));

    let top = a[0].index;
    let factors = scorer.explain_queue(&mut mapped, top, 3).unwrap();
    assert_eq!(factors.len(), 3);
    let export = mapped.export_csv().unwrap();
    let first_line = export.lines().next().unwrap();
    assert!(first_line.contains("Lead Source"), "{first_line}");
    assert!(first_line.ends_with("rank,score,p_convert,grade,reasons"));
    let records: Vec<csv::StringRecord> = csv::Reader::from_reader(export.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len(), 60);
    assert_eq!(
        records[0].get(records[0].len() - 1).unwrap(),
        leadladder_model::explain::format_factors(&factors)
    );
}

#[test]
fn audit_reports_the_model_against_the_baselines_on_every_lead() {
    let scorer = demo();
    let spec = scorer.spec();
    let mut q = Queue::read(spec, synth(400, 5), IngestOptions::default()).unwrap();
    scorer
        .score_queue(&mut q, &ScorePolicy::DEFAULT, &mut |_| {})
        .unwrap();
    let audit = q.audit(spec, &[1.0, 10.0]).unwrap();
    assert_eq!(audit.n, 400);
    let names: Vec<&str> = audit.methods.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&MODEL_METHOD), "{names:?}");
    assert!(names.iter().any(|n| n.contains("recency")), "{names:?}");
    for m in &audit.methods {
        assert_eq!(m.at_k.len(), 2, "{}", m.name);
        assert!((0.0..=1.0).contains(&m.auc));
    }
    let curve = audit.curve.iter().find(|c| c.model).unwrap();
    assert!(curve.points.len() >= 10);
    assert!(
        (curve.points.last().unwrap().lift - 1.0).abs() < 1e-9,
        "at 100% lift is 1"
    );
}

#[test]
fn bad_rows_are_named_under_strict_and_reported_under_skip() {
    let scorer = demo();
    let spec = scorer.spec();
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
    let bad = out.into_inner().unwrap();
    let err = Queue::read(spec, bad.clone(), IngestOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 4") && err.contains("created_at"), "{err}");
    let skip = IngestOptions {
        policy: Policy::Skip,
        ..IngestOptions::default()
    };
    let q = Queue::read(spec, bad, skip).unwrap();
    let report = q.load_report();
    assert_eq!((report.skipped, q.len()), (1, 19));
    assert!(report.skipped_reasons[0].contains("not a date"));
}
