//! `leadladder rank` on a file of any size: read a batch of rows at a time
//! (core's [`LeadReader`]), score blocks of leads on several threads, keep per lead only what
//! the queue order needs (core's [`DiskQueue`]: the rows wait in a scratch file beside the
//! output), explain the top leads and write the ranked CSV in rank order. The output is the
//! bytes that the in-memory pipeline (core's `Queue`, what the page runs) writes.
//!
//! Threads: the main thread reads, parses and spills rows and hands blocks of
//! [`SCORE_BLOCK`] leads (the blocks `Scorer::score_queue` scores, so every lead gets the same
//! score) to the scoring threads through a one-slot queue, so at most `threads + 2` blocks are
//! in memory. Each scoring thread has its own copy of the model and, by default, its own
//! one-thread pool for Burn's CPU kernels.

use std::fs::File;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use leadladder_bundle::Bundle;
use leadladder_core::disk_queue::DiskQueue;
use leadladder_core::drift::DriftChecker;
use leadladder_core::fs::ScratchFile;
use leadladder_core::ingest::{LeadReader, RawRows};
use leadladder_core::{Lead, Schema, Score, Spec};
use leadladder_model::{DeviceKind, Residency, SCORE_BLOCK, Scorer};

use crate::rank::{Args, drift_error, load_bundle, print_top, read_error};

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

/// What a scoring thread sends back.
enum Done {
    Scored {
        block: usize,
        start: usize,
        leads: Vec<Lead>,
        scores: Result<Vec<Score>>,
    },
    Explained {
        place: usize,
        index: usize,
        reasons: Result<String>,
    },
}

/// Settings every scoring thread shares.
struct Setup<'a> {
    schema: Schema,
    batch: usize,
    reasons: usize,
    kernel_threads: usize,
    /// The model loaded once, when threads share it.
    shared: Option<&'a Scorer>,
    /// The checked bundle each thread loads its own model from (sharing its bytes).
    bundle: &'a Bundle,
    model: &'a std::path::Path,
    device: DeviceKind,
}

pub fn run(args: &Args) -> Result<()> {
    let device = DeviceKind::from(args.device());
    let bundle = load_bundle(args.model())?;
    let scorer = Scorer::from_bundle(&bundle, device)
        .with_context(|| format!("loading the model {}", args.model().display()))?;
    let spec = scorer.spec().scoring();
    let opts = args.ingest_options();
    let input = args.input();
    let file = File::open(input).with_context(|| format!("reading {}", input.display()))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader =
        LeadReader::new(file, &spec, &opts).map_err(|e| read_error(input, &spec, e))?;
    // The file against the training data's distribution, lead by lead as it is read.
    let mut drift = bundle
        .drift_profile()
        .map(|p| p.checker(reader.schema()))
        .transpose()
        .map_err(|e| drift_error(input, args.model(), e))?;
    let scratch = ScratchFile::beside(args.out(), "rows")
        .with_context(|| format!("writing {}", args.out().display()))?;
    let mut queue = DiskQueue::new(scratch, reader.header().to_vec())
        .with_context(|| format!("writing {}", args.out().display()))?;

    // A model whose layers stay as stored (a real-size one) scores on one thread whose matrix
    // products use every core: more scoring threads would each dequantize every matrix again,
    // and a file shorter than a read batch would give one of them all its leads.
    let one_wide_thread = device == DeviceKind::Cpu
        && !args.threads_given()
        && Residency::cpu(&bundle.config).host_layers;
    let (threads, kernel_threads) = if one_wide_thread {
        (1, 0)
    } else {
        (args.threads(), args.kernel_threads())
    };
    let setup = Setup {
        schema: reader.schema().clone(),
        batch: args.batch(),
        reasons: args.reasons(),
        kernel_threads,
        shared: args.share_model().then_some(&scorer),
        bundle: &bundle,
        model: args.model(),
        device,
    };
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(1);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();

    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (rx, tx, setup) = (Arc::clone(&job_rx), done_tx.clone(), &setup);
            workers.push(s.spawn(move || work(setup, &rx, &tx)));
        }
        // Only the threads hold the two channels' far ends: when they are all gone, sending
        // fails instead of waiting.
        drop((job_rx, done_tx));
        let mut pool = Pool {
            tx: Some(job_tx),
            rx: done_rx,
            pending: 0,
        };
        let description = scorer.device_info().description;
        let result = rank(
            args,
            &spec,
            &mut reader,
            &mut queue,
            &mut pool,
            file_len,
            &description,
            drift.as_mut(),
        );
        // Whatever happened, let the threads finish: closing the queue ends them.
        pool.tx = None;
        while pool.rx.recv().is_ok() {}
        let mut failed = None;
        for w in workers {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(_) => failed = failed.or(Some(anyhow!("a scoring thread panicked"))),
            }
        }
        // A thread that failed (it could not load the model) is why the rest stopped.
        failed.map_or(result, Err)
    })?;
    crate::drift::warn_guard(bundle.guard());
    crate::drift::report(drift.map(DriftChecker::finish).as_ref(), args.drift_json())
}

/// The main thread's end of the scoring threads.
struct Pool {
    tx: Option<SyncSender<Job>>,
    rx: Receiver<Done>,
    /// Jobs sent and not yet answered.
    pending: usize,
}

impl Pool {
    /// Hands `job` to a scoring thread, answering with `on_done` whatever comes back while all
    /// are busy.
    fn send(&mut self, job: Job, on_done: &mut dyn FnMut(Done) -> Result<()>) -> Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| anyhow!("the scoring threads are gone"))?;
        let mut job = job;
        loop {
            match tx.try_send(job) {
                Ok(()) => {
                    self.pending += 1;
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    job = back;
                    let done = self
                        .rx
                        .recv()
                        .map_err(|_| anyhow!("the scoring threads stopped"))?;
                    self.pending -= 1;
                    on_done(done)?;
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(anyhow!("the scoring threads stopped"));
                }
            }
        }
    }

    /// Answers what has come back, waiting for everything when `all`.
    fn drain(&mut self, all: bool, on_done: &mut dyn FnMut(Done) -> Result<()>) -> Result<()> {
        while self.pending > 0 {
            let done = if all {
                self.rx
                    .recv()
                    .map_err(|_| anyhow!("the scoring threads stopped"))?
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

/// A scoring thread: its own model (unless shared) and kernel pool; answers jobs until the
/// queue closes.
fn work(setup: &Setup, jobs: &Mutex<Receiver<Job>>, done: &mpsc::Sender<Done>) -> Result<()> {
    let own;
    let scorer = match setup.shared {
        Some(s) => s,
        None => {
            own = Scorer::from_bundle(setup.bundle, setup.device)
                .with_context(|| format!("loading the model {}", setup.model.display()))?;
            &own
        }
    };
    let pool = match setup.kernel_threads {
        0 => None,
        n => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .context("starting a kernel thread pool")?,
        ),
    };
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else {
                return Ok(());
            };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return Ok(()),
            }
        };
        let answer = || answer(scorer, setup, job);
        let out = match &pool {
            Some(pool) => pool.install(answer),
            None => answer(),
        };
        if done.send(out).is_err() {
            return Ok(());
        }
    }
}

fn answer(scorer: &Scorer, setup: &Setup, job: Job) -> Done {
    match job {
        Job::Score {
            block,
            start,
            leads,
        } => {
            let scores = scorer
                .score_leads(&setup.schema, &leads, setup.batch, &mut |_| {})
                .map_err(anyhow::Error::new);
            Done::Scored {
                block,
                start,
                leads,
                scores,
            }
        }
        Job::Explain { place, index, lead } => {
            let reasons = scorer
                .explain(&setup.schema, &lead, setup.reasons)
                .map(|f| leadladder_model::explain::format_factors(&f))
                .map_err(anyhow::Error::new)
                .with_context(|| format!("explaining lead `{}` (row {})", lead.id, lead.row));
            Done::Explained {
                place,
                index,
                reasons,
            }
        }
    }
}

/// The first error of a stage run on several threads, by where it comes in the in-memory
/// pipeline (scoring errors by block, explanation errors by queue place), which stops at it.
#[derive(Default)]
struct FirstError {
    at: Option<(usize, anyhow::Error)>,
}

impl FirstError {
    fn offer(&mut self, pos: usize, e: anyhow::Error) {
        if self.at.as_ref().is_none_or(|(p, _)| pos < *p) {
            self.at = Some((pos, e));
        }
    }
}

/// What has come back from the scoring threads.
#[derive(Default)]
struct Tally {
    scored: u64,
    explained: u64,
    scoring: FirstError,
    explaining: FirstError,
}

impl Tally {
    /// Stores an answer in the queue.
    fn take(&mut self, queue: &mut DiskQueue, done: Done) -> Result<()> {
        match done {
            Done::Scored {
                block,
                start,
                leads,
                scores,
            } => {
                let stored = scores.and_then(|s| {
                    queue
                        .set_scores(start, &leads, &s)
                        .map_err(anyhow::Error::new)
                });
                match stored {
                    Ok(()) => self.scored += leads.len() as u64,
                    Err(e) => self.scoring.offer(block, e.context("scoring")),
                }
            }
            Done::Explained {
                place,
                index,
                reasons,
            } => match reasons.and_then(|r| queue.set_reasons(index, r).map_err(Into::into)) {
                Ok(()) => self.explained += 1,
                Err(e) => self.explaining.offer(place, e),
            },
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn rank(
    args: &Args,
    spec: &Spec,
    reader: &mut LeadReader<'_, File>,
    queue: &mut DiskQueue,
    pool: &mut Pool,
    file_len: u64,
    device: &str,
    mut drift: Option<&mut DriftChecker<'_>>,
) -> Result<()> {
    let input = args.input();
    let started = Instant::now();
    let mut bar = crate::progress::Progress::new("ranking", 0, "leads");
    let mut tally = Tally::default();

    // Read and spill rows; hand out blocks of leads as they fill.
    let read_batch = args.read_batch().min(SCORE_BLOCK);
    let (mut fresh, mut raw) = (Vec::new(), RawRows::default());
    let mut block: Vec<Lead> = Vec::with_capacity(SCORE_BLOCK);
    let (mut block_start, mut blocks) = (0usize, 0usize);
    let mut reserved = false;
    loop {
        let want = read_batch.min(SCORE_BLOCK - block.len());
        let n = reader
            .read_batch(want, &mut fresh, Some(&mut raw))
            .map_err(|e| read_error(input, spec, e))?;
        queue
            .push(&fresh, &raw)
            .with_context(|| format!("writing {}", args.out().display()))?;
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
        if block.len() == SCORE_BLOCK || (n == 0 && !block.is_empty()) {
            let leads = std::mem::replace(&mut block, Vec::with_capacity(SCORE_BLOCK));
            let start = block_start;
            block_start += leads.len();
            // After a failed block the rest is still read, for its row errors (the in-memory
            // pipeline reads everything before it scores), but no longer scored.
            if tally.scoring.at.is_none() {
                let job = Job::Score {
                    block: blocks,
                    start,
                    leads,
                };
                blocks += 1;
                pool.send(job, &mut |d| tally.take(queue, d))?;
            }
        }
        pool.drain(false, &mut |d| tally.take(queue, d))?;
        if !reader.is_done() && file_len > 0 {
            let read = reader.bytes_read().max(1) as f64;
            bar.set_total((queue.len() as f64 * file_len as f64 / read).ceil() as u64);
        }
        bar.set(tally.scored, "");
        if n == 0 {
            break;
        }
    }
    let end = reader.finish().map_err(|e| read_error(input, spec, e))?;
    let n = queue.len();
    bar.set_total(n as u64);
    let r = &end.report;
    match r.issues.first().filter(|_| r.rows_skipped > 0) {
        Some(first) => bar.println(&format!(
            "{}, first: {first}",
            crate::read_summary(input, r)
        )),
        None => bar.println(&crate::read_summary(input, r)),
    }
    queue
        .finish_read(end.ids)
        .with_context(|| format!("writing {}", args.out().display()))?;
    pool.drain(true, &mut |d| {
        let r = tally.take(queue, d);
        bar.set(tally.scored, "");
        r
    })?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish();
    if let Some((_, e)) = tally.scoring.at.take() {
        return Err(e);
    }
    let order = queue.order()?;

    // Explain the top leads, a lead per job; their cells are read back from the scratch file.
    let explain_n = args.explain().min(n);
    if explain_n > 0 {
        let mut bar = crate::progress::Progress::new("explaining", explain_n as u64, "leads");
        for (place, &index) in order.iter().take(explain_n).enumerate() {
            let index = index as usize;
            let cells = queue.cells(index)?;
            let lead = reader.parse_cells(cells.iter(), queue.row(index).unwrap_or(0))?;
            let job = Job::Explain {
                place,
                index,
                lead: Box::new(lead),
            };
            pool.send(job, &mut |d| tally.take(queue, d))?;
            pool.drain(false, &mut |d| tally.take(queue, d))?;
            bar.set(tally.explained, "");
        }
        pool.drain(true, &mut |d| {
            let r = tally.take(queue, d);
            bar.set(tally.explained, "");
            r
        })?;
        bar.finish();
        if let Some((_, e)) = tally.explaining.at.take() {
            return Err(e);
        }
    }

    leadladder_core::fs::write_atomic(args.out(), |w| queue.write_csv(w, &order))
        .with_context(|| format!("writing {}", args.out().display()))?;

    println!(
        "ranked {n} leads on {} ({device}; {} scoring thread{}) in {seconds:.2}s: {:.1} leads/s; \
         wrote {}",
        args.device().name(),
        args.threads(),
        if args.threads() == 1 { "" } else { "s" },
        n as f64 / seconds.max(1e-9),
        args.out().display()
    );
    print_top(
        n,
        order.iter().take(5).map(|&i| {
            let i = i as usize;
            let (score, p) = queue.score(i).unwrap_or((f32::NAN, f32::NAN));
            (queue.id(i).unwrap_or(""), score, p)
        }),
    );
    Ok(())
}
