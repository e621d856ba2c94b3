//! Property tests for the ranking metrics: AUC against a brute-force pair count, top-K against a
//! brute-force stable sort, `top_k_count` against exact integer arithmetic, and the bootstrap
//! against a naive re-implementation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use leadladder_core::metrics::{
    EvalConfig, auc, auc_weighted, evaluate, precision_at_k, precision_at_k_weighted, ranking,
    top_k_count,
};
use leadladder_core::rng::Rng;
use proptest::collection::vec;
use proptest::prelude::*;

/// Scores with many ties (small integers) or spread-out floats.
fn scores(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        vec((-4i32..4).prop_map(f64::from), n),
        vec(-1e6f64..1e6, n),
        vec(
            prop_oneof![Just(0.0), Just(-0.0), Just(f64::NEG_INFINITY), -1.0f64..1.0],
            n
        ),
    ]
}

/// Scores and labels of equal length, with at least one positive and one negative.
fn data() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
    (2usize..80)
        .prop_flat_map(|n| (scores(n), vec(prop::bool::weighted(0.3), n)))
        .prop_filter("both classes", |(_, y)| {
            y.contains(&true) && y.contains(&false)
        })
}

fn brute_auc(s: &[f64], y: &[bool]) -> f64 {
    let (mut num, mut pairs) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        for (j, &yj) in y.iter().enumerate() {
            if yi && !yj {
                pairs += 1.0;
                if s[i] > s[j] {
                    num += 1.0;
                } else if s[i] == s[j] {
                    num += 0.5;
                }
            }
        }
    }
    num / pairs
}

/// Hits in the top `k` of a stable sort by descending score.
fn brute_hits(s: &[f64], y: &[bool], k: usize) -> usize {
    let mut idx: Vec<usize> = (0..s.len()).collect();
    idx.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).unwrap());
    idx[..k].iter().filter(|&&i| y[i]).count()
}

/// Each input repeated `w[i]` times, copies adjacent, in input order.
fn expand(s: &[f64], y: &[bool], w: &[u32]) -> (Vec<f64>, Vec<bool>) {
    let mut out = (Vec::new(), Vec::new());
    for i in 0..s.len() {
        for _ in 0..w[i] {
            out.0.push(s[i]);
            out.1.push(y[i]);
        }
    }
    out
}

fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let h = (xs.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(xs.len() - 1);
    xs[lo] + (h - lo as f64) * (xs[hi] - xs[lo])
}

const KS: [f64; 4] = [0.1, 1.0, 10.0, 50.0];

proptest! {
    #[test]
    fn auc_is_in_unit_interval_and_matches_brute_force((s, y) in data()) {
        let a = auc(&s, &y).unwrap();
        prop_assert!((0.0..=1.0).contains(&a));
        prop_assert!((a - brute_auc(&s, &y)).abs() < 1e-12, "{a} vs {}", brute_auc(&s, &y));
    }

    #[test]
    fn auc_of_negated_scores_is_complement((s, y) in data()) {
        let neg: Vec<f64> = s.iter().map(|x| -x).collect();
        let (a, b) = (auc(&s, &y).unwrap(), auc(&neg, &y).unwrap());
        prop_assert!((a + b - 1.0).abs() < 1e-12, "{a} + {b}");
    }

    #[test]
    fn auc_is_invariant_to_strictly_monotone_transforms(
        (s, y) in (2usize..80)
            .prop_flat_map(|n| (vec(-50i32..50, n), vec(prop::bool::weighted(0.3), n)))
            .prop_filter("both classes", |(_, y)| y.contains(&true) && y.contains(&false))
    ) {
        let s: Vec<f64> = s.into_iter().map(f64::from).collect();
        let t: Vec<f64> = s.iter().map(|x| 3.0 * (x / 7.0).exp() + x.powi(3) - 11.0).collect();
        let u: Vec<f64> = s.iter().map(|x| x.atan()).collect();
        let a = auc(&s, &y).unwrap();
        prop_assert_eq!(a, auc(&t, &y).unwrap());
        prop_assert_eq!(a, auc(&u, &y).unwrap());
    }

    #[test]
    fn auc_does_not_depend_on_input_order((s, y) in data(), seed in any::<u64>()) {
        let mut idx: Vec<usize> = (0..s.len()).collect();
        Rng::new(seed).shuffle(&mut idx);
        let s2: Vec<f64> = idx.iter().map(|&i| s[i]).collect();
        let y2: Vec<bool> = idx.iter().map(|&i| y[i]).collect();
        prop_assert_eq!(auc(&s, &y).unwrap(), auc(&s2, &y2).unwrap());
    }

    #[test]
    fn ranking_is_a_stable_descending_sort(s in (0usize..80).prop_flat_map(scores)) {
        let r = ranking(&s).unwrap();
        let mut idx: Vec<usize> = (0..s.len()).collect();
        idx.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).unwrap());
        prop_assert_eq!(r, idx);
    }

    #[test]
    fn precision_at_k_matches_brute_force_stable_sort((s, y) in data(), k in 0usize..4) {
        let kp = KS[k];
        let kc = top_k_count(kp, s.len());
        let want = brute_hits(&s, &y, kc) as f64 / kc as f64;
        prop_assert_eq!(precision_at_k(&s, &y, kp).unwrap(), want);
    }

    #[test]
    fn top_k_count_matches_exact_arithmetic(m in 1u64..=100_000, n in 1u64..10_000_000) {
        // K = m / 1000 percent, written as a decimal with at most three places.
        let k_percent = m as f64 / 1000.0;
        let exact = (m * n).div_ceil(100_000).clamp(1, n);
        prop_assert_eq!(top_k_count(k_percent, n as usize) as u64, exact, "K={}", k_percent);
    }

    #[test]
    fn top_k_count_is_bounded_and_monotone(a in 0.0f64..=100.0, b in 0.0f64..=100.0, n in 0usize..1_000_000) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let (kl, kh) = (top_k_count(lo, n), top_k_count(hi, n));
        prop_assert!(kl <= kh);
        if n > 0 {
            prop_assert!(kl >= 1 && kh <= n);
        } else {
            prop_assert_eq!(kh, 0);
        }
        prop_assert_eq!(top_k_count(100.0, n), n);
    }

    #[test]
    fn weighted_with_unit_multiplicities_equals_plain_exactly((s, y) in data(), k in 0usize..4) {
        let ones = vec![1u32; s.len()];
        prop_assert_eq!(auc_weighted(&s, &y, &ones).unwrap(), auc(&s, &y).unwrap());
        prop_assert_eq!(
            precision_at_k_weighted(&s, &y, &ones, KS[k]).unwrap(),
            precision_at_k(&s, &y, KS[k]).unwrap()
        );
    }

    #[test]
    fn weighted_equals_plain_on_the_expanded_data(
        (s, y, w) in data().prop_flat_map(|(s, y)| {
            let n = s.len();
            (Just(s), Just(y), vec(0u32..4, n))
        }),
        k in 0usize..4,
    ) {
        let (es, ey) = expand(&s, &y, &w);
        match auc(&es, &ey) {
            Ok(a) => prop_assert_eq!(auc_weighted(&s, &y, &w).unwrap(), a),
            Err(_) => prop_assert!(auc_weighted(&s, &y, &w).is_err()),
        }
        if !es.is_empty() {
            prop_assert_eq!(
                precision_at_k_weighted(&s, &y, &w, KS[k]).unwrap(),
                precision_at_k(&es, &ey, KS[k]).unwrap()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn bootstrap_is_deterministic_and_ordered((s, y) in data(), seed in any::<u64>()) {
        let cfg = EvalConfig { bootstrap: 100, seed, ..EvalConfig::default() };
        let a = evaluate("m", &s, &y, None, &cfg).unwrap();
        let b = evaluate("m", &s, &y, None, &cfg).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert!(a.bootstrap_used <= 100);
        if a.bootstrap_used > 0 {
            prop_assert!(a.auc.lo.unwrap() <= a.auc.hi.unwrap());
            for at in &a.at_k {
                prop_assert!(at.precision.lo.unwrap() <= at.precision.hi.unwrap());
            }
        }
    }

    /// The O(n)-per-resample bootstrap equals a naive one: draw n input indices with
    /// `Rng::below`, score the multiplicities with the public weighted functions, skip one-class
    /// resamples, take NumPy-style linear percentiles.
    #[test]
    fn bootstrap_equals_naive_resampling((s, y) in data(), seed in any::<u64>()) {
        let cfg = EvalConfig { bootstrap: 60, seed, confidence: 0.9, ..EvalConfig::default() };
        let got = evaluate("m", &s, &y, None, &cfg).unwrap();
        let n = s.len();
        let mut rng = Rng::new(seed);
        let (mut aucs, mut precs) = (Vec::new(), vec![Vec::new(); cfg.k_percents.len()]);
        for _ in 0..cfg.bootstrap {
            let mut w = vec![0u32; n];
            for _ in 0..n {
                w[rng.below(n as u64) as usize] += 1;
            }
            let Ok(a) = auc_weighted(&s, &y, &w) else { continue };
            aucs.push(a);
            for (p, &k) in precs.iter_mut().zip(&cfg.k_percents) {
                p.push(precision_at_k_weighted(&s, &y, &w, k).unwrap());
            }
        }
        prop_assert_eq!(got.bootstrap_used, aucs.len());
        if !aucs.is_empty() {
            // (1 - 0.9) / 2 is not exactly 0.05 in floating point: compare to 1e-12.
            let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
            prop_assert!(close(got.auc.lo, quantile(&mut aucs, 0.05)));
            prop_assert!(close(got.auc.hi, quantile(&mut aucs, 0.95)));
            for (at, p) in got.at_k.iter().zip(&mut precs) {
                prop_assert!(close(at.precision.lo, quantile(p, 0.05)));
                prop_assert!(close(at.precision.hi, quantile(p, 0.95)));
            }
        }
    }
}

#[test]
fn bootstrap_seed_changes_resamples_but_not_point_estimates() {
    let mut rng = Rng::new(9);
    let n = 2000;
    let y: Vec<bool> = (0..n).map(|_| rng.chance(0.05)).collect();
    let s: Vec<f64> = y
        .iter()
        .map(|&p| rng.normal() + if p { 1.0 } else { 0.0 })
        .collect();
    let eval = |seed| {
        let cfg = EvalConfig {
            bootstrap: 300,
            seed,
            ..EvalConfig::default()
        };
        evaluate("m", &s, &y, None, &cfg).unwrap()
    };
    let (a, b) = (eval(1), eval(2));
    assert_eq!(a.auc.value, b.auc.value);
    assert_ne!(a.auc.lo, b.auc.lo);
    assert_eq!(a.bootstrap_used, 300);
    // Sanity, not coverage: the interval brackets a plausible range around the estimate.
    let (lo, hi) = (a.auc.lo.unwrap(), a.auc.hi.unwrap());
    assert!(
        lo < a.auc.value && a.auc.value < hi,
        "{lo} {} {hi}",
        a.auc.value
    );
    assert!(hi - lo < 0.2);
}
