// The npm package `leadladder` in an app, as a CRM developer would use it:
//
//   1. packs it (`cargo xtask pack-widget`, or the tarball in LEADLADDER_WIDGET_TGZ);
//   2. installs the tarball into a fresh folder beside a minimal app, copies the run-time files
//      with the package's `leadladder-assets`, type-checks the app against the package's
//      declarations (`tsc --noEmit`, also on the declarations alone) and builds it with Vite;
//   3. serves the build with the Content-Security-Policy the package's README asks for, and in
//      headless Chromium ranks a CSV through <lead-ladder> and through createRanker(): both must
//      rank as native `leadladder rank` (same order, scores within 1e-3, same reasons); audits,
//      cancels, fails with typed errors, and refuses clearly under policies that forbid the
//      worker or the wasm;
//   4. audits the network (every request a GET of a file of the app's own origin, none carrying
//      the CSV) and measures the sizes (install, first visit, JavaScript before the first rank,
//      which must stay under 50 KB gzipped). Writes target/widget/sizes.json and sizes.md.
//
//   node tests/browser/widget-package.mjs
//
// Environment: LEADLADDER_BIN (the leadladder binary; default $CARGO_TARGET_DIR/debug/leadladder
// or target/debug/leadladder), CHROMIUM (default /usr/bin/chromium), LEADLADDER_WIDGET_TGZ.
// Needs `npm ci` in tests/browser (playwright-core, vite, typescript).

import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { launch, recordNetwork } from './chromium.mjs';
import { build } from 'vite';
import { TOL, compareRankedCsv, parseCsv, writeCsv } from './csv.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const OUT = join(REPO, 'target', 'widget');
const WORK = join(OUT, 'test');
const BIN = process.env.LEADLADDER_BIN || join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'debug', 'leadladder');
const MODEL = join(REPO, 'web', 'models', 'demo.int8.safetensors');
const TSC = join(HERE, 'node_modules', '.bin', 'tsc');
const K_PERCENTS = [1, 5, 10, 20, 30, 50];
const JS_BUDGET = 50 * 1024; // gzipped JavaScript loaded before the first rank
const MARKER = `LLPRIVACY${randomBytes(6).toString('hex')}`;
// The policy the package's README asks a host page for.
const POLICY = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; form-action 'none'; base-uri 'none'";
const POLICIES = {
  '/': POLICY,
  '/no-blob/': POLICY.replace("worker-src 'self' blob:", "worker-src 'self'"),
  '/no-wasm/': POLICY.replace(" 'wasm-unsafe-eval'", ''),
};

const log = (...a) => console.log(...a);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });

/** The API's rows against the native CSV: same ids in the same order (near-ties aside), scores. */
function compareRows(rows, nativeText) {
  const nat = parseCsv(nativeText);
  const header = nat[0];
  const id = header.indexOf('lead_id');
  const score = header.indexOf('score');
  const p = header.indexOf('p_convert');
  const grade = header.indexOf('grade');
  const byId = new Map(nat.slice(1).map((r) => [r[id], r]));
  const problems = [];
  if (rows.length !== nat.length - 1) problems.push(`${rows.length} rows, native ${nat.length - 1}`);
  rows.forEach((r, i) => {
    const n = nat[i + 1];
    const ref = byId.get(r.id);
    if (!n || !ref) return void problems.push(`row ${i + 1}: lead ${r.id} not in the native output`);
    if (r.id !== n[id] && !(Math.abs(Number(ref[score]) - Number(n[score])) <= TOL)) problems.push(`row ${i + 1}: ${r.id}, native ${n[id]}`);
    if (!(Math.abs(r.score - Number(ref[score])) <= TOL)) problems.push(`${r.id}: score ${r.score} vs ${ref[score]}`);
    if (!(Math.abs(r.pConvert - Number(ref[p])) <= TOL)) problems.push(`${r.id}: p_convert ${r.pConvert} vs ${ref[p]}`);
    if (r.id === n[id] && r.grade !== ref[grade]) problems.push(`${r.id}: grade ${r.grade} vs ${ref[grade]}`);
    if (problems.length > 20) return;
  });
  return problems;
}

// ------------------------------------------------------------------ fixtures and the package

function makeFixtures() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const f = {};
  const bin = (args) => run(BIN, args, { cwd: REPO });
  bin(['synth', '--leads', '300', '--seed', '11', '--out', join(WORK, 'synth.csv'), '--spec', join(WORK, 'leads.toml')]);
  const rows = parseCsv(readFileSync(join(WORK, 'synth.csv'), 'utf8'));
  const dlg = rows[0].indexOf('dialogue');
  rows[7][dlg] = `customer: my reference is ${MARKER}\nrep: noted`;
  f.leads = writeCsv(rows);
  writeFileSync(join(WORK, 'leads.csv'), f.leads);
  f.count = rows.length - 1;
  // The native reference, with `leadladder rank`'s default reasons (top 10, three factors each).
  bin(['rank', '--model', MODEL, '--input', join(WORK, 'leads.csv'), '--out', join(WORK, 'native-ranked.csv')]);
  f.native = readFileSync(join(WORK, 'native-ranked.csv'), 'utf8');
  f.nativeAudit = JSON.parse(
    bin(['audit', '--input', join(WORK, 'native-ranked.csv'), '--ladder', join(WORK, 'leads.toml'), '--score', 'score', '--bootstrap', '0', '--json', ...K_PERCENTS.flatMap((k) => ['--k', String(k)])]),
  );
  // Long enough to cancel while it ranks.
  bin(['synth', '--leads', '2000', '--seed', '12', '--out', join(WORK, 'long.csv'), '--spec', join(WORK, 'long.toml')]);
  f.long = readFileSync(join(WORK, 'long.csv'), 'utf8');
  return f;
}

function packPackage() {
  if (process.env.LEADLADDER_WIDGET_TGZ) return resolve(process.env.LEADLADDER_WIDGET_TGZ);
  const out = run('cargo', ['xtask', 'pack-widget'], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop();
}

const APP_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Acme CRM</title>
  <link rel="icon" href="data:,">
  <script type="module" src="/src/main.ts"></script>
</head>
<body>
  <h1>Open leads</h1>
  <lead-ladder id="ladder" assets-url="/leadladder/" rows="5" columns="rank,grade,id,score,p_convert,reasons,channel"></lead-ladder>
</body>
</html>
`;

// The app: typed against the package (tsc checks it), built by Vite, driven by the test.
const APP_MAIN = `import './app.css';
import { createRanker, CsvError, PolicyError, LeadLadderError, TEXTS, type Progress, type RankResult, type Ranker } from 'leadladder';
import type { LeadLadder } from 'leadladder/element';

const ASSETS = '/leadladder/';
const ladder: LeadLadder = document.querySelector('lead-ladder')!;
const events: string[] = [];
ladder.addEventListener('progress', (e) => events.push('progress:' + e.detail.phase));
ladder.addEventListener('ranked', (e) => events.push('ranked:' + e.detail.rows.length));
ladder.addEventListener('rank-error', (e) => events.push('rank-error:' + e.detail.message));

async function csvOf(result: RankResult): Promise<string> {
  return (await result.toCsv()).text();
}

function describe(e: unknown) {
  const err = e as Error;
  return {
    name: err.name,
    message: err.message,
    typed: e instanceof LeadLadderError,
    csv: e instanceof CsvError,
    policy: e instanceof PolicyError,
    directive: e instanceof PolicyError ? e.directive : null,
  };
}

const test = {
  async element(csv: string) {
    const result = await ladder.rank(csv);
    const root = ladder.shadowRoot!;
    const shown = [...root.querySelectorAll('li')].map((li) => [...li.querySelectorAll('span')].map((s) => s.textContent));
    const zhTitle = TEXTS.zh.title;
    ladder.setAttribute('lang', 'zh');
    const title = root.querySelector('.title')!.textContent;
    ladder.texts = { title: 'Today', columns: { id: 'Customer' } };
    const overridden = [root.querySelector('.title')!.textContent, [...root.querySelectorAll('.head span')].map((s) => s.textContent)];
    ladder.removeAttribute('lang');
    ladder.texts = null;
    const host = getComputedStyle(ladder);
    const grade = getComputedStyle(root.querySelector('.cell.grade')!);
    return {
      csv: await csvOf(result),
      events: [...new Set(events)],
      shown,
      zh: title === zhTitle,
      overridden,
      theme: { background: host.backgroundColor, gradeDecoration: grade.textDecorationLine, status: root.querySelector('.status')!.textContent },
      build: result.device.build.name,
    };
  },

  async api(csv: string, long: string, k: number[]) {
    const modelPhases = new Set<string>();
    const ranker: Ranker = await createRanker({ assetsUrl: ASSETS, device: 'cpu', onProgress: (p) => modelPhases.add(p.phase) });
    // Cancelled while it scores: rejects with the signal's reason, and the ranker goes on.
    const controller = new AbortController();
    let abort: unknown = null;
    let scoredBeforeAbort = 0;
    try {
      await ranker.rank(long, {
        signal: controller.signal,
        onProgress: (p: Progress) => {
          if (p.phase === 'score' && !controller.signal.aborted) {
            scoredBeforeAbort = p.done;
            controller.abort();
          }
        },
      });
    } catch (e) {
      abort = describe(e);
    }
    const phases = new Set<string>();
    const result = await ranker.rank(csv, { onProgress: (p) => phases.add(p.phase) });
    const rows = result.rows.map((r) => ({ id: r.id, rank: r.rank, score: r.score, pConvert: r.pConvert, grade: r.grade, reasons: r.reasons }));
    const exported = await csvOf(result);
    const audit = await ranker.audit({ k });
    let bad: unknown = null;
    try {
      await ranker.rank('lead_id,created_at,"dialogue\\n1,2025-01-01,hello\\n', { onError: 'strict' });
    } catch (e) {
      bad = describe(e);
    }
    ranker.dispose();
    let disposed: unknown = null;
    try {
      await ranker.rank(csv);
    } catch (e) {
      disposed = describe(e);
    }
    return { rows, csv: exported, audit, abort, scoredBeforeAbort, bad, disposed, phases: [...phases], modelPhases: [...modelPhases], model: ranker.model.bundle.format };
  },

  async policy() {
    // The element says so too: its status, and a rank-error event carrying the PolicyError.
    let fired: unknown = null;
    ladder.addEventListener('rank-error', (e) => (fired = describe(e.detail.error)), { once: true });
    const element = await ladder.rank('lead_id\\nL1\\n').then(() => 'ranked', (e) => (e as Error).name);
    const status = ladder.shadowRoot!.querySelector('.status')!.textContent;
    try {
      const ranker = await createRanker({ assetsUrl: ASSETS, device: 'cpu' });
      ranker.dispose();
      return { ok: true, element, fired, status };
    } catch (e) {
      return { ok: false, ...describe(e), element, fired, status };
    }
  },
};

declare global {
  interface Window {
    leadladderTest: typeof test;
  }
}
window.leadladderTest = test;
document.body.dataset.ready = '1';
`;

const APP_CSS = `lead-ladder { --leadladder-bg: rgb(1, 2, 3); --leadladder-fg: rgb(250, 250, 250); max-width: 40rem; }
lead-ladder::part(cell-grade) { text-decoration: underline; }
`;

const APP_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    types: [],
  },
  include: ['src'],
};

function dirBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

async function makeApp(tarball) {
  const app = mkdtempSync(join(tmpdir(), 'leadladder-app-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'crm-app', private: true, type: 'module' }, null, 2));
  // The tarball has no dependencies: this install needs no registry.
  run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', tarball], { cwd: app });
  const installed = join(app, 'node_modules', 'leadladder');
  const version = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version;
  log(`installed leadladder ${version} from ${tarball}`);
  log(run(join(app, 'node_modules', '.bin', 'leadladder-assets'), ['public/leadladder'], { cwd: app }).trim());
  mkdirSync(join(app, 'src'));
  writeFileSync(join(app, 'index.html'), APP_HTML);
  writeFileSync(join(app, 'src', 'main.ts'), APP_MAIN);
  writeFileSync(join(app, 'src', 'app.css'), APP_CSS);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(APP_TSCONFIG, null, 2));
  // The declarations alone, then the app against the installed package.
  run(TSC, ['--noEmit', '-p', join(REPO, 'packages', 'widget', 'tsconfig.json')]);
  run(TSC, ['--noEmit', '-p', join(app, 'tsconfig.json')]);
  log('tsc --noEmit: the declarations and the app type-check');
  await build({ root: app, configFile: false, logLevel: 'warn', build: { outDir: join(app, 'dist'), emptyOutDir: true } });
  log('vite build: done');
  return { app, dist: join(app, 'dist'), installBytes: dirBytes(installed), tarballBytes: statSync(tarball).size };
}

// ------------------------------------------------------------------ server and browser

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.safetensors': 'application/octet-stream', '.svg': 'image/svg+xml' };

/** The built app with the policy of the folder asked for; `log` records what it served. */
async function serve(dist) {
  const served = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = decodeURIComponent(url.pathname);
    const page = POLICIES[path];
    const rel = page ? 'index.html' : path.slice(1);
    const file = join(dist, rel);
    const entry = { method: req.method, path, search: url.search, status: 404, bytes: 0, file: null };
    served.push(entry);
    if (rel.includes('..') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Security-Policy': POLICY });
      res.end();
      return;
    }
    const body = readFileSync(file);
    entry.status = 200;
    entry.bytes = body.length;
    entry.file = file;
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] || 'application/octet-stream',
      'Content-Length': String(body.length),
      'Content-Security-Policy': page || POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { server, origin, served };
}

/** Every request a GET or HEAD of a file of `origin` with no query and no body; none carries
 * MARKER; every line the server saw names a file of the build (or the pages of the policies). */
function auditNetwork(requests, served, origin, dist) {
  const problems = [];
  for (const r of requests) {
    const what = `${r.method} ${r.url}`;
    if ([r.url, r.body ? r.body.toString('latin1') : '', JSON.stringify(r.headers)].some((t) => t.includes(MARKER))) problems.push(`${what} carries the CSV marker`);
    const url = new URL(r.url);
    if (url.protocol === 'blob:') {
      if (new URL(url.pathname).origin !== origin) problems.push(`${what}: a blob of another origin`);
      continue;
    }
    if (url.origin !== origin) problems.push(`${what}: leaves the origin`);
    if (r.method !== 'GET' && r.method !== 'HEAD') problems.push(`${what}: method ${r.method}`);
    if (r.body && r.body.length) problems.push(`${what}: a request body`);
    if (url.search) problems.push(`${what}: a query string`);
  }
  for (const s of served) {
    const line = `${s.method} ${s.path}${s.search}`;
    if (line.includes(MARKER)) problems.push(`server saw ${line}: carries the CSV marker`);
    if (s.search) problems.push(`server saw ${line}: a query string`);
    if (!POLICIES[s.path] && !(s.file && s.file.startsWith(dist)) && s.path !== '/favicon.ico') problems.push(`server saw ${line}: not a file of the build`);
  }
  return problems;
}

/** Bytes served (raw and gzipped) and the JavaScript among them (each file once). */
function sizesOf(entries) {
  const files = new Map();
  for (const e of entries) if (e.file && !files.has(e.path)) files.set(e.path, e.file);
  let raw = 0;
  let gz = 0;
  let jsRaw = 0;
  let jsGz = 0;
  const js = [];
  for (const e of entries) raw += e.bytes;
  for (const [path, file] of files) {
    const body = readFileSync(file);
    const z = gzipSync(body, { level: 9 }).length;
    gz += z;
    if (path.endsWith('.js')) {
      jsRaw += body.length;
      jsGz += z;
      js.push({ path, bytes: body.length, gzip: z });
    }
  }
  return { requests: entries.length, bytes: raw, gzipBytes: gz, jsBytes: jsRaw, jsGzipBytes: jsGz, js };
}

// ------------------------------------------------------------------ the test

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;

async function main() {
  const failures = [];
  const check = (ok, message) => {
    if (!ok) failures.push(message);
    log(`  ${ok ? 'ok  ' : 'FAIL'} ${message}`);
  };
  const none = (problems, message) => check(problems.length === 0, problems.length ? `${message}:\n      ${problems.slice(0, 12).join('\n      ')}` : message);

  if (!existsSync(BIN)) throw new Error(`no ${BIN}: set LEADLADDER_BIN`);
  mkdirSync(OUT, { recursive: true });
  const f = makeFixtures();
  const tarball = packPackage();
  const { app, dist, installBytes, tarballBytes } = await makeApp(tarball);
  const host = await serve(dist);
  const { context, profile } = await launch();
  const requests = await recordNetwork(context);
  const consoleLines = [];
  try {
    const page = await context.newPage();
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await page.goto(`${host.origin}/`);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });

    log('<lead-ladder>: ranks the CSV');
    const el = await page.evaluate((csv) => window.leadladderTest.element(csv), f.leads);
    const firstVisit = sizesOf(host.served.slice());
    none(compareRankedCsv(el.csv, f.native), `element: ${f.count} leads ranked as native leadladder rank (order, scores, p_convert, grade, reasons)`);
    check(el.shown.length === 5, `element: shows rows="5" (${el.shown.length})`);
    check(el.shown.every((cells) => cells.length === 7 && ['A', 'B', 'C', 'D'].includes(cells[1]) && cells[6] !== ''), `element: shows the 7 columns asked for, the CSV's channel among them (${JSON.stringify(el.shown[0])})`);
    const nativeRows = parseCsv(f.native);
    check(el.shown[0][2] === nativeRows[1][nativeRows[0].indexOf('lead_id')], `element: top lead ${el.shown[0][2]} is native's ${nativeRows[1][0]}`);
    check(el.events.includes('progress:score') && el.events.includes('ranked:300') && !el.events.some((e) => e.startsWith('rank-error')), `element: progress and ranked events (${el.events.join(', ')})`);
    check(el.zh, 'element: lang="zh" shows the Chinese texts');
    check(el.overridden[0] === 'Today' && el.overridden[1].includes('Customer'), `element: texts override the title and a column heading (${JSON.stringify(el.overridden)})`);
    check(el.theme.background === 'rgb(1, 2, 3)' && el.theme.gradeDecoration === 'underline', `element: themed by custom properties and ::part (${JSON.stringify(el.theme)})`);
    check(el.theme.status === '300 leads ranked.', `element: status "${el.theme.status}"`);

    log('createRanker(): ranks, cancels, audits, fails typed, disposes');
    const api = await page.evaluate(([csv, long, k]) => window.leadladderTest.api(csv, long, k), [f.leads, f.long, K_PERCENTS]);
    none(compareRows(api.rows, f.native), `api: rows (ids in order, score, pConvert, grade) as native`);
    none(compareRankedCsv(api.csv, f.native), 'api: toCsv() as native leadladder rank');
    const withReasons = api.rows.filter((r) => r.reasons);
    check(withReasons.length === 10 && withReasons.every((r, i) => r.rank === i + 1 && r.reasons.length === 3), `api: reasons for the top 10 leads, three each (${withReasons.length})`);
    check(api.abort && api.abort.name === 'AbortError' && api.scoredBeforeAbort < 2000, `api: an aborted rank rejects with AbortError (${JSON.stringify(api.abort)}, ${api.scoredBeforeAbort} of 2000 scored)`);
    check(api.phases.includes('score') && api.phases.includes('explain') && api.modelPhases.every((p) => p === 'model'), `api: progress phases ${api.phases.join(', ')}; model ${api.modelPhases.join(', ')}`);
    check(api.bad && api.bad.csv && api.bad.typed && api.bad.name === 'CsvError' && api.bad.message.length > 10, `api: a broken CSV fails with CsvError carrying the reader's message (${api.bad && api.bad.message})`);
    check(api.disposed && api.disposed.name === 'EngineError', `api: rank after dispose() fails with EngineError (${api.disposed && api.disposed.message})`);
    const model = api.audit.methods.find((m) => m.model);
    const nat = f.nativeAudit.methods.find((m) => /^score\b/i.test(m.name));
    const natAuc = typeof nat.auc === 'number' ? nat.auc : nat.auc.value;
    check(model && Math.abs(model.auc - natAuc) <= TOL, `api: audit AUC ${model && model.auc} vs native ${natAuc}`);
    check(
      model && model.atK.every((a) =>
          nat.at_k.some((n) => Math.abs(n.k_percent - a.k) < 1e-9 && n.hits === a.hits && Math.abs((typeof n.precision === 'number' ? n.precision : n.precision.value) - a.precision) <= TOL),
        ),
      `api: audit P@K% as native (${model && model.atK.map((a) => `${a.k}%: ${a.precision.toFixed(3)}`).join(', ')})`,
    );
    await page.close();

    log('host policies that forbid the engine');
    for (const [path, want, directive] of [['/no-blob/', 'worker', "worker-src 'self' blob:"], ['/no-wasm/', 'wasm', "script-src 'self' 'wasm-unsafe-eval'"]]) {
      const p = await context.newPage();
      await p.goto(`${host.origin}${path}`);
      await p.waitForSelector('body[data-ready]', { timeout: 30_000 });
      const got = await Promise.race([p.evaluate(() => window.leadladderTest.policy()), new Promise((r) => setTimeout(() => r({ ok: false, name: 'timeout', message: 'no answer in 60 s' }), 60_000))]);
      check(!got.ok && got.policy && got.name === 'PolicyError' && got.directive === directive, `${path}: createRanker rejects with a PolicyError naming ${want} (${got.name}: ${got.directive}; ${got.message})`);
      check(
        got.element === 'PolicyError' && got.fired && got.fired.directive === directive && /Content-Security-Policy/.test(got.status || ''),
        `${path}: <lead-ladder> rejects, fires rank-error with the PolicyError and shows "${got.status}"`,
      );
      await p.close();
    }

    log('network');
    none(auditNetwork(requests, host.served, host.origin, dist), `network audit: ${requests.length} requests, every one a GET of a file of the app's origin, none carrying the CSV`);

    // This browser has no WebGPU, so the visit loaded the CPU build; a visitor with a GPU loads
    // the WebGPU build's glue and wasm instead (computed from the same files).
    const gz = (rel) => gzipSync(readFileSync(join(dist, 'leadladder', rel)), { level: 9 }).length;
    const size = (rel) => statSync(join(dist, 'leadladder', rel)).size;
    const swap = (cpuRel, gpuRel, bytes, gzipped) => ({ bytes: bytes - size(cpuRel) + size(gpuRel), gzip: gzipped - gz(cpuRel) + gz(gpuRel) });
    const gpuJs = swap('pkg/cpu/leadladder_wasm.js', 'pkg/gpu/leadladder_wasm.js', firstVisit.jsBytes, firstVisit.jsGzipBytes);
    const gpuWasm = swap('pkg/cpu/leadladder_wasm_bg.wasm', 'pkg/gpu/leadladder_wasm_bg.wasm', firstVisit.bytes, firstVisit.gzipBytes);
    const webgpu = { jsBytes: gpuJs.bytes, jsGzipBytes: gpuJs.gzip, bytes: gpuWasm.bytes - size('pkg/cpu/leadladder_wasm.js') + size('pkg/gpu/leadladder_wasm.js'), gzipBytes: gpuWasm.gzip - gz('pkg/cpu/leadladder_wasm.js') + gz('pkg/gpu/leadladder_wasm.js') };
    const sizes = {
      package: { tarballBytes, installBytes },
      firstVisit,
      firstVisitWebGpu: webgpu,
      budget: { jsGzipBytes: JS_BUDGET },
    };
    check(firstVisit.jsGzipBytes < JS_BUDGET, `JavaScript loaded before the first rank: ${kb(firstVisit.jsGzipBytes)} gzipped (budget ${kb(JS_BUDGET)}): ${firstVisit.js.map((j) => `${j.path} ${kb(j.gzip)}`).join(', ')}`);
    check(webgpu.jsGzipBytes < JS_BUDGET, `JavaScript before the first rank with the WebGPU build: ${kb(webgpu.jsGzipBytes)} gzipped (budget ${kb(JS_BUDGET)})`);
    writeFileSync(join(OUT, 'sizes.json'), `${JSON.stringify(sizes, null, 2)}\n`);
    const md = [
      '| what | size |',
      '|---|---|',
      `| npm tarball | ${mb(tarballBytes)} |`,
      `| installed (node_modules/leadladder) | ${mb(installBytes)} |`,
      `| first visit, until the first rank (${firstVisit.requests} requests) | ${mb(firstVisit.bytes)} (${mb(firstVisit.gzipBytes)} gzipped) |`,
      `| JavaScript before the first rank | ${kb(firstVisit.jsBytes)} (${kb(firstVisit.jsGzipBytes)} gzipped) |`,
      `| with the WebGPU build instead (computed): first visit | ${mb(webgpu.bytes)} (${mb(webgpu.gzipBytes)} gzipped) |`,
      `| with the WebGPU build instead (computed): JavaScript before the first rank | ${kb(webgpu.jsBytes)} (${kb(webgpu.jsGzipBytes)} gzipped) |`,
      ...firstVisit.js.map((j) => `| · ${j.path} | ${kb(j.bytes)} (${kb(j.gzip)} gzipped) |`),
    ].join('\n');
    writeFileSync(join(OUT, 'sizes.md'), `${md}\n`);
    log(md);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    host.server.close();
    if (!failures.length) rmSync(app, { recursive: true, force: true });
    else log(`the app is kept in ${app}`);
  }
  if (failures.length) {
    log(`\n${failures.length} check(s) failed; the page's console:\n${consoleLines.slice(-40).join('\n')}`);
    process.exit(1);
  }
  log('\nthe package test passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
