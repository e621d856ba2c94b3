//! The JavaScript surface (see API.md): conversions between JavaScript values and the Rust API.

use std::cell::RefCell;

use js_sys::{Function, JSON, Uint8Array};
use leadladder_core::spec::SpecInfo;
use leadladder_trainer::train::Progress;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::job::{self, Job};
use crate::{inspect, spec_toml};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the panic hook: a panic is logged and kept for `lastPanic()`; the call that
/// panicked throws in JavaScript (a `RuntimeError`) instead of failing silently.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("leadladder's trainer crashed: {info}");
        web_sys::console::error_1(&JsValue::from_str(&msg));
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
    }));
}

/// The message of the last Rust panic, if any (the module must then be reloaded).
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}

/// A plain JS object from a serialisable value (through JSON: keys as serde names them).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(value)?;
    JSON::parse(&text).map_err(|_| JsError::new("internal: a value did not cross to JavaScript"))
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Crate version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The presets the page can train (the from-scratch ones).
#[wasm_bindgen]
pub fn presets() -> Vec<String> {
    leadladder_trainer::preset::PRESETS
        .iter()
        .map(|s| (*s).to_string())
        .collect()
}

/// The file's columns for the ladder editor.
#[wasm_bindgen(js_name = inspectCsv)]
pub fn inspect_csv(bytes: &[u8]) -> Result<JsValue, JsError> {
    to_js(&inspect::inspect(bytes).map_err(err)?)
}

#[derive(Serialize)]
struct ReadSpec {
    /// The spec in its serde shape, as JSON text (what the editor edits).
    json: String,
    info: SpecInfo,
}

/// Parses and validates a TOML spec as `leadladder train --ladder` does; throws the CLI's
/// message (leakage included).
#[wasm_bindgen(js_name = readSpec)]
pub fn read_spec(toml: &str) -> Result<JsValue, JsError> {
    let spec = job::read_spec(toml).map_err(err)?;
    to_js(&ReadSpec {
        json: spec.to_json().map_err(err)?,
        info: SpecInfo::new(&spec),
    })
}

/// The editor's spec (JSON text in the spec's serde shape) as the TOML the CLI reads; throws
/// the CLI's message when the spec is invalid or leaks.
#[wasm_bindgen(js_name = specToToml)]
pub fn spec_to_toml(json: &str) -> Result<String, JsError> {
    spec_toml::json_to_toml(json).map_err(err)
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct TrainArgs {
    preset: Option<String>,
    seed: Option<u64>,
    epochs: Option<usize>,
    bootstrap: Option<usize>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Event<'a> {
    Stage {
        text: &'a str,
    },
    Step {
        step: u64,
        total: u64,
        loss: f64,
        tokens: usize,
    },
    Epoch {
        #[serde(flatten)]
        log: &'a leadladder_trainer::train::EpochLog,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    report_markdown: &'a str,
    report_json: &'a str,
    metrics_jsonl: &'a str,
    guard: &'a [String],
    leads: usize,
    tokens_per_s: f64,
}

/// Trains on the file's bytes under the spec (TOML) with `options` (`{ preset, seed?, epochs?,
/// bootstrap? }` as JSON text), calling `on_progress(event)` synchronously as the trainer
/// reports. Returns `{ bundle: Uint8Array, reportMarkdown, reportJson, metricsJsonl, guard,
/// leads, tokensPerS }`.
#[wasm_bindgen]
pub fn train(
    csv: &[u8],
    spec_toml: &str,
    options: &str,
    on_progress: &Function,
) -> Result<JsValue, JsError> {
    let args: TrainArgs = serde_json::from_str(options)
        .map_err(|e| JsError::new(&format!("training options: {e}")))?;
    let job = Job {
        preset: args.preset.unwrap_or_else(|| "tiny".to_string()),
        seed: args.seed,
        epochs: args.epochs,
        bootstrap: args.bootstrap,
    };
    let mut callback_error: Option<JsValue> = None;
    let mut progress = |p: Progress| {
        if callback_error.is_some() {
            return;
        }
        let event = match &p {
            Progress::Stage(text) => Event::Stage { text },
            Progress::Step {
                step,
                total,
                loss,
                tokens,
            } => Event::Step {
                step: *step,
                total: *total,
                loss: *loss,
                tokens: *tokens,
            },
            Progress::Epoch(log) => Event::Epoch { log },
        };
        match to_js(&event) {
            Ok(v) => {
                if let Err(e) = on_progress.call1(&JsValue::NULL, &v) {
                    callback_error = Some(e);
                }
            }
            Err(e) => callback_error = Some(e.into()),
        }
    };
    let out = job::train(csv, spec_toml, &job, &mut progress).map_err(err)?;
    if let Some(e) = callback_error {
        web_sys::console::error_2(&JsValue::from_str("the progress callback threw:"), &e);
    }
    let summary = to_js(&Summary {
        report_markdown: &out.report_markdown,
        report_json: &out.report_json,
        metrics_jsonl: &out.metrics_jsonl,
        guard: &out.guard,
        leads: out.leads,
        tokens_per_s: out.tokens_per_s,
    })?;
    js_sys::Reflect::set(
        &summary,
        &JsValue::from_str("bundle"),
        &Uint8Array::from(out.bundle.as_slice()),
    )
    .map_err(|_| JsError::new("internal: could not attach the bundle"))?;
    Ok(summary)
}
