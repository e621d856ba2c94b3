//! The audit pipeline shared by `leadladder audit`, the trainer's reports and the page: label the
//! leads, optionally keep only the test period, and evaluate the baselines and every given score
//! on the same leads with the same (paired) bootstrap resamples.

use std::io::{Read, Seek};

use crate::baselines;
use crate::dataset::{Dataset, IngestOptions, Schema};
use crate::drift::{DriftChecker, DriftProfile, DriftReport};
use crate::error::{Error, Result};
use crate::ingest::LeadReader;
use crate::ladder::Ladder;
use crate::metrics::{EvalConfig, evaluate};
use crate::report::{AuditReport, SplitSummary};
use crate::spec::Spec;
use crate::split::temporal_split;
use crate::value::format_rfc3339;

/// Method names used for the baselines in reports.
pub const RECENCY: &str = "recency (newest first)";
pub const HAND_TIER: &str = "hand tier sort";
pub const RANDOM: &str = "random";

/// What to audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub eval: EvalConfig,
    /// `Some(f)`: temporal split with training fraction `f`; only the test period is audited.
    pub temporal_split: Option<f64>,
    /// Score columns of the dataset to audit (besides the spec's own `columns.score`).
    pub score_columns: Vec<String>,
    /// Scores computed elsewhere (e.g. a model), one per lead of the dataset, with their name and
    /// optional calibrated probabilities.
    pub external: Vec<ExternalScore>,
    /// Add a seeded random ranking as a floor.
    pub include_random: bool,
    pub title: String,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            eval: EvalConfig::default(),
            temporal_split: None,
            score_columns: Vec::new(),
            external: Vec::new(),
            include_random: false,
            title: "Ranking audit".to_string(),
        }
    }
}

/// A score computed outside the dataset (one per lead, in dataset order).
#[derive(Debug, Clone)]
pub struct ExternalScore {
    pub name: String,
    pub scores: Vec<f64>,
    pub probs: Option<Vec<f64>>,
}

/// Reads a lead file for [`audit`] a batch of `batch` rows at a time, keeping per lead only what
/// an audit looks at: id, row, created_at and the columns that the label, the rungs and the
/// tiers read or that are audited as scores (the spec's and `score_columns`). The rows read,
/// skipped and refused, the report and every error are those of
/// [`crate::ingest::read_csv`] on the whole file; an audit of the result equals one of the
/// whole [`Dataset`].
///
/// # Errors
///
/// As [`crate::ingest::read_csv`]; [`crate::Error::Io`] when the source cannot be read.
pub fn read_for_audit<R: Read + Seek>(
    source: R,
    spec: &Spec,
    opts: &IngestOptions,
    score_columns: &[String],
    batch: usize,
) -> Result<Dataset> {
    read_for_audit_checked(source, spec, opts, score_columns, batch, None).map(|(d, _)| d)
}

/// [`read_for_audit`] that also compares every lead, with all its columns, against a model's
/// drift profile as it is read (the audited dataset keeps only what the audit reads). The
/// report is `None` without a profile.
///
/// # Errors
///
/// As [`read_for_audit`]; [`Error::Drift`] when the spec does not read a field of the profile.
pub fn read_for_audit_checked<R: Read + Seek>(
    source: R,
    spec: &Spec,
    opts: &IngestOptions,
    score_columns: &[String],
    batch: usize,
    profile: Option<&DriftProfile>,
) -> Result<(Dataset, Option<DriftReport>)> {
    let mut reader = LeadReader::new(source, spec, opts)?;
    let full = reader.schema().clone();
    let mut checker = profile.map(|p| p.checker(&full)).transpose()?;
    let mut reads = Vec::new();
    spec.label.columns(&mut reads);
    for r in &spec.rungs {
        r.better.columns(&mut reads);
        r.worse.columns(&mut reads);
    }
    for t in &spec.tiers {
        t.when.columns(&mut reads);
    }
    let mut keep = vec![false; full.columns.len()];
    for (name, _) in &reads {
        if let Some(i) = full.index(name) {
            keep[i] = true;
        }
    }
    for name in spec.columns.score.iter().chain(score_columns) {
        match full.index(name) {
            Some(i) => keep[i] = true,
            // The audit will fail naming the loaded columns: keep them all, so it names them
            // all.
            None => keep.iter_mut().for_each(|k| *k = true),
        }
    }
    let schema = Schema {
        columns: full
            .columns
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c.clone())
            .collect(),
    };
    let mut leads = Vec::new();
    let mut fresh = Vec::new();
    while reader.read_batch(batch, &mut fresh, None)? > 0 {
        for mut lead in fresh.drain(..) {
            if let Some(c) = checker.as_mut() {
                c.add(&lead);
            }
            let values: Vec<_> = std::mem::take(&mut lead.values)
                .into_vec()
                .into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| v)
                .collect();
            lead.values = values.into_boxed_slice();
            leads.push(lead);
        }
    }
    let end = reader.finish()?;
    let data = Dataset {
        schema,
        leads,
        report: end.report,
    };
    Ok((data, checker.map(DriftChecker::finish)))
}

/// Runs the audit: recency, the hand tier sort (when the spec has tiers), random (optional), the
/// spec's score columns, the extra score columns and the external scores, in that order.
pub fn audit(spec: &Spec, data: &Dataset, opts: &AuditOptions) -> Result<AuditReport> {
    let ladder = Ladder::assign(spec, data)?;
    let labels_all = ladder.labels();
    let (subset, split) = match opts.temporal_split {
        Some(frac) => {
            let s = temporal_split(data, labels_all, frac)?;
            let summary = SplitSummary {
                kind: format!("temporal {:.0}:{:.0}", frac * 100.0, (1.0 - frac) * 100.0),
                cut_time: Some(format_rfc3339(s.cut_time)),
                train_n: s.train.len(),
                test_n: s.test.len(),
                train_positive_rate: s.train_positive_rate,
                test_positive_rate: s.test_positive_rate,
            };
            // Evaluate in file order, so ties break the same way with or without a split.
            let mut test = s.test;
            test.sort_unstable();
            (test, Some(summary))
        }
        None => ((0..data.len()).collect::<Vec<_>>(), None),
    };
    let pick = |xs: &[f64]| subset.iter().map(|&i| xs[i]).collect::<Vec<f64>>();
    let labels: Vec<bool> = subset.iter().map(|&i| labels_all[i]).collect();
    let positives = labels.iter().filter(|&&y| y).count();
    let mut report = AuditReport::new(
        opts.title.clone(),
        labels.len(),
        positives,
        opts.eval.clone(),
    );
    if let Some(s) = split {
        report = report.with_split(s);
    }
    let r = &data.report;
    if r.rows_skipped > 0 {
        report = report.with_note(format!(
            "{} of {} rows were skipped on reading ({} duplicate ids); see the ingest report",
            r.rows_skipped, r.rows_read, r.duplicate_ids
        ));
    }

    let mut methods: Vec<(String, Vec<f64>, Option<Vec<f64>>)> = Vec::new();
    methods.push((RECENCY.to_string(), pick(&baselines::recency(data)), None));
    if !spec.tiers.is_empty() {
        methods.push((
            HAND_TIER.to_string(),
            pick(&baselines::hand_tier(spec, data)),
            None,
        ));
    }
    if opts.include_random {
        methods.push((
            RANDOM.to_string(),
            pick(&baselines::random(data.len(), opts.eval.seed)),
            None,
        ));
    }
    let mut columns: Vec<&String> = spec.columns.score.iter().collect();
    for c in &opts.score_columns {
        if !columns
            .iter()
            .any(|s| crate::spec::normalize_name(s) == crate::spec::normalize_name(c))
        {
            columns.push(c);
        }
    }
    for col in columns {
        let e = baselines::existing_score(data, col)?;
        let missing_here = subset
            .iter()
            .filter(|&&i| e.scores[i] == f64::NEG_INFINITY)
            .count();
        if missing_here > 0 {
            report = report.with_note(format!(
                "`{}`: {missing_here} leads have no score and rank last",
                e.column
            ));
        }
        methods.push((e.column, pick(&e.scores), None));
    }
    for ext in &opts.external {
        if ext.scores.len() != data.len()
            || ext.probs.as_ref().is_some_and(|p| p.len() != data.len())
        {
            return Err(Error::InvalidArgument(format!(
                "score `{}` has {} values for {} leads",
                ext.name,
                ext.scores.len(),
                data.len()
            )));
        }
        methods.push((
            ext.name.clone(),
            pick(&ext.scores),
            ext.probs.as_deref().map(pick),
        ));
    }
    for (name, scores, probs) in methods {
        let m = evaluate(&name, &scores, &labels, probs.as_deref(), &opts.eval)
            .map_err(|e| Error::InvalidArgument(format!("evaluating `{name}`: {e}")))?;
        report = report.with_method(m);
    }
    Ok(report)
}
