// A promise-based handle on the scoring worker (web/worker.js), shared by the page and the widget.

/**
 * Asks the page's service worker (web/sw.js), when there is one, to keep the wasm build this visit
 * loaded, so the next visit works offline. Resolves true once kept, false without a service
 * worker or when keeping failed; never rejects.
 */
export function keepForOffline(buildName) {
  if (!('serviceWorker' in navigator)) return Promise.resolve(false);
  const base = new URL('./', import.meta.url);
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
function startWorker() {
  const script = new URL('./worker.js', import.meta.url).href;
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
   */
  constructor(options = {}) {
    this.device = options.device || 'auto';
    this.gpuLimit = Number.isSafeInteger(options.gpuLimit) && options.gpuLimit > 0 ? options.gpuLimit : undefined;
    this.allowNoPolicy = Boolean(options.allowNoPolicy);
    this.workers = options.workers;
    this.worker = startWorker();
    this.nextId = 1;
    this.pending = new Map();
    this.worker.onmessage = (event) => this.#onMessage(event.data);
    this.worker.onerror = (event) => {
      const message = `The ranking engine stopped: ${event.message || 'worker error'}`;
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
    this.offlineReady = keepForOffline(result.build.name);
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
