// End-to-end: a float ONNX model and sample inputs dropped → the model runner (its own worker and
// wasm, fetched only then) calibrates, simulates and measures true sensitivity; the comparison
// table, the sensitivity view and the mixed-precision view open on its reports. Cancel works, and a
// model without matching inputs gets a message naming the input.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch } from "../server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const fx = join(repo, "tests", "fixtures", "model");
let browser, server, url;

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  return { page, errors, requests };
}

async function pick(page, names) {
  await page.setInputFiles('input[aria-label="Open files"]', await Promise.all(names.map(async (n) => ({
    name: n, mimeType: "application/octet-stream", buffer: await readFile(join(fx, n)),
  }))));
}

test("a float model with samples runs in the page: comparison, sensitivity and mixed precision from its own reports", async () => {
  const { page, errors, requests } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  assert.ok(!requests.some((r) => r.includes("model_worker")), "the model runner is not fetched before a model is loaded");
  await pick(page, ["ppocr_cls.onnx", "cls_sample0.npz", "cls_sample1.npz"]);
  await page.waitForSelector(".model-run", { timeout: 30000 });
  assert.match(await page.textContent(".model-run"), /ppocr_cls\.onnx is a float ONNX model.*\(2 \.npz\/\.npy file/);
  // The worker that reads the model's inputs has answered (it is not one of the run's workers).
  await page.waitForSelector("#model-inputs .model-input", { timeout: 60000 });
  // The run is split over one model worker per core (at most 4); their rows merge into one report.
  const spawned = [];
  page.on("worker", (w) => { if (w.url().includes("model_worker")) spawned.push(w.url()); });
  const cores = await page.evaluate(() => navigator.hardwareConcurrency || 1);
  await page.click("#run-model-int8");
  await page.waitForSelector('button.tab[title="ppocr_cls_int8_run/compare_per_layer_out.txt"]', { timeout: 120000 });
  assert.equal(spawned.length, Math.min(Math.max(cores, 1), 4), `${spawned.length} model workers for ${cores} cores`);
  assert.ok(requests.some((r) => r.endsWith("model_worker_bg.wasm")));
  const tabs = await page.$$eval("button.tab", (b) => b.map((x) => x.title));
  for (const m of ["L1", "Cosine", "SQNR"]) {
    assert.ok(tabs.includes(`ppocr_cls_int8_run/output_save_infer_model_scale_0_tmp_1_${m}_sensitive_ops.txt`), tabs.join(" | "));
  }
  // The comparison table: every activation, read by the same parser as QuantAnalysis's files.
  await page.click('button.tab[title="ppocr_cls_int8_run/compare_per_layer_out.txt"]');
  await page.waitForSelector(".layers-view");
  assert.match(await page.textContent(".layers-view .count"), /235/);
  // Sensitivity and mixed precision work on the model's own tables.
  await page.click('button.tab[title$="_L1_sensitive_ops.txt"]');
  await page.waitForSelector(".sbar");
  assert.match(await page.textContent(".sens-view .provenance"), /True single-op sensitivity measured in this page/);
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  await page.waitForSelector(".int16-list li", { timeout: 20000 });
  // Verified by simulation: the runner's sweep draws the measured curve, the knee is on it.
  assert.ok(tabs.includes("ppocr_cls_int8_run/simulated_mixed_precision.json"), tabs.join(" | "));
  assert.match(await page.textContent(".recommend-view .provenance"), /Measured, not estimated/);
  const pts = await page.$$eval("svg.pareto .simulated-pt", (c) => c.length);
  assert.ok(pts >= 8, `${pts} simulated points`);
  assert.match(await page.textContent(".ratio-readout.simulated"), /Simulated by the model runner: the whole model with this int16 set has [\d.]+% of the all-int8 model's output error/);
  // The run's reports download as the folder the runner wrote, one zip.
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click('button.download-run[data-run="ppocr_cls_int8_run"]')]);
  assert.equal(dl.suggestedFilename(), "ppocr_cls_int8_run.zip");
  const zbuf = await readFile(await dl.path());
  assert.equal(zbuf.subarray(0, 4).toString("latin1"), "PK\x03\x04");
  for (const n of ["compare_per_layer_out.txt", "simulated_mixed_precision.json", "output_save_infer_model_scale_0_tmp_1_L1_sensitive_ops.txt"]) {
    assert.ok(zbuf.includes(Buffer.from(`ppocr_cls_int8_run/${n}`)), n);
  }
  // Another observer is another run, in its own folder beside the first.
  await page.selectOption("#model-observer", "mse");
  await page.click("#run-model-int8");
  await page.waitForSelector('button.tab[title="ppocr_cls_int8_mse_run/compare_per_layer_out.txt"]', { timeout: 120000 });
  assert.ok(await page.$('button.tab[title="ppocr_cls_int8_run/compare_per_layer_out.txt"]'), "the min-max run stays");
  assert.equal(await page.evaluate(() => localStorage.getItem("quantlens.observer")), '"mse"');
  assert.deepEqual(errors, []);
  await page.close();
});

test("cancel stops a model run; inputs that do not fit the model and unsupported ops are named", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await pick(page, ["ppocr_cls.onnx", "cls_sample0.npz"]);
  await page.waitForSelector("#run-model-int8", { timeout: 30000 });
  await page.click("#run-model-int8");
  await page.waitForSelector(".progress button", { timeout: 10000 });
  await page.click(".progress button");
  await page.waitForSelector(".banner");
  assert.match(await page.textContent(".banner"), /Cancelled/);
  assert.equal(await page.$('button.tab[title$="compare_per_layer_out.txt"]'), null);

  // A sample whose tensor has another shape: the message names the input and both shapes.
  const { page: p2 } = await newPage();
  await p2.goto(url);
  await p2.waitForSelector(".dropzone");
  await p2.setInputFiles('input[aria-label="Open files"]', [
    { name: "ppocr_cls.onnx", mimeType: "application/octet-stream", buffer: await readFile(join(fx, "ppocr_cls.onnx")) },
    { name: "wrong.npz", mimeType: "application/octet-stream", buffer: await readFile(join(repo, "tests", "fixtures", "tensors", "ppocr_cls_float.npz")) },
  ]);
  await p2.click("#run-model-int8", { timeout: 30000 });
  await p2.waitForSelector(".banner", { timeout: 60000 });
  assert.match(await p2.textContent(".banner"), /none of the sample files fits ppocr_cls\.onnx \(wrong\.npz: .*\): drop \.npz files with a tensor per input \(x \[\?, 3, \?, \?\]\)/);

  // An op the runner does not have: the message names it and its node.
  const { page: p3 } = await newPage();
  await p3.goto(url);
  await p3.waitForSelector(".dropzone");
  await pick(p3, ["unsupported_op.onnx", "unsupported_x.npz"]);
  // Said as soon as the model is read, before any run, and Run stays off.
  await p3.waitForSelector("#model-inputs .error", { timeout: 60000 });
  assert.match(await p3.textContent("#model-inputs .error"), /the op GridWarpMagic \(node "y"\) is not supported by the model runner/);
  assert.equal(await p3.$eval("#run-model-int8", (b) => b.disabled), true);
  await p3.close();
  assert.deepEqual(errors, []);
  await p2.close();
  await page.close();
});

async function pickFrom(page, files) {
  await page.setInputFiles('input[aria-label="Open files"]', await Promise.all(files.map(async ([dir, n]) => ({
    name: n, mimeType: "application/octet-stream", buffer: await readFile(join(dir, n)),
  }))));
}

test("image inputs: declared inputs shown first, a preset and size, a run on images, a broken PNG named with everything else kept", async () => {
  const img = join(repo, "tests", "fixtures", "image");
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await pick(page, ["ppocr_cls.onnx"]);
  // The model worker reads the model's declared inputs before any sample is dropped.
  await page.waitForSelector('#model-inputs .model-input[data-input="x"]', { timeout: 60000 });
  assert.match(await page.textContent("#model-inputs"), /x \[\?, 3, \?, \?\]/);
  assert.ok(await page.$("#shape-0"), "a symbolic shape can be typed");
  assert.ok(await page.isDisabled("#run-model-int8"), "no samples yet");
  // Random inputs are a separate, warned choice.
  await page.click("#random-inputs summary");
  assert.match(await page.textContent("#random-inputs"), /random inputs mis-rank layers/);

  // Images (named without extensions: detected by their bytes).
  await pickFrom(page, [[img, "text0.png"], [img, "text1.jpg"]]);
  await page.waitForSelector('li[data-image="text1.jpg"]:not(:has(.muted))', { timeout: 60000 });
  assert.match(await page.textContent(".model-images"), /text0\.png: 200×52/);
  await page.waitForSelector("#preprocess");
  await page.selectOption("#pp-preset", "ppocr");
  await page.fill("#pp-size", "48x192");
  await page.press("#pp-size", "Tab");
  await page.waitForFunction(() => document.querySelector("#pp-describe")?.textContent.includes("BGR, 48×192"));
  assert.equal(await page.isDisabled("#run-model-int8"), false);
  await page.click("#run-model-int8");
  await page.waitForSelector('button.tab[title$="_L1_sensitive_ops.txt"]', { timeout: 120000 });
  assert.match(await page.textContent(".banner.notice"), /Ran on 2 image\(s\) as x \[1, 3, 48, 192\]: BGR, 48×192, bilinear/);
  // Each model worker reports its wasm memory (its high-water mark): shown, and under the bound.
  const heap = /wasm memory peaked at ([\d +]+) MiB/.exec(await page.textContent(".banner.notice"));
  assert.ok(heap, await page.textContent(".banner.notice"));
  for (const mib of heap[1].split(" + ").map(Number)) assert.ok(mib > 1 && mib < 1536, `wasm memory ${heap[1]} MiB`);
  await page.click('button.tab[title$="_L1_sensitive_ops.txt"]');
  await page.waitForSelector(".sbar");
  const tabsBefore = await page.$$eval("button.tab", (b) => b.map((x) => x.title));

  // A truncated PNG: its message, and everything else stays loaded and runnable.
  await pickFrom(page, [[img, "broken.png"]]);
  await page.waitForSelector('li[data-image="broken.png"] .image-error', { timeout: 60000 });
  assert.match(await page.textContent('li[data-image="broken.png"]'), /broken\.png: a PNG image QuantLens cannot read \(.*\): truncated or damaged\?/);
  const tabsAfter = await page.$$eval("button.tab", (b) => b.map((x) => x.title));
  for (const t of tabsBefore) assert.ok(tabsAfter.includes(t), `${t} still loaded`);
  assert.match(await page.textContent(".model-images"), /text0\.png: 200×52/);
  assert.equal(await page.isDisabled("#run-model-int8"), false);

  // The preprocessing is remembered across reloads.
  await page.reload();
  await page.waitForSelector(".dropzone");
  await pickFrom(page, [[fx, "ppocr_cls.onnx"], [img, "text0.png"]]);
  await page.waitForSelector("#preprocess", { timeout: 60000 });
  assert.equal(await page.inputValue("#pp-preset"), "ppocr");
  assert.equal(await page.inputValue("#pp-size"), "48x192");

  // Random inputs, chosen explicitly: the symbolic dimensions typed, seeded, and the banner warns.
  await page.fill("#shape-0", "1x3x48x192");
  await page.click("#random-inputs summary");
  await page.fill("#rnd-count", "1");
  await page.press("#rnd-count", "Tab");
  await page.fill("#rnd-seed", "5");
  await page.press("#rnd-seed", "Tab");
  await page.click("#run-model-random");
  await page.waitForSelector('button.tab[title$="compare_per_layer_out.txt"]', { timeout: 120000 });
  assert.match(await page.textContent(".banner.notice"), /Ran on 1 random sample\(s\), uniform in \[0, 1\], seed 5 — random inputs mis-rank layers/);
  assert.deepEqual(errors, []);
  await page.close();
});
