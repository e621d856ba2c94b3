//! The temporal split: train on the past, test on the future, never the other way round.

use serde::Serialize;

use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// A split of a dataset's leads by creation time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemporalSplit {
    /// Dataset indices of the earlier leads, in time order.
    pub train: Vec<usize>,
    /// Dataset indices of the later leads, in time order.
    pub test: Vec<usize>,
    /// `created_at` (epoch seconds) of the first test lead.
    pub cut_time: i64,
    pub train_positive_rate: f64,
    pub test_positive_rate: f64,
}

/// Splits leads by `created_at` (ties broken by id, then file row), the first `train_fraction`
/// of them (rounded) for training and the rest for testing.
///
/// `labels` must hold one label per lead. Both sides must be non-empty.
pub fn temporal_split(
    data: &Dataset,
    labels: &[bool],
    train_fraction: f64,
) -> Result<TemporalSplit> {
    if !(train_fraction > 0.0 && train_fraction < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "train fraction must be strictly between 0 and 1 (found {train_fraction})"
        )));
    }
    if labels.len() != data.len() {
        return Err(Error::InvalidArgument(format!(
            "{} labels for {} leads",
            labels.len(),
            data.len()
        )));
    }
    let n = data.len();
    let n_train = ((n as f64) * train_fraction).round() as usize;
    if n_train == 0 || n_train >= n {
        return Err(Error::InvalidArgument(format!(
            "a {train_fraction} split of {n} leads leaves one side empty"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (la, lb) = (&data.leads[a], &data.leads[b]);
        la.created_at
            .cmp(&lb.created_at)
            .then_with(|| la.id.cmp(&lb.id))
            .then(la.row.cmp(&lb.row))
    });
    let test = order.split_off(n_train);
    let rate = |idx: &[usize]| idx.iter().filter(|&&i| labels[i]).count() as f64 / idx.len() as f64;
    Ok(TemporalSplit {
        train_positive_rate: rate(&order),
        test_positive_rate: rate(&test),
        cut_time: data.leads[test[0]].created_at,
        train: order,
        test,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dataset::{IngestReport, Lead, Schema};

    fn data(times: &[(i64, &str)]) -> Dataset {
        Dataset {
            schema: Schema::default(),
            leads: times
                .iter()
                .enumerate()
                .map(|(i, (t, id))| Lead {
                    id: (*id).into(),
                    created_at: *t,
                    values: Box::new([]),
                    row: i as u64 + 1,
                })
                .collect(),
            report: IngestReport::default(),
        }
    }

    #[test]
    fn splits_by_time_then_id() {
        let d = data(&[
            (5, "e"),
            (1, "a"),
            (3, "d"),
            (3, "c"),
            (9, "z"),
            (7, "y"),
            (2, "b"),
            (8, "x"),
            (6, "w"),
            (4, "v"),
        ]);
        let labels = [
            true, false, false, false, true, false, false, false, false, false,
        ];
        let s = temporal_split(&d, &labels, 0.7).unwrap();
        let ids: Vec<&str> = s.train.iter().map(|&i| &*d.leads[i].id).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "v", "e", "w"]);
        assert_eq!(s.test.len(), 3);
        assert_eq!(s.cut_time, 7);
        assert!((s.train_positive_rate - 1.0 / 7.0).abs() < 1e-12);
        assert!((s.test_positive_rate - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn rejects_degenerate_splits() {
        let d = data(&[(1, "a"), (2, "b")]);
        assert!(temporal_split(&d, &[false, true], 0.0).is_err());
        assert!(temporal_split(&d, &[false, true], 1.0).is_err());
        assert!(temporal_split(&d, &[false, true], 0.1).is_err());
        assert!(temporal_split(&d, &[false], 0.5).is_err());
        assert!(temporal_split(&d, &[false, true], f64::NAN).is_err());
    }
}
