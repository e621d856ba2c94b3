//! Helpers shared by the end-to-end tests of the `leadladder` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `leadladder` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leadladder"))
}

/// `leadladder rank --model <model> --input <input> --out <out>`, then `extra`.
pub fn rank_cmd(model: &Path, input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg("rank")
        .arg("--model")
        .arg(model)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra);
    cmd
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The committed demo bundle.
pub fn demo_model() -> PathBuf {
    repo().join("web/models/demo.int8.safetensors")
}

/// A fresh scratch folder for one test, unique to this process.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leadladder-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cmd`, which must succeed; its output.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd`, which must fail; its stderr.
pub fn fail(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "command should fail: {cmd:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Peak resident memory of a command, in KiB, read from `/proc/<pid>/status` (`VmHWM`, the
/// high-water mark) while it runs.
#[cfg(target_os = "linux")]
pub fn peak_rss_kib(cmd: &mut Command) -> u64 {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            assert!(st.success(), "{cmd:?} failed: {err}");
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
