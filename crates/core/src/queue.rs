//! The ranked queue in memory: a lead file read for scoring, the model's scores, the queue
//! order, the reasons of the explained leads, the ranked CSV and the audit of the model against
//! the baselines.
//!
//! What the page holds. It is one of the two [`RankedStore`]s of the ranking pipeline
//! ([`crate::pipeline`]); `leadladder rank` keeps its rows on disk in the other
//! ([`crate::disk_queue::DiskQueue`]), and both give the same order and bytes for the same
//! scores. The model is not here: the pipeline's scoring steps fill a [`Queue`] through
//! [`Queue::leads`], [`RankedStore::set_scores`] (or [`Queue::set_scores_at`] a part at a time)
//! and [`Queue::set_reasons`]; everything else lives in this module and is tested without a
//! model.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::sync::OnceLock;

use serde::Serialize;

use crate::audit::{AuditOptions, ExternalScore, audit};
use crate::dataset::{IngestOptions, IngestReport, Lead, Schema};
use crate::drift::{DriftProfile, DriftReport};
use crate::error::{Error, Result};
use crate::export::{grade_for_rank, write_queue_csv_part};
use crate::ingest::{LeadKey, LeadParser, RawRows, read_csv, read_csv_keeping_text_checked};
use crate::mapping::renamed_header;
use crate::metrics::EvalConfig;
pub use crate::pipeline::Score;
use crate::pipeline::{LeadScorer, RankedStore, ScorePolicy, score_block};
use crate::spec::{Spec, normalize_name};

/// Queue order (indices into `leads`): rank score descending, then created_at descending (newer
/// first), then id ascending.
pub fn queue_order(leads: &[Lead], scores: &[Score]) -> Vec<usize> {
    order_by(leads.len().min(scores.len()), |i| {
        (scores[i].rank, leads[i].created_at, &leads[i].id)
    })
}

/// Indices `0..n` sorted by [`queue_cmp`] of what `key` gives for each.
fn order_by<'k>(n: usize, key: impl Fn(usize) -> (f32, i64, &'k str)) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| queue_cmp(key(a), key(b)));
    order
}

/// How two leads compare in the queue, each given as (rank score, created_at, id): `Less` when
/// `a` comes first. The one comparison behind [`queue_order`] and
/// [`crate::disk_queue::DiskQueue`].
pub fn queue_cmp(a: (f32, i64, &str), b: (f32, i64, &str)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0)
        .then_with(|| b.1.cmp(&a.1))
        .then_with(|| a.2.cmp(b.2))
}

/// What was read, as the page reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub rows: usize,
    pub skipped: u64,
    pub skipped_reasons: Vec<String>,
    pub encoding: String,
    pub delimiter: String,
    /// The file's own header.
    pub header: Vec<String>,
    pub unused_columns: Vec<String>,
    pub has_outcomes: bool,
    pub formula_cells: u64,
}

/// One lead of the ranked queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedLead {
    /// Index into the loaded leads.
    pub index: usize,
    pub id: String,
    /// 1-based place in the queue.
    pub rank: usize,
    pub score: f32,
    pub p_convert: f32,
    pub grade: String,
}

/// Raw cells of some leads, with the file's header.
#[derive(Debug, Clone, Serialize)]
pub struct RowsView {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One method's line in an audit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditMethod {
    /// The method's name, as `leadladder audit` names it ([`MODEL_METHOD`] for the model).
    pub name: String,
    /// True for the model's own line.
    pub model: bool,
    pub auc: f64,
    pub at_k: Vec<AuditAtK>,
}

/// Precision and lift in the top `k` percent.
#[derive(Debug, Clone, Serialize)]
pub struct AuditAtK {
    pub k: f64,
    pub precision: f64,
    pub lift: f64,
    /// Positives among the top `ceil(k/100 · n)` leads.
    pub hits: usize,
}

/// A method's lift curve: its P@K at fixed K values, in increasing K.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub name: String,
    pub model: bool,
    pub points: Vec<AuditAtK>,
}

/// An audit of the model's queue against the baselines.
#[derive(Debug, Clone, Serialize)]
pub struct AuditResult {
    pub n: usize,
    pub positives: usize,
    pub methods: Vec<AuditMethod>,
    pub curve: Vec<Curve>,
}

/// Name of the model's line in an audit: its column in the ranked CSV, so the numbers are those
/// of `leadladder audit --score score` on the export.
pub const MODEL_METHOD: &str = "score";

/// K values (percent) of the lift curve.
const CURVE_KS: [f64; 12] = [
    0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0,
];

/// A lead file read for scoring, and what the model has said about its leads so far.
///
/// The file is held once, as its decoded text, with each lead's place in it, id, created_at,
/// row and scores ([`crate::ingest::read_csv_keeping_text`]): a lead's cells are split again when they are
/// shown, searched or exported, and the lead parsed again when the model or an explanation
/// needs it. So a queue costs about the file, not the bytes plus a copy of every record, every
/// parsed lead and a search index.
#[derive(Debug)]
pub struct Queue {
    /// The file's decoded text and where each loaded lead's record lies in it.
    raw: RawRows,
    /// Per loaded lead: id, created_at and row.
    keys: Vec<LeadKey>,
    /// Turns a lead's record back into its [`Lead`].
    parser: LeadParser,
    report: IngestReport,
    /// The spec's names for the file's columns (the header, renamed by the mapping).
    names: Vec<String>,
    /// The options of the read; the audit reads the text again with them (as UTF-8).
    opts: IngestOptions,
    scores: Vec<Option<Score>>,
    reasons: Vec<Option<String>>,
    has_outcomes: bool,
    /// The queue order and every lead's score, once every lead is scored (cleared when a
    /// score changes).
    ranked: OnceLock<Ranked>,
    /// The file against the model's drift profile, when it was read with one.
    drift: Option<DriftReport>,
}

/// What every ordered view of a fully scored queue reads.
#[derive(Debug)]
struct Ranked {
    /// Indices of the leads, best first.
    order: Vec<usize>,
    /// Every lead's score, by index.
    scores: Vec<Score>,
}

impl Queue {
    /// Reads a lead file with the scoring columns of `spec` ([`Spec::scoring`]); `opts` may
    /// carry a column mapping ([`IngestOptions::rename`]).
    ///
    /// # Errors
    ///
    /// As [`read_csv`]; a bad mapping as [`crate::mapping::renamed_header`].
    pub fn read(spec: &Spec, bytes: Vec<u8>, opts: IngestOptions) -> Result<Self> {
        Self::read_checked(spec, bytes, opts, None)
    }

    /// [`Queue::read`] that also compares every lead with the model's drift profile while the
    /// file is read (no second pass); [`Queue::drift`] gives the report.
    ///
    /// # Errors
    ///
    /// As [`Queue::read`]; [`Error::Drift`] when the file lacks a field of the profile.
    pub fn read_checked(
        spec: &Spec,
        bytes: Vec<u8>,
        opts: IngestOptions,
        profile: Option<&DriftProfile>,
    ) -> Result<Self> {
        let (read, drift) = read_csv_keeping_text_checked(bytes, &spec.scoring(), &opts, profile)?;
        let raw = read.raw;
        let names = if opts.rename.is_empty() {
            raw.header.clone()
        } else {
            renamed_header(&raw.header, &opts.rename)?
        };
        let present: Vec<String> = names.iter().map(|h| normalize_name(h)).collect();
        let outcomes = spec.outcome_columns();
        let has_outcomes = !outcomes.is_empty()
            && outcomes
                .iter()
                .all(|c| present.contains(&normalize_name(c)));
        let n = read.keys.len();
        Ok(Self {
            raw,
            keys: read.keys,
            parser: read.parser,
            report: read.report,
            names,
            opts,
            scores: vec![None; n],
            reasons: vec![None; n],
            has_outcomes,
            ranked: OnceLock::new(),
            drift,
        })
    }

    /// How far the file lies from the model's training data, when it was read with a profile
    /// ([`Queue::read_checked`]).
    pub fn drift(&self) -> Option<&DriftReport> {
        self.drift.as_ref()
    }

    /// Leads loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no lead was loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The schema of the loaded leads (scoring columns only).
    pub fn schema(&self) -> &Schema {
        self.parser.schema()
    }

    /// What ingest saw.
    pub fn report(&self) -> &IngestReport {
        &self.report
    }

    /// The file's own header (what the export writes).
    pub fn header(&self) -> &[String] {
        &self.raw.header
    }

    /// True when the file has every outcome column of the spec, so it can be audited.
    pub fn has_outcomes(&self) -> bool {
        self.has_outcomes
    }

    /// The read as the page reports it.
    pub fn load_report(&self) -> LoadReport {
        let r = &self.report;
        LoadReport {
            rows: self.len(),
            skipped: r.rows_skipped,
            skipped_reasons: r.issues.iter().map(ToString::to_string).collect(),
            encoding: r.encoding.clone(),
            delimiter: r.delimiter.to_string(),
            header: self.raw.header.clone(),
            unused_columns: r.unused_columns.clone(),
            has_outcomes: self.has_outcomes,
            formula_cells: r.formula_like_cells,
        }
    }

    /// The lead at `index`.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] past the end.
    pub fn lead(&self, index: usize) -> Result<Lead> {
        let no_lead = || Error::NoLead {
            index,
            len: self.len(),
        };
        let key = self.keys.get(index).ok_or_else(no_lead)?;
        let record = self.raw.get(index).ok_or_else(no_lead)?;
        self.parser.parse(&record, key.row)
    }

    /// The id, created_at and row of the lead at `index`.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] past the end.
    pub fn key(&self, index: usize) -> Result<&LeadKey> {
        self.keys.get(index).ok_or(Error::NoLead {
            index,
            len: self.len(),
        })
    }

    /// Leads `range`, parsed again from their records (the queue keeps the file's text, not
    /// parsed leads: see [`Queue`]).
    ///
    /// # Errors
    ///
    /// [`Error::LeadRange`] for a range outside the loaded leads.
    pub fn leads(&self, range: Range<usize>) -> Result<Vec<Lead>> {
        self.check_range(&range)?;
        range.map(|i| self.lead(i)).collect()
    }

    /// Checks that `range` lies within the loaded leads.
    ///
    /// # Errors
    ///
    /// [`Error::LeadRange`] when it does not.
    pub fn check_range(&self, range: &Range<usize>) -> Result<()> {
        if range.start <= range.end && range.end <= self.len() {
            Ok(())
        } else {
            Err(Error::LeadRange {
                start: range.start,
                end: range.end,
                len: self.len(),
            })
        }
    }

    /// Raw cells of leads `[start, end)` (clamped to the loaded leads), with the file's header.
    pub fn rows(&self, start: usize, end: usize) -> RowsView {
        let end = end.min(self.len());
        let rows = (start.min(end)..end)
            .map(|i| {
                self.cells(i)
                    .map(|r| r.iter().map(str::to_string).collect())
                    .unwrap_or_default()
            })
            .collect();
        RowsView {
            header: self.raw.header.clone(),
            rows,
        }
    }

    /// The i-th lead's cells, split again from the file's text.
    fn cells(&self, i: usize) -> Option<std::borrow::Cow<'_, csv::StringRecord>> {
        self.raw.get(i)
    }

    /// For every loaded lead, the cells of `columns` (spec names, resolved through the mapping
    /// and matched like headers; an unknown column gives empty cells), each cut to `max_len`
    /// characters with `…`.
    pub fn summary(&self, columns: &[String], max_len: usize) -> Vec<Vec<String>> {
        let at: Vec<Option<usize>> = columns
            .iter()
            .map(|c| {
                let key = normalize_name(c);
                self.names.iter().position(|h| normalize_name(h) == key)
            })
            .collect();
        let limit = max_len.max(1);
        (0..self.len())
            .map(|i| {
                let record = self.cells(i);
                let cells: Vec<&str> = record
                    .as_deref()
                    .map(|r| r.iter().collect())
                    .unwrap_or_default();
                at.iter()
                    .map(|&c| {
                        let v = c.and_then(|c| cells.get(c).copied()).unwrap_or("");
                        if v.chars().count() > limit {
                            let cut: String = v.chars().take(limit).collect();
                            format!("{cut}…")
                        } else {
                            v.to_string()
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Indices of the leads whose cells contain every whitespace-separated word of `query`,
    /// ignoring case (a word matches inside one cell, never across two). Each call splits the
    /// records again rather than keeping a lower-cased copy of the file.
    pub fn filter(&self, query: &str) -> Vec<u32> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let mut text = String::new();
        (0..self.len())
            .filter(|&i| {
                text.clear();
                if let Some(record) = self.cells(i) {
                    for (k, cell) in record.iter().enumerate() {
                        if k > 0 {
                            text.push('\u{1}');
                        }
                        text.extend(cell.chars().flat_map(char::to_lowercase));
                    }
                }
                words.iter().all(|w| text.contains(w.as_str()))
            })
            .filter_map(|i| u32::try_from(i).ok())
            .collect()
    }

    /// Stores the scores of the leads at `indices` (the leads of one of the page's parts:
    /// [`crate::pipeline::ScorePolicy::parts`]); [`RankedStore::set_scores`] stores a range.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteScore`] naming the lead when a score is NaN or infinite (nothing of that
    /// call is stored after it), [`Error::NoLead`] for a bad index, [`Error::InvalidArgument`]
    /// when the two lists differ in length.
    pub fn set_scores_at(&mut self, indices: &[usize], scores: &[Score]) -> Result<()> {
        if indices.len() != scores.len() {
            return Err(Error::InvalidArgument(format!(
                "{} scores for {} leads",
                scores.len(),
                indices.len()
            )));
        }
        self.ranked = OnceLock::new();
        for (&i, s) in indices.iter().zip(scores) {
            self.store(i, s)?;
        }
        Ok(())
    }

    /// Scores every lead by `policy` with `scorer`, a block at a time ([`score_block`]: what
    /// the page's parts add up to) and stores the scores. `progress` gets the number of leads
    /// scored so far.
    ///
    /// # Errors
    ///
    /// As [`score_block`]; the queue's.
    pub fn score_with<S: LeadScorer>(
        &mut self,
        scorer: &S,
        policy: &ScorePolicy,
        progress: &mut dyn FnMut(usize),
    ) -> std::result::Result<(), S::Error> {
        let mut done = 0;
        for block in policy.blocks(self.len()) {
            let leads = self.leads(block.clone())?;
            let scores = score_block(scorer, policy, self.schema(), &leads, &mut |n| {
                progress(done + n);
            })?;
            RankedStore::set_scores(self, block.start, &scores)?;
            done += block.len();
        }
        Ok(())
    }

    /// Stores lead `i`'s score, checked finite.
    fn store(&mut self, i: usize, s: &Score) -> Result<()> {
        let key = self.key(i)?;
        s.check_for(&key.id, key.row)?;
        self.scores[i] = Some(*s);
        Ok(())
    }

    /// The scores of leads `range`, in order.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] for a range past the end, [`Error::NotScored`] naming the first lead
    /// of the range without a score.
    pub fn scores_of(&self, range: Range<usize>) -> Result<Vec<Score>> {
        self.check_range(&range)?;
        range
            .map(|i| {
                self.scores[i].ok_or_else(|| Error::NotScored {
                    index: i,
                    row: self.keys[i].row,
                })
            })
            .collect()
    }

    /// The score of the lead at `index`.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] past the end, [`Error::NotScored`] before it is scored.
    pub fn score(&self, index: usize) -> Result<Score> {
        let key = self.key(index)?;
        self.scores[index].ok_or(Error::NotScored {
            index,
            row: key.row,
        })
    }

    /// Every lead's score.
    ///
    /// # Errors
    ///
    /// [`Error::NotScored`] naming the first lead without one.
    pub fn scores(&self) -> Result<Vec<Score>> {
        self.scores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.ok_or_else(|| Error::NotScored {
                    index: i,
                    row: self.keys[i].row,
                })
            })
            .collect()
    }

    /// The queue order and the scores, computed once after the last score arrived.
    fn ranked(&self) -> Result<&Ranked> {
        if let Some(ranked) = self.ranked.get() {
            return Ok(ranked);
        }
        let scores = self.scores()?;
        let keys = &self.keys;
        let order = order_by(keys.len(), |i| {
            (scores[i].rank, keys[i].created_at, &keys[i].id)
        });
        Ok(self.ranked.get_or_init(|| Ranked { order, scores }))
    }

    /// The ranked queue, best first, with grades.
    ///
    /// # Errors
    ///
    /// [`Error::NotScored`] until every lead is scored.
    pub fn ranking(&self) -> Result<Vec<RankedLead>> {
        let Ranked { order, scores } = self.ranked()?;
        let n = order.len();
        Ok(order
            .iter()
            .enumerate()
            .map(|(k, &i)| RankedLead {
                index: i,
                id: self.keys[i].id.to_string(),
                rank: k + 1,
                score: scores[i].rank,
                p_convert: scores[i].p_convert,
                grade: grade_for_rank(k + 1, n).as_str().to_string(),
            })
            .collect())
    }

    /// Keeps a lead's reasons (one line, e.g. `budget_band (+0.41); …`) for the export.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] for a bad index.
    pub fn set_reasons(&mut self, index: usize, reasons: String) -> Result<()> {
        self.lead(index)?;
        self.reasons[index] = Some(reasons);
        Ok(())
    }

    /// Part of the ranked CSV ([`RankedStore::write_csv`] in the queue's own order): the header
    /// line when `part` starts at 0, then the leads at queue positions `part` (0-based, clamped
    /// to the queue). Parts written one after another give the whole export
    /// ([`Queue::export_csv`]), so an export can stream a part at a time.
    ///
    /// # Errors
    ///
    /// [`Error::NotScored`] until every lead is scored; as [`write_queue_csv_part`].
    pub fn write_csv_part(&self, w: impl Write, part: Range<usize>) -> Result<u64> {
        let Ranked { order, scores } = self.ranked()?;
        write_queue_csv_part(w, &self.raw.header, &self.raw, order, part, |i| {
            (scores[i].rank, scores[i].p_convert, self.reasons[i].clone())
        })
    }

    /// The whole ranked CSV as a string.
    ///
    /// # Errors
    ///
    /// As [`Queue::write_csv_part`].
    pub fn export_csv(&self) -> Result<String> {
        let mut out = Vec::new();
        self.write_csv_part(&mut out, 0..self.len())?;
        String::from_utf8(out).map_err(|e| Error::InvalidArgument(format!("export: {e}")))
    }

    /// P@K and AUC of the model against recency, the hand tier sort and the file's existing
    /// score columns, on every loaded lead (no split): the numbers `leadladder audit --score
    /// score` gives on the ranked CSV, plus lift-curve points. `k_percents` are echoed.
    ///
    /// # Errors
    ///
    /// [`Error::NoOutcomes`] when the file lacks the outcome columns, [`Error::NotScored`]
    /// until every lead is scored; as [`audit`].
    pub fn audit(&self, spec: &Spec, k_percents: &[f64]) -> Result<AuditResult> {
        if !self.has_outcomes {
            return Err(Error::NoOutcomes);
        }
        let scores = &self.ranked()?.scores;
        let present: Vec<String> = self.names.iter().map(|h| normalize_name(h)).collect();
        let mut audit_spec = spec.clone();
        audit_spec
            .columns
            .score
            .retain(|c| present.contains(&normalize_name(c)));
        // No baseline reads dialogue (unless a tier's condition does), and it is the bulk of a
        // file: the second read leaves it out.
        let mut tier_columns = Vec::new();
        for tier in &spec.tiers {
            tier.when.columns(&mut tier_columns);
        }
        audit_spec.columns.text.retain(|c| {
            let c = normalize_name(c);
            tier_columns.iter().any(|(t, _)| normalize_name(t) == c)
        });
        // The text as held (decoded): read again as UTF-8, with the same delimiter and mapping.
        let text = self.raw.text().unwrap_or_default();
        let opts = IngestOptions {
            encoding: Some("utf-8".into()),
            ..self.opts.clone()
        };
        let mut full = read_csv(text.as_bytes(), &audit_spec, &opts)?;
        let by_row: BTreeMap<u64, usize> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.row, i))
            .collect();
        // The queue's leads only: a row the scoring read skipped (under the skip policy) is not
        // in the queue, whatever the second read, which reads fewer columns, made of it.
        full.leads.retain(|lead| by_row.contains_key(&lead.row));
        let (model, probs): (Vec<f64>, Vec<f64>) = full
            .leads
            .iter()
            .filter_map(|lead| by_row.get(&lead.row))
            .map(|&i| (f64::from(scores[i].rank), f64::from(scores[i].p_convert)))
            .unzip();
        let mut ks: Vec<f64> = k_percents.to_vec();
        for k in CURVE_KS {
            if !ks.contains(&k) {
                ks.push(k);
            }
        }
        let opts = AuditOptions {
            eval: EvalConfig {
                k_percents: ks,
                bootstrap: 0,
                ..EvalConfig::default()
            },
            external: vec![ExternalScore {
                name: MODEL_METHOD.into(),
                scores: model,
                probs: Some(probs),
            }],
            title: "Audit of the loaded file".into(),
            ..AuditOptions::default()
        };
        let report = audit(&audit_spec, &full, &opts)?;
        let (methods, curve) = report
            .methods
            .iter()
            .map(|m| {
                // The method's P@K at the given K values.
                let at_k = |ks: &[f64]| -> Vec<AuditAtK> {
                    m.at_k
                        .iter()
                        .filter(|a| ks.contains(&a.k_percent))
                        .map(|a| AuditAtK {
                            k: a.k_percent,
                            precision: a.precision.value,
                            lift: a.lift,
                            hits: a.hits,
                        })
                        .collect()
                };
                let mut points = at_k(&CURVE_KS);
                points.sort_by(|a, b| a.k.total_cmp(&b.k));
                let model = m.name == MODEL_METHOD;
                let method = AuditMethod {
                    name: m.name.clone(),
                    model,
                    auc: m.auc.value,
                    at_k: at_k(k_percents),
                };
                let curve = Curve {
                    name: m.name.clone(),
                    model,
                    points,
                };
                (method, curve)
            })
            .unzip();
        Ok(AuditResult {
            n: report.n,
            positives: report.positives,
            methods,
            curve,
        })
    }
}

impl RankedStore for Queue {
    fn len(&self) -> usize {
        Queue::len(self)
    }

    fn set_scores(&mut self, start: usize, scores: &[Score]) -> Result<()> {
        let end = start.saturating_add(scores.len());
        self.check_range(&(start..end))?;
        self.ranked = OnceLock::new();
        for (i, s) in (start..end).zip(scores) {
            self.store(i, s)?;
        }
        Ok(())
    }

    fn order(&self) -> Result<Vec<u32>> {
        // At most u32::MAX leads: the page's filter and parts count them in u32 too.
        Ok(self.ranked()?.order.iter().map(|&i| i as u32).collect())
    }

    fn set_reasons(&mut self, index: usize, reasons: String) -> Result<()> {
        Queue::set_reasons(self, index, reasons)
    }

    fn write_csv(&self, w: &mut dyn Write, order: &[u32]) -> Result<u64> {
        let scores = &self.ranked()?.scores;
        let order: Vec<usize> = order.iter().map(|&i| i as usize).collect();
        write_queue_csv_part(
            w,
            &self.raw.header,
            &self.raw,
            &order,
            0..order.len(),
            |i| (scores[i].rank, scores[i].p_convert, self.reasons[i].clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dataset::Policy;
    use crate::testing::{csv, spec};

    /// A stand-in score per lead (the queue never looks inside the model).
    fn fake(i: usize) -> Score {
        let r = ((i * 37) % 101) as f32 / 10.0 - 5.0;
        Score {
            rank: r,
            logit: r,
            p_convert: 1.0 / (1.0 + (-r).exp()),
        }
    }

    fn scored(n: usize) -> Queue {
        let mut q = Queue::read(&spec(), csv(n), IngestOptions::default()).unwrap();
        assert!(q.has_outcomes());
        let idx: Vec<usize> = (0..q.len()).collect();
        let scores: Vec<Score> = idx.iter().map(|&i| fake(i)).collect();
        q.set_scores_at(&idx, &scores).unwrap();
        q
    }

    #[test]
    fn ranking_is_best_first_with_grades() {
        let q = scored(120);
        let ranked = q.ranking().unwrap();
        assert_eq!(ranked.len(), 120);
        for w in ranked.windows(2) {
            assert!(w[0].score >= w[1].score);
            assert_eq!(w[1].rank, w[0].rank + 1);
        }
        assert_eq!(
            (ranked[0].grade.as_str(), ranked[119].grade.as_str()),
            ("A", "D")
        );
        let mut seen: Vec<usize> = ranked.iter().map(|r| r.index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..120).collect::<Vec<_>>());
        assert_eq!(q.order().unwrap()[0] as usize, ranked[0].index);
    }

    #[test]
    fn ties_go_to_the_newer_lead_then_the_smaller_id() {
        let q = Queue::read(&spec(), csv(4), IngestOptions::default()).unwrap();
        let same = Score {
            rank: 1.0,
            logit: 1.0,
            p_convert: 0.5,
        };
        let order = queue_order(&q.leads(0..4).unwrap(), &[same; 4]);
        // created_at 2025-01-01..04: newest first.
        assert_eq!(order, vec![3, 2, 1, 0]);
    }

    #[test]
    fn unscored_and_non_finite_leads_are_refused() {
        let mut q = Queue::read(&spec(), csv(30), IngestOptions::default()).unwrap();
        q.set_scores_at(&[0, 1], &[fake(0), fake(1)]).unwrap();
        let err = q.ranking().unwrap_err().to_string();
        assert!(
            err.contains("lead 2") && err.contains("not scored"),
            "{err}"
        );
        assert!(q.export_csv().is_err());
        assert_eq!(q.rows(0, 5).rows.len(), 5);
        assert_eq!(q.rows(28, 99).rows.len(), 2);
        let (start, end) = (3, 2);
        assert!(q.leads(start..end).is_err() && q.leads(0..31).is_err());
        assert!(q.set_scores_at(&[0], &[]).is_err());
        assert!(q.set_scores_at(&[30], &[fake(0)]).is_err());
        let nan = Score {
            rank: f32::NAN,
            ..fake(0)
        };
        let err = q.set_scores_at(&[4], &[nan]).unwrap_err().to_string();
        assert!(err.contains("`L004`") && err.contains("row 5"), "{err}");
    }

    #[test]
    fn export_keeps_the_file_columns_adds_the_ranking_and_neutralises_formulas() {
        let mut q = scored(40);
        let first = q.ranking().unwrap()[0].clone();
        q.set_reasons(first.index, "channel (+0.50)".into())
            .unwrap();
        let out = q.export_csv().unwrap();
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap(),
            "lead_id,created_at,channel,dialogue,crm_score,outcome,rank,score,p_convert,grade,reasons"
        );
        let top = lines.next().unwrap();
        assert!(top.starts_with(first.id.as_str()), "{top}");
        assert!(top.ends_with(",A,channel (+0.50)"), "{top}");
        assert!(out.contains(",'=1+1,"), "formula cell not neutralised");
        assert_eq!(out.lines().count(), 41);
    }

    #[test]
    fn audit_names_the_model_and_echoes_k() {
        let q = scored(300);
        let ks = [1.0, 5.0, 12.5];
        let a = q.audit(&spec(), &ks).unwrap();
        assert_eq!(a.n, 300);
        let model = a.methods.iter().find(|m| m.name == MODEL_METHOD).unwrap();
        assert!(model.model);
        assert_eq!(a.methods.iter().filter(|m| m.model).count(), 1);
        let got: Vec<f64> = model.at_k.iter().map(|x| x.k).collect();
        assert_eq!(got, ks.to_vec());
        // hits at 12.5% are counted among the top ceil(0.125 · 300) = 38 leads.
        assert!(model.at_k[2].hits <= 38);
        let names: Vec<&str> = a.methods.iter().map(|m| m.name.as_str()).collect();
        assert!(
            names.contains(&"crm_score") && names.len() >= 4,
            "{names:?}"
        );
        let curve = a.curve.iter().find(|c| c.model).unwrap();
        assert!((curve.points.last().unwrap().lift - 1.0).abs() < 1e-9);
        // Without the outcome column there is nothing to audit against.
        let text = String::from_utf8(csv(20))
            .unwrap()
            .replace(",outcome\n", ",result\n");
        let q = Queue::read(&spec(), text.into_bytes(), IngestOptions::default()).unwrap();
        assert!(matches!(q.audit(&spec(), &ks), Err(Error::NoOutcomes)));
    }

    #[test]
    fn a_mapping_reads_renamed_columns_and_the_export_keeps_the_file_header() {
        let text = String::from_utf8(csv(20)).unwrap();
        let renamed = text
            .replacen("channel", "Source", 1)
            .replacen("outcome", "Result", 1);
        assert!(
            Queue::read(
                &spec(),
                renamed.clone().into_bytes(),
                IngestOptions::default()
            )
            .is_err()
        );
        let mut opts = IngestOptions {
            policy: Policy::Strict,
            ..IngestOptions::default()
        };
        opts.rename.insert("channel".into(), "Source".into());
        opts.rename.insert("outcome".into(), "Result".into());
        let mut q = Queue::read(&spec(), renamed.into_bytes(), opts).unwrap();
        let report = q.load_report();
        assert_eq!(report.rows, 20);
        assert!(report.header.contains(&"Source".to_string()));
        assert!(report.has_outcomes, "a mapped outcome column counts");
        let summary = q.summary(&["lead_id".into(), "channel".into(), "nope".into()], 2);
        assert_eq!(summary[0], vec!["L0…", "we…", ""]);
        let idx: Vec<usize> = (0..20).collect();
        let scores: Vec<Score> = idx.iter().map(|&i| fake(i)).collect();
        q.set_scores_at(&idx, &scores).unwrap();
        assert!(
            q.export_csv()
                .unwrap()
                .starts_with("lead_id,created_at,Source,")
        );
        assert_eq!(q.audit(&spec(), &[10.0]).unwrap().n, 20);
    }

    #[test]
    fn filter_finds_every_word_in_any_cell_ignoring_case() {
        let q = Queue::read(&spec(), csv(30), IngestOptions::default()).unwrap();
        assert_eq!(q.filter("l007"), vec![7]);
        let both = q.filter("WEB hello");
        let expected: Vec<u32> = (0..30u32).filter(|i| i % 3 == 0 && i % 11 != 0).collect();
        assert_eq!(both, expected);
        assert_eq!(q.filter("").len(), 30);
        assert!(q.filter("web phone").is_empty());
    }

    #[test]
    fn an_export_written_in_parts_is_the_whole_export() {
        let mut q = scored(57);
        q.set_reasons(3, "channel (+0.2)".into()).unwrap();
        let whole = q.export_csv().unwrap();
        for size in [1, 5, 56, 57, 100] {
            let mut parts = Vec::new();
            let mut start = 0;
            while start < q.len() {
                let rows = q.write_csv_part(&mut parts, start..start + size).unwrap();
                assert_eq!(rows as usize, size.min(q.len() - start));
                start += size;
            }
            assert_eq!(String::from_utf8(parts).unwrap(), whole, "parts of {size}");
        }
        // Past the end: nothing; a part not starting at 0 has no header line.
        let mut tail = Vec::new();
        assert_eq!(q.write_csv_part(&mut tail, 57..80).unwrap(), 0);
        assert!(tail.is_empty());
        q.write_csv_part(&mut tail, 56..57).unwrap();
        assert_eq!(String::from_utf8(tail).unwrap().lines().count(), 1);
    }

    #[test]
    fn a_file_in_another_encoding_is_kept_decoded_and_reads_the_same() {
        let utf8 = String::from_utf8(csv(40))
            .unwrap()
            .replace("hello", "你好 CAFÉ");
        let (gbk, _, bad) = encoding_rs::GB18030.encode(&utf8);
        assert!(!bad);
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(utf8.encode_utf16().flat_map(u16::to_le_bytes));
        let bom8 = [&[0xEF, 0xBB, 0xBF][..], utf8.as_bytes()].concat();
        let plain = Queue::read(&spec(), utf8.clone().into_bytes(), IngestOptions::default());
        let plain = plain.unwrap();
        for (name, bytes) in [
            ("gb18030", gbk.into_owned()),
            ("utf-16", utf16),
            ("bom", bom8),
        ] {
            let mut q = Queue::read(&spec(), bytes, IngestOptions::default()).unwrap();
            assert_eq!(
                q.leads(0..40).unwrap(),
                plain.leads(0..40).unwrap(),
                "{name}"
            );
            assert_eq!(q.rows(0, 40).rows, plain.rows(0, 40).rows, "{name}");
            assert_eq!(q.filter("café 你好"), plain.filter("café 你好"), "{name}");
            assert_eq!(q.header(), plain.header(), "{name}");
            let idx: Vec<usize> = (0..40).collect();
            let scores: Vec<Score> = idx.iter().map(|&i| fake(i)).collect();
            q.set_scores_at(&idx, &scores).unwrap();
            let export = q.export_csv().unwrap();
            assert!(export.contains("你好 CAFÉ"), "{name}");
            let audit = q.audit(&spec(), &[10.0]).unwrap();
            assert_eq!((audit.n, audit.positives), (40, 6), "{name}");
        }
    }

    #[test]
    fn the_audit_covers_the_queue_when_a_skipped_row_is_readable_without_its_dialogue() {
        // Row 3's dialogue holds a NUL: scoring (which reads the dialogue) skips the row; the
        // audit's second read leaves the dialogue out and would take it.
        let text = String::from_utf8(csv(30))
            .unwrap()
            .replacen("customer: hello", "bad\0cell", 1);
        let opts = IngestOptions {
            policy: Policy::Skip,
            ..IngestOptions::default()
        };
        let mut q = Queue::read(&spec(), text.into_bytes(), opts).unwrap();
        assert_eq!((q.len(), q.report().rows_skipped), (29, 1));
        let idx: Vec<usize> = (0..29).collect();
        let scores: Vec<Score> = idx.iter().map(|&i| fake(i)).collect();
        q.set_scores_at(&idx, &scores).unwrap();
        assert_eq!(q.audit(&spec(), &[10.0]).unwrap().n, 29);
    }
}
