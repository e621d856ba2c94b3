//! Training throughput of the from-scratch presets: tokens per second and peak memory.
//!
//!     cargo bench -p leadladder-trainer --bench throughput
//!     LEADLADDER_BENCH_STEPS=40 LEADLADDER_BENCH_THREADS=1,2 cargo bench -p leadladder-trainer --bench throughput
//!
//! For each preset (`tiny`, `demo`) and each thread count, the bench runs itself as a child
//! process with `RAYON_NUM_THREADS` set, so each row's peak memory (`VmHWM` from
//! `/proc/self/status`) is that run's alone. A child synthesises 4,000 leads (seed 7), trains the
//! preset's tokenizer on the fit period and then runs `LEADLADDER_BENCH_STEPS` (default 30)
//! optimiser steps of the full HPRO + semantic loss with the preset's batch size. Throughput is
//! real (non-pad) tokens of steps 2..N over their wall time: the first step (allocation warm-up),
//! the tokenizer and the encoding are excluded. Peak memory covers the whole child (data,
//! tokenizer, model, optimiser state, autograd graph). Results are printed as a Markdown table.

use std::process::Command;
use std::time::Instant;

use leadladder_core::ingest::read_csv;
use leadladder_core::{IngestOptions, Spec};
use leadladder_synth::{SynthConfig, spec_toml, write_csv};
use leadladder_trainer::Error;
use leadladder_trainer::preset::preset;
use leadladder_trainer::train::{Progress, train};

const LEADS: usize = 4000;

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Trains `steps` optimiser steps of `name` and prints one JSON line.
fn child(name: &str, steps: u64) -> Result<(), String> {
    let mut csv = Vec::new();
    write_csv(
        &SynthConfig {
            leads: LEADS,
            seed: 7,
            ..SynthConfig::default()
        },
        &mut csv,
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    let spec = Spec::from_toml(spec_toml()).map_err(|e| e.to_string())?;
    let data = read_csv(&csv, &spec, &IngestOptions::default()).map_err(|e| e.to_string())?;
    let mut opts = preset(name).map_err(|e| e.to_string())?;
    opts.epochs = 1;
    opts.bootstrap = 0;
    opts.max_steps_this_run = Some(steps);
    let mut marks: Vec<(Instant, usize)> = Vec::new();
    let result = train(&spec, &data, &opts, &mut |p| {
        if let Progress::Step { tokens, .. } = p {
            marks.push((Instant::now(), tokens));
        }
    });
    match result {
        Err(Error::Stopped { .. }) => {}
        Ok(_) => return Err(format!("{name}: the epoch ended before {steps} steps")),
        Err(e) => return Err(e.to_string()),
    }
    let (Some(first), Some(last)) = (marks.first(), marks.last()) else {
        return Err("no steps".into());
    };
    let secs = last.0.duration_since(first.0).as_secs_f64();
    let tokens = last.1 - first.1;
    let params = {
        let m = &opts.model.model;
        let (h, i, l) = (m.hidden_size, m.intermediate_size, m.num_hidden_layers);
        let kv = m.num_key_value_heads * m.head_dim();
        let layer = h * h * 2 + h * kv * 2 + h + 2 * kv + 3 * h * i + 2 * h;
        opts.vocab_size * h + l * layer + h
    };
    println!(
        "{}",
        serde_json::json!({
            "preset": name,
            "params": params,
            "batch": opts.batch_size,
            "max_tokens": opts.max_tokens,
            "steps": marks.len() - 1,
            "tokens": tokens,
            "seconds": secs,
            "tokens_per_s": tokens as f64 / secs.max(1e-9),
            "vm_hwm_kib": vm_hwm_kib(),
        })
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(k) = args.iter().position(|a| a == "--child") {
        let name = args.get(k + 1).map_or("tiny", String::as_str);
        let steps = args.get(k + 2).and_then(|s| s.parse().ok()).unwrap_or(30);
        if let Err(e) = child(name, steps) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let steps: u64 = std::env::var("LEADLADDER_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let threads: Vec<String> = std::env::var("LEADLADDER_BENCH_THREADS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let Ok(me) = std::env::current_exe() else {
        eprintln!("cannot find the bench executable");
        std::process::exit(1);
    };
    println!(
        "| preset | params | batch × max tokens | threads | steps timed | tokens | seconds | tokens/s | peak RSS (VmHWM) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for name in ["tiny", "demo"] {
        for t in &threads {
            let out = Command::new(&me)
                .args(["--child", name, &steps.to_string()])
                .env("RAYON_NUM_THREADS", t)
                .env("TOKENIZERS_PARALLELISM", "false")
                .output();
            let row = match out {
                Ok(o) if o.status.success() => {
                    serde_json::from_slice::<serde_json::Value>(&o.stdout).ok()
                }
                Ok(o) => {
                    eprintln!(
                        "{name} ({t} threads): {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                    None
                }
                Err(e) => {
                    eprintln!("{name} ({t} threads): {e}");
                    None
                }
            };
            let Some(r) = row else {
                println!("| {name} | | | {t} | failed | | | | |");
                continue;
            };
            println!(
                "| {name} | {:.2} M | {} × {} | {t} | {} | {} | {:.1} | {:.0} | {:.0} MiB |",
                r["params"].as_f64().unwrap_or(0.0) / 1e6,
                r["batch"],
                r["max_tokens"],
                r["steps"],
                r["tokens"],
                r["seconds"].as_f64().unwrap_or(0.0),
                r["tokens_per_s"].as_f64().unwrap_or(0.0),
                r["vm_hwm_kib"].as_f64().unwrap_or(0.0) / 1024.0
            );
        }
    }
}
