// Big dumps in the browser (a benchmark, not a test; the "big dumps" part of scripts/bench.sh):
// a generated 2 × 512 MiB float32 .npy pair ([1, 64, 2^21], the quantized side its int8 fake-quant
// at 0.02), chosen with the file picker in headless Chromium. Beside it, in the same browser and
// run, the plain read: a worker that only reads the same two files with Blob.stream(). Then a typed
// scale: the time until the pair's error split is shown.
// Usage: node e2e/bench_ingest.mjs [runs]  (after `trunk build --release`).
import { mkdtemp, writeFile, stat, rm } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { chromium } from "playwright-core";
import { serve, launch } from "./server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const runs = Number(process.argv[2] || 2);
const dir = join(tmpdir(), "quantlens_bench_ingest");
const files = [join(dir, "act_float.npy"), join(dir, "act_quant.npy")];
if (!(await stat(files[1]).catch(() => null))) {
  const py = `
import numpy as np, os, sys
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
n = 512 * (1 << 20) // 4
b = np.empty((1, 64, n // 64), np.float32); f = b.reshape(-1)
rng = np.random.default_rng(0)
for i in range(0, n, 1 << 24): f[i:i + (1 << 24)] = rng.standard_normal(min(1 << 24, n - i), dtype=np.float32)
np.save(os.path.join(d, "act_float.npy"), b)
np.save(os.path.join(d, "act_quant.npy"), (np.clip(np.rint(b * 50), -128, 127) / 50).astype(np.float32))
`;
  const p = spawnSync("python3", ["-c", py, dir], { stdio: "inherit" });
  if (p.status !== 0) throw new Error("could not generate the pair (numpy)");
}
// The plain read's page: served from its own folder (the app's CSP allows no blob: worker).
const www = await mkdtemp(join(tmpdir(), "quantlens_read_"));
await writeFile(join(www, "read.html"), "<!doctype html><input type=file id=f multiple><script src=read.js></script>");
await writeFile(join(www, "read.js"), "window.plainRead = (files) => new Promise((res) => { const w = new Worker('read_worker.js'); w.onmessage = (e) => res(e.data); w.postMessage(files); });");
await writeFile(join(www, "read_worker.js"), `onmessage = async (e) => {
  const t0 = performance.now(); let bytes = 0;
  for (const f of e.data) { const r = f.stream().getReader(); for (;;) { const { done, value } = await r.read(); if (done) break; bytes += value.length; } }
  postMessage({ ms: performance.now() - t0, bytes });
};`);
const { server: s1, url: app } = await serve(join(repo, "dist"));
const { server: s2, url: base } = await serve(www);
const browser = await launch(chromium);
console.log("Big dumps in the browser: a 2 × 512 MiB float32 .npy pair, headless Chromium, same run");
for (let r = 0; r < runs; r++) {
  const p = await browser.newPage();
  await p.goto(base + "read.html");
  await p.setInputFiles("#f", files);
  const plain = await p.evaluate(() => plainRead([...document.querySelector("#f").files]));
  await p.close();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(app);
  await page.waitForSelector(".dropzone");
  const t0 = Date.now();
  await page.setInputFiles('input[aria-label="Open files"]', files);
  await page.waitForFunction(() => /\(1 pairs?\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"), null, { timeout: 300000, polling: 20 });
  const ms = Date.now() - t0;
  await page.locator(".tab", { hasText: "Tensors" }).click();
  await page.waitForSelector("input.scale");
  const t1 = Date.now();
  await page.fill("input.scale", "0.02");
  await page.press("input.scale", "Tab");
  await page.waitForFunction(() => document.querySelector(".split-bar") && !document.querySelector(".progress"), null, { timeout: 300000, polling: 20 });
  const scaleMs = Date.now() - t1;
  await page.close();
  const mb = plain.bytes / 1e6;
  console.log(`  run ${r + 1}: plain read ${plain.ms.toFixed(0)} ms (${(mb / plain.ms * 1000).toFixed(0)} MB/s); QuantLens, choose → pair compared ${ms} ms (${(mb / ms * 1000).toFixed(0)} MB/s) = ${(plain.ms / ms * 100).toFixed(0)}% of the plain read (target ≥ 70%); typed scale → split shown ${scaleMs} ms (target ≤ one pass)`);
}
await browser.close(); s1.close(); s2.close();
await rm(www, { recursive: true, force: true });
