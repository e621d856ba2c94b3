//! Data-parallel `leadladder train` on the CPU, launched the way torchrun launches it: two
//! processes with `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT` set, joined
//! over loopback TCP. Rank 0 writes the bundle and reports, rank 1 nothing; the test period's
//! scores equal those of one process averaging the same two micro-batches per step
//! (`--grad-accum 2`). A bad launch setting is named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{bin, fail, run, tmp};

/// `leadladder train --preset tiny` of `csv` into `out` with `extra` arguments, not started.
fn train(csv: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg("train")
        .arg("--input")
        .arg(csv)
        .arg("--ladder")
        .arg(csv.with_extension("toml"))
        .arg("--out")
        .arg(out)
        .args(["--preset", "tiny", "--epochs", "1", "--train-sample", "300"])
        .args(["--bootstrap", "0", "--max-tokens", "64"])
        .args(extra)
        .env("RAYON_NUM_THREADS", "1");
    for v in [
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "SLURM_PROCID",
        "SLURM_NTASKS",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_cpu_ranks_train_like_one_process_with_twice_the_accumulation() {
    let dir = tmp("parallel");
    let csv = dir.join("leads.csv");
    run(bin()
        .args(["synth", "--leads", "1500", "--seed", "3", "--out"])
        .arg(&csv));

    let single = dir.join("single.safetensors");
    let single_scores = dir.join("single.scores.csv");
    run(&mut train(
        &csv,
        &single,
        &[
            "--grad-accum",
            "2",
            "--scores-out",
            single_scores.to_str().unwrap(),
        ],
    ));

    let port = free_port().to_string();
    let ranked = dir.join("ranked.safetensors");
    let ranked_scores = dir.join("ranked.scores.csv");
    let children: Vec<_> = (0..2)
        .map(|rank| {
            let mut cmd = train(
                &csv,
                &ranked,
                &[
                    "--grad-accum",
                    "1",
                    "--scores-out",
                    ranked_scores.to_str().unwrap(),
                ],
            );
            cmd.env("RANK", rank.to_string())
                .env("WORLD_SIZE", "2")
                .env("LOCAL_RANK", rank.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", &port)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for (rank, o) in outs.iter().enumerate() {
        assert!(
            o.status.success(),
            "rank {rank} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let err1 = String::from_utf8_lossy(&outs[1].stderr);
    assert!(err1.contains("rank 1 of 2"), "{err1}");
    assert!(err1.contains("rank 1 done; rank 0 writes"), "{err1}");
    assert!(outs[1].stdout.is_empty(), "rank 1 printed a report");
    assert!(!outs[0].stdout.is_empty(), "rank 0 prints the report");

    // Rank 0 wrote the run's files; the scores are the single process's, value for value.
    assert!(ranked.exists());
    assert!(dir.join("ranked.safetensors.report.md").exists());
    let a = std::fs::read_to_string(&ranked_scores).unwrap();
    let b = std::fs::read_to_string(&single_scores).unwrap();
    assert!(a.lines().count() > 100);
    assert_eq!(a, b, "two ranks vs one process with --grad-accum 2");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_launch_setting_is_named() {
    let dir = tmp("parallel-bad");
    let csv = dir.join("leads.csv");
    run(bin()
        .args(["synth", "--leads", "300", "--seed", "3", "--out"])
        .arg(&csv));
    let out = dir.join("m.safetensors");
    let e = fail(
        train(&csv, &out, &[])
            .env("WORLD_SIZE", "2")
            .env("RANK", "5")
            .env("MASTER_ADDR", "127.0.0.1"),
    );
    assert!(e.contains("RANK 5 is not below WORLD_SIZE 2"), "{e}");
    let e = fail(
        train(&csv, &out, &[])
            .env("WORLD_SIZE", "2")
            .env("RANK", "1"),
    );
    assert!(e.contains("MASTER_ADDR"), "{e}");
    let e = fail(&mut train(&csv, &out, &["--grad-accum", "0"]));
    assert!(e.contains("--grad-accum"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
