// End-to-end: exports of everything. Every table downloads as CSV and JSON with exactly the rows
// shown (filtered and sorted) and the columns shown; every figure as SVG (standalone: it parses,
// declares its namespace and carries its styles) and PNG (2×); every layer name can be copied.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, dropPaths } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const real = join(repo, "tests", "fixtures", "real");
let browser, server, url;
before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});
after(async () => { await browser?.close(); server?.close(); });

async function newPage(context) {
  const page = await (context ?? browser).newPage({ viewport: { width: 1440, height: 1000 }, acceptDownloads: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  return { page, errors };
}

/** Click and return the download: its suggested file name and its bytes. */
async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  return { name: dl.suggestedFilename(), bytes: await readFile(await dl.path()) };
}

/** RFC 4180 CSV → rows of fields (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n") { row.push(field); rows.push(row); row = []; field = ""; }
    else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** The same value shown and exported: text exactly, numbers to the precision shown. */
function sameCell(shown, exported) {
  if (shown === exported) return true;
  const a = Number(shown), b = Number(exported);
  if (shown === "" || Number.isNaN(a) || Number.isNaN(b)) return false;
  return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)) || Math.abs(a - b) <= 1e-4 * Math.abs(b);
}

/** PNG signature and IHDR size. */
function pngSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  assert.equal(bytes.subarray(12, 16).toString("latin1"), "IHDR");
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

/** Parse an SVG text in the page: root name and namespace, parse errors, counts of elements, styles. */
function inspectSvg(page, text) {
  return page.evaluate((text) => {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    const count = (sel) => root.querySelectorAll(sel).length;
    return {
      error: doc.querySelector("parsererror")?.textContent ?? null,
      name: root.localName, ns: root.namespaceURI,
      width: Number(root.getAttribute("width")), height: Number(root.getAttribute("height")),
      polylines: count("polyline"), rects: count("rect"), texts: count("text"), circles: count("circle"),
      title: root.querySelector(":scope > title")?.textContent ?? null,
      styled: [...root.querySelectorAll("rect, polyline, text")].every((e) => /fill:/.test(e.getAttribute("style") ?? "")),
      firstFill: root.querySelector("rect")?.getAttribute("style")?.match(/(?:^|;)fill:([^;]+)/)?.[1] ?? null,
    };
  }, text);
}

test("the layer grid, a model-check table, the sensitivity ops and the int16 list export as shown", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });

  // The layer grid: filtered by name, sorted by Cosine (worst first), the default columns.
  await page.click('button.tab[title$="compare_per_layer_out.txt"]');
  await page.waitForSelector("tr.grid-row");
  await page.fill('input[aria-label="Filter rows"]', "QuantStub");
  await page.locator("th.sortable", { hasText: "Cosine" }).click();
  const count = await page.textContent(".layers-view .count");
  const [shownN, totalN] = count.match(/(\d+) of (\d+)/).slice(1).map(Number);
  assert.ok(shownN > 3 && shownN < 30 && shownN < totalN, count);
  const headers = (await page.locator("table.grid th").allTextContents()).map((h) => h.replace(/ [▲▼]$/, ""));
  const shown = await page.$$eval("tr.grid-row", (rows) => rows.map((r) => [...r.cells].map((c) => c.title)));
  assert.equal(shown.length, shownN, "every filtered row is drawn (few enough for the virtual grid)");

  const csv = await download(page, ".layers-view .csv-rows");
  assert.equal(csv.name, "compare_per_layer_out.filtered.csv");
  const rows = parseCsv(csv.bytes.toString("utf8"));
  assert.deepEqual(rows[0], headers);
  assert.equal(rows.length - 1, shownN);
  rows.slice(1).forEach((r, i) => r.forEach((v, j) => assert.ok(sameCell(shown[i][j], v), `row ${i} ${headers[j]}: shown ${shown[i][j]}, exported ${v}`)));

  const json = await download(page, ".layers-view .json-rows");
  assert.equal(json.name, "compare_per_layer_out.filtered.json");
  const objs = JSON.parse(json.bytes.toString("utf8"));
  assert.equal(objs.length, shownN);
  assert.deepEqual(Object.keys(objs[0]), headers);
  assert.deepEqual(objs.map((o) => o.mod_name), shown.map((r) => r[headers.indexOf("mod_name")]));
  assert.equal(typeof objs[0].Cosine, "number", "numbers are numbers");
  assert.equal(typeof objs[0]["#"], "number");
  const cos = objs.map((o) => o.Cosine).filter((c) => typeof c === "number");
  assert.deepEqual(cos, [...cos].sort((a, b) => a - b), "sorted as shown");

  // A chart along layer order as SVG: standalone, with its line and its styles.
  const svg = await download(page, ".chart:first-child .export-svg");
  assert.match(svg.name, /^compare_per_layer_out\.Cosine\.svg$/);
  const s = await inspectSvg(page, svg.bytes.toString("utf8"));
  assert.equal(s.error, null, s.error);
  assert.equal(s.name, "svg");
  assert.equal(s.ns, "http://www.w3.org/2000/svg");
  assert.equal(s.polylines, 1);
  assert.match(s.title ?? "", /^Cosine along layer order \(\d+ rows\), example\/horizon_quant_analysis\/compare_per_layer_out\.txt$/, "the file says what it shows");
  assert.match(svg.bytes.toString("utf8"), /stroke:\s*rgb\(/, "the stylesheet's stroke is inlined");

  // A row's range picture as SVG and PNG (2× its drawn size).
  await page.locator("tr.grid-row").first().click();
  await page.waitForSelector(".detail svg.range-picture");
  const drawn = await page.$eval(".detail svg.range-picture", (e) => {
    const r = e.getBoundingClientRect();
    return { w: Math.round(r.width), h: Math.round(r.height), rects: e.querySelectorAll("rect").length, texts: e.querySelectorAll("text").length };
  });
  const pic = await download(page, ".detail .figure .export-svg");
  assert.match(pic.name, /^compare_per_layer_out\.range_picture\.row_\d+\.svg$/);
  const p = await inspectSvg(page, pic.bytes.toString("utf8"));
  assert.equal(p.error, null, p.error);
  assert.deepEqual([p.width, p.height, p.rects, p.texts], [drawn.w, drawn.h, drawn.rects, drawn.texts]);
  assert.ok(p.styled, "every shape carries its fill");
  assert.equal(p.firstFill, "rgb(91, 127, 217)", "the float bar's colour from the stylesheet");
  const png = await download(page, ".detail .figure .export-png");
  assert.equal(png.name, pic.name.replace(/\.svg$/, ".png"));
  assert.deepEqual(pngSize(png.bytes), [drawn.w * 2, drawn.h * 2]);

  // A model-check table, searched: the rows of every page that match.
  await page.click('button.tab[title$="model_check_result.txt"]');
  await page.waitForSelector(".check-view .data-table");
  const table = page.locator("#tbl-layers .data-table");
  const all = Number((await table.locator(".count").textContent()).match(/of (\d+)/)[1]);
  await table.locator("input.search").fill("qint8");
  const tcount = await table.locator(".count").textContent();
  const matched = Number(tcount.match(/rows \d+–\d+ of (\d+)/)?.[1] ?? 0);
  assert.ok(matched < all, `${tcount} (of ${all})`);
  assert.ok(matched > 0, tcount);
  const shownCells = await table.locator("tbody tr").evaluateAll((rows) => rows.map((r) => [...r.cells].slice(0, -1).map((c) => { const k = c.cloneNode(true); k.querySelectorAll(".copy-name").forEach((x) => x.remove()); return k.textContent.replace(/\u200b/g, ""); })));
  const [dl] = await Promise.all([page.waitForEvent("download"), table.locator(".json-table").click()]);
  assert.match(dl.suggestedFilename(), /^model_check_result\.layers\.filtered\.json$/);
  const trows = JSON.parse(await readFile(await dl.path(), "utf8"));
  assert.equal(trows.length, matched);
  for (const [i, cells] of shownCells.entries()) {
    const values = Object.values(trows[i]).slice(0, -1).map((v) => (v === null ? "" : String(v)));
    cells.forEach((c, j) => assert.ok(sameCell(c, values[j]), `table row ${i} col ${j}: shown ${c}, exported ${values[j]}`));
  }
  const [dlc] = await Promise.all([page.waitForEvent("download"), table.locator(".csv-table").click()]);
  assert.equal(parseCsv(await readFile(await dlc.path(), "utf8")).length - 1, matched);

  // The sensitivity ops of the bar chart.
  await page.click('button.tab[title$="sensitive_ops.txt"]');
  await page.waitForSelector(".sbar");
  const ops = await page.$$eval(".sbar", (b) => b.map((x) => x.dataset.op));
  const sens = await download(page, ".sens-view .json-sens");
  assert.match(sens.name, /^output_0_L1_sensitive_ops\.ops(\.filtered)?\.json$/);
  assert.deepEqual(JSON.parse(sens.bytes.toString("utf8")).map((o) => o.op_name), ops);
  // The bars (drawn in HTML) as a standalone SVG and PNG written by the engine: one bar per op.
  const bars = await download(page, ".sens-view .export-svg");
  assert.match(bars.name, /^output_0_L1_sensitive_ops\.bars\.svg$/);
  const b = await inspectSvg(page, bars.bytes.toString("utf8"));
  assert.equal(b.error, null, b.error);
  assert.equal(b.rects, 2 * ops.length);
  const bpng = await download(page, ".sens-view .export-png");
  assert.deepEqual(pngSize(bpng.bytes), [b.width * 2, b.height * 2]);

  // Mixed precision: the int16 list and the Pareto chart.
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  await page.waitForSelector(".recommend-view");
  await page.locator("#ratio-slider").fill("3");
  const picks = await page.$$eval(".int16-list li code", (c) => c.map((x) => x.textContent.replace(/\u200b/g, "")));
  assert.ok(picks.length >= 1);
  const int16 = await download(page, ".recommend-view .csv-int16");
  assert.match(int16.name, /mixed_precision\.int16\.csv$/);
  const irows = parseCsv(int16.bytes.toString("utf8"));
  assert.deepEqual(irows.slice(1).map((r) => r[irows[0].indexOf("name")]), picks);
  const pareto = await download(page, ".pareto-wrap .export-svg");
  const ps = await inspectSvg(page, pareto.bytes.toString("utf8"));
  assert.equal(ps.error, null, ps.error);
  assert.ok(ps.polylines >= 1 && ps.circles >= 1 && ps.texts >= 4, JSON.stringify(ps));
  const ppng = await download(page, ".pareto-wrap .export-png");
  const [pw, ph] = pngSize(ppng.bytes);
  assert.deepEqual([pw, ph], [ps.width * 2, ps.height * 2]);
  assert.deepEqual(errors, []);
  await page.close();
});

async function dropRun(page, run) {
  await dropPaths(page, ["float.npz", "quant.npz", "scales.json"].map((f) => [`${run}/${f}`, join(real, run, f)]));
}

test("the tensor pairs export in the order shown; a pair's histogram as PNG", async () => {
  const { page, errors } = await newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await dropRun(page, "ort_int8");
  await page.waitForSelector(".summary", { timeout: 60000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  await page.waitForSelector("table.pairs tbody tr");
  await page.click('th[data-sort="sqnr"]');
  // The table is virtualized: the rows drawn are the first of the order; the exports hold all 384.
  const order = await page.$$eval("table.pairs tbody tr[data-pair]", (r) => r.map((x) => x.dataset.pair));
  assert.ok(order.length > 10 && order.length < 60, `${order.length} rows drawn`);
  const json = await download(page, ".json-pairs");
  assert.equal(json.name, "tensor_pairs.json");
  const pairs = JSON.parse(json.bytes.toString("utf8"));
  assert.equal(pairs.length, 384);
  assert.deepEqual(pairs.map((p) => p.name).slice(0, order.length), order);
  // ∞ and NaN as everywhere in the app: strings in JSON.
  const expected = JSON.parse(await readFile(join(real, "expected.json"), "utf8"));
  const identical = expected.runs.ort_int8.identical_tensors[0];
  assert.equal(pairs.find((p) => p.name === identical).sqnr_db, "inf");
  assert.equal(typeof pairs.find((p) => p.name !== identical).cosine, "number");
  const csv = await download(page, ".csv-pairs");
  const rows = parseCsv(csv.bytes.toString("utf8"));
  assert.deepEqual(rows.slice(1).map((r) => r[0]), pairs.map((p) => p.name));

  await page.locator("table.pairs tbody tr").first().click();
  await page.waitForSelector(".pair-detail svg.hist");
  const drawn = await page.$eval(".pair-detail svg.hist", (e) => [Math.round(e.getBoundingClientRect().width), Math.round(e.getBoundingClientRect().height)]);
  const png = await download(page, ".pair-detail .hists .figure:first-of-type .export-png");
  assert.match(png.name, /\.histogram\.png$/);
  assert.deepEqual(pngSize(png.bytes), [drawn[0] * 2, drawn[1] * 2]);
  const svg = await download(page, ".pair-detail .hists .figure .export-svg");
  const s = await inspectSvg(page, svg.bytes.toString("utf8"));
  assert.equal(s.error, null, s.error);
  assert.ok(s.rects > 10 && s.styled, JSON.stringify(s));
  assert.deepEqual(errors, []);
  await page.close();
});

test("copy name on grid rows, findings' layer lists, sensitivity rows and the int16 list", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(url).origin });
  const { page, errors } = await newPage(ctx);
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  const clip = () => page.evaluate(() => navigator.clipboard.readText());

  // A finding's layer list.
  const card = page.locator(".finding details.layers").first();
  await card.locator("summary").click();
  const layer = (await card.locator("li code").first().textContent()).replace(/\u200b/g, "");
  await card.locator("li .copy-name button").first().click();
  await card.locator("li .copied").first().waitFor();
  assert.equal(await clip(), layer);

  // A grid row: the button shows on hover, copies the full name, and does not select the row.
  await page.click('button.tab[title$="compare_per_layer_out.txt"]');
  const row = page.locator("tr.grid-row").nth(2);
  await row.hover();
  const name = await row.locator("td.namecell").getAttribute("title");
  await row.locator("td.namecell .copy-name button").click();
  await row.locator(".copied").waitFor();
  assert.equal(await clip(), name);
  assert.equal(await page.locator("tr.grid-row.sel").count(), 0, "copying does not select the row");

  // A sensitivity row.
  await page.click('button.tab[title$="sensitive_ops.txt"]');
  const bar = page.locator(".sbar").nth(1);
  await bar.locator(".copy-name button").click();
  await bar.locator(".copied").waitFor();
  assert.equal(await clip(), await bar.getAttribute("data-op"));

  // The int16 list.
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  const pick = page.locator(".int16-list li").first();
  await pick.locator(".copy-name button").click();
  await pick.locator(".copied").waitFor();
  assert.equal(await clip(), (await pick.locator("code").textContent()).replace(/\u200b/g, ""));

  // A name cell of a parsed table (the model check's per-layer table).
  await page.click('button.tab[title$="model_check_result.txt"]');
  const cell = page.locator(".data-table td:has(.copy-name)").first();
  await cell.locator(".copy-name button").click();
  await cell.locator(".copied").waitFor();
  const text = await cell.evaluate((c) => { const k = c.cloneNode(true); k.querySelectorAll(".copy-name").forEach((x) => x.remove()); return k.textContent.replace(/\u200b/g, ""); });
  assert.equal(await clip(), text);
  assert.deepEqual(errors, []);
  await ctx.close();
});
