// End-to-end: the built app in real Chromium. Loads the page, loads the bundled example, drops a
// fixture file, follows a finding to its rows and back, and regenerates the README screenshot.
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
const requests = [];

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Errors and warnings (wasm-bindgen's deprecated init parameters, an ignored preload integrity)
  // in the page and its workers.
  const bad = (m) => m.type() === "error" || m.type() === "warning";
  page.on("console", (m) => { if (bad(m)) errors.push(m.text()); });
  page.on("worker", (w) => w.on("console", (m) => { if (bad(m)) errors.push(`worker: ${m.text()}`); }));
  page.on("request", (r) => requests.push(r.url()));
  return { page, errors };
}

// Dispatch a real drop event carrying files built in the page (what a user's drag produces).
async function dropFiles(page, files) {
  await page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([f.text], f.name, { type: "text/plain" }));
    const target = document.querySelector(".app");
    for (const type of ["dragenter", "dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  }, files);
}

test("page loads offline-clean and shows the drop zone and privacy promise", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  assert.match(await page.textContent(".privacy"), /never leave this browser/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("Load example shows the seed's findings, and a finding links to its rows", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  const kinds = await page.$$eval(".finding", (els) => els.map((e) => e.dataset.kind));
  for (const k of ["qint32_output", "float_input", "low_precision_output", "unfused", "shared_module"]) {
    assert.ok(kinds.includes(k), `finding ${k} missing; got ${kinds}`);
  }
  assert.match(await page.textContent(".summary"), /\d+ error\(s\)/);
  // The seed's layer is named in the qint32 finding.
  const q = await page.textContent('.finding[data-kind="qint32_output"]');
  assert.match(await page.textContent(".top-ten"), /truncation\s*model\.obstacle_head\.decoder\.layers\.0\.cross_attn\.quant_normalizer/);
  assert.match(q, /248 layers output qint32/);
  await page.screenshot({ path: join(repo, "docs", "screenshot-overview.png") });

  // Finding → rows: open the shared-module finding; its rows are highlighted in the call-count table.
  await page.click('.finding[data-kind="shared_module"] button.evidence');
  await page.waitForSelector(".check-view");
  await page.waitForSelector(".check-view tr.hl");
  const hl = await page.$$eval("tr.hl", (rows) => rows.map((r) => r.textContent));
  assert.ok(hl.length >= 8, `expected 8 highlighted rows, got ${hl.length}`);
  assert.ok(hl.some((t) => t.includes("gen_sineembed_for_position.div.reciprocal")));
  await page.screenshot({ path: join(repo, "docs", "screenshot.png") });

  // Row → finding: a chip on a per-layer row selects its finding.
  await page.click(".flist-item.selected"); // deselect
  await page.fill("#tbl-layers input.search", "reg_branches.0.0");
  const chip = page.locator("#tbl-layers tr", { hasText: "model.obstacle_head.reg_branches.0.0 " }).locator("button.chip", { hasText: "qint32_output" });
  await chip.first().click();
  await page.waitForSelector(".flist-item.selected");
  assert.match(await page.textContent(".flist-item.selected"), /qint32_output/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("dropping a fixture file analyses it; a wrong file gets a clear message", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  const text = await readFile(join(repo, "tests/fixtures/horizon/s11-full/model_check_result.txt"), "utf8");
  await dropFiles(page, [
    { name: "model_check_result.txt", text },
    { name: "notes.txt", text: "just some notes\nnothing to see\n" },
  ]);
  await page.waitForSelector(".finding", { timeout: 30000 });
  const kinds = await page.$$eval(".finding", (els) => els.map((e) => e.dataset.kind));
  assert.ok(kinds.includes("qint32_output") && kinds.includes("unfused") && kinds.includes("shared_module"), `got ${kinds}`);
  const banner = await page.textContent(".banner");
  assert.match(banner, /notes\.txt: not a format QuantLens knows/);
  assert.match(await page.textContent("ul.files"), /Not read: not a format QuantLens knows/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("?example opens straight on the analysis", async () => {
  const { page, errors } = await newPage();
  await page.goto(url + "?example");
  await page.waitForSelector('.finding[data-kind="unfused"]', { timeout: 30000 });
  assert.deepEqual(errors, []);
  await page.close();
});


test("a large file shows progress and can be cancelled; the app keeps working", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  // ~120 MB of per-layer rows, built in the page (never sent anywhere).
  await page.evaluate(() => {
    const row = "| model.backbone.stage1.0.conv1 | <class 'horizon_plugin_pytorch.nn.qat.conv2d.Conv2d'> | ['qint8'] | ['qint8'] | -1 | MinMaxObserver |\n";
    const head = "Each layer out qconfig:\n+---+---+---+---+---+---+\n| Module Name | Module Type | Input dtype | out dtype | ch_axis | observer |\n|---+---+---+---+---+---|\n";
    const chunk = row.repeat(10000);
    const parts = [head];
    for (let i = 0; i < 90; i++) parts.push(chunk);
    const dt = new DataTransfer();
    dt.items.add(new File(parts, "huge_model_check_result.txt", { type: "text/plain" }));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  });
  await page.waitForSelector(".progress", { timeout: 10000 });
  assert.match(await page.textContent(".progress"), /huge_model_check_result\.txt|file\(s\)/);
  await page.click(".progress button");
  await page.waitForSelector(".banner", { timeout: 10000 });
  assert.match(await page.textContent(".banner"), /Cancelled/);
  assert.equal(await page.$(".progress"), null);
  // A fresh worker takes the next job.
  await page.click("#load-example");
  await page.waitForSelector('.finding[data-kind="qint32_output"]', { timeout: 30000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test("no request ever leaves the page's origin", () => {
  const foreign = requests.filter((r) => !r.startsWith(url) && !r.startsWith("blob:") && !r.startsWith("data:"));
  assert.deepEqual(foreign, []);
});
