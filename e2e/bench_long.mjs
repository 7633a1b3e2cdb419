// Big and long, in the browser (a benchmark run by hand, not a test; the figures are in
// RELIABILITY.md, "Big and long"):
//  a. A pair of 2 GiB float32 .npy dumps ([1, 64, 2^23], the quantized side its int8 fake quant at
//     0.02), generated with numpy in $TMPDIR/quantlens_long (deleted at the end unless KEEP=1),
//     chosen with the file picker: memory sampled during the run, the progress bar's values, input
//     latency while the worker runs, the time to finish, then a second run cancelled midway.
//  b. PP-OCRv4's detector (from `pip install rapidocr-onnxruntime`, a float model: the in-page
//     runner calibrates it) on one 640×640 sample, run at int8 in the model runner (one worker per
//     core): the same figures for the whole sensitivity run, then a run cancelled in its
//     sensitivity stage.
// Memory: the page's JS heap (performance.memory), each worker's JS heap and its ArrayBuffer
// backing stores (the file slices read; a worker's wasm memory is not counted there) through CDP
// `Runtime.getHeapUsage` on the worker targets, each model worker's wasm memory as it reports it
// (the run's notice), and the resident size of the browser's processes
// (/proc: the renderer holds the page and its workers, wasm memories included). Input latency: a key typed into the
// journal's run-name input (a plain input beside the app once a model is loaded) until the page's
// next frame shows it, and a click's handler time, every ~700 ms while the run goes on.
// Usage: node e2e/bench_long.mjs [a|b|ab]  (after `trunk build --release`; ~2 GB RAM, 4.3 GB disk).
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { chromium } from "playwright-core";
import { serve } from "./server.mjs";

const require = createRequire(import.meta.url);
const { ws: WebSocket } = require("playwright-core/lib/utilsBundle");
const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const parts = process.argv[2] || "ab";
const MiB = 1 << 20;
const dir = join(process.env.TMPDIR || tmpdir(), "quantlens_long");
// The size of each dump in GiB (BENCH_LONG_GIB=0.5 for a quicker look).
const GIB = Number(process.env.BENCH_LONG_GIB || 2);

// --- The browser, with a CDP port of its own so that the workers' heaps can be asked for ---
const port = 20000 + Math.floor(Math.random() * 20000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-quic", "--no-first-run", "--disable-sync", "--enable-precise-memory-info", `--remote-debugging-port=${port}`],
});
const { server, url } = await serve(join(repo, "dist"));

/** A raw CDP connection to the browser: attaches to every worker target and asks their heaps. */
async function cdp() {
  const version = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
  const sock = new WebSocket(version.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((ok, fail) => { sock.once("open", ok); sock.once("error", fail); });
  let id = 0;
  const pending = new Map();
  const sessions = new Map(); // sessionId → target url
  sock.on("message", (data) => {
    const m = JSON.parse(String(data));
    if (m.id && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); return; }
    if (m.method === "Target.attachedToTarget") {
      const { sessionId, targetInfo } = m.params;
      if (targetInfo.type === "worker") sessions.set(sessionId, targetInfo.url);
      send("Runtime.runIfWaitingForDebugger", {}, sessionId);
      // Workers a page starts are reached through the page's session.
      send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: true }, sessionId);
    }
    if (m.method === "Target.detachedFromTarget") sessions.delete(m.params.sessionId);
  });
  const send = (method, params = {}, sessionId) => new Promise((ok) => {
    const i = ++id;
    pending.set(i, ok);
    sock.send(JSON.stringify({ id: i, method, params, ...(sessionId ? { sessionId } : {}) }));
  });
  await send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: true });
  await send("Target.setDiscoverTargets", { discover: true });
  for (const t of (await send("Target.getTargets")).result.targetInfos) {
    if (t.type === "page" || t.type === "worker") await send("Target.attachToTarget", { targetId: t.targetId, flatten: true });
  }
  /** Every worker's heap now (a busy worker answers between its tasks or not at all: timeout). */
  const workers = async () => {
    const out = [];
    for (const [sid, u] of sessions) {
      const r = await Promise.race([send("Runtime.getHeapUsage", {}, sid), new Promise((ok) => setTimeout(() => ok(null), 400))]);
      if (r?.result) out.push({ url: u.split("/").pop(), used: r.result.usedSize, backing: r.result.backingStorageSize ?? 0 });
    }
    return out;
  };
  /** Each worker's ArrayBuffer memory before and after a forced garbage collection (what a GC
   * frees was garbage: file slices already read). */
  const afterGc = async () => {
    const out = [];
    for (const [sid, u] of sessions) {
      const before = (await send("Runtime.getHeapUsage", {}, sid)).result;
      await send("HeapProfiler.collectGarbage", {}, sid);
      const after = (await send("Runtime.getHeapUsage", {}, sid)).result;
      out.push({ url: u.split("/").pop(), before: before?.backingStorageSize, after: after?.backingStorageSize });
    }
    return out;
  };
  return { workers, afterGc, close: () => sock.close() };
}

/** Resident memory of the browser's processes (the one with our CDP port and its descendants). */
function browserRss() {
  const procs = [];
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8");
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0) * 1024;
      procs.push({ pid: Number(p), ppid, cmd, rss });
    } catch { /* gone */ }
  }
  const root = procs.find((p) => p.cmd.includes(`--remote-debugging-port=${port}`));
  if (!root) return { total: 0, renderer: 0 };
  const mine = new Set([root.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) if (!mine.has(p.pid) && mine.has(p.ppid)) { mine.add(p.pid); grew = true; }
  }
  const list = procs.filter((p) => mine.has(p.pid));
  return {
    total: list.reduce((a, p) => a + p.rss, 0),
    renderer: Math.max(0, ...list.filter((p) => p.cmd.includes("--type=renderer")).map((p) => p.rss)),
  };
}

const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN; };
const ms = (x) => `${x.toFixed(1)} ms`;

/**
 * Watch a run until `done()` (a page predicate) holds: memory every 250 ms, the progress bar's
 * value and text, and input latency every ~700 ms. Returns the figures.
 */
async function watch(page, probe, { done, cancelAfterMs, cancelWhen, maxMs = 30 * 60 * 1000 }) {
  const t0 = Date.now();
  const mem = { page: 0, worker: 0, workerBacking: 0, renderer: 0, total: 0, answered: 0, asked: 0 };
  const progress = [];
  const typed = [], clicked = [];
  let cancel = null;
  await page.evaluate(() => {
    window.__lat = [];
    document.addEventListener("click", (e) => { if (e.target.id === "latency-probe") window.__lat.push(performance.now() - e.timeStamp); }, true);
  });
  let nextInput = Date.now() + 700;
  let key = 0;
  for (;;) {
    if (Date.now() - t0 > maxMs) throw new Error("the run took too long");
    const state = await page.evaluate(() => ({
      heap: performance.memory.usedJSHeapSize,
      value: document.querySelector(".progress progress")?.value ?? null,
      text: document.querySelector(".progress span")?.textContent ?? null,
    }));
    mem.page = Math.max(mem.page, state.heap);
    if (state.value !== null) progress.push([Date.now() - t0, state.value, state.text]);
    const ws = await probe.workers();
    mem.asked++;
    if (ws.length) mem.answered++;
    for (const w of ws) { mem.worker = Math.max(mem.worker, w.used); mem.workerBacking = Math.max(mem.workerBacking, w.backing); }
    const rss = browserRss();
    mem.renderer = Math.max(mem.renderer, rss.renderer);
    mem.total = Math.max(mem.total, rss.total);
    if (await page.evaluate(done)) break;
    if (!cancel && ((cancelAfterMs && Date.now() - t0 > cancelAfterMs) || (cancelWhen && state.text && cancelWhen(state.text)))) {
      const c0 = Date.now();
      await page.click(".progress button");
      await page.waitForFunction(() => !document.querySelector(".progress") && /Cancelled/.test(document.querySelector(".banner")?.textContent ?? ""), null, { timeout: 60000 });
      cancel = { at: c0 - t0, ms: Date.now() - c0, progress: state.text };
      break;
    }
    if (Date.now() > nextInput && state.value !== null) {
      // A key typed into a text input: until a frame shows the new value.
      const k0 = Date.now();
      // The journal's run-name input while the start page shows; else (a model loaded) a plain
      // input beside the app: either way the key waits for the page's main thread.
      const input = (await page.$("#run-name")) ? "#run-name" : "#latency-input";
      await page.focus(input);
      const ch = String.fromCharCode(97 + (key++ % 26));
      await page.keyboard.type(ch);
      await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => ok())));
      const v = await page.inputValue(input);
      if (v.endsWith(ch)) typed.push(Date.now() - k0);
      // A click: from the event's time stamp to its handler.
      await page.click("#latency-probe");
      nextInput = Date.now() + 700;
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  clicked.push(...(await page.evaluate(() => window.__lat)));
  return { ms: Date.now() - t0, mem, progress, typed, clicked, cancel };
}

function report(label, r) {
  const values = [...new Set(r.progress.map(([, v]) => v))];
  console.log(`  ${label}: ${r.cancel ? `cancelled after ${(r.cancel.at / 1000).toFixed(1)} s (at "${r.cancel.progress}"); stopped and said so in ${r.cancel.ms} ms` : `done in ${(r.ms / 1000).toFixed(1)} s`}`);
  console.log(`    progress: ${r.progress.length} samples, ${values.length} distinct values (${values.slice(0, 3).join(", ")} … ${values.slice(-3).join(", ")})`);
  console.log(`    memory peaks: page JS heap ${(r.mem.page / MiB).toFixed(1)} MiB; workers' JS heap ${(r.mem.worker / MiB).toFixed(1)} MiB, their ArrayBuffers ${(r.mem.workerBacking / MiB).toFixed(1)} MiB (answered ${r.mem.answered} of ${r.mem.asked} samples); biggest renderer process RSS ${(r.mem.renderer / MiB).toFixed(0)} MiB; all browser processes ${(r.mem.total / MiB).toFixed(0)} MiB`);
  if (r.typed.length) console.log(`    input latency: typing ${r.typed.length} keys, median ${ms(pct(r.typed, 0.5))}, p95 ${ms(pct(r.typed, 0.95))}, max ${ms(Math.max(...r.typed))} (round trip through Playwright); clicks ${r.clicked.length}, event to handler median ${ms(pct(r.clicked, 0.5))}, max ${ms(Math.max(0, ...r.clicked))}`);
}

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  await page.waitForSelector("#run-name", { timeout: 30000 });
  // A button outside the app for the click probe (the app's own buttons act).
  await page.evaluate(() => {
    const b = document.createElement("button");
    b.id = "latency-probe";
    b.textContent = "probe";
    b.style.cssText = "position:fixed;right:0;bottom:0;z-index:99";
    const i = document.createElement("input");
    i.id = "latency-input";
    i.style.cssText = "position:fixed;right:60px;bottom:0;z-index:99";
    document.body.append(b, i);
  });
  return { page, errors };
}

const probe = await cdp();
console.log(`Big and long (headless Chromium ${browser.version()}, ${(await import("node:os")).cpus().length} cores, load average ${(await import("node:os")).loadavg()[0].toFixed(1)})`);
{
  // The same input probes with nothing running: the floor of the round trip.
  const { page } = await newPage();
  const typed = [];
  for (let i = 0; i < 15; i++) {
    const k0 = Date.now();
    await page.focus("#latency-input");
    await page.keyboard.type("a");
    await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => ok())));
    typed.push(Date.now() - k0);
    await page.waitForTimeout(100);
  }
  console.log(`  idle page: typing 15 keys, median ${ms(pct(typed, 0.5))}, max ${ms(Math.max(...typed))} (the floor of the round trip)`);
  await page.close();
}

if (parts.includes("a")) {
  const files = [join(dir, "act_float.npy"), join(dir, "act_quant.npy")];
  if (!existsSync(files[1]) || (await stat(files[1])).size !== 128 + GIB * 1024 * MiB) {
    await mkdir(dir, { recursive: true });
    const py = `
import numpy as np, os, sys
d = sys.argv[1]
n = int(float(sys.argv[2]) * (1 << 30)) // 4
for name, q in (("act_float.npy", False), ("act_quant.npy", True)):
    f = np.lib.format.open_memmap(os.path.join(d, name), mode="w+", dtype=np.float32, shape=(1, 64, n // 64))
    flat = f.reshape(-1); rng = np.random.default_rng(0)
    for i in range(0, n, 1 << 24):
        x = rng.standard_normal(min(1 << 24, n - i), dtype=np.float32)
        flat[i:i + len(x)] = (np.clip(np.rint(x * 50), -128, 127) / 50).astype(np.float32) if q else x
    f.flush(); del f
`;
    const t = Date.now();
    const p = spawnSync("python3", ["-c", py, dir, String(GIB)], { stdio: "inherit" });
    if (p.status !== 0) throw new Error("could not generate the pair (numpy)");
    console.log(`  (generated 2 × ${GIB} GiB in ${((Date.now() - t) / 1000).toFixed(0)} s)`);
  }
  console.log(`\na. A pair of ${GIB} GiB float32 .npy dumps [1, 64, ${(GIB * (1 << 30)) / 4 / 64}], picked with the file picker:`);
  for (const cancel of [false, true]) {
    const { page, errors } = await newPage();
    await page.setInputFiles('input[aria-label="Open files"]', files);
    await page.waitForSelector(".progress", { timeout: 60000 });
    const r = await watch(page, probe, {
      done: () => !!document.querySelector(".summary") && !document.querySelector(".progress"),
      cancelAfterMs: cancel ? 8000 : 0,
    });
    report(cancel ? "cancel" : "whole run", r);
    if (cancel) {
      // The app keeps working: the example loads in a fresh worker.
      const t = Date.now();
      await page.click("#load-example");
      await page.waitForSelector(".finding", { timeout: 60000 });
      console.log(`    after cancel: the example analysed in ${Date.now() - t} ms`);
    } else {
      for (const w of await probe.afterGc()) {
        console.log(`    ${w.url}: ArrayBuffers ${(w.before / MiB).toFixed(1)} MiB at the end, ${(w.after / MiB).toFixed(1)} MiB after a forced GC`);
      }
      await page.locator(".tab", { hasText: "Tensors" }).click();
      console.log(`    result: ${(await page.textContent("table.pairs tbody tr")).slice(0, 120)}`);
    }
    if (errors.length) console.log(`    page errors: ${errors.join(" | ")}`);
    await page.close();
  }
  if (process.env.KEEP !== "1") await rm(dir, { recursive: true, force: true });
}

if (parts.includes("b")) {
  const models = process.env.QUANTLENS_OCR_MODELS || join(spawnSync("python3", ["-c", "import rapidocr_onnxruntime,os;print(os.path.dirname(rapidocr_onnxruntime.__file__))"], { encoding: "utf8" }).stdout.trim(), "models");
  const model = join(models, "ch_PP-OCRv4_det_infer.onnx");
  await mkdir(dir, { recursive: true });
  const sample = join(dir, "det_sample0.npz");
  // One 640×640 sample: a smooth image with text-like bars (deterministic).
  const py = `
import numpy as np, sys
y, x = np.mgrid[0:640, 0:640].astype(np.float32) / 640
img = np.stack([np.sin(6 * x + c) * 0.5 + 0.5 * ((np.floor(y * 20) % 3) == 0) for c in range(3)])[None].astype(np.float32)
np.savez(sys.argv[1], x=(img - 0.5) / 0.5)
`;
  if (spawnSync("python3", ["-c", py, sample], { stdio: "inherit" }).status !== 0) throw new Error("numpy");
  console.log(`\nb. PP-OCRv4 det (float, 640×640, one sample) in the in-page model runner, int8:`);
  for (const cancel of [false, true]) {
    const { page, errors } = await newPage();
    await page.setInputFiles('input[aria-label="Open files"]', [model, sample]);
    await page.waitForSelector("#run-model-int8:not([disabled])", { timeout: 120000 });
    await page.click("#run-model-int8");
    await page.waitForSelector(".progress", { timeout: 60000 });
    const r = await watch(page, probe, {
      done: () => !!document.querySelector('button.tab[title$="_L1_sensitive_ops.txt"]') && !document.querySelector(".progress"),
      cancelWhen: cancel ? (t) => /true sensitivity: [1-9]\d* of/.test(t) : null,
    });
    report(cancel ? "cancel" : "whole run", r);
    if (!cancel) console.log(`    tabs: ${(await page.$$eval("button.tab", (b) => b.map((x) => x.title))).filter((t) => t.includes("_run/")).length} report tabs from the run`);
    // Each model worker's own wasm memory (its high-water mark), as the run's notice says it.
    if (!cancel) console.log(`    model workers' wasm memory: ${/wasm memory peaked at ([\d +]+ MiB)/.exec(await page.textContent(".banner.notice").catch(() => "") || "")?.[1] ?? "not reported"}`);
    if (errors.length) console.log(`    page errors: ${errors.join(" | ")}`);
    await page.close();
  }
  await rm(dir, { recursive: true, force: true });
}

probe.close();
await browser.close();
server.close();
