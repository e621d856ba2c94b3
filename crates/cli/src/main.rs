//! `leadladder`: rank a CRM lead queue by the funnel's own ladder.
//!
//! Owns the command line: arguments, progress bars, messages, exit codes, and reading and
//! writing the user's files. Must not hold a pipeline step of its own: ingest, the ranking
//! pipeline (`leadladder_core::pipeline`: blocks, batches, scoring threads, order, explain,
//! write) and audits are `leadladder-core`'s, scoring `leadladder-model`'s, training
//! `leadladder-trainer`'s, so `rank` and the page run the same code. Every file is written with
//! `leadladder_core::fs::write_atomic`.

mod audit;
mod bench;
mod drift;
mod load;
mod profile;
mod progress;
mod rank;
mod serve;
mod synth;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rank sales leads by what the funnel's own ladder of stages teaches.
#[derive(Debug, Parser)]
#[command(name = "leadladder", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
Examples:
  leadladder synth --leads 50000 --seed 7 --out leads.csv      # writes leads.csv and leads.toml
  leadladder audit --input leads.csv --ladder leads.toml --score crm_score --split temporal
  leadladder audit --input leads.csv --ladder leads.toml --json > audit.json
  leadladder train --input leads.csv --ladder leads.toml --out model.safetensors --preset tiny
  leadladder rank --model web/models/demo.int8.safetensors --input leads.csv --out ranked.csv";

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a synthetic car-retail funnel (CSV) and its ladder spec (TOML).
    Synth(synth::Args),
    /// Report how well score columns, recency and the hand tier sort rank buyers (P@K, AUC, CIs).
    Audit(audit::Args),
    /// Train a Qwen2 ranker with HPRO on the training period and audit it on the test period.
    Train(train::Args),
    /// Score a lead CSV with a model bundle and write the ranked queue (every column kept).
    Rank(rank::Args),
    /// Store the training data's distribution and the guard's verdict in an older bundle.
    Profile(profile::Args),
    /// Measure scoring throughput (leads/s, GFLOP/s) per device and batch size.
    Bench(bench::Args),
    /// Serve the page and the wasm packages on http://127.0.0.1:8080 (static files only).
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(args) => synth::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Rank(args) => rank::run(&args),
        Command::Profile(args) => profile::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Serve(args) => serve::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The line that says what was read: `read N leads from PATH (ENCODING, delimiter D)`, plus
/// `; skipped K bad rows` when rows were skipped.
pub(crate) fn read_summary(path: &std::path::Path, r: &leadladder_core::IngestReport) -> String {
    let skipped = if r.rows_skipped > 0 {
        format!("; skipped {} bad rows", r.rows_skipped)
    } else {
        String::new()
    };
    format!(
        "read {} leads from {} ({}, delimiter {:?}){skipped}",
        r.rows_loaded,
        path.display(),
        r.encoding,
        r.delimiter
    )
}

/// A progress bar on stderr that hides itself when stderr is not a terminal.
pub(crate) fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(
        "{msg:>10} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
