// End-to-end: the mixed-precision view — the knee, the ratio slider, and the exports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let browser, server, url;
before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});
after(async () => { await browser?.close(); server?.close(); });

test("ratio slider, int16 list, fixed scales and exports", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url + "?example");
  await page.waitForSelector(".top-ten", { timeout: 30000 });
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  await page.waitForSelector(".recommend-view");
  assert.match(await page.textContent(".ratio-readout"), /\(the knee\)/);
  // The example's QuantStubs with physical ranges are suggested for fixed scales beside the list.
  assert.match(await page.textContent(".recommend-view"), /Fixed-scale suggestions \(2\)/);
  // Slide to the top 1 row: the example is an all-int16 run except the seed's qint8 rows.
  await page.locator("#ratio-slider").fill("1");
  const readout = await page.textContent(".ratio-readout");
  assert.match(readout, /top \d+ rows/);
  // The comparison table's shapes give the activation-bytes axis.
  assert.match(readout, /% of activation bytes/);
  assert.equal(await page.locator("svg.pareto polyline.bytes").count(), 1);
  const items = await page.locator(".int16-list li").allTextContents();
  assert.ok(items.length >= 1 && /layers\.0\.quant/.test(items[0]), `${items}`);
  const [json] = await Promise.all([page.waitForEvent("download"), page.click("#dl-json")]);
  const rec = JSON.parse(await readFile(await json.path(), "utf8"));
  assert.equal(rec.int16[0].name, "model.view_transformation.transformer.layers.0.quant");
  assert.match(rec.snippet, /sensitive_op_calibration_8bit_weight_16bit_act_qconfig_setter\(t, ratio=/);
  // The fixed-scale suggestions travel in the snippet (module_name_qconfig, set first) and the JSON.
  assert.deepEqual(rec.fixed_scales.map((f) => [f.name, f.scale]),
    [["model.view_transformation.transformer.layers.0.quant", 100 / 32768],
     ["model.obstacle_head.decoder.layers.0.cross_attn.quant_normalizer", 12 / 32768]]);
  assert.match(rec.snippet, /calib_qconfig_setter = \(\n    ModuleNameQconfigSetter\(module_name_qconfig\),/);
  const [me] = await Promise.all([page.waitForEvent("download"), page.click("#dl-me")]);
  const nodes = JSON.parse(await readFile(await me.path(), "utf8"));
  assert.equal(nodes.results["model.view_transformation.transformer.layers.0.quant"].value, 0.580483);
  assert.ok(Array.isArray(nodes.thresholds));
  await page.screenshot({ path: join(repo, "docs", "screenshot-recommend.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("several sensitivity tables give one weighted merged ranking", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  const dir = join(repo, "tests/fixtures/horizon/qa-small");
  const files = [];
  for (const n of ["output_0_L1_sensitive_ops.txt", "output_boxes_MSE_sensitive_ops.txt"]) {
    files.push({ name: n, text: await readFile(join(dir, n), "utf8") });
  }
  await page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([f.text], f.name, { type: "text/plain" }));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, files);
  await page.waitForSelector(".summary", { timeout: 30000 });
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  await page.waitForSelector(".merged-list li");
  let first = await page.locator(".merged-list li").first().textContent();
  assert.match(first, /^add2 score 2\.000; #1 in output 0 · L1, #1 in output boxes · MSE/);
  // Weight 0 leaves the second table out of the score.
  await page.locator(".merge-weight.w1").fill("0");
  await page.locator(".merge-weight.w1").dispatchEvent("change");
  await page.waitForFunction(() => /score 1\.000/.test(document.querySelector(".merged-list li").textContent));
  first = await page.locator(".merged-list li").first().textContent();
  assert.match(first, /^add2 score 1\.000/);
  assert.deepEqual(errors, []);
  await page.close();
});
