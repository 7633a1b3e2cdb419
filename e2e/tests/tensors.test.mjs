// End-to-end: tensor dumps dropped in real Chromium are listed, paired and compared in the worker;
// a scale typed for a pair re-runs the comparison and shows the error split and its finding.
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

async function drop(page, files) {
  const payload = [];
  for (const [name, rel] of files) payload.push([name, (await readFile(join(repo, rel))).toString("base64")]);
  await page.evaluate((payload) => {
    const dt = new DataTransfer();
    for (const [name, b64] of payload) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, payload);
}

test("npz dumps of a real model: pairs, metrics, a scale, the error split and its finding", async () => {
  const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await drop(page, [["ppocr_cls_float.npz", "tests/fixtures/tensors/ppocr_cls_float.npz"], ["ppocr_cls_qdq.npz", "tests/fixtures/tensors/ppocr_cls_qdq.npz"]]);
  await page.waitForSelector(".summary", { timeout: 20000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  assert.equal(await page.locator("table.pairs tbody tr").count(), 6);
  // The local-error ranking: every pair, lowest int8 SQNR first, and it opens the pair's detail.
  await page.locator(".local-ranking summary").click();
  const local = await page.locator(".local-ranking li").allTextContents();
  assert.equal(local.length, 6);
  const db = local.map((t) => Number(/int8 (-?[\d.]+) dB/.exec(t)[1]));
  assert.deepEqual(db, [...db].sort((x, y) => x - y), `${local}`);
  const expected = JSON.parse(await readFile(join(repo, "tests/fixtures/tensors/expected.json"), "utf8"));
  const row = page.locator('tr[data-pair="Add@0"]');
  const cos = Number(await row.locator("td").nth(2).textContent());
  assert.ok(Math.abs(cos - expected["Add@0"].cosine) < 1e-6, `cosine ${cos}`);
  await row.locator("input.scale").fill(String(expected["Add@0"].scale));
  await row.locator("input.scale").press("Enter");
  await row.locator(".split-bar").waitFor({ timeout: 20000 });
  assert.match(await row.locator(".split-bar").getAttribute("title"), /clip 9\d\.\d%/);
  assert.equal(await row.locator(".chip").textContent(), "truncation");
  // The pair's detail: overlaid histograms, the error histogram, and the range picture with clipping.
  await row.click();
  await page.waitForSelector('.pair-detail[data-detail="Add@0"]');
  assert.equal(await page.locator(".pair-detail svg.hist").count(), 2);
  assert.equal(await page.locator(".pair-detail svg.hist .hfloat rect").count(), 64);
  assert.ok(await page.locator(".pair-detail svg.range-picture .clipped").count() >= 1, "clipping shown");
  assert.match(await page.textContent(".pair-detail"), /Local error of the float tensor/);
  // The what-if arrives for this pair only: each observer's scale re-quantizes the float side and
  // its predicted split stands beside the measured one (clipping is never relabelled "inherited").
  await page.waitForSelector(".pair-detail table.whatif-table tr[data-obs]", { timeout: 20000 });
  const measured = await page.locator(".pair-detail tr.measured td").allTextContents();
  assert.match(measured[1], /^9\d\.\d%$/, `measured clip share: ${measured}`);
  // Torch's min-max divisor, per dtype: (qmax − qmin) / 2.
  assert.equal(await page.locator('.pair-detail tr[data-obs="int8 min-max (torch, amax/127.5)"]').count(), 1);
  assert.equal(await page.locator('.pair-detail tr[data-obs="int16 min-max (torch, amax/32767.5)"]').count(), 1);
  const mm = await page.locator('.pair-detail tr[data-obs^="int8 min-max"] td').allTextContents();
  assert.match(mm[1], /^0\.\d%$/, `min-max covers the range: ${mm}`);
  assert.equal(mm[3], "0%", "nothing predicted as inherited");
  const mse = await page.locator('.pair-detail tr[data-obs="int8 MSE-optimal"] td').allTextContents();
  assert.equal(mse[3], "0%", `MSE-optimal: ${mse}`);
  // The group-split what-if: 1, 2 and 4 groups at int8 and int16, with cut positions.
  assert.equal(await page.locator(".pair-detail table.groups tr[data-groups]").count(), 6);
  const two = await page.locator('.pair-detail tr[data-groups="int8 2"] td').allTextContents();
  assert.match(two[4], /^\d+$/, `one cut: ${two}`);
  // Per-channel what-if along the channel axis (axis 0 has one element here: skipped).
  assert.deepEqual(await page.locator(".pair-detail table.channels tr[data-channels]").evaluateAll((rs) => rs.map((r) => r.dataset.channels)),
    ["int8 1", "int16 1"]);
  // ONNX Runtime's amax/qmax scale puts the largest value on qmax: no clipping predicted at all.
  const ort = await page.locator('.pair-detail tr[data-obs="int8 amax/qmax (ONNX Runtime)"] td').allTextContents();
  assert.equal(ort[1], "0.0%", `amax/qmax: ${ort}`);
  await page.screenshot({ path: join(repo, "docs", "screenshot-tensors.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("files whose side cannot be guessed are asked for, then compared", async () => {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await drop(page, [["a.safetensors", "tests/fixtures/tensors/model_float.safetensors"], ["b.safetensors", "tests/fixtures/tensors/model_quant.safetensors"]]);
  await page.waitForSelector(".summary", { timeout: 20000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  assert.match(await page.textContent(".tensors-view"), /Choose the side of each file/);
  await page.selectOption('select[aria-label="side of a.safetensors"]', "float");
  await page.selectOption('select[aria-label="side of b.safetensors"]', "quant");
  await page.waitForSelector('tr[data-pair="layer.out"]', { timeout: 20000 });
  assert.equal(await page.locator("table.pairs tbody tr").count(), 2);
  await page.close();
});

test("one name picked from two folders: both files kept, the user told why and asked the sides", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  // float_out/act.npy and quant_out/act.npy picked as one list: the folders are lost, the names and
  // sizes equal (608 bytes each). The second used to be taken for a re-drop of the first.
  await page.setInputFiles('input[aria-label="Open files"]', await Promise.all(
    ["fortran_float.npy", "fortran_quant.npy"].map(async (f) => ({
      name: "act.npy", mimeType: "application/octet-stream", buffer: await readFile(join(repo, "tests/fixtures/tensors", f)),
    }))));
  await page.waitForSelector(".summary", { timeout: 20000 });
  assert.match(await page.textContent(".banner.notice"), /1 file\(s\) came with the name of another file in the same drop \(act\.npy\)/);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  assert.match(await page.textContent(".tensors-view"), /Choose the side of each file/);
  // One choice for a whole folder: the files without one go float, pairing puts (2)/ on the other side.
  await page.selectOption('select[aria-label="side of every file in the files without a folder"]', "float");
  await page.waitForSelector('tr[data-pair="act"]', { timeout: 20000 });
  assert.equal(await page.locator("table.pairs tbody tr").count(), 1);
  assert.equal(await page.locator('select[aria-label="side of (2)/act.npy"]').inputValue(), "quant");
  assert.equal(await page.locator('select[aria-label="side of every file in (2)/"]').inputValue(), "quant");
  // Picked again on its own, a folderless name replaces the file loaded before: the notice says so.
  await page.setInputFiles('input[aria-label="Open files"]', [{
    name: "act.npy", mimeType: "application/octet-stream", buffer: await readFile(join(repo, "tests/fixtures/tensors/fortran_quant.npy")),
  }]);
  await page.waitForSelector(".banner.notice", { timeout: 20000 });
  assert.match(await page.textContent(".banner.notice"), /1 file\(s\) without a folder have the name of a file loaded before \(act\.npy\) and replace it/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("tensors that do not pair by name can be paired by hand", async () => {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  await drop(page, [["float_a.npy", "tests/fixtures/tensors/fortran_float.npy"], ["float_b.npy", "tests/fixtures/tensors/f16_float.npy"],
    ["quant_c.npy", "tests/fixtures/tensors/fortran_quant.npy"]]);
  await page.waitForSelector(".summary", { timeout: 20000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  assert.equal(await page.locator("table.pairs tbody tr").count(), 0);
  await page.selectOption('select[aria-label="float tensor to pair"]', "float_a");
  await page.selectOption('select[aria-label="quantized tensor to pair"]', "quant_c");
  await page.click("text=Pair and compare");
  await page.waitForSelector('tr[data-pair="float_a"]', { timeout: 20000 });
  const expected = JSON.parse(await readFile(join(repo, "tests/fixtures/tensors/expected.json"), "utf8"));
  const cos = Number(await page.locator('tr[data-pair="float_a"] td').nth(2).textContent());
  assert.ok(Math.abs(cos - expected.fortran.cosine) < 1e-6, `cosine ${cos}`);
  await page.close();
});

/** A little-endian float32 `.npy` of `shape` holding `values` (NaN and ±Infinity allowed). */
function npy(shape, values) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const pad = (64 - ((10 + dict.length + 1) % 64)) % 64;
  const header = dict + " ".repeat(pad) + "\n";
  const buf = new Uint8Array(10 + header.length + values.length * 4);
  buf.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(buf.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) buf[10 + i] = header.charCodeAt(i);
  new Float32Array(buf.buffer, 10 + header.length).set(values);
  return Buffer.from(buf).toString("base64");
}

test("NaN made on the quantized side is the first finding; its row and detail say where", async () => {
  const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  // act: [3, 4], the quantized side holds NaN at [1, 2] and −∞ at [2, 0]; fine: rounding only.
  const b = Array.from({ length: 12 }, (_, i) => i * 0.1 - 0.5);
  const a = b.map((x) => x + 0.01);
  a[6] = NaN;
  a[8] = -Infinity;
  const files = [["fp32 dumps/act.npy", npy([3, 4], b)], ["int8 dumps/act.npy", npy([3, 4], a)],
    ["fp32 dumps/fine.npy", npy([3, 4], b)], ["int8 dumps/fine.npy", npy([3, 4], b.map((x) => x + 0.001))],
    ["fp32 dumps/same.npy", npy([3, 4], b)], ["int8 dumps/same.npy", npy([3, 4], b)]];
  await page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const [name, b64] of files) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, files);
  await page.waitForSelector(".summary", { timeout: 20000 });
  await page.locator(".tab", { hasText: "Tensors" }).click();
  const row = page.locator('tr[data-pair="act"]');
  await row.waitFor({ timeout: 20000 });
  assert.match(await row.textContent(), /NaN/);
  assert.deepEqual(await row.locator(".chip").allTextContents(), ["nonfinite_values"]);
  assert.match(await row.locator(".chip").getAttribute("title"), /holds 1 NaN and 1 ±∞ of 12 elements, the first at \[1, 2\]/);
  assert.equal(await page.locator('tr[data-pair="fine"] .chip').count(), 0);
  // Identical tensors: "no error", not a split of nothing.
  assert.match(await page.textContent('tr[data-pair="same"] .splitcell'), /no error/);
  // The row's scale: a bad entry is said where it was typed; "0.02 int16" is taken with its dtype;
  // clearing it goes back to no scale.
  const scale = page.locator('tr[data-pair="fine"] input.scale');
  await scale.fill("abc");
  await scale.press("Enter");
  assert.match(await scale.evaluate((el) => el.validationMessage), /'abc' is not a number \(the pair keeps its scale\)/);
  // It stays visible: the box is marked, keeps what was typed and says why in its tooltip.
  assert.equal(await scale.getAttribute("aria-invalid"), "true");
  assert.equal(await scale.inputValue(), "abc");
  assert.match(await scale.getAttribute("title"), /'abc' is not a number/);
  // A word that is neither the scale nor a dtype is said, not dropped.
  await scale.fill("0.02 int16x");
  await scale.press("Enter");
  assert.match(await scale.evaluate((el) => el.validationMessage), /'int16x' is neither a scale nor a dtype QuantLens knows/);
  await scale.fill("0.02 int16");
  await scale.press("Enter");
  await page.locator('tr[data-pair="fine"] .split-bar').waitFor({ timeout: 20000 });
  assert.equal(await scale.evaluate((el) => el.validationMessage), "");
  assert.equal(await scale.getAttribute("aria-invalid"), null);
  // The typed scale reads back with its dtype.
  assert.equal(await scale.inputValue(), "0.02 int16");
  await page.locator('tr[data-pair="fine"]').click();
  await page.waitForSelector('.pair-detail[data-detail="fine"] tr.measured');
  assert.match(await page.textContent(".pair-detail tr.measured th"), /measured, int16 \(scale 0\.02, from typed/);
  await scale.fill("");
  await scale.press("Enter");
  await page.waitForFunction(() => /enter a scale/.test(document.querySelector('tr[data-pair="fine"] .splitcell')?.textContent ?? ""));
  await row.click();
  await page.waitForSelector('.pair-detail[data-detail="act"] .nonfinite-note');
  assert.match(await page.textContent(".pair-detail .nonfinite-note"),
    /float side none; quantized side 1 NaN and 1 ±∞ of 12 elements, the first at \[1, 2\]/);
  // Overview: the error comes first, with its fix.
  await page.click('button.tab[title^="Overview"]');
  const first = page.locator(".finding").first();
  await first.waitFor();
  assert.equal(await first.getAttribute("data-kind"), "nonfinite_values");
  assert.match(await first.textContent(), /division, log, rsqrt, exp or pow/);
  // Its "Show rows" opens the Tensors view on the pair, with the pair's detail.
  await first.locator("button.evidence").click();
  await page.waitForSelector('.pair-detail[data-detail="act"] .nonfinite-note');
  assert.match(await page.getAttribute("button.tab.active", "title"), /^Tensors/);
  assert.deepEqual(errors, []);
  await page.close();
});
