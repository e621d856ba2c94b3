//! `leadladder rank`: score a lead CSV with a model bundle and write the ranked queue.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use leadladder_core::dataset::Dataset;
use leadladder_core::export::{grade_for_rank, write_queue_csv};
use leadladder_core::ingest::read_csv_with_raw;
use leadladder_core::spec::Spec;
use leadladder_core::{Error as CoreError, IngestOptions};
use leadladder_model::explain::format_factors;
use leadladder_model::{DeviceKind, Score, Scorer};
pub(crate) use leadladder_wasm::queue::{queue_order, scoring_spec};

use crate::audit::OnError;

/// Leads encoded and scored per block: bounds the token ids held at once, whatever the file size.
pub(crate) const SCORE_BLOCK: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    /// Burn's Flex backend on the CPU.
    Cpu,
    /// Burn's wgpu backend (Vulkan, Metal or DX12; lavapipe works on machines without a GPU).
    Wgpu,
}

impl From<DeviceArg> for DeviceKind {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Cpu => DeviceKind::Cpu,
            DeviceArg::Wgpu => DeviceKind::Wgpu,
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadladder rank --model web/models/demo.int8.safetensors --input leads.csv --out ranked.csv
  leadladder rank --model model.safetensors --input export.csv --out ranked.csv --device wgpu --explain 50
  leadladder rank --model model.safetensors --input export.csv --out ranked.csv --on-error skip --encoding gbk

The model's own ladder spec (stored in the bundle) says which columns it reads; outcome and score
columns are not needed. The output keeps every input column (cells that a spreadsheet would run as
a formula get a leading ') and adds rank, score, p_convert, grade and reasons. Leads are sorted by
score (highest first); ties go to the newer lead (created_at), then to the smaller id. Grades: A
is the top 5% of the file, B the next 15%, C the next 30%, D the rest (cut-offs rounded up).")]
pub struct Args {
    /// Model bundle (.safetensors) written by `leadladder train`.
    #[arg(long)]
    model: PathBuf,
    /// Lead CSV (delimiter and encoding are detected).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the ranked CSV.
    #[arg(long)]
    out: PathBuf,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Explain the top N leads: `reasons` lists the fields and dialogue turns that move their
    /// score most (0 = none; each explanation re-scores the lead once per field and turn).
    #[arg(long, default_value_t = 10, value_name = "N")]
    explain: usize,
    /// Factors listed per explained lead.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
    /// Leads per forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch: u64,
    /// What to do with bad rows.
    #[arg(long, value_enum, default_value_t = OnError::Strict)]
    on_error: OnError,
    /// Force the file's encoding (utf-8, utf-16le, gbk, …) instead of detecting it.
    #[arg(long)]
    encoding: Option<String>,
}

/// Reads `path` with the model's scoring spec; a missing column is named with the spec.
pub(crate) fn read_leads(
    path: &Path,
    spec: &Spec,
    opts: &IngestOptions,
) -> Result<(Dataset, leadladder_core::ingest::RawRows)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match read_csv_with_raw(&bytes, &scoring_spec(spec), opts) {
        Ok(read) => Ok(read),
        Err(e @ CoreError::MissingColumns { .. }) => Err(anyhow::Error::new(e).context(format!(
            "{} lacks column(s) that the model reads (ladder spec `{}` in the bundle)",
            path.display(),
            spec.name
        ))),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

/// Loads a bundle file onto a device.
pub(crate) fn load_scorer(path: &Path, device: DeviceKind) -> Result<Scorer> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the model {}", path.display()))?;
    Scorer::from_bytes(&bytes, device)
        .with_context(|| format!("loading the model {}", path.display()))
}

/// Scores every lead, [`SCORE_BLOCK`] leads at a time, reporting progress in leads.
pub(crate) fn score_all(
    scorer: &Scorer,
    ds: &Dataset,
    batch: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Score>> {
    let mut scores = Vec::with_capacity(ds.leads.len());
    for block in ds.leads.chunks(SCORE_BLOCK) {
        let done = scores.len();
        let block_scores = scorer
            .score_leads(&ds.schema, block, batch, &mut |n| progress(done + n))
            .context("scoring")?;
        scores.extend(block_scores);
    }
    if let Some((i, s)) = scores
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.rank.is_finite() && s.p_convert.is_finite()))
    {
        let lead = &ds.leads[i];
        bail!(
            "the model gave lead `{}` (row {}) a non-finite score ({}, p {})",
            lead.id,
            lead.row,
            s.rank,
            s.p_convert
        );
    }
    Ok(scores)
}

pub fn run(args: &Args) -> Result<()> {
    let device = DeviceKind::from(args.device);
    let scorer = load_scorer(&args.model, device)?;
    let spec = scorer.bundle().spec.clone();
    let opts = IngestOptions {
        policy: args.on_error.into(),
        encoding: args.encoding.clone(),
        ..IngestOptions::default()
    };
    let (ds, raw) = read_leads(&args.input, &spec, &opts)?;
    let r = &ds.report;
    match r.issues.first().filter(|_| r.rows_skipped > 0) {
        Some(first) => eprintln!("{}, first: {first}", crate::read_summary(&args.input, r)),
        None => eprintln!("{}", crate::read_summary(&args.input, r)),
    }

    let n = ds.leads.len();
    let bar = crate::progress_bar(n as u64, "ranking");
    let started = Instant::now();
    let batch = usize::try_from(args.batch).unwrap_or(32);
    let scores = score_all(&scorer, &ds, batch, &mut |done| {
        bar.set_position(done as u64)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let order = queue_order(&ds.leads, &scores);

    let explain_n = args.explain.min(n);
    let mut reasons: Vec<Option<String>> = vec![None; n];
    if explain_n > 0 {
        let bar = crate::progress_bar(explain_n as u64, "explaining");
        for (k, &i) in order.iter().take(explain_n).enumerate() {
            let lead = &ds.leads[i];
            let factors = scorer
                .explain(&ds.schema, lead, args.reasons)
                .with_context(|| format!("explaining lead `{}` (row {})", lead.id, lead.row))?;
            reasons[i] = Some(format_factors(&factors));
            bar.set_position(k as u64 + 1);
        }
        bar.finish_and_clear();
    }

    write_atomically(&args.out, |w| {
        write_queue_csv(w, &raw.header, &raw, &order, |i| {
            (scores[i].rank, scores[i].p_convert, reasons[i].take())
        })?;
        Ok(())
    })?;

    let info = scorer.device_info();
    println!(
        "ranked {n} leads on {} ({}) in {seconds:.2}s: {:.1} leads/s; wrote {}",
        args.device.name(),
        info.description,
        n as f64 / seconds.max(1e-9),
        args.out.display()
    );
    println!("top {}:", n.min(5));
    for (k, &i) in order.iter().take(5).enumerate() {
        println!(
            "  {:>3}. {}  score {:+.3}  p_convert {:.3}  grade {}",
            k + 1,
            ds.leads[i].id,
            scores[i].rank,
            scores[i].p_convert,
            grade_for_rank(k + 1, n)
        );
    }
    Ok(())
}

impl DeviceArg {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DeviceArg::Cpu => "cpu",
            DeviceArg::Wgpu => "wgpu",
        }
    }
}

/// Writes `path` through a temporary file beside it, renamed into place when complete, so a
/// failed run never leaves a half-written CSV under the requested name.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let result = (|| -> Result<()> {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(())
    })();
    match result {
        Ok(()) => std::fs::rename(&tmp, path)
            .with_context(|| format!("moving {} to {}", tmp.display(), path.display())),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.context(format!("writing {}", path.display())))
        }
    }
}
