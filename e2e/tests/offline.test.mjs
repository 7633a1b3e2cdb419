// End-to-end: offline and installable. After one visit the service worker holds the build, so the
// page (whatever its query or fragment) and the example work with the network off; a new build
// replaces the old cache without mixing the two; data files beside the build are never cached; the
// manifest parses and its icons load; the registration script is silent on file://.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, scratchDir } from "../server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
let browser;
const cleanup = [];

before(async () => {
  browser = await launch(chromium);
});

after(async () => {
  await browser?.close();
  for (const f of cleanup) await f();
});

// A private copy of the build, served on its own port (its own origin, so its own worker and caches).
async function site(extra = async () => {}) {
  const root = await scratchDir("quantlens-sw-");
  await cp(join(repo, "dist"), root, { recursive: true });
  await extra(root);
  const { server, url } = await serve(root);
  cleanup.push(async () => { server.close(); await rm(root, { recursive: true, force: true }); });
  return { root, url };
}

async function newContext() {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const requests = [];
  ctx.on("request", (r) => requests.push(r.url()));
  return { ctx, requests };
}

async function newPage(ctx) {
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  return { page, errors, requests };
}

// Wait until the service worker is active and controls this page; returns its script URL.
const controlled = (page) => page.evaluate(async () => {
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((ok) => navigator.serviceWorker.addEventListener("controllerchange", ok, { once: true }));
  }
  return navigator.serviceWorker.controller.scriptURL;
});

const cacheNames = (page) => page.evaluate(() => caches.keys());
const versionOf = async (root) => (await readFile(join(root, "sw.js"), "utf8")).match(/const VERSION = "([0-9a-f]+)"/)[1];
const listedOf = async (root) => [...(await readFile(join(root, "sw.js"), "utf8")).matchAll(/^  \["([^"]+)", "[0-9a-f]{64}"\],$/gm)].map((m) => m[1]);

test("after one visit the page and the example work with the network off, and nothing leaves the origin", async () => {
  const { root, url } = await site();
  const { ctx, requests } = await newContext();
  const { page, errors, requests: pageRequests } = await newPage(ctx);
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  assert.equal(await controlled(page), url + "sw.js");
  const version = await versionOf(root);
  assert.deepEqual(await cacheNames(page), [`quantlens ${url} ${version}`]);
  // The cache holds exactly the build's files (every file of dist but sw.js itself).
  const listed = await listedOf(root);
  assert.ok(listed.includes("index.html") && listed.includes("worker_bg.wasm") && listed.includes("examples/model_check_result.txt"));
  const cached = await page.evaluate(async () => (await (await caches.open((await caches.keys())[0])).keys()).map((r) => r.url));
  assert.deepEqual(cached.sort(), listed.map((p) => url + p).sort());

  await ctx.setOffline(true);
  assert.equal(await page.evaluate(() => fetch("index.html").then(() => "cached", () => "network")), "cached");
  await page.reload();
  await page.waitForSelector(".dropzone");
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  assert.ok((await page.$$(".finding")).length > 3);

  // Any query or fragment on the page's URL is the same page, still offline; `?example` loads it.
  for (const u of [url + "index.html?example", url + "?example#top"]) {
    await page.goto(u);
    await page.waitForSelector(".finding", { timeout: 30000 });
  }
  assert.deepEqual(errors, []);
  // A file that is not part of the build is left to the network, which is off.
  assert.equal(await page.evaluate(() => fetch("not-in-the-build.txt").then(() => "answered", () => "failed")), "failed");
  assert.deepEqual(errors, ["Failed to load resource: net::ERR_INTERNET_DISCONNECTED"]);

  const origin = new URL(url).origin;
  assert.ok(requests.length > 10);
  assert.deepEqual(requests.filter((u) => new URL(u).origin !== origin), [], "no request to another origin");
  assert.deepEqual(pageRequests.filter((u) => new URL(u).origin !== origin), []);
  await ctx.close();
});

test("a new build replaces the old cache once no page uses it, and a page never mixes two builds", async () => {
  const { root, url } = await site();
  const { ctx } = await newContext();
  const { page: first, errors } = await newPage(ctx);
  await first.goto(url);
  await first.waitForSelector(".dropzone");
  await controlled(first);
  const oldVersion = await versionOf(root);
  const oldCache = `quantlens ${url} ${oldVersion}`;
  assert.deepEqual(await cacheNames(first), [oldCache]);

  // Deploy build B: a different index.html, so a different version (what any rebuild does).
  const index = join(root, "index.html");
  await writeFile(index, (await readFile(index, "utf8")).replace("<title>QuantLens", "<title>QuantLens build B"));
  execFileSync("python3", [join(repo, "scripts", "sw_gen.py"), root], { stdio: "pipe" });
  const newVersion = await versionOf(root);
  assert.notEqual(newVersion, oldVersion);

  // The browser finds the new worker; it installs beside the old one and waits.
  const state = await first.evaluate(async () => {
    const reg = await navigator.serviceWorker.getRegistration();
    await reg.update();
    for (let i = 0; i < 200 && !reg.waiting; i++) await new Promise((ok) => setTimeout(ok, 100));
    return { waiting: !!reg.waiting, active: reg.active.scriptURL };
  });
  assert.ok(state.waiting, "the new build is installed and waiting");
  const both = await cacheNames(first);
  assert.deepEqual(both.sort(), [oldCache, `quantlens ${url} ${newVersion}`].sort());
  // The open page still gets its own build's files, never B's.
  assert.doesNotMatch(await first.evaluate(() => fetch("index.html").then((r) => r.text())), /build B/);
  assert.doesNotMatch(await first.title(), /build B/);
  assert.deepEqual(errors, []);
  await first.close();

  // With no page left on the old build, the new worker activates and deletes the old cache.
  const newCache = `quantlens ${url} ${newVersion}`;
  let left = [];
  for (let i = 0; i < 100; i++) {
    const sw = ctx.serviceWorkers()[0];
    left = sw ? await sw.evaluate(() => caches.keys()).catch(() => []) : [];
    if (left.length === 1 && left[0] === newCache) break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.deepEqual(left, [newCache]);
  const { page: second, errors: errors2 } = await newPage(ctx);
  await second.goto(url);
  assert.match(await second.title(), /^QuantLens build B/);
  await second.waitForSelector(".dropzone");
  await controlled(second);
  assert.deepEqual(await cacheNames(second), [newCache]);
  await ctx.setOffline(true);
  await second.reload();
  assert.match(await second.title(), /^QuantLens build B/);
  await second.click("#load-example");
  await second.waitForSelector(".finding", { timeout: 30000 });
  assert.deepEqual(errors2, []);
  await ctx.close();
});

test("installable: the manifest parses and its icons load; data files beside the build are never cached", async () => {
  const { url } = await site(async (root) => {
    // A bundled site: the build plus data files a link names. They are not part of the build.
    await mkdir(join(root, "data"));
    await writeFile(join(root, "data", "extra.txt"), "a data file\n");
  });
  const { ctx } = await newContext();
  const { page, errors } = await newPage(ctx);
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await controlled(page);

  const cdp = await ctx.newCDPSession(page);
  const got = await cdp.send("Page.getAppManifest");
  assert.equal(got.url, url + "manifest.webmanifest");
  assert.deepEqual(got.errors, []);
  // Chrome's own installability check: nothing missing (a test context is always "incognito").
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  assert.deepEqual(installabilityErrors.map((e) => e.errorId).filter((id) => id !== "in-incognito"), []);
  const manifest = JSON.parse(got.data);
  assert.equal(manifest.name, "QuantLens");
  assert.equal(manifest.start_url, "./");
  assert.equal(manifest.display, "standalone");
  const css = await readFile(join(repo, "www", "styles.css"), "utf8");
  assert.ok(css.includes(`--accent: ${manifest.theme_color};`), "theme colour is the stylesheet's accent");
  assert.ok(css.includes(`--bg: ${manifest.background_color};`), "background colour is the stylesheet's");
  const purposes = manifest.icons.map((i) => `${i.sizes} ${i.purpose}`);
  for (const want of ["192x192 any", "512x512 any", "512x512 maskable"]) assert.ok(purposes.includes(want), want);
  for (const icon of manifest.icons) {
    const res = await page.evaluate(async (src) => {
      const r = await fetch(src);
      const b = new Uint8Array(await r.arrayBuffer());
      const dv = new DataView(b.buffer);
      return { ok: r.ok, type: r.headers.get("content-type"), w: b.length > 24 ? dv.getUint32(16) : 0, h: b.length > 24 ? dv.getUint32(20) : 0, head: String.fromCharCode(...b.slice(0, 5)) };
    }, new URL(icon.src, got.url).href);
    assert.ok(res.ok, icon.src);
    assert.equal(res.type, icon.type, icon.src);
    if (icon.type === "image/png") assert.equal(`${res.w}x${res.h}`, icon.sizes, icon.src);
    else assert.equal(res.head, "<svg ");
  }
  // The favicon the page links is one of them, and it loads.
  assert.ok(await page.evaluate(() => new Promise((ok) => {
    const img = new Image();
    img.onload = () => ok(img.naturalWidth > 0);
    img.onerror = () => ok(false);
    img.src = document.querySelector('link[rel="icon"]').href;
  })));

  // A data file of a bundled site: fetched from the network each time, never stored.
  assert.equal(await page.evaluate(() => fetch("data/extra.txt").then((r) => r.text())), "a data file\n");
  assert.equal(await page.evaluate(async () => {
    for (const name of await caches.keys()) if (await (await caches.open(name)).match("data/extra.txt")) return name;
    return null;
  }), null);
  assert.deepEqual(errors, []);
  await ctx.setOffline(true);
  assert.equal(await page.evaluate(() => fetch("data/extra.txt").then(() => "answered", () => "failed")), "failed");
  assert.deepEqual(errors, ["Failed to load resource: net::ERR_INTERNET_DISCONNECTED"]);
  await ctx.close();
});

test("on file:// the registration script does nothing and throws nothing", async () => {
  const { root } = await site(async (root) => {
    await writeFile(join(root, "register-only.html"),
      '<!doctype html><meta charset="utf-8"><title>t</title><script src="sw-register.js"></script><p id="ok">ok</p>');
  });
  const { ctx } = await newContext();
  const { page, errors } = await newPage(ctx);
  await page.goto(pathToFileURL(join(root, "register-only.html")).href);
  await page.waitForSelector("#ok");
  await page.waitForLoadState("load");
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => navigator.serviceWorker?.controller ?? null), null);
  assert.deepEqual(errors, []);
  await ctx.close();
});
