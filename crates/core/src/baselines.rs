//! Rankings that need no model: what a team does today, and what a model must beat.
//!
//! Every function returns one score per lead (higher ranks first), ready for
//! [`crate::metrics::evaluate`].

use serde::Serialize;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::ladder::Resolver;
use crate::rng::Rng;
use crate::spec::{Condition, Role, Spec};

/// Recency: newest first (the default order of most CRM queues). Score = `created_at`.
pub fn recency(data: &Dataset) -> Vec<f64> {
    data.leads.iter().map(|l| l.created_at as f64).collect()
}

/// The tier of each lead under the spec's hand tier sort: 0 for the first tier it matches (tiers
/// are checked highest first), `spec.tiers.len()` for leads that match none.
pub fn tiers(spec: &Spec, data: &Dataset) -> Vec<usize> {
    let conds: Vec<&Condition> = spec.tiers.iter().map(|t| &t.when).collect();
    let resolver = Resolver::new(data, &conds);
    data.leads
        .iter()
        .map(|l| {
            spec.tiers
                .iter()
                .position(|t| resolver.eval(&t.when, &l.values))
                .unwrap_or(spec.tiers.len())
        })
        .collect()
}

/// The hand tier sort (the "Monday move"): work the tiers top down, newest first within a tier.
/// Scores are ranks: the first lead in that order gets `n`, the last gets 1.
pub fn hand_tier(spec: &Spec, data: &Dataset) -> Vec<f64> {
    let tier = tiers(spec, data);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&a, &b| {
        tier[a]
            .cmp(&tier[b])
            .then(data.leads[b].created_at.cmp(&data.leads[a].created_at))
            .then(a.cmp(&b))
    });
    let n = data.len();
    let mut score = vec![0.0; n];
    for (pos, &i) in order.iter().enumerate() {
        score[i] = (n - pos) as f64;
    }
    score
}

/// An existing score column (e.g. the CRM's own lead score).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExistingScore {
    pub column: String,
    /// One score per lead; missing cells rank last (−∞).
    pub scores: Vec<f64>,
    /// How many cells were missing.
    pub missing: usize,
}

/// Reads a loaded score column. Missing cells get −∞ (ranked last, ties in file order) and are
/// counted so reports can say so.
pub fn existing_score(data: &Dataset, column: &str) -> Result<ExistingScore> {
    let idx = data.schema.index(column).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "score column `{column}` is not loaded; loaded columns: {:?}",
            data.schema
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
        ))
    })?;
    let col = &data.schema.columns[idx];
    if col.role != Role::Score && col.role != Role::Numeric {
        return Err(Error::InvalidArgument(format!(
            "column `{column}` is {} and cannot be used as a score",
            col.role.name()
        )));
    }
    let mut missing = 0;
    let scores = data
        .leads
        .iter()
        .map(|l| match l.values.get(idx).and_then(|v| v.as_f64()) {
            Some(x) => x,
            None => {
                missing += 1;
                f64::NEG_INFINITY
            }
        })
        .collect();
    Ok(ExistingScore {
        column: col.name.clone(),
        scores,
        missing,
    })
}

/// A seeded random order: what a ranking with no information achieves.
pub fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.uniform()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dataset::{Column, IngestReport, Lead, Schema};
    use crate::spec::CellKind;
    use crate::value::Value;

    fn spec() -> Spec {
        Spec::from_toml(
            r#"
[columns]
id = "id"
created_at = "t"
numeric = ["calls"]
boolean = ["visit"]
score = ["crm"]
[label]
column = "outcome"
equals = "won"
[[tier]]
name = "visit"
when = { column = "visit", equals = true }
[[tier]]
name = "engaged"
when = { column = "calls", gte = 2 }
"#,
        )
        .unwrap()
    }

    fn data() -> Dataset {
        let col = |n: &str, role, kind| Column {
            name: n.into(),
            header: n.into(),
            role,
            kind,
        };
        let schema = Schema {
            columns: vec![
                col("calls", Role::Numeric, CellKind::Num),
                col("visit", Role::Boolean, CellKind::Bool),
                col("crm", Role::Score, CellKind::Num),
            ],
        };
        let rows = [
            (0.0, false, Some(5.0)),
            (3.0, false, None),
            (0.0, true, Some(1.0)),
            (1.0, false, Some(9.0)),
            (2.0, true, Some(2.0)),
        ];
        let leads = rows
            .iter()
            .enumerate()
            .map(|(i, (c, v, s))| Lead {
                id: format!("L{i}").into(),
                created_at: i as i64 * 10,
                values: vec![
                    Value::Num(*c),
                    Value::Bool(*v),
                    s.map_or(Value::Missing, Value::Num),
                ]
                .into(),
                row: i as u64 + 1,
            })
            .collect();
        Dataset {
            schema,
            leads,
            report: IngestReport::default(),
        }
    }

    #[test]
    fn tier_sort_works_tiers_top_down_newest_first() {
        let (s, d) = (spec(), data());
        assert_eq!(tiers(&s, &d), vec![2, 1, 0, 2, 0]);
        let score = hand_tier(&s, &d);
        let mut order: Vec<usize> = (0..5).collect();
        order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
        assert_eq!(order, vec![4, 2, 1, 3, 0]);
    }

    #[test]
    fn recency_existing_and_random() {
        let d = data();
        assert_eq!(recency(&d), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        let e = existing_score(&d, "CRM").unwrap();
        assert_eq!(e.missing, 1);
        assert_eq!(e.scores[1], f64::NEG_INFINITY);
        assert!(existing_score(&d, "visit").is_err());
        assert!(
            existing_score(&d, "nope")
                .unwrap_err()
                .to_string()
                .contains("not loaded")
        );
        assert_eq!(random(4, 9), random(4, 9));
    }
}
