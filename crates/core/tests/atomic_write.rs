//! Several writers of the same file at once (two `leadladder` runs given the same `--out`, or
//! two threads of one): every write succeeds, a reader only ever sees one writer's whole
//! contents, the file ends as one of them, and no temporary file is left beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use leadladder_core::fs::write_file_atomic;

const WRITERS: usize = 4;
const ROUNDS: usize = 25;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("leadladder-atomic-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writer `i`'s contents: about 0.5 MiB, of a length and bytes of its own, so a file made of
/// two writers' bytes, or cut short, equals none of them.
fn contents(i: usize) -> Vec<u8> {
    let len = (1 << 19) + i * 4_099;
    (0..len)
        .map(|j| (i as u8).wrapping_mul(37) ^ (j % 251) as u8)
        .collect()
}

#[test]
fn concurrent_writers_of_one_file_never_tear_it_and_leave_no_temporary() {
    let d = dir("concurrent");
    let path = d.join("ranked.csv");
    let all: Arc<Vec<Vec<u8>>> = Arc::new((0..WRITERS).map(contents).collect());
    write_file_atomic(&path, &all[0]).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, all, stop) = (path.clone(), Arc::clone(&all), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reads = 0usize;
            let mut torn = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let now = std::fs::read(&path).unwrap();
                reads += 1;
                if !all.contains(&now) {
                    torn.push(now.len());
                }
            }
            (reads, torn)
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (path, all) = (path.clone(), Arc::clone(&all));
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for round in 0..ROUNDS {
                    if let Err(e) = write_file_atomic(&path, &all[i]) {
                        failures.push(format!("writer {i}, round {round}: {e}"));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    let (reads, torn) = reader.join().unwrap();

    assert!(
        failures.is_empty(),
        "{} of {} writes failed: {:?}",
        failures.len(),
        WRITERS * ROUNDS,
        &failures[..failures.len().min(5)]
    );
    assert!(
        torn.is_empty(),
        "{} of {reads} reads saw a file that is no writer's whole contents (lengths {:?})",
        torn.len(),
        &torn[..torn.len().min(5)]
    );
    let last = std::fs::read(&path).unwrap();
    assert!(
        all.contains(&last),
        "the file ({} bytes) is no writer's whole contents",
        last.len()
    );
    let mut left: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "ranked.csv")
        .collect();
    left.sort();
    assert!(left.is_empty(), "files left beside the target: {left:?}");
    std::fs::remove_dir_all(&d).unwrap();
}
