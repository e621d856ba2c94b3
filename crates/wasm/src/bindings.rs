//! The JavaScript surface (see API.md): conversions between JavaScript values and the Rust API.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use leadladder_bundle::Bundle;
use leadladder_core::drift::{DriftProfile, check_json};
use leadladder_core::ingest::{sniff_header as sniff, sniff_header_prefix};
use leadladder_core::pipeline::{BlockPlan, Part, RankedStore, ScorePolicy};
use leadladder_core::{IngestOptions, Policy, Queue, Score, mapping};
use leadladder_model::{DeviceKind, Explanation, Residency, Scorer as ModelScorer, gpu_limits_fit};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::Error;

/// Block plans kept for the page's parts: the block being scored and its neighbours (helpers'
/// parts cross a block's end a little before this worker does).
const PLANS_KEPT: usize = 3;

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

/// An error as the value a rejected promise carries.
fn js(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    Ok(value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
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
    to_js(&Bundle::from_bytes(bytes)?.info())
}

/// The header row, encoding and delimiter of a CSV, read with ingest's own sniffing.
#[wasm_bindgen(js_name = sniffHeader)]
pub fn sniff_header(bytes: &[u8]) -> Result<JsValue, JsError> {
    to_js(&sniff(bytes, &IngestOptions::default())?)
}

/// How many helper workers the CPU build may score on (`crate::plan`): `input` is
/// `{ requested?, cores?, deviceMemoryGb?, perWorkerBytes, modelReadable }`.
#[wasm_bindgen(js_name = helperPlan)]
pub fn helper_plan(input: JsValue) -> Result<JsValue, JsError> {
    let input: crate::plan::HelperInput = serde_wasm_bindgen::from_value(input)
        .map_err(|e| JsError::new(&format!("helperPlan: {e}")))?;
    to_js(&crate::plan::helper_plan(&input))
}

/// As [`sniff_header`], from the first bytes of a file (`complete`: they are the whole file):
/// `null` while the bytes do not yet hold the whole header row, so the caller reads more.
#[wasm_bindgen(js_name = sniffHeaderPrefix)]
pub fn sniff_header_prefix_js(bytes: &[u8], complete: bool) -> Result<JsValue, JsError> {
    match sniff_header_prefix(bytes, complete, &IngestOptions::default())? {
        Some(s) => to_js(&s),
        None => Ok(JsValue::NULL),
    }
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
async fn probe_adapter() -> Result<(String, BTreeMap<String, f64>), String> {
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
    let info = get(&adapter, "info");
    let mut parts: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|key| info.as_ref().and_then(|i| get(i, key)))
        .filter_map(|v| v.as_string())
        .filter(|s| !s.is_empty())
        .collect();
    let fallback = |obj: Option<JsValue>| {
        obj.and_then(|o| get(&o, "isFallbackAdapter"))
            .and_then(|v| v.as_bool())
            == Some(true)
    };
    if fallback(Some(adapter.clone())) || fallback(info) {
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

/// Options of [`Scorer::create`] (a JavaScript object; every key optional).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateOptions {
    /// Treat the GPU as if one buffer could hold at most this many bytes (tests the paths a
    /// small adapter takes on a large one).
    max_binding_bytes: Option<f64>,
}

fn create_options(value: JsValue) -> Result<CreateOptions, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(CreateOptions::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        Error::Argument(format!(
            "options must be an object like {{ maxBindingBytes: 134217728 }}: {e}"
        ))
    })
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// The model on WebGPU, if this adapter can hold it and computes: the scorer, the adapter's
/// description and its limits (plus the size the model needs); else why not, naming the limit
/// and by how much it falls short.
async fn try_gpu(
    bundle: &Bundle,
    options: &CreateOptions,
) -> Result<(ModelScorer, String, BTreeMap<String, f64>), String> {
    let (adapter, mut limits) = probe_adapter().await?;
    if let Some(max) = options.max_binding_bytes {
        for key in ["maxStorageBufferBindingSize", "maxBufferSize"] {
            let v = limits.get(key).copied().unwrap_or(f64::INFINITY).min(max);
            limits.insert(key.into(), v);
        }
    }
    // One buffer must hold the largest tensor a forward pass uses. The embedding table is the
    // largest by far in a real-size model; when it does not fit it stays on the host and only
    // the rows a batch needs are uploaded.
    let needed = bundle
        .config
        .gpu_bytes_needed_without_embedding(ScorePolicy::WEBGPU.batch);
    limits.insert("neededStorageBufferBindingSize".into(), needed as f64);
    let limit_bytes = gpu_limits_fit(&limits, needed)?;
    let residency = Residency::gpu(&bundle.config, limit_bytes);
    limits.insert(
        "embeddingOnHost".into(),
        if residency.host_embedding { 1.0 } else { 0.0 },
    );
    let model = ModelScorer::from_bundle_async_with(bundle, DeviceKind::Wgpu, residency)
        .await
        .map_err(|e| e.to_string())?;
    model
        .check_device_async()
        .await
        .map_err(|e| e.to_string())?;
    Ok((model, adapter, limits))
}

/// A model file written into wasm memory a chunk at a time, so the page never holds the whole
/// file in JavaScript (see API.md): `new ModelBuffer(size)`, `write(chunk)` until `written`
/// equals the size, then `Scorer.createFromBuffer(buffer, …)`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct ModelBuffer {
    bytes: Vec<u8>,
    total: usize,
}

#[wasm_bindgen]
impl ModelBuffer {
    /// Sets aside `total_bytes` of wasm memory; throws, naming the size, when it cannot.
    #[wasm_bindgen(constructor)]
    pub fn new(total_bytes: f64) -> Result<ModelBuffer, JsError> {
        if !(total_bytes.is_finite() && total_bytes >= 0.0) {
            return Err(Error::Argument(format!("invalid model size {total_bytes}")).into());
        }
        // wasm32 addresses 4 GiB in all; the model's bytes stay in memory while it is used, and
        // scoring needs working memory beside them.
        const MAX: f64 = 3.0 * 1024.0 * 1024.0 * 1024.0;
        if total_bytes > MAX {
            return Err(Error::Argument(format!(
                "the model file is {} and a browser tab's wasm memory holds at most 4096 MiB, of which at most {} can go to the model ({} too much): use a smaller (e.g. int8) bundle or rank with `leadladder rank`",
                mib(total_bytes),
                mib(MAX),
                mib(total_bytes - MAX)
            ))
            .into());
        }
        let total = total_bytes as usize;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(total).map_err(|_| {
            Error::Argument(format!(
                "this tab could not set aside {} of memory for the model file (wasm memory in use: {}); close other tabs or use a smaller bundle",
                mib(total_bytes),
                mib(wasm_memory_bytes())
            ))
        })?;
        Ok(ModelBuffer { bytes, total })
    }

    /// Appends a chunk of the file.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        if self.bytes.len() + chunk.len() > self.total {
            return Err(Error::Argument(format!(
                "the model file is longer than the {} bytes announced",
                self.total
            ))
            .into());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes written so far.
    #[wasm_bindgen(getter)]
    pub fn written(&self) -> f64 {
        self.bytes.len() as f64
    }

    fn finish(self) -> Result<Vec<u8>, Error> {
        if self.bytes.len() != self.total {
            return Err(Error::Argument(format!(
                "the model file was cut off: {} of {} bytes arrived",
                self.bytes.len(),
                self.total
            )));
        }
        Ok(self.bytes)
    }
}

/// Bytes of this instance's wasm linear memory.
fn wasm_memory_bytes() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        (core::arch::wasm32::memory_size(0) * 65536) as f64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0.0
    }
}

/// A bundle loaded onto WebGPU or the CPU, plus the loaded file.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Scorer {
    model: Rc<ModelScorer>,
    queue: Rc<RefCell<Option<Queue>>>,
    /// How the pipeline groups leads on this device.
    policy: ScorePolicy,
    /// Plans of the blocks of the loaded file that parts were scored from lately, newest last.
    plans: Rc<RefCell<Vec<Rc<BlockPlan>>>>,
    device: DeviceInfo,
    /// The bundle's drift profile: every loaded file is checked against it while it is read.
    profile: Option<DriftProfile>,
}

/// Scores handed over from JavaScript, three numbers a lead.
fn three_a_lead(call: &str, scores: &[f32]) -> Result<Vec<Score>, Error> {
    if scores.len() % 3 != 0 {
        return Err(Error::Argument(format!(
            "{call} needs three numbers a lead, got {}",
            scores.len()
        )));
    }
    Ok(scores
        .chunks_exact(3)
        .map(|c| Score {
            rank: c[0],
            logit: c[1],
            p_convert: c[2],
        })
        .collect())
}

/// Part `k` of the loaded queue's parts.
fn part_of(policy: &ScorePolicy, queue: &Queue, k: usize) -> Result<Part, JsValue> {
    let mut parts = policy.parts(queue.len());
    if k >= parts.len() {
        return Err(js(Error::Argument(format!(
            "part {k} of {} parts",
            parts.len()
        ))));
    }
    Ok(parts.swap_remove(k))
}

/// The plan of `part`'s block: kept from an earlier part, or made (the block's leads encoded and
/// length-sorted) and kept.
fn plan_for(
    plans: &RefCell<Vec<Rc<BlockPlan>>>,
    model: &ModelScorer,
    queue: &Queue,
    policy: &ScorePolicy,
    part: &Part,
) -> Result<Rc<BlockPlan>, JsValue> {
    if let Some(plan) = plans.borrow().iter().find(|p| p.block() == part.block) {
        return Ok(Rc::clone(plan));
    }
    let plan = Rc::new(
        model
            .plan_block(queue, policy, part.block.clone())
            .map_err(js)?,
    );
    let mut kept = plans.borrow_mut();
    if kept.len() >= PLANS_KEPT {
        kept.remove(0);
    }
    kept.push(Rc::clone(&plan));
    Ok(plan)
}

/// The loaded queue, taken out of its cell while an asynchronous call works on it (so no
/// `RefCell` borrow is held across an await); [`restore`] puts it back.
fn take(cell: &RefCell<Option<Queue>>) -> Result<Queue, JsValue> {
    cell.borrow_mut().take().ok_or_else(|| js(Error::NoFile))
}

fn restore(cell: &RefCell<Option<Queue>>, queue: Queue) {
    let mut slot = cell.borrow_mut();
    if slot.is_none() {
        *slot = Some(queue);
    }
}

impl Scorer {
    fn new(model: ModelScorer, device: DeviceInfo, profile: Option<DriftProfile>) -> Self {
        let policy = if device.backend == "webgpu" {
            ScorePolicy::WEBGPU
        } else {
            ScorePolicy::DEFAULT
        };
        Self {
            model: Rc::new(model),
            queue: Rc::new(RefCell::new(None)),
            policy,
            plans: Rc::new(RefCell::new(Vec::new())),
            device,
            profile,
        }
    }

    /// Drops the loaded file and the plans made from it.
    fn drop_file(&self) {
        *self.queue.borrow_mut() = None;
        self.plans.borrow_mut().clear();
    }

    fn with_queue<T: Serialize>(&self, f: impl FnOnce(&Queue) -> T) -> Result<JsValue, JsError> {
        let q = self.queue.borrow();
        to_js(&f(q.as_ref().ok_or(Error::NoFile)?))
    }
}

#[wasm_bindgen]
impl Scorer {
    /// Builds the model on WebGPU when asked and possible, else on the CPU (never throws for a
    /// missing GPU; `deviceInfo().fallbackReason` says why). Throws on a bad bundle. The bundle
    /// is parsed once, whichever device it lands on.
    ///
    /// `options` (optional): `{ maxBindingBytes }`, see API.md.
    pub async fn create(
        bundle_bytes: Vec<u8>,
        prefer_gpu: bool,
        options: JsValue,
    ) -> Result<Scorer, JsError> {
        let options = create_options(options)?;
        Self::build(bundle_bytes, prefer_gpu, options).await
    }

    /// [`Scorer::create`] from a [`ModelBuffer`] the page filled a chunk at a time (the buffer is
    /// consumed: its memory becomes the model's).
    #[wasm_bindgen(js_name = createFromBuffer)]
    pub async fn create_from_buffer(
        buffer: ModelBuffer,
        prefer_gpu: bool,
        options: JsValue,
    ) -> Result<Scorer, JsError> {
        let options = create_options(options)?;
        let bytes = buffer.finish()?;
        Self::build(bytes, prefer_gpu, options).await
    }
}

impl Scorer {
    async fn build(
        bundle_bytes: Vec<u8>,
        prefer_gpu: bool,
        options: CreateOptions,
    ) -> Result<Scorer, JsError> {
        // Check the bundle first, so a bad one is reported as such and not as a GPU problem.
        // The bundle keeps the bytes (its tensors stay as stored); nothing is copied.
        let bundle = Bundle::from_vec(bundle_bytes)?;
        let profile = bundle.drift_profile().cloned();
        let mut fallback_reason = None;
        if prefer_gpu && cfg!(feature = "webgpu") {
            match try_gpu(&bundle, &options).await {
                Ok((model, adapter, limits)) => {
                    let device = DeviceInfo {
                        backend: "webgpu",
                        adapter: Some(adapter),
                        fallback_reason: None,
                        limits: Some(limits),
                    };
                    return Ok(Scorer::new(model, device, profile));
                }
                Err(reason) => fallback_reason = Some(reason),
            }
        } else if prefer_gpu {
            fallback_reason = Some("this is the CPU-only build".into());
        }
        let model = ModelScorer::from_bundle_async(&bundle, DeviceKind::Cpu).await?;
        let device = DeviceInfo {
            backend: "cpu",
            adapter: None,
            fallback_reason,
            limits: None,
        };
        Ok(Scorer::new(model, device, profile))
    }
}

#[wasm_bindgen]
impl Scorer {
    #[wasm_bindgen(js_name = deviceInfo)]
    pub fn device_info(&self) -> Result<JsValue, JsError> {
        to_js(&self.device)
    }

    #[wasm_bindgen(js_name = bundleInfo)]
    pub fn bundle_info(&self) -> Result<JsValue, JsError> {
        to_js(self.model.info())
    }

    /// Every column the model's spec reads, with its role and the header cell that matches it,
    /// plus the `{ specColumn: csvColumn }` mapping and the required columns no cell matches.
    #[wasm_bindgen(js_name = suggestMapping)]
    pub fn suggest_mapping(&self, header: Vec<String>) -> Result<JsValue, JsError> {
        to_js(&mapping::suggest(self.model.spec(), &header))
    }

    /// Parses a CSV (replacing any loaded file). See API.md.
    #[wasm_bindgen(js_name = loadCsv)]
    pub fn load_csv(
        &self,
        bytes: Vec<u8>,
        mapping: JsValue,
        on_error: String,
    ) -> Result<JsValue, JsError> {
        let rename: BTreeMap<String, String> = if mapping.is_null() || mapping.is_undefined() {
            BTreeMap::new()
        } else {
            serde_wasm_bindgen::from_value(mapping).map_err(|e| {
                Error::Argument(format!(
                    "the column mapping must be an object of strings: {e}"
                ))
            })?
        };
        let policy: Policy = on_error.parse().map_err(|_| {
            Error::Argument(format!(
                "onError must be \"strict\" or \"skip\", not {on_error:?}"
            ))
        })?;
        // The file lands in wasm memory once (this Vec) and the queue keeps that buffer as its
        // text; the previous file is dropped first, so two are never held.
        self.drop_file();
        let opts = IngestOptions {
            policy,
            rename,
            ..IngestOptions::default()
        };
        let queue = Queue::read_checked(self.model.spec(), bytes, opts, self.profile.as_ref())?;
        let report = queue.load_report();
        *self.queue.borrow_mut() = Some(queue);
        to_js(&report)
    }

    /// How far the loaded file lies from the model's training data, checked while it was read:
    /// the drift report with `available: true`, or `{ available: false, summary, warnings: [] }`
    /// for a bundle without a drift profile. See API.md.
    pub fn drift(&self) -> Result<JsValue, JsError> {
        self.with_queue(|q| check_json(q.drift()))
    }

    /// Drops the loaded file (its text, leads and scores), e.g. before a new one is handed over,
    /// so two files are never held at once.
    #[wasm_bindgen(js_name = unloadCsv)]
    pub fn unload_csv(&self) {
        self.drop_file();
    }

    /// Raw cells of loaded rows `[start, end)`, with the file's header.
    pub fn rows(&self, start: usize, end: usize) -> Result<JsValue, JsError> {
        self.with_queue(|q| q.rows(start, end))
    }

    /// The cells of the given spec columns for every loaded row, cut to `maxLen` characters.
    pub fn summary(&self, columns: Vec<String>, max_len: usize) -> Result<JsValue, JsError> {
        self.with_queue(|q| q.summary(&columns, max_len))
    }

    /// Indices of the loaded rows whose cells contain every word of `query` (any case).
    pub fn filter(&self, query: &str) -> Result<Vec<u32>, JsError> {
        let q = self.queue.borrow();
        Ok(q.as_ref().ok_or(Error::NoFile)?.filter(query))
    }

    /// The parts the loaded leads are scored in ([`ScorePolicy::parts`] of this device's
    /// policy): the number of leads in each, in order. See API.md.
    #[wasm_bindgen(js_name = scoreParts)]
    pub fn score_parts(&self) -> Result<Vec<u32>, JsError> {
        let q = self.queue.borrow();
        let n = q.as_ref().ok_or(Error::NoFile)?.len();
        Ok(self
            .policy
            .parts(n)
            .iter()
            .map(|p| p.leads as u32)
            .collect())
    }

    /// Scores part `part` of [`Scorer::score_parts`] and keeps the scores; resolves with the
    /// indices of the leads scored.
    #[wasm_bindgen(js_name = scorePart)]
    pub fn score_part(&self, part: usize) -> Promise {
        let model = Rc::clone(&self.model);
        let cell = Rc::clone(&self.queue);
        let plans = Rc::clone(&self.plans);
        let policy = self.policy;
        future_to_promise(async move {
            let mut queue = take(&cell)?;
            let scored = async {
                let part = part_of(&policy, &queue, part)?;
                let plan = plan_for(&plans, &model, &queue, &policy, &part)?;
                model
                    .score_part_async(&mut queue, &plan, part.batch)
                    .await
                    .map_err(js)
            }
            .await;
            restore(&cell, queue);
            let indices: Vec<u32> = scored?.into_iter().map(|i| i as u32).collect();
            Ok(js_sys::Uint32Array::from(indices.as_slice()).into())
        })
    }

    /// The scores of the loaded leads at `indices` (all scored) as a flat `Float32Array`, three
    /// numbers a lead: rank score, pointwise logit, p_convert. With [`Scorer::set_scores_at`],
    /// lets several workers that loaded the same file and bundle share one ranking.
    #[wasm_bindgen(js_name = scoresAt)]
    pub fn scores_at(&self, indices: Vec<u32>) -> Result<Vec<f32>, JsError> {
        let q = self.queue.borrow();
        let q = q.as_ref().ok_or(Error::NoFile)?;
        let mut out = Vec::with_capacity(3 * indices.len());
        for i in indices {
            let s = q.score(i as usize)?;
            out.extend([s.rank, s.logit, s.p_convert]);
        }
        Ok(out)
    }

    /// Stores scores of the leads at `indices` computed by another worker
    /// ([`Scorer::scores_at`] on the same file and bundle): three numbers a lead. Non-finite
    /// scores are refused, naming the lead.
    #[wasm_bindgen(js_name = setScoresAt)]
    pub fn set_scores_at(&self, indices: Vec<u32>, scores: &[f32]) -> Result<(), JsError> {
        let scores = three_a_lead("setScoresAt", scores)?;
        let indices: Vec<usize> = indices.into_iter().map(|i| i as usize).collect();
        let mut q = self.queue.borrow_mut();
        q.as_mut()
            .ok_or(Error::NoFile)?
            .set_scores_at(&indices, &scores)?;
        Ok(())
    }

    /// The scores of loaded leads `[start, end)` (all scored) as a flat `Float32Array`, three
    /// numbers a lead: rank score, pointwise logit, p_convert. With [`Scorer::set_scores`], lets
    /// several workers that loaded the same file and bundle share one ranking.
    #[wasm_bindgen(js_name = scoresOf)]
    pub fn scores_of(&self, start: usize, end: usize) -> Result<Vec<f32>, JsError> {
        let q = self.queue.borrow();
        let scores = q.as_ref().ok_or(Error::NoFile)?.scores_of(start..end)?;
        Ok(scores
            .iter()
            .flat_map(|s| [s.rank, s.logit, s.p_convert])
            .collect())
    }

    /// Stores scores of leads `start..` computed by another worker ([`Scorer::scores_of`] on the
    /// same file and bundle): three numbers a lead. Non-finite scores are refused, naming the lead.
    #[wasm_bindgen(js_name = setScores)]
    pub fn set_scores(&self, start: usize, scores: &[f32]) -> Result<(), JsError> {
        let scores = three_a_lead("setScores", scores)?;
        let mut q = self.queue.borrow_mut();
        q.as_mut()
            .ok_or(Error::NoFile)?
            .set_scores(start, &scores)?;
        Ok(())
    }

    /// The ranked queue, best first (every lead must be scored).
    pub fn ranking(&self) -> Result<JsValue, JsError> {
        let q = self.queue.borrow();
        to_js(&q.as_ref().ok_or(Error::NoFile)?.ranking()?)
    }

    /// Occlusion reasons for the given leads; they also go into the export.
    pub fn explain(&self, indices: Vec<usize>, top_n: usize) -> Promise {
        let model = Rc::clone(&self.model);
        let cell = Rc::clone(&self.queue);
        future_to_promise(async move {
            let mut queue = take(&cell)?;
            let explained = async {
                let mut out = Vec::with_capacity(indices.len());
                for index in indices {
                    let reasons = model.explain_queue_async(&mut queue, index, top_n).await?;
                    out.push(Explanation { index, reasons });
                }
                Ok::<_, leadladder_model::Error>(out)
            }
            .await;
            restore(&cell, queue);
            to_js(&explained.map_err(js)?).map_err(JsValue::from)
        })
    }

    /// The ranked CSV (formula-safe), as `leadladder rank` writes it.
    #[wasm_bindgen(js_name = exportCsv)]
    pub fn export_csv(&self) -> Result<String, JsError> {
        let q = self.queue.borrow();
        Ok(q.as_ref().ok_or(Error::NoFile)?.export_csv()?)
    }

    /// Part of the ranked CSV: the header line when `start` is 0, then the leads at queue
    /// positions `[start, end)` (0-based, clamped). Parts in order give `exportCsv()`'s text, so
    /// an export can stream without the whole file in one string.
    #[wasm_bindgen(js_name = exportCsvPart)]
    pub fn export_csv_part(&self, start: usize, end: usize) -> Result<String, JsError> {
        let q = self.queue.borrow();
        let mut out = Vec::new();
        q.as_ref()
            .ok_or(Error::NoFile)?
            .write_csv_part(&mut out, start..end)?;
        Ok(String::from_utf8(out).map_err(|e| Error::Argument(format!("export: {e}")))?)
    }

    /// P@K of the model vs recency, the hand tier sort and existing scores (files with outcomes).
    pub fn audit(&self, k_percents: Vec<f64>) -> Result<JsValue, JsError> {
        let q = self.queue.borrow();
        let q = q.as_ref().ok_or(Error::NoFile)?;
        to_js(&q.audit(self.model.spec(), &k_percents)?)
    }
}
