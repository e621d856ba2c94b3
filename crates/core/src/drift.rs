//! Drift: how far a file being scored lies from the leads a model was trained on.
//!
//! A model learns from its fit period. When a file's fields no longer look like that period's
//! (a period-level index far outside its range, channels it never saw, a field that went
//! missing), its ranking may not hold, and nothing in the scores says so. A [`DriftProfile`] is
//! fitted once on the fit-period leads and travels in the model bundle; every scorer compares
//! the leads it reads against it, lead by lead, without holding the file:
//!
//! ```text
//! let profile = DriftProfile::fit(&schema, fit_leads)?;        // the trainer
//! let mut check = profile.checker(&file_schema)?;               // rank, audit, the page
//! for lead in leads { check.add(&lead); }
//! let report = check.finish();                                  // DriftReport
//! ```
//!
//! Per input field (the spec's categorical, numeric and boolean columns, in schema order) the
//! profile keeps the fit period's counts in buckets made by a [`FieldCodec`] of its own, fitted
//! with [`profile_fit_options`]: numeric fields get up to [`PROFILE_BINS`] quantile bins plus
//! `below` / `above` the fitted range and `missing`; categorical fields their most frequent
//! values plus `other` and `missing`; booleans no / yes / missing. The codec is stored inside the
//! profile, so a profile works for any bundle, text-encoded ones included. Categorical fields
//! also keep the fit period's distinct values (at most [`MAX_DISTINCT`]), so a value never seen
//! is told apart from a rare one and gets a bucket of its own (`unseen`); a field with more
//! distinct values keeps none, says so, and compares kept values against `other` only.
//!
//! The report gives per field the population stability index over the buckets,
//! `PSI = Σ (a_i − e_i) · ln(a_i / e_i)` with `e_i` the fit period's share of bucket `i` and
//! `a_i` the file's, each share floored at [`SHARE_FLOOR`] (an empty bucket would make the
//! logarithm infinite; the floored shares are not renormalised); the shares below and above
//! the fitted range (numeric), the share of unseen values and the most frequent of them
//! (categorical), and the missing share then and now. A field warns, in plain words naming it,
//! when its PSI exceeds [`PSI_WARN`], when more than [`OUT_OF_RANGE_WARN`] of the leads lie
//! outside its fitted range, or when more than [`UNSEEN_WARN`] have a value never seen. A file
//! of fewer than [`MIN_LEADS`] leads is too small to judge: the report says so and does not
//! warn.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::dataset::{Column, Lead, Schema};
use crate::error::{Error, Result};
use crate::fields::{FieldCodec, FieldKind, FitOptions, MISSING, OTHER, Range};
use crate::report::thousands;
use crate::spec::{CellKind, Role};
use crate::value::{Value, format_number};

/// The `format` of a serialised [`DriftProfile`].
pub const DRIFT_FORMAT: &str = "leadladder-drift/1";

/// Quantile bins per numeric field of a profile.
pub const PROFILE_BINS: usize = 10;

/// A field's PSI above this warns (0.1-0.25 is commonly read as a moderate shift, above 0.25 as
/// a large one).
pub const PSI_WARN: f64 = 0.25;

/// More than this share of leads outside a numeric field's fitted range warns.
pub const OUT_OF_RANGE_WARN: f64 = 0.20;

/// More than this share of leads with a categorical value never seen in the fit period warns.
pub const UNSEEN_WARN: f64 = 0.20;

/// Fewer leads than this are too few to judge drift: the report says so instead of warning.
pub const MIN_LEADS: u64 = 50;

/// Smallest share a bucket counts with in the PSI (empty buckets would make it infinite).
pub const SHARE_FLOOR: f64 = 1e-4;

/// Most distinct values a profile keeps per categorical field; a field with more keeps none.
pub const MAX_DISTINCT: usize = 1000;

/// Unseen values a report lists per field (the most frequent).
pub const TOP_UNSEEN: usize = 5;

/// Distinct unseen values a checker counts per field; later new ones are counted in the share
/// but not listed.
pub const MAX_TRACKED_UNSEEN: usize = 10_000;

/// What every scorer says when its bundle has no drift profile.
pub const UNAVAILABLE: &str = "drift check unavailable: this bundle was trained before \
                               leadladder stored its training data's distribution";

/// A file's drift check as the scorers hand it on (`leadladder rank --drift-json`, `audit
/// --json`, the page): the report's fields plus `"available": true`, or, for a bundle without a
/// profile, `{"available": false, "summary": UNAVAILABLE, "warnings": []}`.
pub fn check_json(report: Option<&DriftReport>) -> serde_json::Value {
    let mut value = match report.map(serde_json::to_value) {
        Some(Ok(v @ serde_json::Value::Object(_))) => v,
        _ => serde_json::json!({ "summary": UNAVAILABLE, "warnings": [] }),
    };
    if let serde_json::Value::Object(map) = &mut value {
        map.insert(
            "available".into(),
            serde_json::Value::Bool(report.is_some()),
        );
    }
    value
}

/// The codec settings of a profile: [`PROFILE_BINS`] quantile bins and out-of-range buckets.
pub fn profile_fit_options() -> FitOptions {
    FitOptions {
        max_bins: PROFILE_BINS,
        out_of_range: true,
        ..FitOptions::default()
    }
}

/// The fit period of one field: its leads per bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldCounts {
    /// The spec's column name (the codec's field of the same place).
    pub name: String,
    /// Fit-period leads per bucket: one count per local id of the codec's field.
    pub counts: Vec<u64>,
    /// Categorical fields: how many distinct values the fit period had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// Categorical fields with at most [`MAX_DISTINCT`] distinct values: all of them, sorted
    /// (byte order of the rendered, trimmed text). `None`: not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Vec<String>>,
}

/// The fit period's per-field distributions (see the module docs). Serialised as JSON in a
/// bundle's `drift_profile` metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftProfile {
    /// Always [`DRIFT_FORMAT`].
    pub format: String,
    /// Fit-period leads.
    pub leads: u64,
    /// The buckets: one field per input column.
    pub codec: FieldCodec,
    /// The counts, parallel to `codec.fields`.
    pub fields: Vec<FieldCounts>,
}

fn is_input(role: Role) -> bool {
    matches!(role, Role::Categorical | Role::Numeric | Role::Boolean)
}

fn kind_name(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Categorical { .. } => "categorical",
        FieldKind::Numeric { .. } => "numeric",
        FieldKind::Boolean => "boolean",
    }
}

fn role_of(kind: &FieldKind) -> Role {
    match kind {
        FieldKind::Categorical { .. } => Role::Categorical,
        FieldKind::Numeric { .. } => Role::Numeric,
        FieldKind::Boolean => Role::Boolean,
    }
}

/// A categorical value as the codec compares it.
fn category(v: &Value) -> String {
    v.render().trim().to_string()
}

impl DriftProfile {
    /// Fits the profile on `leads` (the fit period: the leads the model was trained on) for
    /// every input column of `schema`.
    ///
    /// # Errors
    ///
    /// [`Error::Drift`] when `leads` is empty.
    pub fn fit<'a>(schema: &Schema, leads: impl Iterator<Item = &'a Lead> + Clone) -> Result<Self> {
        let codec = FieldCodec::fit(schema, leads.clone(), &profile_fit_options())?;
        let columns: Vec<usize> = schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| is_input(c.role))
            .map(|(i, _)| i)
            .collect();
        let mut counts: Vec<Vec<u64>> = codec.fields.iter().map(|f| vec![0; f.len()]).collect();
        let mut distinct: Vec<Option<HashSet<String>>> = codec
            .fields
            .iter()
            .map(|f| matches!(f.kind, FieldKind::Categorical { .. }).then(HashSet::new))
            .collect();
        let mut n = 0u64;
        for lead in leads {
            n += 1;
            for (k, f) in codec.fields.iter().enumerate() {
                let v = columns
                    .get(k)
                    .and_then(|&c| lead.values.get(c))
                    .unwrap_or(&Value::Missing);
                if let Some(c) = counts.get_mut(k).and_then(|c| c.get_mut(f.local(v))) {
                    *c += 1;
                }
                if let Some(Some(set)) = distinct.get_mut(k)
                    && !v.is_missing()
                {
                    set.insert(category(v));
                }
            }
        }
        if n == 0 {
            return Err(Error::Drift(
                "no leads to fit a drift profile on (the fit period is empty)".into(),
            ));
        }
        let fields = codec
            .fields
            .iter()
            .zip(counts)
            .zip(distinct)
            .map(|((f, counts), set)| {
                let (distinct, seen) = match set {
                    Some(set) => {
                        let count = set.len() as u64;
                        let seen = (set.len() <= MAX_DISTINCT).then(|| {
                            let mut v: Vec<String> = set.into_iter().collect();
                            v.sort();
                            v
                        });
                        (Some(count), seen)
                    }
                    None => (None, None),
                };
                FieldCounts {
                    name: f.name.clone(),
                    counts,
                    distinct,
                    seen,
                }
            })
            .collect();
        Ok(Self {
            format: DRIFT_FORMAT.to_string(),
            leads: n,
            codec,
            fields,
        })
    }

    /// The input fields, by name.
    pub fn field_names(&self) -> Vec<&str> {
        self.codec.fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// Checks the profile's own form: its format, its codec's tables, one count per bucket of
    /// every field adding up to the fit period's leads, and the seen values sorted and distinct.
    ///
    /// # Errors
    ///
    /// [`Error::Drift`] naming the field at fault.
    pub fn check(&self) -> Result<()> {
        if self.format != DRIFT_FORMAT {
            return Err(Error::Drift(format!(
                "unknown profile format {:?} (expected {DRIFT_FORMAT:?})",
                self.format
            )));
        }
        let own = Schema {
            columns: self
                .codec
                .fields
                .iter()
                .map(|f| Column {
                    name: f.name.clone(),
                    header: f.name.clone(),
                    role: role_of(&f.kind),
                    kind: CellKind::Str,
                })
                .collect(),
        };
        self.codec
            .check(&own)
            .map_err(|e| Error::Drift(format!("the profile's buckets: {e}")))?;
        if self.fields.len() != self.codec.fields.len() {
            return Err(Error::Drift(format!(
                "{} fields of counts for {} fields of buckets",
                self.fields.len(),
                self.codec.fields.len()
            )));
        }
        if self.leads == 0 {
            return Err(Error::Drift("a profile of no leads".into()));
        }
        for (f, c) in self.codec.fields.iter().zip(&self.fields) {
            if c.name != f.name {
                return Err(Error::Drift(format!(
                    "counts for field `{}` stand where field `{}` is",
                    c.name, f.name
                )));
            }
            if c.counts.len() != f.len() {
                return Err(Error::Drift(format!(
                    "field `{}`: {} counts for {} buckets",
                    f.name,
                    c.counts.len(),
                    f.len()
                )));
            }
            let total = c.counts.iter().try_fold(0u64, |a, &b| a.checked_add(b));
            if total != Some(self.leads) {
                return Err(Error::Drift(format!(
                    "field `{}`: the counts do not add up to the profile's {} leads",
                    f.name, self.leads
                )));
            }
            let categorical = matches!(f.kind, FieldKind::Categorical { .. });
            if !categorical && (c.seen.is_some() || c.distinct.is_some()) {
                return Err(Error::Drift(format!(
                    "field `{}`: only categorical fields keep their values",
                    f.name
                )));
            }
            if let Some(seen) = &c.seen {
                if seen.len() > MAX_DISTINCT || seen.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::Drift(format!(
                        "field `{}`: the seen values must be sorted, distinct and at most \
                         {MAX_DISTINCT}",
                        f.name
                    )));
                }
                if c.distinct != Some(seen.len() as u64) {
                    return Err(Error::Drift(format!(
                        "field `{}`: {} seen values kept but {:?} distinct",
                        f.name,
                        seen.len(),
                        c.distinct
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks that `inputs` (name and role of each structured input column, in spec order) are
    /// exactly the profile's fields.
    ///
    /// # Errors
    ///
    /// [`Error::Drift`] naming the first field that differs.
    pub fn check_inputs(&self, inputs: &[(String, Role)]) -> Result<()> {
        let ours: Vec<(&str, Role)> = self
            .codec
            .fields
            .iter()
            .map(|f| (f.name.as_str(), role_of(&f.kind)))
            .collect();
        let theirs: Vec<(&str, Role)> = inputs
            .iter()
            .filter(|(_, r)| is_input(*r))
            .map(|(n, r)| (n.as_str(), *r))
            .collect();
        if ours != theirs {
            let show = |v: &[(&str, Role)]| {
                v.iter()
                    .map(|(n, r)| format!("{n} ({})", r.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::Drift(format!(
                "the profile is of the fields [{}] but the model reads [{}]",
                show(&ours),
                show(&theirs)
            )));
        }
        Ok(())
    }

    /// JSON text (a bundle's `drift_profile` metadata).
    ///
    /// # Errors
    ///
    /// [`Error::Drift`] if serialisation fails.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Drift(format!("profile to JSON: {e}")))
    }

    /// Parses JSON written by [`DriftProfile::to_json`] and checks it ([`DriftProfile::check`]).
    ///
    /// # Errors
    ///
    /// [`Error::Drift`] saying what is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        let p: Self =
            serde_json::from_str(text).map_err(|e| Error::Drift(format!("profile JSON: {e}")))?;
        p.check()?;
        Ok(p)
    }

    /// A streaming comparison of leads read with `schema` against this profile.
    ///
    /// # Errors
    ///
    /// [`Error::Drift`] naming a field of the profile that `schema` lacks, or reads with another
    /// role.
    pub fn checker(&self, schema: &Schema) -> Result<DriftChecker<'_>> {
        let mut columns = Vec::with_capacity(self.codec.fields.len());
        for f in &self.codec.fields {
            let Some(i) = schema.index(&f.name) else {
                return Err(Error::Drift(format!(
                    "field `{}`, which the model was trained on, is not among this file's \
                     columns ({})",
                    f.name,
                    schema
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let role = schema.columns.get(i).map(|c| c.role);
            if role != Some(role_of(&f.kind)) {
                return Err(Error::Drift(format!(
                    "field `{}` was {} in the training data but is read as {} here",
                    f.name,
                    kind_name(&f.kind),
                    role.map_or("nothing", Role::name)
                )));
            }
            columns.push(i);
        }
        Ok(DriftChecker {
            profile: self,
            columns,
            counts: self
                .fields
                .iter()
                .map(|f| vec![0; f.counts.len() + usize::from(f.seen.is_some())])
                .collect(),
            unseen: self.fields.iter().map(|_| HashMap::new()).collect(),
            leads: 0,
        })
    }
}

/// Compares leads one at a time against a [`DriftProfile`] ([`DriftProfile::checker`]); keeps
/// per field a count per bucket and the unseen values, never the leads.
#[derive(Debug, Clone)]
pub struct DriftChecker<'p> {
    profile: &'p DriftProfile,
    /// Schema index of each field.
    columns: Vec<usize>,
    /// Per field: leads per bucket (the codec's, then `unseen` for fields that keep their
    /// values).
    counts: Vec<Vec<u64>>,
    /// Per categorical field: unseen values and their leads (at most [`MAX_TRACKED_UNSEEN`]).
    unseen: Vec<HashMap<String, u64>>,
    leads: u64,
}

impl DriftChecker<'_> {
    /// Counts one lead (read with the schema the checker was made for).
    pub fn add(&mut self, lead: &Lead) {
        self.leads += 1;
        let fields = self.profile.codec.fields.iter().zip(&self.profile.fields);
        for (k, (f, fc)) in fields.enumerate() {
            let v = self
                .columns
                .get(k)
                .and_then(|&c| lead.values.get(c))
                .unwrap_or(&Value::Missing);
            let mut bucket = f.local(v);
            if bucket == OTHER
                && let (Some(seen), FieldKind::Categorical { .. }) = (&fc.seen, &f.kind)
                && !v.is_missing()
            {
                let text = category(v);
                if seen.binary_search(&text).is_err() {
                    bucket = fc.counts.len();
                    if let Some(map) = self.unseen.get_mut(k) {
                        let tracked = map.len() < MAX_TRACKED_UNSEEN;
                        match map.get_mut(&text) {
                            Some(c) => *c += 1,
                            None if tracked => {
                                map.insert(text, 1);
                            }
                            None => {}
                        }
                    }
                }
            }
            if let Some(c) = self.counts.get_mut(k).and_then(|c| c.get_mut(bucket)) {
                *c += 1;
            }
        }
    }

    /// Leads counted so far.
    pub fn leads(&self) -> u64 {
        self.leads
    }

    /// The report over every lead added.
    pub fn finish(self) -> DriftReport {
        let p = self.profile;
        let n = self.leads;
        let judged = n >= MIN_LEADS;
        let fields: Vec<FieldDrift> = p
            .codec
            .fields
            .iter()
            .zip(&p.fields)
            .zip(self.counts)
            .zip(self.unseen)
            .map(|(((f, fc), now), unseen)| field_drift(f, fc, p.leads, &now, unseen, n, judged))
            .collect();
        let warnings: Vec<String> = fields.iter().filter_map(|f| f.warning.clone()).collect();
        let summary = if n == 0 {
            "drift check: no leads were read".to_string()
        } else if !judged {
            format!(
                "drift check: only {} leads, too few to judge drift (at least {MIN_LEADS} are \
                 needed)",
                thousands(n)
            )
        } else if warnings.is_empty() {
            format!(
                "drift check: no drift found ({} fields, {} leads against {} training leads)",
                fields.len(),
                thousands(n),
                thousands(p.leads)
            )
        } else {
            format!(
                "drift check: {} of {} fields have drifted from the {} training leads ({} \
                 leads checked)",
                warnings.len(),
                fields.len(),
                thousands(p.leads),
                thousands(n)
            )
        };
        DriftReport {
            leads: n,
            fit_leads: p.leads,
            judged,
            thresholds: Thresholds::default(),
            summary,
            warnings,
            fields,
        }
    }
}

/// The thresholds a report was judged with (the module's constants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// [`PSI_WARN`].
    pub psi: f64,
    /// [`OUT_OF_RANGE_WARN`].
    pub out_of_range: f64,
    /// [`UNSEEN_WARN`].
    pub unseen: f64,
    /// [`MIN_LEADS`].
    pub min_leads: u64,
    /// [`SHARE_FLOOR`].
    pub share_floor: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            psi: PSI_WARN,
            out_of_range: OUT_OF_RANGE_WARN,
            unseen: UNSEEN_WARN,
            min_leads: MIN_LEADS,
            share_floor: SHARE_FLOOR,
        }
    }
}

/// One bucket of a field: its share in the fit period and in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// What it holds (`rate_index<2.31 (below the fitted range)`, `channel=web`, …).
    pub name: String,
    /// Share of the fit period's leads.
    pub then: f64,
    /// Share of the file's leads.
    pub now: f64,
}

/// An unseen categorical value and the leads that have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnseenValue {
    pub value: String,
    pub leads: u64,
}

/// How one field compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDrift {
    pub name: String,
    /// `categorical`, `numeric` or `boolean`.
    pub kind: String,
    /// Population stability index over the buckets; `None` when no lead was read.
    pub psi: Option<f64>,
    /// Share of missing values in the fit period.
    pub missing_then: f64,
    /// Share of missing values in the file.
    pub missing_now: f64,
    /// Numeric fields: the fitted range (`None` when the fit period had no number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// Numeric fields: share of the file's leads below the fitted range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Numeric fields: share of the file's leads above the fitted range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// Categorical fields that keep their values: share of the file's leads with a value never
    /// seen in the fit period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unseen: Option<f64>,
    /// The most frequent unseen values (at most [`TOP_UNSEEN`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_unseen: Vec<UnseenValue>,
    /// Every bucket, with its shares then and now.
    pub buckets: Vec<Bucket>,
    /// What the numbers cannot say (e.g. a field with too many values to keep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The warning, in plain words naming the field, when it drifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A file compared against a [`DriftProfile`] ([`DriftChecker::finish`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Leads checked.
    pub leads: u64,
    /// Leads of the fit period.
    pub fit_leads: u64,
    /// Whether there were enough leads ([`MIN_LEADS`]) to judge; without, no field warns.
    pub judged: bool,
    pub thresholds: Thresholds,
    /// One line: no drift found, how many fields drifted, or too few leads to judge.
    pub summary: String,
    /// The fields' warnings, in field order.
    pub warnings: Vec<String>,
    /// Every input field, in schema order.
    pub fields: Vec<FieldDrift>,
}

impl DriftReport {
    /// True when some field warns.
    pub fn drifted(&self) -> bool {
        !self.warnings.is_empty()
    }

    /// The lines a terminal shows: the warnings, or the summary when there are none; the
    /// summary first when there are.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![self.summary.clone()];
        out.extend(self.warnings.iter().map(|w| format!("  {w}")));
        out
    }

    /// Pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if serialisation fails.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Markdown: a heading, the summary, the warnings as a list, and a table of every field.
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("## Drift from the training data\n\n");
        let _ = writeln!(out, "{}\n", self.summary);
        for w in &self.warnings {
            let _ = writeln!(out, "- {w}");
        }
        if !self.warnings.is_empty() {
            out.push('\n');
        }
        out.push_str(
            "| Field | Kind | PSI | Missing then | Missing now | Outside range | Unseen |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|\n");
        for f in &self.fields {
            let outside = match (f.below, f.above) {
                (Some(b), Some(a)) => percent(b + a),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.name.replace('|', "\\|"),
                f.kind,
                f.psi.map_or("-".to_string(), |p| format!("{p:.3}")),
                percent(f.missing_then),
                percent(f.missing_now),
                outside,
                f.unseen.map_or("-".to_string(), percent)
            );
        }
        out
    }
}

/// The population stability index of two distributions over the same buckets, given as counts
/// (`expected` of the fit period, `actual` of the file): shares floored at [`SHARE_FLOOR`].
/// `None` when either has no count.
pub fn psi(expected: &[u64], actual: &[u64]) -> Option<f64> {
    let (te, ta) = (expected.iter().sum::<u64>(), actual.iter().sum::<u64>());
    if te == 0 || ta == 0 {
        return None;
    }
    let n = expected.len().max(actual.len());
    let mut total = 0.0;
    for i in 0..n {
        let e = (expected.get(i).copied().unwrap_or(0) as f64 / te as f64).max(SHARE_FLOOR);
        let a = (actual.get(i).copied().unwrap_or(0) as f64 / ta as f64).max(SHARE_FLOOR);
        total += (a - e) * (a / e).ln();
    }
    Some(total)
}

fn share(count: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        count as f64 / of as f64
    }
}

/// `12%`; `under 1%` and `over 99%` where rounding would say 0% or 100%.
fn percent(x: f64) -> String {
    let p = x * 100.0;
    if p > 0.0 && p < 0.5 {
        "under 1%".into()
    } else if (99.5..100.0).contains(&p) {
        "over 99%".into()
    } else {
        format!("{p:.0}%")
    }
}

const RISK: &str = "the ranking may not hold.";

fn field_drift(
    f: &crate::fields::Field,
    fc: &FieldCounts,
    fit_leads: u64,
    now: &[u64],
    unseen: HashMap<String, u64>,
    n: u64,
    judged: bool,
) -> FieldDrift {
    let name = &f.name;
    let count = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    let mut expected = fc.counts.clone();
    if fc.seen.is_some() {
        expected.push(0);
    }
    let mut buckets: Vec<Bucket> = (0..expected.len())
        .map(|i| Bucket {
            name: if i < fc.counts.len() {
                f.token_name(i)
            } else {
                format!("{name}=<never seen in training>")
            },
            then: share(count(&expected, i), fit_leads),
            now: share(count(now, i), n),
        })
        .collect();
    if fc.seen.is_some()
        && let Some(b) = buckets.get_mut(OTHER)
    {
        b.name = format!("{name}=<other, seen in training>");
    }
    let mut d = FieldDrift {
        name: name.clone(),
        kind: kind_name(&f.kind).to_string(),
        psi: psi(&expected, now),
        missing_then: share(count(&expected, MISSING), fit_leads),
        missing_now: share(count(now, MISSING), n),
        range: None,
        below: None,
        above: None,
        unseen: None,
        top_unseen: Vec::new(),
        buckets,
        note: None,
        warning: None,
    };
    let mut outside = None;
    match &f.kind {
        FieldKind::Numeric { range, .. } if f.out_of_range => {
            let (b, a) = (
                share(count(now, crate::fields::BELOW), n),
                share(count(now, crate::fields::ABOVE), n),
            );
            d.range = *range;
            d.below = Some(b);
            d.above = Some(a);
            outside = Some(b + a);
        }
        FieldKind::Categorical { .. } => match &fc.seen {
            Some(_) => {
                d.unseen = Some(share(count(now, fc.counts.len()), n));
                let mut top: Vec<(String, u64)> = unseen.into_iter().collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                d.top_unseen = top
                    .into_iter()
                    .take(TOP_UNSEEN)
                    .map(|(value, leads)| UnseenValue { value, leads })
                    .collect();
            }
            None => {
                d.note = Some(format!(
                    "{name}: the training data had {} distinct values, more than the {} a \
                     profile keeps, so values never seen are not told apart from rare ones",
                    thousands(fc.distinct.unwrap_or(0)),
                    thousands(MAX_DISTINCT as u64)
                ));
            }
        },
        _ => {}
    }
    if !judged {
        return d;
    }
    d.warning = if let Some(out) = outside.filter(|&o| o > OUT_OF_RANGE_WARN) {
        let (b, a) = (d.below.unwrap_or(0.0), d.above.unwrap_or(0.0));
        let detail = match d.range {
            None => "the training data had no numbers here".to_string(),
            Some(Range { min, max }) => match (b > 0.0, a > 0.0) {
                (true, false) => format!("below {}", format_number(min)),
                (false, true) => format!("above {}", format_number(max)),
                _ => format!(
                    "{} below {}, {} above {}",
                    percent(b),
                    format_number(min),
                    percent(a),
                    format_number(max)
                ),
            },
        };
        Some(format!(
            "{name}: {} of these leads lie outside anything the model was trained on \
             ({detail}); {RISK}",
            percent(out)
        ))
    } else if let Some(u) = d.unseen.filter(|&u| u > UNSEEN_WARN) {
        let examples: Vec<String> = d
            .top_unseen
            .iter()
            .take(3)
            .map(|v| format!("{:?}", v.value))
            .collect();
        Some(format!(
            "{name}: {} of these leads have values the model never saw in training (e.g. {}); \
             {RISK}",
            percent(u),
            examples.join(", ")
        ))
    } else if let Some(p) = d.psi.filter(|&p| p > PSI_WARN) {
        let missing = if (d.missing_now - d.missing_then).abs() >= 0.1 {
            format!(
                "; missing in {} of these leads against {} in training",
                percent(d.missing_now),
                percent(d.missing_then)
            )
        } else {
            String::new()
        };
        Some(format!(
            "{name}: its values are spread differently from training (PSI {p:.2}, above \
             {PSI_WARN}{missing}); {RISK}"
        ))
    } else {
        None
    };
    d
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percent_never_rounds_to_the_ends() {
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.001), "under 1%");
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(0.999), "over 99%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(thousands(31_500), "31,500");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn psi_of_equal_distributions_is_zero_and_of_no_leads_is_none() {
        assert_eq!(psi(&[10, 20, 30], &[1, 2, 3]), Some(0.0));
        assert_eq!(psi(&[10, 20], &[0, 0]), None);
        assert_eq!(psi(&[], &[]), None);
    }
}
