//! # leadladder-wasm
//!
//! The wasm-bindgen binding of leadladder for the page and the `<lead-ladder>` widget; the
//! JavaScript contract is `API.md`. It owns only the conversion between JavaScript values and
//! the Rust API, the browser's WebGPU adapter probe, the helper workers' memory plan ([`plan`]),
//! and the panic hook.
//!
//! Must not: hold logic a native caller could need. Reading a file, column mapping, header
//! sniffing, the ranked queue (order, export, audit, summaries, filters) live in
//! `leadladder-core`; the bundle's description and cost formulas in `leadladder-bundle`;
//! scoring, explanations and the GPU-limits decision in `leadladder-model`. Nothing here may
//! panic on input: a wasm panic kills the page.

mod error;
pub mod plan;

#[cfg(target_arch = "wasm32")]
mod bindings;

pub use error::{Error, Result};
