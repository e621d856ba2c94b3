//! A bundle export killed with SIGKILL at any moment leaves, under the requested name, the old
//! bundle or the new one, whole, never a torn file.
//!
//! `leadladder train` writes its bundle as `write_bundle` bytes through
//! `leadladder_core::fs::write_file_atomic` (temporary file, fsync, rename, fsync of the folder).
//! Killing a real training run exactly during that write would need a whole run per attempt, so
//! the test re-runs its own binary as a child process that exports real bundles of a few MB
//! the same way, back to back, to one path, and kills it at varied moments: after each kill the
//! file is byte-identical to the last bundle the child reported written or to the one it was
//! writing (or, before its first write completed, to the previous file), and it loads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use leadladder_bundle::{Bundle, StoreDtype, write_bundle};
use leadladder_core::fs::{temporaries, write_file_atomic};
use leadladder_core::rng::Rng;

/// Set in the child process: the path it exports to.
const CHILD_PATH: &str = "LEADLADDER_EXPORT_KILL_PATH";
/// Set in the child process: the round, which picks its bundles.
const CHILD_ROUND: &str = "LEADLADDER_EXPORT_KILL_ROUND";
/// This test's name, for the child's `--exact` filter.
const TEST: &str = "sigkill_during_bundle_export_leaves_the_old_or_the_new_bundle";
/// Distinct bundles a child cycles through.
const PER_ROUND: u64 = 4;
const ROUNDS: u64 = 20;

/// Bundle `version`: the demo bundle's metadata with 8 decoder layers and a 512-wide MLP (about
/// 4 MB stored as f32), every weight drawn from a stream of `version`, so two versions differ
/// throughout the file.
fn bundle(version: u64) -> Vec<u8> {
    let demo = Bundle::from_bytes(&std::fs::read(common::demo_model()).unwrap()).unwrap();
    let mut config = demo.config.clone();
    // One model (the demo is an ensemble), deeper and wider.
    config.ensemble = 1;
    config.model.num_hidden_layers = 8;
    config.model.intermediate_size = 512;
    let mut meta = demo.meta.clone();
    meta.config_json = config.to_json().unwrap();
    let mut rng = Rng::derive(0xB0_4D1E, version);
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = config
        .model
        .expected_tensors()
        .into_iter()
        .map(|(name, shape)| {
            let n = shape.iter().product();
            let values = (0..n).map(|_| (rng.uniform() * 0.2 - 0.1) as f32).collect();
            (name, shape, values)
        })
        .collect();
    write_bundle(&tensors, &meta, StoreDtype::F32).unwrap()
}

/// The bundles of `round`, in the order its child writes them (cyclically).
fn round_bundles(round: u64) -> Vec<Vec<u8>> {
    (0..PER_ROUND)
        .map(|j| bundle(1 + round * PER_ROUND + j))
        .collect()
}

/// The child: exports the round's bundles to `path` back to back until it is killed, printing
/// `exported <i>` after the `i`-th export (counting from 0) has returned.
fn child(path: &Path, round: u64) -> ! {
    let bundles = round_bundles(round);
    let mut out = std::io::stdout();
    // On a line of its own: the harness may have left its `test <name> ... ` line open.
    writeln!(out, "\nready").unwrap();
    out.flush().unwrap();
    for i in 0u64.. {
        write_file_atomic(path, &bundles[(i % PER_ROUND) as usize]).unwrap();
        writeln!(out, "exported {i}").unwrap();
        out.flush().unwrap();
    }
    unreachable!("the export loop never ends")
}

/// The child process, killed (SIGKILL) when dropped, also if an assertion fails first.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigkill_during_bundle_export_leaves_the_old_or_the_new_bundle() {
    if let (Some(path), Some(round)) = (
        std::env::var_os(CHILD_PATH),
        std::env::var(CHILD_ROUND).ok(),
    ) {
        child(&PathBuf::from(path), round.parse().unwrap());
    }
    let dir = common::tmp("export-kill");
    let path = dir.join("model.safetensors");
    for t in temporaries(&path) {
        std::fs::remove_file(t).unwrap();
    }
    let mut old = bundle(0);
    write_file_atomic(&path, &old).unwrap();

    let mut left_temporary = 0;
    let mut temporaries_left = 0;
    let mut kept_old = 0;
    for round in 0..ROUNDS {
        let bundles = round_bundles(round);
        let mut proc = Killed(
            Command::new(std::env::current_exe().unwrap())
                .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_PATH, &path)
                .env(CHILD_ROUND, round.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(proc.0.stdout.take().unwrap()).lines();
        // The harness prints its own lines first; wait for the child's.
        loop {
            let line = lines
                .next()
                .expect("the child ended before it was ready (does TEST name this test?)")
                .unwrap();
            if line == "ready" {
                break;
            }
        }
        // Kill at varied moments: before the first export completes, and at every stage of
        // later ones (each takes a few milliseconds to some tens).
        let pause_us = (round * 7_919) % 60_000;
        std::thread::sleep(Duration::from_micros(pause_us));
        proc.0.kill().unwrap(); // SIGKILL
        proc.0.wait().unwrap();
        let last: Option<u64> = lines
            .map_while(|l| l.ok())
            .filter_map(|l| l.strip_prefix("exported ")?.parse().ok())
            .last();

        let now = std::fs::read(&path).unwrap();
        // The file is the export reported last, or the one the child was in (renamed, not yet
        // reported); before any export was reported, the one in flight or the old file.
        let next = last.map_or(0, |i| i + 1);
        let mut whole = vec![&bundles[(next % PER_ROUND) as usize]];
        match last {
            Some(i) => whole.push(&bundles[(i % PER_ROUND) as usize]),
            None => whole.push(&old),
        }
        assert!(
            whole.iter().any(|b| **b == now),
            "round {round} (paused {pause_us} us, last export reported {last:?}): the file \
             ({} bytes) is none of the whole bundles it may be",
            now.len()
        );
        let loaded = Bundle::from_bytes(&now).unwrap();
        assert_eq!(loaded.config.model.num_hidden_layers, 8);
        if now == old {
            kept_old += 1;
        }
        // A kill mid-write leaves that write's own temporary file (a name no other write uses).
        let now_left = temporaries(&path).len();
        if now_left > temporaries_left {
            left_temporary += 1;
        }
        temporaries_left = now_left;
        old = now;
    }
    // Not asserted (they depend on timing): how often a kill left a partial temporary file, and
    // how often it came before the round's first export completed.
    eprintln!(
        "{ROUNDS} kills: {left_temporary} left a temporary file, {kept_old} before the first export"
    );

    // Leftover temporary files do not get in the way of the next export, which leaves none.
    let leftovers = temporaries(&path);
    let last = bundle(u64::MAX);
    write_file_atomic(&path, &last).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), last);
    assert_eq!(
        temporaries(&path),
        leftovers,
        "the export left its temporary file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
