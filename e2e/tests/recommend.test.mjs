// End-to-end: the mixed-precision view — the knee, the ratio slider, and the exports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let browser, server, url;
before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
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
  const items = await page.locator(".int16-list li").allTextContents();
  assert.ok(items.length >= 1 && /layers\.0\.quant/.test(items[0]), `${items}`);
  const [json] = await Promise.all([page.waitForEvent("download"), page.click("#dl-json")]);
  const rec = JSON.parse(await readFile(await json.path(), "utf8"));
  assert.equal(rec.int16[0].name, "model.view_transformation.transformer.layers.0.quant");
  assert.match(rec.snippet, /sensitive_op_calibration_8bit_weight_16bit_act_qconfig_setter\(t, ratio=/);
  const [me] = await Promise.all([page.waitForEvent("download"), page.click("#dl-me")]);
  const nodes = JSON.parse(await readFile(await me.path(), "utf8"));
  assert.equal(nodes.results["model.view_transformation.transformer.layers.0.quant"].value, 0.580483);
  assert.ok(Array.isArray(nodes.thresholds));
  await page.screenshot({ path: join(repo, "docs", "screenshot-recommend.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
