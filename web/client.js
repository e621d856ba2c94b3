// A promise-based handle on the scoring worker (web/worker.js), shared by the page and the widget,
// and the headless API on top of it (`createRanker`), which the widget and the npm package use.
//
// Where the worker, the wasm builds, the demo model and the widget's stylesheet are served from
// (the "assets"): the folder holding `worker.js`, `pkg/`, `models/` and `widget/lead-ladder.css`,
// by default the folder of this module. A bundler that moves this module elsewhere (Vite, webpack)
// needs `assetsUrl`: the URL where those files are served, on the page's own origin.

/** The folder of this module, written so that bundlers leave it alone. */
function moduleFolder() {
  return String(import.meta.url).replace(/[?#].*$/, '').replace(/[^/]*$/, '');
}

/** The assets folder as an absolute URL ending in '/': `assetsUrl` (resolved against the page),
 * or this module's folder. */
export function assetsBase(assetsUrl) {
  const base = typeof document !== 'undefined' ? document.baseURI : moduleFolder();
  const url = new URL(assetsUrl == null || assetsUrl === '' ? moduleFolder() : String(assetsUrl), base);
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

/**
 * Asks the page's service worker (web/sw.js), when there is one, to keep the wasm build this visit
 * loaded, so the next visit works offline. Resolves true once kept, false without a service
 * worker or when keeping failed; never rejects.
 */
export function keepForOffline(buildName, assetsUrl) {
  if (!('serviceWorker' in navigator)) return Promise.resolve(false);
  const base = new URL(assetsBase(assetsUrl));
  const urls = ['leadladder_wasm.js', 'leadladder_wasm_bg.wasm'].map((f) => new URL(`pkg/${buildName}/${f}`, base).href);
  return navigator.serviceWorker.ready
    .then(
      (reg) =>
        new Promise((resolve) => {
          const channel = new MessageChannel();
          channel.port1.onmessage = (event) => resolve(event.data === 'kept');
          reg.active.postMessage({ type: 'keep', urls }, [channel.port2]);
        }),
    )
    .catch(() => false);
}

/**
 * Starts web/worker.js from a one-line blob: module that imports it. A worker started from a blob:
 * URL runs under the Content-Security-Policy of the page that creates it (its `<meta>` tag or its
 * headers), whereas a worker started from its own URL takes the policy of its own response only,
 * which a static host may send without one. So the worker that holds the CSV is always bound by
 * the page's `connect-src 'self'`, wherever the files are hosted. The page's policy must allow
 * `worker-src blob:` (ours does).
 */
function startWorker(base) {
  const script = new URL('worker.js', base).href;
  const boot = URL.createObjectURL(new Blob([`import ${JSON.stringify(script)};\n`], { type: 'text/javascript' }));
  const worker = new Worker(boot, { type: 'module', name: 'leadladder' });
  const revoke = () => URL.revokeObjectURL(boot);
  worker.addEventListener('message', revoke, { once: true });
  worker.addEventListener('error', revoke, { once: true });
  return worker;
}

/** A CSV for the worker: a File/Blob goes as a handle, bytes as bytes. */
function csvSource(source) {
  if (typeof Blob !== 'undefined' && source instanceof Blob) return { file: source };
  if (source instanceof Uint8Array) return { bytes: source };
  throw new TypeError('a CSV is a File, a Blob or a Uint8Array');
}

export class RankerClient {
  /**
   * @param {{ device?: 'auto'|'cpu'|'gpu', workers?: number, allowNoPolicy?: boolean }} [options]
   *   `workers`: how many workers score on the CPU build (default: one per core, at most 8;
   *   files under 512 leads use one). `allowNoPolicy`
   *   lets the engine start in a page whose Content-Security-Policy does not keep requests on its
   *   origin (no `connect-src` or `default-src`), or that has none (an embedding page that guards
   *   the network some other way); by default the worker refuses to start there.
   *   `gpuLimit` (bytes): the WebGPU build acts as if the adapter's maxStorageBufferBindingSize
   *   and maxBufferSize were at most this (to try the paths a small GPU takes).
   *   `assetsUrl`: where worker.js and pkg/ are served (default: this module's folder).
   *   `keepOffline` (default true): `init()` asks the page's service worker to keep the build.
   */
  constructor(options = {}) {
    this.device = options.device || 'auto';
    this.assetsUrl = assetsBase(options.assetsUrl);
    this.keepOffline = options.keepOffline !== false;
    this.gpuLimit = Number.isSafeInteger(options.gpuLimit) && options.gpuLimit > 0 ? options.gpuLimit : undefined;
    this.allowNoPolicy = Boolean(options.allowNoPolicy);
    this.workers = options.workers;
    this.worker = startWorker(this.assetsUrl);
    this.nextId = 1;
    this.pending = new Map();
    this.worker.onmessage = (event) => this.#onMessage(event.data);
    this.worker.onerror = (event) => {
      const message = `The ranking engine stopped: ${(event && event.message) || 'the worker could not be started or failed'}`;
      for (const { reject } of this.pending.values()) reject(new Error(message));
      this.pending.clear();
    };
  }

  #onMessage(msg) {
    const entry = this.pending.get(msg.id);
    if (!entry) return;
    if (msg.progress) {
      if (entry.onProgress) entry.onProgress(msg.progress);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.ok) entry.resolve(msg.result);
    else {
      const error = new Error(msg.error);
      if (msg.kind) error.kind = msg.kind; // 'memory': the model cannot be held in wasm memory
      entry.reject(error);
    }
  }

  /** Sends one request; `transfer` lists ArrayBuffers to move instead of copy. */
  call(op, args = {}, { onProgress, transfer } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ id, op, device: this.device, workers: this.workers, allowNoPolicy: this.allowNoPolicy, ...args }, transfer || []);
    });
  }

  /** Starts the engine; also asks the service worker to keep the build it loaded for offline use
   * (`this.offlineReady` resolves true once it is kept). */
  async init() {
    const result = await this.call('init');
    this.offlineReady = this.keepOffline ? keepForOffline(result.build.name, this.assetsUrl) : Promise.resolve(false);
    return result;
  }
  modelCached(url) {
    return this.call('modelCached', { url });
  }
  /** The options of the wasm Scorer (`{ maxBindingBytes }` from `gpuLimit`). */
  #modelOptions() {
    return this.gpuLimit ? { maxBindingBytes: this.gpuLimit } : {};
  }
  /**
   * Loads the model at `url`: from the browser's Cache API when kept there, else downloaded and
   * kept. `onProgress({ phase: 'model', done, total, source: 'network'|'cache' })` at most once
   * per MB. Resolves to `{ bundle, cached, source, notes, loadSeconds, build, device, ... }`;
   * `notes` says what the page should tell the user (a damaged kept copy downloaded again, a
   * model the browser's storage could not keep).
   */
  loadModelUrl(url, onProgress) {
    return this.call('loadModel', { url, options: this.#modelOptions() }, { onProgress });
  }
  loadModelBytes(bytes, onProgress) {
    return this.call('loadModel', { bytes, options: this.#modelOptions() }, { onProgress });
  }
  /** Loads a model file (a File or Blob): the worker reads it as a stream, never whole. */
  loadModelFile(file, onProgress) {
    return this.call('loadModel', { file, options: this.#modelOptions() }, { onProgress });
  }
  /**
   * Builds a model file (checking it end to end) without replacing the loaded model; resolves to
   * `{ bundle, device, notes, loadSeconds }`. Then `usePrepared()` swaps it in (resolving as
   * loadModelUrl does) or `discardPrepared()` drops it.
   */
  prepareModel(file, onProgress) {
    return this.call('prepareModel', { file, options: this.#modelOptions() }, { onProgress });
  }
  usePrepared() {
    return this.call('usePrepared');
  }
  discardPrepared() {
    return this.call('discardPrepared');
  }
  inspect(bytes) {
    return this.call('inspect', { bytes });
  }
  /** The header as loadCsv will read it; `source` is a File/Blob or a Uint8Array. */
  sniffHeader(source) {
    return this.call('sniffHeader', csvSource(source));
  }
  suggestMapping(header) {
    return this.call('suggestMapping', { header });
  }
  /**
   * Loads a CSV: `source` is a File or Blob (the worker reads it; the page keeps no copy of the
   * bytes, and helper workers read the same file) or a Uint8Array (copied to the worker).
   */
  loadCsv(source, mapping, onError = 'strict') {
    return this.call('loadCsv', { ...csvSource(source), mapping, onError });
  }
  score(onProgress) {
    return this.call('score', {}, { onProgress });
  }
  cancel() {
    this.worker.postMessage({ op: 'cancel' });
  }
  ranking() {
    return this.call('ranking');
  }
  rows(start, end) {
    return this.call('rows', { start, end });
  }
  summary(columns, maxLen) {
    return this.call('summary', { columns, maxLen });
  }
  filter(query) {
    return this.call('filter', { query });
  }
  explain(indices, topN = 5) {
    return this.call('explain', { indices, topN });
  }
  /** The ranked CSV as a Blob (`text/csv`), written a part at a time in the worker. */
  exportCsv() {
    return this.call('exportCsv');
  }
  audit(kPercents) {
    return this.call('audit', { kPercents });
  }
  deviceInfo() {
    return this.call('device');
  }
  /** `{ own, helpers: [] }`: bytes of wasm memory of the scoring worker and of each helper. */
  memory() {
    return this.call('memory');
  }
  terminate() {
    this.worker.terminate();
    for (const { reject } of this.pending.values()) reject(new Error('The ranking engine was closed.'));
    this.pending.clear();
  }
}

/** Formats a byte count for people ("596 KB"). */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return 'unknown size';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

/** CSV text for an array of plain objects (header = union of keys, in first-seen order). */
export function objectsToCsv(leads) {
  const header = [];
  const seen = new Set();
  for (const lead of leads) {
    for (const key of Object.keys(lead)) {
      if (!seen.has(key)) {
        seen.add(key);
        header.push(key);
      }
    }
  }
  const quote = (v) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [header.map(quote).join(',')];
  for (const lead of leads) lines.push(header.map((k) => quote(lead[k])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

// ------------------------------------------------------------------ the headless API
//
//   const ranker = await createRanker({ model, device, assetsUrl });
//   const { rows } = await ranker.rank(leads, { onProgress, signal });
//   ranker.dispose();
//
// One worker (web/worker.js, the page's own), the same wasm module and rules as `leadladder
// rank`: rows come back in queue order with score, pConvert (the export's p_convert), grade and,
// for the top `explain` leads, reasons. Failures are typed (below) and carry the engine's message.

/** Every failure of the ranker. `kind` is 'memory' when the model or file cannot be held. */
export class LeadLadderError extends Error {
  constructor(message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LeadLadderError';
    this.kind = options.kind || null;
  }
}
/** The page's Content-Security-Policy forbids what the engine needs, or none binds the worker.
 * `directive` names what to add (e.g. "worker-src blob:"), when known. */
export class PolicyError extends LeadLadderError {
  constructor(message, options = {}) {
    super(message, options);
    this.name = 'PolicyError';
    this.directive = options.directive || null;
  }
}
/** The engine could not start (no WebAssembly SIMD, the worker or wasm files missing) or stopped. */
export class EngineError extends LeadLadderError {
  constructor(message, options = {}) {
    super(message, options);
    this.name = 'EngineError';
  }
}
/** The model could not be downloaded, read or built (the bundle loader's message). */
export class ModelError extends LeadLadderError {
  constructor(message, options = {}) {
    super(message, options);
    this.name = 'ModelError';
  }
}
/** The leads could not be read (the CSV reader's message, naming the row, column and value). */
export class CsvError extends LeadLadderError {
  constructor(message, options = {}) {
    super(message, options);
    this.name = 'CsvError';
  }
}
/** Scoring, explaining, exporting or auditing failed. */
export class RankError extends LeadLadderError {
  constructor(message, options = {}) {
    super(message, options);
    this.name = 'RankError';
  }
}

const POLICY_HELP = {
  worker: "worker-src 'self' blob:",
  wasm: "script-src 'self' 'wasm-unsafe-eval'",
};

/** The error to throw for a failure of `what`: a PolicyError when the policy is the cause. */
function typedError(e, Kind, violation) {
  if (e instanceof LeadLadderError) return e;
  if (e && e.name === 'AbortError') return e;
  const message = e instanceof Error ? e.message : String(e);
  const kind = (e && e.kind) || null;
  const workerBlocked = /Worker/.test(message) && /Content Security Policy/i.test(message);
  if (workerBlocked || (violation && /worker-src|script-src|child-src|default-src/.test(violation.directive) && /blob/.test(violation.blocked))) {
    return new PolicyError(
      `The page's Content-Security-Policy does not let the ranking engine start: its worker runs from a blob: URL (so that the page's policy binds it), which the policy's ${violation ? violation.directive : 'worker-src'} forbids. Add ${POLICY_HELP.worker} to the policy. (${message})`,
      { directive: POLICY_HELP.worker, cause: e },
    );
  }
  if (/WebAssembly/i.test(message) && /unsafe-eval|Content Security Policy|CSP/i.test(message)) {
    return new PolicyError(
      `The page's Content-Security-Policy does not let the ranking engine compile its WebAssembly: add 'wasm-unsafe-eval' to script-src (${POLICY_HELP.wasm}). (${message})`,
      { directive: POLICY_HELP.wasm, cause: e },
    );
  }
  if (/no Content-Security-Policy is enforced/.test(message)) {
    return new PolicyError(
      `${message}. Send a Content-Security-Policy with the page (connect-src 'self' keeps the leads on its origin), or pass allowNoPolicy: true (the allow-no-policy attribute) if the page guards the network some other way.`,
      { directive: "connect-src 'self'", cause: e },
    );
  }
  if (/^The ranking engine (stopped|was closed)/.test(message) || /^Could not start the ranking engine/.test(message)) {
    return new EngineError(message, { kind, cause: e });
  }
  return new Kind(message, { kind, cause: e });
}

function abortError(signal) {
  if (signal && signal.reason !== undefined) return signal.reason;
  return new DOMException('The ranking was aborted.', 'AbortError');
}

function throwIfAborted(signal) {
  if (signal && signal.aborted) throw abortError(signal);
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Records the page's policy violations about starting the worker while the engine starts. */
function watchViolations() {
  const seen = { violation: null };
  if (typeof document === 'undefined') return { ...seen, stop() {} };
  const onViolation = (event) => {
    const directive = event.effectiveDirective || event.violatedDirective || '';
    if (!seen.violation) seen.violation = { directive, blocked: String(event.blockedURI || '') };
  };
  document.addEventListener('securitypolicyviolation', onViolation);
  return {
    get violation() {
      return seen.violation;
    },
    stop() {
      document.removeEventListener('securitypolicyviolation', onViolation);
    },
  };
}

/** The leads as a CSV for the worker; `objects` when they came as objects. */
function leadsSource(leads) {
  if (typeof leads === 'string') return { source: new TextEncoder().encode(leads), objects: null };
  if (Array.isArray(leads)) return { source: new TextEncoder().encode(objectsToCsv(leads)), objects: leads };
  if (typeof Blob !== 'undefined' && leads instanceof Blob) return { source: leads, objects: null };
  if (leads instanceof Uint8Array) return { source: leads, objects: null };
  if (leads instanceof ArrayBuffer) return { source: new Uint8Array(leads), objects: null };
  throw new CsvError('rank() takes CSV text, an array of lead objects, a File or Blob, or the bytes of a CSV.');
}

/** Loads `model` (a URL, a File/Blob or bytes; default the demo model in the assets folder). */
function loadModel(client, model, base, onProgress) {
  const progress = onProgress ? (p) => onProgress({ ...p, phase: 'model' }) : undefined;
  if (model == null || model === '') return client.loadModelUrl(new URL('models/demo.int8.safetensors', base).href, progress);
  if (typeof model === 'string' || model instanceof URL) {
    const where = typeof document !== 'undefined' ? document.baseURI : base;
    return client.loadModelUrl(new URL(String(model), where).href, progress);
  }
  if (typeof Blob !== 'undefined' && model instanceof Blob) return client.loadModelFile(model, progress);
  if (model instanceof Uint8Array) return client.loadModelBytes(model, progress);
  if (model instanceof ArrayBuffer) return client.loadModelBytes(new Uint8Array(model), progress);
  return Promise.reject(new ModelError('model is a URL, a File or Blob, or the bytes of a bundle.'));
}

/**
 * Starts the engine and loads the model. Options: `model` (URL, File/Blob or bytes; default the
 * demo model at `${assetsUrl}models/demo.int8.safetensors`), `device` ('auto' | 'cpu' | 'gpu'),
 * `assetsUrl` (where worker.js, pkg/ and models/ are served; default this module's folder),
 * `workers` (CPU workers, default one per core, at most 8), `allowNoPolicy`, `onProgress`
 * ({ phase: 'model', done, total, source }), `signal`. Rejects with a PolicyError, EngineError
 * or ModelError.
 */
export async function createRanker(options = {}) {
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  const device = options.device === 'cpu' || options.device === 'gpu' ? options.device : 'auto';
  const base = assetsBase(options.assetsUrl);
  const watch = watchViolations();
  let client = null;
  try {
    client = new RankerClient({
      device,
      assetsUrl: base,
      workers: options.workers,
      allowNoPolicy: options.allowNoPolicy,
      gpuLimit: options.gpuLimit,
      keepOffline: false,
    });
    const engine = await abortable(client.init(), signal);
    const model = await abortable(
      loadModel(client, options.model, base, onProgress).catch((e) => {
        throw typedError(e, ModelError, watch.violation);
      }),
      signal,
    );
    return new Ranker(client, engine, model);
  } catch (e) {
    if (client) client.terminate();
    if (signal && signal.aborted) throw abortError(signal);
    // The page hears of a policy violation in a task of its own: let it arrive.
    await new Promise((resolve) => setTimeout(resolve, 0));
    throw typedError(e, EngineError, watch.violation);
  } finally {
    watch.stop();
  }
}

const DEFAULT_K = [1, 5, 10, 20, 30, 50];

/** A started engine with a loaded model; see createRanker. */
export class Ranker {
  #client;
  #queue = Promise.resolve();
  #disposed = false;
  #generation = 0;
  #last = null; // { report, generation } of the last ranking

  constructor(client, engine, model) {
    this.#client = client;
    /** `{ build: { name: 'gpu'|'cpu', reason, policy }, version }` */
    this.engine = engine;
    /** The loaded model: `{ bundle, device, source, cached, notes, loadSeconds, ... }` */
    this.model = model;
  }

  /** Runs `job` after the ones before it (the worker holds one file at a time). */
  #serial(job, signal) {
    const run = this.#queue.then(() => {
      if (this.#disposed) throw new EngineError('The ranker was disposed.');
      throwIfAborted(signal);
      return job();
    });
    this.#queue = run.catch(() => undefined);
    return abortable(run, signal);
  }

  /**
   * Ranks `leads` (CSV text, an array of objects keyed by column name, a File/Blob or bytes).
   * Options: `onProgress` ({ phase: 'score', done, total, leadsPerSec, etaSeconds } and
   * { phase: 'explain', done, total }), `signal` (an AbortSignal: scoring stops between two chunks
   * and the promise rejects with the signal's reason), `explain` (reasons for the top N leads,
   * default 10, as `leadladder rank`), `reasons` (factors per explained lead, default 3),
   * `mapping` ({ specColumn: csvColumn }), `onError` ('skip', the default: bad rows are skipped
   * and listed in report.skippedReasons; 'strict': the first bad row fails the call).
   */
  rank(leads, options = {}) {
    return this.#serial(() => this.#rank(leads, options), options.signal);
  }

  async #rank(leads, { onProgress, signal, explain = 10, reasons = 3, mapping = null, onError = 'skip' } = {}) {
    const client = this.#client;
    const { source, objects } = leadsSource(leads);
    const generation = ++this.#generation;
    this.#last = null;
    const report = await client.loadCsv(source, mapping, onError === 'strict' ? 'strict' : 'skip').catch((e) => {
      throw typedError(e, CsvError);
    });
    throwIfAborted(signal);
    const onAbort = () => client.cancel();
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    let scored;
    try {
      scored = await client.score(onProgress ? (p) => onProgress({ ...p, phase: 'score' }) : undefined).catch((e) => {
        throw typedError(e, RankError);
      });
    } finally {
      if (signal) signal.removeEventListener('abort', onAbort);
    }
    if (scored.cancelled) throw abortError(signal);
    throwIfAborted(signal);
    const ranking = await client.ranking().catch((e) => {
      throw typedError(e, RankError);
    });
    const n = Math.max(0, Math.min(Number.isInteger(explain) ? explain : 0, ranking.length));
    const why = new Map();
    if (n > 0) {
      if (onProgress) onProgress({ phase: 'explain', done: 0, total: n });
      const explained = await client.explain(ranking.slice(0, n).map((r) => r.index), Math.max(1, reasons | 0)).catch((e) => {
        throw typedError(e, RankError);
      });
      for (const x of explained) why.set(x.index, x.reasons);
      if (onProgress) onProgress({ phase: 'explain', done: n, total: n });
      throwIfAborted(signal);
    }
    const device = await client.deviceInfo();
    const rows = ranking.map((r) => ({
      rank: r.rank,
      id: r.id,
      score: r.score,
      pConvert: r.pConvert,
      grade: r.grade,
      reasons: why.get(r.index) || null,
      index: r.index,
      // Row indices count the rows kept: with skipped rows they no longer index `leads`.
      lead: objects && !report.skipped ? objects[r.index] ?? null : null,
    }));
    this.#last = { report, generation };
    const current = (what) => {
      if (this.#generation !== generation) throw new RankError(`${what}: the ranker has ranked other leads since.`);
    };
    return {
      rows,
      report,
      skipped: report.skipped,
      drift: report.drift,
      device,
      /** The ranked CSV, the same bytes as `leadladder rank` (a Blob, text/csv). */
      toCsv: () =>
        this.#serial(async () => {
          current('toCsv');
          return client.exportCsv().catch((e) => {
            throw typedError(e, RankError);
          });
        }),
      /** The CSV cells of the lead at `index` (a row's `index`), keyed by header. */
      cells: (index) =>
        this.#serial(async () => {
          current('cells');
          const { header, rows: got } = await client.rows(index, index + 1);
          const row = got[0] || [];
          return Object.fromEntries(header.map((h, i) => [h, row[i] ?? '']));
        }),
    };
  }

  /**
   * The audit of the last ranked leads (or of `leads`, ranked first with `options`): P@K% and AUC
   * of the model against recency, the hand tier sort and the file's existing score columns. The
   * leads need the model's outcome columns. `k`: the percentages (default 1, 5, 10, 20, 30, 50).
   */
  async audit(leads, options = {}) {
    if (leads && typeof leads === 'object' && !Array.isArray(leads) && !(leads instanceof Uint8Array) && !(leads instanceof ArrayBuffer) && !(typeof Blob !== 'undefined' && leads instanceof Blob)) {
      options = leads;
      leads = undefined;
    }
    if (leads !== undefined) await this.rank(leads, { ...options, explain: 0 });
    const k = Array.isArray(options.k) && options.k.length ? options.k : DEFAULT_K;
    return this.#serial(async () => {
      const last = this.#last;
      if (!last) throw new RankError('Nothing to audit: rank leads first (or pass them to audit()).');
      if (!last.report.hasOutcomes) {
        throw new RankError(`The ranked leads lack the columns the audit compares against (${this.model.bundle.spec.outcomeColumns.join(', ')}): an audit needs leads whose outcome is known.`);
      }
      return this.#client.audit(k).catch((e) => {
        throw typedError(e, RankError);
      });
    }, options.signal);
  }

  /** Stops the worker; later calls reject with an EngineError. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#client.terminate();
  }
}
