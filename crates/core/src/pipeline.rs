//! The one ranking pipeline behind `leadladder rank` and the page: read → blocks → score →
//! order → explain → write.
//!
//! - [`ScorePolicy`] decides once how leads are grouped for the model: blocks of
//!   [`ScorePolicy::block`] leads in file order, each encoded, sorted by length and cut into
//!   batches of [`ScorePolicy::batch`]. A lead's score can differ in its last bits with the
//!   leads batched with it, so whoever must give the same scores uses the same policy; nothing
//!   else sizes a block or a batch.
//! - [`RankedStore`] is what every later step needs of a queue: the in-memory [`crate::Queue`]
//!   (the page) and the on-disk [`crate::disk_queue::DiskQueue`] (`leadladder rank`) implement it
//!   with the same methods, so the same scores give the same order and the same CSV bytes.
//! - [`LeadScorer`] is what the pipeline needs of a model (`leadladder-model`'s scorer
//!   implements it): token ids of a lead, scores of one batch, the reasons of one lead.
//!   [`score_block`] and [`BlockPlan`] score a block by the policy: all of it at once (a
//!   scoring thread), or a batch at a time ([`ScorePolicy::parts`], the page, which shows
//!   progress and can stop between two parts).
//! - [`file::rank_file`] (native only) runs the whole pipeline on a file of any size with
//!   scoring threads, keeping the rows in a scratch file.

#[cfg(not(target_arch = "wasm32"))]
pub mod file;

use std::io::Write;
use std::ops::Range;

use serde::Serialize;

use crate::dataset::{Lead, Schema};
use crate::error::{Error, Result};

/// How leads are grouped for the model: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScorePolicy {
    /// Leads encoded and length-sorted together (bounds the token ids held, whatever the file
    /// size). Blocks start at lead 0 and every multiple of it.
    pub block: usize,
    /// Leads per forward pass.
    pub batch: usize,
}

impl ScorePolicy {
    /// The policy of `leadladder rank` (whose `--batch` may change the batch) and of the page
    /// on the CPU: blocks of 4,096 leads, batches of 32.
    pub const DEFAULT: Self = Self {
        block: 4096,
        batch: 32,
    };

    /// The page on WebGPU: batches of 16, so a forward pass stays inside a GPU's buffer limits
    /// (the adapter's limits are checked against this batch).
    pub const WEBGPU: Self = Self {
        block: Self::DEFAULT.block,
        batch: 16,
    };

    /// This policy with batches of `batch` leads (at least 1).
    pub fn with_batch(self, batch: usize) -> Self {
        Self {
            batch: batch.max(1),
            ..self
        }
    }

    /// The blocks of a queue of `n` leads, in order.
    pub fn blocks(&self, n: usize) -> impl Iterator<Item = Range<usize>> + use<> {
        let block = self.block.max(1);
        (0..n)
            .step_by(block)
            .map(move |start| start..(start + block).min(n))
    }

    /// Indices of a block's leads (`lengths[i]`: the i-th lead's token count) in batches of at
    /// most [`ScorePolicy::batch`], shortest sequences first (less padding per batch; the sort
    /// is stable, so equal lengths keep their order).
    pub fn batches(&self, lengths: &[usize]) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..lengths.len()).collect();
        order.sort_by_key(|&i| lengths[i]);
        order
            .chunks(self.batch.max(1))
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// The parts of a queue of `n` leads, in order: every batch of every block. The page scores
    /// a part at a time; scoring every part gives the scores [`score_block`] gives.
    pub fn parts(&self, n: usize) -> Vec<Part> {
        let batch = self.batch.max(1);
        self.blocks(n)
            .flat_map(|block| {
                let batches = block.len().div_ceil(batch);
                (0..batches).map(move |k| Part {
                    block: block.clone(),
                    batch: k,
                    leads: batch.min(block.len() - k * batch),
                })
            })
            .collect()
    }
}

/// One batch of one block ([`ScorePolicy::parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The block's leads.
    pub block: Range<usize>,
    /// Which of the block's length-sorted batches.
    pub batch: usize,
    /// Leads in the batch.
    pub leads: usize,
}

/// A model's scores for one lead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    /// Ranking-head score: higher ranks first.
    pub rank: f32,
    /// Pointwise-head logit before calibration.
    pub logit: f32,
    /// Calibrated probability of conversion.
    pub p_convert: f32,
}

impl Score {
    fn is_finite(&self) -> bool {
        self.rank.is_finite() && self.p_convert.is_finite()
    }

    /// The score of `lead`, refused when NaN or infinite.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteScore`] naming the lead.
    pub fn check(&self, lead: &Lead) -> Result<()> {
        self.check_for(&lead.id, lead.row)
    }

    /// [`Score::check`] for the lead with this id and row.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteScore`] naming the lead.
    pub fn check_for(&self, id: &str, row: u64) -> Result<()> {
        if self.is_finite() {
            Ok(())
        } else {
            Err(Error::NonFiniteScore {
                id: id.to_string(),
                row,
                rank: self.rank,
                p_convert: self.p_convert,
            })
        }
    }
}

/// What the pipeline needs of a model.
pub trait LeadScorer {
    /// The model's error; a queue's refusal (a non-finite score) arrives as one.
    type Error: From<Error>;

    /// The lead's token ids.
    ///
    /// # Errors
    ///
    /// The model's, e.g. a lead it cannot encode.
    fn encode(&self, schema: &Schema, lead: &Lead) -> std::result::Result<Vec<u32>, Self::Error>;

    /// The scores of one batch of token-id sequences, in order.
    ///
    /// # Errors
    ///
    /// The model's.
    fn score_ids(&self, batch: &[Vec<u32>]) -> std::result::Result<Vec<Score>, Self::Error>;

    /// The lead's `top_n` reasons, as the `reasons` cell writes them.
    ///
    /// # Errors
    ///
    /// The model's.
    fn explain(
        &self,
        schema: &Schema,
        lead: &Lead,
        top_n: usize,
    ) -> std::result::Result<String, Self::Error>;
}

/// A block encoded and cut into the policy's batches: what scoring it a part at a time needs.
#[derive(Debug, Clone)]
pub struct BlockPlan {
    block: Range<usize>,
    ids: Vec<Vec<u32>>,
    batches: Vec<Vec<usize>>,
}

impl BlockPlan {
    /// Encodes `leads` (the leads of `block`, in order) and cuts them into `policy`'s batches.
    ///
    /// # Errors
    ///
    /// The scorer's, for a lead it cannot encode; [`Error::InvalidArgument`] when `leads` is
    /// not one lead per index of `block`.
    pub fn new<S: LeadScorer>(
        scorer: &S,
        policy: &ScorePolicy,
        schema: &Schema,
        block: Range<usize>,
        leads: &[Lead],
    ) -> std::result::Result<Self, S::Error> {
        if leads.len() != block.len() {
            return Err(Error::InvalidArgument(format!(
                "{} leads for a block of {}",
                leads.len(),
                block.len()
            ))
            .into());
        }
        let ids = leads
            .iter()
            .map(|lead| scorer.encode(schema, lead))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let batches = policy.batches(&lengths);
        Ok(Self {
            block,
            ids,
            batches,
        })
    }

    /// The leads it plans.
    pub fn block(&self) -> Range<usize> {
        self.block.clone()
    }

    /// Batches in the block.
    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    /// The queue indices of batch `k`'s leads and their token ids; `None` past the last batch.
    pub fn batch(&self, k: usize) -> Option<(Vec<usize>, Vec<Vec<u32>>)> {
        let batch = self.batches.get(k)?;
        let indices = batch.iter().map(|&i| self.block.start + i).collect();
        let ids = batch
            .iter()
            .filter_map(|&i| self.ids.get(i).cloned())
            .collect();
        Some((indices, ids))
    }
}

/// Scores the leads of one block by `policy` (encoded, length-sorted, batched) and checks every
/// score is finite, naming the lead when one is not. `progress` gets the number of the block's
/// leads scored so far after each batch.
///
/// # Errors
///
/// The scorer's; [`Error::NonFiniteScore`] (as the scorer's error) naming the first lead, in
/// file order, whose score is NaN or infinite.
pub fn score_block<S: LeadScorer>(
    scorer: &S,
    policy: &ScorePolicy,
    schema: &Schema,
    leads: &[Lead],
    progress: &mut dyn FnMut(usize),
) -> std::result::Result<Vec<Score>, S::Error> {
    let plan = BlockPlan::new(scorer, policy, schema, 0..leads.len(), leads)?;
    let mut out: Vec<Option<Score>> = vec![None; leads.len()];
    let mut done = 0;
    for k in 0..plan.batches() {
        let Some((indices, ids)) = plan.batch(k) else {
            break;
        };
        let scores = scorer.score_ids(&ids)?;
        if scores.len() != indices.len() {
            return Err(Error::InvalidArgument(format!(
                "{} scores for a batch of {}",
                scores.len(),
                indices.len()
            ))
            .into());
        }
        for (i, s) in indices.into_iter().zip(scores) {
            out[i] = Some(s);
        }
        done += ids.len();
        progress(done);
    }
    leads
        .iter()
        .zip(out)
        .enumerate()
        .map(|(index, (lead, s))| {
            let s = s.ok_or(Error::NotScored {
                index,
                row: lead.row,
            })?;
            s.check(lead)?;
            Ok(s)
        })
        .collect()
}

/// A ranked queue, in memory ([`crate::Queue`]) or with its rows on disk
/// ([`crate::disk_queue::DiskQueue`]): what scoring, ordering, explaining and writing need of
/// it. Both give the same order and the same bytes for the same file and scores.
pub trait RankedStore {
    /// Leads in the queue.
    fn len(&self) -> usize;

    /// True when the queue holds no lead.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores the scores of leads `start..start + scores.len()`, each checked finite.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteScore`] for a NaN or infinite score (nothing of that call is stored
    /// after it), [`Error::LeadRange`] for leads not in the queue.
    fn set_scores(&mut self, start: usize, scores: &[Score]) -> Result<()>;

    /// The queue order: indices of the leads, best first (rank score descending, then the
    /// newer lead, then the smaller id: [`crate::queue::queue_cmp`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotScored`] naming the first lead without a score.
    fn order(&self) -> Result<Vec<u32>>;

    /// Keeps a lead's reasons (one line) for the export.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] for a bad index.
    fn set_reasons(&mut self, index: usize, reasons: String) -> Result<()>;

    /// Writes the ranked CSV in `order` (from [`RankedStore::order`]): every column of the
    /// file, then rank, score, p_convert, grade and reasons. Returns the rows written.
    ///
    /// # Errors
    ///
    /// As [`crate::export::write_ranked_csv`]; the store's own (a scratch file that cannot be
    /// read).
    fn write_csv(&self, w: &mut dyn Write, order: &[u32]) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parts_cover_every_block_batch_by_batch() {
        let p = ScorePolicy {
            block: 10,
            batch: 4,
        };
        let parts = p.parts(23);
        let sizes: Vec<usize> = parts.iter().map(|x| x.leads).collect();
        assert_eq!(sizes, vec![4, 4, 2, 4, 4, 2, 3]);
        assert_eq!(parts[6].block, 20..23);
        assert_eq!(p.blocks(23).count(), 3);
        assert!(p.parts(0).is_empty());
        assert_eq!(p.batches(&[5, 1, 5, 2, 1]), vec![vec![1, 4, 3, 0], vec![2]]);
    }
}
