//! Occlusion explanations: which field or dialogue turn moves a lead's score the most.
//!
//! Each candidate factor is removed on its own — a field set to missing (rendered as
//! `unknown`), or one dialogue turn dropped — and the lead is re-scored. A factor's `delta` is
//! the full score minus the occluded score: positive when the factor pushes the lead up.

use leadladder_core::dataset::{Lead, Schema};
use leadladder_core::spec::Role;
use leadladder_core::value::Value;
use serde::Serialize;

/// What a factor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorKind {
    /// A structured field (one line of the prompt's field block).
    Field,
    /// One dialogue turn.
    Turn,
}

/// One reason: a field or turn and how much the rank score drops without it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// The column name (`budget_band`) or the turn (`dialogue turn 3: "…"`), as the export's
    /// `reasons` column names it (`factor` in JSON).
    #[serde(rename = "factor")]
    pub name: String,
    pub kind: FactorKind,
    /// Full rank score minus the score with this factor removed.
    pub delta: f32,
}

/// The reasons of one lead of a queue, by its index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub index: usize,
    pub reasons: Vec<Factor>,
}

/// Longest turn excerpt kept in a factor's name.
const EXCERPT_CHARS: usize = 48;

fn excerpt(turn: &str) -> String {
    let t: String = turn.chars().take(EXCERPT_CHARS).collect();
    if turn.chars().count() > EXCERPT_CHARS {
        format!("{t}…")
    } else {
        t
    }
}

/// The occluded variants of a lead: one per present input field (set to missing) and one per
/// dialogue turn (removed), each with its factor name and kind.
pub fn occlusions(
    schema: &Schema,
    lead: &Lead,
    turn_separator: &str,
) -> Vec<(String, FactorKind, Lead)> {
    let mut out = Vec::new();
    for (ci, col) in schema.columns.iter().enumerate() {
        let Some(value) = lead.values.get(ci) else {
            continue;
        };
        match col.role {
            Role::Categorical | Role::Numeric | Role::Boolean => {
                if value.is_missing() {
                    continue;
                }
                let mut l = lead.clone();
                let mut values = l.values.to_vec();
                values[ci] = Value::Missing;
                l.values = values.into_boxed_slice();
                out.push((col.name.clone(), FactorKind::Field, l));
            }
            Role::Text => {
                let Value::Str(text) = value else {
                    continue;
                };
                let turns: Vec<&str> = text
                    .split(turn_separator)
                    .filter(|t| !t.trim().is_empty())
                    .collect();
                for k in 0..turns.len() {
                    let kept: Vec<&str> = turns
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != k)
                        .map(|(_, t)| *t)
                        .collect();
                    let mut l = lead.clone();
                    let mut values = l.values.to_vec();
                    values[ci] = if kept.is_empty() {
                        Value::Missing
                    } else {
                        Value::Str(kept.join(turn_separator).into())
                    };
                    l.values = values.into_boxed_slice();
                    let name = format!(
                        "{} turn {}: \"{}\"",
                        col.name,
                        k + 1,
                        excerpt(turns[k].trim())
                    );
                    out.push((name, FactorKind::Turn, l));
                }
            }
            _ => {}
        }
    }
    out
}

/// Factors from the full score and each occluded score, biggest `|delta|` first (ties by
/// name), at most `top_n`.
pub fn rank_factors(
    base: f32,
    occluded: &[(String, FactorKind, f32)],
    top_n: usize,
) -> Vec<Factor> {
    let mut factors: Vec<Factor> = occluded
        .iter()
        .map(|(name, kind, s)| Factor {
            name: name.clone(),
            kind: *kind,
            delta: base - s,
        })
        .collect();
    factors.sort_by(|a, b| {
        b.delta
            .abs()
            .total_cmp(&a.delta.abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    factors.truncate(top_n);
    factors
}

/// Reasons as one line: `dialogue turn 3: "…" (+0.41); budget_band (-0.22)`.
pub fn format_factors(factors: &[Factor]) -> String {
    factors
        .iter()
        .map(|f| format!("{} ({:+.2})", f.name, f.delta))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rank_factors_orders_by_magnitude_and_truncates() {
        let occ = vec![
            ("a".to_string(), FactorKind::Field, 1.0),
            ("b".to_string(), FactorKind::Turn, 3.0),
            ("c".to_string(), FactorKind::Field, 1.9),
        ];
        let f = rank_factors(2.0, &occ, 2);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "a");
        assert!((f[0].delta - 1.0).abs() < 1e-6);
        assert_eq!(f[1].name, "b");
        assert!((f[1].delta + 1.0).abs() < 1e-6);
        assert_eq!(format_factors(&f), "a (+1.00); b (-1.00)");
    }
}
