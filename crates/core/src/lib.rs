//! # leadladder-core
//!
//! Everything between a CRM export and a model's input, and everything after a model's scores,
//! shared by the trainer, the CLI and the browser: the ladder spec, CSV ingest (with column
//! mapping), rung assignment and HPRO pairs, prompt rendering, the temporal split, ranking
//! metrics and the baselines a model must beat, the one ranking pipeline ([`pipeline`]: read →
//! blocks → score → order → explain → write, with the block and batch policy) and the ranked
//! queues it fills (in memory for the page, on disk for `leadladder rank`; order, export,
//! audit), the drift check of a file against the distribution
//! of a model's training data ([`drift`]) and the guard against a model that ranks its own test
//! period worse than recency ([`guard`]). Also the project's small shared helpers: one hash
//! ([`hash::Fnv`]) and one atomic file writer ([`fs::write_atomic`]).
//!
//! Must not: depend on an ML crate or the model (the pipeline reaches the model through its
//! [`pipeline::LeadScorer`] trait), use threads outside the native file pipeline's scoring
//! threads ([`pipeline::file`]), or panic on any input; it builds for `wasm32-unknown-unknown`
//! (the file writer, the scratch file, the [`disk_queue`] that keeps rows in one and the file
//! pipeline are for native callers only).

pub mod audit;
pub mod baselines;
pub mod dataset;
pub mod disk_queue;
pub mod drift;
pub mod error;
pub mod export;
pub mod fields;
pub mod fs;
pub mod guard;
pub mod hash;
pub mod ingest;
pub mod ladder;
pub mod mapping;
pub mod metrics;
pub mod pipeline;
pub mod prompt;
pub mod queue;
pub mod report;
pub mod rng;
pub mod spec;
pub mod split;
#[cfg(test)]
mod testing;
pub mod value;

pub use dataset::{Column, Dataset, IngestOptions, IngestReport, Lead, Policy, Schema};
pub use error::{Error, Result, RowIssue};
pub use queue::{Queue, Score};
pub use spec::{Condition, Role, Rung, Scalar, Spec, SpecInfo, Tier};
pub use value::Value;
