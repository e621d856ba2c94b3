// The scoring worker (a dedicated module Worker). It owns the wasm module, the model and the
// loaded leads; the page and the <lead-ladder> widget talk to it through client.js.
//
// Protocol: the caller posts { id, op, ...args }; the worker answers { id, ok: true, result }
// or { id, ok: false, error }, and posts { id, progress: {...} } while a long job runs.
// `{ op: 'cancel' }` (no id needed) stops a running scoring job between two chunks.

const CHUNK = 32;
// Bumped whenever a model shipped under the same URL changes (v2: the field-token demo model),
// so a returning browser downloads the new one; older model caches are deleted.
const MODEL_CACHE = 'leadladder-models-v2';

async function dropStaleModelCaches() {
  for (const name of await caches.keys()) {
    if (name.startsWith('leadladder-models-') && name !== MODEL_CACHE) await caches.delete(name);
  }
}

// Is a Content-Security-Policy enforced on this worker? Compiling a string as script is refused
// under any policy whose script-src lacks 'unsafe-eval', as the page's does, and nothing else in
// the worker can tell. client.js starts the worker from a blob: URL, so it inherits the page's
// policy (its `<meta>` tag included) on any host. The probe touches no network.
function policyEnforced() {
  try {
    // eslint-disable-next-line no-new-func
    new Function('return 0');
    return false;
  } catch {
    return true;
  }
}

const POLICY_ENFORCED = policyEnforced();
let allowNoPolicyGiven = false; // what the page said (passed on to helper workers)

// The engine starts only under an enforced policy (whose connect-src keeps every request on the
// page's origin), unless the embedding page said it guards the network itself.
function checkPolicy(allowNoPolicy) {
  if (POLICY_ENFORCED) return 'enforced (the page’s Content-Security-Policy binds this worker)';
  if (allowNoPolicy) return 'none enforced (the embedding page allowed it)';
  throw new Error(
    'no Content-Security-Policy is enforced on the scoring worker, so nothing would keep the CSV ' +
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
// What helper workers need to hold the same model and file (CPU build only; see scoreAll).
let modelBytes = null;
let csvArgs = null; // { bytes, mapping, onError }
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
  const policy = checkPolicy(allowNoPolicy);
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

// Fetches the model through the Cache API so it is downloaded once per browser.
async function fetchModel(url) {
  let cache = null;
  try {
    await dropStaleModelCaches();
    cache = await caches.open(MODEL_CACHE);
  } catch {
    cache = null; // storage disabled: download every time
  }
  if (cache) {
    const hit = await cache.match(url);
    if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), cached: true };
  }
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`Could not download the model ${url}: HTTP ${resp.status}`);
  const buf = await resp.arrayBuffer();
  if (cache) {
    try {
      await cache.put(url, new Response(buf.slice(0), { headers: { 'Content-Type': 'application/octet-stream' } }));
    } catch {
      // quota or private mode: the model still works, it is just not kept
    }
  }
  return { bytes: new Uint8Array(buf), cached: false };
}

async function isModelCached(url) {
  try {
    const cache = await caches.open(MODEL_CACHE);
    return Boolean(await cache.match(url));
  } catch {
    return false;
  }
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
  return { build, device: info, speed: lastSpeed };
}

async function loadModel({ url, bytes, device, allowNoPolicy }) {
  await ensureInit(device, allowNoPolicy);
  let cached = false;
  if (!bytes) {
    const got = await fetchModel(url);
    bytes = got.bytes;
    cached = got.cached;
  }
  const started = performance.now();
  const next = await wasm.Scorer.create(bytes, build.name === 'gpu');
  if (scorer) scorer.free();
  scorer = next;
  modelBytes = bytes;
  csvArgs = null;
  generation += 1;
  bundleInfo = scorer.bundleInfo();
  loaded = null;
  scored = false;
  return {
    bundle: bundleInfo,
    cached,
    loadSeconds: (performance.now() - started) / 1000,
    ...deviceSummary(),
  };
}

function needScorer() {
  if (!scorer) throw new Error('No model is loaded yet.');
}

function loadCsv({ bytes, mapping, onError }) {
  needScorer();
  loaded = null;
  scored = false;
  csvArgs = null;
  generation += 1;
  loaded = scorer.loadCsv(bytes, mapping || null, onError || 'strict');
  csvArgs = { bytes, mapping: mapping || null, onError: onError || 'strict' };
  return loaded;
}

const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

function needFile() {
  if (!loaded) throw new Error('Load a CSV file first.');
}

// ------------------------------------------------------------------ helper workers
//
// On the CPU build, one wasm instance scores on one core. scoreAll spreads the chunks over
// helper workers too: each is this same script in its own worker (started from a blob: URL, so
// it runs under the page's policy), with its own wasm instance holding the same bundle and file;
// it scores the chunks it is handed and sends back their scores (`scoresOf`), which this worker
// stores (`setScores`). Same wasm, same bundle, same rows: the same scores as scoring here.

const HELPER_NAME = 'leadladder-helper';
const MIN_ROWS_FOR_HELPERS = 512; // below this, starting helpers costs more than it saves
let helpers = []; // { worker, calls: Map, nextId, generation, ready: Promise<boolean> }

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
    const { bytes, mapping, onError } = csvArgs;
    h.ready = callHelper(h, 'loadModel', { bytes: modelBytes })
      .then(() => callHelper(h, 'loadCsv', { bytes, mapping, onError }))
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

/** How many workers score on the CPU build: the `workers` option, else every core (at most 8). */
function workerCount(requested, total) {
  if (build.name !== 'cpu' || total < MIN_ROWS_FOR_HELPERS || self.name === HELPER_NAME) return 1;
  const n = Number.isInteger(requested) && requested > 0 ? requested : navigator.hardwareConcurrency || 1;
  return Math.max(1, Math.min(8, n));
}

async function scoreAll(id, requestedWorkers) {
  needScorer();
  needFile();
  const total = loaded.rows;
  cancelRequested = false;
  scored = false;
  const started = performance.now();
  const pool = prepareHelpers(workerCount(requestedWorkers, total) - 1);
  let next = 0;
  let done = 0;
  let used = 1;
  const take = () => {
    if (cancelRequested || next >= total) return null;
    const range = [next, Math.min(total, next + CHUNK)];
    next = range[1];
    return range;
  };
  const report = () => {
    const seconds = (performance.now() - started) / 1000;
    const leadsPerSec = done / Math.max(seconds, 1e-6);
    postMessage({ id, progress: { done, total, leadsPerSec, etaSeconds: (total - done) / Math.max(leadsPerSec, 1e-9) } });
  };
  // Helpers' scores are stored between two local chunks (never while scoreRange holds the file).
  const arrived = [];
  const store = () => {
    for (const [start, scores] of arrived.splice(0)) scorer.setScores(start, scores);
  };
  const missed = []; // chunks a failing helper handed back
  const local = async () => {
    for (;;) {
      await yieldToEvents(); // lets a 'cancel' message and helpers' answers in
      store();
      const range = missed.pop() || take();
      if (!range) break;
      await scorer.scoreRange(range[0], range[1]);
      done += range[1] - range[0];
      report();
    }
  };
  const helper = async (h) => {
    if (!(await h.ready)) return;
    used += 1;
    for (let range = take(); range; range = take()) {
      try {
        arrived.push([range[0], await callHelper(h, 'scoreChunk', { start: range[0], end: range[1] })]);
        done += range[1] - range[0];
        report();
      } catch {
        h.failed = true;
        missed.push(range);
        return;
      }
    }
  };
  const helping = Promise.all(pool.map(helper));
  await local();
  await helping;
  // Chunks handed back after the local loop ended, and the last answers.
  while (missed.length && !cancelRequested) {
    const range = missed.pop();
    await scorer.scoreRange(range[0], range[1]);
    done += range[1] - range[0];
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
  switch (msg.op) {
    case 'init':
      return ensureInit(msg.device, msg.allowNoPolicy);
    case 'modelCached':
      return isModelCached(msg.url);
    case 'loadModel':
      return loadModel(msg);
    case 'inspect': {
      await ensureInit(msg.device, msg.allowNoPolicy);
      return wasm.inspectBundle(msg.bytes);
    }
    case 'sniffHeader':
      // Ingest's own sniffing, so the mapping form agrees with what loadCsv will read.
      await ensureInit(msg.device, msg.allowNoPolicy);
      return wasm.sniffHeader(msg.bytes);
    case 'suggestMapping':
      needScorer();
      return scorer.suggestMapping(msg.header);
    case 'loadCsv':
      return loadCsv(msg);
    case 'score':
      return scoreAll(msg.id, msg.workers);
    case 'scoreChunk': {
      // A helper's job: score [start, end) and hand the scores back.
      needScorer();
      needFile();
      await scorer.scoreRange(msg.start, msg.end);
      return scorer.scoresOf(msg.start, msg.end);
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
      needScorer();
      return scorer.exportCsv();
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
  if (msg.op === 'cancel') {
    cancelRequested = true;
    return;
  }
  queue = queue.then(async () => {
    try {
      const result = await handle(msg);
      postMessage({ id: msg.id, ok: true, result });
    } catch (e) {
      postMessage({ id: msg.id, ok: false, error: errorText(e) });
    }
  });
};
