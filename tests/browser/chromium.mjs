// Headless Chromium for the browser suites (run.mjs, train.mjs, widget-package.mjs, nginx.mjs):
// one way to start it with a fresh profile, and one recorder of what a context sends.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** The browser binary: $CHROMIUM, or Debian's chromium. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * A persistent context in a fresh profile folder: headless, no sandbox, no background traffic
 * (no component updates, sync or QUIC, which would add requests the network audits would have to
 * excuse). `webgpu` enables WebGPU (SwiftShader, software); downloads are accepted.
 * Resolves to `{ context, profile }`; the caller closes the context and removes the profile.
 */
export async function launch({ webgpu = false } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'leadladder-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      '--headless=new',
      '--no-sandbox',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      ...(webgpu ? ['--enable-unsafe-webgpu'] : []),
    ],
  });
  return { context, profile };
}

/**
 * Records what the browser context sends: every request of its pages, their dedicated workers and
 * the service worker (Playwright reports service-worker requests too), every WebSocket a page
 * opens with its frames, and every RTCPeerConnection constructed in any frame (WebRTC reaches the
 * network without a request and outside the policy's reach, so constructing one is the event).
 * Each record: `{ kind, method, url, body, headers?, navigation?, type?, from }`.
 */
export async function recordNetwork(context) {
  const records = [];
  await context.exposeBinding('__leadladderAuditRtc', (source, config) => {
    records.push({ kind: 'WebRTC', method: 'RTCPeerConnection', url: source.frame ? source.frame.url() : '', body: Buffer.from(String(config)), from: 'page' });
  });
  await context.addInitScript(() => {
    for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection']) {
      const Original = window[name];
      if (typeof Original !== 'function') continue;
      window[name] = new Proxy(Original, {
        construct(target, args, newTarget) {
          let config = '';
          try {
            config = JSON.stringify(args[0] || {});
          } catch {
            config = String(args[0]);
          }
          window.__leadladderAuditRtc(config);
          return Reflect.construct(target, args, newTarget);
        },
      });
    }
  });
  context.on('request', (req) => {
    let body = null;
    try {
      body = req.postDataBuffer();
    } catch {
      body = null;
    }
    // Playwright attributes a dedicated worker's requests to its page.
    const from = req.serviceWorker() ? 'service worker' : 'page/worker';
    records.push({ kind: 'request', method: req.method(), url: req.url(), body, headers: req.headers(), navigation: req.isNavigationRequest(), type: req.resourceType(), from });
  });
  const watchPage = (page) =>
    page.on('websocket', (ws) => {
      const rec = { kind: 'WebSocket', method: 'CONNECT', url: ws.url(), body: Buffer.alloc(0), from: 'page' };
      records.push(rec);
      ws.on('framesent', (frame) => {
        rec.body = Buffer.concat([rec.body, Buffer.from(frame.payload)]);
      });
    });
  context.pages().forEach(watchPage);
  context.on('page', watchPage);
  return records;
}
