//! Helpers shared by the end-to-end tests of the `leadladder` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `leadladder` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leadladder"))
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
