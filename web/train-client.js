// Promise wrapper around web/train-worker.js: the ladder editor's calls (a long-lived worker)
// and training runs (a fresh worker per run, terminated when it ends or is cancelled, so a
// cancelled run leaves nothing behind and its wasm memory is returned to the browser).

/** The folder this module is served from (where train-worker.js and pkg/ are). */
function moduleFolder() {
  return String(import.meta.url).replace(/[?#].*$/, '').replace(/[^/]*$/, '');
}

/** Thrown (as a rejection) by `train` when its AbortSignal aborts. */
export class TrainCancelled extends Error {
  constructor() {
    super('training cancelled');
    this.name = 'TrainCancelled';
  }
}

/** An error the trainer reported (its message is the CLI's: row, column, leakage …). */
export class TrainError extends Error {
  constructor(error) {
    super(error && error.message ? error.message : String(error));
    this.name = error && error.name === 'TrainerCrashed' ? 'TrainerCrashed' : 'TrainError';
  }
}

/**
 * Starts train-worker.js from a one-line blob: module that imports it, so it runs under the
 * page's Content-Security-Policy (as client.js does for the scoring worker).
 */
function startWorker(base) {
  const script = new URL('train-worker.js', base).href;
  const boot = URL.createObjectURL(new Blob([`import ${JSON.stringify(script)};\n`], { type: 'text/javascript' }));
  const worker = new Worker(boot, { type: 'module', name: 'leadladder-train' });
  const revoke = () => URL.revokeObjectURL(boot);
  worker.addEventListener('message', revoke, { once: true });
  worker.addEventListener('error', revoke, { once: true });
  return worker;
}

function call(worker, op, args = {}, onProgress = null) {
  const id = Math.random().toString(36).slice(2);
  return new Promise((resolve, reject) => {
    const onMessage = (ev) => {
      const msg = ev.data || {};
      if (msg.id !== id) return;
      if (msg.progress) {
        if (onProgress) onProgress(msg.progress);
        return;
      }
      cleanup();
      if (msg.ok) resolve(msg.result);
      else reject(new TrainError(msg.error));
    };
    const onError = (ev) => {
      cleanup();
      reject(new TrainError({ message: `the training worker failed to start: ${ev.message || 'unknown error'}` }));
    };
    const cleanup = () => {
      worker.removeEventListener('message', onMessage);
      worker.removeEventListener('error', onError);
    };
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', onError);
    worker.postMessage({ id, op, ...args });
  });
}

/**
 * What progress events add up to: tokens/s since the first step and the time left, over every
 * member of an ensemble (the trainer announces "ensemble member k of n" and counts steps per
 * member).
 */
export class ProgressMeter {
  constructor() {
    this.members = 1;
    this.member = 0;
    this.first = null;
    this.last = null;
    this.before = { steps: 0, tokens: 0 };
  }

  /** Feeds any event; returns { tokensPerS, etaSeconds, member, members } (nulls until known). */
  feed(event) {
    if (event.kind === 'stage') {
      const m = /ensemble member (\d+) of (\d+)/.exec(event.text);
      if (m) this.members = Number(m[2]);
    }
    if (event.kind !== 'step') return null;
    if (this.last && event.step < this.last.step) {
      // The next member starts counting from its first step again.
      this.member += 1;
      this.before.steps += this.last.step;
      this.before.tokens += this.last.tokens;
    }
    if (!this.first) this.first = event;
    this.last = event;
    const steps = this.before.steps + event.step - this.first.step;
    const tokens = this.before.tokens + event.tokens - this.first.tokens;
    const dt = (event.t - this.first.t) / 1000;
    const out = { tokensPerS: null, etaSeconds: null, member: this.member, members: this.members };
    if (!(dt > 0) || steps <= 0) return out;
    const left = event.total - event.step + Math.max(0, this.members - this.member - 1) * event.total;
    return { ...out, tokensPerS: tokens / dt, etaSeconds: left * (dt / steps) };
  }
}

export class TrainerClient {
  /** @param {{ assetsUrl?: string }} [options] where train-worker.js and pkg/train/ are served. */
  constructor(options = {}) {
    this.base = new URL(options.assetsUrl || moduleFolder(), location.href).href;
    this.tools = null;
  }

  #tools() {
    if (!this.tools) this.tools = startWorker(this.base);
    return this.tools;
  }

  /** The presets the page trains (`tiny`, `demo`). */
  presets() {
    return call(this.#tools(), 'presets');
  }

  /** The columns of a CSV (a File, Blob or Uint8Array) for the ladder editor. */
  inspect(csv) {
    return call(this.#tools(), 'inspect', csv instanceof Uint8Array ? { bytes: csv } : { file: csv });
  }

  /** Parses and validates a TOML spec as `leadladder train --ladder` does: `{ json, info }`. */
  readSpec(toml) {
    return call(this.#tools(), 'readSpec', { toml });
  }

  /** The editor's spec (an object in the spec's TOML shape) as validated TOML text. */
  specToToml(spec) {
    return call(this.#tools(), 'specToToml', { json: JSON.stringify(spec) });
  }

  /**
   * Trains on `csv` (File, Blob or Uint8Array) under `spec` (TOML text) with `options`
   * (`{ preset, seed?, epochs?, bootstrap? }`). `onProgress(event)` hears every stage, step and
   * epoch (`t`: ms since the start, `memoryBytes`: the wasm memory). Resolves to
   * `{ bundle: Uint8Array, reportMarkdown, reportJson, metricsJsonl, guard, leads, tokensPerS,
   * seconds, memoryBytes }`; rejects with `TrainCancelled` when `signal` aborts.
   */
  train(csv, spec, options = {}, { onProgress = null, signal = null } = {}) {
    if (signal && signal.aborted) return Promise.reject(new TrainCancelled());
    const worker = startWorker(this.base);
    const args = { spec, options, ...(csv instanceof Uint8Array ? { bytes: csv } : { file: csv }) };
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        worker.terminate();
        reject(new TrainCancelled());
      };
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      call(worker, 'train', args, onProgress).then(
        (r) => {
          if (signal) signal.removeEventListener('abort', onAbort);
          worker.terminate();
          resolve(r);
        },
        (e) => {
          if (signal) signal.removeEventListener('abort', onAbort);
          worker.terminate();
          reject(e);
        },
      );
    });
  }

  dispose() {
    if (this.tools) this.tools.terminate();
    this.tools = null;
  }
}
