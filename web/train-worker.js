// The training worker (a dedicated module Worker): it loads pkg/train/ (the trainer built for
// wasm32; never loaded by the ranking page until its training panel opens) and answers
// train-client.js.
//
// Protocol: the caller posts { id, op, ...args }; the worker answers { id, ok: true, result }
// or { id, ok: false, error: { message, name } }, and posts { id, progress: event } while it
// trains. A training run is synchronous inside the wasm call: nothing can interrupt it from
// here, so train-client.js cancels by terminating the worker (and starts a new one next time).
//
// ops: presets, inspect { file }, readSpec { toml }, specToToml { json },
//      train { file | bytes, spec, options }

import init, * as wasm from './pkg/train/leadladder_train_wasm.js';

let exportsReady = null;

function ready() {
  if (!exportsReady) exportsReady = init();
  return exportsReady;
}

/** Bytes of the wasm module's memory (it only grows). */
async function memoryBytes() {
  const exports = await ready();
  return exports.memory.buffer.byteLength;
}

async function bytesOf(msg) {
  if (msg.bytes) return msg.bytes instanceof Uint8Array ? msg.bytes : new Uint8Array(msg.bytes);
  if (msg.file) return new Uint8Array(await msg.file.arrayBuffer());
  throw new TypeError('no CSV given (file or bytes)');
}

const ops = {
  async presets() {
    await ready();
    return wasm.presets();
  },
  async inspect(msg) {
    await ready();
    return wasm.inspectCsv(await bytesOf(msg));
  },
  async readSpec(msg) {
    await ready();
    return wasm.readSpec(String(msg.toml));
  },
  async specToToml(msg) {
    await ready();
    return wasm.specToToml(typeof msg.json === 'string' ? msg.json : JSON.stringify(msg.json));
  },
  async train(msg, id) {
    const exports = await ready();
    const memory = () => exports.memory.buffer.byteLength;
    const csv = await bytesOf(msg);
    const started = performance.now();
    post({ id, progress: { kind: 'stage', text: 'reading the file', t: 0, memoryBytes: memory() } });
    const result = wasm.train(csv, String(msg.spec), JSON.stringify(msg.options || {}), (event) => {
      event.t = performance.now() - started;
      event.memoryBytes = memory();
      post({ id, progress: event });
    });
    result.seconds = (performance.now() - started) / 1000;
    result.memoryBytes = memory();
    return result;
  },
  async memory() {
    return memoryBytes();
  },
};

function post(msg, transfer) {
  self.postMessage(msg, transfer || []);
}

function errorOf(e) {
  const panic = (() => {
    try {
      return wasm.lastPanic();
    } catch {
      return undefined;
    }
  })();
  const message = panic && e instanceof WebAssembly.RuntimeError ? panic : e && e.message ? e.message : String(e);
  return { message, name: panic ? 'TrainerCrashed' : (e && e.name) || 'Error' };
}

self.addEventListener('message', async (ev) => {
  const msg = ev.data || {};
  const { id, op } = msg;
  const fn = ops[op];
  if (!fn) {
    post({ id, ok: false, error: { message: `unknown operation ${op}`, name: 'TypeError' } });
    return;
  }
  try {
    const result = await fn(msg, id);
    const transfer = result && result.bundle instanceof Uint8Array ? [result.bundle.buffer] : [];
    post({ id, ok: true, result }, transfer);
  } catch (e) {
    post({ id, ok: false, error: errorOf(e) });
  }
});
