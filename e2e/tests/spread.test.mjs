// End-to-end: a big pair (2 × 64 MiB) is compared in parts on helper workers — the analysis
// worker starts `navigator.hardwareConcurrency − 1` of them — and the page shows what one
// comparison of the whole pair gives (metrics computed here in f64, histograms drawn).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, rm } from "node:fs/promises";
import { deflateRawSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, scratchDir } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let browser, server, url, dir;
const shape = [8, 64, 128, 128];
const n = shape.reduce((a, b) => a * b);
const expected = {};

function npy(data, dims = shape) {
  let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(", ")}), }`;
  while ((10 + h.length + 1) % 64 !== 0) h += " ";
  h += "\n";
  const head = Buffer.alloc(10);
  Buffer.from("\x93NUMPY\x01\x00", "latin1").copy(head);
  head.writeUInt16LE(h.length, 8);
  return Buffer.concat([head, Buffer.from(h, "latin1"), Buffer.from(data.buffer)]);
}

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
  dir = await scratchDir("quantlens_spread_");
  // A smooth float tensor and its int8 fake quant at 0.02 (a few values clip), deterministic.
  const b = new Float32Array(n);
  const q = new Float32Array(n);
  let dot = 0, bb = 0, qq = 0, dd = 0;
  for (let i = 0; i < n; i++) {
    b[i] = Math.fround(Math.sin((i % 7919) * 0.003) * 2.7 + ((i >> 14) % 3) * 0.2);
    q[i] = Math.fround(Math.min(127, Math.max(-128, Math.round(b[i] / 0.02))) * 0.02);
    dot += b[i] * q[i]; bb += b[i] * b[i]; qq += q[i] * q[i]; dd += (b[i] - q[i]) ** 2;
  }
  expected.cosine = dot / Math.sqrt(bb * qq);
  expected.sqnr = 10 * Math.log10(bb / dd);
  await writeFile(join(dir, "act_float.npy"), npy(b));
  await writeFile(join(dir, "act_quant.npy"), npy(q));
});
after(async () => {
  await browser?.close();
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The app, with its errors (and helper warnings), the workers it starts and the core count. */
async function openApp() {
  const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning" && /helper/.test(m.text())) errors.push(m.text()); });
  const workers = [];
  page.on("worker", (w) => workers.push(w.url()));
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  return { page, errors, workers, cores: await page.evaluate(() => navigator.hardwareConcurrency) };
}

test("a 2 × 64 MiB pair is compared in parts on helper workers, with the whole pair's metrics", async () => {
  const { page, errors, workers, cores } = await openApp();
  // The progress bar, sampled while it shows: it runs once over both passes, never back.
  await page.evaluate(() => {
    window.__progress = [];
    setInterval(() => {
      const p = document.querySelector(".progress");
      if (p) window.__progress.push([Number(p.querySelector("progress").value), p.querySelector("span").textContent]);
    }, 10);
  });
  await page.setInputFiles('input[aria-label="Open files"]', [join(dir, "act_float.npy"), join(dir, "act_quant.npy")]);
  await page.waitForFunction(() => /\(1 pairs?\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"), null, { timeout: 120000 });
  const samples = (await page.evaluate(() => window.__progress)).filter(([, t]) => /^Comparing/.test(t));
  assert.ok(samples.length > 3, `progress shown while comparing (${samples.length} samples)`);
  for (let i = 1; i < samples.length; i++) {
    assert.ok(samples[i][0] >= samples[i - 1][0], `progress went back: ${JSON.stringify(samples.slice(Math.max(0, i - 2), i + 1))}`);
  }
  assert.ok(samples.some(([, t]) => /second pass: histograms/.test(t)), "the histogram pass is named");
  const analysis = workers.filter((u) => u.endsWith("/worker_loader.js")).length;
  if (cores >= 2) assert.equal(analysis, Math.min(cores, 8), `the analysis worker and ${Math.min(cores, 8) - 1} helpers (${workers})`);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  const names = await page.locator("tr[data-pair]").evaluateAll((rs) => rs.map((r) => r.dataset.pair));
  assert.equal(names.length, 1, `${names}`);
  const row = page.locator(`tr[data-pair="${names[0]}"]`);
  const cos = Number(await row.locator("td").nth(2).textContent());
  assert.ok(Math.abs(cos - expected.cosine) < 1e-6, `cosine ${cos} vs ${expected.cosine}`);
  const text = await row.textContent();
  assert.match(text, new RegExp(expected.sqnr.toFixed(2).replace(".", "\\.")), `SQNR ${expected.sqnr} in ${text}`);
  // The histogram pass ran in parts too: the detail draws both histograms, 64 bins each.
  await row.click();
  await page.waitForSelector('.pair-detail[data-detail]');
  assert.equal(await page.locator(".pair-detail svg.hist").count(), 2);
  assert.equal(await page.locator(".pair-detail svg.hist .hfloat rect").count(), 64);
  // A typed scale recomputes the split (here, not in parts) and the helpers stay for the next pair.
  await row.locator("input.scale").fill("0.02");
  await row.locator("input.scale").press("Enter");
  await row.locator(".split-bar").waitFor({ timeout: 60000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test("several 2 × 16 MiB pairs go round the workers, each with its own metrics", async () => {
  // Pairs of files bigger than the worker keeps in memory are read as streams, whole pairs shared
  // out between the analysis worker and its helpers (pairs of ≥ 32 MiB; parts only from 64 MiB).
  const shape4 = [4, 64, 128, 128];
  const m = shape4.reduce((a, b) => a * b);
  const want = [];
  const sub = await scratchDir("quantlens_spread_many_");
  const files = [];
  for (let p = 0; p < 4; p++) {
    const s = 0.01 * (p + 1); // each pair its own step: its own SQNR
    const b = new Float32Array(m);
    const q = new Float32Array(m);
    let bb = 0, dd = 0;
    for (let i = 0; i < m; i++) {
      b[i] = Math.fround(Math.sin((i % 6007) * 0.004 + p) * 1.9);
      q[i] = Math.fround(Math.min(127, Math.max(-128, Math.round(b[i] / s))) * s);
      bb += b[i] * b[i]; dd += (b[i] - q[i]) ** 2;
    }
    want.push(10 * Math.log10(bb / dd));
    await writeFile(join(sub, `layer${p}_float.npy`), npy(b, shape4));
    await writeFile(join(sub, `layer${p}_quant.npy`), npy(q, shape4));
    files.push(join(sub, `layer${p}_float.npy`), join(sub, `layer${p}_quant.npy`));
  }
  const { page, errors, workers, cores } = await openApp();
  await page.setInputFiles('input[aria-label="Open files"]', files);
  await page.waitForFunction(() => /\(4 pairs\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"), null, { timeout: 120000 });
  if (cores >= 2) assert.equal(workers.filter((u) => u.endsWith("/worker_loader.js")).length, Math.min(cores, 8), `helpers started (${workers})`);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  for (let p = 0; p < 4; p++) {
    const row = page.locator(`tr[data-pair="layer${p}"]`);
    const sqnr = Number(await row.locator("td").nth(3).textContent());
    assert.ok(Math.abs(sqnr - want[p]) < 1e-4, `layer${p}: SQNR ${sqnr} vs ${want[p]} (${await row.textContent()})`);
  }
  assert.deepEqual(errors, []);
  await page.close();
  await rm(sub, { recursive: true, force: true });
});

test("a scale known without its dtype (scales.json) still goes in parts, and the split is int8 from the range", async () => {
  // The split's dtype comes from the quantized side's range: the parts run without the scale and
  // the split is added after from the float side alone (before, such a pair was read whole here).
  const scales = join(dir, "scales.json");
  await writeFile(scales, JSON.stringify({ act: 0.02 }));
  const { page, errors, workers, cores } = await openApp();
  await page.setInputFiles('input[aria-label="Open files"]', [join(dir, "act_float.npy"), join(dir, "act_quant.npy"), scales]);
  await page.waitForFunction(() => /\(1 pairs?\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"), null, { timeout: 120000 });
  if (cores >= 2) assert.equal(workers.filter((u) => u.endsWith("/worker_loader.js")).length, Math.min(cores, 8), `helpers started: parts (${workers})`);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  const row = page.locator('tr[data-pair="act"]');
  const cos = Number(await row.locator("td").nth(2).textContent());
  assert.ok(Math.abs(cos - expected.cosine) < 1e-6, `cosine ${cos} vs ${expected.cosine}`);
  // int8 at 0.02 covers ±2.54; the float values reach 3.1: the split is mostly clipping.
  assert.match(await row.locator(".split-bar").getAttribute("title"), /clip [5-9]\d\.\d%/);
  await row.click();
  await page.waitForSelector('.pair-detail[data-detail="act"] tr.measured');
  assert.match(await page.textContent(".pair-detail tr.measured th"), /measured, int8 \(scale 0\.02, from scales\.json/);
  assert.equal(await page.locator(".pair-detail svg.hist").count(), 2);
  assert.deepEqual(errors, []);
  await page.close();
  await rm(scales, { force: true });
});

/** A zip (an `.npz`) of deflated members: [name, bytes] each; the one named `corrupt` gets its
 * deflate stream garbled in the middle. */
function npzDeflated(members, corrupt = "") {
  return npzArchive(members, { deflate: true, corrupt });
}

/** An `.npz` (a zip) of `[name, bytes]` members, deflated or stored as `np.savez` stores them. */
function npzArchive(members, { deflate = false, corrupt = "" } = {}) {
  const table = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc32 = (buf) => {
    let c = -1;
    for (let i = 0; i < buf.length; i++) c = table[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const locals = [], central = [];
  let offset = 0;
  for (const [name, data] of members) {
    const packed = deflate ? deflateRawSync(data) : Buffer.from(data);
    const method = deflate ? 8 : 0;
    if (name === corrupt) for (let i = packed.length >> 1; i < (packed.length >> 1) + 2000; i++) packed[i] ^= 0x5a;
    const fname = Buffer.from(name, "utf8");
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14); local.writeUInt32LE(packed.length, 18); local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fname.length, 26);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0); cen.writeUInt16LE(20, 4); cen.writeUInt16LE(20, 6); cen.writeUInt16LE(method, 10);
    cen.writeUInt32LE(crc, 16); cen.writeUInt32LE(packed.length, 20); cen.writeUInt32LE(data.length, 24);
    cen.writeUInt16LE(fname.length, 28); cen.writeUInt32LE(offset, 42);
    locals.push(local, fname, packed);
    central.push(cen, fname);
    offset += 30 + fname.length + packed.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(members.length, 8); end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** `count` members `{prefix}{p}.npy` of `dims` a side (each pair its own int8 step, so its own
 * SQNR): [float members, quantized members, SQNR by pair name]. */
function members(prefix, count, dims) {
  const m = dims.reduce((a, b) => a * b);
  const want = {};
  const fm = [], qm = [];
  for (let p = 0; p < count; p++) {
    const s = 0.004 * (p + 1);
    const b = new Float32Array(m);
    const q = new Float32Array(m);
    let bb = 0, dd = 0;
    for (let i = 0; i < m; i++) {
      b[i] = Math.fround(Math.sin((i % 4099) * 0.005 + p) * 1.3 + ((i * 2654435761) % 1000) * 1e-4);
      q[i] = Math.fround(Math.min(127, Math.max(-128, Math.round(b[i] / s))) * s);
      bb += b[i] * b[i]; dd += (b[i] - q[i]) ** 2;
    }
    want[`${prefix}${p}`] = 10 * Math.log10(bb / dd);
    fm.push([`${prefix}${p}.npy`, npy(b, dims)]);
    qm.push([`${prefix}${p}.npy`, npy(q, dims)]);
  }
  return [fm, qm, want];
}

/** Choose the two `.npz` files; check that the helpers started, every pair's SQNR, and that the
 * pair `detail` draws both histograms (the histogram pass ran on the workers too). */
async function checkNpzPairs(files, want, detail) {
  const count = Object.keys(want).length;
  const { page, errors, workers, cores } = await openApp();
  await page.setInputFiles('input[aria-label="Open files"]', files);
  await page.waitForFunction((n) => new RegExp(`\\(${n} pairs\\)`).test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"), count, { timeout: 120000 });
  if (cores >= 2) assert.equal(workers.filter((u) => u.endsWith("/worker_loader.js")).length, Math.min(cores, 8), `helpers started (${workers})`);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  for (const [name, sqnr] of Object.entries(want)) {
    const row = page.locator(`tr[data-pair="${name}"]`);
    const got = Number(await row.locator("td").nth(3).textContent());
    assert.ok(Math.abs(got - sqnr) < 1e-4, `${name}: SQNR ${got} vs ${sqnr} (${await row.textContent()})`);
  }
  await page.locator(`tr[data-pair="${detail}"]`).click();
  await page.waitForSelector('.pair-detail[data-detail]');
  assert.equal(await page.locator(".pair-detail svg.hist").count(), 2);
  assert.deepEqual(errors, []);
  await page.close();
}

test("compressed .npz members go round the workers, each pair whole, with their own metrics", async () => {
  // `np.savez_compressed` dumps: every member deflated. Each pair of 1 MiB and more is inflated
  // on a worker of its own (a part could only start by inflating all before it).
  const [fm, qm, want] = members("conv", 6, [1, 16, 128, 128]);
  const sub = await scratchDir("quantlens_spread_npz_");
  await writeFile(join(sub, "float.npz"), npzDeflated(fm));
  await writeFile(join(sub, "quant.npz"), npzDeflated(qm));
  await checkNpzPairs([join(sub, "float.npz"), join(sub, "quant.npz")], want, "conv3");
  // A member garbled in the middle: its pair gets the browser's word for it, the others their
  // metrics, and nothing reaches the console (a failed stream's cancel is handled).
  await writeFile(join(sub, "float.npz"), npzDeflated(fm, "conv2.npy"));
  const bad = await openApp();
  await bad.page.setInputFiles('input[aria-label="Open files"]', [join(sub, "float.npz"), join(sub, "quant.npz")]);
  await bad.page.waitForFunction(() => /\(6 pairs\)/.test(document.querySelector(".tabs")?.textContent || "") && !document.querySelector(".progress"), null, { timeout: 120000 });
  await bad.page.locator(".tab", { hasText: "Tensors" }).click();
  assert.match(await bad.page.locator('tr[data-pair="conv2"]').textContent(), /float side: corrupt deflate data/);
  const got = Number(await bad.page.locator('tr[data-pair="conv3"]').locator("td").nth(3).textContent());
  assert.ok(Math.abs(got - want.conv3) < 1e-4, `conv3: SQNR ${got} vs ${want.conv3}`);
  assert.deepEqual(bad.errors, []);
  await bad.page.close();
  await rm(sub, { recursive: true, force: true });
});

test("an .npz of many members (np.savez, too big to keep) sends its pairs round the workers, each read once", async () => {
  // 12 members of 3 MiB a side (36 MiB files, which the worker does not keep in memory): each
  // pair of 1 MiB and more is streamed whole on one of the workers, and its histograms come from
  // the values its one read kept. Found on a real PP-OCR det dump (295 members, 626 MB a side):
  // one worker, two reads of everything.
  const [fm, qm, want] = members("layer", 12, [1, 48, 128, 128]);
  const sub = await scratchDir("quantlens_spread_plain_npz_");
  await writeFile(join(sub, "float.npz"), npzArchive(fm));
  await writeFile(join(sub, "quant.npz"), npzArchive(qm));
  await checkNpzPairs([join(sub, "float.npz"), join(sub, "quant.npz")], want, "layer7");
  await rm(sub, { recursive: true, force: true });
});
