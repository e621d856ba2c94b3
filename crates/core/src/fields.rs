//! Field tokens (`leadladder-prompt/2`): every structured input field of a lead becomes ONE token
//! the model reads directly, instead of `name: value` text spelled out digit by digit.
//!
//! A [`FieldCodec`] is fitted on the fit period only (never the validation or test leads) and
//! travels inside the model bundle, so the trainer, `leadladder rank` and the browser map a lead
//! to the same ids through [`FieldCodec::encode`]. Per input column, in schema order
//! (categorical, numeric and boolean columns as the spec lists them), the codec owns a
//! contiguous block of local ids:
//!
//! | kind | ids in the block |
//! |---|---|
//! | categorical | `0` missing, `1` other (unseen at fit time, or rarer than `min_count`), `2..` one per kept value |
//! | numeric | `0` missing, `1..=edges.len() + 1` the quantile bin (`1` = below the first edge) |
//! | numeric, with out-of-range tokens | `0` missing, `1` below the fitted range, `2` above it, `3..=edges.len() + 3` the quantile bin |
//! | boolean | `0` missing, `1` no, `2` yes |
//!
//! Numeric bins: up to `max_bins` quantiles of the fit period's finite values; the edges are the
//! distinct quantile values strictly above the minimum, and a value's bin is the number of edges
//! it reaches (`edge <= x`). Categorical values are compared by their rendered, trimmed text
//! ([`Value::render`]).
//!
//! Values outside the fitted range: without out-of-range tokens (`leadladder-prompt/2`) a
//! number below the fit period's minimum falls in the first bin and one above its maximum in the
//! last, so a model reads "far outside anything seen" as "at the edge of what was seen". With
//! them ([`FitOptions::out_of_range`], `leadladder-prompt/3`) the codec keeps each numeric
//! field's fitted range ([`Range`]) and such a value gets its field's `below` or `above` token,
//! which the trainer teaches the model to read as "this field is not to be trusted here" (field
//! dropout). A numeric field with no finite value in the fit period reads every number as
//! `above`.
//!
//! Local ids are offset by the caller (the model's vocabulary puts them after the byte-level BPE
//! of the dialogue). Deterministic: the same fit-period leads give the same codec.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::dataset::{Lead, Schema};
use crate::error::{Error, Result};
use crate::spec::Role;
use crate::value::Value;

/// The prompt version of field-token encodings (a bundle's `prompt_version`).
pub const FIELD_PROMPT_VERSION: &str = "leadladder-prompt/2";

/// The prompt version of field-token encodings with out-of-range tokens for numeric fields.
pub const FIELD_RANGE_PROMPT_VERSION: &str = "leadladder-prompt/3";

/// Fit settings of a [`FieldCodec`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Most quantile bins per numeric field (like a GBDT's histogram).
    pub max_bins: usize,
    /// A categorical value seen fewer times than this in the fit period reads as "other".
    pub min_count: usize,
    /// Most kept values per categorical field (the most frequent; the rest read as "other").
    pub max_values: usize,
    /// Numeric values outside the fitted range get their own `below` / `above` tokens instead
    /// of the edge bins (`leadladder-prompt/3`).
    #[serde(default)]
    pub out_of_range: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            max_bins: 64,
            min_count: 10,
            max_values: 512,
            out_of_range: false,
        }
    }
}

/// The fitted range of a numeric field: the smallest and largest finite value of the fit period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// Where a numeric value lies against a field's fitted range (see [`Field::locate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Missing,
    Below,
    Above,
    /// Inside the range: the quantile bin, `0..=edges.len()`.
    Bin(usize),
}

/// How one field maps to tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FieldKind {
    /// Kept values, sorted (byte order of the rendered text).
    Categorical { values: Vec<String> },
    /// Bin edges, strictly increasing and finite; with out-of-range tokens, the fitted range
    /// (`None` when the fit period had no finite value).
    Numeric {
        edges: Vec<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range: Option<Range>,
    },
    /// Yes / no.
    Boolean,
}

/// One input field of the codec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The spec's column name.
    pub name: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Numeric fields only: values outside the fitted range get the `below` / `above` tokens
    /// (local ids 1 and 2; the bins follow from 3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub out_of_range: bool,
}

/// Local id of a numeric field's `below` token (with out-of-range tokens).
pub const BELOW: usize = 1;
/// Local id of a numeric field's `above` token (with out-of-range tokens).
pub const ABOVE: usize = 2;
/// Local id of a categorical field's `other` token.
pub const OTHER: usize = 1;
/// Local id of every field's `missing` token.
pub const MISSING: usize = 0;

impl Field {
    /// Local ids this field owns.
    pub fn len(&self) -> usize {
        match &self.kind {
            FieldKind::Categorical { values } => 2 + values.len(),
            FieldKind::Numeric { edges, .. } => self.first_bin() + 1 + edges.len(),
            FieldKind::Boolean => 3,
        }
    }

    /// The local id of a numeric field's first bin: 1, or 3 after the out-of-range tokens.
    pub fn first_bin(&self) -> usize {
        if self.out_of_range { 3 } else { 1 }
    }

    /// Where `value` lies for a numeric field: missing (not a finite number), below or above
    /// the fitted range (only with out-of-range tokens), or in a bin. `None` for other kinds.
    pub fn locate(&self, value: &Value) -> Option<Place> {
        let FieldKind::Numeric { edges, range } = &self.kind else {
            return None;
        };
        let x = match value.as_f64() {
            Some(x) if x.is_finite() && !value.is_missing() => x,
            _ => return Some(Place::Missing),
        };
        if self.out_of_range {
            match range {
                Some(r) if x < r.min => return Some(Place::Below),
                Some(r) if x > r.max => return Some(Place::Above),
                Some(_) => {}
                None => return Some(Place::Above),
            }
        }
        Some(Place::Bin(edges.partition_point(|&e| e <= x)))
    }

    /// Never empty (every field has at least a missing token); here for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The id of `value` inside this field's block.
    pub fn local(&self, value: &Value) -> usize {
        match (&self.kind, value) {
            (_, Value::Missing) => MISSING,
            (FieldKind::Categorical { values }, v) => {
                let text = v.render();
                values
                    .binary_search_by(|probe| probe.as_str().cmp(text.trim()))
                    .map_or(OTHER, |i| i + 2)
            }
            (FieldKind::Numeric { .. }, v) => match self.locate(v) {
                Some(Place::Below) => BELOW,
                Some(Place::Above) => ABOVE,
                Some(Place::Bin(b)) => self.first_bin() + b,
                _ => MISSING,
            },
            (FieldKind::Boolean, v) => match v.as_bool() {
                Some(false) => 1,
                Some(true) => 2,
                None => 0,
            },
        }
    }

    /// A readable name of local id `k` (`channel=referral`, `calls_so_far∈[2, 3)`, …).
    pub fn token_name(&self, k: usize) -> String {
        let n = &self.name;
        match (&self.kind, k) {
            (_, 0) => format!("{n}=<missing>"),
            (FieldKind::Categorical { .. }, 1) => format!("{n}=<other>"),
            (FieldKind::Categorical { values }, k) => {
                format!("{n}={}", values.get(k - 2).map_or("?", String::as_str))
            }
            (FieldKind::Numeric { range, .. }, BELOW) if self.out_of_range => match range {
                Some(r) => format!("{n}<{} (below the fitted range)", r.min),
                None => format!("{n}=<outside the fitted range>"),
            },
            (FieldKind::Numeric { range, .. }, ABOVE) if self.out_of_range => match range {
                Some(r) => format!("{n}>{} (above the fitted range)", r.max),
                None => format!("{n}=<outside the fitted range>"),
            },
            (FieldKind::Numeric { edges, .. }, k) => {
                let bin = k - self.first_bin();
                let lo = (bin >= 1).then(|| edges.get(bin - 1)).flatten();
                let hi = edges.get(bin);
                match (lo, hi) {
                    (None, Some(h)) => format!("{n}<{h}"),
                    (Some(l), Some(h)) => format!("{n}∈[{l}, {h})"),
                    (Some(l), None) => format!("{n}>={l}"),
                    (None, None) => format!("{n}=<any>"),
                }
            }
            (FieldKind::Boolean, 1) => format!("{n}=no"),
            (FieldKind::Boolean, _) => format!("{n}=yes"),
        }
    }
}

/// The fitted field tables of a model: see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldCodec {
    /// The input fields, in schema order.
    pub fields: Vec<Field>,
}

fn is_input(role: Role) -> bool {
    matches!(role, Role::Categorical | Role::Numeric | Role::Boolean)
}

impl FieldCodec {
    /// Fits the tables on `leads` (the fit period) for every input column of `schema`.
    pub fn fit<'a>(
        schema: &Schema,
        leads: impl Iterator<Item = &'a Lead> + Clone,
        opts: &FitOptions,
    ) -> Result<Self> {
        if opts.max_bins < 1 {
            return Err(Error::Fields("field tokens need max_bins >= 1".into()));
        }
        let mut fields = Vec::new();
        for (ci, col) in schema.columns.iter().enumerate() {
            if !is_input(col.role) {
                continue;
            }
            let kind = match col.role {
                Role::Categorical => {
                    let mut counts: HashMap<String, usize> = HashMap::new();
                    for lead in leads.clone() {
                        let v = &lead.values[ci];
                        if !v.is_missing() {
                            *counts.entry(v.render().trim().to_string()).or_default() += 1;
                        }
                    }
                    let mut kept: Vec<(String, usize)> = counts
                        .into_iter()
                        .filter(|(_, c)| *c >= opts.min_count.max(1))
                        .collect();
                    // Most frequent first, ties by text, so the cap is deterministic.
                    kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    kept.truncate(opts.max_values);
                    let mut values: Vec<String> = kept.into_iter().map(|(v, _)| v).collect();
                    values.sort();
                    FieldKind::Categorical { values }
                }
                Role::Numeric => {
                    let mut xs: Vec<f64> = leads
                        .clone()
                        .filter_map(|l| l.values[ci].as_f64())
                        .filter(|x| x.is_finite())
                        .collect();
                    xs.sort_by(f64::total_cmp);
                    FieldKind::Numeric {
                        edges: quantile_edges(&xs, opts.max_bins),
                        range: match (opts.out_of_range, xs.first(), xs.last()) {
                            (true, Some(&min), Some(&max)) => Some(Range { min, max }),
                            _ => None,
                        },
                    }
                }
                _ => FieldKind::Boolean,
            };
            let out_of_range = opts.out_of_range && col.role == Role::Numeric;
            fields.push(Field {
                name: col.name.clone(),
                kind,
                out_of_range,
            });
        }
        Ok(Self { fields })
    }

    /// Total local ids of all fields.
    pub fn len(&self) -> usize {
        self.fields.iter().map(Field::len).sum()
    }

    /// True when the codec has no fields (a spec without structured inputs).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether any numeric field has out-of-range tokens.
    pub fn has_out_of_range(&self) -> bool {
        self.fields.iter().any(|f| f.out_of_range)
    }

    /// The prompt version this codec's ids follow: [`FIELD_RANGE_PROMPT_VERSION`] with
    /// out-of-range tokens, else [`FIELD_PROMPT_VERSION`].
    pub fn prompt_version(&self) -> &'static str {
        if self.has_out_of_range() {
            FIELD_RANGE_PROMPT_VERSION
        } else {
            FIELD_PROMPT_VERSION
        }
    }

    /// The first local id of each field's block.
    pub fn offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.fields
            .iter()
            .map(|f| {
                let o = at;
                at += f.len();
                o
            })
            .collect()
    }

    /// Checks that the codec is well formed (edges finite and increasing, values sorted and
    /// distinct) and that `schema`'s input columns are exactly its fields, in order.
    pub fn check(&self, schema: &Schema) -> Result<()> {
        for f in &self.fields {
            match &f.kind {
                FieldKind::Numeric { edges, range } => {
                    if edges.iter().any(|e| !e.is_finite())
                        || edges.windows(2).any(|w| w[0] >= w[1])
                    {
                        return Err(Error::Fields(format!(
                            "field `{}`: bin edges must be finite and strictly increasing",
                            f.name
                        )));
                    }
                    if let Some(r) = range {
                        let inside = edges.first().is_none_or(|&e| r.min < e)
                            && edges.last().is_none_or(|&e| e <= r.max);
                        if !(r.min.is_finite() && r.max.is_finite() && r.min <= r.max && inside) {
                            return Err(Error::Fields(format!(
                                "field `{}`: the fitted range [{}, {}] must be finite, ordered \
                                 and hold the bin edges",
                                f.name, r.min, r.max
                            )));
                        }
                        if !f.out_of_range {
                            return Err(Error::Fields(format!(
                                "field `{}`: a fitted range without out-of-range tokens",
                                f.name
                            )));
                        }
                    }
                }
                FieldKind::Categorical { values } => {
                    if values.windows(2).any(|w| w[0] >= w[1]) {
                        return Err(Error::Fields(format!(
                            "field `{}`: values must be sorted and distinct",
                            f.name
                        )));
                    }
                }
                FieldKind::Boolean => {}
            }
            if f.out_of_range && !matches!(f.kind, FieldKind::Numeric { .. }) {
                return Err(Error::Fields(format!(
                    "field `{}`: only numeric fields have out-of-range tokens",
                    f.name
                )));
            }
        }
        if self.fields.iter().any(|f| f.out_of_range)
            && self
                .fields
                .iter()
                .any(|f| matches!(f.kind, FieldKind::Numeric { .. }) && !f.out_of_range)
        {
            return Err(Error::Fields(
                "either every numeric field has out-of-range tokens or none has".into(),
            ));
        }
        let inputs: Vec<_> = schema.columns.iter().filter(|c| is_input(c.role)).collect();
        if inputs.len() != self.fields.len() {
            return Err(Error::Fields(format!(
                "the model reads {} input fields ({}) but the spec has {} ({})",
                self.fields.len(),
                self.fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                inputs.len(),
                inputs
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for (f, c) in self.fields.iter().zip(inputs) {
            let kind_ok = matches!(
                (&f.kind, c.role),
                (FieldKind::Categorical { .. }, Role::Categorical)
                    | (FieldKind::Numeric { .. }, Role::Numeric)
                    | (FieldKind::Boolean, Role::Boolean)
            );
            if f.name != c.name || !kind_ok {
                return Err(Error::Fields(format!(
                    "the model's field `{}` does not match the spec's {} column `{}`",
                    f.name,
                    c.role.name(),
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// The local ids of `lead`, one per field, in field order. `schema` must pass
    /// [`FieldCodec::check`] (the caller checks once per file, not per lead).
    pub fn encode(&self, schema: &Schema, lead: &Lead) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.fields.len());
        let mut fields = self.fields.iter();
        let mut offset = 0usize;
        for (col, v) in schema.columns.iter().zip(lead.values.iter()) {
            if !is_input(col.role) {
                continue;
            }
            let Some(f) = fields.next() else { break };
            out.push((offset + f.local(v)) as u32);
            offset += f.len();
        }
        out
    }

    /// The readable name of local id `id` (see [`Field::token_name`]), if it is in range.
    pub fn token_name(&self, id: usize) -> Option<String> {
        let mut at = 0;
        for f in &self.fields {
            if id < at + f.len() {
                return Some(f.token_name(id - at));
            }
            at += f.len();
        }
        None
    }

    /// JSON text (stored in a bundle's metadata).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Fields(format!("field codec to JSON: {e}")))
    }

    /// Parses JSON text written by [`FieldCodec::to_json`] and checks the tables' own form.
    pub fn from_json(text: &str) -> Result<Self> {
        let codec: Self = serde_json::from_str(text)
            .map_err(|e| Error::Fields(format!("field codec JSON: {e}")))?;
        codec.check(&Schema {
            columns: codec
                .fields
                .iter()
                .map(|f| crate::dataset::Column {
                    name: f.name.clone(),
                    header: f.name.clone(),
                    role: match f.kind {
                        FieldKind::Categorical { .. } => Role::Categorical,
                        FieldKind::Numeric { .. } => Role::Numeric,
                        FieldKind::Boolean => Role::Boolean,
                    },
                    kind: crate::spec::CellKind::Str,
                })
                .collect(),
        })?;
        Ok(codec)
    }
}

/// Distinct quantile values of sorted `xs` strictly above its minimum: at most `max_bins - 1`
/// edges, so at most `max_bins` bins.
fn quantile_edges(xs: &[f64], max_bins: usize) -> Vec<f64> {
    let Some(&min) = xs.first() else {
        return Vec::new();
    };
    let n = xs.len();
    let mut edges: Vec<f64> = Vec::new();
    for k in 1..max_bins {
        let q = xs[(k * n / max_bins).min(n - 1)];
        if q > min && edges.last().is_none_or(|&last| q > last) {
            edges.push(q);
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dataset::Column;
    use crate::spec::CellKind;

    fn schema() -> Schema {
        let col = |name: &str, role| Column {
            name: name.into(),
            header: name.into(),
            role,
            kind: CellKind::Str,
        };
        Schema {
            columns: vec![
                col("channel", Role::Categorical),
                col("dialogue", Role::Text),
                col("calls", Role::Numeric),
                col("outcome", Role::Outcome),
                col("visit", Role::Boolean),
            ],
        }
    }

    fn lead(row: u64, channel: &str, calls: Option<f64>, visit: Option<bool>) -> Lead {
        Lead {
            id: format!("L{row}").into(),
            created_at: row as i64,
            values: vec![
                if channel.is_empty() {
                    Value::Missing
                } else {
                    Value::Str(channel.into())
                },
                Value::Str("rep: hi".into()),
                calls.map_or(Value::Missing, Value::Num),
                Value::Str("open".into()),
                visit.map_or(Value::Missing, Value::Bool),
            ]
            .into_boxed_slice(),
            row,
        }
    }

    fn fit_leads() -> Vec<Lead> {
        (0..100)
            .map(|i| {
                let channel = match i % 10 {
                    0..=5 => "web",
                    6..=8 => "app",
                    _ => "rare", // 10 of them
                };
                lead(
                    i,
                    channel,
                    Some(f64::from((i % 5) as u32)),
                    Some(i % 2 == 0),
                )
            })
            .collect()
    }

    #[test]
    fn layout_and_encoding() {
        let opts = FitOptions {
            max_bins: 64,
            min_count: 11,
            max_values: 10,
            out_of_range: false,
        };
        let c = FieldCodec::fit(&schema(), fit_leads().iter(), &opts).unwrap();
        c.check(&schema()).unwrap();
        // channel: missing, other, app, web; calls: missing + bins of 0..4 (edges 1, 2, 3, 4);
        // visit: missing, no, yes.
        assert_eq!(
            c.fields[0].kind,
            FieldKind::Categorical {
                values: vec!["app".into(), "web".into()]
            }
        );
        assert_eq!(
            c.fields[1].kind,
            FieldKind::Numeric {
                edges: vec![1.0, 2.0, 3.0, 4.0],
                range: None
            }
        );
        assert_eq!(c.len(), 4 + 6 + 3);
        let ids = |l: &Lead| c.encode(&schema(), l);
        assert_eq!(
            ids(&lead(1, "web", Some(0.0), Some(true))),
            vec![3, 4 + 1, 10 + 2]
        );
        assert_eq!(
            ids(&lead(1, "app", Some(2.5), Some(false))),
            vec![2, 4 + 3, 10 + 1]
        );
        // Rare at fit time and unseen both read "other"; missing reads missing.
        assert_eq!(ids(&lead(1, "rare", None, None)), vec![1, 4, 10]);
        assert_eq!(ids(&lead(1, "never seen", None, None))[0], 1);
        assert_eq!(ids(&lead(1, "", None, None))[0], 0);
        // Outside the fitted range: the edge bins.
        assert_eq!(ids(&lead(1, "web", Some(-7.0), None))[1], 4 + 1);
        assert_eq!(ids(&lead(1, "web", Some(1e9), None))[1], 4 + 5);
        assert_eq!(ids(&lead(1, "web", Some(f64::NAN), None))[1], 4);
        assert_eq!(c.token_name(3).unwrap(), "channel=web");
        assert_eq!(c.token_name(5).unwrap(), "calls<1");
        assert_eq!(c.token_name(12).unwrap(), "visit=yes");
        assert_eq!(c.token_name(13), None);
    }

    #[test]
    fn json_round_trip_and_checks() {
        let c = FieldCodec::fit(&schema(), fit_leads().iter(), &FitOptions::default()).unwrap();
        let back = FieldCodec::from_json(&c.to_json().unwrap()).unwrap();
        assert_eq!(back, c);
        let mut bad = c.clone();
        bad.fields[1].kind = FieldKind::Numeric {
            edges: vec![2.0, 1.0],
            range: None,
        };
        let e = FieldCodec::from_json(&bad.to_json().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`calls`") && e.contains("increasing"), "{e}");
        let mut other = schema();
        other.columns[2].name = "calls_so_far".into();
        let e = c.check(&other).unwrap_err().to_string();
        assert!(e.contains("`calls`") && e.contains("calls_so_far"), "{e}");
    }

    #[test]
    fn out_of_range_tokens() {
        let opts = FitOptions {
            min_count: 11,
            max_values: 10,
            out_of_range: true,
            ..FitOptions::default()
        };
        let c = FieldCodec::fit(&schema(), fit_leads().iter(), &opts).unwrap();
        c.check(&schema()).unwrap();
        assert_eq!(c.prompt_version(), FIELD_RANGE_PROMPT_VERSION);
        assert_eq!(
            c.fields[1].kind,
            FieldKind::Numeric {
                edges: vec![1.0, 2.0, 3.0, 4.0],
                range: Some(Range { min: 0.0, max: 4.0 })
            }
        );
        // calls: missing, below, above, then the five bins.
        assert_eq!(c.fields[1].len(), 8);
        assert_eq!(c.len(), 4 + 8 + 3);
        let ids = |calls: Option<f64>| c.encode(&schema(), &lead(1, "web", calls, None))[1];
        assert_eq!(ids(None), 4);
        assert_eq!(ids(Some(f64::NAN)), 4);
        assert_eq!(ids(Some(-0.5)), 4 + 1, "below");
        assert_eq!(ids(Some(4.5)), 4 + 2, "above");
        assert_eq!(ids(Some(0.0)), 4 + 3, "the fitted minimum is in range");
        assert_eq!(ids(Some(4.0)), 4 + 7, "the fitted maximum is in range");
        assert_eq!(ids(Some(2.5)), 4 + 5);
        assert_eq!(c.token_name(5).unwrap(), "calls<0 (below the fitted range)");
        assert_eq!(c.token_name(6).unwrap(), "calls>4 (above the fitted range)");
        assert_eq!(c.token_name(7).unwrap(), "calls<1");
        assert_eq!(c.token_name(11).unwrap(), "calls>=4");
        // Round trip, and the old layout is still read as it was.
        let back = FieldCodec::from_json(&c.to_json().unwrap()).unwrap();
        assert_eq!(back, c);
        let old = FieldCodec::fit(&schema(), fit_leads().iter(), &FitOptions::default()).unwrap();
        assert_eq!(old.prompt_version(), FIELD_PROMPT_VERSION);
        assert!(!old.to_json().unwrap().contains("range"));
        // A codec whose numeric fields disagree is refused.
        let mut mixed = c.clone();
        mixed.fields.push(Field {
            name: "other".into(),
            kind: FieldKind::Numeric {
                edges: vec![],
                range: None,
            },
            out_of_range: false,
        });
        let e = FieldCodec::from_json(&mixed.to_json().unwrap()).unwrap_err();
        assert!(e.to_string().contains("every numeric field"), "{e}");
    }

    #[test]
    fn quantile_edges_cap_and_distinct() {
        let xs: Vec<f64> = (0..10_000).map(f64::from).collect();
        let e = quantile_edges(&xs, 64);
        assert_eq!(e.len(), 63);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert!(quantile_edges(&[], 64).is_empty());
        assert!(quantile_edges(&[3.0, 3.0, 3.0], 64).is_empty());
    }
}
