// The scoring worker (a dedicated module Worker). It owns the wasm module, the model and the
// loaded leads; the page and the <lead-ladder> widget talk to it through client.js.
//
// Protocol: the caller posts { id, op, ...args }; the worker answers { id, ok: true, result }
// or { id, ok: false, error }, and posts { id, progress: {...} } while a long job runs.
// `{ op: 'cancel' }` (no id needed) stops a running scoring job between two chunks.

const CHUNK = 32;
const MODEL_CACHE = 'leadladder-models-v1';

let wasm = null; // the imported module (pkg/gpu or pkg/cpu)
let build = null; // { name: 'gpu' | 'cpu', reason: string }
let initPromise = null;
let scorer = null;
let bundleInfo = null;
let loaded = null; // { report, header, rows: string[][] }
let scored = false;
let cancelRequested = false;
let lastSpeed = null; // { leads, seconds, leadsPerSec }

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
  return { name: 'gpu', reason: 'WebGPU adapter available' };
}

async function importBuild(name) {
  const url = new URL(`./pkg/${name}/leadladder_wasm.js`, import.meta.url);
  const mod = await import(url.href);
  await mod.default();
  return mod;
}

async function init(device) {
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
  build = choice;
  return { build, version: wasm.version(), hasWebGpuBuild: wasm.hasWebGpuBuild() };
}

function ensureInit(device) {
  if (!initPromise) {
    initPromise = init(device).catch((e) => {
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

function deviceSummary() {
  const info = scorer ? scorer.deviceInfo() : null;
  return { build, device: info, speed: lastSpeed };
}

async function loadModel({ url, bytes, device }) {
  await ensureInit(device);
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
  const report = scorer.loadCsv(bytes, mapping || null, onError || 'strict');
  const { header, rows } = scorer.rows(0, report.rows);
  loaded = { report, header, rows, lower: null };
  return report;
}

const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

async function scoreAll(id) {
  needScorer();
  if (!loaded) throw new Error('Load a CSV file first.');
  const total = loaded.report.rows;
  cancelRequested = false;
  scored = false;
  const started = performance.now();
  for (let start = 0; start < total; start += CHUNK) {
    await yieldToEvents(); // lets a 'cancel' message in
    if (cancelRequested) {
      cancelRequested = false;
      return { cancelled: true, done: start, total };
    }
    const end = Math.min(total, start + CHUNK);
    await scorer.scoreRange(start, end);
    const seconds = (performance.now() - started) / 1000;
    const leadsPerSec = end / Math.max(seconds, 1e-6);
    postMessage({
      id,
      progress: { done: end, total, leadsPerSec, etaSeconds: (total - end) / Math.max(leadsPerSec, 1e-9) },
    });
  }
  const seconds = (performance.now() - started) / 1000;
  lastSpeed = { leads: total, seconds, leadsPerSec: total / Math.max(seconds, 1e-6) };
  scored = true;
  return { cancelled: false, done: total, total, seconds, leadsPerSec: lastSpeed.leadsPerSec };
}

function ranking() {
  needScorer();
  if (!scored) throw new Error('The leads are not all scored yet.');
  return scorer.ranking();
}

function rows({ start, end }) {
  if (!loaded) throw new Error('Load a CSV file first.');
  const s = Math.max(0, start | 0);
  const e = Math.min(loaded.rows.length, end | 0);
  return { header: loaded.header, rows: loaded.rows.slice(s, e) };
}

// Selected columns of every loaded row, long cells cut to `maxLen` characters (for the table).
function summary({ columns, maxLen }) {
  if (!loaded) throw new Error('Load a CSV file first.');
  const at = columns.map((c) => loaded.header.indexOf(c));
  const limit = Math.max(1, maxLen | 0);
  return loaded.rows.map((row) =>
    at.map((i) => {
      const v = i >= 0 && i < row.length ? row[i] : '';
      return v.length > limit ? `${v.slice(0, limit)}…` : v;
    }),
  );
}

// Indices (into the loaded rows) whose cells contain every word of the query.
function filter({ query }) {
  if (!loaded) throw new Error('Load a CSV file first.');
  const words = String(query || '').toLowerCase().split(/\s+/).filter(Boolean);
  if (!loaded.lower) loaded.lower = loaded.rows.map((r) => r.join('\u0001').toLowerCase());
  const out = [];
  for (let i = 0; i < loaded.lower.length; i++) {
    const text = loaded.lower[i];
    if (words.every((w) => text.includes(w))) out.push(i);
  }
  return Uint32Array.from(out);
}

// Reads the header row of a CSV without loading it (for the column-mapping form).
function sniffHeader({ bytes }) {
  let text = null;
  const view = bytes.subarray(0, Math.min(bytes.length, 256 * 1024));
  if (view[0] === 0xff && view[1] === 0xfe) text = new TextDecoder('utf-16le').decode(view);
  else if (view[0] === 0xfe && view[1] === 0xff) text = new TextDecoder('utf-16be').decode(view);
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(view);
    } catch {
      // a cut multi-byte character at the end, or a legacy encoding
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(view.subarray(0, view.length - 3));
      } catch {
        text = new TextDecoder('gbk').decode(view);
      }
    }
  }
  text = text.replace(/^\uFEFF/, '');
  const firstLine = text.split(/\r?\n/).find((l) => l.trim() !== '') || '';
  const delims = [',', ';', '\t', '|'];
  let delimiter = ',';
  let best = -1;
  for (const d of delims) {
    const n = firstLine.split(d).length;
    if (n > best) {
      best = n;
      delimiter = d;
    }
  }
  const header = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === delimiter) {
      header.push(cell.trim());
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (header.length === 0 && cell.trim() === '') continue;
      break;
    } else cell += c;
  }
  header.push(cell.trim());
  while (header.length && header[header.length - 1] === '') header.pop();
  return { header, delimiter };
}

async function handle(msg) {
  switch (msg.op) {
    case 'init':
      return ensureInit(msg.device);
    case 'modelCached':
      return isModelCached(msg.url);
    case 'loadModel':
      return loadModel(msg);
    case 'inspect': {
      await ensureInit(msg.device);
      return wasm.inspectBundle(msg.bytes);
    }
    case 'sniffHeader': {
      // The engine's own sniffing (same rules as loadCsv); the plain reader if it cannot tell.
      try {
        await ensureInit(msg.device);
        if (typeof wasm.sniffHeader === 'function') {
          const sniff = wasm.sniffHeader(msg.bytes);
          if (sniff && Array.isArray(sniff.header) && sniff.header.length) return sniff;
        }
      } catch {
        // fall through: loadCsv will report what is wrong with the file
      }
      return sniffHeader(msg);
    }
    case 'suggestMapping':
      needScorer();
      return scorer.suggestMapping(msg.header);
    case 'loadCsv':
      return loadCsv(msg);
    case 'score':
      return scoreAll(msg.id);
    case 'ranking':
      return ranking();
    case 'rows':
      return rows(msg);
    case 'summary':
      return summary(msg);
    case 'filter':
      return filter(msg);
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
    default:
      throw new Error(`unknown request ${msg.op}`);
  }
}

// Requests run one after another, except 'cancel', which acts at once.
let queue = Promise.resolve();
self.onmessage = (event) => {
  const msg = event.data || {};
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
