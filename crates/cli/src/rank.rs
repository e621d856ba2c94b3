//! `leadladder rank`: score a lead CSV with a model bundle and write the ranked queue. By
//! default the file is streamed ([`crate::stream_rank`]); `--in-memory` runs core's [`Queue`]
//! filled by the model's scorer, the pipeline the page runs. Both write the same bytes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use leadladder_bundle::Bundle;
use leadladder_core::spec::Spec;
use leadladder_core::{Error as CoreError, IngestOptions, Queue};
use leadladder_model::{DeviceKind, Scorer};

use crate::audit::OnError;

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
is the top 5% of the file, B the next 15%, C the next 30%, D the rest (cut-offs rounded up).

The file is also checked against the distribution of the model's training data (stored in the
bundle): after ranking, fields that drifted from it are named on stderr (a period-level index
outside the training range, categories never seen, a shift in how the values spread), or one line
says no drift was found; --drift-json writes the numbers. A bundle whose model ranked worse than
recency on its own test period says so too.

The file is read a batch of rows at a time and scored on --threads threads, so memory stays small
whatever its size (about 50 bytes per lead): the rows wait in a hidden scratch file beside --out
until the ranked file is written, so that folder needs room for about the input's size again.")]
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
    /// Scoring threads, each with its own copy of the model [default: the machine's cores on
    /// the cpu (one, whose matrix products use every core, for a model whose layers stay as
    /// stored), 1 on wgpu].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Threads inside each scoring thread's CPU kernels (0: one pool shared by all).
    #[arg(long, default_value_t = 1, hide = true, value_name = "N")]
    kernel_threads: usize,
    /// All scoring threads use one copy of the model.
    #[arg(long, hide = true)]
    share_model: bool,
    /// Leads read from the file at a time (the output never depends on it: leads are scored in
    /// blocks of 4,096 whatever the reads).
    #[arg(long, default_value_t = 1024, hide = true, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    read_batch: u64,
    /// Read the whole file into memory first, as the page does, instead of a batch at a time on
    /// several threads (same output; for comparison).
    #[arg(long, hide = true)]
    in_memory: bool,
    /// Also write the drift check's numbers (per field: PSI, shares outside the fitted range,
    /// unseen values, missing shares, every bucket) to this JSON file.
    #[arg(long, value_name = "PATH")]
    drift_json: Option<PathBuf>,
}

/// An ingest error of `path`, said as `leadladder rank` says it (a missing column is named with
/// the model's spec).
pub(crate) fn read_error(path: &Path, spec: &Spec, e: CoreError) -> anyhow::Error {
    match e {
        e @ CoreError::MissingColumns { .. } => anyhow::Error::new(e).context(format!(
            "{} lacks column(s) that the model reads (ladder spec `{}` in the bundle)",
            path.display(),
            spec.name
        )),
        e => anyhow::Error::new(e).context(format!("reading {}", path.display())),
    }
}

/// Reads and checks a bundle file; its tensors stay as stored in the file's bytes, which every
/// scorer made from it shares.
pub(crate) fn load_bundle(path: &Path) -> Result<Bundle> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the model {}", path.display()))?;
    Bundle::from_vec(bytes).with_context(|| format!("loading the model {}", path.display()))
}

/// Loads a bundle file onto a device.
pub(crate) fn load_scorer(path: &Path, device: DeviceKind) -> Result<Scorer> {
    Scorer::from_bundle(&load_bundle(path)?, device)
        .with_context(|| format!("loading the model {}", path.display()))
}

/// A drift check's error, said with the files it concerns.
pub(crate) fn drift_error(input: &Path, model: &Path, e: CoreError) -> anyhow::Error {
    anyhow::Error::new(e).context(format!(
        "checking {} against the training data of {}",
        input.display(),
        model.display()
    ))
}

pub fn run(args: &Args) -> Result<()> {
    if args.in_memory {
        run_in_memory(args)
    } else {
        crate::stream_rank::run(args)
    }
}

/// The whole file in memory, scored on the calling thread: core's [`Queue`] filled by the
/// model's scorer, as the page runs it.
fn run_in_memory(args: &Args) -> Result<()> {
    let device = DeviceKind::from(args.device);
    let bundle = load_bundle(&args.model)?;
    let scorer = Scorer::from_bundle(&bundle, device)
        .with_context(|| format!("loading the model {}", args.model.display()))?;
    let opts = IngestOptions {
        policy: args.on_error.into(),
        encoding: args.encoding.clone(),
        ..IngestOptions::default()
    };
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let mut queue = Queue::read_checked(scorer.spec(), bytes, opts, bundle.drift_profile())
        .map_err(|e| match e {
            e @ CoreError::Drift(_) => drift_error(&args.input, &args.model, e),
            e => read_error(&args.input, scorer.spec(), e),
        })?;
    let r = queue.report();
    match r.issues.first().filter(|_| r.rows_skipped > 0) {
        Some(first) => eprintln!("{}, first: {first}", crate::read_summary(&args.input, r)),
        None => eprintln!("{}", crate::read_summary(&args.input, r)),
    }

    let n = queue.len();
    let mut bar = crate::progress::Progress::new("ranking", n as u64, "leads");
    let started = Instant::now();
    let batch = usize::try_from(args.batch).unwrap_or(32);
    scorer
        .score_queue(&mut queue, 0..n, batch, &mut |done| {
            bar.set(done as u64, "")
        })
        .context("scoring")?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish();
    let ranking = queue.ranking()?;

    let explain_n = args.explain.min(n);
    if explain_n > 0 {
        let mut bar = crate::progress::Progress::new("explaining", explain_n as u64, "leads");
        for (k, lead) in ranking.iter().take(explain_n).enumerate() {
            let row = queue.key(lead.index)?.row;
            scorer
                .explain_queue(&mut queue, lead.index, args.reasons)
                .with_context(|| format!("explaining lead `{}` (row {row})", lead.id))?;
            bar.set(k as u64 + 1, "");
        }
        bar.finish();
    }

    leadladder_core::fs::write_atomic(&args.out, |w| queue.write_csv(w))
        .with_context(|| format!("writing {}", args.out.display()))?;

    let info = scorer.device_info();
    println!(
        "ranked {n} leads on {} ({}) in {seconds:.2}s: {:.1} leads/s; wrote {}",
        args.device.name(),
        info.description,
        n as f64 / seconds.max(1e-9),
        args.out.display()
    );
    print_top(
        n,
        ranking
            .iter()
            .take(5)
            .map(|l| (l.id.as_str(), l.score, l.p_convert)),
    );
    crate::drift::warn_guard(bundle.guard());
    crate::drift::report(queue.drift(), args.drift_json.as_deref())
}

/// The `top 5:` lines: each lead's id, score and p_convert, best first, among `n` leads.
pub(crate) fn print_top<'a>(n: usize, top: impl Iterator<Item = (&'a str, f32, f32)>) {
    println!("top {}:", n.min(5));
    for (k, (id, score, p_convert)) in top.enumerate() {
        println!(
            "  {:>3}. {id}  score {score:+.3}  p_convert {p_convert:.3}  grade {}",
            k + 1,
            leadladder_core::export::grade_for_rank(k + 1, n)
        );
    }
}

impl Args {
    pub(crate) fn model(&self) -> &Path {
        &self.model
    }
    pub(crate) fn input(&self) -> &Path {
        &self.input
    }
    pub(crate) fn out(&self) -> &Path {
        &self.out
    }
    pub(crate) fn device(&self) -> DeviceArg {
        self.device
    }
    pub(crate) fn explain(&self) -> usize {
        self.explain
    }
    pub(crate) fn reasons(&self) -> usize {
        self.reasons
    }
    pub(crate) fn batch(&self) -> usize {
        usize::try_from(self.batch).unwrap_or(32)
    }
    pub(crate) fn ingest_options(&self) -> IngestOptions {
        IngestOptions {
            policy: self.on_error.into(),
            encoding: self.encoding.clone(),
            ..IngestOptions::default()
        }
    }
    /// Scoring threads: `--threads`, else the machine's cores on the cpu and 1 on wgpu.
    pub(crate) fn threads(&self) -> usize {
        match (self.threads, self.device) {
            (Some(n), _) => usize::try_from(n).unwrap_or(1),
            (None, DeviceArg::Cpu) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            (None, DeviceArg::Wgpu) => 1,
        }
    }
    /// True when `--threads` was given.
    pub(crate) fn threads_given(&self) -> bool {
        self.threads.is_some()
    }
    pub(crate) fn kernel_threads(&self) -> usize {
        self.kernel_threads
    }
    pub(crate) fn share_model(&self) -> bool {
        self.share_model
    }
    pub(crate) fn drift_json(&self) -> Option<&Path> {
        self.drift_json.as_deref()
    }
    pub(crate) fn read_batch(&self) -> usize {
        usize::try_from(self.read_batch).unwrap_or(1024)
    }
}

impl DeviceArg {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DeviceArg::Cpu => "cpu",
            DeviceArg::Wgpu => "wgpu",
        }
    }
}
