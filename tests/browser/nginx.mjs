// The page hosted by a real nginx with deploy/nginx.conf, as README.md's hosting table says: an
// http block like a packaged nginx.conf (the distribution's mime.types, default_type
// application/octet-stream), a server on a loopback port, and the location that serves web/ with
// pkg/ beside index.html including the snippet. Checks that every file goes out with its type
// and the page's headers (those of web/_headers, on errors too), then opens the page in headless
// Chromium: it must load, start the scoring worker under an enforced policy, rank the sample
// file with the demo model, with the wasm builds served as application/wasm.
//
//   node tests/browser/nginx.mjs      # exit status 1 if a check fails
//
// Environment: NGINX (default: nginx on PATH, else /usr/sbin/nginx; Debian's package `nginx`,
// which scripts/test.sh installs), NGINX_MIME_TYPES (default /etc/nginx/mime.types), CHROMIUM
// (default /usr/bin/chromium). Writes its files to target/browser/nginx/.

import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './chromium.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const OUT = join(REPO, 'target', 'browser', 'nginx');
const MIME_TYPES = process.env.NGINX_MIME_TYPES || '/etc/nginx/mime.types';

function findNginx() {
  if (process.env.NGINX) return process.env.NGINX;
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/sbin'])) {
    if (dir && existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  }
  return null;
}

/** The headers web/_headers sends on every path (`/*`): [[name, value], ...]. */
function expectedHeaders() {
  const lines = readFileSync(join(REPO, 'web', '_headers'), 'utf8').split('\n');
  const out = [];
  let inAll = false;
  for (const line of lines) {
    if (/^\s*#/.test(line) || !line.trim()) continue;
    if (!/^\s/.test(line)) {
      inAll = line.trim() === '/*';
      continue;
    }
    if (!inAll) continue;
    const at = line.indexOf(':');
    out.push([line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()]);
  }
  if (!out.some(([n]) => n === 'content-security-policy')) throw new Error('web/_headers names no Content-Security-Policy');
  return out;
}

async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * Lays out a deployment under `prefix`: html/ (web/ with pkg/ copied beside index.html, as
 * deploy/nginx.conf says) and conf/nginx.conf whose location includes deploy/nginx.conf.
 */
function layOut(prefix, port) {
  const root = join(prefix, 'html');
  cpSync(join(REPO, 'web'), root, { recursive: true });
  for (const build of ['cpu', 'gpu']) cpSync(join(REPO, 'pkg', build), join(root, 'pkg', build), { recursive: true });
  mkdirSync(join(prefix, 'conf'), { recursive: true });
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  mkdirSync(join(prefix, 'temp'), { recursive: true });
  const snippet = join(prefix, 'conf', 'leadladder.conf');
  cpSync(join(REPO, 'deploy', 'nginx.conf'), snippet);
  const conf = join(prefix, 'conf', 'nginx.conf');
  // As root, nginx's workers would otherwise run as nobody, who cannot read a private temp folder.
  const user = process.getuid && process.getuid() === 0 ? 'user root;\n' : '';
  writeFileSync(
    conf,
    `${user}worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} info;
events { worker_connections 64; }
http {
    include ${MIME_TYPES};
    default_type application/octet-stream;
    access_log ${join(prefix, 'logs', 'access.log')};
    client_body_temp_path ${join(prefix, 'temp', 'body')};
    proxy_temp_path ${join(prefix, 'temp', 'proxy')};
    fastcgi_temp_path ${join(prefix, 'temp', 'fastcgi')};
    uwsgi_temp_path ${join(prefix, 'temp', 'uwsgi')};
    scgi_temp_path ${join(prefix, 'temp', 'scgi')};
    server {
        listen 127.0.0.1:${port};
        server_name localhost;
        location / {
            root ${root};
            include ${snippet};
        }
    }
}
`,
  );
  return conf;
}

async function startNginx(nginx, prefix, conf, port) {
  // `nginx -t` first: a configuration error or warning is a failure in itself.
  const t = spawnSync(nginx, ['-p', prefix, '-e', join(prefix, 'logs', 'error.log'), '-c', conf, '-t'], { encoding: 'utf8' });
  const tested = `${t.stdout}${t.stderr}`;
  if (t.status !== 0) throw new Error(`nginx -t failed: ${tested}`);
  const child = spawn(nginx, ['-p', prefix, '-e', join(prefix, 'logs', 'error.log'), '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
    try {
      await fetch(url);
      return { child, url, tested };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill();
  throw new Error(`nginx did not answer on ${url}: ${stderr}`);
}

async function main() {
  const nginx = findNginx();
  if (!nginx) {
    console.error('nginx not found: install Debian’s package `nginx` (scripts/test.sh does) or set NGINX');
    process.exit(2);
  }
  if (!existsSync(join(REPO, 'pkg', 'cpu', 'leadladder_wasm.js'))) {
    console.error('pkg/ is missing: run `cargo xtask build-web` first');
    process.exit(2);
  }
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const v = spawnSync(nginx, ['-v'], { encoding: 'utf8' });
  const version = `${v.stdout || ''}${v.stderr || ''}`.replace(/^nginx version: /, '');
  const prefix = mkdtempSync(join(tmpdir(), 'leadladder-nginx-'));
  const port = await freePort();
  const conf = layOut(prefix, port);
  const failures = [];
  const check = (ok, message) => {
    if (!ok) failures.push(message);
  };
  let server = null;
  let browser = null;
  const seen = [];
  const consoleLines = [];
  try {
    server = await startNginx(nginx, prefix, conf, port);
    console.log(`nginx ${version.trim() || '(version unknown)'} on ${server.url} (${conf})`);
    const warnings = server.tested.split('\n').filter((l) => /\[(warn|emerg|alert|crit|error)\]/.test(l));
    check(warnings.length === 0, `nginx -t: ${warnings.join(' | ')}`);

    // Every kind of file the page loads, with the type a browser needs under nosniff.
    const expected = expectedHeaders();
    const files = [
      ['', /^text\/html\b/],
      ['index.html', /^text\/html\b/],
      ['app.js', /^(text|application)\/javascript\b/],
      ['client.js', /^(text|application)\/javascript\b/],
      ['worker.js', /^(text|application)\/javascript\b/],
      ['sw.js', /^(text|application)\/javascript\b/],
      ['style.css', /^text\/css\b/],
      ['favicon.svg', /^image\/svg\+xml\b/],
      ['crm-demo.html', /^text\/html\b/],
      ['widget/lead-ladder.js', /^(text|application)\/javascript\b/],
      ['pkg/cpu/leadladder_wasm.js', /^(text|application)\/javascript\b/],
      ['pkg/cpu/leadladder_wasm_bg.wasm', /^application\/wasm$/],
      ['pkg/gpu/leadladder_wasm.js', /^(text|application)\/javascript\b/],
      ['pkg/gpu/leadladder_wasm_bg.wasm', /^application\/wasm$/],
      ['samples/demo-leads.csv', /^text\/(csv|plain)\b|^application\/octet-stream$/],
      ['models/demo.int8.safetensors', /^application\/octet-stream$/],
    ];
    const report = [];
    for (const [path, type] of [...files, ['no-such-file.txt', null]]) {
      const res = await fetch(`${server.url}${path}`);
      const ct = res.headers.get('content-type') || '';
      report.push(`${res.status} /${path}  ${ct}`);
      if (type) {
        check(res.status === 200, `/${path}: HTTP ${res.status}`);
        check(type.test(ct), `/${path}: Content-Type "${ct}", expected ${type}`);
      } else check(res.status === 404, `/${path}: HTTP ${res.status}, expected 404`);
      for (const [name, value] of expected) {
        check(res.headers.get(name) === value, `/${path}: ${name} is ${JSON.stringify(res.headers.get(name))}, expected ${JSON.stringify(value)}`);
      }
      await res.arrayBuffer();
    }
    writeFileSync(join(OUT, 'responses.txt'), `${report.join('\n')}\n`);

    // The page in Chromium: it loads, its worker starts under an enforced policy, and the sample
    // file ranks (which loads the demo model).
    browser = await launch();
    browser.context.on('response', (r) => seen.push({ url: r.url(), status: r.status(), type: (r.headers()['content-type'] || '') }));
    const page = await browser.context.newPage();
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    const nav = await page.goto(`${server.url}?device=cpu`);
    check(nav && /^text\/html\b/.test(nav.headers()['content-type'] || ''), `the page is served as ${nav && nav.headers()['content-type']}`);
    const started = await page
      .waitForFunction(() => (document.body && document.body.dataset.engine) || (document.querySelector('#banner') && !document.querySelector('#banner').hidden), null, { timeout: 120_000 })
      .then(() => true, (e) => `${e.message}`.split('\n')[0]);
    const banner = async () => ((await page.locator('#banner').isVisible().catch(() => false)) ? await page.locator('#banner-text').textContent() : null);
    if (started !== true || (await banner())) {
      failures.push(`the page did not start its engine: ${started === true ? await banner() : started}`);
    } else {
      const engine = await page.evaluate(() => document.body.dataset.engine);
      check(engine === 'cpu', `engine ${engine}`);
      const policy = await page.$eval('#device-panel dd[data-field="Network policy"]', (d) => d.textContent).catch(() => '');
      check(/^enforced/.test(policy), `Network policy: ${JSON.stringify(policy)}`);
      await page.setInputFiles('#csv-input', join(REPO, 'web', 'samples', 'demo-leads.csv'));
      await page.waitForFunction(() => !document.querySelector('#rank-button').disabled, null, { timeout: 60_000 });
      await page.click('#rank-button');
      await page.waitForFunction(() => document.body.dataset.ranked || !document.querySelector('#banner').hidden, null, { timeout: 600_000, polling: 200 });
      const msg = await banner();
      check(!msg, `the page showed an error: ${msg}`);
      const ranked = Number(await page.evaluate(() => document.body.dataset.ranked || 0));
      check(ranked > 0, `ranked ${ranked} leads`);
      const model = await page.evaluate(() => document.body.dataset.modelReady);
      check(model === 'true', `the model is not loaded (modelReady ${model})`);
      console.log(`  the page ranked ${ranked} leads (engine ${engine}, ${policy})`);
    }
    const wasm = seen.filter((r) => /\/pkg\/cpu\/leadladder_wasm_bg\.wasm$/.test(r.url));
    check(wasm.length > 0, 'the browser fetched no CPU wasm build');
    for (const r of wasm) check(r.type === 'application/wasm', `the browser got ${r.url} as ${JSON.stringify(r.type)}`);
    const refused = consoleLines.filter((l) => /MIME type|Refused to (execute|apply|load)/i.test(l));
    check(refused.length === 0, `the browser refused: ${refused.slice(0, 5).join(' | ')}`);
  } catch (e) {
    failures.push(`${e.message}`.split('\n')[0]);
    if (process.env.DEBUG) console.error(e);
  } finally {
    writeFileSync(join(OUT, 'console.txt'), `${consoleLines.join('\n')}\n`);
    writeFileSync(join(OUT, 'browser-responses.txt'), `${seen.map((r) => `${r.status} ${r.url} ${r.type}`).join('\n')}\n`);
    if (browser && browser.context) await browser.context.close();
    if (browser) rmSync(browser.profile, { recursive: true, force: true });
    if (server) {
      server.child.kill();
      await new Promise((r) => (server.child.exitCode !== null ? r() : server.child.once('exit', r)));
    }
    try {
      cpSync(join(prefix, 'logs'), join(OUT, 'logs'), { recursive: true });
      cpSync(conf, join(OUT, 'nginx.conf'));
    } catch {
      // nothing to keep
    }
    rmSync(prefix, { recursive: true, force: true });
  }
  if (failures.length) {
    console.log(`nginx hosting: ${failures.length} problem(s):\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  } else console.log('nginx hosting: ok (types, headers, the page ranks)');
}

await main();
