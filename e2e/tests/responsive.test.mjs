// End-to-end: while the worker compares a big dump pair (2 × 384 MiB float32 .npy, written to a
// temporary folder and chosen with the file picker), the progress bar moves, the page answers
// typing and clicks at once, and Cancel stops the run; a fresh worker takes the next job. (The CI-sized version of
// e2e/bench_long.mjs, whose 2 GiB and 640×640 figures are in RELIABILITY.md.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { open, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, scratchDir } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let browser, server, url, tmp;
before(async () => {
  tmp = await scratchDir("quantlens-big-");
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});
after(async () => {
  await browser?.close();
  server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** [1, 96, 2^20] float32 .npy files on disk (384 MiB each; a page-made Blob this big is refused by
 * the browser's in-memory blob store), the quantized side the float one on an int8 grid. */
async function bigPair() {
  const n = 1 << 20, chunk = new Float32Array(n), quant = new Float32Array(n);
  for (let i = 0; i < n; i++) { chunk[i] = Math.sin(i * 0.37) * 2.5; quant[i] = Math.max(-128, Math.min(127, Math.round(chunk[i] * 50))) / 50; }
  let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 96, 1048576), }";
  h += " ".repeat(63 - ((10 + h.length) % 64)) + "\n";
  const head = Buffer.concat([Buffer.from([0x93, 78, 85, 77, 80, 89, 1, 0, h.length & 255, h.length >> 8]), Buffer.from(h, "latin1")]);
  const out = [];
  for (const [name, body] of [["act_float.npy", chunk], ["act_quant.npy", quant]]) {
    const f = await open(join(tmp, name), "w");
    await f.write(head);
    for (let i = 0; i < 96; i++) await f.write(Buffer.from(body.buffer));
    await f.close();
    out.push(join(tmp, name));
  }
  return out;
}

test("during a big comparison: progress moves, typing and clicks take effect at once, Cancel stops it", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  await page.waitForSelector("#run-name");
  const files = await bigPair();
  await page.setInputFiles('input[aria-label="Open files"]', files);
  await page.evaluate(() => {
    window.__clicks = [];
    document.addEventListener("click", (e) => { if (e.target.id === "probe") window.__clicks.push(performance.now() - e.timeStamp); }, true);
    const b = document.createElement("button");
    b.id = "probe";
    b.textContent = "probe";
    b.style.cssText = "position:fixed;right:0;bottom:0;z-index:99";
    document.body.append(b);
  });
  await page.waitForSelector(".progress progress", { timeout: 20000 });
  // Sample the bar and the page's answers until the bar has moved twice (or 20 s).
  const values = new Set(), typed = [];
  const t0 = Date.now();
  while ((values.size < 3 || typed.length < 3) && Date.now() - t0 < 20000) {
    const v = await page.evaluate(() => document.querySelector(".progress progress")?.value ?? null);
    assert.notEqual(v, null, "the run is still going");
    values.add(v);
    const k0 = Date.now();
    await page.focus("#run-name");
    await page.keyboard.type("x");
    await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => ok())));
    assert.match(await page.inputValue("#run-name"), /x$/);
    typed.push(Date.now() - k0);
    await page.click("#probe");
    await page.waitForTimeout(300);
  }
  const clicks = await page.evaluate(() => window.__clicks);
  console.log(`# during the comparison: progress values ${[...values].join(", ")}; typing to frame ${typed.join(", ")} ms; click event to handler ${clicks.map((c) => c.toFixed(1)).join(", ")} ms`);
  assert.ok(values.size >= 3, `the bar moved: ${[...values]}`);
  // Generous bounds (2 shared cores): measured a few tens of ms.
  assert.ok(Math.max(...typed) < 1500, `typing answered within ${Math.max(...typed)} ms`);
  assert.ok(Math.max(...clicks) < 500, `clicks handled within ${Math.max(...clicks)} ms`);
  const c0 = Date.now();
  await page.click(".progress button");
  await page.waitForFunction(() => !document.querySelector(".progress") && /Cancelled/.test(document.querySelector(".banner")?.textContent ?? ""), null, { timeout: 10000 });
  console.log(`# cancel: stopped and said so in ${Date.now() - c0} ms`);
  await page.click("#load-example");
  await page.waitForSelector('.finding[data-kind="qint32_output"]', { timeout: 30000 });
  assert.deepEqual(errors, []);
  await page.close();
});
