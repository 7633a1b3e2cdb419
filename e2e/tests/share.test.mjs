// End-to-end: the view lives in the URL fragment. A link opens the same view once its files are
// dropped, back/forward move between views, and a newer, damaged or hostile fragment gets a clear
// message and runs nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { deflateRawSync } from "node:zlib";
import { chromium } from "playwright-core";
import { serve, launch } from "../server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
let browser, server, url;

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function newPage(context) {
  const page = await (context ?? browser).newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("dialog", (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  return { page, errors };
}

// A fragment made here with Node's zlib, independent of the app's encoder.
const fragment = (json) => "#s=" + deflateRawSync(Buffer.from(json)).toString("base64url");
const activeTab = (page) => page.getAttribute("button.tab.active", "title");

test("a link opens the same view after the files are dropped; back and forward move between views", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  assert.equal(new URL(page.url()).hash, "", "the default view needs no fragment");

  // Open the shared-module finding: its file's view, with the finding selected.
  await page.click('.finding[data-kind="shared_module"] button.evidence');
  await page.waitForSelector(".check-view tr.hl");
  const file = await activeTab(page);
  const link = page.url();
  assert.match(new URL(link).hash, /^#s=[A-Za-z0-9_-]+$/);
  const selected = await page.textContent(".flist-item.selected");

  // Another view, then back and forward.
  await page.click('button.tab[title^="Overview"]');
  await page.waitForFunction((l) => location.href !== l, link);
  await page.goBack();
  await page.waitForFunction((f) => document.querySelector("button.tab.active")?.title === f, file);
  assert.equal(await page.textContent(".flist-item.selected"), selected);
  await page.goForward();
  await page.waitForFunction(() => document.querySelector("button.tab.active")?.title.startsWith("Overview"));

  // A fresh browser context (a colleague): the link says which files it needs, then opens the view.
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page: other, errors: otherErrors } = await newPage(ctx);
  await other.goto(link);
  await other.waitForSelector(".banner");
  // Guidance, not an error: a status notice.
  assert.match(await other.textContent('.banner.notice[role="status"]'), new RegExp(`This link opens a view of ${file.replace(/[.]/g, "[.]")}: drop the same files`));
  await other.click("#load-example");
  await other.waitForFunction((f) => document.querySelector("button.tab.active")?.title === f, file, { timeout: 30000 });
  await other.waitForSelector(".check-view tr.hl");
  assert.equal(await other.textContent(".flist-item.selected"), selected);
  assert.equal(await other.$(".banner"), null, "the waiting note goes once the view opens");
  // A reload keeps the fragment and, once the files are back, the view.
  await other.reload();
  await other.click("#load-example");
  await other.waitForFunction((f) => document.querySelector("button.tab.active")?.title === f, file, { timeout: 30000 });
  assert.deepEqual(otherErrors, []);
  await ctx.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test("the layer grid's filter and sort travel with the link; typing rewrites the entry instead of adding one", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  await page.click('button.tab[title$="compare_per_layer_out.txt"]');
  await page.waitForSelector("#tbl-layers input.search, input.search");
  const entries = await page.evaluate(() => history.length);
  await page.type("input.search", "decoder", { delay: 30 });
  await page.click("th.sortable:has-text('Cosine')");
  await page.waitForFunction(() => document.querySelector("th.sortable")?.closest("tr")?.textContent.includes("▲") || document.body.textContent.includes("Cosine ▲") || document.body.textContent.includes("Cosine ▼"));
  const arrow = await page.evaluate(() => [...document.querySelectorAll("th.sortable")].map((t) => t.textContent).find((t) => t.startsWith("Cosine")));
  assert.match(arrow ?? "", /[▲▼]/);
  // Typing seven letters and sorting add at most one entry each, not one per keystroke.
  assert.ok((await page.evaluate(() => history.length)) - entries <= 2);
  const link = page.url();
  const rowsHere = await page.$$eval(".grid .row, tr", (r) => r.length);
  const filterOff = await page.evaluate(() => document.querySelector("input.search").placeholder);
  assert.match(filterOff, /Filter \d+ rows/);

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page: other, errors: otherErrors } = await newPage(ctx);
  await other.goto(link);
  await other.click("#load-example");
  await other.waitForSelector("input.search", { timeout: 30000 });
  assert.equal(await other.inputValue("input.search"), "decoder");
  const otherArrow = await other.evaluate(() => [...document.querySelectorAll("th.sortable")].map((t) => t.textContent).find((t) => t.startsWith("Cosine")));
  assert.equal(otherArrow, arrow);
  assert.equal(await other.$$eval(".grid .row, tr", (r) => r.length), rowsHere);
  assert.deepEqual(otherErrors, []);
  await ctx.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test("the mixed-precision ratio and sensitive type travel with the link; sliding rewrites the entry", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  await page.waitForSelector(".recommend-view");
  const entries = await page.evaluate(() => history.length);
  await page.selectOption("#rec-type", "both");
  for (const v of ["3", "2", "1"]) await page.locator("#ratio-slider").fill(v);
  assert.ok((await page.evaluate(() => history.length)) - entries <= 1, "settings rewrite the entry");
  const readout = await page.textContent(".ratio-readout");
  assert.doesNotMatch(readout, /the knee/);
  const link = page.url();

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page: other, errors: otherErrors } = await newPage(ctx);
  await other.goto(link);
  await other.click("#load-example");
  await other.waitForSelector(".recommend-view", { timeout: 30000 });
  assert.equal(await other.inputValue("#rec-type"), "both");
  assert.equal(await other.inputValue("#ratio-slider"), "1");
  assert.equal(await other.textContent(".ratio-readout"), readout);
  assert.deepEqual(otherErrors, []);
  await ctx.close();
  assert.deepEqual(errors, []);
  await page.close();
});

async function dropDumps(page) {
  const payload = [];
  for (const n of ["ppocr_cls_float.npz", "ppocr_cls_qdq.npz"]) {
    payload.push([n, (await readFile(join(repo, "tests/fixtures/tensors", n))).toString("base64")]);
  }
  await page.evaluate((payload) => {
    const dt = new DataTransfer();
    for (const [name, b64] of payload) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, payload);
}

test("the open tensor pair and the pairs sort travel with the link", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await dropDumps(page);
  await page.waitForSelector(".summary", { timeout: 20000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  await page.click('th[data-sort="sqnr"]');
  const order = await page.$$eval("table.pairs tbody tr", (r) => r.map((x) => x.dataset.pair));
  await page.locator('tr[data-pair="Add@0"]').click();
  await page.waitForSelector('.pair-detail[data-detail="Add@0"]');
  const link = page.url();

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page: other, errors: otherErrors } = await newPage(ctx);
  await other.goto(link);
  await other.waitForSelector(".banner");
  assert.match(await other.textContent(".banner"), /This link opens the Tensors view: drop the same files/);
  await dropDumps(other);
  await other.waitForSelector('.pair-detail[data-detail="Add@0"]', { timeout: 20000 });
  assert.deepEqual(await other.$$eval("table.pairs tbody tr", (r) => r.map((x) => x.dataset.pair)), order);
  assert.match(await other.textContent('th[data-sort="sqnr"]'), /[▲▼]/);
  assert.deepEqual(otherErrors, []);
  await ctx.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test("copy name puts a layer's and a tensor pair's full name on the clipboard, and says so", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(url).origin });
  const { page, errors } = await newPage(ctx);
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  await page.click('button.tab[title$="compare_per_layer_out.txt"]');
  await page.locator("[data-row]").nth(3).click();
  await page.waitForSelector("h3.rowname .copy-name button");
  // The button's words are CSS (data-label), not text: the heading's text is the name alone (the
  // clipboard's text, below).
  const shown = (await page.textContent("h3.rowname")).replace(/\u200b/g, "").trim();
  assert.equal(await page.locator("h3.rowname .copy-name button").getAttribute("aria-label"), "copy name");
  await page.click("h3.rowname .copy-name button");
  await page.waitForSelector("h3.rowname .copied");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shown);

  await page.goto(url);
  await dropDumps(page);
  await page.waitForSelector(".summary", { timeout: 20000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  await page.locator('tr[data-pair="Add@0"]').click();
  await page.click('.pair-detail[data-detail="Add@0"] .copy-name button');
  await page.waitForSelector(".pair-detail .copied");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "Add@0");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("a newer, damaged or hostile fragment gets a clear message and nothing runs", async () => {
  const cases = [
    [fragment('{"v":99,"tab":"tensors"}'), /newer QuantLens \(view state version 99/],
    ["#s=%%%not-base64", /damaged \(not base64url\)/],
    [fragment("<img src=x onerror=alert(1)>"), /damaged \(not JSON\)/],
    [fragment('{"v":1,"tab":"file","file":"<img src=x onerror=alert(1)>"}'), /This link opens a view of <img src=x onerror=alert\(1\)>: drop the same files/],
    ["#s=" + "A".repeat(9000), /more than the 8192/],
  ];
  for (const [hash, want] of cases) {
    const { page, errors } = await newPage();
    await page.goto(url + hash);
    await page.waitForSelector(".banner");
    assert.match(await page.textContent(".banner"), want, hash.slice(0, 60));
    assert.equal(await page.$("img[src=x]"), null, "markup in a fragment is text, never rendered");
    // The app still works: the example loads.
    await page.click("#load-example");
    await page.waitForSelector(".finding", { timeout: 30000 });
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test("the run's intent and a typed scale travel with the link and are applied once the files are back", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await dropDumps(page);
  await page.waitForSelector(".summary", { timeout: 20000 });
  await page.selectOption("#intent", "int16");
  await page.waitForFunction(() => location.hash.length > 3);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  const row = page.locator('tr[data-pair="Add@0"]');
  await row.locator("input.scale").fill("0.05");
  await row.locator("input.scale").press("Enter");
  await row.locator(".split-bar").waitFor({ timeout: 20000 });
  const split = await row.locator(".split-bar").getAttribute("title");
  await page.waitForTimeout(200);
  const link = page.url();

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page: other, errors: otherErrors } = await newPage(ctx);
  await other.goto(link);
  await other.waitForSelector(".dropzone");
  await dropDumps(other);
  const orow = other.locator('tr[data-pair="Add@0"]');
  await orow.locator(".split-bar").waitFor({ timeout: 30000 });
  assert.equal(await orow.locator(".split-bar").getAttribute("title"), split);
  assert.equal(await other.inputValue("#intent"), "int16");
  assert.deepEqual(otherErrors, []);
  await ctx.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test("a link written by an older QuantLens (view state version 1) still opens its view", async () => {
  const { page, errors } = await newPage();
  // Version 1 had no `run`; the file is named as the example names it.
  await page.goto(url + fragment('{"v":1,"tab":"file","file":"example/horizon_quant_analysis/compare_per_layer_out.txt","grid":{"text":"decoder"}}'));
  await page.waitForSelector(".banner");
  await page.click("#load-example");
  await page.waitForFunction(() => document.querySelector("button.tab.active")?.title === "example/horizon_quant_analysis/compare_per_layer_out.txt", null, { timeout: 30000 });
  assert.equal(await page.inputValue("input.search"), "decoder");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a link survives a drag that is cancelled, and finds its file when the files come without their folder", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  await page.click('button.tab[title$="compare_per_layer_out.txt"]');
  await page.waitForSelector("input.search");
  await page.type("input.search", "decoder", { delay: 10 });
  await page.waitForFunction(() => location.hash.length > 3);
  const link = page.url();

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page: other, errors: otherErrors } = await newPage(ctx);
  await other.goto(link);
  await other.waitForSelector(".dropzone");
  // A drag over the page, then cancelled: the address keeps the link.
  await other.evaluate(() => {
    const dt = new DataTransfer();
    document.querySelector(".app").dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: dt }));
    document.querySelector(".app").dispatchEvent(new DragEvent("dragleave", { bubbles: true, cancelable: true, dataTransfer: dt }));
  });
  await other.waitForTimeout(300);
  assert.equal(other.url(), link);
  // The same files picked one by one (no folder in their names): the view opens.
  const dir = join(repo, "www", "examples");
  await other.setInputFiles('input[aria-label="Open files"]', [
    join(dir, "model_check_result.txt"),
    join(dir, "horizon_quant_analysis", "compare_per_layer_out.txt"),
    join(dir, "horizon_quant_analysis", "output_0_L1_sensitive_ops.txt"),
    join(dir, "horizon_quant_analysis", "abnormal_layer_advisor.txt"),
  ]);
  await other.waitForFunction(() => document.querySelector("button.tab.active")?.title === "compare_per_layer_out.txt", null, { timeout: 30000 });
  assert.equal(await other.inputValue("input.search"), "decoder");
  assert.deepEqual(otherErrors, []);
  await ctx.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test("back and forward restore the run's intent in the select", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  await page.selectOption("#intent", "int8");
  await page.waitForFunction(() => location.hash.length > 3);
  await page.click('button.tab[title$="compare_per_layer_out.txt"]');
  await page.waitForSelector("input.search");
  await page.goBack(); // Overview, still all-int8
  await page.goBack(); // before the intent
  await page.waitForFunction(() => document.querySelector("#intent").value === "unstated", null, { timeout: 20000 });
  await page.goForward();
  await page.waitForFunction(() => document.querySelector("#intent").value === "int8", null, { timeout: 20000 });
  await page.goForward();
  await page.waitForFunction(() => document.querySelector("button.tab.active")?.title.endsWith("compare_per_layer_out.txt"), null, { timeout: 20000 });
  assert.equal(await page.inputValue("#intent"), "int8");
  assert.deepEqual(errors, []);
  await page.close();
});
