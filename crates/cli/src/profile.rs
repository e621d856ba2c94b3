//! `leadladder profile`: store the distribution of a model's training data (a drift profile)
//! and the guard's verdict in a bundle written before leadladder stored them, so `rank`,
//! `audit --model` and the page can check files for drift against it. The tensors are kept as
//! stored; only the metadata changes.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use leadladder_core::drift::DriftProfile;
use leadladder_core::guard::Guard;
use leadladder_core::ingest::read_csv_path;
use leadladder_core::ladder::Ladder;
use leadladder_core::report::AuditReport;
use leadladder_core::split::temporal_split;
use leadladder_core::{IngestOptions, Lead};

use crate::audit::OnError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FitArg {
    /// The fit period of the trainer's split: the training period of the temporal split less
    /// its newest --val-fraction (the validation slice), as `leadladder train` fits on.
    Temporal,
    /// Every lead of --input (a file that holds only the leads the model was trained on).
    All,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadladder profile --model demo.int8.safetensors --input leads.csv --out demo.int8.safetensors
  leadladder profile --model m.safetensors --input fit-period.csv --fit all --out m2.safetensors

--input is the CSV the model was trained on, read with the bundle's own ladder spec. The guard
judges the test-period report stored in the bundle's metrics (or --report, the <bundle>.report.json
that `leadladder train` writes): it warns when the model's AUC interval lies entirely below
recency's or the hand tier sort's.")]
pub struct Args {
    /// The bundle to add the profile and the guard to.
    #[arg(long)]
    model: PathBuf,
    /// The lead CSV the model was trained on.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the bundle (may be --model itself; written atomically).
    #[arg(long)]
    out: PathBuf,
    /// Which leads of --input the model was fitted on.
    #[arg(long, value_enum, default_value_t = FitArg::Temporal)]
    fit: FitArg,
    /// Training share of the trainer's temporal split.
    #[arg(long, default_value_t = 0.7)]
    train_fraction: f64,
    /// Share of the training period (its newest leads) the trainer held out for validation.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// A test-period report (AuditReport JSON) to judge instead of the one in the bundle.
    #[arg(long, value_name = "JSON")]
    report: Option<PathBuf>,
    /// The model's method name in the report [default: its last method].
    #[arg(long, value_name = "NAME")]
    method: Option<String>,
    /// What to do with bad rows.
    #[arg(long, value_enum, default_value_t = OnError::Strict)]
    on_error: OnError,
}

pub fn run(args: &Args) -> Result<()> {
    let bundle = crate::load::load_bundle(&args.model)?;
    let spec = &bundle.ladder;
    let opts = IngestOptions {
        policy: args.on_error.into(),
        ..IngestOptions::default()
    };
    let read = |spec| {
        read_csv_path(&args.input, spec, &opts)
            .map_err(|e| crate::load::read_error(&args.input, spec, e))
    };
    let (data, fit): (_, Vec<usize>) = match args.fit {
        FitArg::All => {
            let data = read(&spec.scoring())?;
            let all = (0..data.len()).collect();
            (data, all)
        }
        FitArg::Temporal => {
            let data = read(spec)?;
            let ladder = Ladder::assign(spec, &data)?;
            let split = temporal_split(&data, ladder.labels(), args.train_fraction)?;
            let n_val = ((split.train.len() as f64) * args.val_fraction).round() as usize;
            if n_val >= split.train.len() {
                anyhow::bail!(
                    "a validation share of {} leaves no fit-period leads ({} in the training \
                     period)",
                    args.val_fraction,
                    split.train.len()
                );
            }
            let fit = split.train[..split.train.len() - n_val].to_vec();
            (data, fit)
        }
    };
    let leads: Vec<&Lead> = fit.iter().filter_map(|&i| data.leads.get(i)).collect();
    let profile = DriftProfile::fit(&data.schema, leads.iter().copied())
        .with_context(|| format!("fitting the drift profile on {}", args.input.display()))?;
    let mut meta = bundle.meta.clone().with_drift_profile(&profile)?;

    let report: Option<AuditReport> = match &args.report {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(AuditReport::from_json(&text).with_context(|| format!("in {}", path.display()))?)
        }
        None => serde_json::from_str::<serde_json::Value>(&bundle.meta.metrics_json)
            .ok()
            .and_then(|m| m.get("report").cloned())
            .and_then(|r| serde_json::from_value(r).ok()),
    };
    let guard = match report {
        Some(report) => {
            let method = match &args.method {
                Some(m) => m.clone(),
                None => report
                    .methods
                    .last()
                    .map(|m| m.name.clone())
                    .ok_or_else(|| anyhow!("the test-period report has no methods"))?,
            };
            let g = Guard::check(&report, &method)?;
            meta = meta.with_guard(&g)?;
            Some(g)
        }
        None => None,
    };
    let bytes = bundle
        .with_meta(&meta)
        .with_context(|| format!("writing {}", args.out.display()))?;
    leadladder_core::fs::write_file_atomic(&args.out, &bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "stored the distribution of {} fit-period leads of {} ({} fields: {}) in {}",
        profile.leads,
        args.input.display(),
        profile.fields.len(),
        profile.field_names().join(", "),
        args.out.display()
    );
    match &guard {
        Some(g) => eprintln!("guard ({}): {}", g.model, g.message),
        None => {
            eprintln!("no guard: the bundle stores no test-period report (give one with --report)")
        }
    }
    Ok(())
}
