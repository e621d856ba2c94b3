//! `leadladder audit`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use leadladder_core::audit::{AuditOptions, audit, read_for_audit_checked};
use leadladder_core::drift::{UNAVAILABLE, check_json};
use leadladder_core::ingest::read_csv_path;
use leadladder_core::ladder::Ladder;
use leadladder_core::metrics::EvalConfig;
use leadladder_core::{IngestOptions, Policy, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    /// Audit every lead.
    None,
    /// Audit only the test period: the newest leads after a temporal split.
    Temporal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Stop at the first bad row with an error naming row, column, value and reason.
    Strict,
    /// Skip bad rows; report how many and the first 20 reasons.
    Skip,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadladder audit --input leads.csv --ladder leads.toml --score crm_score
  leadladder audit --input leads.csv --ladder leads.toml --split temporal --k 0.1 --k 1 --k 5
  leadladder audit --input export.csv --ladder funnel.toml --on-error skip --json > audit.json
  leadladder audit --input new-leads.csv --ladder leads.toml --model model.safetensors

With --model, the file is also checked against the distribution of that model's training data
(stored in the bundle): the Markdown report ends with the fields that drifted, and --json adds
a \"drift\" object with the numbers (PSI, shares outside the fitted range, unseen values, missing
shares, every bucket).")]
pub struct Args {
    /// Lead CSV (delimiter and encoding are detected).
    #[arg(long)]
    input: PathBuf,
    /// Ladder spec (TOML).
    #[arg(long)]
    ladder: PathBuf,
    /// A numeric column to audit as a score (repeatable); the spec's score columns are always in.
    #[arg(long = "score", value_name = "COL")]
    scores: Vec<String>,
    /// Which leads to audit.
    #[arg(long, value_enum, default_value_t = SplitArg::None)]
    split: SplitArg,
    /// Training share of a temporal split (the audited test period is the rest).
    #[arg(long, default_value_t = 0.7)]
    train_fraction: f64,
    /// Top-K percentages (repeatable) [default: 0.1, 1, 10].
    #[arg(long = "k", value_name = "PERCENT")]
    ks: Vec<f64>,
    /// Bootstrap resamples for the confidence intervals (0 = none).
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed of the bootstrap and of the random baseline.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Add a seeded random ranking as a floor.
    #[arg(long)]
    random: bool,
    /// What to do with bad rows.
    #[arg(long, value_enum, default_value_t = OnError::Strict)]
    on_error: OnError,
    /// Force the file's encoding (utf-8, utf-16le, gbk, …) instead of detecting it.
    #[arg(long)]
    encoding: Option<String>,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// Also write the report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write what the ladder says about every lead to this CSV: id, file row, label (0/1), one
    /// column per rung (`better`, `worse` or empty) and the lexicographic grade (for peers that
    /// learn from graded labels).
    #[arg(long, value_name = "CSV")]
    rungs_out: Option<PathBuf>,
    /// Check the file for drift against this model bundle's training data (see below).
    #[arg(long, value_name = "BUNDLE")]
    model: Option<PathBuf>,
    /// Read the whole file into memory instead of a batch of rows at a time, keeping only what
    /// the audit reads (same report; for comparison).
    #[arg(long, hide = true)]
    in_memory: bool,
}

/// Rows read at a time when the file is streamed.
const READ_BATCH: usize = 4096;

impl From<OnError> for Policy {
    fn from(e: OnError) -> Self {
        match e {
            OnError::Strict => Policy::Strict,
            OnError::Skip => Policy::Skip,
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let spec_text = std::fs::read_to_string(&args.ladder)
        .with_context(|| format!("reading the ladder spec {}", args.ladder.display()))?;
    let spec =
        Spec::from_toml(&spec_text).with_context(|| format!("in {}", args.ladder.display()))?;
    let mut opts = IngestOptions {
        policy: args.on_error.into(),
        encoding: args.encoding.clone(),
        ..IngestOptions::default()
    };
    let spec_scores: Vec<String> = spec
        .columns
        .score
        .iter()
        .map(|s| leadladder_core::spec::normalize_name(s))
        .collect();
    opts.extra_scores = args
        .scores
        .iter()
        .filter(|c| !spec_scores.contains(&leadladder_core::spec::normalize_name(c)))
        .cloned()
        .collect();
    let bundle = args
        .model
        .as_deref()
        .map(crate::load::load_bundle)
        .transpose()?;
    let profile = bundle.as_ref().and_then(|b| b.drift_profile());
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("reading {}", args.input.display()));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let said = |e: leadladder_core::Error| match (e, &args.model) {
        (e @ leadladder_core::Error::Drift(_), Some(model)) => {
            crate::load::drift_error(&args.input, model, e)
        }
        (e, _) => anyhow::Error::new(e).context(format!("reading {}", args.input.display())),
    };
    let (data, drift) = if args.in_memory {
        read_csv_path(&args.input, &spec, &opts).and_then(|data| {
            let drift = profile
                .map(|p| {
                    let mut check = p.checker(&data.schema)?;
                    data.leads.iter().for_each(|l| check.add(l));
                    Ok::<_, leadladder_core::Error>(check.finish())
                })
                .transpose()?;
            Ok((data, drift))
        })
    } else {
        std::fs::File::open(&args.input)
            .map_err(|e| {
                leadladder_core::Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", args.input.display()),
                ))
            })
            .and_then(|file| {
                read_for_audit_checked(file, &spec, &opts, &args.scores, READ_BATCH, profile)
            })
    }
    .map_err(said)?;
    let r = &data.report;
    bar.finish_and_clear();
    eprintln!("{}", crate::read_summary(&args.input, r));
    for issue in &r.issues {
        eprintln!("  skipped: {issue}");
    }
    if !r.unused_columns.is_empty() {
        eprintln!(
            "  columns not in the spec (not read): {}",
            r.unused_columns.join(", ")
        );
    }
    let ladder = Ladder::assign(&spec, &data)?;
    for c in ladder.counts() {
        eprintln!(
            "  rung {:<18} margin {:<4} better {:>8}  worse {:>8}",
            c.name, c.margin, c.better, c.worse
        );
    }
    if let Some(path) = &args.rungs_out {
        write_rungs(path, &data, &ladder)?;
        eprintln!("  wrote the rung of every lead to {}", path.display());
    }
    if args.split == SplitArg::None && args.train_fraction != 0.7 {
        bail!("--train-fraction needs --split temporal");
    }
    let mut eval = EvalConfig {
        bootstrap: args.bootstrap,
        seed: args.seed,
        ..EvalConfig::default()
    };
    if !args.ks.is_empty() {
        eval.k_percents = args.ks.clone();
    }
    let audit_opts = AuditOptions {
        eval,
        temporal_split: (args.split == SplitArg::Temporal).then_some(args.train_fraction),
        score_columns: args.scores.clone(),
        include_random: args.random,
        title: format!("Audit of {}", args.input.display()),
        ..AuditOptions::default()
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("evaluating (bootstrap {})", args.bootstrap));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = audit(&spec, &data, &audit_opts)?;
    bar.finish_and_clear();
    let text = match (&bundle, args.json) {
        (None, true) => report.to_json()?,
        (None, false) => report.to_markdown(),
        (Some(b), true) => {
            let mut value = serde_json::to_value(&report)?;
            if let serde_json::Value::Object(map) = &mut value {
                map.insert("drift".into(), check_json(drift.as_ref()));
                if let Some(g) = b.guard() {
                    map.insert("guard".into(), serde_json::to_value(g)?);
                }
            }
            serde_json::to_string_pretty(&value)?
        }
        (Some(b), false) => {
            let mut md = report.to_markdown();
            md.push('\n');
            if let Some(g) = b.guard().filter(|g| g.fires()) {
                md.push_str(&format!("**Guard:** {}\n\n", g.message));
            }
            match &drift {
                Some(d) => md.push_str(&d.to_markdown()),
                None => md.push_str(&format!(
                    "## Drift from the training data\n\n{UNAVAILABLE}\n"
                )),
            }
            md
        }
    };
    if bundle.is_some() && args.json {
        // The JSON goes to a file or a program; a person at the terminal still sees the words.
        for line in crate::drift::lines(drift.as_ref()) {
            eprintln!("{line}");
        }
    }
    println!("{text}");
    if let Some(out) = &args.out {
        leadladder_core::fs::write_file_atomic(out, text.as_bytes())?;
    }
    Ok(())
}

/// The `--rungs-out` CSV.
fn write_rungs(
    path: &std::path::Path,
    data: &leadladder_core::Dataset,
    ladder: &Ladder,
) -> Result<()> {
    use leadladder_core::ladder::Membership;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_path(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let mut header = vec!["id".to_string(), "row".into(), "label".into()];
    header.extend(ladder.rung_names().iter().cloned());
    header.push("grade".into());
    w.write_record(&header)?;
    for (i, lead) in data.leads.iter().enumerate() {
        let mut rec = vec![
            lead.id.to_string(),
            lead.row.to_string(),
            u8::from(ladder.labels()[i]).to_string(),
        ];
        rec.extend(ladder.rungs_of(i).iter().map(|m| match m {
            Membership::Better => "better".to_string(),
            Membership::Worse => "worse".to_string(),
            Membership::Neither => String::new(),
        }));
        rec.push(ladder.grade(i).to_string());
        w.write_record(&rec)?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))
}
