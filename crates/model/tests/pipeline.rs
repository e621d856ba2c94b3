//! The one ranking pipeline both ways, with the demo model: `leadladder rank`'s (core's
//! `rank_file`: the file read a batch at a time, blocks scored on two threads, rows kept on
//! disk) and the page's (core's in-memory `Queue`, scored a part at a time with asynchronous
//! reads, explained lead by lead) write the same bytes, because both score by one
//! `ScorePolicy`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{block_on, demo_bundle};
use leadladder_core::pipeline::file::{Progress, RankFile, rank_file};
use leadladder_core::pipeline::{BlockPlan, RankedStore, ScorePolicy};
use leadladder_core::{IngestOptions, IngestReport, Queue};
use leadladder_model::{DeviceKind, Scorer};
use leadladder_synth::{SynthConfig, write_csv};

struct Quiet;

impl Progress for Quiet {
    fn scoring(&mut self, _: u64, _: u64) {}
    fn read(&mut self, _: &IngestReport) {}
    fn scored(&mut self) {}
    fn explaining(&mut self, _: u64, _: u64) {}
}

#[test]
fn the_file_pipeline_and_the_pages_parts_write_the_same_bytes() {
    let bundle = demo_bundle();
    let scorer = Scorer::from_bytes(&bundle, DeviceKind::Cpu).unwrap();
    // Two blocks of the default policy.
    let cfg = SynthConfig {
        leads: ScorePolicy::DEFAULT.block + 300,
        seed: 31,
        ..SynthConfig::default()
    };
    let mut bytes = Vec::new();
    write_csv(&cfg, &mut bytes, |_| {}).unwrap();
    let dir = std::env::temp_dir().join(format!("leadladder-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, out) = (dir.join("leads.csv"), dir.join("ranked.csv"));
    std::fs::write(&input, &bytes).unwrap();
    let opts = IngestOptions::default();
    let (explain, reasons) = (3, 3);

    let job = RankFile {
        input: std::fs::File::open(&input).unwrap(),
        spec: scorer.spec(),
        opts: &opts,
        profile: None,
        out: &out,
        policy: ScorePolicy::DEFAULT,
        read_batch: 700,
        explain,
        reasons,
        threads: 2,
    };
    let make = || Scorer::from_bytes(&bundle, DeviceKind::Cpu);
    let ranked = rank_file(job, make, &mut Quiet).unwrap();
    assert_eq!(ranked.leads, cfg.leads);
    let file = std::fs::read_to_string(&out).unwrap();

    let mut page = Queue::read(scorer.spec(), bytes, opts.clone()).unwrap();
    let policy = ScorePolicy::DEFAULT;
    let mut plan: Option<BlockPlan> = None;
    for part in policy.parts(page.len()) {
        if plan.as_ref().is_none_or(|p| p.block() != part.block) {
            plan = Some(scorer.plan_block(&page, &policy, part.block).unwrap());
        }
        let plan = plan.as_ref().unwrap();
        block_on(scorer.score_part_async(&mut page, plan, part.batch)).unwrap();
    }
    let order = page.order().unwrap();
    for &index in order.iter().take(explain) {
        block_on(scorer.explain_queue_async(&mut page, index as usize, reasons)).unwrap();
    }
    let page = page.export_csv().unwrap();
    assert!(
        file == page,
        "the file pipeline and the page's parts differ"
    );
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(file.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), cfg.leads);
    assert_eq!(ranked.top[0].0, &rows[0][0]);
    let reasons = rows[0].len() - 1;
    let explained = rows.iter().filter(|r| !r[reasons].is_empty()).count();
    assert_eq!(explained, explain);
    std::fs::remove_dir_all(&dir).unwrap();
}
