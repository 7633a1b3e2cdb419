// End-to-end on real runs: PP-OCR's recognizer quantized by ONNX Runtime at int8 and int16
// (scripts/gen_real_runs.py, tests/fixtures/real/), dropped as a user drops a run folder. Each test
// pins a defect of the "Right on real runs" issue in the browser, where it was seen.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, dropPaths as drop } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const real = join(repo, "tests", "fixtures", "real");
let browser, server, url;
before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});
after(async () => { await browser?.close(); server?.close(); });

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  return { page, errors };
}

/** Files of a run folder, named as a folder drop names them (`ort_int8/float.npz`). */
async function runFiles(run, { dumps = true, reports = true } = {}) {
  const out = [];
  if (dumps) for (const f of ["float.npz", "quant.npz", "scales.json"]) out.push([`${run}/${f}`, join(real, run, f)]);
  if (reports) {
    for (const f of (await readdir(join(real, run, "horizon_quant_analysis"))).sort()) {
      out.push([`${run}/horizon_quant_analysis/${f}`, join(real, run, "horizon_quant_analysis", f)]);
    }
  }
  return out;
}


/** As a user keeps them, under `prefix`: the float model's dumps once (`fp32 dumps/`), and each
 * quantized run of the real ORT runs in its own folder (`int8 run/`, `int16 run/`) with its scales. */
function sharedFloatRuns(prefix = "") {
  return [
    [`${prefix}fp32 dumps/float.npz`, join(real, "ort_int8", "float.npz")],
    ...["int8", "int16"].flatMap((q) => ["quant.npz", "scales.json"].map((f) => [`${prefix}${q} run/${f}`, join(real, `ort_${q}`, f)])),
  ];
}

/** Scroll the virtualized pairs table until the row of pair `name` is drawn. */
async function showPair(page, name) {
  const found = await page.evaluate(async (name) => {
    const box = document.querySelector(".pairs-vt");
    const row = () => [...document.querySelectorAll("table.pairs tr[data-pair]")].find((r) => r.dataset.pair === name);
    for (let y = 0; y <= box.scrollHeight; y += 240) {
      box.scrollTop = y;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      await new Promise((r) => setTimeout(r, 20));
      if (row()) { row().scrollIntoView({ block: "center" }); return true; }
    }
    return false;
  }, name);
  assert.ok(found, `pair ${name} drawn when scrolled to`);
}

test("a real int8 run: identical and one-element tensors, sides from file names, scales.json", async () => {
  const { page, errors } = await newPage();
  await drop(page, await runFiles("ort_int8", { reports: false }));
  await page.waitForSelector(".summary", { timeout: 60000 });
  assert.equal(await page.$(".banner"), null, "no error banner");
  await page.locator(".tab", { hasText: "Tensors" }).click();
  assert.match(await page.textContent('.tab:has-text("Tensors")'), /384 pairs/);
  // 384 pairs, a bounded DOM: the table draws the rows in view (virtualized).
  assert.equal(await page.getAttribute("table.pairs", "data-rows"), "384");
  const drawn = await page.locator("table.pairs tbody tr[data-pair]").count();
  assert.ok(drawn > 10 && drawn < 60, `${drawn} rows drawn`);
  // float.npz is the float side even inside a folder named ort_int8.
  const sideOf = (name) => page.locator(`select[aria-label="side of ${name}"]`).inputValue();
  assert.equal(await sideOf("ort_int8/float.npz"), "float");
  assert.equal(await sideOf("ort_int8/quant.npz"), "quant");
  // Identical tensors: SQNR ∞ with its meaning; the scales came from scales.json (error split shown).
  const expected = JSON.parse(await readFile(join(real, "expected.json"), "utf8"));
  const identical = expected.runs.ort_int8.identical_tensors[0];
  await showPair(page, identical);
  const cell = page.locator(`tr[data-pair="${identical}"] td`).nth(3);
  assert.equal(await cell.textContent(), "∞");
  assert.match(await cell.getAttribute("title"), /no error/);
  const one = expected.runs.ort_int8.one_element_tensors_natural[0];
  await showPair(page, one);
  assert.equal(await page.locator(`tr[data-pair="${one}"]`).count(), 1, "the one-element pair is listed");
  // Scrolled to the end, the rows drawn are still bounded, and the last pair is there.
  await page.$eval(".pairs-vt", (b) => { b.scrollTop = b.scrollHeight; });
  await page.waitForFunction(() => document.querySelector("table.pairs tbody tr[data-pair]:last-of-type")
    ?.nextElementSibling === null);
  assert.ok(await page.locator("table.pairs tbody tr[data-pair]").count() < 60);
  // The CSV export keeps ∞ and NaN as numpy reads them.
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("button.csv-pairs")]);
  const csv = await readFile(await dl.path(), "utf8");
  const header = csv.split("\n")[0].split(",");
  const rowOf = (n) => csv.split("\n").find((l) => l.startsWith(n + ",")).split(",");
  assert.equal(rowOf(identical)[header.indexOf("sqnr_db")], "inf");
  assert.equal(rowOf(one)[header.indexOf("base_var")], "nan");
  const scaled = csv.trim().split("\n").slice(1).filter((l) => l.split(",")[header.indexOf("scale")] !== "");
  assert.ok(scaled.length > 300, `scales.json gave the scales (${scaled.length} pairs with a scale)`);
  // The pairs table sorts: SQNR worst first.
  await page.click('th[data-sort="sqnr"]');
  const sq = (await page.locator("table.pairs tbody tr td:nth-child(4)").allTextContents()).slice(0, 20)
    .map((t) => (t === "∞" ? Infinity : Number(t)));
  assert.deepEqual(sq, [...sq].sort((x, y) => x - y), `${sq}`);
  // Rows keep the height the virtualized table counts on (run chips and long names included).
  const heights = await page.$$eval("table.pairs tbody tr[data-pair]", (r) => [...new Set(r.map((x) => Math.round(x.getBoundingClientRect().height)))]);
  assert.deepEqual(heights, [30]);
  // A dump finding's "Show rows" opens its pair: drawn, selected and in view in the table, even
  // when the pair is far down the sorted order.
  await page.locator(".tab", { hasText: "Overview" }).first().click();
  const dumpFindings = page.locator('.finding[data-kind="truncation"]:has(button.evidence)');
  assert.ok(await dumpFindings.count() > 0);
  await dumpFindings.last().locator("button.evidence").click();
  await page.waitForSelector(".pair-detail");
  const opened = await page.getAttribute(".pair-detail", "data-detail");
  await page.waitForSelector(`table.pairs tr.sel[data-pair="${opened}"]`);
  const inView = await page.$eval(`table.pairs tr.sel[data-pair="${opened}"]`, (r) => {
    const b = r.closest(".pairs-vt").getBoundingClientRect(), q = r.getBoundingClientRect();
    return q.top >= b.top && q.bottom <= b.bottom;
  });
  assert.ok(inView, `${opened} is in the table's view`);
  assert.deepEqual(errors, []);
  await page.close();
});

test("triage on a real int8 report: sensitive ops lead, hardswish clips are harmless notes", async () => {
  const { page, errors } = await newPage();
  await drop(page, await runFiles("ort_int8", { dumps: false }));
  await page.waitForSelector(".top-ten", { timeout: 60000 });
  const top = await page.locator(".top-item").allTextContents();
  assert.match(top[0], /sensitive_ops/, top[0]);
  for (const t of top) assert.doesNotMatch(t, /harmless/, t);
  const reasons = await page.locator(".top-item .top-reason").allTextContents();
  assert.ok(reasons.every((r) => r.length > 0), `${reasons}`);
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  await page.waitForSelector(".ratio-readout");
  const readout = await page.textContent(".ratio-readout");
  assert.match(readout, /\(the knee\)/);
  const ratio = Number(/ratio ([\d.]+)/.exec(readout)[1]);
  assert.ok(ratio > 0 && ratio < 1, readout);
  // The error left reads from 100% (top) down: the curve starts at the top of the plot.
  const first = (await page.getAttribute("svg.pareto polyline.ops", "points")).split(" ")[0].split(",").map(Number);
  assert.ok(Math.abs(first[1] - 10) < 0.5, `first point ${first}`);
  const sel = Number(await page.getAttribute("svg.pareto circle.sel", "cy"));
  const left = Number(/([\d.]+)% of the single-op error left/.exec(readout)[1]);
  assert.ok(Math.abs(sel - (170 - left * 1.6)) < 0.6, `marker ${sel} vs readout ${left}%`);
  assert.match(await page.textContent(".recommend-view"), /Fixed-scale suggestions/);
  assert.doesNotMatch(await page.textContent(".recommend-view"), /Load compare_per_layer_out/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("two runs together: tabs say which run; an all-int16 table has nothing to do", async () => {
  const { page, errors } = await newPage();
  await drop(page, [...await runFiles("ort_int16", { dumps: false }), ...await runFiles("ort_int8", { dumps: false })]);
  await page.waitForSelector(".top-ten", { timeout: 60000 });
  const tabs = await page.locator(".tab").allTextContents();
  const layers = tabs.filter((t) => /^Layers · ort_int(8|16) \(384\)$/.test(t));
  assert.equal(layers.length, 2, `${tabs}`);
  // Each run's .txt and .csv are one table: no second Layers tab for the csv.
  assert.equal(tabs.filter((t) => t.startsWith("Layers")).length, 2, `${tabs}`);
  assert.notEqual(layers[0], layers[1]);
  // The top ten says which run each finding is from.
  const runs = await page.locator(".top-item .run-chip").allTextContents();
  assert.ok(runs.length >= 9 && runs.every((r) => /^ort_int(8|16)$/.test(r)), `${runs}`);
  assert.equal(await page.locator('nav.tabs[role="tablist"] [role="tab"][aria-selected="true"]').count(), 1);
  assert.deepEqual(errors, []);
  await page.close();
  const p2 = await newPage();
  await drop(p2.page, await runFiles("ort_int16", { dumps: false }));
  await p2.page.waitForSelector(".top-ten", { timeout: 60000 });
  await p2.page.locator(".tab", { hasText: "Mixed precision" }).click();
  assert.match(await p2.page.textContent(".ratio-readout"), /Nothing to do/);
  assert.deepEqual(p2.errors, []);
  await p2.page.close();
});

test("one float dump and two quantized runs: each run pairs every float tensor, a typed scale stays in its run", async () => {
  const { page, errors } = await newPage();
  // As a user keeps them: the float model's dumps once, each quantized run in its own folder.
  await drop(page, sharedFloatRuns());
  await page.waitForSelector(".summary", { timeout: 60000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  // 384 pairs in each run (the float dump paired twice), none left out.
  assert.equal(await page.getAttribute("table.pairs", "data-rows"), "768");
  assert.equal(await page.locator(".unpaired").count(), 0, "nothing listed as not paired");
  // Sorted by name, each name's two pairs are side by side, one per run.
  await page.click('th[data-sort="name"]');
  const rows = page.locator("table.pairs tbody tr[data-pair]");
  const [a, b] = [rows.nth(0), rows.nth(1)];
  assert.equal(await a.getAttribute("data-pair"), await b.getAttribute("data-pair"));
  const runOf = async (r) => r.locator(".run-chip").textContent();
  assert.deepEqual([await runOf(a), await runOf(b)].sort(), ["int16 run", "int8 run"]);
  const [r8, r16] = (await runOf(a)) === "int8 run" ? [a, b] : [b, a];
  const before16 = await r16.locator("input.scale").inputValue();
  assert.ok(Number(before16) > 0, `the int16 run's scale from its scales.json (${before16})`);
  // A scale typed in the int8 run's row changes that pair only.
  await r8.locator("input.scale").fill("0.5");
  await r8.locator("input.scale").press("Enter");
  await page.waitForFunction(() => !document.querySelector(".progress"));
  const name = await r8.getAttribute("data-pair");
  const scaleIn = (run) => page.locator(`table.pairs tr[data-pair="${name}"]:has(.run-chip:text-is("${run}")) input.scale`).inputValue();
  await page.waitForFunction((n) => [...document.querySelectorAll(`table.pairs tr[data-pair="${n}"] input.scale`)].some((i) => i.value === "0.5 int8"), name);
  assert.equal(await scaleIn("int8 run"), "0.5 int8");
  assert.equal(await scaleIn("int16 run"), before16, "the other run's pair keeps its scale");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a second experiment folder dropped on top keeps the first one's runs apart, and their typed scales", async () => {
  const { page, errors } = await newPage();
  await drop(page, sharedFloatRuns("exp1/"));
  await page.waitForSelector(".summary", { timeout: 60000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  await page.waitForFunction(() => document.querySelector("table.pairs")?.getAttribute("data-rows") === "768");
  await page.click('th[data-sort="name"]');
  const first = page.locator("table.pairs tbody tr[data-pair]").first();
  const name = await first.getAttribute("data-pair");
  const row = (run) => page.locator(`table.pairs tr[data-pair="${name}"]:has(.run-chip:text-is("${run}"))`);
  await row("int8 run").locator("input.scale").fill("0.5");
  await row("int8 run").locator("input.scale").press("Enter");
  await page.waitForFunction((n) => [...document.querySelectorAll(`table.pairs tr[data-pair="${n}"] input.scale`)].some((i) => i.value === "0.5 int8"), name);
  // The second experiment: its own float dump and one quantized run.
  await drop(page, [
    ["exp2/float.npz", join(real, "ort_int16", "float.npz")],
    ["exp2/quant.npz", join(real, "ort_int16", "quant.npz")],
  ]);
  // 384 pairs in each of the three runs, none lost to a merged run.
  await page.waitForFunction(() => /Tensors \(1152 pairs\)/.test(document.querySelector(".tabs")?.textContent ?? ""), null, { timeout: 60000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  await page.waitForFunction(() => document.querySelector("table.pairs")?.getAttribute("data-rows") === "1152");
  // Sorted by name again (the three pairs of the first name side by side).
  for (let i = 0; i < 2 && (await first.getAttribute("data-pair")) !== name; i++) await page.click('th[data-sort="name"]');
  assert.equal(await page.locator(".unpaired").count(), 0, "nothing listed as not paired");
  await page.waitForFunction(() => !document.querySelector(".progress"));
  const chips = await page.locator(`table.pairs tr[data-pair="${name}"] .run-chip`).allTextContents();
  assert.deepEqual(chips.sort(), ["exp1/int16 run", "exp1/int8 run", "exp2"]);
  // The scale typed in the int8 run stays with it (its run is now `exp1/int8 run`), nowhere else.
  assert.equal(await row("exp1/int8 run").locator("input.scale").inputValue(), "0.5 int8");
  assert.notEqual(await row("exp1/int16 run").locator("input.scale").inputValue(), "0.5 int8");
  assert.notEqual(await row("exp2").locator("input.scale").inputValue(), "0.5 int8");
  // The pair's detail names its run.
  await row("exp2").click();
  await page.waitForSelector(`.pair-detail[data-detail="${name}"] h3 .run-chip`);
  assert.equal(await page.textContent(".pair-detail h3 .run-chip"), "exp2");
  assert.deepEqual(errors, []);
  await page.close();
});

test("typing a scale key by key while the page redraws: what is typed is what is taken", async () => {
  // A user typed `0.02 int16` in row after row; a redraw (the analysis' parts arriving, the
  // previous edit's result) once put the old scale back under the first key, and the box read
  // `0.0004789468366652727.02 int16`.
  const { page, errors } = await newPage();
  await drop(page, [
    ["exp1/fp32 dumps/float.npz", join(real, "ort_int8", "float.npz")],
    ["exp1/int16 run/quant.npz", join(real, "ort_int16", "quant.npz")],
    ["exp1/int16 run/scales.json", join(real, "ort_int16", "scales.json")],
  ]);
  await page.waitForSelector(".summary", { timeout: 60000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  const boxes = page.locator("table.pairs tbody tr[data-pair] input.scale");
  await boxes.first().waitFor();
  for (let k = 0; k < 6; k++) {
    const box = boxes.nth(k);
    await box.click();
    await box.press("Control+A");
    await box.pressSequentially("0.02 int16", { delay: 40 });
    assert.equal(await box.inputValue(), "0.02 int16", `row ${k} while typing`);
    await box.press("Enter");
    await page.waitForFunction(() => !document.querySelector(".progress"), null, { timeout: 30000 });
    assert.equal(await box.inputValue(), "0.02 int16", `row ${k} after Enter`);
    assert.equal(await box.getAttribute("aria-invalid"), null, `row ${k}`);
  }
  assert.equal(await page.locator("table.pairs input.scale.typed").count() >= 6, true);
  assert.deepEqual(errors, []);
  await page.close();
});

test("one load's bar never goes back, from reading to comparing", async () => {
  // Both real runs with a shared float dump: the reading stage, then the comparing stage, whose
  // byte total (the shared dump counted once per run) is not the reading's. The bar holds.
  const { page, errors } = await newPage();
  await page.evaluate(() => {
    window.__bar = [];
    const tick = () => {
      const p = document.querySelector(".progress progress");
      if (p) window.__bar.push([Number(p.value), document.querySelector(".progress span")?.textContent ?? ""]);
    };
    window.__timer = setInterval(tick, 5);
  });
  await drop(page, sharedFloatRuns());
  await page.waitForSelector(".summary", { timeout: 60000 });
  const bar = await page.evaluate(() => { clearInterval(window.__timer); return window.__bar; });
  assert.ok(bar.length >= 2, `the bar was seen (${bar.length} samples)`);
  for (let k = 1; k < bar.length; k++) {
    assert.ok(bar[k][0] >= bar[k - 1][0], `back from ${bar[k - 1][0]} (${bar[k - 1][1]}) to ${bar[k][0]} (${bar[k][1]})`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test("a UTF-16 report (PowerShell's >) is read", async () => {
  const { page, errors } = await newPage();
  const text = await readFile(join(real, "ort_int8", "horizon_quant_analysis", "compare_per_layer_out.txt"), "utf8");
  await page.evaluate((text) => {
    const bytes = new Uint8Array(2 + text.length * 2);
    bytes[0] = 0xff; bytes[1] = 0xfe;
    for (let i = 0; i < text.length; i++) { const c = text.charCodeAt(i); bytes[2 + 2 * i] = c & 255; bytes[3 + 2 * i] = c >> 8; }
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "compare_per_layer_out.txt"));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, text);
  await page.waitForSelector(".top-ten", { timeout: 60000 });
  assert.match(await page.textContent(".tabs"), /Layers · compare_per_layer_out\.txt \(384\)/);
  assert.equal(await page.$(".banner"), null);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a 50,000-row comparison table: findings within a second, no long main-thread task", async () => {
  const { page, errors } = await newPage();
  const text = await readFile(join(real, "ort_int8", "horizon_quant_analysis", "compare_per_layer_out.txt"), "utf8");
  const t = await page.evaluate(async (text) => {
    // 50,000 rows made from the real ones, each name unique (the layers of a big model).
    const lines = text.split("\n");
    const body = lines.filter((l) => /^\| +\d+ \|/.test(l));
    const head = lines.slice(0, lines.indexOf(body[0]));
    const out = [...head];
    for (let i = 0; i < 50000; i++) {
      const src = body[i % body.length];
      out.push(src.replace(/^\| +\d+ \| (\S+)/, (_, n) => `| ${i} | blk${Math.floor(i / body.length)}.${n}`));
    }
    out.push(lines[lines.length - 2] || "");
    window.__long = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([e.duration, e.startTime]); }).observe({ type: "longtask", buffered: false });
    const dt = new DataTransfer();
    dt.items.add(new File([out.join("\n") + "\n"], "compare_per_layer_out.txt"));
    const t0 = performance.now();
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
    await new Promise((res) => {
      const tick = () => (document.querySelector(".top-ten") ? res() : setTimeout(tick, 5));
      tick();
    });
    const first = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1500));
    return { first, t0, long: window.__long.map(([d, s]) => [Math.round(d), Math.round(s - t0)]) };
  }, text);
  // Tasks from the drop on (the test's own building of the file, before it, is not the app's).
  const longest = Math.max(0, ...t.long.filter(([, at]) => at >= 0).map(([d]) => d));
  console.log(`# 50k rows: first findings ${t.first.toFixed(0)} ms; longest main-thread task ${longest.toFixed(0)} ms (long tasks [ms, at]: ${JSON.stringify(t.long)})`);
  // The targets are 1 s and no task over 100 ms. Until 2026-12-02 the results crossed as trees of
  // JS objects read field by field (serde_wasm_bindgen): 1.3–1.9 s, and a 50–250 ms task per part
  // of 1,000 rows. They cross as JSON text now (protocol::json_text): the top ten drawn at
  // 0.93–0.98 s, every part in by 1.7 s, the longest task 113–142 ms (reading the Done and drawing
  // the Overview), with another browser session running. These bounds are regression guards.
  assert.ok(t.first <= 2500, `first findings after ${t.first} ms`);
  assert.ok(longest <= 250, `a ${longest} ms main-thread task`);
  // The overview stays small however many findings there are.
  assert.ok(await page.locator(".finding").count() <= 130);
  assert.deepEqual(errors, []);
  await page.close();
});

/** The .npy members of an .npz (a zip): [name, bytes], inflated with Node's zlib. */
async function npzMembers(path) {
  const { inflateRawSync } = await import("node:zlib");
  const buf = await readFile(path);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = [];
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(p + 10), csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28), xlen = buf.readUInt16LE(p + 30), clen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString("utf8", p + 46, p + 46 + nlen);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + csize);
    out.push([name, method === 8 ? inflateRawSync(raw) : Buffer.from(raw)]);
    p += 46 + nlen + xlen + clen;
  }
  return out;
}

test("108 real tensor pairs as .npy files compare in under 2 s; a what-if answers in under 0.7 s", async () => {
  const { page, errors } = await newPage();
  const fl = await npzMembers(join(real, "ort_int16", "float.npz"));
  const ql = new Map((await npzMembers(join(real, "ort_int16", "quant.npz"))).map(([n, b]) => [n.replace(/_DequantizeLinear_Output\.npy$/, ".npy"), b]));
  // The 108 largest activations that exist on both sides, as a user's dump folders hold them.
  const picked = fl.filter(([n]) => ql.has(n)).sort((a, b) => b[1].length - a[1].length).slice(0, 108);
  assert.equal(picked.length, 108);
  const payload = [];
  let bytes = 0;
  for (const [n, b] of picked) {
    const safe = n.replace(/[/\\]/g, "_");
    payload.push([`dump/float/${safe}`, b.toString("base64")], [`dump/quant/${safe}`, ql.get(n).toString("base64")]);
    bytes += b.length + ql.get(n).length;
  }
  const timing = await page.evaluate(async (payload) => {
    const dt = new DataTransfer();
    for (const [name, b64] of payload) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    const long = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) long.push([Math.round(e.duration), Math.round(e.startTime)]); }).observe({ type: "longtask" });
    const t0 = performance.now();
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
    await new Promise((res) => { const tick = () => (/\((\d+) pairs\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress") ? res() : setTimeout(tick, 5)); tick(); });
    const t = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 200));
    return { t, long: long.filter(([, at]) => at >= t0).map(([d]) => d) };
  }, payload);
  const t = timing.t;
  const tabText = await page.textContent(".tabs");
  assert.match(tabText, /Tensors \(108 pairs\)/, tabText);
  const longest = Math.max(0, ...timing.long);
  console.log(`# 108 real pairs (${(bytes / 1e6).toFixed(1)} MB of .npy): compared in ${t.toFixed(0)} ms (${(bytes / 1e6 / (t / 1000)).toFixed(1)} MB/s); longest main-thread task from the drop ${longest} ms (${JSON.stringify(timing.long)})`);
  assert.ok(t < 2000, `${t} ms`);
  // The 216 Files go to the worker in batches of 96 (one message each, a task apart), not in one
  // message whose cloning held the page; the worker put them back together (all 108 pairs above).
  // A regression guard (the target is 100 ms; this test's own File building precedes the drop).
  assert.ok(longest <= 250, `a ${longest} ms main-thread task`);
  // The Overview lists the first 100 files and offers the rest.
  assert.equal(await page.locator("ul.files > li.file").count(), 100);
  await page.locator("button.show-files", { hasText: "Show all 216 files (116 not shown)" }).click();
  await page.waitForFunction(() => document.querySelectorAll("ul.files > li.file").length === 216);
  assert.equal(await page.locator("button.show-files").count(), 0);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  const w = await page.evaluate(async () => {
    const row = document.querySelector("table.pairs tbody tr[data-pair]");
    const t0 = performance.now();
    row.click();
    await new Promise((res) => { const tick = () => (document.querySelector(".pair-detail table.whatif-table tr[data-obs]") ? res() : setTimeout(tick, 2)); tick(); });
    return performance.now() - t0;
  });
  console.log(`# what-if of one pair: ${w.toFixed(0)} ms`);
  // 0.44–0.98 s until the group split's cost matrix was built from block costs (2026-12-02: the
  // split into 1, 2 and 4 groups summed every candidate group element by element, 6 × 2,080 groups
  // here); 0.18 s since, with a fuzzer on the other core. On a slower 2-core VM (AMD EPYC,
  // 2026-12-03) 0.28 s alone and 0.42 s with a fuzzer at nice 19 beside it, where the old way
  // would take about 0.7–2.3 s: the bound is 0.7 s. It also catches a what-if that reads or
  // compares more than its one pair.
  assert.ok(w < 700, `${w} ms`);
  assert.deepEqual(errors, []);
  await page.close();
});

test("small things: one-line header and tabs, range labels apart, names keep their end, arrow keys, copy feedback", async () => {
  for (const width of [1280, 1440]) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForSelector(".dropzone");
    await drop(page, [...await runFiles("ort_int8", { dumps: false }), ...await runFiles("ort_int16", { dumps: false })]);
    await page.waitForSelector(".top-ten", { timeout: 60000 });
    // The header and the tab bar stay one line high.
    const bar = await page.locator("header.topbar").boundingBox();
    assert.ok(bar.height < 60, `header ${bar.height}px high at ${width}px`);
    const tabs = await page.locator("nav.tabs").boundingBox();
    assert.ok(tabs.height < 48, `tab bar ${tabs.height}px high at ${width}px`);
    const ys = await page.locator("nav.tabs .tab").evaluateAll((ts) => ts.map((t) => t.getBoundingClientRect().top));
    assert.equal(new Set(ys.map((y) => Math.round(y))).size, 1, `tabs on one row: ${ys}`);
    if (width === 1440) {
      await page.locator(".tab", { hasText: /^Layers · ort_int8 \(384\)$/ }).click();
      await page.waitForSelector(".layers-view table.grid");
      // Names are cut in the middle: the distinguishing end always shows.
      const tail = await page.locator("table.grid tbody tr.grid-row td .middle-cut .tail").first().textContent().catch(() => null);
      if (tail !== null) assert.ok(tail.length >= 10, tail);
      // Arrow keys move the selection through the rows.
      await page.locator("table.grid tbody tr.grid-row").first().click();
      const before = await page.getAttribute("tr.sel", "data-row");
      await page.focus(".vt");
      await page.keyboard.press("ArrowDown");
      await page.waitForFunction((b) => document.querySelector("tr.sel")?.dataset.row !== b, before);
      const after = await page.getAttribute("tr.sel", "data-row");
      assert.notEqual(after, before);
      // Range picture: the numbers under each bar do not overlap.
      for (let k = 0; k < 12; k++) {
        await page.keyboard.press("ArrowDown");
        const boxes = await page.locator("svg.range-picture g.bar").evaluateAll((gs) => gs.map((g) => [...g.querySelectorAll("text.num")].map((t) => { const r = t.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; })));
        for (const [a, b] of boxes) {
          if (!a || !b) continue;
          const overlap = a[0] < b[1] && b[0] < a[1] && a[2] < b[3] && b[2] < a[3];
          assert.ok(!overlap, `labels overlap: ${a} ${b}`);
        }
      }
      // Copy gives feedback (copied, or why not).
      await page.locator(".tab", { hasText: "Mixed precision" }).first().click();
      await page.click("#copy-snippet");
      await page.waitForSelector(".exports .copied, .exports .error-text", { timeout: 5000 });
    }
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test("the ratio slider answers the keyboard (Home, then ArrowRight moves it)", async () => {
  const { page, errors } = await newPage();
  await drop(page, await runFiles("ort_int8", { dumps: false }));
  await page.waitForSelector(".top-ten", { timeout: 60000 });
  // The load settled first: a result arriving between the keys rebuilt the view (the slider back
  // at the knee) in one loaded run (2026-12-03, a fuzzer on the other core).
  await page.waitForFunction(() => !document.querySelector(".progress"), null, { timeout: 60000 });
  await page.locator(".tab", { hasText: "Mixed precision" }).click();
  await page.focus("#ratio-slider");
  await page.keyboard.press("Home");
  assert.equal(await page.inputValue("#ratio-slider"), "0");
  // Each step seen before the next key (a loaded machine drew the view between two keys).
  for (let i = 1; i <= 3; i++) {
    await page.keyboard.press("ArrowRight");
    await page.waitForFunction((v) => document.querySelector("#ratio-slider").value === v, String(i), { timeout: 5000 });
  }
  assert.match(await page.textContent(".ratio-readout"), /top \d+ rows/);
  assert.equal(await page.evaluate(() => document.activeElement.id), "ratio-slider");
  assert.deepEqual(errors, []);
  await page.close();
});

test("cancelling a long load keeps what was loaded before it", async () => {
  const { page, errors } = await newPage();
  await drop(page, await runFiles("ort_int8", { dumps: false }));
  await page.waitForSelector(".top-ten", { timeout: 60000 });
  const before = await page.locator(".tab").allTextContents();
  // ~120 MB of model-check rows, built in the page.
  await page.evaluate(() => {
    const row = "| model.backbone.stage1.0.conv1 | <class 'horizon_plugin_pytorch.nn.qat.conv2d.Conv2d'> | ['qint8'] | ['qint8'] | -1 | MinMaxObserver |\n";
    const head = "Each layer out qconfig:\n+---+---+---+---+---+---+\n| Module Name | Module Type | Input dtype | out dtype | ch_axis | observer |\n|---+---+---+---+---+---|\n";
    const parts = [head];
    for (let i = 0; i < 90; i++) parts.push(row.repeat(10000));
    const dt = new DataTransfer();
    dt.items.add(new File(parts, "huge_model_check_result.txt"));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  });
  await page.waitForSelector(".progress", { timeout: 10000 });
  await page.click(".progress button");
  await page.waitForSelector(".banner", { timeout: 10000 });
  // The fresh worker takes the session back: the run's tabs are there again, the huge file is not.
  await page.waitForFunction((n) => document.querySelectorAll(".tab").length === n, before.length, { timeout: 30000 });
  const after = await page.locator(".tab").allTextContents();
  assert.deepEqual(after.map((t) => t.replace(/\(\d+\)/, "")), before.map((t) => t.replace(/\(\d+\)/, "")));
  assert.doesNotMatch(await page.textContent("ul.files"), /huge_model_check_result/);
  assert.deepEqual(errors, []);
  await page.close();
});
