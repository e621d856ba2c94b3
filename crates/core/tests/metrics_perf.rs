//! Timing of `evaluate` at production size (ignored by default; run in release):
//!
//! ```sh
//! cargo test -p leadladder-core --release --test metrics_perf -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use leadladder_core::metrics::{EvalConfig, evaluate};
use leadladder_core::rng::Rng;

#[test]
#[ignore = "timing; run in release with --ignored --nocapture"]
fn evaluate_300k_with_1000_resamples() {
    let n = 300_000;
    let mut rng = Rng::new(42);
    let labels: Vec<bool> = (0..n).map(|_| rng.chance(0.014)).collect();
    // A continuous score and a heavily tied one (rounded to one decimal).
    let continuous: Vec<f64> = labels
        .iter()
        .map(|&y| rng.normal() + if y { 1.2 } else { 0.0 })
        .collect();
    let tied: Vec<f64> = continuous
        .iter()
        .map(|x| (x * 10.0).round() / 10.0)
        .collect();
    let probs: Vec<f64> = continuous
        .iter()
        .map(|x| 1.0 / (1.0 + (4.0 - x).exp()))
        .collect();
    let cfg = EvalConfig::default();
    for (name, scores) in [("continuous", &continuous), ("tied", &tied)] {
        let start = Instant::now();
        let r = evaluate(name, scores, &labels, Some(&probs), &cfg).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "evaluate({name}): n = {n}, {} resamples used, {secs:.2} s; AUC {:.4} [{:.4}, {:.4}], \
             P@1% {:.4} [{:.4}, {:.4}]",
            r.bootstrap_used,
            r.auc.value,
            r.auc.lo.unwrap(),
            r.auc.hi.unwrap(),
            r.at_k[1].precision.value,
            r.at_k[1].precision.lo.unwrap(),
            r.at_k[1].precision.hi.unwrap(),
        );
        assert_eq!(r.bootstrap_used, 1000);
    }
}
