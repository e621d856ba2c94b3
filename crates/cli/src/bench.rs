//! `leadladder bench`: scoring throughput (leads/s) and achieved GFLOP/s of a bundle, per device
//! and batch size, as a Markdown table; optionally next to the PyTorch peer
//! (`bench/torch_peer.py`) on the same token ids.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use leadladder_bundle::ModelConfig;
use leadladder_core::IngestOptions;
use leadladder_core::ingest::read_csv;
use leadladder_model::{DeviceKind, Scorer};
use serde::{Deserialize, Serialize};

use crate::load::load_scorer;
use crate::rank::DeviceArg;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadladder bench                                     # demo bundle, 256 synthetic leads, cpu and wgpu
  leadladder bench --model m.safetensors --input leads.csv --leads 1000 --device cpu
  RAYON_NUM_THREADS=1 leadladder bench --device cpu --dump-ids ids.json
  python3 bench/torch_peer.py --bundle web/models/demo.int8.safetensors --ids ids.json --out peer.json
  RAYON_NUM_THREADS=1 leadladder bench --device cpu --peer peer.json

Leads/s counts forward passes only (tokenisation is done once, before timing), over the leads in
file order, in consecutive batches padded to their longest sequence: the same batches the peer
runs. GFLOP/s divides the forward FLOPs of those padded batches (2 per multiply-add: the q/k/v/o
and MLP projections, the attention products over the padded length, the two heads) by the time.")]
pub struct Args {
    /// Model bundle.
    #[arg(long, default_value = "web/models/demo.int8.safetensors")]
    model: PathBuf,
    /// Lead CSV to score; default: synthetic car-retail leads (`leadladder synth`, seed 7).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Leads to score (the first N of the input).
    #[arg(long, default_value_t = 256)]
    leads: usize,
    /// Batch sizes (repeatable) [default: 1, 8, 32].
    #[arg(long = "batch", value_parser = clap::value_parser!(u64).range(1..=4096))]
    batches: Vec<u64>,
    /// Devices (repeatable) [default: cpu, wgpu].
    #[arg(long = "device", value_enum)]
    devices: Vec<DeviceArg>,
    /// Write the token ids, batch sizes and CPU scores as JSON for bench/torch_peer.py.
    #[arg(long, value_name = "FILE")]
    dump_ids: Option<PathBuf>,
    /// The peer's JSON report (bench/torch_peer.py --out): adds a ratio table.
    #[arg(long, value_name = "FILE")]
    peer: Option<PathBuf>,
}

/// What `--dump-ids` writes (and torch_peer.py reads).
#[derive(Debug, Serialize)]
struct IdsDump<'a> {
    bundle: String,
    pad_token_id: u32,
    batches: &'a [usize],
    ids: &'a [Vec<u32>],
    /// The CPU scorer's ranking-head scores, for the peer's parity check.
    scores: Vec<f32>,
}

#[derive(Debug, Deserialize)]
struct PeerReport {
    #[serde(default)]
    peer: String,
    #[serde(default)]
    torch: String,
    #[serde(default)]
    threads: usize,
    runs: Vec<PeerRun>,
    #[serde(default)]
    max_abs_diff_vs_rust: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct PeerRun {
    batch: usize,
    leads_per_s: f64,
}

/// One timed configuration.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    device: DeviceArg,
    batch: usize,
    leads: usize,
    seconds: f64,
    flops: f64,
}

fn batch_flops(cfg: &ModelConfig, ids: &[Vec<u32>], batch: usize) -> f64 {
    ids.chunks(batch)
        .map(|c| cfg.forward_flops(c.len(), c.iter().map(Vec::len).max().unwrap_or(0)))
        .sum()
}

/// Scores `ids` in consecutive batches; returns seconds and the ranking-head scores.
fn time_scoring(scorer: &Scorer, ids: &[Vec<u32>], batch: usize) -> Result<(f64, Vec<f32>)> {
    // One warm-up batch (kernel compilation on wgpu, allocations on the CPU).
    scorer
        .score_ids(&ids[..batch.min(ids.len())])
        .context("warm-up")?;
    let started = Instant::now();
    let mut scores = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(batch) {
        scores.extend(scorer.score_ids(chunk)?.into_iter().map(|s| s.rank));
    }
    Ok((started.elapsed().as_secs_f64(), scores))
}

fn synthetic_csv(leads: usize) -> Result<Vec<u8>> {
    let cfg = leadladder_synth::SynthConfig {
        leads,
        seed: 7,
        ..leadladder_synth::SynthConfig::default()
    };
    let mut out = Vec::new();
    leadladder_synth::write_csv(&cfg, &mut out, |_| {}).context("generating synthetic leads")?;
    Ok(out)
}

pub fn run(args: &Args) -> Result<()> {
    let batches: Vec<usize> = if args.batches.is_empty() {
        vec![1, 8, 32]
    } else {
        args.batches
            .iter()
            .map(|&b| usize::try_from(b).unwrap_or(1))
            .collect()
    };
    let devices = if args.devices.is_empty() {
        vec![DeviceArg::Cpu, DeviceArg::Wgpu]
    } else {
        args.devices.clone()
    };
    if args.leads == 0 {
        bail!("--leads must be at least 1");
    }

    // Token ids once, with the CPU scorer (tokenisation does not depend on the device).
    let cpu = load_scorer(&args.model, DeviceKind::Cpu)?;
    let bytes = match &args.input {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => synthetic_csv(args.leads)?,
    };
    let ds = read_csv(&bytes, &cpu.spec().scoring(), &IngestOptions::default())
        .context("reading the leads")?;
    let ids: Vec<Vec<u32>> = ds
        .leads
        .iter()
        .take(args.leads)
        .map(|l| cpu.encode(&ds.schema, l))
        .collect::<Result<_, _>>()?;
    let cfg = cpu.config().model.clone();
    // An ensemble runs every member's forward pass on each batch.
    let members = cpu.config().ensemble.max(1) as f64;
    let tokens: usize = ids.iter().map(Vec::len).sum();
    println!(
        "bundle {} ({} parameters, {} member(s) of {} layers, hidden {}); {} leads, {:.1} \
         tokens/lead on average; RAYON_NUM_THREADS={}",
        args.model.display(),
        cpu.info().parameters,
        members,
        cfg.num_hidden_layers,
        cfg.hidden_size,
        ids.len(),
        tokens as f64 / ids.len().max(1) as f64,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );

    let mut runs = Vec::new();
    let mut cpu_scores: Option<Vec<f32>> = None;
    for &device in &devices {
        let scorer = match device {
            DeviceArg::Cpu => None,
            DeviceArg::Wgpu => Some(load_scorer(&args.model, DeviceKind::Wgpu)?),
        };
        let scorer = scorer.as_ref().unwrap_or(&cpu);
        eprintln!("{}: {}", device.name(), scorer.device_info().description);
        for &batch in &batches {
            let (seconds, scores) = time_scoring(scorer, &ids, batch)
                .with_context(|| format!("{} at batch {batch}", device.name()))?;
            if device == DeviceArg::Cpu && cpu_scores.is_none() {
                cpu_scores = Some(scores);
            }
            runs.push(Run {
                device,
                batch,
                leads: ids.len(),
                seconds,
                flops: members * batch_flops(&cfg, &ids, batch),
            });
        }
    }
    println!();
    println!("| device | batch | leads | seconds | leads/s | GFLOP/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {} | {} | {:.3} | {:.1} | {:.2} |",
            r.device.name(),
            r.batch,
            r.leads,
            r.seconds,
            r.leads as f64 / r.seconds.max(1e-9),
            r.flops / r.seconds.max(1e-9) / 1e9
        );
    }

    if let Some(path) = &args.dump_ids {
        let scores = match cpu_scores.clone() {
            Some(s) => s,
            None => time_scoring(&cpu, &ids, batches[0])?.1,
        };
        let dump = IdsDump {
            bundle: args.model.display().to_string(),
            pad_token_id: cpu.tokenizer().pad_id(),
            batches: &batches,
            ids: &ids,
            scores,
        };
        leadladder_core::fs::write_file_atomic(path, &serde_json::to_vec(&dump)?)?;
        eprintln!("wrote the token ids to {}", path.display());
    }

    if let Some(path) = &args.peer {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let peer: PeerReport =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        println!();
        println!(
            "Peer: {} {} ({} threads){}",
            if peer.peer.is_empty() {
                "peer"
            } else {
                &peer.peer
            },
            peer.torch,
            peer.threads,
            peer.max_abs_diff_vs_rust
                .map(|d| format!("; max |score difference| vs leadladder cpu {d:.2e}"))
                .unwrap_or_default()
        );
        println!();
        println!("| batch | leadladder cpu leads/s | peer leads/s | leadladder / peer |");
        println!("|---:|---:|---:|---:|");
        for p in &peer.runs {
            let ours = runs
                .iter()
                .find(|r| r.device == DeviceArg::Cpu && r.batch == p.batch);
            match ours {
                Some(r) => {
                    let lps = r.leads as f64 / r.seconds.max(1e-9);
                    println!(
                        "| {} | {:.1} | {:.1} | {:.2}x |",
                        p.batch,
                        lps,
                        p.leads_per_s,
                        lps / p.leads_per_s.max(1e-9)
                    );
                }
                None => println!("| {} | (not run) | {:.1} | |", p.batch, p.leads_per_s),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_pad_to_their_longest_sequence() {
        let cfg: ModelConfig = serde_json::from_value(serde_json::json!({
            "vocab_size": 10, "hidden_size": 4, "intermediate_size": 6,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let ids = vec![vec![1, 2, 3], vec![1], vec![1, 2, 3]];
        let one = cfg.forward_flops(1, 3);
        // Two sequences padded to 3 tokens, then one of 3.
        assert_eq!(batch_flops(&cfg, &ids, 2), 2.0 * one + one);
    }
}
