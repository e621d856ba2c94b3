//! The funnel ladder: which rung side each lead sits on, the binary label, and HPRO preference
//! pairs.
//!
//! Leads `i` and `j` form a pair at the FIRST rung (highest first) where one is in `better` and
//! the other in `worse`; the pair's margin is that rung's margin. Leads in neither set at a rung
//! fall through to the next rung.

use std::collections::HashMap;

use serde::Serialize;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::spec::{Condition, Spec};
use crate::value::Value;

/// Where a lead sits at one rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum Membership {
    Neither = 0,
    Better = 1,
    Worse = 2,
}

/// A preference pair: `better` should outrank `worse` by at least `margin`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pair {
    /// Index of the preferred lead (into the slice or dataset the pair was built from).
    pub better: usize,
    pub worse: usize,
    /// Index of the rung (0 = highest).
    pub rung: usize,
    pub margin: f64,
}

/// Per-rung counts, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RungCount {
    pub name: String,
    pub margin: f64,
    pub better: usize,
    pub worse: usize,
}

/// Rung membership and labels for every lead of a dataset.
#[derive(Debug, Clone)]
pub struct Ladder {
    names: Vec<String>,
    margins: Vec<f64>,
    /// `n_leads × n_rungs`, row-major.
    membership: Vec<Membership>,
    labels: Vec<bool>,
}

/// Resolves the columns a condition reads to schema indices once, so evaluation allocates nothing.
pub(crate) struct Resolver {
    index: HashMap<String, usize>,
}

impl Resolver {
    pub(crate) fn new(data: &Dataset, conditions: &[&Condition]) -> Self {
        let mut reads = Vec::new();
        for c in conditions {
            c.columns(&mut reads);
        }
        let index = reads
            .into_iter()
            .filter_map(|(name, _)| data.schema.index(&name).map(|i| (name, i)))
            .collect();
        Self { index }
    }

    pub(crate) fn eval(&self, cond: &Condition, values: &[Value]) -> bool {
        cond.eval(&|name: &str| self.index.get(name).and_then(|&i| values.get(i)))
    }
}

impl Ladder {
    /// Assigns every lead its label and rung memberships.
    ///
    /// Fails when a lead satisfies both `better` and `worse` of one rung (an ambiguous spec),
    /// naming the lead and the rung.
    pub fn assign(spec: &Spec, data: &Dataset) -> Result<Self> {
        let mut conds: Vec<&Condition> = vec![&spec.label];
        for r in &spec.rungs {
            conds.push(&r.better);
            conds.push(&r.worse);
        }
        let resolver = Resolver::new(data, &conds);
        let n_rungs = spec.rungs.len();
        let mut membership = Vec::with_capacity(data.len() * n_rungs);
        let mut labels = Vec::with_capacity(data.len());
        for lead in &data.leads {
            labels.push(resolver.eval(&spec.label, &lead.values));
            for r in &spec.rungs {
                let b = resolver.eval(&r.better, &lead.values);
                let w = resolver.eval(&r.worse, &lead.values);
                membership.push(match (b, w) {
                    (true, true) => {
                        return Err(Error::Spec(format!(
                            "lead `{}` (row {}) is both `better` and `worse` at rung `{}`; the \
                             two conditions must not overlap",
                            lead.id, lead.row, r.name
                        )));
                    }
                    (true, false) => Membership::Better,
                    (false, true) => Membership::Worse,
                    (false, false) => Membership::Neither,
                });
            }
        }
        Ok(Self {
            names: spec.rungs.iter().map(|r| r.name.clone()).collect(),
            margins: spec.rungs.iter().map(|r| r.margin).collect(),
            membership,
            labels,
        })
    }

    /// Builds a ladder directly from memberships (`n_leads × n_rungs`, row-major) and labels.
    pub fn from_parts(
        names: Vec<String>,
        margins: Vec<f64>,
        membership: Vec<Membership>,
        labels: Vec<bool>,
    ) -> Result<Self> {
        if names.len() != margins.len() || membership.len() != labels.len() * names.len() {
            return Err(Error::InvalidArgument(format!(
                "ladder parts disagree: {} names, {} margins, {} memberships for {} leads",
                names.len(),
                margins.len(),
                membership.len(),
                labels.len()
            )));
        }
        Ok(Self {
            names,
            margins,
            membership,
            labels,
        })
    }

    pub fn n_leads(&self) -> usize {
        self.labels.len()
    }

    pub fn n_rungs(&self) -> usize {
        self.names.len()
    }

    pub fn rung_names(&self) -> &[String] {
        &self.names
    }

    pub fn margins(&self) -> &[f64] {
        &self.margins
    }

    /// Binary labels, one per lead.
    pub fn labels(&self) -> &[bool] {
        &self.labels
    }

    /// The rung vector of lead `i` (empty when `i` is out of range).
    pub fn rungs_of(&self, i: usize) -> &[Membership] {
        let r = self.n_rungs();
        self.membership.get(i * r..(i + 1) * r).unwrap_or(&[])
    }

    /// The highest rung at which lead `i` is `better`, if any (used by samplers to keep rare,
    /// high-rung leads in every batch).
    pub fn highest_better(&self, i: usize) -> Option<usize> {
        self.rungs_of(i)
            .iter()
            .position(|m| *m == Membership::Better)
    }

    /// The ladder as one graded relevance per lead, for learning-to-rank peers that take graded
    /// labels (LightGBM's lambdarank): bit `R - 1 - k` is set when the lead is `better` at rung
    /// `k` (`R` rungs), so a higher rung outweighs every rung below it. `worse` and "neither"
    /// both read 0: a grade cannot say "no pair here", which the pairwise ladder can.
    pub fn grade(&self, i: usize) -> u32 {
        let r = self.n_rungs();
        self.rungs_of(i)
            .iter()
            .enumerate()
            .filter(|(_, m)| **m == Membership::Better)
            .map(|(k, _)| 1u32 << (r - 1 - k).min(31))
            .sum()
    }

    /// The oriented pair formed by leads `i` and `j`, if any.
    pub fn pair(&self, i: usize, j: usize) -> Option<Pair> {
        let (a, b) = (self.rungs_of(i), self.rungs_of(j));
        for (k, (ma, mb)) in a.iter().zip(b).enumerate() {
            match (ma, mb) {
                (Membership::Better, Membership::Worse) => {
                    return Some(Pair {
                        better: i,
                        worse: j,
                        rung: k,
                        margin: self.margins[k],
                    });
                }
                (Membership::Worse, Membership::Better) => {
                    return Some(Pair {
                        better: j,
                        worse: i,
                        rung: k,
                        margin: self.margins[k],
                    });
                }
                _ => {}
            }
        }
        None
    }

    /// How many leads are on each side of each rung.
    pub fn counts(&self) -> Vec<RungCount> {
        (0..self.n_rungs())
            .map(|k| {
                let (mut better, mut worse) = (0, 0);
                for i in 0..self.n_leads() {
                    match self.membership[i * self.n_rungs() + k] {
                        Membership::Better => better += 1,
                        Membership::Worse => worse += 1,
                        Membership::Neither => {}
                    }
                }
                RungCount {
                    name: self.names[k].clone(),
                    margin: self.margins[k],
                    better,
                    worse,
                }
            })
            .collect()
    }
}

/// Builds the HPRO pairs inside one training batch.
///
/// All pairs among the batch's leads are formed; when there are more than `cap`, a seeded sample
/// of `cap` is kept, shared fairly across rungs (each rung gets an equal share, and what a rung
/// cannot use goes to the others), so the rare top-rung pairs are never crowded out by the many
/// soft-signal pairs. The same `(seed, step, batch)` always gives the same pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairBuilder {
    /// Most pairs returned per batch; 0 means no cap.
    pub cap: usize,
    pub seed: u64,
}

impl PairBuilder {
    /// Pairs among `batch` (dataset indices). Returned pairs hold POSITIONS within `batch`, ready
    /// to index the batch's score tensor. Sorted by rung, then position.
    pub fn build(&self, ladder: &Ladder, batch: &[usize], step: u64) -> Vec<Pair> {
        let mut by_rung: Vec<Vec<Pair>> = vec![Vec::new(); ladder.n_rungs()];
        for a in 0..batch.len() {
            for b in a + 1..batch.len() {
                if let Some(p) = ladder.pair(batch[a], batch[b]) {
                    let (better, worse) = if p.better == batch[a] { (a, b) } else { (b, a) };
                    by_rung[p.rung].push(Pair { better, worse, ..p });
                }
            }
        }
        let total: usize = by_rung.iter().map(Vec::len).sum();
        if self.cap == 0 || total <= self.cap {
            return by_rung.into_iter().flatten().collect();
        }
        let quotas = fair_quotas(&by_rung.iter().map(Vec::len).collect::<Vec<_>>(), self.cap);
        let mut rng = Rng::derive(self.seed, step);
        let mut out = Vec::with_capacity(self.cap);
        for (mut pairs, quota) in by_rung.into_iter().zip(quotas) {
            // Partial Fisher-Yates: the first `quota` items become a uniform sample.
            for i in 0..quota {
                let j = i + rng.below((pairs.len() - i) as u64) as usize;
                pairs.swap(i, j);
            }
            pairs.truncate(quota);
            pairs.sort_by_key(|p| (p.better, p.worse));
            out.extend(pairs);
        }
        out
    }
}

/// Water-filling: split `cap` across groups of the given sizes as equally as possible.
fn fair_quotas(sizes: &[usize], cap: usize) -> Vec<usize> {
    let mut quotas = vec![0; sizes.len()];
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| (sizes[i], i));
    let mut left = cap;
    for (done, &i) in order.iter().enumerate() {
        let groups_left = sizes.len() - done;
        let share = left.div_ceil(groups_left);
        quotas[i] = sizes[i].min(share);
        left -= quotas[i];
    }
    quotas
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use Membership::{Better as B, Neither as N, Worse as W};

    #[test]
    fn grade_is_lexicographic_in_the_rungs() {
        let l = ladder(&[[B, W, W], [W, B, B], [N, N, B], [W, W, W]]);
        assert_eq!(
            (0..4).map(|i| l.grade(i)).collect::<Vec<_>>(),
            vec![4, 3, 1, 0]
        );
    }

    fn ladder(rows: &[[Membership; 3]]) -> Ladder {
        Ladder::from_parts(
            vec!["global".into(), "key".into(), "soft".into()],
            vec![1.0, 0.5, 0.1],
            rows.iter().flatten().copied().collect(),
            vec![false; rows.len()],
        )
        .unwrap()
    }

    #[test]
    fn first_rung_decides() {
        let l = ladder(&[[B, W, W], [W, B, B], [N, B, W], [N, W, B], [N, N, N]]);
        // locked-in beats defeated even though the defeated lead test-drove.
        assert_eq!(
            l.pair(0, 1),
            Some(Pair {
                better: 0,
                worse: 1,
                rung: 0,
                margin: 1.0
            })
        );
        // neither at rung 0: falls through to key action.
        assert_eq!(
            l.pair(2, 0),
            Some(Pair {
                better: 2,
                worse: 0,
                rung: 1,
                margin: 0.5
            })
        );
        assert_eq!(
            l.pair(3, 1),
            Some(Pair {
                better: 1,
                worse: 3,
                rung: 1,
                margin: 0.5
            })
        );
        // soft signal decides only when both agree on the higher rungs' "neither".
        assert_eq!(
            l.pair(2, 3),
            Some(Pair {
                better: 2,
                worse: 3,
                rung: 1,
                margin: 0.5
            })
        );
        assert_eq!(l.pair(4, 0), None);
        assert_eq!(l.pair(0, 0), None);
        assert_eq!(l.highest_better(2), Some(1));
        assert_eq!(l.counts()[0].better, 1);
    }

    #[test]
    fn builder_caps_fairly_and_deterministically() {
        // 1 global pair possible, many soft ones.
        let mut rows = vec![[B, N, N], [W, N, N]];
        rows.extend(std::iter::repeat_n([N, N, B], 20));
        rows.extend(std::iter::repeat_n([N, N, W], 20));
        let l = ladder(&rows);
        let batch: Vec<usize> = (0..rows.len()).collect();
        let all = PairBuilder { cap: 0, seed: 1 }.build(&l, &batch, 0);
        let capped = PairBuilder { cap: 10, seed: 1 }.build(&l, &batch, 0);
        assert_eq!(capped.len(), 10);
        assert!(
            capped.iter().any(|p| p.rung == 0),
            "the rare top-rung pair survives the cap"
        );
        assert_eq!(
            capped,
            PairBuilder { cap: 10, seed: 1 }.build(&l, &batch, 0)
        );
        assert_ne!(
            capped,
            PairBuilder { cap: 10, seed: 1 }.build(&l, &batch, 1)
        );
        assert!(all.len() > 400);
    }

    #[test]
    fn quotas() {
        assert_eq!(fair_quotas(&[1, 100, 100], 10), vec![1, 5, 4]);
        assert_eq!(fair_quotas(&[0, 3, 100], 10), vec![0, 3, 7]);
        assert_eq!(fair_quotas(&[5, 5], 100), vec![5, 5]);
    }
}
