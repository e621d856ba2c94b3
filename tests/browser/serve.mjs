// `leadladder serve` for the browser suites (run.mjs, train.mjs): one way to start it and read
// its URL and request log.
import { spawn } from 'node:child_process';

/**
 * `bin serve` of `root` on a free port; `log` collects its request lines (`GET /app.js 200`).
 * Resolves to `{ child, url, origin, log }`.
 */
export async function startServer(bin, root) {
  const child = spawn(bin, ['serve', '--port', '0', '--root', root, '--log-requests'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const log = [];
  let partial = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop();
    log.push(...lines.filter((l) => l.trim()));
  });
  const url = await new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`leadladder serve printed no URL; stderr: ${stderr}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/[^\s/]+\//);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[0]);
      }
    });
    child.on('exit', (code) => reject(new Error(`leadladder serve exited (${code}): ${stderr}`)));
  });
  return { child, url, origin: new URL(url).origin, log };
}
