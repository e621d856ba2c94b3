//! # leadladder-core
//!
//! Everything between a CRM export and a model's input, shared by the trainer, the CLI and the
//! browser: the ladder spec, CSV ingest, rung assignment and HPRO pairs, prompt rendering, the
//! temporal split, ranking metrics and the baselines a model must beat. No ML dependencies; builds
//! for `wasm32-unknown-unknown`.

pub mod audit;
pub mod baselines;
pub mod dataset;
pub mod error;
pub mod export;
pub mod ingest;
pub mod ladder;
pub mod metrics;
pub mod prompt;
pub mod report;
pub mod rng;
pub mod spec;
pub mod split;
pub mod value;

pub use dataset::{Column, Dataset, IngestOptions, IngestReport, Lead, Policy, Schema};
pub use error::{Error, Result, RowIssue};
pub use spec::{Condition, Role, Rung, Scalar, Spec, Tier};
pub use value::Value;
