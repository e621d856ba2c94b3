//! The model's part of the ranked queue ([`Queue`], in `leadladder-core`): scoring its leads
//! and explaining them. `leadladder rank` uses the synchronous methods, the page the
//! asynchronous ones; both leave the rest of the pipeline (non-finite check, order, export,
//! audit) to the queue.

use std::ops::Range;

use leadladder_core::Queue;

use crate::Result;
use crate::explain::{Factor, format_factors};
use crate::scorer::Scorer;

/// Leads encoded and scored together by [`Scorer::score_queue`]: bounds the token ids held,
/// whatever the file size. A lead's score can differ in the last bits with the leads batched
/// with it, so whoever must give the same scores scores the same blocks.
pub const SCORE_BLOCK: usize = 4096;

impl Scorer {
    fn encode_leads(&self, queue: &Queue, range: Range<usize>) -> Result<Vec<Vec<u32>>> {
        let schema = queue.schema();
        queue
            .leads(range)?
            .iter()
            .map(|lead| self.encode(schema, lead))
            .collect()
    }

    /// Scores leads `range` of `queue` and stores the scores (checked finite by the queue).
    /// Leads are scored [`SCORE_BLOCK`] at a time, each block with [`Scorer::score_leads`]
    /// (length-sorted batches of `batch`); a reader that streams a file gets the same scores by
    /// scoring the same blocks. `progress` gets the number of leads of `range` scored so far.
    pub fn score_queue(
        &self,
        queue: &mut Queue,
        range: Range<usize>,
        batch: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<()> {
        queue.check_range(&range)?;
        let mut done = 0;
        for start in range.clone().step_by(SCORE_BLOCK) {
            let block = start..(start + SCORE_BLOCK).min(range.end);
            let scores = self.score_leads(
                queue.schema(),
                &queue.leads(block.clone())?,
                batch,
                &mut |n| progress(done + n),
            )?;
            queue.set_scores(&block.clone().collect::<Vec<_>>(), &scores)?;
            done += block.len();
        }
        Ok(())
    }

    /// [`Scorer::score_queue`] with asynchronous reads (for the browser, which scores a file a
    /// small range at a time so it can show progress and cancel between ranges).
    pub async fn score_queue_async(
        &self,
        queue: &mut Queue,
        range: Range<usize>,
        batch: usize,
    ) -> Result<()> {
        let ids = self.encode_leads(queue, range.clone())?;
        let scores = self.score_many_async(&ids, batch).await?;
        queue.set_scores(&range.collect::<Vec<_>>(), &scores)?;
        Ok(())
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
