//! One training run as `leadladder train --input F --ladder S --out M --preset P [--seed N]`
//! runs it (one process, the CPU, F32 weights, strict ingest, no checkpoints), on bytes instead
//! of files: the same reading of the spec and the CSV, the same trainer calls
//! (`prepare` → `train_prepared` → `combine_reports` → `export`), the same report text.

use leadladder_bundle::StoreDtype;
use leadladder_core::ingest::read_csv;
use leadladder_core::report::AuditReport;
use leadladder_core::{IngestOptions, Spec};
use leadladder_trainer::preset::{PRESETS, preset};
use leadladder_trainer::train::{
    EpochLog, Progress, TrainOptions, combine_reports, prepare, train_prepared,
};

use crate::{Error, Result};

/// What a run is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// A from-scratch preset ([`PRESETS`]).
    pub preset: String,
    /// The seed (`--seed`); `None` keeps the preset's.
    pub seed: Option<u64>,
    /// Epochs (`--epochs`); `None` keeps the preset's.
    pub epochs: Option<usize>,
    /// Bootstrap resamples of the report (`--bootstrap`); `None` keeps the preset's.
    pub bootstrap: Option<usize>,
}

/// What a finished run hands back: what `leadladder train` writes to its files.
#[derive(Debug, Clone)]
pub struct Output {
    /// The bundle (`--out`, F32 weights).
    pub bundle: Vec<u8>,
    /// `<out>.report.md` (also what the CLI prints).
    pub report_markdown: String,
    /// `<out>.report.json`.
    pub report_json: String,
    /// `<out>.metrics.jsonl`: one line per epoch.
    pub metrics_jsonl: String,
    /// The guard's lines (warning or note), as the CLI prints them last.
    pub guard: Vec<String>,
    /// Leads read from the file.
    pub leads: usize,
    /// Real tokens per second of the training steps (the trainer's own measure).
    pub tokens_per_s: f64,
}

/// Parses and validates a spec exactly as `leadladder train --ladder` does; the error's text is
/// the CLI's cause line.
pub fn read_spec(toml: &str) -> Result<Spec> {
    Ok(Spec::from_toml(toml)?)
}

/// The options the CLI would use for `job` (its preset, then the flags it overrides).
pub fn options(job: &Job) -> Result<TrainOptions> {
    if !PRESETS.contains(&job.preset.as_str()) {
        return Err(Error::Argument(format!(
            "the page trains the from-scratch presets only ({}); `{}` needs `leadladder train`",
            PRESETS.join(", "),
            job.preset
        )));
    }
    let mut opts = preset(&job.preset)?;
    opts.seed = job.seed.unwrap_or(opts.seed);
    opts.epochs = job.epochs.unwrap_or(opts.epochs);
    opts.bootstrap = job.bootstrap.unwrap_or(opts.bootstrap);
    Ok(opts)
}

/// FNV-1a of the file's bytes: the bundle's provenance `data_hash`, as the CLI computes it.
pub fn data_hash(csv: &[u8]) -> String {
    leadladder_core::hash::Fnv::of(csv).finish()
}

/// Trains on `csv` (the file's bytes) under `spec_toml`. `progress` hears what the CLI's
/// progress bar hears.
pub fn train(
    csv: &[u8],
    spec_toml: &str,
    job: &Job,
    progress: &mut dyn FnMut(Progress),
) -> Result<Output> {
    let opts = options(job)?;
    let spec = read_spec(spec_toml)?;
    let data = read_csv(csv, &spec, &IngestOptions::default())?;
    let leads = data.len();
    progress(Progress::Stage(format!("read {leads} leads")));
    let mut log: Vec<EpochLog> = Vec::new();
    let mut relay = |p: Progress| {
        if let Progress::Epoch(e) = &p {
            log.push(e.clone());
        }
        progress(p);
    };
    let prepared = prepare(&spec, &data, &opts, &mut relay)?;
    let trained = train_prepared(&spec, &data, &opts, &prepared, &mut relay)?;
    let reports: Vec<AuditReport> = vec![trained.report.clone()];
    let report = combine_reports(&reports, &trained.options.preset)
        .ok_or_else(|| Error::Argument("no training run".into()))?;
    let bundle = trained.export(&spec, StoreDtype::F32, &data_hash(csv))?;
    let label = leadladder_trainer::train::objective_label(&opts);
    let metrics_jsonl = log
        .iter()
        .map(|e| serde_json::json!({ "objective": label, "epoch": e }).to_string() + "\n")
        .collect();
    let guard = match trained.report.methods.last() {
        Some(model) => leadladder_core::guard::train_lines(&trained.report, &model.name)
            .unwrap_or_else(|e| vec![format!("note: the guard could not run: {e}")]),
        None => Vec::new(),
    };
    Ok(Output {
        bundle,
        report_markdown: report.to_markdown(),
        report_json: report.to_json()?,
        metrics_jsonl,
        guard,
        leads,
        tokens_per_s: trained.tokens_per_s,
    })
}
