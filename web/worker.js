// The scoring worker (a dedicated module Worker). It owns the wasm module, the model and the
// loaded leads; the page and the <lead-ladder> widget talk to it through client.js.
//
// Protocol: the caller posts { id, op, ...args }; the worker answers { id, ok: true, result }
// or { id, ok: false, error }, and posts { id, progress: {...} } while a long job runs.
// `{ op: 'cancel' }` (no id needed) stops a running scoring job between two parts.
//
// Scoring goes a part at a time: the parts are the ranking pipeline's batches, which the wasm
// module names (scorer.scoreParts()), so the page scores the batches `leadladder rank` scores;
// nothing here sizes a block or a batch.
// Bumped whenever a model shipped under the same URL changes (v2: the field-token demo model),
// so a returning browser downloads the new one; older model caches are deleted.
const MODEL_CACHE = 'leadladder-models-v2';

async function dropStaleModelCaches() {
  for (const name of await caches.keys()) {
    if (name.startsWith('leadladder-models-') && name !== MODEL_CACHE) await caches.delete(name);
  }
}

// Does a Content-Security-Policy keep this worker's requests on the page's origin? What matters
// is connect-src (fetch, XHR, EventSource, WebSocket): a policy that only refuses eval (say,
// `script-src 'self'` with no connect-src and no default-src) leaves the network open. So the
// probe asks for a URL on another origin and counts the policy as enforced only when the
// browser refuses it for connect-src (a `securitypolicyviolation` naming that URL). The URL is
// on port 1, which browsers never connect to, so where the policy allows it nothing is sent
// either. client.js starts the worker from a blob: URL, so it inherits the page's policy (its
// `<meta>` tag included) on any host. An embedding page whose policy has a report-uri or
// report-to receives one report of this refusal per worker started (helpers included).
const POLICY_PROBE_URL = 'http://127.0.0.1:1/leadladder-policy-probe';
// How long to wait for the violation after the refused fetch (it comes with the refusal; this
// bounds only the wait where no policy refuses it).
const POLICY_PROBE_WAIT_MS = 1500;

async function probePolicy() {
  let refusedByPolicy = false;
  let wake = () => undefined;
  const violated = new Promise((resolve) => {
    wake = resolve;
  });
  const onViolation = (e) => {
    const directive = e.effectiveDirective || e.violatedDirective || '';
    const blocked = String(e.blockedURI || '');
    const probe = blocked === POLICY_PROBE_URL || blocked === new URL(POLICY_PROBE_URL).origin;
    if (probe && /^(connect-src|default-src)/.test(directive)) {
      refusedByPolicy = true;
      wake();
    }
  };
  self.addEventListener('securitypolicyviolation', onViolation);
  try {
    const reached = await fetch(POLICY_PROBE_URL, { cache: 'no-store', credentials: 'omit', mode: 'no-cors' }).then(
      () => true,
      () => false,
    );
    if (!reached && !refusedByPolicy) {
      let timer;
      await Promise.race([violated, new Promise((resolve) => (timer = setTimeout(resolve, POLICY_PROBE_WAIT_MS)))]);
      clearTimeout(timer);
    }
  } finally {
    self.removeEventListener('securitypolicyviolation', onViolation);
  }
  return refusedByPolicy;
}

// Started at once, so the answer is ready by the time the page asks the engine to start.
const policyProbe = probePolicy();
let allowNoPolicyGiven = false; // what the page said (passed on to helper workers)

// The engine starts only under a policy whose connect-src keeps requests off other origins,
// unless the embedding page said it guards the network itself.
async function checkPolicy(allowNoPolicy) {
  if (await policyProbe) return 'enforced (the page’s Content-Security-Policy keeps this worker’s requests on its origin)';
  if (allowNoPolicy) return 'none enforced (the embedding page allowed it)';
  throw new Error(
    'no Content-Security-Policy is enforced on the scoring worker’s network requests (its ' +
      'connect-src, or default-src, lets it reach other origins), so nothing would keep the CSV ' +
      'from reaching the network; keep the page’s <meta> policy or serve it with the headers in ' +
      'web/_headers (leadladder serve sends them)',
  );
}

let wasm = null; // the imported module (pkg/gpu or pkg/cpu)
let wasmMemory = null; // its linear memory (where the model and the loaded file live)
let build = null; // { name: 'gpu' | 'cpu', reason: string }
let initPromise = null;
let scorer = null;
let bundleInfo = null;
let loaded = null; // the LoadReport of the loaded file (its rows stay in the wasm module)
let scored = false;
let cancelRequested = false;
let lastSpeed = null; // { leads, seconds, leadsPerSec, workers }
// Where helper workers find the same model (CPU build only; see scoreAll): { url } (kept in the
// Cache API), { file } (the picked file) or { bytes } (small models only); null: nowhere.
let modelSource = null;
// What the loaded CSV came from, for helper workers to load the same: { file } (a File or Blob:
// a handle, so nobody keeps the file's bytes in JavaScript) or { bytes } (bytes the caller
// passed, e.g. the widget's), with { mapping, onError }.
let csvArgs = null;
let generation = 0; // bumped by every loadModel and loadCsv

function errorText(e) {
  if (e instanceof Error) return e.message || String(e);
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

// Picks the build: the WebGPU one only when the browser exposes WebGPU and hands out an adapter.
async function chooseBuild(device) {
  if (device === 'cpu') {
    return { name: 'cpu', reason: 'CPU requested (device=cpu in the address)' };
  }
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { name: 'cpu', reason: 'this browser does not expose WebGPU to workers' };
  }
  let adapter = null;
  try {
    adapter = await navigator.gpu.requestAdapter();
  } catch (e) {
    return { name: 'cpu', reason: `WebGPU adapter request failed: ${errorText(e)}` };
  }
  if (!adapter) {
    return { name: 'cpu', reason: 'WebGPU is present but no GPU adapter is available' };
  }
  // A software adapter (SwiftShader, or any the browser marks as a fallback) emulates the GPU on
  // the CPU and scores far slower than the CPU build (bench/README.md), so it is used only when
  // asked for (device=gpu in the address).
  const info = adapter.info || {};
  const fallback = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true;
  if (fallback && device !== 'gpu') {
    const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'a software adapter';
    return {
      name: 'cpu',
      softwareAdapter: true,
      reason: `the only WebGPU adapter is a software one (${name}), slower than the CPU build`,
    };
  }
  if (fallback) return { name: 'gpu', softwareAdapter: true, reason: 'WebGPU requested (device=gpu in the address) on a software adapter' };
  return { name: 'gpu', reason: 'WebGPU adapter available' };
}

// Both wasm builds use 128-bit SIMD (Chrome and Edge 91+, Firefox 89+, Safari 16.4+): a module
// of one function, `i32.const 0; i8x16.splat`, validates only where SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);

async function importBuild(name) {
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw new Error('this browser lacks WebAssembly SIMD, which the ranking engine needs (Chrome or Edge 91+, Firefox 89+, Safari 16.4+)');
  }
  const url = new URL(`./pkg/${name}/leadladder_wasm.js`, import.meta.url);
  const mod = await import(url.href);
  wasmMemory = (await mod.default()).memory;
  return mod;
}

async function init(device, allowNoPolicy) {
  const policy = await checkPolicy(allowNoPolicy);
  let choice = await chooseBuild(device);
  if (choice.name === 'gpu') {
    try {
      wasm = await importBuild('gpu');
    } catch (e) {
      choice = { name: 'cpu', reason: `the WebGPU build failed to load (${errorText(e)})` };
    }
  }
  if (choice.name === 'cpu') {
    wasm = await importBuild('cpu');
  }
  build = { ...choice, policy };
  return { build, version: wasm.version(), hasWebGpuBuild: wasm.hasWebGpuBuild() };
}

function ensureInit(device, allowNoPolicy) {
  if (!initPromise) {
    initPromise = init(device, allowNoPolicy).catch((e) => {
      initPromise = null;
      throw new Error(`Could not start the ranking engine: ${errorText(e)}`);
    });
  }
  return initPromise;
}

/** Bytes of wasm memory held by this worker and its helpers (wasm memory never shrinks, so this
 * is each instance's peak). */
async function memory() {
  const own = wasmMemory ? wasmMemory.buffer.byteLength : 0;
  const theirs = await Promise.all(helpers.filter((h) => !h.failed).map((h) => callHelper(h, 'memory').then((m) => m.own, () => 0)));
  return { own, helpers: theirs };
}

function deviceSummary() {
  const info = scorer ? scorer.deviceInfo() : null;
  let helperInfo = null;
  if (build && build.name === 'cpu' && self.name !== HELPER_NAME) {
    helperInfo = lastHelperPlan && lastHelperPlan.generation === generation ? lastHelperPlan : helperPlan(requestedWorkersGiven);
  }
  return { build, device: info, speed: lastSpeed, helpers: helperInfo };
}

// ------------------------------------------------------------------ loading a model
//
// A model reaches the wasm module as a stream, never whole in JavaScript: from the network
// (Content-Length gives the size), from the Cache API, or from a model file the user picked.
// Each chunk is written into a `wasm.ModelBuffer` (wasm memory, sized up front, so a model that
// cannot be held is refused before any download), and `Scorer.createFromBuffer` builds the
// model from it. A download is written to the Cache API as it arrives (never held whole either).
// Progress goes to the caller at most once per MB. Builds of the wasm package without
// `ModelBuffer` get the whole file instead (`Scorer.create(bytes)`).

const MB = 1024 * 1024;
const MODEL_TYPE = 'application/octet-stream';
// Each helper worker holds a copy of the model only when it can read the model itself (from the
// Cache API or the picked file); bytes kept in JavaScript for them are capped at this.
const HELPER_COPY_MAX = 64 * MB;
// A build without ModelBuffer gets the model whole from JavaScript: past this, it would not fit.
const WHOLE_READ_MAX = 1024 * MB;

let scorerOptions = {}; // the optional argument of Scorer.create(From Buffer): { maxBindingBytes }
let pending = null; // { scorer, source, ... }: a picked model file built but not yet in use

function canStream() {
  return Boolean(wasm && typeof wasm.ModelBuffer === 'function' && typeof wasm.Scorer.createFromBuffer === 'function');
}

function mbText(n) {
  return `${Math.round(n / MB).toLocaleString('en-US')} MB`;
}

/** An Error whose `kind` the page reads: 'memory' (the model cannot be held in wasm memory). */
function kindError(message, kind) {
  const e = new Error(message);
  e.kind = kind;
  return e;
}

/** Adds what a Rust panic left (the module is unreliable after one) and marks memory failures. */
function wasmError(e, what) {
  const panic = wasm && typeof wasm.lastPanic === 'function' ? wasm.lastPanic() : undefined;
  let text = errorText(e);
  if (panic && !text.includes(panic)) text += ` (${panic})`;
  if (panic) text += ' The engine cannot go on after this error: reload the page.';
  const memory = e instanceof RangeError || /out of memory|memory allocation|allocat\w* .*failed|Memory\.grow|could not grow|capacity/i.test(text);
  if (e && e.kind) return e;
  return memory ? kindError(`${what}: ${text}`, 'memory') : new Error(text);
}

function newModelBuffer(total) {
  try {
    return new wasm.ModelBuffer(total);
  } catch (e) {
    throw kindError(`The model (${mbText(total)}) cannot be held in this browser’s WebAssembly memory: ${errorText(e)}`, 'memory');
  }
}

function freeQuietly(obj) {
  try {
    if (obj && typeof obj.free === 'function') obj.free();
  } catch {
    // already consumed
  }
}

async function createScorer(bytes) {
  try {
    return await wasm.Scorer.create(bytes, build.name === 'gpu', scorerOptions);
  } catch (e) {
    throw wasmError(e, 'The model could not be built');
  }
}

async function createScorerFromBuffer(buf) {
  try {
    return await wasm.Scorer.createFromBuffer(buf, build.name === 'gpu', scorerOptions);
  } catch (e) {
    throw wasmError(e, 'The model could not be built');
  }
}

/** Calls `post({ done, total, source })` at most once per MB (and at the end). */
function progressPoster(post, source) {
  let last = -Infinity;
  return (done, total, final = false) => {
    if (!post || (!final && done - last < MB)) return;
    last = done;
    post({ phase: 'model', done, total: total > 0 ? total : null, source });
  };
}

/**
 * A stream that `cache.put` stores while the model is read: chunks are pushed in as they
 * arrive, with backpressure (at most 8 MB waiting), so the download is never held whole.
 * `abort` makes the put fail, so a download that did not load is not kept.
 */
function cacheWriter(cache, url, total) {
  let controller = null;
  let wake = null;
  let failed = null;
  const stream = new ReadableStream(
    {
      start(c) {
        controller = c;
      },
      pull() {
        if (wake) wake();
        wake = null;
      },
      cancel(reason) {
        failed = failed || new Error(errorText(reason || 'the browser stopped storing the model'));
        if (wake) wake();
        wake = null;
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 8 * MB }),
  );
  const headers = { 'Content-Type': MODEL_TYPE };
  if (total > 0) {
    headers['Content-Length'] = String(total);
    headers['X-Model-Bytes'] = String(total);
  }
  let done;
  try {
    done = cache.put(url, new Response(stream, { headers })).then(
      () => null,
      (e) => e || new Error('the cache refused the model'),
    );
  } catch (e) {
    done = Promise.resolve(e);
  }
  done.then((e) => {
    if (e) {
      failed = failed || e;
      if (wake) wake();
      wake = null;
    }
  });
  return {
    async push(chunk) {
      if (failed) return;
      try {
        controller.enqueue(chunk);
      } catch (e) {
        failed = failed || e;
        return;
      }
      while (!failed && controller.desiredSize <= 0) await new Promise((r) => (wake = r));
    },
    close() {
      try {
        controller.close();
      } catch {
        // the put already failed
      }
    },
    abort(e) {
      try {
        controller.error(e);
      } catch {
        // the put already failed
      }
    },
    /** Resolves null once the model is stored, else the reason it is not. */
    done,
  };
}

/**
 * Reads a model stream into the wasm module and builds the scorer. `total` is the size in bytes
 * (NaN when unknown: the stream is then read whole first). `sink` (optional) receives every chunk.
 */
async function scorerFromStream(stream, total, { sink = null, onBytes }) {
  const reader = stream.getReader();
  const streaming = canStream() && total > 0;
  let buf = null;
  const chunks = [];
  let done = 0;
  try {
    if (streaming) buf = newModelBuffer(total);
    else if (total > WHOLE_READ_MAX) {
      throw kindError(`The model (${mbText(total)}) is too big for this build of the engine, which reads a model whole into memory (at most ${mbText(WHOLE_READ_MAX)}).`, 'memory');
    }
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      const chunk = value instanceof Uint8Array ? value : new Uint8Array(value);
      if (buf) {
        try {
          buf.write(chunk);
        } catch (e) {
          throw wasmError(e, 'The model could not be read into WebAssembly memory');
        }
      } else chunks.push(chunk);
      done += chunk.byteLength;
      if (sink) await sink.push(chunk);
      onBytes(done, total);
    }
    if (total > 0 && done !== total) throw new Error(`The model file ended after ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} bytes.`);
  } catch (e) {
    reader.cancel().catch(() => undefined);
    freeQuietly(buf);
    if (sink) sink.abort(e);
    throw e;
  }
  if (sink) sink.close();
  onBytes(done, total, true);
  if (buf) return createScorerFromBuffer(buf);
  let bytes;
  if (chunks.length === 1) bytes = chunks[0];
  else {
    bytes = new Uint8Array(done);
    let at = 0;
    for (const c of chunks.splice(0)) {
      bytes.set(c, at);
      at += c.byteLength;
    }
  }
  if (canStream()) {
    // Size unknown until now: one copy into wasm memory, as the streamed path makes.
    const buffer = newModelBuffer(bytes.byteLength);
    try {
      buffer.write(bytes);
    } catch (e) {
      freeQuietly(buffer);
      throw wasmError(e, 'The model could not be read into WebAssembly memory');
    }
    bytes = null;
    return createScorerFromBuffer(buffer);
  }
  return createScorer(bytes);
}

function sizeOf(headers) {
  for (const name of ['Content-Length', 'X-Model-Bytes']) {
    const n = Number(headers.get(name));
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  return NaN;
}

async function openModelCache() {
  try {
    await dropStaleModelCaches();
    return await caches.open(MODEL_CACHE);
  } catch {
    return null; // storage disabled: download every time
  }
}

/** A failure that another download cannot cure (the model does not fit, whatever its bytes). */
const isCapacityError = (e) => e && e.kind === 'memory';

/**
 * The model at `url`: from the Cache API when kept there, else downloaded (and kept). A kept copy
 * that fails to load (damaged, or its weights do not match their hash) is deleted and downloaded
 * again, once. `cacheOnly` (helper workers): the kept copy or an error, never a download.
 */
async function scorerFromUrl(url, { post, cacheOnly = false }) {
  const notes = [];
  const cache = await openModelCache();
  if (cache) {
    let hit = null;
    try {
      hit = await cache.match(url);
    } catch {
      hit = null;
    }
    if (hit && hit.body) {
      try {
        const made = await scorerFromStream(hit.body, sizeOf(hit.headers), { onBytes: progressPoster(post, 'cache') });
        return { scorer: made, cached: true, notes, stored: true };
      } catch (e) {
        if (cacheOnly || isCapacityError(e)) throw e;
        await cache.delete(url).catch(() => undefined);
        notes.push(`The copy of the model kept in this browser could not be loaded (${errorText(e)}), so it was deleted and downloaded again.`);
      }
    }
  }
  if (cacheOnly) throw new Error('the model is not kept in this browser');
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`Could not download the model ${url}: HTTP ${resp.status}`);
  const total = sizeOf(resp.headers);
  const sink = cache && resp.body ? cacheWriter(cache, url, total) : null;
  let made;
  try {
    made = resp.body
      ? await scorerFromStream(resp.body, total, { sink, onBytes: progressPoster(post, 'network') })
      : await createScorer(new Uint8Array(await resp.arrayBuffer()));
  } catch (e) {
    if (sink) {
      sink.abort(e);
      await sink.done;
      await cache.delete(url).catch(() => undefined);
    }
    throw e;
  }
  let stored = false;
  if (sink) {
    const problem = await sink.done;
    if (problem) {
      await cache.delete(url).catch(() => undefined);
      notes.push(`The model could not be kept in this browser’s storage: ${errorText(problem)}; it will be downloaded again next time.`);
    } else stored = true;
  } else if (!cache) {
    notes.push('This browser offers no storage to this page, so the model will be downloaded again next time.');
  }
  return { scorer: made, cached: false, notes, stored };
}

async function isModelCached(url) {
  try {
    const cache = await caches.open(MODEL_CACHE);
    return Boolean(await cache.match(url));
  } catch {
    return false;
  }
}

/**
 * Builds a scorer from what the caller sent: `url` (cache, else network), `file` (a File or Blob
 * the user picked: read as a stream) or `bytes`. Returns the scorer and where helper workers can
 * find the same model (`source`).
 */
async function buildFrom({ url, file, bytes, cacheOnly }, post) {
  if (url) {
    const got = await scorerFromUrl(url, { post, cacheOnly });
    // Helpers read the kept copy themselves; a model not kept is not copied for them.
    return { ...got, origin: got.cached ? 'cache' : 'network', source: got.stored ? { url } : null };
  }
  if (file) {
    const made = await scorerFromStream(file.stream(), file.size, { onBytes: progressPoster(post, 'file') });
    return { scorer: made, cached: false, notes: [], origin: 'file', source: { file } };
  }
  if (bytes) {
    const made = await createScorer(bytes);
    return { scorer: made, cached: false, notes: [], origin: 'bytes', source: bytes.byteLength <= HELPER_COPY_MAX ? { bytes } : null };
  }
  throw new Error('No model was given.');
}

function modelResult(got, started) {
  return {
    bundle: bundleInfo,
    cached: got.cached,
    source: got.origin,
    notes: got.notes,
    loadSeconds: (performance.now() - started) / 1000,
    ...deviceSummary(),
  };
}

function useScorer(next, source) {
  if (scorer) scorer.free();
  // Fresh helpers for a new model: wasm memory never shrinks, so an instance that held a bigger
  // model would keep its size.
  stopHelpers();
  scorer = next;
  modelSource = source;
  csvArgs = null;
  generation += 1;
  bundleInfo = scorer.bundleInfo();
  loaded = null;
  scored = false;
}

async function loadModel(msg, post) {
  await ensureInit(msg.device, msg.allowNoPolicy);
  scorerOptions = msg.options && typeof msg.options === 'object' ? msg.options : {};
  const started = performance.now();
  const got = await buildFrom(msg, post);
  useScorer(got.scorer, got.source);
  return modelResult(got, started);
}

/** A picked model file, built (checked end to end) but not yet used: `usePrepared` swaps it in. */
async function prepareModel(msg, post) {
  await ensureInit(msg.device, msg.allowNoPolicy);
  discardPrepared();
  scorerOptions = msg.options && typeof msg.options === 'object' ? msg.options : {};
  const started = performance.now();
  const got = await buildFrom(msg, post);
  pending = { got, started, seconds: (performance.now() - started) / 1000 };
  return { bundle: got.scorer.bundleInfo(), device: got.scorer.deviceInfo(), notes: got.notes, loadSeconds: pending.seconds };
}

function usePrepared() {
  if (!pending) throw new Error('No model file is waiting to be used.');
  const { got, seconds } = pending;
  pending = null;
  useScorer(got.scorer, got.source);
  return { ...modelResult(got, performance.now()), loadSeconds: seconds };
}

function discardPrepared() {
  if (pending) pending.got.scorer.free();
  pending = null;
}

function needScorer() {
  if (!scorer) throw new Error('No model is loaded yet.');
}

// The largest CSV the page takes: wasm memory (4 GB at most, with the model) holds its text and,
// while a summary or an audit runs, about as much again.
const CSV_MAX = 1024 * MB;

/** The bytes of a CSV given as a File/Blob (read now; nothing keeps them after the call) or as
 * bytes. */
async function csvBytes({ file, bytes }) {
  const size = file ? file.size : bytes && bytes.byteLength;
  if (size > CSV_MAX) {
    throw kindError(
      `The file (${mbText(size)}) is larger than the page can rank (${mbText(CSV_MAX)}): the page holds a file's text in WebAssembly memory, with about as much again while it builds the queue's summary or an audit, and that memory ends at 4 GB. \`leadladder rank\` on the command line reads a file of any size a batch at a time.`,
      'memory',
    );
  }
  if (file) return new Uint8Array(await file.arrayBuffer());
  if (bytes instanceof Uint8Array) return bytes;
  throw new Error('No CSV file was given.');
}

// The first read of a file's header: its first 64 KiB, then four times as much each time Rust
// says the header runs past the bytes it was given.
const SNIFF_FIRST = 64 * 1024;

/** A CSV's header, encoding and delimiter from its first bytes (Rust decides; only as many
 * bytes as the header needs are read). */
async function sniffFirstBytes({ file, bytes }) {
  const size = file ? file.size : bytes ? bytes.byteLength : 0;
  if (!file && !(bytes instanceof Uint8Array)) throw new Error('No CSV file was given.');
  for (let n = Math.min(SNIFF_FIRST, size); ; n = Math.min(n * 4, size)) {
    const part = file ? new Uint8Array(await file.slice(0, n).arrayBuffer()) : bytes.subarray(0, n);
    const found = wasm.sniffHeaderPrefix(part, n >= size);
    if (found) return found;
    if (n >= size) throw new Error('The file has no header row.');
  }
}

async function loadCsv({ file, bytes, mapping, onError }) {
  needScorer();
  loaded = null;
  scored = false;
  csvArgs = null;
  generation += 1;
  // The previous file leaves wasm memory before the new one arrives, so two are never held.
  scorer.unloadCsv();
  const data = await csvBytes({ file, bytes });
  try {
    loaded = scorer.loadCsv(data, mapping || null, onError || 'strict');
  } catch (e) {
    throw wasmError(e, 'The file could not be held in this browser’s WebAssembly memory');
  }
  csvArgs = { file: file || null, bytes: file ? null : bytes, mapping: mapping || null, onError: onError || 'strict' };
  return { ...loaded, drift: driftOf(scorer) };
}

/** The loaded file's drift check (made while it was read): the report, or why there is none.
 * A failure here never stops the ranking; it is reported as the check's own summary. */
function driftOf(s) {
  if (typeof s.drift !== 'function') return { available: false, summary: 'drift check unavailable: this build of the engine has none', warnings: [] };
  try {
    return s.drift();
  } catch (e) {
    return { available: false, summary: `drift check failed: ${wasmError(e, 'The drift check').message}`, warnings: [] };
  }
}

// Rows per part of a streamed export: each part is one short string, appended to a Blob (which
// the browser keeps outside the JavaScript heap), so the export is never one string in memory.
const EXPORT_ROWS = 2000;

/** The ranked CSV as a Blob, written a part at a time (`Scorer.exportCsvPart`). */
function exportCsv() {
  needScorer();
  needFile();
  const type = 'text/csv;charset=utf-8';
  let blob = new Blob([], { type });
  for (let start = 0; start < loaded.rows; start += EXPORT_ROWS) {
    blob = new Blob([blob, scorer.exportCsvPart(start, start + EXPORT_ROWS)], { type });
  }
  return blob;
}

const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

function needFile() {
  if (!loaded) throw new Error('Load a CSV file first.');
}

// ------------------------------------------------------------------ helper workers
//
// On the CPU build, one wasm instance scores on one core. scoreAll spreads the parts over
// helper workers too: each is this same script in its own worker (started from a blob: URL, so
// it runs under the page's policy), with its own wasm instance holding the same bundle and file;
// it scores the parts it is handed and sends back their leads and scores (`scoresAt`), which
// this worker stores (`setScoresAt`). Same wasm, same bundle, same rows, same parts: the same
// scores as scoring here.

const HELPER_NAME = 'leadladder-helper';
const MIN_ROWS_FOR_HELPERS = 512; // below this, starting helpers costs more than it saves
let helpers = []; // { worker, calls: Map, nextId, generation, ready: Promise<boolean> }
let lastHelperPlan = null; // helperPlan of the last scoring run
let requestedWorkersGiven; // the page's `workers` option (for the device panel's plan)

function startHelper() {
  const script = new URL('./worker.js', import.meta.url).href;
  const boot = URL.createObjectURL(new Blob([`import ${JSON.stringify(script)};\n`], { type: 'text/javascript' }));
  const worker = new Worker(boot, { type: 'module', name: HELPER_NAME });
  const h = { worker, calls: new Map(), nextId: 1, generation: -1, ready: Promise.resolve(false), failed: false };
  worker.onmessage = (event) => {
    URL.revokeObjectURL(boot);
    const msg = event.data;
    const call = h.calls.get(msg.id);
    if (!call || msg.progress) return;
    h.calls.delete(msg.id);
    if (msg.ok) call.resolve(msg.result);
    else call.reject(new Error(msg.error));
  };
  worker.onerror = (event) => {
    h.failed = true;
    for (const call of h.calls.values()) call.reject(new Error(event.message || 'helper worker error'));
    h.calls.clear();
  };
  return h;
}

function callHelper(h, op, args = {}) {
  const id = h.nextId++;
  return new Promise((resolve, reject) => {
    h.calls.set(id, { resolve, reject });
    h.worker.postMessage({ id, op, device: 'cpu', allowNoPolicy: allowNoPolicyGiven, ...args });
  });
}

/** The helpers the memory allows, decided by Rust (`helperPlan`, crates/wasm/src/plan.rs):
 * { wanted, allowed, perWorkerBytes, budgetBytes, deviceBytes, reason }. Each helper is a whole
 * wasm instance with its own copy of the model and the file; helpers read the model themselves
 * (the Cache API or the picked file), so this worker keeps no copy for them. */
function helperPlan(requested) {
  return wasm.helperPlan({
    requested: Number.isInteger(requested) && requested > 0 ? requested : undefined,
    cores: navigator.hardwareConcurrency || undefined,
    deviceMemoryGb: Number(navigator.deviceMemory) > 0 ? Number(navigator.deviceMemory) : undefined,
    perWorkerBytes: wasmMemory ? wasmMemory.buffer.byteLength : 0,
    modelReadable: Boolean(modelSource),
  });
}

function helperLoadArgs() {
  if (!modelSource) return null;
  if (modelSource.url) return { url: modelSource.url, cacheOnly: true };
  if (modelSource.file) return { file: modelSource.file };
  return { bytes: modelSource.bytes };
}

function stopHelpers() {
  for (const h of helpers) h.worker.terminate();
  helpers = [];
}

/** Helpers holding the current model and file (loading them where needed), `wanted` in all. */
function prepareHelpers(wanted) {
  helpers = helpers.filter((h) => {
    if (h.failed) h.worker.terminate();
    return !h.failed;
  });
  while (helpers.length > wanted) helpers.pop().worker.terminate();
  while (helpers.length < wanted) helpers.push(startHelper());
  for (const h of helpers) {
    if (h.generation === generation) continue;
    h.generation = generation;
    const { file, bytes, mapping, onError } = csvArgs;
    h.ready = callHelper(h, 'loadModel', helperLoadArgs())
      .then(() => callHelper(h, 'loadCsv', { file, bytes, mapping, onError }))
      .then(
        () => true,
        () => {
          h.failed = true;
          return false;
        },
      );
  }
  return helpers;
}

/** How many workers score this file: one on the WebGPU build or for a short file, else the
 * scoring worker and the helpers Rust's plan allows (helperPlan). */
function workerCount(requested, total) {
  if (build.name !== 'cpu' || total < MIN_ROWS_FOR_HELPERS || self.name === HELPER_NAME) return 1;
  lastHelperPlan = { ...helperPlan(requested), generation };
  return 1 + lastHelperPlan.allowed;
}

async function scoreAll(id, requestedWorkers) {
  needScorer();
  needFile();
  const total = loaded.rows;
  cancelRequested = false;
  scored = false;
  const started = performance.now();
  const pool = prepareHelpers(workerCount(requestedWorkers, total) - 1);
  const sizes = scorer.scoreParts(); // leads in each part, in order
  let next = 0;
  let done = 0;
  let used = 1;
  const take = () => {
    if (cancelRequested || next >= sizes.length) return null;
    const part = next;
    next += 1;
    return part;
  };
  const report = () => {
    const seconds = (performance.now() - started) / 1000;
    const leadsPerSec = done / Math.max(seconds, 1e-6);
    postMessage({ id, progress: { done, total, leadsPerSec, etaSeconds: (total - done) / Math.max(leadsPerSec, 1e-9) } });
  };
  // Helpers' scores are stored between two local parts (never while scorePart holds the file).
  const arrived = [];
  const store = () => {
    for (const { indices, scores } of arrived.splice(0)) scorer.setScoresAt(indices, scores);
  };
  const missed = []; // parts a failing helper handed back
  const local = async () => {
    for (;;) {
      await yieldToEvents(); // lets a 'cancel' message and helpers' answers in
      store();
      const part = missed.length ? missed.pop() : take();
      if (part === null) break;
      await scorer.scorePart(part);
      done += sizes[part];
      report();
    }
  };
  const helper = async (h) => {
    if (!(await h.ready)) return;
    used += 1;
    for (let part = take(); part !== null; part = take()) {
      try {
        arrived.push(await callHelper(h, 'scorePart', { part }));
        done += sizes[part];
        report();
      } catch {
        h.failed = true;
        missed.push(part);
        return;
      }
    }
  };
  const helping = Promise.all(pool.map(helper));
  await local();
  await helping;
  // Parts handed back after the local loop ended, and the last answers.
  while (missed.length && !cancelRequested) {
    const part = missed.pop();
    await scorer.scorePart(part);
    done += sizes[part];
  }
  store();
  if (cancelRequested) {
    cancelRequested = false;
    return { cancelled: true, done, total };
  }
  const seconds = (performance.now() - started) / 1000;
  lastSpeed = { leads: total, seconds, leadsPerSec: total / Math.max(seconds, 1e-6), workers: used };
  scored = true;
  return { cancelled: false, done: total, total, seconds, leadsPerSec: lastSpeed.leadsPerSec, workers: used };
}

function ranking() {
  needScorer();
  if (!scored) throw new Error('The leads are not all scored yet.');
  return scorer.ranking();
}

async function handle(msg) {
  const post = (progress) => postMessage({ id: msg.id, progress });
  switch (msg.op) {
    case 'init':
      return ensureInit(msg.device, msg.allowNoPolicy);
    case 'modelCached':
      return isModelCached(msg.url);
    case 'loadModel':
      return loadModel(msg, post);
    case 'prepareModel':
      return prepareModel(msg, post);
    case 'usePrepared':
      return usePrepared();
    case 'discardPrepared':
      discardPrepared();
      return null;
    case 'inspect': {
      await ensureInit(msg.device, msg.allowNoPolicy);
      return wasm.inspectBundle(msg.bytes);
    }
    case 'sniffHeader':
      // Ingest's own sniffing, so the mapping form agrees with what loadCsv will read.
      await ensureInit(msg.device, msg.allowNoPolicy);
      return sniffFirstBytes(msg);
    case 'suggestMapping':
      needScorer();
      return scorer.suggestMapping(msg.header);
    case 'loadCsv':
      return await loadCsv(msg);
    case 'score':
      return scoreAll(msg.id, msg.workers);
    case 'scorePart': {
      // A helper's job: score one part and hand its leads' indices and scores back.
      needScorer();
      needFile();
      const indices = await scorer.scorePart(msg.part);
      return { indices, scores: scorer.scoresAt(indices) };
    }
    case 'ranking':
      return ranking();
    case 'rows':
      needFile();
      return scorer.rows(msg.start, msg.end);
    case 'summary':
      needFile();
      return scorer.summary(msg.columns, msg.maxLen);
    case 'filter':
      needFile();
      return scorer.filter(String(msg.query || ''));
    case 'explain':
      needScorer();
      return scorer.explain(msg.indices, msg.topN || 5);
    case 'exportCsv':
      return exportCsv();
    case 'audit':
      needScorer();
      return scorer.audit(msg.kPercents);
    case 'device':
      return deviceSummary();
    case 'memory':
      return memory();
    default:
      throw new Error(`unknown request ${msg.op}`);
  }
}

// Requests run one after another, except 'cancel', which acts at once.
let queue = Promise.resolve();
self.onmessage = (event) => {
  const msg = event.data || {};
  if (msg.allowNoPolicy) allowNoPolicyGiven = true;
  if (Number.isInteger(msg.workers) && msg.workers > 0) requestedWorkersGiven = msg.workers;
  if (msg.op === 'cancel') {
    cancelRequested = true;
    return;
  }
  queue = queue.then(async () => {
    try {
      const result = await handle(msg);
      postMessage({ id: msg.id, ok: true, result });
    } catch (e) {
      postMessage({ id: msg.id, ok: false, error: errorText(e), kind: (e && e.kind) || null });
    }
  });
};
