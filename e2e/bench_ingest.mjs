// Big dumps in the browser (a benchmark, not a test; the "big dumps" part of scripts/bench.sh):
// generated 2 × 512 MiB float32 .npy pairs (the quantized side the float's int8 fake-quant at 0.02),
// a folder of 768 real tensors, and two-file .npz dumps of 16 members a side written by
// np.savez_compressed and by np.savez, chosen with the file/folder picker in headless Chromium.
// Beside each, in the same browser and run, the plain read: a worker that only reads the same files
// with Blob.stream(). For the pairs, then a typed scale: the time until the pair's error split is
// shown. Usage: node e2e/bench_ingest.mjs [runs] [pairs|npz|folder] (after `trunk build
// --release`; every part unless one is named; QUANTLENS_DIST=folder times another build).
import { mkdtemp, mkdir, writeFile, stat, rm } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { chromium } from "playwright-core";
import { serve, launch } from "./server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const runs = Number(process.argv[2] || 2);
const only = process.argv[3] || "";
const dir = join(tmpdir(), "quantlens_bench_ingest");
// Two 2 × 512 MiB pairs: activations of a usual shape (16 × 128 channels of 256 × 256: 65,536
// softmax groups, KL in the one pass), and huge maps (64 channels of 2^21 values: more groups than
// KL keeps at once, so the pass goes in KL's window order), plus a folder of many small real tensors.
const pairs = [
  { label: "[16, 128, 256, 256]", shape: [16, 128, 256, 256], files: [join(dir, "act_float.npy"), join(dir, "act_quant.npy")] },
  { label: "[1, 64, 2^21] (huge maps)", shape: [1, 64, 1 << 21], files: [join(dir, "map_float.npy"), join(dir, "map_quant.npy")] },
];
await mkdir(dir, { recursive: true });
for (const { shape, files } of pairs) {
  if (await stat(files[1]).catch(() => null)) continue;
  const py = `
import numpy as np, sys
shape = [int(x) for x in sys.argv[3].split(",")]
b = np.empty(shape, np.float32); f = b.reshape(-1); n = f.size
rng = np.random.default_rng(0)
for i in range(0, n, 1 << 24): f[i:i + (1 << 24)] = rng.standard_normal(min(1 << 24, n - i), dtype=np.float32)
np.save(sys.argv[1], b)
np.save(sys.argv[2], (np.clip(np.rint(b * 50), -128, 127) / 50).astype(np.float32))
`;
  const p = spawnSync("python3", ["-c", py, files[0], files[1], shape.join(",")], { stdio: "inherit" });
  if (p.status !== 0) throw new Error("could not generate the pair (numpy)");
}
// The folder: every activation of PP-OCRv4's recognizer dumped by ONNX Runtime's qdq_loss_debug
// (tests/fixtures/real/ort_int8, float and QDQ int8), one .npy per tensor in float/ and quant/.
const folder = join(dir, "ppocr_rec_int8");
if (!(await stat(join(folder, "quant")).catch(() => null))) {
  const py = `
import numpy as np, os, re, sys
src, out = sys.argv[1], sys.argv[2]
for side in ("float", "quant"):
    os.makedirs(os.path.join(out, side), exist_ok=True)
    z = np.load(os.path.join(src, side + ".npz"))
    for k in z.files:
        np.save(os.path.join(out, side, re.sub(r"[^A-Za-z0-9_.@-]", "_", k) + ".npy"), z[k])
`;
  const p = spawnSync("python3", ["-c", py, join(repo, "tests/fixtures/real/ort_int8"), folder], { stdio: "inherit" });
  if (p.status !== 0) throw new Error("could not write the folder (numpy)");
}
// Compressed dumps: \`np.savez_compressed\` of 16 activations [1, 64, 128, 128] a side (64 MiB
// inflated a side; the float side normal noise, which deflate barely shrinks, the quantized side
// its int8 fake-quant at 0.02). Inflating is their cost: each pair goes whole to a worker.
// The same members written by \`np.savez\` (stored, not deflated: 64 MiB files of 4 MiB members,
// bigger than the worker keeps in memory): reading is their cost again.
const npz = [join(dir, "dump_float.npz"), join(dir, "dump_quant.npz")];
const npzStored = [join(dir, "dump_stored_float.npz"), join(dir, "dump_stored_quant.npz")];
if (!(await stat(npzStored[1]).catch(() => null))) {
  const py = `
import numpy as np, sys
rng = np.random.default_rng(1)
f = {f"layer{i}.conv": rng.standard_normal((1, 64, 128, 128), dtype=np.float32) for i in range(16)}
q = {k: (np.clip(np.rint(v * 50), -128, 127) / 50).astype(np.float32) for k, v in f.items()}
np.savez_compressed(sys.argv[1], **f)
np.savez_compressed(sys.argv[2], **q)
np.savez(sys.argv[3], **f)
np.savez(sys.argv[4], **q)
`;
  const p = spawnSync("python3", ["-c", py, ...npz, ...npzStored], { stdio: "inherit" });
  if (p.status !== 0) throw new Error("could not write the .npz dumps (numpy)");
}
// The plain read's page: served from its own folder (the app's CSP allows no blob: worker).
const www = await mkdtemp(join(tmpdir(), "quantlens_read_"));
await writeFile(join(www, "read.html"), "<!doctype html><input type=file id=f multiple><input type=file id=d webkitdirectory><script src=read.js></script>");
// Timed two ways: in the page, from handing the files to the worker to its answer (what an app
// reading in a worker can do at best: the ratio's baseline, since QuantLens is timed the same way
// from the input's change event), and in the worker, from its receiving them (the read alone).
await writeFile(join(www, "read.js"), "window.plainRead = (files) => new Promise((res) => { const w = new Worker('read_worker.js'); w.onmessage = () => { w.onmessage = (e) => res({ ...e.data, pageMs: performance.now() - t0 }); const t0 = performance.now(); w.postMessage(files); }; w.postMessage([]); }); window.inflateAll = (files, members) => new Promise((res) => { const w = new Worker('inflate_worker.js'); w.onmessage = (e) => res(e.data); w.postMessage([files, members]); });");
// The compressed dumps' other baseline: one worker that reads every member and inflates it with
// the browser's DecompressionStream (what QuantLens uses), nothing else.
await writeFile(join(www, "inflate_worker.js"), `onmessage = async (e) => {
  const [files, members] = e.data; const byName = {}; for (const f of files) byName[f.name] = f;
  const t0 = performance.now(); let bytes = 0;
  for (const [f, s, n] of members) { const r = byName[f].slice(s, s + n).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader(); for (;;) { const { done, value } = await r.read(); if (done) break; bytes += value.length; } }
  postMessage({ ms: performance.now() - t0, bytes });
};`);
await writeFile(join(www, "read_worker.js"), `onmessage = async (e) => {
  const t0 = performance.now(); let bytes = 0;
  for (const f of e.data) { const r = f.stream().getReader(); for (;;) { const { done, value } = await r.read(); if (done) break; bytes += value.length; } }
  postMessage({ ms: performance.now() - t0, bytes, files: e.data.length });
};`);
// QUANTLENS_DIST: another build to time (an A/B run of two builds on the same files).
const { server: s1, url: app } = await serve(process.env.QUANTLENS_DIST || join(repo, "dist"));
const { server: s2, url: base } = await serve(www);
const browser = await launch(chromium);
console.log("Big dumps in the browser: plain read vs QuantLens (choose → compared), headless Chromium, same run");
async function plainRead(pick, selector, paths) {
  const p = await browser.newPage();
  await p.goto(base + "read.html");
  await p.setInputFiles(selector, paths);
  const r = await p.evaluate((sel) => plainRead([...document.querySelector(sel).files]), selector);
  await p.close();
  return r;
}
async function ingest(input, paths, done) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(app);
  await page.waitForSelector(".dropzone");
  // Timed in the page from the input's change event (the picker handing over the files; not
  // Playwright's own upload of them) to the compared pair/folder on screen.
  await page.evaluate(() => window.addEventListener("change", () => { window.__t0 = performance.now(); }, { capture: true, once: true }));
  await page.setInputFiles(`input[aria-label="${input}"]`, paths);
  await page.waitForFunction(done, null, { timeout: 300000, polling: 10 });
  const ms = Math.round(await page.evaluate(() => performance.now() - window.__t0));
  return { page, ms };
}
const line = (what, plain, ms, extra = "") => {
  const mb = plain.bytes / 1e6;
  console.log(`  ${what}: plain read ${plain.pageMs.toFixed(0)} ms (${(mb / plain.pageMs * 1000).toFixed(0)} MB/s; the read alone in the worker ${plain.ms.toFixed(0)} ms); QuantLens ${ms} ms (${(mb / ms * 1000).toFixed(0)} MB/s) = ${(plain.pageMs / ms * 100).toFixed(0)}% of the plain read (target ≥ 70%)${extra}`);
};
for (let r = 0; r < runs; r++) {
  console.log(` run ${r + 1}`);
  for (const { label, files } of only === "" || only === "pairs" ? pairs : []) {
    const plain = await plainRead(null, "#f", files);
    const { page, ms } = await ingest("Open files", files, () => /\(1 pairs?\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"));
    await page.locator(".tab", { hasText: "Tensors" }).click();
    await page.waitForSelector("input.scale");
    const t1 = Date.now();
    await page.fill("input.scale", "0.02");
    await page.press("input.scale", "Tab");
    await page.waitForFunction(() => document.querySelector(".split-bar") && !document.querySelector(".progress"), null, { timeout: 300000, polling: 20 });
    const scaleMs = Date.now() - t1;
    await page.close();
    line(`2 × 512 MiB ${label}`, plain, ms, `; typed scale → split shown ${scaleMs} ms (target ≤ one pass)`);
  }
  if (only === "pairs") continue;
  if (only === "" || only === "npz") {
    const plain = await plainRead(null, "#f", npz);
    const { page, ms } = await ingest("Open files", npz, () => /\(16 pairs\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"));
    const workers = await page.evaluate(() => navigator.hardwareConcurrency);
    await page.close();
    // Another baseline for these: numpy loading every member (zlib inflating on one core).
    const py = "import numpy as np, sys, time\nt = time.perf_counter()\nfor f in sys.argv[1:]:\n    z = np.load(f)\n    [z[k] for k in z.files]\nprint(round((time.perf_counter() - t) * 1000))";
    const np = spawnSync("python3", ["-c", py, ...npz], { encoding: "utf8" });
    // Where each member's deflate stream lies in its file (for the inflate-only baseline).
    const where = "import json, struct, sys, zipfile, os\nout = []\nfor f in sys.argv[1:]:\n    raw = open(f, 'rb').read()\n    for i in zipfile.ZipFile(f).infolist():\n        o = i.header_offset\n        n, m = struct.unpack('<HH', raw[o + 26:o + 30])\n        out.append([os.path.basename(f), o + 30 + n + m, i.compress_size])\nprint(json.dumps(out))";
    const members = JSON.parse(spawnSync("python3", ["-c", where, ...npz], { encoding: "utf8" }).stdout);
    const ip = await browser.newPage();
    await ip.goto(base + "read.html");
    await ip.setInputFiles("#f", npz);
    const inflated = await ip.evaluate((m) => inflateAll([...document.querySelector("#f").files], m), members);
    await ip.close();
    line(`np.savez_compressed, 16 members a side (64 MiB inflated a side, ${plain.bytes} bytes as files; ${workers} cores)`, plain, ms, `; inflating is the cost here, not reading: the browser's DecompressionStream alone on every member, one worker, ${inflated.ms.toFixed(0)} ms (${(inflated.bytes / 1e6).toFixed(0)} MB); numpy's np.load of every member (zlib, one core, no metrics) ${np.stdout.trim()} ms`);
    const plainS = await plainRead(null, "#f", npzStored);
    const stored = await ingest("Open files", npzStored, () => /\(16 pairs\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"));
    await stored.page.close();
    line("np.savez (stored), the same 16 members a side (64 MiB files)", plainS, stored.ms);
  }
  if (only === "npz") continue;
  const plain = await plainRead(null, "#d", folder);
  const { page, ms } = await ingest("Open folder", folder, () => /\(\d+ pairs\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"));
  const n = await page.evaluate(() => document.querySelector(".tabs").textContent.match(/\((\d+) pairs\)/)[1]);
  await page.close();
  line(`folder of ${plain.files} real tensors (PP-OCRv4 rec, ORT int8; ${n} pairs)`, plain, ms);
}
await browser.close(); s1.close(); s2.close();
await rm(www, { recursive: true, force: true });
