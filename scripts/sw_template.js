// QuantLens service worker, written at build time by scripts/sw_gen.py from scripts/sw_template.js.
// It keeps exactly one build for offline use and touches nothing else:
// - install: fetch every file of this build (listed below with its SHA-256), check each against the
//   build's hash, and only when all match store them in this version's cache;
// - activate: delete this site's caches of other versions, then take control of open pages;
// - fetch: the build's own files (and the page itself, whatever its query or fragment) come from this
//   version's cache, so a page and its hashed assets are always one build; anything else (another
//   origin, a data file a link loads, a non-GET request) is not intercepted and never cached.
// No skipWaiting: a new version waits until no open page uses the old one, so a page never gets a
// worker script or example from another build than its own.
"use strict";

const VERSION = "__VERSION__";
const FILES = __FILES__; // [path relative to this script, SHA-256 hex]

// Caches are named per scope: two QuantLens sites on one origin (a bundle folder, say) keep theirs.
const PREFIX = "quantlens " + self.registration.scope + " ";
const CACHE = PREFIX + VERSION;
const abs = (path) => new URL(path, self.location).href;
const INDEX = abs("index.html");
const ROOT = abs("./");
const PRECACHED = new Set(FILES.map(([path]) => abs(path)));

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

// One file of this build: the HTTP cache's copy if it is the right one, else the server's.
async function fetchExact(url, sha) {
  for (const cache of ["default", "reload"]) {
    const res = await fetch(url, { cache, credentials: "same-origin" });
    if (!res.ok) continue;
    const body = await res.arrayBuffer();
    if (hex(await crypto.subtle.digest("SHA-256", body)) !== sha) continue;
    // A fresh response: no redirect flag (a navigation may not be answered with a redirected one).
    return new Response(body, { status: 200, statusText: "OK", headers: res.headers });
  }
  throw new Error(`QuantLens ${VERSION}: ${url} is not the file this build lists`);
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const got = await Promise.all(FILES.map(async ([path, sha]) => [abs(path), await fetchExact(abs(path), sha)]));
    const cache = await caches.open(CACHE);
    try {
      for (const [url, res] of got) await cache.put(url, res);
    } catch (e) {
      await caches.delete(CACHE); // never leave half a build behind
      throw e;
    }
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return; // another origin's: never intercepted
  const bare = url.origin + url.pathname;
  let key = null;
  if (req.mode === "navigate" && (bare === ROOT || bare === INDEX)) key = INDEX; // ?query and #fragment too
  else if (url.search === "" && PRECACHED.has(bare)) key = bare;
  if (key === null) return; // not a file of this build: the network, uncached
  event.respondWith((async () => {
    const hit = await (await caches.open(CACHE)).match(key);
    return hit || fetch(req);
  })());
});
