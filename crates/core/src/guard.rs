//! The guard: does a model rank worse than the simple orders it is meant to replace?
//!
//! A model trained on one period can rank the next one worse than working the leads newest first
//! (recency) or by the hand tier sort, for instance when the funnel drifted between the two.
//! The trainer audits the model on its own test period ([`AuditReport`], with bootstrap
//! intervals); [`Guard::check`] reads that report and says, with the numbers, when the model's
//! AUC interval lies entirely below a baseline's (its upper bound under the baseline's lower
//! bound): the model is then worse beyond doubt and its queue should not be trusted. Intervals
//! that overlap are not a verdict, and the guard stays silent. Without intervals (a model
//! trained with `--bootstrap 0`) the guard does not guess: it says it could not run.
//!
//! The verdict is stored in the bundle (`guard` metadata) so every scorer can show it as soon as
//! the model loads; [`Guard::lines`] is what `leadladder train` prints.

use serde::{Deserialize, Serialize};

use crate::audit::{HAND_TIER, RECENCY};
use crate::error::{Error, Result};
use crate::metrics::Estimate;
use crate::report::AuditReport;

/// The `format` of a serialised [`Guard`].
pub const GUARD_FORMAT: &str = "leadladder-guard/1";

/// The guard's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardStatus {
    /// The model is not worse than any baseline beyond the intervals.
    Passed,
    /// The model's AUC interval lies entirely below a baseline's.
    Worse,
    /// The report has no intervals (or no defined AUC): no verdict.
    NotRun,
}

/// A baseline the model was compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardBaseline {
    /// The method's name in the report (e.g. `recency (newest first)`).
    pub name: String,
    /// Its test-period AUC and interval.
    pub auc: Estimate,
    /// True when the model's interval lies entirely below this one.
    pub beats_model: bool,
}

/// The guard's verdict on one model, with its numbers and a plain message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// Always [`GUARD_FORMAT`].
    pub format: String,
    pub status: GuardStatus,
    /// The model's method name in the report.
    pub model: String,
    /// The model's test-period AUC and interval.
    pub model_auc: Estimate,
    /// Recency and (when the spec has tiers) the hand tier sort.
    pub baselines: Vec<GuardBaseline>,
    /// What the guard says, in plain words.
    pub message: String,
}

/// How a baseline is named in a sentence.
fn said(name: &str) -> &str {
    match name {
        RECENCY => "recency",
        HAND_TIER => "the hand tier sort",
        other => other,
    }
}

/// `0.52 [0.49, 0.55]`, or `0.52` without an interval.
fn auc_text(e: &Estimate) -> String {
    match (e.lo, e.hi) {
        (Some(lo), Some(hi)) => format!("{:.2} [{lo:.2}, {hi:.2}]", e.value),
        _ => format!("{:.2}", e.value),
    }
}

fn interval(e: &Estimate) -> Option<(f64, f64)> {
    match (e.lo, e.hi) {
        (Some(lo), Some(hi)) if e.value.is_finite() && lo.is_finite() && hi.is_finite() => {
            Some((lo, hi))
        }
        _ => None,
    }
}

/// `a`, `a and b`, `a, b and c` (or with `or`).
fn join_with(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

fn join_and(items: &[String]) -> String {
    join_with(items, "and")
}

impl Guard {
    /// Judges the method named `model` of a test-period `report` against recency and the hand
    /// tier sort.
    ///
    /// # Errors
    ///
    /// [`Error::Guard`] when the report has no method named `model` (naming those it has) or
    /// no recency line.
    pub fn check(report: &AuditReport, model: &str) -> Result<Self> {
        let names = || {
            report
                .methods
                .iter()
                .map(|m| format!("`{}`", m.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(m) = report.methods.iter().find(|m| m.name == model) else {
            return Err(Error::Guard(format!(
                "the report has no method `{model}` (it has {})",
                names()
            )));
        };
        let bases: Vec<_> = report
            .methods
            .iter()
            .filter(|b| b.name == RECENCY || b.name == HAND_TIER)
            .filter(|b| b.name != model)
            .collect();
        if !bases.iter().any(|b| b.name == RECENCY) {
            return Err(Error::Guard(format!(
                "the report has no `{RECENCY}` line to compare with (it has {})",
                names()
            )));
        }
        let mine = interval(&m.auc);
        let mut baselines: Vec<GuardBaseline> = bases
            .iter()
            .map(|b| GuardBaseline {
                name: b.name.clone(),
                auc: b.auc,
                beats_model: matches!(
                    (mine, interval(&b.auc)),
                    (Some((_, hi)), Some((lo, _))) if hi < lo
                ),
            })
            .collect();
        let all_intervals = mine.is_some() && bases.iter().all(|b| interval(&b.auc).is_some());
        let (status, message) = if !all_intervals {
            baselines.iter_mut().for_each(|b| b.beats_model = false);
            (
                GuardStatus::NotRun,
                "The guard against recency could not run: the test-period report has no \
                 confidence intervals (the model was trained with --bootstrap 0), and it does \
                 not guess without them."
                    .to_string(),
            )
        } else {
            let winners: Vec<&GuardBaseline> = baselines.iter().filter(|b| b.beats_model).collect();
            match winners
                .iter()
                .max_by(|a, b| a.auc.value.total_cmp(&b.auc.value))
            {
                Some(best) => {
                    let who: Vec<String> =
                        winners.iter().map(|b| said(&b.name).to_string()).collect();
                    let theirs: Vec<String> = winners.iter().map(|b| auc_text(&b.auc)).collect();
                    let how = match best.name.as_str() {
                        RECENCY => "work the leads newest first".to_string(),
                        other => format!("work the leads by {}", said(other)),
                    };
                    (
                        GuardStatus::Worse,
                        format!(
                            "This model ranks worse than {} on its own test period: AUC {} \
                             against {}. Do not trust its queue; {how} until a model trained \
                             on newer leads beats it.",
                            join_and(&who),
                            auc_text(&m.auc),
                            join_and(&theirs)
                        ),
                    )
                }
                None => {
                    let who: Vec<String> = baselines
                        .iter()
                        .map(|b| format!("{} ({})", said(&b.name), auc_text(&b.auc)))
                        .collect();
                    (
                        GuardStatus::Passed,
                        format!(
                            "This model does not rank worse than {} on its own test period \
                             beyond the intervals: AUC {}.",
                            join_with(&who, "or"),
                            auc_text(&m.auc)
                        ),
                    )
                }
            }
        };
        Ok(Self {
            format: GUARD_FORMAT.to_string(),
            status,
            model: model.to_string(),
            model_auc: m.auc,
            baselines,
            message,
        })
    }

    /// True when the model ranks worse than a baseline beyond the intervals.
    pub fn fires(&self) -> bool {
        self.status == GuardStatus::Worse
    }

    /// The lines a terminal shows: the message when the guard fired or could not run; none when
    /// the model passed.
    pub fn lines(&self) -> Vec<String> {
        match self.status {
            GuardStatus::Passed => Vec::new(),
            GuardStatus::Worse => vec![format!("WARNING: {}", self.message)],
            GuardStatus::NotRun => vec![format!("note: {}", self.message)],
        }
    }

    /// JSON text (a bundle's `guard` metadata).
    ///
    /// # Errors
    ///
    /// [`Error::Guard`] if serialisation fails.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Guard(format!("to JSON: {e}")))
    }

    /// Parses JSON written by [`Guard::to_json`].
    ///
    /// # Errors
    ///
    /// [`Error::Guard`] on malformed JSON or an unknown format.
    pub fn from_json(text: &str) -> Result<Self> {
        let g: Self =
            serde_json::from_str(text).map_err(|e| Error::Guard(format!("guard JSON: {e}")))?;
        if g.format != GUARD_FORMAT {
            return Err(Error::Guard(format!(
                "unknown guard format {:?} (expected {GUARD_FORMAT:?})",
                g.format
            )));
        }
        Ok(g)
    }
}

/// What `leadladder train` prints about the model named `model` of its test-period `report`:
/// the guard's warning when it fires, a note when it could not run, nothing when it passed.
///
/// # Errors
///
/// As [`Guard::check`].
pub fn train_lines(report: &AuditReport, model: &str) -> Result<Vec<String>> {
    Ok(Guard::check(report, model)?.lines())
}
