//! `leadladder train`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use leadladder_bundle::StoreDtype;
use leadladder_core::ingest::read_csv;
use leadladder_core::report::AuditReport;
use leadladder_core::{IngestOptions, Spec};
use leadladder_trainer::parallel::{Launch, Parallel};
use leadladder_trainer::preset::{LORA_PRESET, qwen2_lora};
use leadladder_trainer::train::{
    NumericEmbedding, Objective, Prepared, Progress, TrainOptions, Trained, ablation,
    combine_reports, objective_label, prepare, train_prepared,
};
use leadladder_trainer::{DeviceSpec, LoraConfig, Precision};

use crate::audit::OnError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DtypeArg {
    F32,
    F16,
    Int8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    F32,
    Bf16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolArg {
    Last,
    Fields,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NumericArg {
    Bins,
    Ordinal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    Binary,
    Hpro,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadladder train --input leads.csv --ladder leads.toml --out model.safetensors --preset tiny
  leadladder train --input leads.csv --ladder leads.toml --out demo.safetensors --preset demo --dtype int8
  leadladder train --input leads.csv --ladder leads.toml --out m.safetensors --preset tiny --ablate
  leadladder train --input leads.csv --ladder leads.toml --out q.safetensors --preset qwen2-lora \
      --base Qwen2.5-0.5B/ --lora-rank 8 --lora-alpha 16 --device cuda:0

The run writes the bundle, <out>.report.md / .report.json (test-period audit with CIs) and
<out>.metrics.jsonl (one line per epoch). With --checkpoint-every N it checkpoints to <out>.ckpt
(<out>.<objective>.ckpt with --ablate) every N optimiser steps; after a crash, rerun the same
command with --resume to continue where it stopped, with the same result as an uninterrupted run. On a 2-core CPU, RAYON_NUM_THREADS=1 is often faster.

--preset qwen2-lora fine-tunes a Hugging Face Qwen2 folder (--base: config.json, model.safetensors
or shards with model.safetensors.index.json, tokenizer.json) with LoRA: the base stays frozen, the
bundle holds the merged weights, and <out>.peft/ holds the adapters in PEFT's format
(adapter_config.json, adapter_model.safetensors; PeftModel.from_pretrained loads them on the same
base) beside score_heads.safetensors. --device cuda:N needs a build with the trainer's `cuda`
feature; on CUDA the frozen base is held in bf16 unless --precision f32.

Data parallel: started by torchrun or srun (or with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT set by hand), each process is one rank: rank 0 listens on MASTER_ADDR:MASTER_PORT, the
ranks share every optimiser step's micro-batches and sum their gradients (NCCL on CUDA, which needs
`--features leadladder-trainer/nccl`; TCP on the CPU), and only rank 0 writes the bundle, reports
and checkpoints. Each rank trains on GPU LOCAL_RANK.
  torchrun --nproc-per-node 8 --no-python leadladder train --input leads.csv --ladder leads.toml \
      --out q.safetensors --preset qwen2-lora --base Qwen2.5-0.5B/ --device cuda")]
pub struct Args {
    /// Lead CSV.
    #[arg(long)]
    input: PathBuf,
    /// Ladder spec (TOML).
    #[arg(long)]
    ladder: PathBuf,
    /// Where to write the bundle (safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Training preset: tiny, demo (from scratch) or qwen2-lora (LoRA on --base).
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Hugging Face Qwen2 folder to fine-tune (qwen2-lora).
    #[arg(long)]
    base: Option<PathBuf>,
    /// LoRA rank r (qwen2-lora).
    #[arg(long, default_value_t = 8)]
    lora_rank: usize,
    /// LoRA alpha; adapters are scaled by alpha / r (qwen2-lora).
    #[arg(long, default_value_t = 16.0)]
    lora_alpha: f64,
    /// Dropout on the adapters' input while training (qwen2-lora).
    #[arg(long, default_value_t = 0.05)]
    lora_dropout: f32,
    /// Linears that get adapters, comma-separated (qwen2-lora).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    )]
    lora_targets: Vec<String>,
    /// Where to train: cpu or cuda:N (CUDA needs a build with `--features leadladder-trainer/cuda`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Precision of the frozen qwen2-lora base [default: bf16 on CUDA, f32 on the CPU].
    #[arg(long, value_enum)]
    precision: Option<PrecisionArg>,
    /// Prompt budget in tokens (overrides the preset).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Leads per batch (overrides the preset).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Micro-batches whose gradients are averaged per optimiser step (overrides the preset).
    /// A data-parallel run averages `grad-accum × ranks` micro-batches per step: N ranks with
    /// `--grad-accum 1` take the steps of one process with `--grad-accum N`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    grad_accum: Option<u64>,
    /// Peak learning rate (overrides the preset).
    #[arg(long)]
    lr: Option<f64>,
    /// What the ranking head learns from.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Hpro)]
    objective: ObjectiveArg,
    /// Turn the semantic (language-model) loss off.
    #[arg(long)]
    no_semantic: bool,
    /// Train binary, hpro and hpro+semantic on the same split and report them side by side.
    #[arg(long)]
    ablate: bool,
    /// Epochs (overrides the preset).
    #[arg(long)]
    epochs: Option<usize>,
    /// Train on at most this many leads of the training period (overrides the preset).
    #[arg(long)]
    train_sample: Option<usize>,
    /// Seed (overrides the preset).
    #[arg(long)]
    seed: Option<u64>,
    /// Bootstrap resamples of the final report.
    #[arg(long)]
    bootstrap: Option<usize>,
    /// Stored weight type of the bundle.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    dtype: DtypeArg,
    /// What to do with bad rows.
    #[arg(long, value_enum, default_value_t = OnError::Strict)]
    on_error: OnError,
    /// Write a checkpoint to <out>.ckpt every this many optimiser steps (0: never).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: u64,
    /// Continue from <out>.ckpt if it exists (same data and options required).
    #[arg(long)]
    resume: bool,
    /// What the score heads read (overrides the preset): the last token, or the last token plus
    /// the last field token (field-token presets).
    #[arg(long, value_enum)]
    pool: Option<PoolArg>,
    /// Also write the test period's scores to this CSV (id, score, p_convert), for benchmarks
    /// that audit several methods on one split.
    #[arg(long, value_name = "CSV")]
    scores_out: Option<PathBuf>,
    /// Field dropout probability (overrides the preset): each field token of a training lead is
    /// replaced by its field's "unknown" token with this probability.
    #[arg(long, value_name = "P")]
    field_dropout: Option<f64>,
    /// Numbers outside the fitted range get their own tokens (on) or the edge bins (off)
    /// (overrides the preset).
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    out_of_range: Option<bool>,
    /// Weigh newer training leads more: a lead's weight halves every this many fit periods
    /// back (overrides the preset; 0 turns it off).
    #[arg(long, value_name = "PERIODS")]
    recency_half_life: Option<f64>,
    /// Train an ensemble of this many models (different seeds) and average their scores
    /// (overrides the preset).
    #[arg(long, value_name = "K")]
    ensemble: Option<usize>,
    /// How numeric bins are embedded while training: `bins` (a free row per bin) or `ordinal`
    /// (each bin the running sum of the rows up to it, so neighbouring bins share what they
    /// learn) (overrides the preset; the bundle reads the same either way).
    #[arg(long, value_enum, value_name = "bins|ordinal")]
    numeric: Option<NumericArg>,
    /// Do not read the spec's text columns (the model reads the structured fields only; the
    /// bundle's spec lists them as ignored).
    #[arg(long)]
    no_text: bool,
}

fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(format!("expected on or off, got `{other}`")),
    }
}

fn fnv1a(bytes: &[u8]) -> String {
    leadladder_core::hash::Fnv::of(bytes).finish()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes `bytes` to `path` atomically and durably ([`leadladder_core::fs::write_atomic`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    leadladder_core::fs::write_file_atomic(path, bytes)?;
    Ok(())
}

pub fn run(args: &Args) -> Result<()> {
    // Options first: a bad preset, base or device fails before the data is read.
    let mut device: DeviceSpec = args.device.parse()?;
    // Under a launcher (torchrun, srun) this process is one rank of a data-parallel run.
    let launch = Launch::from_env(|k| std::env::var(k).ok())?;
    let mut parallel = Parallel::single();
    if let Some(launch) = &launch {
        eprintln!(
            "rank {} of {} (local rank {}), meeting rank 0 at {}:{}",
            launch.rank,
            launch.world_size,
            launch.local_rank,
            launch.master_addr,
            launch.master_port
        );
        (parallel, device) = leadladder_trainer::parallel::join(launch, device)?;
    }
    let leader = parallel.is_leader();
    // Fail before reading anything else when the device cannot be opened.
    device.open()?;
    let mut opts = if args.preset == LORA_PRESET {
        let Some(base) = &args.base else {
            anyhow::bail!(
                "--preset {LORA_PRESET} fine-tunes a Hugging Face Qwen2 folder: give it with --base <dir>"
            );
        };
        let lora = LoraConfig {
            r: args.lora_rank,
            alpha: args.lora_alpha,
            dropout: args.lora_dropout,
            targets: args.lora_targets.clone(),
            seed: 0,
        };
        let mut o = qwen2_lora(base, lora)?;
        o.precision = match args.precision {
            Some(PrecisionArg::F32) => Precision::F32,
            Some(PrecisionArg::Bf16) => Precision::Bf16,
            None => Precision::default_for(device),
        };
        o
    } else {
        if args.base.is_some() {
            anyhow::bail!(
                "--base is for --preset {LORA_PRESET}; `{}` trains from scratch",
                args.preset
            );
        }
        if args.precision == Some(PrecisionArg::Bf16) {
            anyhow::bail!(
                "--precision bf16 is for the frozen base of --preset {LORA_PRESET}; `{}` trains in f32",
                args.preset
            );
        }
        leadladder_trainer::preset::preset(&args.preset)?
    };
    opts.device = device;
    opts.parallel = parallel;
    opts.max_tokens = args.max_tokens.unwrap_or(opts.max_tokens);
    opts.batch_size = args.batch_size.unwrap_or(opts.batch_size);
    opts.lr = args.lr.unwrap_or(opts.lr);
    if let Some(n) = args.grad_accum {
        opts.grad_accum = usize::try_from(n)?;
    }
    if let Some(p) = args.pool {
        opts.pool_fields = p == PoolArg::Fields;
    }
    let spec_text = std::fs::read_to_string(&args.ladder)
        .with_context(|| format!("reading the ladder spec {}", args.ladder.display()))?;
    let mut spec =
        Spec::from_toml(&spec_text).with_context(|| format!("in {}", args.ladder.display()))?;
    if args.no_text {
        let text = std::mem::take(&mut spec.columns.text);
        if text.is_empty() {
            eprintln!("--no-text: the spec has no text columns");
        }
        spec.columns.ignore.extend(text);
        spec.validate()
            .with_context(|| format!("in {} without its text columns", args.ladder.display()))?;
    }
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let data = read_csv(
        &bytes,
        &spec,
        &IngestOptions {
            policy: args.on_error.into(),
            ..IngestOptions::default()
        },
    )
    .with_context(|| format!("reading {}", args.input.display()))?;
    eprintln!("read {} leads from {}", data.len(), args.input.display());
    opts.objective = match args.objective {
        ObjectiveArg::Binary => Objective::Binary,
        ObjectiveArg::Hpro => Objective::Hpro,
    };
    if args.no_semantic {
        opts.lambda_sem = 0.0;
    }
    opts.epochs = args.epochs.unwrap_or(opts.epochs);
    opts.train_sample = args.train_sample.or(opts.train_sample);
    opts.seed = args.seed.unwrap_or(opts.seed);
    opts.bootstrap = args.bootstrap.unwrap_or(opts.bootstrap);
    opts.field_dropout = args.field_dropout.unwrap_or(opts.field_dropout);
    if let Some(on) = args.out_of_range {
        opts.field_fit.out_of_range = on;
    }
    if let Some(h) = args.recency_half_life {
        opts.recency_half_life = (h > 0.0).then_some(h);
    }
    opts.ensemble = args.ensemble.unwrap_or(opts.ensemble);
    if let Some(n) = args.numeric {
        opts.numeric_embedding = match n {
            NumericArg::Bins => NumericEmbedding::Bins,
            NumericArg::Ordinal => NumericEmbedding::Ordinal,
        };
    }
    let dtype = match args.dtype {
        DtypeArg::F32 => StoreDtype::F32,
        DtypeArg::F16 => StoreDtype::F16,
        DtypeArg::Int8 => StoreDtype::Int8,
    };
    let runs: Vec<TrainOptions> = if args.ablate {
        ablation(&opts)
    } else {
        vec![opts]
    };
    let checkpoints = args.checkpoint_every > 0 || args.resume;
    let runs: Vec<TrainOptions> = runs
        .into_iter()
        .map(|mut run| {
            if checkpoints {
                let suffix = if args.ablate {
                    format!(".{}.ckpt", objective_label(&run))
                } else {
                    ".ckpt".to_string()
                };
                run.checkpoint_path = Some(with_suffix(&args.out, &suffix));
                run.checkpoint_every = args.checkpoint_every;
                run.resume = args.resume;
            }
            run
        })
        .collect();
    let log_path = with_suffix(&args.out, ".metrics.jsonl");
    // Only rank 0 of a data-parallel run writes files and shows progress.
    let mut log: Box<dyn std::io::Write> = if leader {
        Box::new(
            std::fs::File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?,
        )
    } else {
        Box::new(std::io::sink())
    };
    let mut reports: Vec<AuditReport> = Vec::new();
    let mut last: Option<Trained> = None;
    let mut prepared: Option<Prepared> = None;
    for run in &runs {
        let label = objective_label(run);
        eprintln!("training `{}` ({label})", run.preset);
        let mut bar = crate::progress::Progress::new(label, 0, "steps");
        if !leader {
            bar.hide();
        }
        // Throughput since the first optimiser step (tokenising comes before it).
        let mut first_step: Option<(std::time::Instant, usize)> = None;
        let mut on_progress = |p: Progress| match p {
            Progress::Stage(s) => bar.println(&format!("  {s}")),
            Progress::Step {
                step,
                total,
                loss,
                tokens,
            } => {
                bar.set_total(total);
                let (t0, tokens0) = *first_step.get_or_insert((std::time::Instant::now(), tokens));
                let tps = (tokens - tokens0) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                bar.set(step, &format!("loss {loss:.4}, {tps:.0} tokens/s"));
            }
            Progress::Epoch(e) => {
                bar.println(&format!(
                    "  epoch {}: loss {:.4} (point {:.4}, pair {:.4}, sem {:.4}); validation AUC {:.4}, P@1% {:.2}%, P@10% {:.2}%; {:.0} tokens/s, {:.0} s",
                    e.epoch,
                    e.train_loss,
                    e.loss_point,
                    e.loss_pair,
                    e.loss_sem,
                    e.val_auc,
                    100.0 * e.val_p_at_1,
                    100.0 * e.val_p_at_10,
                    e.tokens_per_s,
                    e.seconds
                ));
                let line = serde_json::json!({ "objective": label, "epoch": e });
                let _ = writeln!(log, "{line}");
            }
        };
        // The ablation's runs share the split, the tokenizer and the encoded leads.
        if prepared.is_none() {
            prepared = Some(prepare(&spec, &data, run, &mut on_progress)?);
        }
        let Some(p) = prepared.as_ref() else {
            anyhow::bail!("no prepared data");
        };
        let trained = train_prepared(&spec, &data, run, p, &mut on_progress)?;
        bar.finish();
        reports.push(trained.report.clone());
        last = Some(trained);
    }
    let Some(trained) = last else {
        anyhow::bail!("no training run");
    };
    let Some(report) = combine_reports(&reports, &trained.options.preset) else {
        anyhow::bail!("no training run");
    };
    if !leader {
        eprintln!(
            "rank {} done; rank 0 writes {}",
            trained.options.parallel.rank(),
            args.out.display()
        );
        return Ok(());
    }
    let bundle = trained.export(&spec, dtype, &fnv1a(&bytes))?;
    write_atomic(&args.out, &bundle)?;
    if trained.options.lora.is_some() {
        let dir = with_suffix(&args.out, ".peft");
        trained
            .export_peft(&dir)
            .with_context(|| format!("writing the PEFT adapter to {}", dir.display()))?;
        eprintln!("wrote the PEFT adapter to {}", dir.display());
    }
    if let Some(path) = &args.scores_out {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_path(path)
            .with_context(|| format!("creating {}", path.display()))?;
        w.write_record(["id", "score", "p_convert"])?;
        for &(lead, score) in &trained.test_scores {
            let p = trained.calibration.probability(f64::from(score));
            w.write_record([
                data.leads[lead].id.to_string(),
                score.to_string(),
                p.to_string(),
            ])?;
        }
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let md = report.to_markdown();
    write_atomic(&with_suffix(&args.out, ".report.md"), md.as_bytes())?;
    write_atomic(
        &with_suffix(&args.out, ".report.json"),
        report.to_json()?.as_bytes(),
    )?;
    println!("{md}");
    eprintln!(
        "wrote {} ({} bytes, {:?}), {}, {} and {}",
        args.out.display(),
        bundle.len(),
        dtype,
        with_suffix(&args.out, ".report.md").display(),
        with_suffix(&args.out, ".report.json").display(),
        log_path.display()
    );
    // Last: a model that ranks its own test period worse than recency must not go unnoticed.
    for line in guard_lines(&trained.report) {
        eprintln!("{line}");
    }
    Ok(())
}

/// What the guard says about a run's test-period report, whose last method is the model: its
/// warning when the model ranks worse than recency or the hand tier sort beyond the bootstrap
/// intervals, a note when there are no intervals, nothing when the model passed.
fn guard_lines(report: &AuditReport) -> Vec<String> {
    let Some(model) = report.methods.last() else {
        return Vec::new();
    };
    leadladder_core::guard::train_lines(report, &model.name)
        .unwrap_or_else(|e| vec![format!("note: the guard could not run: {e}")])
}
