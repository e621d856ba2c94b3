//! The model's side of the ranking pipeline ([`leadladder_core::pipeline`]): the scorer is the
//! pipeline's [`LeadScorer`], and fills an in-memory [`Queue`] by the pipeline's
//! [`ScorePolicy`], all at once ([`Scorer::score_queue`]) or a part at a time with
//! asynchronous reads ([`Scorer::score_part_async`], the page). The rest of the pipeline
//! (blocks, batches, the non-finite check, order, export, audit) is core's.

use leadladder_core::pipeline::{BlockPlan, LeadScorer, ScorePolicy};
use leadladder_core::{Lead, Queue, Schema, Score};

use crate::explain::{Factor, format_factors};
use crate::scorer::Scorer;
use crate::{Error, Result};

impl LeadScorer for Scorer {
    type Error = Error;

    fn encode(&self, schema: &Schema, lead: &Lead) -> Result<Vec<u32>> {
        Scorer::encode(self, schema, lead)
    }

    fn score_ids(&self, batch: &[Vec<u32>]) -> Result<Vec<Score>> {
        Scorer::score_ids(self, batch)
    }

    fn explain(&self, schema: &Schema, lead: &Lead, top_n: usize) -> Result<String> {
        Ok(format_factors(&Scorer::explain(self, schema, lead, top_n)?))
    }
}

impl Scorer {
    /// Scores every lead of `queue` by `policy` and stores the scores (checked finite).
    /// `progress` gets the number of leads scored so far.
    pub fn score_queue(
        &self,
        queue: &mut Queue,
        policy: &ScorePolicy,
        progress: &mut dyn FnMut(usize),
    ) -> Result<()> {
        queue.score_with(self, policy, progress)
    }

    /// The plan of the block of `queue` that `block` names (a [`leadladder_core::pipeline::Part`]'s
    /// block): its leads encoded and cut into `policy`'s batches.
    pub fn plan_block(
        &self,
        queue: &Queue,
        policy: &ScorePolicy,
        block: std::ops::Range<usize>,
    ) -> Result<BlockPlan> {
        let leads = queue.leads(block.clone())?;
        BlockPlan::new(self, policy, queue.schema(), block, &leads)
    }

    /// Scores batch `batch` of a block `plan` with an asynchronous read (for the browser, which
    /// scores a part at a time so it can show progress and stop between parts) and stores the
    /// scores (checked finite, naming the lead). Returns the indices of the leads scored.
    pub async fn score_part_async(
        &self,
        queue: &mut Queue,
        plan: &BlockPlan,
        batch: usize,
    ) -> Result<Vec<usize>> {
        let (indices, ids) = plan.batch(batch).ok_or_else(|| {
            Error::Input(format!(
                "block {:?} has {} batches, not {}",
                plan.block(),
                plan.batches(),
                batch + 1
            ))
        })?;
        let scores = self.score_ids_async(&ids).await?;
        queue.set_scores_at(&indices, &scores)?;
        Ok(indices)
    }

    /// The top `top_n` factors of lead `index` ([`Scorer::explain`]); the queue keeps them as
    /// the lead's `reasons` for the export.
    pub fn explain_queue(
        &self,
        queue: &mut Queue,
        index: usize,
        top_n: usize,
    ) -> Result<Vec<Factor>> {
        let factors = self.explain(queue.schema(), &queue.lead(index)?, top_n)?;
        queue.set_reasons(index, format_factors(&factors))?;
        Ok(factors)
    }

    /// [`Scorer::explain_queue`] with asynchronous reads (for the browser).
    pub async fn explain_queue_async(
        &self,
        queue: &mut Queue,
        index: usize,
        top_n: usize,
    ) -> Result<Vec<Factor>> {
        let factors = self
            .explain_async(queue.schema(), &queue.lead(index)?, top_n)
            .await?;
        queue.set_reasons(index, format_factors(&factors))?;
        Ok(factors)
    }
}
