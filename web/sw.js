// Offline support: every same-origin GET goes to the network first (so a rebuilt page or wasm
// package is picked up at once) and its answer is kept; offline, the kept copy is served.
// The app shell is kept at install and the wasm build the page loaded when the page asks, so the
// page opens and ranks offline after one visit (the worker keeps the model in the Cache API).

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

// The page asks to keep the wasm build it loaded (its worker may have started before this worker
// took control, so the fetch handler below never saw those requests). Replies 'kept' or 'failed'.
self.addEventListener('message', (event) => {
  const msg = event.data;
  const reply = (answer) => event.ports[0] && event.ports[0].postMessage(answer);
  if (!msg || msg.type !== 'keep' || !Array.isArray(msg.urls)) return;
  const urls = msg.urls.filter((u) => new URL(u).origin === self.location.origin);
  event.waitUntil(
    caches
      .open(CACHE)
      .then(async (cache) => {
        const missing = [];
        for (const u of urls) if (!(await cache.match(u))) missing.push(u);
        await cache.addAll(missing);
      })
      .then(
        () => reply('kept'),
        () => reply('failed'),
      ),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  // Models are kept by the scoring worker in its own cache (checked against their hash, with
  // progress); a second copy here would double the storage a real-size model takes.
  if (url.pathname.includes('/models/')) return;
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
