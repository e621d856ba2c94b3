//! The JavaScript surface (see API.md). Conversions only: the work is in the other modules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use leadladder_model::{DeviceKind, Scorer as ModelScorer};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::info::BundleInfo;
use crate::session::Session;
use crate::{BATCH, Error, gpu_bytes_needed, gpu_limits_fit, mapping};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the panic hook: a panic is logged and kept for `lastPanic()`, and the call that
/// panicked throws in JavaScript instead of failing silently.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("leadladder crashed: {info}");
        web_sys::console::error_1(&JsValue::from_str(&msg));
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
    }));
}

/// The message of the last Rust panic, if any (the module must then be reloaded).
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

fn js_to_value(e: JsError) -> JsValue {
    JsValue::from(e)
}

/// Crate version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// True only in the WebGPU build (`pkg/gpu`).
#[wasm_bindgen(js_name = hasWebGpuBuild)]
pub fn has_webgpu_build() -> bool {
    cfg!(feature = "webgpu")
}

/// Checks a bundle with the full loader and describes it. Throws on a bad bundle.
#[wasm_bindgen(js_name = inspectBundle)]
pub fn inspect_bundle(bytes: &[u8]) -> Result<JsValue, JsError> {
    to_js(&BundleInfo::inspect(bytes).map_err(js_err)?)
}

/// The header row, encoding and delimiter of a CSV, read with `loadCsv`'s own sniffing.
#[wasm_bindgen(js_name = sniffHeader)]
pub fn sniff_header(bytes: &[u8]) -> Result<JsValue, JsError> {
    to_js(&mapping::sniff_header(bytes).map_err(js_err)?)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceInfo {
    backend: &'static str,
    adapter: Option<String>,
    fallback_reason: Option<String>,
    limits: Option<BTreeMap<String, f64>>,
}

fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// Asks the browser for a WebGPU adapter without touching wgpu (which panics where WebGPU is
/// missing): its description and limits, or why there is none.
async fn probe_adapter() -> std::result::Result<(String, BTreeMap<String, f64>), String> {
    let global = js_sys::global();
    let nav = get(&global, "navigator").ok_or("this context has no navigator")?;
    let gpu =
        get(&nav, "gpu").ok_or("this browser does not offer WebGPU (navigator.gpu is missing)")?;
    let request: Function = get(&gpu, "requestAdapter")
        .and_then(|f| f.dyn_into().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("no WebGPU adapter is available on this device".into());
    }
    let mut parts = Vec::new();
    if let Some(info) = get(&adapter, "info") {
        for key in ["vendor", "architecture", "description"] {
            if let Some(s) = get(&info, key).and_then(|v| v.as_string()) {
                if !s.is_empty() {
                    parts.push(s);
                }
            }
        }
    }
    if get(&adapter, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true)
        || get(&adapter, "info")
            .and_then(|i| get(&i, "isFallbackAdapter"))
            .and_then(|v| v.as_bool())
            == Some(true)
    {
        parts.push("(fallback adapter)".into());
    }
    let mut limits = BTreeMap::new();
    if let Some(l) = get(&adapter, "limits") {
        for key in ["maxStorageBufferBindingSize", "maxBufferSize"] {
            if let Some(v) = get(&l, key).and_then(|v| v.as_f64()) {
                limits.insert(key.to_string(), v);
            }
        }
    }
    let description = if parts.is_empty() {
        "WebGPU adapter".to_string()
    } else {
        parts.join(" ")
    };
    Ok((description, limits))
}

/// A bundle loaded onto WebGPU or the CPU, plus the loaded file.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Scorer {
    model: Rc<ModelScorer>,
    session: Rc<RefCell<Option<Session>>>,
    device: DeviceInfo,
}

impl Scorer {
    async fn try_gpu(
        bytes: &[u8],
    ) -> std::result::Result<(ModelScorer, String, BTreeMap<String, f64>), String> {
        let (adapter, mut limits) = probe_adapter().await?;
        let bundle = leadladder_bundle::Bundle::from_bytes(bytes).map_err(|e| e.to_string())?;
        let needed = gpu_bytes_needed(&bundle.config, BATCH);
        drop(bundle);
        limits.insert("neededStorageBufferBindingSize".into(), needed as f64);
        gpu_limits_fit(&limits, needed)?;
        let model = ModelScorer::from_bytes_async(bytes, DeviceKind::Wgpu)
            .await
            .map_err(|e| e.to_string())?;
        // Prove the device computes before trusting it.
        let eos = model.tokenizer().eos_id();
        let warm = model
            .score_ids_async(&[vec![eos]])
            .await
            .map_err(|e| format!("a test forward pass on the GPU failed: {e}"))?;
        if !warm.iter().all(|s| s.rank.is_finite()) {
            return Err("a test forward pass on the GPU gave non-finite scores".into());
        }
        Ok((model, adapter, limits))
    }
}

#[wasm_bindgen]
impl Scorer {
    /// Builds the model on WebGPU when asked and possible, else on the CPU (never throws for a
    /// missing GPU; `deviceInfo().fallbackReason` says why). Throws on a bad bundle.
    pub async fn create(bundle_bytes: Vec<u8>, prefer_gpu: bool) -> Result<Scorer, JsError> {
        // Check the bundle first, so a bad one is reported as such and not as a GPU problem.
        BundleInfo::inspect(&bundle_bytes).map_err(js_err)?;
        let mut fallback_reason = None;
        if prefer_gpu {
            if cfg!(feature = "webgpu") {
                match Self::try_gpu(&bundle_bytes).await {
                    Ok((model, adapter, limits)) => {
                        return Ok(Scorer {
                            model: Rc::new(model),
                            session: Rc::new(RefCell::new(None)),
                            device: DeviceInfo {
                                backend: "webgpu",
                                adapter: Some(adapter),
                                fallback_reason: None,
                                limits: Some(limits),
                            },
                        });
                    }
                    Err(reason) => fallback_reason = Some(reason),
                }
            } else {
                fallback_reason = Some("this is the CPU-only build".into());
            }
        }
        let model = ModelScorer::from_bytes_async(&bundle_bytes, DeviceKind::Cpu)
            .await
            .map_err(js_err)?;
        Ok(Scorer {
            model: Rc::new(model),
            session: Rc::new(RefCell::new(None)),
            device: DeviceInfo {
                backend: "cpu",
                adapter: None,
                fallback_reason,
                limits: None,
            },
        })
    }

    #[wasm_bindgen(js_name = deviceInfo)]
    pub fn device_info(&self) -> Result<JsValue, JsError> {
        to_js(&self.device)
    }

    #[wasm_bindgen(js_name = bundleInfo)]
    pub fn bundle_info(&self) -> Result<JsValue, JsError> {
        let b = self.model.bundle();
        to_js(&BundleInfo::new(
            &b.meta,
            &b.config,
            &b.spec,
            &b.provenance,
            b.bytes,
            b.parameters,
        ))
    }

    /// Suggested `{ specColumn: csvColumn }` mapping for a header, and the required columns
    /// that no header cell matches.
    #[wasm_bindgen(js_name = suggestMapping)]
    pub fn suggest_mapping(&self, header: Vec<String>) -> Result<JsValue, JsError> {
        to_js(&mapping::suggest(&self.model.bundle().spec, &header))
    }

    /// Parses a CSV (replacing any loaded file). See API.md.
    #[wasm_bindgen(js_name = loadCsv)]
    pub fn load_csv(
        &self,
        bytes: &[u8],
        mapping: JsValue,
        on_error: String,
    ) -> Result<JsValue, JsError> {
        let mapping: Option<BTreeMap<String, String>> =
            if mapping.is_null() || mapping.is_undefined() {
                None
            } else {
                Some(serde_wasm_bindgen::from_value(mapping).map_err(|e| {
                    js_err(format!(
                        "the column mapping must be an object of strings: {e}"
                    ))
                })?)
            };
        *self.session.borrow_mut() = None;
        let (session, report) = Session::load(
            &self.model.bundle().spec,
            bytes,
            mapping.as_ref(),
            &on_error,
        )
        .map_err(js_err)?;
        *self.session.borrow_mut() = Some(session);
        to_js(&report)
    }

    /// Raw cells of loaded leads `[start, end)`.
    pub fn rows(&self, start: usize, end: usize) -> Result<JsValue, JsError> {
        let s = self.session.borrow();
        let s = s.as_ref().ok_or_else(no_file)?;
        to_js(&s.rows(start, end).map_err(js_err)?)
    }

    /// Scores leads `[start, end)`; resolves when done.
    #[wasm_bindgen(js_name = scoreRange)]
    pub fn score_range(&self, start: usize, end: usize) -> Promise {
        let model = Rc::clone(&self.model);
        let session = Rc::clone(&self.session);
        future_to_promise(async move {
            let encoded = {
                let s = session.borrow();
                let s = s.as_ref().ok_or_else(no_file).map_err(js_to_value)?;
                s.encode_range(start, end, |lead| model.encode(&s.data().schema, lead))
                    .map_err(js_err)
                    .map_err(js_to_value)?
            };
            for chunk in encoded.chunks(BATCH) {
                let ids: Vec<Vec<u32>> = chunk.iter().map(|(_, ids)| ids.clone()).collect();
                let indices: Vec<usize> = chunk.iter().map(|(i, _)| *i).collect();
                let scores = model
                    .score_ids_async(&ids)
                    .await
                    .map_err(js_err)
                    .map_err(js_to_value)?;
                let mut s = session.borrow_mut();
                let s = s.as_mut().ok_or_else(no_file).map_err(js_to_value)?;
                s.set_scores(&indices, &scores)
                    .map_err(js_err)
                    .map_err(js_to_value)?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The ranked queue, best first (every lead must be scored).
    pub fn ranking(&self) -> Result<JsValue, JsError> {
        let s = self.session.borrow();
        let s = s.as_ref().ok_or_else(no_file)?;
        to_js(&s.ranking().map_err(js_err)?)
    }

    /// Occlusion reasons for the given leads; they also go into the export.
    pub fn explain(&self, indices: Vec<usize>, top_n: usize) -> Promise {
        let model = Rc::clone(&self.model);
        let session = Rc::clone(&self.session);
        future_to_promise(async move {
            #[derive(Serialize)]
            struct Reason {
                factor: String,
                kind: leadladder_model::FactorKind,
                delta: f32,
            }
            #[derive(Serialize)]
            struct Explanation {
                index: usize,
                reasons: Vec<Reason>,
            }
            let mut out = Vec::with_capacity(indices.len());
            for index in indices {
                let (schema, lead) = {
                    let s = session.borrow();
                    let s = s.as_ref().ok_or_else(no_file).map_err(js_to_value)?;
                    let lead = s.lead(index).map_err(js_err).map_err(js_to_value)?.clone();
                    (s.data().schema.clone(), lead)
                };
                let factors = model
                    .explain_async(&schema, &lead, top_n)
                    .await
                    .map_err(js_err)
                    .map_err(js_to_value)?;
                {
                    let mut s = session.borrow_mut();
                    let s = s.as_mut().ok_or_else(no_file).map_err(js_to_value)?;
                    s.set_reasons(index, &factors)
                        .map_err(js_err)
                        .map_err(js_to_value)?;
                }
                out.push(Explanation {
                    index,
                    reasons: factors
                        .into_iter()
                        .map(|f| Reason {
                            factor: f.name,
                            kind: f.kind,
                            delta: f.delta,
                        })
                        .collect(),
                });
            }
            to_js(&out).map_err(js_to_value)
        })
    }

    /// The ranked CSV (formula-safe), as `leadladder rank` writes it.
    #[wasm_bindgen(js_name = exportCsv)]
    pub fn export_csv(&self) -> Result<String, JsError> {
        let s = self.session.borrow();
        let s = s.as_ref().ok_or_else(no_file)?;
        s.export_csv().map_err(js_err)
    }

    /// P@K of the model vs recency, the hand tier sort and existing scores (files with outcomes).
    pub fn audit(&self, k_percents: Vec<f64>) -> Result<JsValue, JsError> {
        let s = self.session.borrow();
        let s = s.as_ref().ok_or_else(no_file)?;
        to_js(
            &s.audit(&self.model.bundle().spec, &k_percents)
                .map_err(js_err)?,
        )
    }
}

fn no_file() -> JsError {
    js_err(Error::State("no CSV is loaded yet".into()))
}
