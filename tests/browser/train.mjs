// Browser tests of training in the page (web/train-client.js, web/train-worker.js, pkg/train/)
// in headless Chromium, against native `leadladder train` on the same file, spec, preset and
// seed.
//
//   node tests/browser/train.mjs                  # the cases; exit status 1 if any fails
//   node tests/browser/train.mjs --only=cancel    # just the cases whose name matches
//   node tests/browser/train.mjs --bench          # tokens/s in the page beside native (one
//                                                 # thread), wasm memory; writes
//                                                 # bench/browser/train.md (see --bench-leads)
//
// Environment: LEADLADDER_BIN (default $CARGO_TARGET_DIR/debug/leadladder or
// target/debug/leadladder), CHROMIUM (default /usr/bin/chromium). Files go to target/browser/train/.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { launch, recordNetwork } from './chromium.mjs';
import { startServer as serveRepo } from './serve.mjs';
import { parseCsv, writeCsv } from './csv.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const WORK = join(REPO, 'target', 'browser', 'train');
const BIN = process.env.LEADLADDER_BIN || join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'debug', 'leadladder');
const ONLY_ARG = (process.argv.find((a) => a.startsWith('--only=')) || '').slice('--only='.length);
const ONLY = ONLY_ARG ? new RegExp(ONLY_ARG) : null;
const BENCH = process.argv.includes('--bench');
const BENCH_LEADS = Number((process.argv.find((a) => a.startsWith('--bench-leads=')) || '--bench-leads=4000').split('=')[1]);
const BENCH_PRESET = (process.argv.find((a) => a.startsWith('--bench-preset=')) || '--bench-preset=tiny').split('=')[1];
// `--bench-no-native`: the page's run only (for a file too long to train twice here).
const BENCH_NO_NATIVE = process.argv.includes('--bench-no-native');
// The native side of the benchmark: a release build (LEADLADDER_BENCH_BIN), else LEADLADDER_BIN.
const BENCH_BIN = process.env.LEADLADDER_BENCH_BIN || process.env.LEADLADDER_BIN || join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'debug', 'leadladder');
const SEED = 5;
// Scores of the page's bundle and the native one, ranked by the same native scorer, may differ
// by at most this much when the bundles' bytes differ (float rounding: see web/README.md).
const SCORE_TOL = 1e-5;
// p(convert) is the calibrated score: Platt's slope (near 90 on this small file) scales the
// rank score's difference, so it gets a tolerance ten times wider.
const P_TOL = 1e-4;
// A unique string planted in one lead's dialogue: no request may carry it.
const MARKER = `LLPRIVACY${randomBytes(6).toString('hex')}`;
// Every file the page may request while training is open: the page's own files and the
// training build. An allow-list of files; each must exist.
const ALLOWED_FILES = [
  'index.html', 'app.js', 'client.js', 'worker.js', 'sw.js', 'style.css', 'favicon.svg',
  'models/demo.int8.safetensors',
  'pkg/cpu/leadladder_wasm.js', 'pkg/cpu/leadladder_wasm_bg.wasm',
  'pkg/gpu/leadladder_wasm.js', 'pkg/gpu/leadladder_wasm_bg.wasm',
  'train.js', 'train-client.js', 'train-worker.js',
  'pkg/train/leadladder_train_wasm.js', 'pkg/train/leadladder_train_wasm_bg.wasm',
];
const ALLOWED_PATHS = new Set(['/', ...ALLOWED_FILES.map((f) => `/${f}`)]);
const TRAIN_FILES = ALLOWED_FILES.filter((f) => /^(train|pkg\/train\/)/.test(f)).map((f) => `/${f}`);
const POLICY_PROBE_URL = (() => {
  const m = readFileSync(join(REPO, 'web', 'worker.js'), 'utf8').match(/const POLICY_PROBE_URL = '([^']+)'/);
  if (!m) throw new Error('web/worker.js names no POLICY_PROBE_URL');
  return m[1];
})();

function log(...args) {
  console.log(...args);
}

function run(args, opts = {}) {
  return execFileSync(BIN, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Runs the binary and returns { status, stdout, stderr } whatever its exit status. */
function runStatus(args, env = {}, bin = BIN) {
  try {
    const stdout = execFileSync(bin, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    return { status: e.status, stdout: String(e.stdout || ''), stderr: String(e.stderr || '') };
  }
}

// ------------------------------------------------------------------ safetensors

/** A safetensors file: its JSON header (tensors and `__metadata__`) and its data section. */
export function readSafetensors(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  return { header, data: buf.subarray(8 + n) };
}

/** The throughput in report text (`… 3258 tokens/s`). */
function noClockText(text) {
  return text.replace(/\d+ tokens\/s/g, 'N tokens/s');
}

/** Metadata values that differ between any two runs: the clock and the throughput. */
function withoutClock(key, text) {
  if (key === 'provenance') {
    const p = JSON.parse(text);
    delete p.created;
    return JSON.stringify(p);
  }
  if (key === 'metrics') {
    const m = JSON.parse(text);
    delete m.tokens_per_s;
    for (const e of m.log || []) {
      delete e.tokens_per_s;
      delete e.seconds;
    }
    return JSON.stringify(m);
  }
  return text;
}

/**
 * Where two JSON values differ beyond `rel` (numbers: |a − b| ≤ rel · max(1, |a|, |b|); other
 * values equal): a list of paths with both values.
 */
function jsonDiff(a, b, rel, path = '', out = []) {
  if (typeof a === 'number' && typeof b === 'number') {
    if (!(Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b)))) out.push(`${path}: ${a} vs ${b}`);
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) jsonDiff(a[k], b[k], rel, `${path}.${k}`, out);
  } else if (a !== b) out.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  return out;
}

/**
 * Compares two bundles: `{ bytesEqual, tensorsEqual, maxAbsDiff, metadata: [keys that differ
 * beyond the clock], clockOnly: [keys that differ only by time], numeric: [keys whose JSON
 * differs only in numbers, within `rel`], numericDiffs }`.
 */
export function compareBundles(a, b, rel = 1e-5) {
  const out = { bytesEqual: a.equals(b), tensorsEqual: true, maxAbsDiff: 0, tensorProblems: [], metadata: [], clockOnly: [], numeric: [], numericDiffs: [] };
  const x = readSafetensors(a);
  const y = readSafetensors(b);
  const names = (h) => Object.keys(h).filter((k) => k !== '__metadata__').sort();
  if (JSON.stringify(names(x.header)) !== JSON.stringify(names(y.header))) {
    out.tensorsEqual = false;
    out.tensorProblems.push('the tensor names differ');
    return out;
  }
  for (const name of names(x.header)) {
    const tx = x.header[name];
    const ty = y.header[name];
    if (tx.dtype !== ty.dtype || JSON.stringify(tx.shape) !== JSON.stringify(ty.shape)) {
      out.tensorsEqual = false;
      out.tensorProblems.push(`${name}: ${tx.dtype}${JSON.stringify(tx.shape)} vs ${ty.dtype}${JSON.stringify(ty.shape)}`);
      continue;
    }
    const bx = x.data.subarray(tx.data_offsets[0], tx.data_offsets[1]);
    const by = y.data.subarray(ty.data_offsets[0], ty.data_offsets[1]);
    if (bx.equals(by)) continue;
    out.tensorsEqual = false;
    if (tx.dtype === 'F32') {
      const fx = new Float32Array(bx.buffer.slice(bx.byteOffset, bx.byteOffset + bx.length));
      const fy = new Float32Array(by.buffer.slice(by.byteOffset, by.byteOffset + by.length));
      for (let i = 0; i < fx.length; i++) out.maxAbsDiff = Math.max(out.maxAbsDiff, Math.abs(fx[i] - fy[i]));
    } else {
      out.tensorProblems.push(`${name}: ${tx.dtype} bytes differ`);
    }
  }
  const mx = x.header.__metadata__ || {};
  const my = y.header.__metadata__ || {};
  for (const key of [...new Set([...Object.keys(mx), ...Object.keys(my)])].sort()) {
    if (mx[key] === my[key]) continue;
    if (mx[key] === undefined || my[key] === undefined) {
      out.metadata.push(key);
      continue;
    }
    const [cx, cy] = [withoutClock(key, mx[key]), withoutClock(key, my[key])];
    if (cx === cy) {
      out.clockOnly.push(key);
      continue;
    }
    // The weights' own hash follows the weights; JSON values may differ in their numbers only.
    if (key === 'weights_fnv1a64' && !out.tensorsEqual) {
      out.numeric.push(key);
      continue;
    }
    let diffs = null;
    try {
      diffs = jsonDiff(JSON.parse(noClockText(cx)), JSON.parse(noClockText(cy)), rel);
    } catch {
      diffs = null;
    }
    const exact = diffs ? jsonDiff(JSON.parse(noClockText(cx)), JSON.parse(noClockText(cy)), 0) : [];
    if (diffs && diffs.length === 0) {
      out.numeric.push(key);
      out.numericDiffs.push(...exact.map((d) => `${key}${d}`));
    } else out.metadata.push(...(diffs || ['not JSON']).map((d) => `${key}${d === 'not JSON' ? '' : d}`));
  }
  return out;
}

/** Largest score difference of two ranked CSVs (by lead id), and whether the orders agree. */
function compareScores(aText, bText) {
  const a = parseCsv(aText);
  const b = parseCsv(bText);
  const col = (rows, name) => rows[0].indexOf(name);
  const id = (rows) => col(rows, rows[0].includes('lead_id') ? 'lead_id' : rows[0][0]);
  const bById = new Map(b.slice(1).map((r) => [r[id(b)], r]));
  let maxDiff = 0;
  let pDiff = 0;
  let missing = 0;
  for (const r of a.slice(1)) {
    const o = bById.get(r[id(a)]);
    if (!o) {
      missing += 1;
      continue;
    }
    maxDiff = Math.max(maxDiff, Math.abs(Number(r[col(a, 'score')]) - Number(o[col(b, 'score')])));
    pDiff = Math.max(pDiff, Math.abs(Number(r[col(a, 'p_convert')]) - Number(o[col(b, 'p_convert')])));
  }
  const order = (rows) => rows.slice(1).map((r) => r[id(rows)]).join(',');
  return { maxDiff, pDiff, missing, rows: a.length - 1, sameOrder: order(a) === order(b) };
}

// ------------------------------------------------------------------ fixtures

function makeFixtures() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const f = {};
  run(['synth', '--leads', '500', '--seed', '20', '--out', join(WORK, 'synth.csv'), '--spec', join(WORK, 'leads.toml')]);
  const rows = parseCsv(readFileSync(join(WORK, 'synth.csv'), 'utf8'));
  rows[9][rows[0].indexOf('dialogue')] = `customer: my reference is ${MARKER}\nrep: noted`;
  f.leads = join(WORK, 'leads.csv');
  writeFileSync(f.leads, writeCsv(rows));
  f.spec = join(WORK, 'leads.toml');
  f.specText = readFileSync(f.spec, 'utf8');
  // A spec that declares the label's column as a categorical input: the CLI refuses it.
  const label = f.specText.match(/\[label\][^[]*?column\s*=\s*"([^"]+)"/);
  if (!label) throw new Error('the synth spec has no label column');
  f.leakColumn = label[1];
  f.leakSpec = join(WORK, 'leak.toml');
  const leak = f.specText.replace(/categorical\s*=\s*\[/, `categorical = ["${f.leakColumn}", `);
  if (leak === f.specText) throw new Error('the synth spec has no categorical list to add the label column to');
  writeFileSync(f.leakSpec, leak);
  f.leakText = leak;
  return f;
}

/** Native `leadladder train` with one thread (the parity reference). */
function nativeTrain(f, out, preset = 'tiny', input = f.leads, spec = f.spec, bin = BIN) {
  const started = Date.now();
  const r = runStatus(['train', '--input', input, '--ladder', spec, '--out', out, '--preset', preset, '--seed', String(SEED)], { RAYON_NUM_THREADS: '1' }, bin);
  if (r.status !== 0) throw new Error(`native leadladder train failed: ${r.stderr}`);
  return { seconds: (Date.now() - started) / 1000, stdout: r.stdout, stderr: r.stderr };
}

// ------------------------------------------------------------------ server and browser

/** `leadladder serve` of the repository ([`startServer`](./serve.mjs)). */
const startServer = () => serveRepo(BIN, REPO);

/** Every request: GET/HEAD of an allow-listed file of the page's origin, no query, no marker. */
function auditNetwork(records, serverLog, origin) {
  const problems = [];
  for (const rec of records) {
    const what = `${rec.method} ${rec.url}`;
    const text = [rec.url, rec.body ? rec.body.toString('latin1') : '', JSON.stringify(rec.headers || {})].join(' ');
    if (text.includes(MARKER)) problems.push(`${what} carries the CSV marker`);
    if (rec.url === POLICY_PROBE_URL && rec.method === 'GET') continue;
    const url = new URL(rec.url);
    if (url.protocol === 'blob:') {
      if (new URL(url.pathname).origin !== origin) problems.push(`${what}: a blob of another origin`);
      continue;
    }
    if (url.protocol === 'data:') continue;
    if (url.origin !== origin) problems.push(`${what}: another origin`);
    if (rec.method !== 'GET' && rec.method !== 'HEAD') problems.push(`${what}: method ${rec.method}`);
    if (rec.body && rec.body.length) problems.push(`${what}: a request body`);
    if (!ALLOWED_PATHS.has(url.pathname)) problems.push(`${what}: not a file of the page`);
    if (url.search && !(rec.navigation && ['?device=cpu', '?sw=off&device=cpu', '?sw=off&device=cpu&trainLimit=100000'].includes(url.search))) problems.push(`${what}: a query string`);
  }
  for (const line of serverLog) {
    const [method, target = ''] = line.split(' ');
    if (!/^[A-Z]+$/.test(method)) continue;
    const path = target.split('?')[0];
    if (line.includes(MARKER)) problems.push(`server saw "${line}": carries the marker`);
    if (method !== 'GET' && method !== 'HEAD') problems.push(`server saw "${line}": method ${method}`);
    if (!ALLOWED_PATHS.has(path)) problems.push(`server saw "${line}": not a file of the page`);
  }
  return problems;
}

async function openPage(context, url, consoleLines) {
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  await page.goto(`${url}?sw=off&device=cpu`);
  await page.waitForSelector('body[data-engine]', { timeout: 120_000 });
  return page;
}

/** Trains in the page through train-client.js; returns the result with the bundle as a Buffer. */
async function trainInPage(page, csvText, specText, options, { cancelAfterSteps = 0 } = {}) {
  const r = await page.evaluate(
    async ({ csvText, specText, options, cancelAfterSteps }) => {
      const { TrainerClient } = await import('/train-client.js');
      const trainer = (window.__trainer ||= new TrainerClient());
      const events = [];
      const abort = new AbortController();
      try {
        const result = await trainer.train(new TextEncoder().encode(csvText), specText, options, {
          signal: abort.signal,
          onProgress: (e) => {
            events.push(e);
            if (cancelAfterSteps && e.kind === 'step' && e.step >= cancelAfterSteps) abort.abort();
          },
        });
        const bundle = Array.from(result.bundle);
        delete result.bundle;
        return { ok: true, result, bundle, events };
      } catch (e) {
        return { ok: false, error: { name: e.name, message: e.message }, events };
      }
    },
    { csvText, specText, options, cancelAfterSteps },
  );
  if (r.ok) r.bundle = Buffer.from(r.bundle);
  return r;
}

// ------------------------------------------------------------------ cases

async function main() {
  log(`leadladder binary: ${BIN}`);
  const f = makeFixtures();
  const server = await startServer();
  const { context, profile } = await launch();
  const records = await recordNetwork(context);
  const consoleLines = [];
  const results = [];
  const check = async (name, fn) => {
    if (ONLY && !ONLY.test(name)) {
      results.push({ name, status: 'skipped' });
      return;
    }
    const started = Date.now();
    try {
      await fn();
      results.push({ name, status: 'ok', seconds: (Date.now() - started) / 1000 });
      log(`ok    ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      results.push({ name, status: 'FAILED', error: e.stack || String(e) });
      log(`FAIL  ${name}\n${e.stack || e}`);
    }
  };
  let page;
  try {
    page = await openPage(context, server.url, consoleLines);
    await check('the ranking page loads without the training build', async () => {
      const fetched = records.map((r) => new URL(r.url).pathname).filter((p) => TRAIN_FILES.includes(p));
      if (fetched.length) throw new Error(`the page fetched ${fetched.join(', ')} before training was asked for`);
    });

    if (BENCH) {
      await bench(page, f);
      return;
    }

    await check('the training build imports no network API', async () => {
      const mod = await WebAssembly.compile(readFileSync(join(REPO, 'pkg', 'train', 'leadladder_train_wasm_bg.wasm')));
      const imports = WebAssembly.Module.imports(mod).map((i) => i.name);
      if (imports.length < 5) throw new Error(`only ${imports.length} imports`);
      const network = imports.filter((n) => /fetch|xmlhttp|websocket|sendbeacon|eventsource|rtc|importscripts|open|location/i.test(n));
      if (network.length) throw new Error(`pkg/train imports ${network.join(', ')}`);
    });

    let pageRun = null;
    await check('tiny trained in the page = native leadladder train (one thread), same file, spec and seed', async () => {
      const csvText = readFileSync(f.leads, 'utf8');
      const nativeOut = join(WORK, 'native.safetensors');
      const native = nativeTrain(f, nativeOut);
      const r = await trainInPage(page, csvText, f.specText, { preset: 'tiny', seed: SEED });
      if (!r.ok) throw new Error(`training in the page failed: ${r.error.message}`);
      pageRun = r;
      const pageOut = join(WORK, 'page.safetensors');
      writeFileSync(pageOut, r.bundle);
      writeFileSync(join(WORK, 'page.report.md'), r.result.reportMarkdown);
      const kinds = new Set(r.events.map((e) => e.kind));
      for (const k of ['stage', 'step', 'epoch']) if (!kinds.has(k)) throw new Error(`no ${k} progress event`);
      const epochs = r.events.filter((e) => e.kind === 'epoch');
      if (!epochs.every((e) => Number.isFinite(e.val_auc))) throw new Error('an epoch without a validation AUC');
      // The report is the CLI's: the Markdown native printed, line for line.
      // Only the throughput line may differ (the clock, not the model).
      const nativeMd = readFileSync(`${nativeOut}.report.md`, 'utf8');
      const noClock = (md) => md.replace(/\d+ tokens\/s/g, 'N tokens/s');
      if (noClock(nativeMd) !== noClock(r.result.reportMarkdown)) {
        writeFileSync(join(WORK, 'native.report.md.txt'), nativeMd);
        throw new Error('the page\'s report differs from native\'s (target/browser/train/page.report.md vs native.safetensors.report.md)');
      }
      if (!/recency/i.test(r.result.reportMarkdown)) throw new Error('the report has no recency line');
      const cmp = compareBundles(r.bundle, readFileSync(nativeOut));
      log(`      bundle: ${r.bundle.length} bytes (native ${readFileSync(nativeOut).length}); tensors ${cmp.tensorsEqual ? 'byte-identical' : `differ (max |Δ| ${cmp.maxAbsDiff})`}; metadata: ${cmp.metadata.length ? `differs: ${cmp.metadata.join('; ')}` : 'equal'} beyond the clock (${cmp.clockOnly.join(', ') || 'none'})${cmp.numeric.length ? ` and float rounding (${cmp.numeric.join(', ')}: ${cmp.numericDiffs.length} numbers within 1e-5 relative)` : ''}`);
      writeFileSync(join(WORK, 'parity.json'), JSON.stringify(cmp, null, 1));
      log(`      page ${r.result.seconds.toFixed(1)} s (${Math.round(r.result.tokensPerS)} tokens/s, wasm memory ${(r.result.memoryBytes / 2 ** 20).toFixed(0)} MiB); native ${native.seconds.toFixed(1)} s`);
      if (cmp.tensorProblems.length) throw new Error(`tensors differ in shape or type: ${cmp.tensorProblems.join('; ')}`);
      if (cmp.metadata.length) throw new Error(`metadata differs beyond the clock and float rounding: ${cmp.metadata.join('; ')}`);
      if (!cmp.tensorsEqual && !(cmp.maxAbsDiff <= 1e-4)) throw new Error(`weights differ by up to ${cmp.maxAbsDiff}`);
      // Scores of both bundles by the same native scorer.
      run(['rank', '--model', pageOut, '--input', f.leads, '--out', join(WORK, 'page-model-ranked.csv'), '--explain', '0']);
      run(['rank', '--model', nativeOut, '--input', f.leads, '--out', join(WORK, 'native-model-ranked.csv'), '--explain', '0']);
      const s = compareScores(readFileSync(join(WORK, 'page-model-ranked.csv'), 'utf8'), readFileSync(join(WORK, 'native-model-ranked.csv'), 'utf8'));
      log(`      scores of the two bundles: max |Δscore| ${s.maxDiff}, max |Δp| ${s.pDiff}, same order: ${s.sameOrder}`);
      if (s.missing || !s.sameOrder || !(s.maxDiff <= SCORE_TOL) || !(s.pDiff <= P_TOL)) throw new Error(`scores differ beyond ${SCORE_TOL} (p beyond ${P_TOL}) or in order: ${JSON.stringify(s)}`);
    });

    await check('the page ranks the loaded file with the model it trained', async () => {
      if (!pageRun) throw new Error('no model trained in the page (the case above failed)');
      const csvText = readFileSync(f.leads, 'utf8');
      const ranked = await page.evaluate(
        async ({ bundle, csvText }) => {
          const { createRanker } = await import('/client.js');
          const ranker = await createRanker({ model: new Uint8Array(bundle), device: 'cpu', workers: 1 });
          try {
            const { rows } = await ranker.rank(csvText, { explain: 0 });
            return rows.map((r) => ({ id: r.id, score: r.score, pConvert: r.pConvert }));
          } finally {
            ranker.dispose();
          }
        },
        { bundle: Array.from(pageRun.bundle), csvText },
      );
      const native = parseCsv(readFileSync(join(WORK, 'page-model-ranked.csv'), 'utf8'));
      const idCol = native[0].indexOf('lead_id');
      const scoreCol = native[0].indexOf('score');
      if (ranked.length !== native.length - 1) throw new Error(`the page ranked ${ranked.length} leads, native ${native.length - 1}`);
      let worst = 0;
      const byId = new Map(native.slice(1).map((r) => [r[idCol], Number(r[scoreCol])]));
      for (const r of ranked) worst = Math.max(worst, Math.abs(r.score - byId.get(String(r.id))));
      log(`      ${ranked.length} leads ranked in the page; max |Δscore| vs native rank of the same bundle ${worst}`);
      if (!(worst <= 1e-3)) throw new Error(`the page's scores differ from native's by ${worst}`);
    });

    await check('a leaking spec is refused with the CLI\'s message', async () => {
      const cli = runStatus(['train', '--input', f.leads, '--ladder', f.leakSpec, '--out', join(WORK, 'leak.safetensors'), '--preset', 'tiny']);
      if (cli.status === 0) throw new Error('native training accepted the leaking spec');
      const r = await trainInPage(page, readFileSync(f.leads, 'utf8'), f.leakText, { preset: 'tiny', seed: SEED });
      if (r.ok) throw new Error('the page trained on a leaking spec');
      const checked = await page.evaluate(async (toml) => {
        const { TrainerClient } = await import('/train-client.js');
        const trainer = (window.__trainer ||= new TrainerClient());
        try {
          await trainer.readSpec(toml);
          return null;
        } catch (e) {
          return e.message;
        }
      }, f.leakText);
      for (const message of [r.error.message, checked]) {
        if (!message || !message.includes('leaks the answer') || !message.includes(f.leakColumn)) throw new Error(`the page said: ${message}`);
        if (!cli.stderr.includes(message)) throw new Error(`the page's message is not the CLI's:\n  page: ${message}\n  CLI:  ${cli.stderr.trim()}`);
      }
      log(`      ${r.error.message}`);
    });

    await check('cancelling mid-training stops it and the page trains and ranks again', async () => {
      const csvText = readFileSync(f.leads, 'utf8');
      const r = await trainInPage(page, csvText, f.specText, { preset: 'tiny', seed: SEED }, { cancelAfterSteps: 2 });
      if (r.ok) throw new Error('the run finished although it was cancelled');
      if (r.error.name !== 'TrainCancelled') throw new Error(`cancelling gave ${r.error.name}: ${r.error.message}`);
      const steps = r.events.filter((e) => e.kind === 'step').length;
      if (steps > 3) throw new Error(`${steps} steps were reported after the cancel at step 2`);
      // Usable afterwards: a short run completes, and the editor's calls answer.
      const again = await trainInPage(page, csvText, f.specText, { preset: 'tiny', seed: SEED, epochs: 1, bootstrap: 0 });
      if (!again.ok) throw new Error(`training after the cancel failed: ${again.error.message}`);
      const info = await page.evaluate(async (toml) => (await window.__trainer.readSpec(toml)).info.label, f.specText);
      if (!info) throw new Error('the spec check gave no label');
    });

    await check('the panel: ladder editor (rungs and tiers) to TOML the CLI reads, leakage refused in the form, a dropped spec fills the form and survives it, train, report, use now, kept for the next visit', async () => {
      await page.setInputFiles('#csv-input', f.leads);
      await page.waitForFunction(() => !document.querySelector('#rank-button').disabled, null, { timeout: 60_000 });
      await page.click('#train-open');
      await page.waitForSelector('#train-roles select', { timeout: 120_000 });
      // The editor: roles, the outcome and one rung.
      const role = (name, value) => page.selectOption(`#train-roles select[data-column="${name}"]`, value);
      for (const [name, value] of [['lead_id', 'id'], ['created_at', 'created_at'], ['crm_score', 'score'], ['latent_intent', 'ignore'],
        ['outcome', 'outcome'], ['test_drive', 'outcome'], ['long_call', 'ignore'], ['store_visit', 'ignore']]) await role(name, value);
      await page.selectOption('#train-label-column', 'outcome');
      await page.selectOption('#train-label-value', 'locked_in');
      await page.selectOption('#train-rung-column', 'test_drive');
      await page.selectOption('#train-rung-test', 'equals');
      await page.fill('#train-rung-value', 'true');
      await page.fill('#train-rung-margin', '0.5');
      await page.click('#train-add-rung');
      // A hand tier: the report's tier sort and the guard read it.
      await page.selectOption('#train-tier-column', 'visit_booked');
      await page.selectOption('#train-tier-test', 'equals');
      await page.fill('#train-tier-value', 'true');
      await page.click('#train-add-tier');
      await page.click('#train-build-spec');
      await page.waitForFunction(() => /Spec ready/.test(document.querySelector('#train-status').textContent) || !document.querySelector('#train-error').hidden, null, { timeout: 60_000 });
      const err = await page.locator('#train-error').isVisible() ? await page.locator('#train-error').textContent() : null;
      if (err) throw new Error(`the editor refused its own spec: ${err}`);
      const toml = await page.inputValue('#train-spec');
      if (!/\[\[tier\]\]/.test(toml) || !/visit_booked/.test(toml)) throw new Error(`the editor's tier is not in the spec:\n${toml}`);
      writeFileSync(join(WORK, 'editor.toml'), toml);
      const audit = runStatus(['audit', '--input', f.leads, '--ladder', join(WORK, 'editor.toml'), '--bootstrap', '0', '--json']);
      if (audit.status !== 0) throw new Error(`leadladder audit refused the editor's spec: ${audit.stderr}\n${toml}`);
      // Leakage from the form: the outcome marked as an input gets the CLI's message.
      await role('outcome', 'categorical');
      await page.click('#train-build-spec');
      await page.waitForSelector('#train-error:not([hidden])', { timeout: 60_000 });
      const leak = await page.locator('#train-error').textContent();
      if (!leak.includes('leaks the answer')) throw new Error(`marking the outcome as an input gave: ${leak}`);
      await role('outcome', 'outcome');
      // A spec file dropped in: the synth spec; then train tiny and use the model.
      await page.setInputFiles('#train-spec-input', f.spec);
      await page.waitForFunction(() => /Spec ready/.test(document.querySelector('#train-status').textContent), null, { timeout: 60_000 });
      // The dropped spec fills the form: roles, outcome, every rung and tier as written; writing
      // the spec from the form gives the same spec back. ("Spec ready" may still be the editor's
      // own line from before, so wait for the form itself.)
      const want = await page.evaluate(async (toml) => JSON.parse((await window.__trainer.readSpec(toml)).json), f.specText);
      await page.waitForFunction((names) => JSON.stringify([...document.querySelectorAll('#train-rungs li')].map((li) => li.dataset.rung)) === names,
        JSON.stringify(want.rung.map((r) => r.name)), { timeout: 60_000 }).catch(() => {});
      const form = await page.evaluate(() => ({
        rungs: [...document.querySelectorAll('#train-rungs li')].map((li) => li.dataset.rung),
        tiers: [...document.querySelectorAll('#train-tiers li')].map((li) => li.dataset.tier),
        roles: Object.fromEntries([...document.querySelectorAll('#train-roles select')].map((s) => [s.dataset.column, s.value])),
        label: [document.querySelector('#train-label-column').value, document.querySelector('#train-label-value').value],
      }));
      if (JSON.stringify(form.rungs) !== JSON.stringify(want.rung.map((r) => r.name))) throw new Error(`rungs in the form: ${form.rungs}`);
      if (JSON.stringify(form.tiers) !== JSON.stringify(want.tier.map((t) => t.name))) throw new Error(`tiers in the form: ${form.tiers}`);
      for (const [col, role] of [[want.columns.id, 'id'], [want.columns.created_at, 'created_at'], [want.columns.score[0], 'score'], [want.columns.text[0], 'text'], [want.label.column, 'outcome']]) {
        if (form.roles[col] !== role) throw new Error(`${col} shows as ${form.roles[col]}, not ${role}`);
      }
      if (form.label.join('=') !== `${want.label.column}=${want.label.equals}`) throw new Error(`the outcome shows as ${form.label}`);
      await page.click('#train-build-spec');
      await page.waitForFunction(() => /Spec ready/.test(document.querySelector('#train-status').textContent) || !document.querySelector('#train-error').hidden, null, { timeout: 60_000 });
      if (await page.locator('#train-error').isVisible()) throw new Error(`the form refused the spec it took in: ${await page.locator('#train-error').textContent()}`);
      const rewritten = await page.evaluate(async (toml) => JSON.parse((await window.__trainer.readSpec(toml)).json), await page.inputValue('#train-spec'));
      if (JSON.stringify(rewritten) !== JSON.stringify(want)) throw new Error(`the form changed the spec it took in:\n${JSON.stringify(rewritten)}\n${JSON.stringify(want)}`);
      await page.selectOption('#train-preset', 'tiny');
      await page.fill('#train-seed', String(SEED));
      await page.click('#train-start');
      await page.waitForFunction(() => /step \d+ of \d+/.test(document.querySelector('#train-progress-text').textContent), null, { timeout: 300_000 });
      await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#train-card').dataset.training), null, { timeout: 900_000 });
      if (await page.locator('#train-error').isVisible()) throw new Error(`training failed: ${await page.locator('#train-error').textContent()}`);
      const report = await page.locator('#train-report').textContent();
      if (!/recency/i.test(report)) throw new Error('the report shows no recency line');
      const epochLines = await page.locator('#train-epochs li').count();
      if (epochLines < 1) throw new Error('no epoch line with its validation AUC');
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]);
      const saved = join(WORK, 'panel.safetensors');
      await dl.saveAs(saved);
      const same = compareBundles(readFileSync(saved), readFileSync(join(WORK, 'native.safetensors')));
      if (same.metadata.length || !(same.maxAbsDiff <= 1e-4)) throw new Error(`the panel's model is not native's: ${same.metadata.join('; ')} ${same.maxAbsDiff}`);
      await page.waitForFunction(() => /Kept in this browser/.test(document.querySelector('#train-kept').textContent), null, { timeout: 30_000 });
      await page.click('#train-use');
      await page.waitForFunction(() => /\.tiny\.safetensors/.test(document.querySelector('#model-status').textContent), null, { timeout: 120_000 });
      await page.click('#rank-button');
      await page.waitForFunction(() => document.body.dataset.ranked || !document.querySelector('#banner').hidden, null, { timeout: 300_000 });
      if (await page.locator('#banner').isVisible()) throw new Error(`ranking with the trained model failed: ${await page.locator('#banner-text').textContent()}`);
      await page.locator('#train-card').screenshot({ path: join(WORK, 'panel.png') });
      // The next visit offers the kept model.
      await page.reload();
      await page.waitForSelector('#trained-offer:not([hidden])', { timeout: 60_000 });
    });

    await check('a file over the page\'s training limit is refused before training starts', async () => {
      const small = await context.newPage();
      small.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
      await small.goto(`${server.url}?sw=off&device=cpu&trainLimit=100000`);
      await small.waitForSelector('body[data-engine]', { timeout: 120_000 });
      await small.setInputFiles('#csv-input', f.leads);
      await small.waitForFunction(() => !document.querySelector('#rank-button').disabled, null, { timeout: 60_000 });
      await small.click('#train-open');
      await small.waitForSelector('#train-roles select', { timeout: 120_000 });
      await small.setInputFiles('#train-spec-input', f.spec);
      await small.waitForFunction(() => /Spec ready/.test(document.querySelector('#train-status').textContent), null, { timeout: 60_000 });
      const workers = small.workers().length;
      await small.click('#train-start');
      await small.waitForSelector('#train-error:not([hidden])', { timeout: 30_000 });
      const said = await small.locator('#train-error').textContent();
      if (!/trains on files up to/.test(said) || !/leadladder train/.test(said)) throw new Error(`the page said: ${said}`);
      if ((await small.locator('#train-card').getAttribute('data-training')) !== 'refused') throw new Error('the run was not refused');
      if (small.workers().length > workers) throw new Error('a training worker was started for a refused file');
      log(`      ${said}`);
      await small.close();
    });

    await check('nothing but the allow-listed files of the page was fetched while training', async () => {
      const problems = auditNetwork(records, server.log, server.origin);
      const fetched = new Set(records.map((r) => new URL(r.url).pathname));
      if (!fetched.has('/pkg/train/leadladder_train_wasm_bg.wasm')) problems.push('the training build was never fetched (did the cases train?)');
      if (problems.length) throw new Error(problems.join('\n'));
    });
  } finally {
    writeFileSync(join(WORK, 'console.txt'), consoleLines.join('\n'));
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    server.child.kill();
  }
  const failed = results.filter((r) => r.status === 'FAILED');
  log(`\n${results.filter((r) => r.status === 'ok').length} passed, ${failed.length} failed, ${results.filter((r) => r.status === 'skipped').length} skipped`);
  if (failed.length) process.exitCode = 1;
}

// ------------------------------------------------------------------ benchmark

async function bench(page, f) {
  const input = join(WORK, `bench-${BENCH_LEADS}.csv`);
  const spec = join(WORK, `bench-${BENCH_LEADS}.toml`);
  run(['synth', '--leads', String(BENCH_LEADS), '--seed', '41', '--out', input, '--spec', spec]);
  const nativeOut = join(WORK, 'bench-native.safetensors');
  const size = readFileSync(input).length;
  // The page first, then native, back to back on the same machine.
  const r = await trainInPage(page, readFileSync(input, 'utf8'), readFileSync(spec, 'utf8'), { preset: BENCH_PRESET, seed: SEED });
  if (!r.ok) throw new Error(`training in the page failed: ${r.error.message}`);
  const peak = Math.max(...r.events.map((e) => e.memoryBytes || 0), r.result.memoryBytes);
  let row;
  if (BENCH_NO_NATIVE) {
    row = `| ${BENCH_LEADS.toLocaleString('en-US')} (${(size / 2 ** 20).toFixed(1)} MiB) | ${BENCH_PRESET} | not run | ${r.result.seconds.toFixed(0)} | not run | ${Math.round(r.result.tokensPerS).toLocaleString('en-US')} | | ${(peak / 2 ** 20).toFixed(0)} MiB | |`;
  } else {
    const native = nativeTrain(f, nativeOut, BENCH_PRESET, input, spec, BENCH_BIN);
    const nativeMetrics = JSON.parse(readSafetensors(readFileSync(nativeOut)).header.__metadata__.metrics);
    const ratio = r.result.tokensPerS / nativeMetrics.tokens_per_s;
    const cmp = compareBundles(r.bundle, readFileSync(nativeOut));
    row = `| ${BENCH_LEADS.toLocaleString('en-US')} (${(size / 2 ** 20).toFixed(1)} MiB) | ${BENCH_PRESET} | ${native.seconds.toFixed(0)} | ${r.result.seconds.toFixed(0)} | ${Math.round(nativeMetrics.tokens_per_s).toLocaleString('en-US')} | ${Math.round(r.result.tokensPerS).toLocaleString('en-US')} | ${ratio.toFixed(2)}x | ${(peak / 2 ** 20).toFixed(0)} MiB | ${cmp.tensorsEqual ? 'byte-identical' : `max abs diff ${cmp.maxAbsDiff.toExponential(1)}`} |`;
  }
  log(row);
  const md = join(REPO, 'bench', 'browser', 'train.md');
  const header = `| leads (CSV) | preset | native s | page s | native tokens/s | page tokens/s | page / native | wasm memory | weights page vs native | when, command |\n|---|---|---|---|---|---|---|---|---|---|\n`;
  let text = '';
  try {
    text = readFileSync(md, 'utf8');
  } catch {
    text = '';
  }
  const line = `${new Date().toISOString().slice(0, 16)}, ${cpus().length} cores: \`node tests/browser/train.mjs --bench --bench-leads=${BENCH_LEADS} --bench-preset=${BENCH_PRESET}${BENCH_NO_NATIVE ? ' --bench-no-native' : ''}\` |`;
  if (!text.includes('| leads (CSV) |')) text = `${text}${text ? '\n' : ''}${header}`;
  writeFileSync(md, `${text.replace(/\n*$/, '\n')}${row} ${line}\n`);
  log(`appended to ${md}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
