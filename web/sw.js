// Offline support: every same-origin GET goes to the network first (so a rebuilt page or wasm
// package is picked up at once) and its answer is kept; offline, the kept copy is served.
// The app shell is kept at install so the page opens offline after one visit.

const CACHE = 'leadladder-shell-v1';
const SHELL = [
  './',
  'index.html',
  'style.css',
  'favicon.svg',
  'app.js',
  'client.js',
  'worker.js',
  'crm-demo.html',
  'crm-demo.css',
  'crm-demo.js',
  'widget/lead-ladder.js',
  'widget/lead-ladder.css',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .catch(() => undefined)
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const resp = await fetch(req);
        if (resp.ok && resp.status === 200) {
          cache.put(req, resp.clone()).catch(() => undefined);
        }
        return resp;
      } catch (e) {
        const hit = await cache.match(req, { ignoreSearch: true });
        if (hit) return hit;
        throw e;
      }
    })(),
  );
});
