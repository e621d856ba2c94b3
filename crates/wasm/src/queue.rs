//! The ranked queue: the same order and scoring spec as `leadladder rank`, so the page exports
//! the same bytes.

use std::cmp::Ordering;

use leadladder_core::dataset::Lead;
use leadladder_core::spec::{Columns, Condition, Spec};

use leadladder_model::Score;

/// The spec reduced to what scoring reads: id, created_at and the model's input columns. A CSV
/// of new leads has no outcomes yet, and existing scores are never model inputs.
pub fn scoring_spec(spec: &Spec) -> Spec {
    Spec {
        columns: Columns {
            score: Vec::new(),
            ..spec.columns.clone()
        },
        label: Condition::default(),
        rungs: Vec::new(),
        tiers: Vec::new(),
        ..spec.clone()
    }
}

/// Queue order (indices into `leads`): rank score descending, then created_at descending
/// (newer first), then id ascending.
pub fn queue_order(leads: &[Lead], scores: &[Score]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..leads.len().min(scores.len())).collect();
    order.sort_by(|&a, &b| {
        scores[b]
            .rank
            .total_cmp(&scores[a].rank)
            .then_with(|| leads[b].created_at.cmp(&leads[a].created_at))
            .then_with(|| leads[a].id.cmp(&leads[b].id))
            .then(Ordering::Equal)
    });
    order
}
