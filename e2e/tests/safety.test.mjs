// End-to-end: browser safety. Files whose names, folder paths and values (layer names in the
// comparison, sensitivity and model-check tables, tensor names in an npz, journal run names) carry
// HTML/JS, a view link (#s=) and a journal link (#j=) carrying the same: every tab is visited and the
// exported HTML report opened, and nothing runs, no element is injected, the names show as text.
// Then a full analysis with the service worker active makes no request beyond the build's own files.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { deflateRawSync } from "node:zlib";
import { chromium } from "playwright-core";
import { serve, launch, scratchDir, dropPaths } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let browser, server, url, tmp;

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
  tmp = await scratchDir("quantlens-safety-");
});
after(async () => {
  await browser?.close();
  server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// Markup and script in every form a value can carry. The table payloads have no spaces and no `|`
// (a table cell is split on them); names and folders also get the spaced forms.
const IMG = "<img/src=x/onerror=window.__pwned=1>";
const SCRIPT = "<script>window.__pwned=1</script>";
const JS = "javascript:window.__pwned=1";
const SVG = '"><svg/onload=window.__pwned=1>';
const IMG_SP = "<img src=x onerror=window.__pwned=1>";
const SVG_SP = '"><svg onload=window.__pwned=1>';

async function newPage(context) {
  const page = await (context ?? browser).newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("dialog", (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  return { page, errors };
}

/** What markup would have done: a flag, inline handlers, injected elements, `javascript:` links. */
const injected = (page) => page.evaluate(() => {
  const bad = [];
  if (window.__pwned !== undefined) bad.push("window.__pwned is set");
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) if (/^on/i.test(a.name)) bad.push(`<${el.tagName} ${a.name}>`);
    if (el.tagName === "IMG" && el.getAttribute("src") === "x") bad.push("<img src=x>");
    if (/^\s*javascript:/i.test(el.getAttribute("href") ?? "") || /^\s*javascript:/i.test(el.getAttribute("src") ?? "")) bad.push(`<${el.tagName} javascript:>`);
    if (el.tagName === "SCRIPT" && el.textContent.includes("__pwned")) bad.push("<script> with the payload");
  }
  return bad;
});

/** The page's text with the soft breaks (wbr, zero-width spaces) removed. */
const pageText = (page) => page.evaluate(() => document.body.textContent.replace(/\u200b/g, ""));

// --- Hostile files, built from real fixtures ---

const CRC = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
const crc32 = (b) => { let c = ~0; for (const x of b) c = CRC[(c ^ x) & 255] ^ (c >>> 8); return ~c >>> 0; };

/** A float32 .npy of `values`. */
function npy(values) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${values.length},), }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const h = Buffer.alloc(10);
  Buffer.from("\x93NUMPY", "latin1").copy(h);
  h[6] = 1; h[7] = 0; h.writeUInt16LE(header.length, 8);
  return Buffer.concat([h, Buffer.from(header, "latin1"), Buffer.from(new Float32Array(values).buffer)]);
}

/** An .npz (a stored zip) with one member per [tensor name, values]. */
function npz(tensors) {
  const locals = [], centrals = [];
  let offset = 0;
  for (const [name, values] of tensors) {
    const data = npy(values), fname = Buffer.from(name + ".npy"), crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18); lh.writeUInt32LE(data.length, 22); lh.writeUInt16LE(fname.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(fname.length, 28); ch.writeUInt32LE(offset, 42);
    locals.push(lh, fname, data);
    centrals.push(ch, fname);
    offset += 30 + fname.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(tensors.length, 8); end.writeUInt16LE(tensors.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const replaceWord = (text, word, by) => text.replace(new RegExp(`(?<=^|[\\s|])${word.replace(/[.[\]()]/g, "\\$&")}(?=$|[\\s|(\\[])`, "g"), by);

/** Rename layers in a report: in its pipe tables (cells split on `|`) and its simple tables (columns
 * under dashes: the first column is widened so that the longer names stay aligned). */
function renameLayers(text, map) {
  const sub = (s) => Object.entries(map).reduce((t, [w, by]) => replaceWord(t, w, by), s);
  const lines = text.split("\n").map((l) => (l.startsWith("|") ? sub(l) : l));
  for (let i = 1; i < lines.length; i++) {
    if (!/^-+( +-+)+\s*$/.test(lines[i])) continue;
    const w = lines[i].indexOf(" ");
    let end = i + 1;
    while (end < lines.length && lines[end].trim()) end++;
    const names = lines.slice(i + 1, end).map((l) => sub(l.slice(0, w).trim()));
    const width = Math.max(w, ...names.map((n) => n.length + 2));
    lines[i - 1] = lines[i - 1].slice(0, w).trimEnd().padEnd(width) + lines[i - 1].slice(w);
    lines[i] = "-".repeat(width) + lines[i].slice(w);
    for (let j = i + 1; j < end; j++) lines[j] = names[j - i - 1].padEnd(width) + lines[j].slice(w);
  }
  return lines.join("\n");
}

/** The hostile files: [name as dropped, path of a file written under tmp]. */
async function hostileFiles() {
  const qa = join(repo, "tests", "fixtures", "horizon", "qa-small");
  const rename = (t) => renameLayers(t, { quant: IMG, conv: SCRIPT, bn: JS, add2: SVG });
  const check = (t) => renameLayers(t, { "head.fc": IMG, "aux_head.fc": SCRIPT, shared_conv: SVG });
  const folder = `${IMG_SP}/${SVG_SP}`;
  const out = [];
  const put = async (name, bytes) => {
    const p = join(tmp, `f${out.length}`);
    await writeFile(p, bytes);
    out.push([name, p]);
  };
  await put(`${folder}/compare_per_layer_out.txt`, rename(await readFile(join(qa, "compare_per_layer_out.txt"), "utf8")));
  await put(`${folder}/output_0_L1_sensitive_ops.txt`, rename(await readFile(join(qa, "output_0_L1_sensitive_ops.txt"), "utf8")));
  await put(`${folder}/model_check_result.txt`, check(await readFile(join(repo, "tests", "fixtures", "horizon", "s11-full", "model_check_result.txt"), "utf8")));
  // Tensor names in an npz pair (in a folder named with markup too).
  const values = Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
  const quant = values.map((v) => Math.round(v * 20) / 20);
  const names = [IMG, SCRIPT, JS, SVG];
  await put(`${SVG_SP}/float.npz`, npz(names.map((n) => [n, values])));
  await put(`${SVG_SP}/quant.npz`, npz(names.map((n) => [n, quant])));
  // A journal whose run names, note, changed ops and metric carry it.
  await put(`${IMG_SP} journal.json`, JSON.stringify(hostileJournal()));
  // A file that is not read, named with markup: its name is in the "not read" message.
  await put(`${SCRIPT}.txt`, "just some notes\n");
  return out;
}

function hostileJournal() {
  return {
    format: "quantlens.journal", version: 1, allowed_loss_pct: 1.0,
    metrics: [{ branch: SVG, metric: "mAP", lower_is_better: false }],
    runs: [
      { id: "h-1", name: `float ${IMG}`, created_ms: 1700000000000, updated_ms: 1700000000000, stage: "float", precision: "unstated",
        int16_ratio_pct: null, changed_ops: [], note: JS, accuracy: [{ branch: SVG, metric: "mAP", value: 70 }], files: [], summary: null },
      { id: "h-2", name: `int8 ${SCRIPT}`, created_ms: 1700086400000, updated_ms: 1700086400000, stage: "calibration", precision: "all_int8",
        int16_ratio_pct: null, changed_ops: [SVG, IMG], note: SCRIPT, accuracy: [{ branch: SVG, metric: "mAP", value: 60 }], files: [], summary: null },
    ],
  };
}

test("markup in file names, folders, table cells, tensor names, journal runs and links is text, never run", async () => {
  const files = await hostileFiles();
  const compareName = files[0][0];
  // A view link naming the hostile file, filter, finding kind, pair, sort, mix run and sides.
  const state = {
    v: 2, tab: "file", file: compareName,
    grid: { text: IMG, sort: [SCRIPT, true], columns: ["mod_name", "cosine", JS] },
    mix: { run: SVG, sensitive_type: IMG }, pairs: { pair: 0, name: SCRIPT, sort: [IMG, false] },
    run: { sides: { [`${SVG_SP}/float.npz`]: "float" }, scales: { [IMG]: [0.05, null] }, pairs: [[JS, SVG]] },
  };
  const link = url + "#s=" + deflateRawSync(Buffer.from(JSON.stringify(state))).toString("base64url");
  const { page, errors } = await newPage();
  await page.goto(link);
  await page.waitForSelector(".banner");
  assert.ok((await page.textContent(".banner")).replace(/\u200b/g, "").includes(`This link opens a view of ${compareName}`));
  assert.deepEqual(await injected(page), []);

  await dropPaths(page, files);
  // The link's view opens on the hostile file, with the hostile filter as the input's value.
  await page.waitForFunction((f) => document.querySelector("button.tab.active")?.title === f, compareName, { timeout: 30000 });
  assert.equal(await page.inputValue('input[aria-label="Filter rows"]'), IMG);
  await page.waitForSelector("table.grid tbody tr:not(.spacer)", { timeout: 10000 }).catch(async () => {
    throw new Error(`no row: ${await page.textContent(".layers-view")}`);
  });
  await page.locator("table.grid tbody tr:not(.spacer)").first().click();
  await page.waitForSelector(".detail");
  assert.ok((await page.textContent(".detail")).replace(/\u200b/g, "").includes(IMG), "the row's name shows as text");
  assert.deepEqual(await injected(page), []);

  // Every tab, and in each the first row or pair opened where there is one.
  const tabs = await page.locator("button.tab").count();
  assert.ok(tabs >= 6, `${tabs} tabs`);
  const text = new Set();
  for (let i = 0; i < tabs; i++) {
    await page.locator("button.tab").nth(i).click();
    await page.waitForFunction((i) => document.querySelectorAll("button.tab")[i]?.classList.contains("active"), i);
    for (const sel of ["table.grid tbody tr:not(.spacer)", "table.pairs tbody tr", ".sbar button.link"]) {
      const first = page.locator(sel).first();
      if (await first.isVisible().catch(() => false)) { await first.click(); break; }
    }
    await page.waitForTimeout(100);
    assert.deepEqual(await injected(page), [], `tab ${i}: ${await page.locator("button.tab").nth(i).getAttribute("title")}`);
    text.add(await pageText(page));
  }
  const all = [...text].join("\n");
  for (const s of [IMG, SCRIPT, JS, SVG, IMG_SP, SVG_SP, `float ${IMG}`, `int8 ${SCRIPT}`]) assert.ok(all.includes(s), `${s} shows as text`);
  // The file not read is listed under its full name, with the reason.
  await page.locator("button.tab").first().click();
  const notRead = page.locator("ul.files > li.file", { has: page.locator(`.fname[title="${SCRIPT}.txt"]`) });
  assert.match(await notRead.textContent(), /Not read: not a format QuantLens knows/);

  // The exported HTML report (names and data inside one file), opened from disk: the same.
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const { page: exporter, errors: exportErrors } = await newPage(ctx);
  await exporter.goto(link);
  await exporter.waitForSelector(".banner");
  await dropPaths(exporter, files);
  await exporter.waitForFunction((f) => document.querySelector("button.tab.active")?.title === f, compareName, { timeout: 30000 });
  const [download] = await Promise.all([exporter.waitForEvent("download"), exporter.click("#export-report")]);
  const report = join(tmp, "report.html");
  await download.saveAs(report);
  assert.deepEqual(exportErrors, []);
  await ctx.close();
  const off = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await off.setOffline(true);
  const { page: rep, errors: repErrors } = await newPage(off);
  await rep.goto("file://" + report);
  await rep.waitForFunction((f) => document.querySelector("button.tab.active")?.title === f, compareName, { timeout: 30000 });
  const repTabs = await rep.locator("button.tab").count();
  for (let i = 0; i < repTabs; i++) {
    await rep.locator("button.tab").nth(i).click();
    await rep.waitForTimeout(50);
    assert.deepEqual(await injected(rep), [], `report tab ${i}`);
  }
  assert.ok((await pageText(rep)).includes(IMG_SP));
  assert.deepEqual(repErrors, []);
  await off.close();

  // A journal link carrying the same: the runs show, named as written.
  const jctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page: jp, errors: jErrors } = await newPage(jctx);
  const jlink = url + "#j=" + deflateRawSync(Buffer.from(JSON.stringify({ v: 1, journal: hostileJournal() }))).toString("base64url");
  await jp.goto(jlink);
  await jp.waitForFunction(() => document.querySelectorAll("#journal-table th.run").length === 2, null, { timeout: 30000 });
  const jt = (await jp.textContent("#journal-table")).replace(/\u200b/g, "");
  assert.ok(jt.includes(`float ${IMG}`) && jt.includes(`int8 ${SCRIPT}`), jt);
  assert.deepEqual(await injected(jp), []);
  assert.deepEqual(jErrors, []);
  await jctx.close();

  assert.deepEqual(errors, []);
  await page.close();
});

test("a full analysis with the service worker active requests nothing beyond the build's own files", async () => {
  // A private copy of the build on its own origin (its own service worker and cache).
  const root = await scratchDir("quantlens-net-");
  await cp(join(repo, "dist"), root, { recursive: true });
  const site = await serve(root);
  try {
    const own = new Set([site.url, site.url + "sw.js", site.url + "index.html"]);
    for (const m of (await readFile(join(root, "sw.js"), "utf8")).matchAll(/^  \["([^"]+)", "[0-9a-f]{64}"\],$/gm)) own.add(site.url + m[1]);
    assert.ok(own.size > 10);
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    // Every request: the page's, its workers' and the service worker's (context events), and what
    // reaches the network past the service worker (context routing).
    const seen = [];
    ctx.on("request", (r) => seen.push(["context", r.url()]));
    await ctx.route("**/*", (route) => { seen.push(["route", route.request().url()]); return route.continue(); });
    const { page, errors } = await newPage(ctx);
    page.on("request", (r) => seen.push(["page", r.url()]));
    const workers = [];
    page.on("worker", (w) => workers.push(w.url()));
    await page.goto(site.url);
    await page.waitForSelector(".dropzone");
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller) {
        await new Promise((ok) => navigator.serviceWorker.addEventListener("controllerchange", ok, { once: true }));
      }
    });
    // Loaded again under the service worker: every request of the run now goes through it.
    await page.reload();
    await page.waitForSelector(".dropzone");
    assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller));

    // A real run folder: dumps, scales.json and the QuantAnalysis reports.
    const real = join(repo, "tests", "fixtures", "real", "ort_int8");
    const files = [["ort_int8/float.npz", join(real, "float.npz")], ["ort_int8/quant.npz", join(real, "quant.npz")], ["ort_int8/scales.json", join(real, "scales.json")]];
    for (const f of (await readdir(join(real, "horizon_quant_analysis"))).sort()) files.push([`ort_int8/horizon_quant_analysis/${f}`, join(real, "horizon_quant_analysis", f)]);
    await dropPaths(page, files);
    await page.waitForSelector(".summary", { timeout: 60000 });
    // Compare a tensor pair (its detail: histograms, what-if), then every tab.
    await page.locator(".tab", { hasText: "Tensors" }).click();
    await page.locator("table.pairs tbody tr").first().click();
    await page.waitForSelector(".pair-detail", { timeout: 30000 });
    const tabs = await page.locator("button.tab").count();
    for (let i = 0; i < tabs; i++) {
      await page.locator("button.tab").nth(i).click();
      await page.waitForFunction((i) => document.querySelectorAll("button.tab")[i]?.classList.contains("active"), i);
    }
    // Exports: the HTML report, a CSV, the digest link.
    const [report] = await Promise.all([page.waitForEvent("download"), page.click("#export-report")]);
    assert.match(report.suggestedFilename(), /\.html$/);
    await page.locator(".tab", { hasText: "Tensors" }).click();
    const [csv] = await Promise.all([page.waitForEvent("download"), page.click("button.csv-pairs")]);
    assert.match(csv.suggestedFilename(), /\.csv$/);
    await page.click("#digest-link");
    await page.waitForSelector("#digest-url");
    await page.waitForTimeout(500);

    assert.ok(workers.length >= 1, "the analysis ran in a worker");
    const foreign = seen.filter(([, u]) => !own.has(u.split("#")[0]) && !u.startsWith("blob:") && !u.startsWith("data:"));
    assert.deepEqual(foreign, [], "only the build's own files are requested");
    assert.ok(seen.some(([k, u]) => k === "context" && u.endsWith("worker_bg.wasm")), "the worker's requests are seen");
    console.log(`# zero-network run: ${seen.length} request events (${new Set(seen.map(([, u]) => u)).size} URLs, all the build's own), workers: ${workers.length}`);
    assert.deepEqual(errors, []);
    await ctx.close();
  } finally {
    site.server.close();
    await rm(root, { recursive: true, force: true });
  }
});
