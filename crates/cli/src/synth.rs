//! `leadladder synth`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use leadladder_core::fs::{write_atomic, write_file_atomic};
use leadladder_synth::{Lang, SynthConfig};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadladder synth --leads 200000 --seed 7 --out leads.csv
  leadladder synth --leads 5000 --lang zh --out zh.csv --spec zh-ladder.toml
  leadladder synth --leads 200000 --drift 1 --out drifting.csv")]
pub struct Args {
    /// Number of leads.
    #[arg(long, default_value_t = 50_000)]
    leads: usize,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Dialogue language: en, zh or mixed.
    #[arg(long, default_value = "en")]
    lang: Lang,
    /// Output CSV.
    #[arg(long)]
    out: PathBuf,
    /// Where to write the ladder spec [default: the CSV path with a .toml extension].
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Drift between the training and the test period, 0 to 1: period-level fields that leave
    /// the training range or flip their relation to buying, a rising buyer rate, channels and
    /// models that appear only late. 0 (the default) writes the same bytes as ever.
    #[arg(long, default_value_t = 0.0)]
    drift: f64,
}

pub fn run(args: &Args) -> Result<()> {
    let cfg = SynthConfig {
        leads: args.leads,
        seed: args.seed,
        lang: args.lang,
        drift: args.drift,
        ..SynthConfig::default()
    };
    leadladder_synth::check_config(&cfg).map_err(anyhow::Error::msg)?;
    let spec_path = args
        .spec
        .clone()
        .unwrap_or_else(|| args.out.with_extension("toml"));
    if spec_path == args.out {
        anyhow::bail!(
            "the spec path and the CSV path are the same: {}",
            args.out.display()
        );
    }
    let mut bar = crate::progress::Progress::new("synth", args.leads as u64, "leads");
    let summary = write_atomic(&args.out, |w| {
        leadladder_synth::write_csv(&cfg, w, |n| bar.set(n, "")).map_err(anyhow::Error::from)
    })
    .with_context(|| format!("writing {}", args.out.display()))?;
    bar.finish();
    write_file_atomic(&spec_path, leadladder_synth::spec_toml_for(&cfg).as_bytes())?;
    let pct = |x: u64| 100.0 * x as f64 / summary.leads.max(1) as f64;
    eprintln!(
        "wrote {} leads to {} and the ladder spec to {}\n  locked_in {:.2}%  defeated {:.2}%  open {:.2}%  test drive {:.2}%  long call {:.2}%",
        summary.leads,
        args.out.display(),
        spec_path.display(),
        pct(summary.locked_in),
        pct(summary.defeated),
        pct(summary.open),
        pct(summary.test_drive),
        pct(summary.long_call),
    );
    Ok(())
}
