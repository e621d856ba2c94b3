//! # leadladder-train-wasm
//!
//! Training a ranker inside a browser page (`pkg/train/`, loaded only when the page opens its
//! training panel). The JavaScript contract is `API.md`.
//!
//! * [`job`] — one `leadladder train` run on bytes: the same spec and CSV reading, the same
//!   trainer calls, the same bundle and report.
//! * [`spec_toml`] — the ladder editor's spec (JSON in the spec's own serde shape) written as
//!   the TOML `leadladder train --ladder` reads, checked by parsing it back.
//! * [`inspect`] — the columns of a CSV with a sample of their values, for the editor's form.
//!
//! Must not: train, split, tokenize, validate a spec or write a report any other way than the
//! trainer and core do (the page must give the bundle and the messages the CLI gives), or panic
//! on input (a wasm panic kills the worker).

mod error;
pub mod inspect;
pub mod job;
pub mod spec_toml;

#[cfg(target_arch = "wasm32")]
mod bindings;

pub use error::{Error, Result};
