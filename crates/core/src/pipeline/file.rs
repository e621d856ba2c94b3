//! The pipeline on a file of any size, with scoring threads (`leadladder rank`): read a batch
//! of rows at a time ([`LeadReader`]), hand blocks of [`ScorePolicy::block`] leads to the
//! scoring threads ([`score_block`]), keep per lead only what the queue order needs
//! ([`DiskQueue`]: the rows wait in a scratch file beside the output), explain the top leads
//! and write the ranked CSV in rank order. The output is the bytes the in-memory queue (what
//! the page holds) writes for the same scores, and the scores are those the page's parts add
//! up to, by the same [`ScorePolicy`].
//!
//! Threads: the calling thread reads, parses and spills rows and hands blocks to the scoring
//! threads through a one-slot queue, so at most `threads + 2` blocks are in memory. Each
//! scoring thread makes its own scorer (the caller decides what that shares). A failed block
//! stops scoring, but the file is still read to its end for its row errors, as the in-memory
//! read reports them before anything is scored.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use super::{LeadScorer, RankedStore, Score, ScorePolicy, score_block};
use crate::dataset::{IngestOptions, IngestReport, Lead, Schema};
use crate::disk_queue::DiskQueue;
use crate::drift::{DriftProfile, DriftReport};
use crate::error::Error;
use crate::fs::ScratchFile;
use crate::ingest::{LeadReader, RawRows};
use crate::spec::Spec;

/// What to rank and how.
#[derive(Debug)]
pub struct RankFile<'a> {
    /// The lead file, opened.
    pub input: File,
    /// The model's spec ([`Spec::scoring`] is read).
    pub spec: &'a Spec,
    pub opts: &'a IngestOptions,
    /// The model's training distribution: the file is checked against it as it is read.
    pub profile: Option<&'a DriftProfile>,
    /// Where the ranked CSV goes (written atomically; the scratch file lies beside it).
    pub out: &'a Path,
    pub policy: ScorePolicy,
    /// Rows read at a time (never changes the output).
    pub read_batch: usize,
    /// Leads to explain, from the top.
    pub explain: usize,
    /// Reasons per explained lead.
    pub reasons: usize,
    /// Scoring threads (at least 1).
    pub threads: usize,
}

/// What [`rank_file`] reports while it runs.
pub trait Progress {
    /// Leads scored so far, of about `total` (an estimate while the file is read).
    fn scoring(&mut self, scored: u64, total: u64);
    /// The file is read: what ingest saw.
    fn read(&mut self, report: &IngestReport);
    /// Every lead is scored.
    fn scored(&mut self);
    /// Leads explained so far, of `total`.
    fn explaining(&mut self, done: u64, total: u64);
}

/// A ranked file.
#[derive(Debug)]
pub struct RankedFile {
    /// Leads ranked.
    pub leads: usize,
    /// The first five leads: id, rank score, p_convert.
    pub top: Vec<(String, f32, f32)>,
    /// The file against the drift profile, when there was one.
    pub drift: Option<DriftReport>,
}

/// Why [`rank_file`] failed, by step, so a caller can say which file it concerns.
#[derive(Debug)]
pub enum RankError<E> {
    /// Reading the input (a bad row names its row and column).
    Read(Error),
    /// The input lacks a field of the drift profile.
    Drift(Error),
    /// Writing the scratch file or the output.
    Write(Error),
    /// A scoring thread could not make its scorer.
    Start(E),
    /// Scoring: the first failed block's error (a non-finite score names the lead).
    Score(E),
    /// Explaining a lead.
    Explain { id: String, row: u64, source: E },
    /// The queue refused a step (e.g. a damaged scratch file).
    Queue(Error),
    /// The scoring threads stopped or panicked.
    Threads(&'static str),
}

type Res<T, E> = std::result::Result<T, RankError<E>>;

/// Work for a scoring thread.
enum Job {
    /// Score block `block`: leads `start..start + leads.len()`.
    Score {
        block: usize,
        start: usize,
        leads: Vec<Lead>,
    },
    /// Explain the lead at queue place `place` (0-based), lead index `index`.
    Explain {
        place: usize,
        index: usize,
        lead: Box<Lead>,
    },
}

/// What a scoring thread sends back: only what the queue keeps (the leads stay with the
/// thread, which checked their scores).
enum Done<E> {
    Scored {
        block: usize,
        start: usize,
        scores: Result<Vec<Score>, E>,
    },
    Explained {
        place: usize,
        index: usize,
        reasons: Result<String, RankError<E>>,
    },
}

/// Ranks a file: see the module documentation. `make` makes a scoring thread's scorer (called
/// once on each thread).
///
/// # Errors
///
/// [`RankError`], by step; the first scoring error by block and the first explanation error by
/// queue place, as a run on one thread would meet them.
pub fn rank_file<S, F>(
    job: RankFile<'_>,
    make: F,
    progress: &mut dyn Progress,
) -> Res<RankedFile, S::Error>
where
    S: LeadScorer,
    S::Error: Send,
    F: Fn() -> Result<S, S::Error> + Sync,
{
    let spec = job.spec.scoring();
    let file_len = job.input.metadata().map(|m| m.len()).unwrap_or(0);
    let input = job
        .input
        .try_clone()
        .map_err(|e| RankError::Read(e.into()))?;
    let mut reader = LeadReader::new(input, &spec, job.opts).map_err(RankError::Read)?;
    let mut drift = job
        .profile
        .map(|p| p.checker(reader.schema()))
        .transpose()
        .map_err(RankError::Drift)?;
    let scratch = ScratchFile::beside(job.out, "rows").map_err(RankError::Write)?;
    let mut queue = DiskQueue::new(scratch, reader.header().to_vec()).map_err(RankError::Write)?;
    let schema = reader.schema().clone();
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(1);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done<S::Error>>();

    let ranked = std::thread::scope(|s| -> Res<RankedFile, S::Error> {
        let mut workers = Vec::with_capacity(job.threads.max(1));
        for _ in 0..job.threads.max(1) {
            let (rx, tx) = (Arc::clone(&job_rx), done_tx.clone());
            let (make, schema, job) = (&make, &schema, &job);
            workers.push(s.spawn(move || work(make, schema, job, &rx, &tx)));
        }
        // Only the threads hold the two channels' far ends: when they are all gone, sending
        // fails instead of waiting.
        drop((job_rx, done_tx));
        let mut pool = Pool {
            tx: Some(job_tx),
            rx: done_rx,
            pending: 0,
        };
        let result = rank(
            &job,
            &mut reader,
            &mut queue,
            &mut pool,
            file_len,
            drift.as_mut(),
            progress,
        );
        // Whatever happened, let the threads finish: closing the queue ends them.
        pool.tx = None;
        while pool.rx.recv().is_ok() {}
        let mut failed = None;
        for w in workers {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(_) => failed = failed.or(Some(RankError::Threads("a scoring thread panicked"))),
            }
        }
        // A thread that failed (it could not make its scorer) is why the rest stopped.
        failed.map_or(result, Err)
    })?;
    Ok(RankedFile {
        drift: drift.map(crate::drift::DriftChecker::finish),
        ..ranked
    })
}

/// The calling thread's end of the scoring threads.
struct Pool<E> {
    tx: Option<SyncSender<Job>>,
    rx: Receiver<Done<E>>,
    /// Jobs sent and not yet answered.
    pending: usize,
}

const STOPPED: &str = "the scoring threads stopped";

impl<E> Pool<E> {
    /// Hands `job` to a scoring thread, answering with `on_done` whatever comes back while all
    /// are busy.
    fn send(&mut self, job: Job, on_done: &mut dyn FnMut(Done<E>) -> Res<(), E>) -> Res<(), E> {
        let tx = self
            .tx
            .as_ref()
            .ok_or(RankError::Threads("the scoring threads are gone"))?;
        let mut job = job;
        loop {
            match tx.try_send(job) {
                Ok(()) => {
                    self.pending += 1;
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    job = back;
                    let done = self.rx.recv().map_err(|_| RankError::Threads(STOPPED))?;
                    self.pending -= 1;
                    on_done(done)?;
                }
                Err(TrySendError::Disconnected(_)) => return Err(RankError::Threads(STOPPED)),
            }
        }
    }

    /// Answers what has come back, waiting for everything when `all`.
    fn drain(&mut self, all: bool, on_done: &mut dyn FnMut(Done<E>) -> Res<(), E>) -> Res<(), E> {
        while self.pending > 0 {
            let done = if all {
                self.rx.recv().map_err(|_| RankError::Threads(STOPPED))?
            } else {
                match self.rx.try_recv() {
                    Ok(done) => done,
                    Err(_) => return Ok(()),
                }
            };
            self.pending -= 1;
            on_done(done)?;
        }
        Ok(())
    }
}

/// A scoring thread: its own scorer; answers jobs until the queue closes.
fn work<S, F>(
    make: &F,
    schema: &Schema,
    job: &RankFile<'_>,
    jobs: &Mutex<Receiver<Job>>,
    done: &mpsc::Sender<Done<S::Error>>,
) -> Res<(), S::Error>
where
    S: LeadScorer,
    F: Fn() -> Result<S, S::Error>,
{
    let scorer = make().map_err(RankError::Start)?;
    loop {
        let next = {
            let Ok(rx) = jobs.lock() else {
                return Ok(());
            };
            match rx.recv() {
                Ok(next) => next,
                Err(_) => return Ok(()),
            }
        };
        let out = match next {
            Job::Score {
                block,
                start,
                leads,
            } => Done::Scored {
                block,
                start,
                scores: score_block(&scorer, &job.policy, schema, &leads, &mut |_| {}),
            },
            Job::Explain { place, index, lead } => Done::Explained {
                place,
                index,
                reasons: scorer
                    .explain(schema, &lead, job.reasons)
                    .map_err(|source| RankError::Explain {
                        id: lead.id.to_string(),
                        row: lead.row,
                        source,
                    }),
            },
        };
        if done.send(out).is_err() {
            return Ok(());
        }
    }
}

/// The first error of a step run on several threads, by where it comes in a run on one thread
/// (scoring errors by block, explanation errors by queue place), which stops at it.
struct FirstError<E> {
    at: Option<(usize, RankError<E>)>,
}

impl<E> FirstError<E> {
    fn offer(&mut self, pos: usize, e: RankError<E>) {
        if self.at.as_ref().is_none_or(|(p, _)| pos < *p) {
            self.at = Some((pos, e));
        }
    }
}

/// What has come back from the scoring threads.
struct Tally<E> {
    scored: u64,
    explained: u64,
    scoring: FirstError<E>,
    explaining: FirstError<E>,
}

impl<E: From<Error>> Tally<E> {
    fn new() -> Self {
        Self {
            scored: 0,
            explained: 0,
            scoring: FirstError { at: None },
            explaining: FirstError { at: None },
        }
    }

    /// Stores an answer in the queue.
    fn take(&mut self, queue: &mut impl RankedStore, done: Done<E>) -> Res<(), E> {
        match done {
            Done::Scored {
                block,
                start,
                scores,
            } => match scores {
                Ok(s) => match queue.set_scores(start, &s) {
                    Ok(()) => self.scored += s.len() as u64,
                    Err(e) => self.scoring.offer(block, RankError::Score(e.into())),
                },
                Err(e) => self.scoring.offer(block, RankError::Score(e)),
            },
            Done::Explained {
                place,
                index,
                reasons,
            } => {
                match reasons.and_then(|r| queue.set_reasons(index, r).map_err(RankError::Queue)) {
                    Ok(()) => self.explained += 1,
                    Err(e) => self.explaining.offer(place, e),
                }
            }
        }
        Ok(())
    }
}

fn rank<E: From<Error>>(
    job: &RankFile<'_>,
    reader: &mut LeadReader<'_, File>,
    queue: &mut DiskQueue,
    pool: &mut Pool<E>,
    file_len: u64,
    mut drift: Option<&mut crate::drift::DriftChecker<'_>>,
    progress: &mut dyn Progress,
) -> Res<RankedFile, E> {
    let block_size = job.policy.block.max(1);
    let mut tally = Tally::new();
    let mut estimate = 0;

    // Read and spill rows; hand out blocks of leads as they fill.
    let read_batch = job.read_batch.clamp(1, block_size);
    let (mut fresh, mut raw) = (Vec::new(), RawRows::default());
    let mut block: Vec<Lead> = Vec::with_capacity(block_size);
    let (mut block_start, mut blocks) = (0usize, 0usize);
    let mut reserved = false;
    loop {
        let want = read_batch.min(block_size - block.len());
        let n = reader
            .read_batch(want, &mut fresh, Some(&mut raw))
            .map_err(RankError::Read)?;
        queue.push(&fresh, &raw).map_err(RankError::Write)?;
        raw.clear();
        if let Some(check) = drift.as_deref_mut() {
            fresh.iter().for_each(|lead| check.add(lead));
        }
        block.append(&mut fresh);
        if !reserved && n > 0 && file_len > 0 {
            // Size what grows with the file once, from the first rows (a little more, as the
            // reader reads ahead): nothing is reallocated, leaving holes in the heap, later.
            reserved = true;
            let per_byte = queue.len() as f64 / reader.bytes_read().max(1) as f64;
            let more = (per_byte * file_len as f64 * 1.2) as usize;
            let more = more.saturating_sub(queue.len()).min(u32::MAX as usize);
            queue.reserve(more);
            reader.reserve(more);
        }
        if block.len() == block_size || (n == 0 && !block.is_empty()) {
            let leads = std::mem::replace(&mut block, Vec::with_capacity(block_size));
            let start = block_start;
            block_start += leads.len();
            // After a failed block the rest is still read, for its row errors, but no longer
            // scored.
            if tally.scoring.at.is_none() {
                let next = Job::Score {
                    block: blocks,
                    start,
                    leads,
                };
                blocks += 1;
                pool.send(next, &mut |d| tally.take(queue, d))?;
            }
        }
        pool.drain(false, &mut |d| tally.take(queue, d))?;
        if !reader.is_done() && file_len > 0 {
            let read = reader.bytes_read().max(1) as f64;
            estimate = (queue.len() as f64 * file_len as f64 / read).ceil() as u64;
        }
        progress.scoring(tally.scored, estimate);
        if n == 0 {
            break;
        }
    }
    let end = reader.finish().map_err(RankError::Read)?;
    let n = queue.len();
    progress.scoring(tally.scored, n as u64);
    progress.read(&end.report);
    queue.finish_read(end.ids).map_err(RankError::Write)?;
    pool.drain(true, &mut |d| {
        let r = tally.take(queue, d);
        progress.scoring(tally.scored, n as u64);
        r
    })?;
    progress.scored();
    if let Some((_, e)) = tally.scoring.at.take() {
        return Err(e);
    }
    let order = queue.order().map_err(RankError::Queue)?;

    // Explain the top leads, a lead per job; their cells are read back from the scratch file.
    let explain_n = job.explain.min(n);
    if explain_n > 0 {
        progress.explaining(0, explain_n as u64);
        for (place, &index) in order.iter().take(explain_n).enumerate() {
            let index = index as usize;
            let cells = queue.cells(index).map_err(RankError::Queue)?;
            let lead = reader
                .parse_cells(cells.iter(), queue.row(index).unwrap_or(0))
                .map_err(RankError::Queue)?;
            let next = Job::Explain {
                place,
                index,
                lead: Box::new(lead),
            };
            pool.send(next, &mut |d| tally.take(queue, d))?;
            pool.drain(false, &mut |d| tally.take(queue, d))?;
            progress.explaining(tally.explained, explain_n as u64);
        }
        pool.drain(true, &mut |d| {
            let r = tally.take(queue, d);
            progress.explaining(tally.explained, explain_n as u64);
            r
        })?;
        if let Some((_, e)) = tally.explaining.at.take() {
            return Err(e);
        }
    }

    crate::fs::write_atomic(job.out, |w| queue.write_csv(w, &order)).map_err(RankError::Write)?;

    let top = order
        .iter()
        .take(5)
        .map(|&i| {
            let i = i as usize;
            let (score, p) = queue.score(i).unwrap_or((f32::NAN, f32::NAN));
            (queue.id(i).unwrap_or("").to_string(), score, p)
        })
        .collect();
    Ok(RankedFile {
        leads: n,
        top,
        drift: None,
    })
}
