// End-to-end: the journal of runs. It survives a reload (IndexedDB), imports and exports as one
// JSON file, names the guide's next step, and compares two runs saved from real report folders.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, scratchDir, dropPaths as drop } from "../server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const real = join(repo, "tests", "fixtures", "real");
let browser, server, url;

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** A page in its own browser context (its own IndexedDB). */
async function newContext() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("dialog", (d) => d.accept());
  await page.goto(url);
  await page.waitForSelector("#journal", { timeout: 30000 });
  return { context, page, errors };
}

async function addRun(page, { name, stage, precision, values, changed, ratio, withReports }) {
  // Typed first, selects after, and no change event: what is typed is kept as it is typed, so a
  // select changed next (a re-render) does not clear it (a user's bug report).
  await page.fill("#run-name", name);
  const inputs = page.locator(".run-accuracy");
  for (let i = 0; i < values.length; i++) await inputs.nth(i).fill(String(values[i]));
  if (changed) await page.fill("#run-changed", changed);
  await page.selectOption("#run-stage", stage);
  await page.selectOption("#run-precision", precision);
  if (ratio !== undefined) await page.fill("#run-ratio", String(ratio));
  for (let i = 0; i < values.length; i++) assert.equal(await inputs.nth(i).inputValue(), String(values[i]));
  if (withReports !== undefined) await page.selectOption("#run-with", withReports);
  const before = await page.locator("#journal-table th.run").count().catch(() => 0);
  await page.click("#run-save");
  await page.waitForFunction((n) => document.querySelectorAll("#journal-table th.run").length === n + 1, before, { timeout: 30000 });
}

const rule = (page) => page.getAttribute("#next-steps .next-step:not(.check)", "data-rule");

test("the journal survives a reload; the next step follows each run; a run is deleted", async () => {
  const { context, page, errors } = await newContext();
  assert.equal(await rule(page), "float_baseline");
  await page.fill("#journal-metrics", "dynamic mAP, static mAP");
  await page.click("#journal-set-metrics");
  await page.waitForSelector('.run-accuracy[data-metric="static · mAP"]');
  await addRun(page, { name: "float", stage: "float", precision: "unstated", values: [73.6, 55.5] });
  assert.equal(await rule(page), "start_int16");
  await addRun(page, { name: "all-int16 calibration", stage: "calibration", precision: "int16", values: [0, 0] });
  await page.waitForSelector('#next-steps [data-rule="int16_calib_debug"]');
  assert.match(await page.textContent("#next-steps"), /usage problem/);
  assert.match(await page.textContent("#next-steps"), /Guide: Accuracy Tuning Practice › All-INT16 Precision Tuning/);
  // The seed's layout: branches as rows, the float and target columns, one column per run.
  const head = await page.$$eval("#journal-table thead th", (t) => t.map((x) => x.textContent));
  assert.match(head[2], /target \(loss < 1%\)/);
  assert.equal(await page.textContent("#journal-table tbody tr:nth-child(1) td:nth-child(3)"), "72.864");
  assert.equal(await page.locator("#journal-table td.unmet").count(), 2);

  await page.reload();
  await page.waitForSelector("#journal-table th.run", { timeout: 30000 });
  assert.deepEqual(await page.$$eval("#journal-table th.run .run-name", (t) => t.map((x) => x.textContent)), ["float", "all-int16 calibration"]);
  assert.equal(await rule(page), "int16_calib_debug");
  assert.equal(await page.inputValue("#journal-metrics"), "dynamic mAP, static mAP");

  // Edit a run's accuracy: the next step moves with it.
  await page.locator('th.run[data-run] .edit-run').nth(1).click();
  const inputs = page.locator(".run-accuracy");
  await inputs.nth(0).fill("73.4"); await inputs.nth(0).dispatchEvent("change");
  await inputs.nth(1).fill("54"); await inputs.nth(1).dispatchEvent("change");
  await page.click("#run-save");
  await page.waitForSelector('#next-steps [data-rule="int16_calib_close"]');
  assert.match(await page.textContent("#next-steps"), /fixed/);

  await page.locator(".delete-run").nth(1).click();
  await page.waitForFunction(() => document.querySelectorAll("#journal-table th.run").length === 1);
  await page.reload();
  await page.waitForSelector("#journal-table th.run", { timeout: 30000 });
  assert.equal(await page.locator("#journal-table th.run").count(), 1);
  assert.deepEqual(errors, []);
  await context.unrouteAll({ behavior: "ignoreErrors" });
  await context.close();
});

test("import the seed's journal, its next step, and export it back", async () => {
  const { context, page, errors } = await newContext();
  await page.setInputFiles("#journal-import", join(repo, "tests", "fixtures", "seed", "quantlens-journal.json"));
  await page.waitForFunction(() => document.querySelectorAll("#journal-table th.run").length === 15, null, { timeout: 30000 });
  assert.match(await page.textContent(".banner.notice"), /15 runs added/);
  // The seed's last run meets the target: fewer int16 ops with QAT tuning is what is left.
  assert.equal(await rule(page), "mixed_met");
  assert.match(await page.textContent("#next-steps"), /Target met/);
  const last = page.locator("#journal-table th.run").last();
  assert.match(await last.getAttribute("class"), /\bmet\b/);
  assert.match(await last.textContent(), /int8 \+ 0\.5% int16 qat/);
  // Importing the same file again adds nothing.
  await page.setInputFiles("#journal-import", join(repo, "tests", "fixtures", "seed", "quantlens-journal.json"));
  await page.waitForFunction(() => /already there/.test(document.querySelector(".banner.notice")?.textContent || ""), null, { timeout: 30000 });
  assert.equal(await page.locator("#journal-table th.run").count(), 15);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#journal-export")]);
  assert.equal(download.suggestedFilename(), "quantlens-journal.json");
  const j = JSON.parse(await readFile(await download.path(), "utf8"));
  assert.equal(j.format, "quantlens.journal");
  assert.equal(j.runs.length, 15);
  const seed = JSON.parse(await readFile(join(repo, "tests", "fixtures", "seed", "quantlens-journal.json"), "utf8"));
  assert.deepEqual(j.runs.map((r) => [r.id, r.accuracy]), seed.runs.map((r) => [r.id, r.accuracy]));
  // The imported journal survives a reload.
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll("#journal-table th.run").length === 15, null, { timeout: 30000 });
  // A link carries it (runs, kinds, accuracy): a colleague's page opens with the same table and step.
  await page.click("#journal-link");
  const link = await (await page.waitForSelector("#journal-link-url")).inputValue();
  assert.match(link, /#j=/);
  assert.ok(link.length < 8000, `${link.length} characters`);
  const other = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const p2 = await other.newPage();
  const errors2 = [];
  p2.on("pageerror", (e) => errors2.push(String(e)));
  await p2.goto(link);
  await p2.waitForFunction(() => document.querySelectorAll("#journal-table th.run").length === 15, null, { timeout: 30000 });
  assert.match(await p2.textContent(".banner.notice"), /Journal from the link: 15 runs added/);
  // Taken in once: the fragment leaves the address, so a reload does not bring back deleted runs.
  assert.ok(!p2.url().includes("j="), p2.url());
  assert.equal(await rule(p2), "mixed_met");
  assert.deepEqual(errors2, []);
  await other.close();
  assert.deepEqual(errors, []);
  await context.unrouteAll({ behavior: "ignoreErrors" });
  await context.close();
});

async function reports(run) {
  return (await readdir(join(real, run, "horizon_quant_analysis"))).sort()
    .map((f) => [`${run}/horizon_quant_analysis/${f}`, join(real, run, "horizon_quant_analysis", f)]);
}

test("two real runs saved from their folders, compared: deltas, who left the top, findings fixed", async () => {
  const { context, page, errors } = await newContext();
  await page.fill("#journal-metrics", "rec accuracy");
  await page.click("#journal-set-metrics");
  await page.waitForSelector('.run-accuracy[data-metric="rec · accuracy"]');
  await addRun(page, { name: "float", stage: "float", precision: "unstated", values: [0.9] });
  await drop(page, [...await reports("ort_int8"), ...await reports("ort_int16")]);
  await page.waitForSelector(".summary", { timeout: 60000 });
  await page.locator(".tab", { hasText: /^Journal/ }).click();
  await page.waitForSelector('#run-with option[value="ort_int16"]', { state: "attached" });
  await addRun(page, { name: "int8 percentile", stage: "calibration", precision: "int8", values: [0.5], withReports: "ort_int8" });
  await addRun(page, { name: "int16 min-max", stage: "calibration", precision: "int16", values: [0.899], withReports: "ort_int16",
    changed: "p2o.BatchNormalization.0" });
  assert.match(await page.textContent("#journal-table"), /384 layers · 1 sensitivity tables/);
  // The changed op's sensitivity dropped: the check says so, with a link to the two runs.
  await page.waitForSelector('#next-steps [data-rule="changed_ops_dropped"]');
  // All-int16 meets the target but all-int8 fell short: mixed precision is next.
  assert.equal(await rule(page), "start_mixed");
  // The evidence links to the op's row in the loaded layer comparison.
  await page.click('#next-steps [data-rule="changed_ops_dropped"] .show-layer');
  await page.waitForFunction(() => /compare_per_layer_out/.test(document.querySelector("button.tab.active")?.title || ""));
  assert.match(await page.textContent("main"), /p2o\.BatchNormalization\.0/);
  await page.locator(".tab", { hasText: /^Journal/ }).click();
  await page.click("#next-steps .evidence-diff");
  await page.waitForSelector("#run-diff #diff-summary", { timeout: 30000 });
  assert.match(await page.textContent("#diff-summary"), /384 layers in both: \d+ improved, \d+ got worse, \d+ unchanged \(by sqnr_db\)/);
  assert.match(await page.textContent("#diff-accuracy"), /0\.399/);
  // The op the second run changed: its sensitivity dropped, visible at once.
  assert.match(await page.textContent("#diff-changed tr.dropped"), /p2o\.BatchNormalization\.0.*#2.*#66.*sensitivity dropped/);
  const left = await page.$$eval("#diff-sensitivity tr.left-top td.name", (t) => t.map((x) => x.textContent));
  assert.ok(left.includes("p2o.BatchNormalization.0"), left.join(","));
  assert.match(await page.textContent("#diff-fixed summary"), /Fixed \(in A, not in B\): \d+/);
  assert.ok(await page.locator("#diff-worse tbody tr").count() > 0);
  // Judged by another metric: the lists and the summary follow it.
  await page.selectOption("#diff-by", "cosine");
  await page.waitForFunction(() => /\(by cosine\)/.test(document.querySelector("#diff-summary")?.textContent || ""));
  assert.match(await page.textContent("#diff-worse thead"), /cosine A/);
  await page.selectOption("#diff-by", "sqnr_db");
  await page.waitForFunction(() => /\(by sqnr_db\)/.test(document.querySelector("#diff-summary")?.textContent || ""));
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#diff-download")]);
  const d = JSON.parse(await readFile(await download.path(), "utf8"));
  assert.equal(d.layers.length, 384);
  for (const k of ["name", "a", "b", "delta"]) assert.ok(k in d.layers[0], k);
  assert.ok(Array.isArray(d.unmatched.a_only) && Array.isArray(d.findings.fixed) && d.sensitivity[0].rank_a >= 1);
  // The single-file report carries the journal: opened from disk, its table and comparison are there.
  const [rep] = await Promise.all([page.waitForEvent("download"), page.click("#export-report")]);
  const file = join(await scratchDir("ql-journal-"), rep.suggestedFilename());
  await rep.saveAs(file);
  const off = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const rp = await off.newPage();
  const repErrors = [];
  rp.on("pageerror", (e) => repErrors.push(String(e)));
  await rp.goto("file://" + file);
  // It opens in the view it was exported from (the Journal), its runs kept apart by folder.
  await rp.waitForSelector('.tab[title="ort_int8/horizon_quant_analysis/compare_per_layer_out.txt"]', { timeout: 60000 });
  assert.match(await rp.textContent(".tabs"), /Layers · ort_int8 \(384\)/);
  assert.equal(await rp.locator(".tab", { hasText: "quantlens-journal" }).count(), 0);
  await rp.waitForFunction(() => document.querySelectorAll("#journal-table th.run").length === 3, null, { timeout: 30000 });
  await rp.selectOption("#compare-a", { label: "int8 percentile" });
  await rp.selectOption("#compare-b", { label: "int16 min-max" });
  await rp.click("#compare-runs");
  await rp.waitForSelector("#run-diff #diff-changed tr.dropped", { timeout: 30000 });
  assert.deepEqual(repErrors, []);
  await off.close();
  // The comparison is kept across a reload of the journal (the runs keep their analysis, not the files).
  await page.reload();
  await page.waitForSelector("#journal-table th.run", { timeout: 30000 });
  await page.selectOption("#compare-a", { label: "int8 percentile" });
  await page.selectOption("#compare-b", { label: "int16 min-max" });
  await page.click("#compare-runs");
  await page.waitForSelector("#run-diff #diff-summary", { timeout: 30000 });
  assert.deepEqual(errors, []);
  await context.unrouteAll({ behavior: "ignoreErrors" });
  await context.close();
});

test("a browser that gives the page no IndexedDB: the journal says it is not kept, and still works for the session", async () => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // The analysis worker keeps the journal: its loader is served with IndexedDB taken away first.
  await context.route("**/worker_loader.js", async (route) => {
    try {
      const response = await route.fetch();
      const body = 'IDBFactory.prototype.open = function () { throw new DOMException("blocked by policy", "SecurityError"); };\n'
        + await response.text();
      await route.fulfill({ response, body });
    } catch {
      // The context closed while a worker was starting: nothing left to serve.
    }
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("#journal", { timeout: 30000 });
  await page.waitForSelector(".journal-not-kept", { timeout: 30000 });
  assert.match(await page.textContent(".journal-not-kept"), /Not kept: .*SecurityError: blocked by policy.*export it/);
  await page.setInputFiles("#journal-import", join(repo, "tests", "fixtures", "seed", "quantlens-journal.json"));
  await page.waitForFunction(() => document.querySelectorAll("#journal-table th.run").length === 15, null, { timeout: 30000 });
  assert.deepEqual(errors, []);
  await context.unrouteAll({ behavior: "ignoreErrors" });
  await context.close();
});
