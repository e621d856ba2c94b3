//! `leadladder rank`: score a lead CSV with a model bundle and write the ranked queue. The
//! pipeline is core's ([`leadladder_core::pipeline::file::rank_file`], the one the page runs a
//! part at a time): this module turns the flags into its job, gives each scoring thread its
//! model and kernel pool, and says what happened.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use leadladder_core::pipeline::file::{self, RankError, RankFile, rank_file};
use leadladder_core::pipeline::{LeadScorer, ScorePolicy};
use leadladder_core::spec::Spec;
use leadladder_core::{IngestOptions, IngestReport, Lead, Schema, Score};
use leadladder_model::{DeviceKind, Residency, Scorer};

use crate::audit::OnError;
use crate::load::{drift_error, load_bundle, read_error};

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
    /// Leads per forward pass (a lead's score can change in its last digits with the leads
    /// batched with it; the page uses the default).
    #[arg(long, default_value_t = ScorePolicy::DEFAULT.batch as u64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
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
    /// No longer needed, and ignored: the page and `rank` run one pipeline, whose output is what
    /// this flag used to give (a note on stderr says so).
    #[arg(long, hide = true)]
    in_memory: bool,
    /// Also write the drift check's numbers (per field: PSI, shares outside the fitted range,
    /// unseen values, missing shares, every bucket) to this JSON file.
    #[arg(long, value_name = "PATH")]
    drift_json: Option<PathBuf>,
}

/// Said on stderr when the retired `--in-memory` flag is given.
const IN_MEMORY_NOTE: &str = "note: --in-memory is no longer needed and is ignored: `leadladder rank` \
     and the page run one pipeline, and its output is what --in-memory wrote";

pub fn run(args: &Args) -> Result<()> {
    if args.in_memory {
        eprintln!("{IN_MEMORY_NOTE}");
    }
    let device = DeviceKind::from(args.device);
    let bundle = load_bundle(&args.model)?;
    let scorer = Scorer::from_bundle(&bundle, device)
        .with_context(|| format!("loading the model {}", args.model.display()))?;
    let spec = scorer.spec();
    let opts = args.ingest_options();
    let input =
        File::open(&args.input).with_context(|| format!("reading {}", args.input.display()))?;

    // A model whose layers stay as stored (a real-size one) scores on one thread whose matrix
    // products use every core: more scoring threads would each dequantize every matrix again,
    // and a file shorter than a read batch would give one of them all its leads.
    let one_wide_thread = device == DeviceKind::Cpu
        && args.threads.is_none()
        && Residency::cpu(&bundle.config).host_layers;
    let (threads, kernel_threads) = if one_wide_thread {
        (1, 0)
    } else {
        (args.threads(), args.kernel_threads)
    };
    let pools = (0..threads)
        .filter(|_| kernel_threads > 0)
        .map(|_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(kernel_threads)
                .build()
                .context("starting a kernel thread pool")
        })
        .collect::<Result<Vec<_>>>()?;
    let pools = Mutex::new(pools);
    let shared = args.share_model.then_some(&scorer);
    // Each scoring thread's model: its own copy (sharing the bundle's bytes) unless shared, and
    // its own kernel pool unless they share Rayon's.
    let make = || -> leadladder_model::Result<ThreadScorer<'_>> {
        let model = match shared {
            Some(s) => Model::Shared(s),
            None => Model::Own(Box::new(Scorer::from_bundle(&bundle, device)?)),
        };
        let pool = pools.lock().ok().and_then(|mut p| p.pop());
        Ok(ThreadScorer { model, pool })
    };
    let job = RankFile {
        input,
        spec,
        opts: &opts,
        profile: bundle.drift_profile(),
        out: &args.out,
        policy: ScorePolicy::DEFAULT.with_batch(args.batch()),
        read_batch: usize::try_from(args.read_batch).unwrap_or(1024),
        explain: args.explain,
        reasons: args.reasons,
        threads,
    };
    let mut bars = Bars::new(args);
    let ranked = rank_file(job, make, &mut bars);
    bars.finish();
    let ranked = ranked.map_err(|e| said(args, spec, e))?;

    let n = ranked.leads;
    let seconds = bars.seconds;
    println!(
        "ranked {n} leads on {} ({}; {} scoring thread{}) in {seconds:.2}s: {:.1} leads/s; \
         wrote {}",
        args.device.name(),
        scorer.device_info().description,
        args.threads(),
        if args.threads() == 1 { "" } else { "s" },
        n as f64 / seconds.max(1e-9),
        args.out.display()
    );
    print_top(n, ranked.top.iter().map(|(id, s, p)| (id.as_str(), *s, *p)));
    crate::drift::warn_guard(bundle.guard());
    crate::drift::report(ranked.drift.as_ref(), args.drift_json.as_deref())
}

/// A pipeline error, said with the file it concerns.
fn said(args: &Args, spec: &Spec, e: RankError<leadladder_model::Error>) -> anyhow::Error {
    let out = || format!("writing {}", args.out.display());
    match e {
        RankError::Read(e) => read_error(&args.input, spec, e),
        RankError::Drift(e) => drift_error(&args.input, &args.model, e),
        RankError::Write(e) => anyhow::Error::new(e).context(out()),
        RankError::Start(e) => {
            anyhow::Error::new(e).context(format!("loading the model {}", args.model.display()))
        }
        RankError::Score(e) => anyhow::Error::new(e).context("scoring"),
        RankError::Explain { id, row, source } => {
            anyhow::Error::new(source).context(format!("explaining lead `{id}` (row {row})"))
        }
        RankError::Queue(e) => anyhow::Error::new(e),
        RankError::Threads(what) => anyhow::anyhow!(what),
    }
}

/// A scoring thread's model: its own or the shared one, with its own kernel pool or Rayon's.
struct ThreadScorer<'a> {
    model: Model<'a>,
    pool: Option<rayon::ThreadPool>,
}

enum Model<'a> {
    Own(Box<Scorer>),
    Shared(&'a Scorer),
}

impl ThreadScorer<'_> {
    fn run<R: Send>(&self, f: impl FnOnce(&Scorer) -> R + Send) -> R {
        let scorer = match &self.model {
            Model::Own(s) => s,
            Model::Shared(s) => *s,
        };
        match &self.pool {
            Some(pool) => pool.install(|| f(scorer)),
            None => f(scorer),
        }
    }
}

impl LeadScorer for ThreadScorer<'_> {
    type Error = leadladder_model::Error;

    fn encode(&self, schema: &Schema, lead: &Lead) -> leadladder_model::Result<Vec<u32>> {
        self.run(|s| s.encode(schema, lead))
    }

    fn score_ids(&self, batch: &[Vec<u32>]) -> leadladder_model::Result<Vec<Score>> {
        self.run(|s| s.score_ids(batch))
    }

    fn explain(
        &self,
        schema: &Schema,
        lead: &Lead,
        top_n: usize,
    ) -> leadladder_model::Result<String> {
        self.run(|s| LeadScorer::explain(s, schema, lead, top_n))
    }
}

/// The progress bars of a run: scoring, then explaining.
struct Bars {
    input: PathBuf,
    started: Instant,
    ranking: crate::progress::Progress,
    explaining: Option<crate::progress::Progress>,
    /// Seconds from the start to the last score.
    seconds: f64,
}

impl Bars {
    fn new(args: &Args) -> Self {
        Self {
            input: args.input.clone(),
            started: Instant::now(),
            ranking: crate::progress::Progress::new("ranking", 0, "leads"),
            explaining: None,
            seconds: 0.0,
        }
    }

    fn finish(&mut self) {
        self.ranking.finish();
        if let Some(bar) = self.explaining.take() {
            bar.finish();
        }
    }
}

impl file::Progress for Bars {
    fn scoring(&mut self, scored: u64, total: u64) {
        self.ranking.set_total(total);
        self.ranking.set(scored, "");
    }

    fn read(&mut self, r: &IngestReport) {
        match r.issues.first().filter(|_| r.rows_skipped > 0) {
            Some(first) => self.ranking.println(&format!(
                "{}, first: {first}",
                crate::read_summary(&self.input, r)
            )),
            None => self.ranking.println(&crate::read_summary(&self.input, r)),
        }
    }

    fn scored(&mut self) {
        self.seconds = self.started.elapsed().as_secs_f64();
        self.ranking.finish();
    }

    fn explaining(&mut self, done: u64, total: u64) {
        let bar = self
            .explaining
            .get_or_insert_with(|| crate::progress::Progress::new("explaining", total, "leads"));
        bar.set(done, "");
    }
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
    fn batch(&self) -> usize {
        usize::try_from(self.batch).unwrap_or(ScorePolicy::DEFAULT.batch)
    }
    fn ingest_options(&self) -> IngestOptions {
        IngestOptions {
            policy: self.on_error.into(),
            encoding: self.encoding.clone(),
            ..IngestOptions::default()
        }
    }
    /// Scoring threads: `--threads`, else the machine's cores on the cpu and 1 on wgpu.
    fn threads(&self) -> usize {
        match (self.threads, self.device) {
            (Some(n), _) => usize::try_from(n).unwrap_or(1),
            (None, DeviceArg::Cpu) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            (None, DeviceArg::Wgpu) => 1,
        }
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
