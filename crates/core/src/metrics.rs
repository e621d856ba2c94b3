//! Ranking metrics for a rare binary label: ROC AUC, precision / recall / lift in the top K% of
//! the queue, Brier score and expected calibration error, with seeded percentile-bootstrap
//! confidence intervals.
//!
//! # Ranking order and ties
//!
//! Every top-K metric ranks leads by score **descending**; equal scores keep their **input order,
//! earlier first** (a stable sort, see [`ranking`]). What input order means is the caller's
//! choice: a queue that is worked newest-first can pass its leads newest-first so that ties in the
//! score are broken the way the team actually breaks them. `-0.0` and `0.0` are equal; `±∞` are
//! valid scores (e.g. missing scores ranked last); `NaN` is refused.
//!
//! AUC is tie-aware: a positive and a negative with equal scores count as half a correctly
//! ordered pair (the Mann-Whitney statistic with average ranks), so it never depends on input
//! order.
//!
//! # Bootstrap
//!
//! [`evaluate`] attaches percentile-bootstrap intervals to AUC and P@K. Each resample draws `n`
//! leads with replacement (by input index, from [`Rng`] seeded with [`EvalConfig::seed`]), so the
//! same seed gives the same resamples to every method evaluated on the same leads: the intervals
//! of different methods are paired. A resample is scored on the presorted order with
//! multiplicities in O(n), with ties treated exactly as in the point estimate. Resamples without a
//! positive or without a negative are skipped; [`MethodReport::bootstrap_used`] says how many
//! were kept.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Default top-K percentages: 0.1%, 1% and 10% of the queue.
pub const DEFAULT_K_PERCENTS: [f64; 3] = [0.1, 1.0, 10.0];
/// Default number of bootstrap resamples.
pub const DEFAULT_BOOTSTRAP: usize = 1000;
/// Default confidence level of the bootstrap intervals.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;
/// Default number of equal-width bins for [`ece`] and [`calibration_bins`].
pub const DEFAULT_ECE_BINS: usize = 10;

fn invalid(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

fn check_len(what: &str, len: usize, labels: usize) -> Result<()> {
    if len == labels {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} and labels differ in length ({len} vs {labels})"
        )))
    }
}

fn check_scores(scores: &[f64]) -> Result<()> {
    match scores.iter().position(|s| s.is_nan()) {
        Some(i) => Err(invalid(format!("score at index {i} is NaN"))),
        None => Ok(()),
    }
}

fn check_k_percent(k_percent: f64) -> Result<()> {
    if k_percent.is_finite() && k_percent > 0.0 && k_percent <= 100.0 {
        Ok(())
    } else {
        Err(invalid(format!(
            "K must be a percentage in (0, 100] (found {k_percent})"
        )))
    }
}

/// Descending score order; `NaN` must have been rejected before.
fn desc(a: f64, b: f64) -> Ordering {
    b.partial_cmp(&a).unwrap_or(Ordering::Equal)
}

/// Input indices in ranking order: score descending, equal scores in input order (earlier first).
///
/// This is the order every top-K metric uses. Errors on a `NaN` score (naming its index).
pub fn ranking(scores: &[f64]) -> Result<Vec<usize>> {
    check_scores(scores)?;
    let mut keyed: Vec<(f64, usize)> = scores.iter().copied().zip(0..).collect();
    // Unstable sort on (score desc, index asc): a total order, so the result equals a stable sort.
    keyed.sort_unstable_by(|a, b| desc(a.0, b.0).then(a.1.cmp(&b.1)));
    Ok(keyed.into_iter().map(|(_, i)| i).collect())
}

/// Number of leads in the top `k_percent`% of a queue of `n`: `ceil(k_percent / 100 · n)`.
///
/// `k_percent` is taken as the decimal it was written as: a product within a few ulps of an
/// integer counts as that integer, so `top_k_count(1.0, 300) == 3` and
/// `top_k_count(0.1, 1000) == 1`. The result is at least 1 and at most `n` when `n > 0` (a
/// `k_percent` outside `[0, 100]` is clamped, `NaN` counts as 0), and 0 when `n == 0`.
pub fn top_k_count(k_percent: f64, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let k = if k_percent.is_nan() {
        0.0
    } else {
        k_percent.clamp(0.0, 100.0)
    };
    let x = k * n as f64 / 100.0;
    let nearest = x.round();
    // Parsing K, the product and the division each add at most half an ulp of relative error.
    let count = if (x - nearest).abs() <= 8.0 * f64::EPSILON * x.max(1.0) {
        nearest
    } else {
        x.ceil()
    };
    (count as usize).clamp(1, n)
}

/// Flag bit of [`Ranked::flags`]: the lead at this rank is a positive.
const POSITIVE: u8 = 1;
/// Flag bit of [`Ranked::flags`]: this rank starts a tie group (its score differs from the
/// previous rank's).
const GROUP_START: u8 = 2;

/// Scores and labels presorted in ranking order, with tie groups, ready to be scored with any
/// multiplicities in O(n).
#[derive(Debug, Clone)]
struct Ranked {
    /// Rank of each input index (inverse of the ranking).
    rank_of: Vec<u32>,
    /// [`POSITIVE`] and [`GROUP_START`] bits at each rank (one byte per rank keeps the
    /// per-resample passes cache-friendly).
    flags: Vec<u8>,
    positives: usize,
}

impl Ranked {
    fn new(scores: &[f64], labels: &[bool]) -> Result<Self> {
        check_len("scores", scores.len(), labels.len())?;
        if u32::try_from(scores.len()).is_err() {
            return Err(invalid(format!(
                "at most {} leads are supported (found {})",
                u32::MAX,
                scores.len()
            )));
        }
        let order = ranking(scores)?;
        let n = order.len();
        let mut rank_of = vec![0u32; n];
        let mut flags = Vec::with_capacity(n);
        for (r, &i) in order.iter().enumerate() {
            // `n` fits in u32 (checked above).
            rank_of[i] = r as u32;
            let mut f = if labels[i] { POSITIVE } else { 0 };
            if r == 0 || scores[order[r - 1]] != scores[i] {
                f |= GROUP_START;
            }
            flags.push(f);
        }
        let positives = labels.iter().filter(|&&p| p).count();
        Ok(Self {
            rank_of,
            flags,
            positives,
        })
    }

    fn n(&self) -> usize {
        self.flags.len()
    }

    /// Weighted AUC, `weight(rank)` giving each rank's multiplicity:
    /// `Σ_pos w · (W⁻ strictly below + ½ W⁻ tied) / (W⁺ · W⁻)`, in exact integer arithmetic up to
    /// the final division. `None` when the positive or negative weight is zero.
    fn auc_with(&self, weight: impl Fn(usize) -> u64) -> Option<f64> {
        let mut neg_below: u64 = 0;
        let mut pos_total: u64 = 0;
        // Twice the numerator, so that half-counted ties stay integers.
        let mut twice_num: u128 = 0;
        // Weights of the current tie group, walking from the lowest score up.
        let (mut gp, mut gn) = (0u64, 0u64);
        for (r, &f) in self.flags.iter().enumerate().rev() {
            let m = weight(r);
            if f & POSITIVE != 0 {
                gp += m;
            } else {
                gn += m;
            }
            if f & GROUP_START != 0 {
                twice_num += u128::from(gp) * u128::from(2 * neg_below + gn);
                neg_below += gn;
                pos_total += gp;
                (gp, gn) = (0, 0);
            }
        }
        if pos_total == 0 || neg_below == 0 {
            return None;
        }
        let twice_den = 2 * u128::from(pos_total) * u128::from(neg_below);
        Some(twice_num as f64 / twice_den as f64)
    }

    /// Positives among the first `k` items of the expanded multiset (each rank repeated
    /// `weight(rank)` times, in ranking order).
    fn hits_with(&self, k: u64, weight: impl Fn(usize) -> u64) -> u64 {
        let mut left = k;
        let mut hits = 0;
        for (r, &f) in self.flags.iter().enumerate() {
            if left == 0 {
                break;
            }
            let take = weight(r).min(left);
            if f & POSITIVE != 0 {
                hits += take;
            }
            left -= take;
        }
        hits
    }

    /// Multiplicities per rank from per-input weights.
    fn weights_by_rank(&self, weights: &[u32]) -> Result<Vec<u32>> {
        check_len("weights", weights.len(), self.n())?;
        let mut by_rank = vec![0u32; self.n()];
        for (i, &w) in weights.iter().enumerate() {
            by_rank[self.rank_of[i] as usize] = w;
        }
        Ok(by_rank)
    }

    /// Runs `resamples` bootstrap resamples and returns the AUC of each kept resample, the
    /// precision at each of `k_counts` for each kept resample, and how many were kept.
    fn bootstrap(&self, k_counts: &[usize], resamples: usize, seed: u64) -> Bootstrap {
        let n = self.n();
        let mut rng = Rng::new(seed);
        let mut w = vec![0u32; n];
        let mut aucs = Vec::with_capacity(resamples);
        let mut precisions = vec![Vec::with_capacity(resamples); k_counts.len()];
        for _ in 0..resamples {
            w.fill(0);
            for _ in 0..n {
                let i = rng.below(n as u64) as usize;
                w[self.rank_of[i] as usize] += 1;
            }
            let Some(auc) = self.auc_with(|r| u64::from(w[r])) else {
                continue;
            };
            aucs.push(auc);
            for (p, &k) in precisions.iter_mut().zip(k_counts) {
                // The resample has n items, so the top-K count is the point estimate's.
                p.push(self.hits_with(k as u64, |r| u64::from(w[r])) as f64 / k as f64);
            }
        }
        Bootstrap { aucs, precisions }
    }
}

/// Per-resample statistics of the kept bootstrap resamples.
struct Bootstrap {
    aucs: Vec<f64>,
    precisions: Vec<Vec<f64>>,
}

fn auc_needs_both(ranked: &Ranked) -> Error {
    invalid(format!(
        "AUC needs at least one positive and one negative label (positives: {}, negatives: {})",
        ranked.positives,
        ranked.n() - ranked.positives
    ))
}

/// ROC AUC of `scores` against `labels`, tie-aware (a tied positive/negative pair counts ½).
///
/// O(n log n). Errors when the lengths differ, a score is `NaN` (the index is named), or the
/// labels hold no positive or no negative.
pub fn auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let ranked = Ranked::new(scores, labels)?;
    ranked
        .auc_with(|_| 1)
        .ok_or_else(|| auc_needs_both(&ranked))
}

/// ROC AUC where input `i` counts `weights[i]` times (e.g. bootstrap multiplicities).
///
/// Equals [`auc`] on the expanded data; with all weights 1 it equals [`auc`] exactly. Errors like
/// [`auc`], and when the weights' length differs or the weighted data has no positive or no
/// negative.
pub fn auc_weighted(scores: &[f64], labels: &[bool], weights: &[u32]) -> Result<f64> {
    let ranked = Ranked::new(scores, labels)?;
    let w = ranked.weights_by_rank(weights)?;
    ranked
        .auc_with(|r| u64::from(w[r]))
        .ok_or_else(|| invalid("weighted AUC needs a positive and a negative weight".into()))
}

/// Number of positives among the top [`top_k_count`]`(k_percent, n)` leads in [`ranking`] order.
fn hits_at_k(ranked: &Ranked, k_percent: f64) -> Result<(usize, usize)> {
    check_k_percent(k_percent)?;
    if ranked.n() == 0 {
        return Err(invalid("no leads to rank".into()));
    }
    let k = top_k_count(k_percent, ranked.n());
    Ok((k, ranked.hits_with(k as u64, |_| 1) as usize))
}

/// Precision in the top `k_percent`% of the queue: positives among the first
/// [`top_k_count`]`(k_percent, n)` leads in [`ranking`] order (score descending, ties in input
/// order).
///
/// Errors when the lengths differ, a score is `NaN`, there are no leads, or `k_percent` is not in
/// `(0, 100]`.
pub fn precision_at_k(scores: &[f64], labels: &[bool], k_percent: f64) -> Result<f64> {
    let ranked = Ranked::new(scores, labels)?;
    let (k, hits) = hits_at_k(&ranked, k_percent)?;
    Ok(hits as f64 / k as f64)
}

/// Precision in the top `k_percent`% where input `i` counts `weights[i]` times: the first
/// `top_k_count(k_percent, Σ weights)` items of the expanded multiset in [`ranking`] order (copies
/// of one lead are adjacent). Errors like [`precision_at_k`], and when the weights' length
/// differs or they sum to zero.
pub fn precision_at_k_weighted(
    scores: &[f64],
    labels: &[bool],
    weights: &[u32],
    k_percent: f64,
) -> Result<f64> {
    check_k_percent(k_percent)?;
    let ranked = Ranked::new(scores, labels)?;
    let w = ranked.weights_by_rank(weights)?;
    let total: u64 = w.iter().map(|&m| u64::from(m)).sum();
    let total = usize::try_from(total)
        .map_err(|_| invalid(format!("total weight {total} is too large")))?;
    if total == 0 {
        return Err(invalid("the weights sum to zero".into()));
    }
    let k = top_k_count(k_percent, total);
    Ok(ranked.hits_with(k as u64, |r| u64::from(w[r])) as f64 / k as f64)
}

/// Recall in the top `k_percent`%: the share of all positives found among the first
/// [`top_k_count`]`(k_percent, n)` leads in [`ranking`] order. Errors like [`precision_at_k`],
/// and when there is no positive.
pub fn recall_at_k(scores: &[f64], labels: &[bool], k_percent: f64) -> Result<f64> {
    let ranked = Ranked::new(scores, labels)?;
    let (_, hits) = hits_at_k(&ranked, k_percent)?;
    if ranked.positives == 0 {
        return Err(invalid("recall needs at least one positive label".into()));
    }
    Ok(hits as f64 / ranked.positives as f64)
}

/// Lift in the top `k_percent`%: [`precision_at_k`] divided by the base rate (positives / n).
/// Errors like [`precision_at_k`], and when there is no positive.
pub fn lift_at_k(scores: &[f64], labels: &[bool], k_percent: f64) -> Result<f64> {
    let ranked = Ranked::new(scores, labels)?;
    let (k, hits) = hits_at_k(&ranked, k_percent)?;
    if ranked.positives == 0 {
        return Err(invalid("lift needs at least one positive label".into()));
    }
    let base_rate = ranked.positives as f64 / ranked.n() as f64;
    Ok(hits as f64 / k as f64 / base_rate)
}

fn check_probs(probs: &[f64], labels: &[bool]) -> Result<()> {
    check_len("probabilities", probs.len(), labels.len())?;
    if probs.is_empty() {
        return Err(invalid("no probabilities to score".into()));
    }
    match probs.iter().position(|p| !(0.0..=1.0).contains(p)) {
        Some(i) => Err(invalid(format!(
            "probability at index {i} is {} (must be in [0, 1])",
            probs[i]
        ))),
        None => Ok(()),
    }
}

/// Brier score: the mean of `(p − y)²` with `y` = 1 for a positive label, 0 otherwise.
///
/// Errors when the lengths differ, the input is empty, or a probability is outside `[0, 1]`
/// (or `NaN`).
pub fn brier(probs: &[f64], labels: &[bool]) -> Result<f64> {
    check_probs(probs, labels)?;
    let sum: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let d = p - f64::from(u8::from(y));
            d * d
        })
        .sum();
    Ok(sum / probs.len() as f64)
}

/// One equal-width probability bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge (inclusive).
    pub lo: f64,
    /// Upper edge (exclusive, except 1.0 for the last bin).
    pub hi: f64,
    /// Number of predictions in the bin.
    pub count: usize,
    /// Mean predicted probability; `None` for an empty bin.
    pub mean_predicted: Option<f64>,
    /// Share of positive labels; `None` for an empty bin.
    pub observed_rate: Option<f64>,
}

/// Per-bin calibration over `bins` equal-width bins of `[0, 1]`, for reliability charts.
///
/// A probability `p` falls in bin `min(floor(p · bins), bins − 1)`, so bin `i` covers
/// `[i/bins, (i+1)/bins)` and `p = 1` lands in the last bin. Every bin is returned, empty ones
/// with `count == 0`. Errors like [`brier`], and when `bins == 0`.
pub fn calibration_bins(
    probs: &[f64],
    labels: &[bool],
    bins: usize,
) -> Result<Vec<CalibrationBin>> {
    check_probs(probs, labels)?;
    if bins == 0 {
        return Err(invalid("calibration needs at least one bin".into()));
    }
    let mut sum_p = vec![0.0; bins];
    let mut pos = vec![0usize; bins];
    let mut count = vec![0usize; bins];
    for (&p, &y) in probs.iter().zip(labels) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p;
        count[b] += 1;
        pos[b] += usize::from(y);
    }
    Ok((0..bins)
        .map(|b| {
            let c = count[b];
            let mean = |x: f64| (c > 0).then(|| x / c as f64);
            CalibrationBin {
                lo: b as f64 / bins as f64,
                hi: (b + 1) as f64 / bins as f64,
                count: c,
                mean_predicted: mean(sum_p[b]),
                observed_rate: mean(pos[b] as f64),
            }
        })
        .collect())
}

/// Expected calibration error over `bins` equal-width bins (see [`calibration_bins`]):
/// `Σ_b (count_b / n) · |mean predicted_b − observed rate_b|`.
///
/// Errors like [`calibration_bins`].
pub fn ece(probs: &[f64], labels: &[bool], bins: usize) -> Result<f64> {
    let n = probs.len() as f64;
    Ok(calibration_bins(probs, labels, bins)?
        .iter()
        .map(|b| match (b.mean_predicted, b.observed_rate) {
            (Some(p), Some(o)) => b.count as f64 / n * (p - o).abs(),
            _ => 0.0,
        })
        .sum())
}

/// Ranks `0..n` of `xs` in increasing order; equal values share their average rank.
fn average_ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; xs.len()];
    let mut start = 0;
    while start < idx.len() {
        let mut end = start + 1;
        while end < idx.len() && xs[idx[end]] == xs[idx[start]] {
            end += 1;
        }
        let average = (start + end - 1) as f64 / 2.0;
        for &i in &idx[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation of two scorings of the same leads: the Pearson correlation of
/// their ranks, equal scores sharing their average rank. 1 when both order the leads alike,
/// −1 when one reverses the other.
///
/// Errors when the lengths differ, a score is `NaN`, there are fewer than two scores, or one
/// scoring gives every lead the same score.
pub fn spearman(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(invalid(format!(
            "the two scorings differ in length ({} vs {})",
            a.len(),
            b.len()
        )));
    }
    check_scores(a)?;
    check_scores(b)?;
    if a.len() < 2 {
        return Err(invalid(format!(
            "rank correlation needs at least 2 scores, got {}",
            a.len()
        )));
    }
    let (ra, rb) = (average_ranks(a), average_ranks(b));
    let mean = (a.len() - 1) as f64 / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        return Err(invalid(
            "a scoring that gives every lead the same score has no rank correlation".into(),
        ));
    }
    Ok(sab / (saa * sbb).sqrt())
}

/// What [`evaluate`] computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalConfig {
    /// Top-K percentages, each in `(0, 100]`; default `[0.1, 1.0, 10.0]`.
    pub k_percents: Vec<f64>,
    /// Bootstrap resamples; default 1000, 0 for no confidence intervals.
    pub bootstrap: usize,
    /// Confidence level of the percentile intervals, in `(0, 1)`; default 0.95.
    pub confidence: f64,
    /// Seed of the bootstrap resamples; default 0.
    pub seed: u64,
    /// Equal-width bins for the ECE; default 10.
    pub ece_bins: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            k_percents: DEFAULT_K_PERCENTS.to_vec(),
            bootstrap: DEFAULT_BOOTSTRAP,
            confidence: DEFAULT_CONFIDENCE,
            seed: 0,
            ece_bins: DEFAULT_ECE_BINS,
        }
    }
}

impl EvalConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        for &k in &self.k_percents {
            check_k_percent(k)?;
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(invalid(format!(
                "confidence must be strictly between 0 and 1 (found {})",
                self.confidence
            )));
        }
        if self.ece_bins == 0 {
            return Err(invalid("ece_bins must be at least 1".into()));
        }
        Ok(())
    }
}

/// A point estimate with an optional confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point estimate on all leads.
    pub value: f64,
    /// Lower bound of the interval; `None` without bootstrap (or when no resample was usable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<f64>,
    /// Upper bound of the interval; `None` like `lo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<f64>,
}

impl Estimate {
    /// An estimate without an interval.
    pub fn point(value: f64) -> Self {
        Self {
            value,
            lo: None,
            hi: None,
        }
    }
}

/// Metrics in the top K% of the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    /// K, in percent of the queue.
    pub k_percent: f64,
    /// Leads in the top K%: [`top_k_count`]`(k_percent, n)`.
    pub k_count: usize,
    /// Positives among them.
    pub hits: usize,
    /// `hits / k_count`, with its bootstrap interval.
    pub precision: Estimate,
    /// `hits / positives`.
    pub recall: f64,
    /// Precision over the base rate.
    pub lift: f64,
}

/// The evaluation of one ranking method (one row of the audit table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// Method name, as shown in the report's rows.
    pub name: String,
    /// Leads ranked.
    pub n: usize,
    /// Positive labels among them.
    pub positives: usize,
    /// ROC AUC (ties count ½), with its bootstrap interval.
    pub auc: Estimate,
    /// One entry per [`EvalConfig::k_percents`], in that order.
    pub at_k: Vec<AtK>,
    /// Brier score, when probabilities were given.
    pub brier: Option<f64>,
    /// Expected calibration error, when probabilities were given.
    pub ece: Option<f64>,
    /// Bootstrap resamples used for the intervals (requested minus those without a positive or
    /// without a negative); 0 without bootstrap.
    pub bootstrap_used: usize,
}

impl MethodReport {
    /// Positives over leads.
    pub fn base_rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.positives as f64 / self.n as f64
        }
    }

    /// The top-K entry for `k_percent`, if evaluated.
    pub fn at(&self, k_percent: f64) -> Option<&AtK> {
        self.at_k
            .iter()
            .find(|a| (a.k_percent - k_percent).abs() <= 1e-12 * k_percent.abs().max(1.0))
    }
}

/// The `q`-quantile of sorted `xs` with linear interpolation between order statistics (NumPy's
/// default "linear" method). `None` when `xs` is empty.
fn quantile_sorted(xs: &[f64], q: f64) -> Option<f64> {
    let last = xs.len().checked_sub(1)?;
    let h = last as f64 * q;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    Some(xs[lo] + (h - lo as f64) * (xs[hi] - xs[lo]))
}

/// The percentile interval of `values` at `confidence`.
fn percentile_interval(mut values: Vec<f64>, confidence: f64) -> (Option<f64>, Option<f64>) {
    values.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    (
        quantile_sorted(&values, tail),
        quantile_sorted(&values, 1.0 - tail),
    )
}

/// Evaluates one ranking method: AUC and, for each K in `cfg.k_percents`, hits, precision,
/// recall and lift in the top K% (see the [module docs](self) for the ranking order and ties),
/// plus Brier score and ECE when `probs` (predicted probabilities, one per lead) are given.
///
/// With `cfg.bootstrap > 0`, AUC and precision get `cfg.confidence` percentile-bootstrap
/// intervals from `cfg.bootstrap` resamples seeded with `cfg.seed` (deterministic; paired across
/// methods evaluated on the same leads). Cost: one sort, then O(n) per resample.
///
/// Errors when the config is out of range, lengths differ, a score is `NaN`, a probability is
/// outside `[0, 1]`, or the labels hold no positive or no negative.
pub fn evaluate(
    name: &str,
    scores: &[f64],
    labels: &[bool],
    probs: Option<&[f64]>,
    cfg: &EvalConfig,
) -> Result<MethodReport> {
    cfg.validate()?;
    let ranked = Ranked::new(scores, labels)?;
    let auc_value = ranked
        .auc_with(|_| 1)
        .ok_or_else(|| auc_needs_both(&ranked))?;
    let (n, positives) = (ranked.n(), ranked.positives);
    let base_rate = positives as f64 / n as f64;

    let (brier_value, ece_value) = match probs {
        Some(p) => (Some(brier(p, labels)?), Some(ece(p, labels, cfg.ece_bins)?)),
        None => (None, None),
    };

    let k_counts: Vec<usize> = cfg.k_percents.iter().map(|&k| top_k_count(k, n)).collect();
    let mut at_k: Vec<AtK> = cfg
        .k_percents
        .iter()
        .zip(&k_counts)
        .map(|(&k_percent, &k)| {
            let hits = ranked.hits_with(k as u64, |_| 1) as usize;
            let precision = hits as f64 / k as f64;
            AtK {
                k_percent,
                k_count: k,
                hits,
                precision: Estimate::point(precision),
                recall: hits as f64 / positives as f64,
                lift: precision / base_rate,
            }
        })
        .collect();

    let mut auc_estimate = Estimate::point(auc_value);
    let mut bootstrap_used = 0;
    if cfg.bootstrap > 0 {
        let boot = ranked.bootstrap(&k_counts, cfg.bootstrap, cfg.seed);
        bootstrap_used = boot.aucs.len();
        (auc_estimate.lo, auc_estimate.hi) = percentile_interval(boot.aucs, cfg.confidence);
        for (a, values) in at_k.iter_mut().zip(boot.precisions) {
            (a.precision.lo, a.precision.hi) = percentile_interval(values, cfg.confidence);
        }
    }

    Ok(MethodReport {
        name: name.to_string(),
        n,
        positives,
        auc: auc_estimate,
        at_k,
        brier: brier_value,
        ece: ece_value,
        bootstrap_used,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn auc_hand_cases() {
        // Perfect, reversed, and all tied.
        let labels = [true, false, true, false];
        assert_eq!(auc(&[4.0, 1.0, 3.0, 2.0], &labels).unwrap(), 1.0);
        assert_eq!(auc(&[1.0, 4.0, 2.0, 3.0], &labels).unwrap(), 0.0);
        assert_eq!(auc(&[1.0; 4], &labels).unwrap(), 0.5);
        // One tied pair out of four: (1 + 1 + 1 + 0.5) / 4.
        assert!(close(
            auc(&[3.0, 2.0, 2.0, 1.0], &labels).unwrap(),
            3.5 / 4.0
        ));
        // -0.0 and 0.0 tie.
        assert_eq!(auc(&[0.0, -0.0], &[true, false]).unwrap(), 0.5);
        // Infinities are valid scores.
        assert_eq!(
            auc(&[f64::INFINITY, f64::NEG_INFINITY], &[true, false]).unwrap(),
            1.0
        );
    }

    #[test]
    fn auc_errors() {
        let e = auc(&[1.0, f64::NAN], &[true, false]).unwrap_err();
        assert!(e.to_string().contains("index 1"), "{e}");
        assert!(auc(&[1.0], &[true, false]).is_err());
        assert!(auc(&[1.0, 2.0], &[true, true]).is_err());
        assert!(auc(&[1.0, 2.0], &[false, false]).is_err());
        assert!(auc(&[], &[]).is_err());
    }

    #[test]
    fn top_k_count_examples() {
        assert_eq!(top_k_count(1.0, 300), 3);
        assert_eq!(top_k_count(0.1, 1000), 1);
        assert_eq!(top_k_count(0.1, 3000), 3);
        assert_eq!(top_k_count(0.1, 3001), 4);
        assert_eq!(top_k_count(10.0, 3000), 300);
        assert_eq!(top_k_count(0.1, 10), 1);
        assert_eq!(top_k_count(100.0, 7), 7);
        assert_eq!(top_k_count(250.0, 7), 7);
        assert_eq!(top_k_count(0.0, 7), 1);
        assert_eq!(top_k_count(f64::NAN, 7), 1);
        assert_eq!(top_k_count(10.0, 0), 0);
        // 0.07 · 100 = 7.000000000000001 in floating point.
        assert_eq!(top_k_count(7.0, 100), 7);
        assert_eq!(top_k_count(0.07, 10_000), 7);
    }

    #[test]
    fn top_k_ties_break_by_input_order() {
        // Ties at the cut: the earlier lead wins.
        let scores = [1.0, 5.0, 5.0, 5.0];
        assert_eq!(ranking(&scores).unwrap(), vec![1, 2, 3, 0]);
        let labels = [false, false, true, true];
        // Top 50% = 2 leads: indices 1 and 2.
        assert_eq!(precision_at_k(&scores, &labels, 50.0).unwrap(), 0.5);
        assert_eq!(recall_at_k(&scores, &labels, 50.0).unwrap(), 0.5);
        assert_eq!(lift_at_k(&scores, &labels, 50.0).unwrap(), 1.0);
        assert!(precision_at_k(&scores, &labels, 0.0).is_err());
        assert!(precision_at_k(&scores, &labels, 100.5).is_err());
        assert!(recall_at_k(&scores, &[false; 4], 50.0).is_err());
    }

    #[test]
    fn brier_and_ece_hand_cases() {
        let probs = [0.05, 0.15, 0.15, 0.95, 1.0];
        let labels = [false, true, false, true, true];
        // (0.0025 + 0.7225 + 0.0225 + 0.0025 + 0) / 5
        assert!(close(brier(&probs, &labels).unwrap(), 0.75 / 5.0));
        let bins = calibration_bins(&probs, &labels, 10).unwrap();
        assert_eq!(bins.len(), 10);
        assert_eq!(bins[0].count, 1);
        assert_eq!(bins[1].count, 2);
        assert_eq!(bins[9].count, 2); // 0.95 and 1.0
        assert_eq!(bins[5].count, 0);
        assert_eq!(bins[5].mean_predicted, None);
        assert!(close(bins[1].mean_predicted.unwrap(), 0.15));
        assert_eq!(bins[1].observed_rate, Some(0.5));
        assert!(close(bins[9].lo, 0.9) && bins[9].hi == 1.0);
        // 1/5·0.05 + 2/5·0.35 + 2/5·0.025
        let expected = 0.2 * 0.05 + 0.4 * 0.35 + 0.4 * 0.025;
        assert!(close(ece(&probs, &labels, 10).unwrap(), expected));
        // One bin: |mean p − rate| = |2.3/5 − 3/5|.
        assert!(close(ece(&probs, &labels, 1).unwrap(), 0.14));
        // Perfectly calibrated extremes.
        assert_eq!(ece(&[0.0, 1.0], &[false, true], 10).unwrap(), 0.0);
        assert_eq!(brier(&[0.0, 1.0], &[false, true]).unwrap(), 0.0);
    }

    #[test]
    fn probability_errors() {
        assert!(brier(&[0.5, 1.5], &[true, false]).is_err());
        assert!(brier(&[0.5, f64::NAN], &[true, false]).is_err());
        assert!(brier(&[0.5], &[true, false]).is_err());
        assert!(brier(&[], &[]).is_err());
        assert!(ece(&[0.5], &[true], 0).is_err());
    }

    #[test]
    fn evaluate_without_bootstrap() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0];
        let labels = [
            true, false, true, false, false, false, false, false, false, false,
        ];
        let cfg = EvalConfig {
            k_percents: vec![10.0, 50.0],
            bootstrap: 0,
            ..EvalConfig::default()
        };
        let r = evaluate("m", &scores, &labels, Some(&scores), &cfg).unwrap();
        assert_eq!((r.n, r.positives, r.bootstrap_used), (10, 2, 0));
        assert!(close(r.auc.value, 15.0 / 16.0));
        assert_eq!(r.auc.lo, None);
        assert_eq!(r.at_k[0].k_count, 1);
        assert_eq!(r.at_k[0].hits, 1);
        assert!(close(r.at_k[0].lift, 5.0));
        assert_eq!(r.at_k[1].hits, 2);
        assert!(close(r.at_k[1].recall, 1.0));
        assert!(r.brier.is_some() && r.ece.is_some());
        assert_eq!(r.at(50.0).map(|a| a.k_count), Some(5));
    }

    #[test]
    fn evaluate_rejects_bad_config() {
        let bad = [
            EvalConfig {
                k_percents: vec![0.0],
                ..EvalConfig::default()
            },
            EvalConfig {
                confidence: 1.0,
                ..EvalConfig::default()
            },
            EvalConfig {
                ece_bins: 0,
                ..EvalConfig::default()
            },
        ];
        for cfg in bad {
            assert!(evaluate("m", &[1.0, 0.0], &[true, false], None, &cfg).is_err());
        }
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&xs, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&xs, 1.0), Some(4.0));
        assert_eq!(quantile_sorted(&xs, 0.5), Some(2.5));
        assert!(close(quantile_sorted(&xs, 0.025).unwrap(), 1.075));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(quantile_sorted(&[7.0], 0.975), Some(7.0));
    }

    #[test]
    fn bootstrap_skips_one_class_resamples() {
        // One positive in 3 leads: P(no positive) = (2/3)^3 ≈ 0.3 per resample.
        let cfg = EvalConfig {
            bootstrap: 200,
            seed: 5,
            ..EvalConfig::default()
        };
        let r = evaluate("m", &[0.3, 0.2, 0.1], &[true, false, false], None, &cfg).unwrap();
        assert!(
            r.bootstrap_used > 100 && r.bootstrap_used < 190,
            "{}",
            r.bootstrap_used
        );
        let (lo, hi) = (r.auc.lo.unwrap(), r.auc.hi.unwrap());
        assert!(lo <= hi);
    }

    #[test]
    fn spearman_hand_cases() {
        let up = [1.0, 2.0, 3.0, 4.0];
        assert!(close(
            spearman(&up, &[10.0, 20.0, 30.0, 40.0]).unwrap(),
            1.0
        ));
        assert!(close(spearman(&up, &[4.0, 3.0, 2.0, 1.0]).unwrap(), -1.0));
        // Without ties it is 1 − 6Σd² / (n(n² − 1)): d = (0, 0, 1, −1) gives 1 − 12/60.
        assert!(close(spearman(&up, &[1.0, 2.0, 4.0, 3.0]).unwrap(), 0.8));
        // Ties share their average rank: ranks (0, 1.5, 1.5, 3) against (0, 1, 2, 3).
        let tied = spearman(&up, &[1.0, 2.0, 2.0, 3.0]).unwrap();
        assert!(close(tied, 4.5 / (5.0f64 * 4.5).sqrt()), "{tied}");
        assert!(spearman(&up, &[1.0; 4]).is_err());
        assert!(spearman(&up, &up[..3]).is_err());
        assert!(spearman(&[1.0], &[1.0]).is_err());
        assert!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    }
}
