//! `leadladder train --checkpoint-every N --resume`: a run killed with SIGKILL and resumed writes
//! the same bundle tensors as an uninterrupted run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use leadladder_bundle::Bundle;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leadladder"))
}

/// Runs `cmd` to success; its stderr.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\nstderr: {stderr}"
    );
    stderr
}

fn train_cmd(dir: &Path, out: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["train", "--input"])
        .arg(dir.join("leads.csv"))
        .arg("--ladder")
        .arg(dir.join("leads.toml"))
        .arg("--out")
        .arg(out)
        .args([
            "--preset",
            "tiny",
            "--epochs",
            "2",
            "--train-sample",
            "300",
            "--bootstrap",
            "0",
            "--checkpoint-every",
            "2",
        ])
        .env("RAYON_NUM_THREADS", "1");
    cmd
}

fn tensors(path: &Path) -> leadladder_bundle::Tensors {
    Bundle::from_bytes(&std::fs::read(path).unwrap())
        .unwrap()
        .tensors
        .to_f32()
}

#[test]
fn training_killed_with_sigkill_resumes_to_the_same_bundle() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("leadladder-cli-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // With stderr not a terminal, long jobs print plain progress lines (every 30 s by default;
    // at every update here) with position, rate and ETA.
    let synth_log = run(bin()
        .args(["synth", "--leads", "25000", "--seed", "7", "--out"])
        .arg(dir.join("big.csv"))
        .env("LEADLADDER_PROGRESS_EVERY", "0"));
    assert!(
        synth_log.contains("  synth: 20000/25000 leads (80%), ") && synth_log.contains(" eta "),
        "{synth_log}"
    );
    run(bin()
        .args(["synth", "--leads", "1500", "--seed", "7", "--out"])
        .arg(dir.join("leads.csv")));

    let reference = dir.join("ref.safetensors");
    let train_log = run(train_cmd(&dir, &reference).env("LEADLADDER_PROGRESS_EVERY", "0"));
    assert!(
        train_log.contains(" steps/s, eta ") && train_log.contains("tokens/s"),
        "{train_log}"
    );

    let out = dir.join("killed.safetensors");
    let ckpt = dir.join("killed.safetensors.ckpt");
    let mut child = train_cmd(&dir, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ckpt.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before its first checkpoint"
        );
        assert!(t0.elapsed() < Duration::from_secs(300), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "training ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.exists(), "the killed run wrote no bundle");

    let stderr = run(train_cmd(&dir, &out).arg("--resume"));
    assert!(
        stderr.contains("resuming from"),
        "did not resume:\n{stderr}"
    );
    assert_eq!(tensors(&out), tensors(&reference));
    let _ = std::fs::remove_dir_all(&dir);
}
