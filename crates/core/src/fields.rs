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
//! | boolean | `0` missing, `1` no, `2` yes |
//!
//! Numeric bins: up to `max_bins` quantiles of the fit period's finite values; the edges are the
//! distinct quantile values strictly above the minimum, and a value's bin is the number of edges
//! it reaches (`edge <= x`). A value below the fitted range falls in the first bin and one above
//! it in the last, so scoring never meets an unknown number. Categorical values are compared by
//! their rendered, trimmed text ([`Value::render`]).
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

/// Fit settings of a [`FieldCodec`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Most quantile bins per numeric field (like a GBDT's histogram).
    pub max_bins: usize,
    /// A categorical value seen fewer times than this in the fit period reads as "other".
    pub min_count: usize,
    /// Most kept values per categorical field (the most frequent; the rest read as "other").
    pub max_values: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            max_bins: 64,
            min_count: 10,
            max_values: 512,
        }
    }
}

/// How one field maps to tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FieldKind {
    /// Kept values, sorted (byte order of the rendered text).
    Categorical { values: Vec<String> },
    /// Bin edges, strictly increasing and finite.
    Numeric { edges: Vec<f64> },
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
}

impl Field {
    /// Local ids this field owns.
    pub fn len(&self) -> usize {
        match &self.kind {
            FieldKind::Categorical { values } => 2 + values.len(),
            FieldKind::Numeric { edges } => 2 + edges.len(),
            FieldKind::Boolean => 3,
        }
    }

    /// Never empty (every field has at least a missing token); here for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The id of `value` inside this field's block.
    fn local(&self, value: &Value) -> usize {
        match (&self.kind, value) {
            (_, Value::Missing) => 0,
            (FieldKind::Categorical { values }, v) => {
                let text = v.render();
                values
                    .binary_search_by(|probe| probe.as_str().cmp(text.trim()))
                    .map_or(1, |i| i + 2)
            }
            (FieldKind::Numeric { edges }, v) => match v.as_f64() {
                Some(x) if x.is_finite() => 1 + edges.partition_point(|&e| e <= x),
                _ => 0,
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
            (FieldKind::Numeric { edges }, k) => {
                let lo = (k >= 2).then(|| edges.get(k - 2)).flatten();
                let hi = edges.get(k - 1);
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
                    }
                }
                _ => FieldKind::Boolean,
            };
            fields.push(Field {
                name: col.name.clone(),
                kind,
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
                FieldKind::Numeric { edges } => {
                    if edges.iter().any(|e| !e.is_finite())
                        || edges.windows(2).any(|w| w[0] >= w[1])
                    {
                        return Err(Error::Fields(format!(
                            "field `{}`: bin edges must be finite and strictly increasing",
                            f.name
                        )));
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
                edges: vec![1.0, 2.0, 3.0, 4.0]
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
    fn quantile_edges_cap_and_distinct() {
        let xs: Vec<f64> = (0..10_000).map(f64::from).collect();
        let e = quantile_edges(&xs, 64);
        assert_eq!(e.len(), 63);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert!(quantile_edges(&[], 64).is_empty());
        assert!(quantile_edges(&[3.0, 3.0, 3.0], 64).is_empty());
    }
}
