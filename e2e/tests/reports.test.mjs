// End-to-end: the QuantAnalysis views in real Chromium — layer comparison (charts, virtualized grid,
// sort, filters, detail panel with range picture), sensitivity bars linked to rows, the run's intent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch } from "../server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
let browser, server, url;

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});
after(async () => { await browser?.close(); server?.close(); });

async function open(query = "?example") {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url + query);
  return { page, errors };
}

async function tab(page, prefix) {
  const tabs = page.locator(".tab", { hasText: prefix });
  await tabs.first().click();
}

test("layer view: top finding opens the clipped row with its range picture", async () => {
  const { page, errors } = await open();
  await page.waitForSelector(".top-ten", { timeout: 30000 });
  // The sensitivity table's own top ops lead the triage; the clipped QuantStub is among the first.
  assert.match(await page.textContent(".top-ten li:first-child"), /sensitive_ops/);
  await page.locator(".top-ten li", { hasText: "quant_normalizer" }).first().locator("button").click();
  await page.waitForSelector(".layers-view tr.sel");
  assert.match(await page.textContent("tr.sel"), /883.*quant_normalizer.*truncation/);
  const detail = await page.textContent(".detail");
  assert.match(detail, /represents \[-6\.6862, 6\.6340\]/);
  assert.match(detail, /31\.7% of the range is clipped/);
  assert.equal(await page.locator("svg.range-picture .clipped").count(), 2, "both sides clipped");
  assert.equal(await page.locator("svg.range-picture .bar").count(), 3, "float, quantized, representable");
  assert.match(await page.textContent(".collapse-note"), /row 883/);
  // What-if from the row's statistics: int16 covers the range; a typed scale updates as typed.
  assert.match(await page.textContent(".whatif"), /int16 · min-max scale\s*≈ \d+/);
  await page.fill('input[aria-label="what-if scale"]', "0.0003");
  assert.match(await page.textContent(".whatif"), /int16 · scale 0\.0003\s*[\d.]+ – [\d.]+ dB\s*clips 0\.44/, "32767 × 0.0003 < 10.27: an interval");
  // The row's own scale clips 31.7% of its range: never estimated better than a scale that covers it.
  const now = /now: int8 · scale 0\.0522\d*\s*(-?[\d.]+) – ([\d.]+) dB/.exec(await page.textContent(".whatif"));
  assert.ok(now, await page.textContent(".whatif"));
  const cover = Number(/int8 · min-max scale\s*≈ ([\d.]+) dB/.exec(await page.textContent(".whatif"))[1]);
  assert.ok(Number(now[1]) < cover, `worst case ${now[1]} vs covering ${cover}`);
  await page.fill('input[aria-label="what-if scale"]', "0.0004");
  assert.match(await page.textContent(".whatif"), /int16 · scale 0\.0004\s*≈ [\d.]+ dB\s*covers the range/);
  // A dtype typed with the scale is taken, as in the Tensors view's boxes.
  await page.fill('input[aria-label="what-if scale"]', "0.0004 int8");
  assert.match(await page.textContent(".whatif"), /int8 · scale 0\.0004\s*-?[\d.]+ – -?[\d.]+ dB\s*clips/);
  await page.fill('input[aria-label="what-if scale"]', "0.0004");
  await page.screenshot({ path: join(repo, "docs", "screenshot-layers.png") });
  assert.deepEqual(errors, []);
  await page.close();
});

test("layer view: virtualized grid, sort, filters and a chart click", async () => {
  const { page, errors } = await open();
  await page.waitForSelector(".top-ten", { timeout: 30000 });
  await tab(page, "Layers");
  await page.waitForSelector(".layers-view table.grid");
  const rendered = await page.locator("table.grid tbody tr:not(.spacer)").count();
  assert.ok(rendered > 10 && rendered < 100, `virtualized: ${rendered} rows rendered of 1544`);
  // One click on Cosine sorts worst first.
  const cosines = async () => (await page.locator("table.grid tbody tr:not(.spacer)").evaluateAll((rows) =>
    rows.slice(0, 5).map((r) => Number(r.children[6].textContent))));
  await page.click("th.sortable:has-text('Cosine')");
  const c = await cosines();
  assert.deepEqual(c, [...c].sort((a, b) => a - b), `ascending: ${c}`);
  assert.ok(c[0] < 0.37, `worst first: ${c}`);
  assert.match(await page.locator("table.grid tbody").textContent(), /quant_normalizer/);
  // Filter by cause and dtype.
  await page.selectOption('select[aria-label="cause filter"]', "truncation");
  assert.match(await page.textContent(".layers-view .count"), /^2 of 1544 rows/);
  await page.selectOption('select[aria-label="cause filter"]', "");
  await page.selectOption('select[aria-label="dtype filter"]', "qint8");
  assert.match(await page.textContent(".layers-view .count"), /^4 of 1544 rows/);
  await page.selectOption('select[aria-label="dtype filter"]', "");
  await page.selectOption('select[aria-label="finding filter"]', "inherited");
  assert.match(await page.textContent(".layers-view .count"), /^15 of 1544 rows/, "origin + 14 downstream rows");
  await page.selectOption('select[aria-label="finding filter"]', "");
  await page.fill('input[aria-label="Filter rows"]', "dim_t_quant");
  await page.locator("table.grid tbody tr:not(.spacer)").first().click();
  assert.match(await page.textContent(".detail"), /half a step \(0\.1321\) is 13\.2%/);
  assert.match(await page.textContent(".detail"), /#3 in output 0 · L1/);
  await page.fill('input[aria-label="Filter rows"]', "");
  // Column chooser: add Rtol.
  await page.click(".columns summary");
  await page.locator(".colopt", { hasText: "Rtol" }).locator("input").check();
  assert.ok(await page.locator("th.sortable", { hasText: "Rtol" }).count() === 1);
  // A click at the far right of the Cosine chart selects a row near the end.
  const svg = page.locator("svg.series").first();
  const box = await svg.boundingBox();
  await page.mouse.click(box.x + box.width - 2, box.y + box.height / 2);
  const sel = await page.locator("tr.sel").getAttribute("data-row");
  assert.ok(Number(sel) > 1500, `selected row ${sel}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test("sensitivity view: ranked bars link each op to its comparison rows", async () => {
  const { page, errors } = await open();
  await page.waitForSelector(".top-ten", { timeout: 30000 });
  await tab(page, "Sensitivity");
  await page.waitForSelector(".sbars");
  const first = page.locator(".sbar").first();
  assert.match(await first.textContent(), /layers\.0\.quant.*0\.580483/);
  assert.ok((await first.locator(".chip").allTextContents()).includes("fixed_scale"));
  await page.screenshot({ path: join(repo, "docs", "screenshot-sensitivity.png") });
  await page.locator(".sbar", { hasText: "dim_t_quant" }).locator("button.link").click();
  await page.waitForSelector(".layers-view tr.sel");
  assert.match(await page.textContent("tr.sel"), /1296.*dim_t_quant.*rounding/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("stating the run's intent (all-int16) reports the rows where int16 did not take effect", async () => {
  const { page, errors } = await open();
  await page.waitForSelector(".top-ten", { timeout: 30000 });
  assert.equal(await page.locator('.finding[data-kind="dtype_not_applied"]').count(), 0);
  await page.selectOption("#intent", "int16");
  await page.waitForSelector('.finding[data-kind="dtype_not_applied"]');
  const f = await page.textContent('.finding[data-kind="dtype_not_applied"]');
  assert.match(f, /meant to be all-int16, but 4 rows still are qint8/);
  assert.match(f, /layers\.0\.quant/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a whole QuantAnalysis folder dropped at once is recognised file by file", async () => {
  const { page, errors } = await open("");
  await page.waitForSelector(".dropzone");
  const dir = join(repo, "tests/fixtures/horizon/qa-small");
  const names = ["compare_per_layer_out.txt", "compare_per_layer_out.csv", "output_0_L1_sensitive_ops.txt",
    "abnormal_layer_advisor.txt", "badcase.txt", "similarity.txt", "analysis_model/statistic.txt"];
  const files = [];
  for (const n of names) files.push({ name: n, text: await readFile(join(dir, n), "utf8") });
  files.push({ name: "analysis_model/op_infos/conv_0.opinfo", text: "\u0080\u0002garbage" });
  await page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([f.text], f.name.split("/").pop(), { type: "text/plain" }));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, files);
  await page.waitForSelector(".summary", { timeout: 30000 });
  const list = await page.textContent("ul.files");
  for (const label of ["layer comparison (compare_per_layer_out.txt)", "layer comparison (compare_per_layer_out.csv)",
    "sensitivity table", "advisor", "bad cases", "similarity", "statistic"]) {
    assert.ok(list.includes(label), `missing ${label} in ${list}`);
  }
  assert.match(list, /conv_0\.opinfo.*Not read/);
  // The .txt and .csv of one run are one table: one Layers tab, whose view names the csv.
  const tabs = await page.$$eval("button.tab", (b) => b.map((x) => x.textContent));
  assert.deepEqual(tabs.filter((t) => t.startsWith("Layers")), ["Layers · compare_per_layer_out.txt (9)"], tabs.join(" | "));
  await page.locator(".tab", { hasText: "Layers" }).click();
  assert.match(await page.textContent(".layers-view .twin-note"), /Also read: compare_per_layer_out\.csv, the same table/);
  // This table has no SQNR column: the grid opens with L1 in its place, not an empty SQNR.
  const heads = await page.$$eval(".layers-view table.grid th", (t) => t.map((x) => x.textContent.replace(/ [▲▼]$/, "")));
  assert.ok(!heads.includes("SQNR") && heads.includes("L1"), heads.join(","));
  assert.equal(heads[heads.indexOf("Cosine") + 1], "L1");
  assert.deepEqual(errors, []);
  await page.close();
});
