// End-to-end: the broken-input corpus (tests/fixtures/broken/, 54 files; the message each must give
// is tests/fixtures/broken/messages.tsv, checked natively by tests/broken_inputs.rs) dropped in real
// Chromium beside good files. Every broken file gets its message in the page's file list, the good
// files stay loaded and analysed exactly as when dropped alone, nothing throws, and the page answers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, dropPaths } from "../server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = join(repo, "tests", "fixtures", "broken");
let browser, server, url;

before(async () => {
  ({ server, url } = await serve(join(repo, "dist")));
  browser = await launch(chromium);
});
after(async () => { await browser?.close(); server?.close(); });

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("dialog", (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  return { page, errors };
}

/** messages.tsv as [file, { outcome, notes, findings, self }] (the native test's wording, parsed). */
async function table() {
  const text = await readFile(join(dir, "messages.tsv"), "utf8");
  return text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => {
    const [file, message] = l.split("\t");
    const [own, self] = message.split(" | ");
    const parts = own.split(" · ");
    return [file, {
      outcome: parts[0],
      notes: parts.filter((p) => p.startsWith("note: ")).map((p) => p.slice(6)),
      findings: (parts.find((p) => p.startsWith("findings: ")) ?? "findings: ").slice(10).split(", ").filter(Boolean).sort(),
      self: self?.replace(/^against itself: /, ""),
    }];
  });
}

// Good files: the example's three reports and a float/quant npy pair (the native test's set).
const GOOD = [
  ["good/model_check_result.txt", "www/examples/model_check_result.txt"],
  ["good/horizon_quant_analysis/compare_per_layer_out.txt", "www/examples/horizon_quant_analysis/compare_per_layer_out.txt"],
  ["good/horizon_quant_analysis/output_0_L1_sensitive_ops.txt", "www/examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt"],
  // Named so that their sides are known. Side-less broken dumps may be given sides to pair among
  // themselves (two of them hold a tensor `x`): only the good pair's row is compared below.
  ["good/act_float.npy", "tests/fixtures/tensors/int8_float.npy"],
  ["good/act_quant.npy", "tests/fixtures/tensors/int8_quant.npy"],
].map(([name, path]) => [name, join(repo, path)]);

/** The file list as shown: [full name (the title), text with the soft breaks removed]. */
const cards = (page) => page.$$eval("ul.files > li.file", (els) =>
  els.map((e) => [e.querySelector(".fname").title, e.textContent.replace(/\u200b/g, "")]));

/** Wait until the file list has `n` entries (each drop's analysis has arrived). */
const listed = (page, n) => page.waitForFunction((n) => document.querySelectorAll("ul.files > li.file").length >= n, n, { timeout: 60000 });

/** What the good files look like: their cards and the int8 pair's row. */
async function goodState(page) {
  // The shown name drops the folders the files share, which change as files come: compare the rest.
  const mine = (await cards(page)).filter(([t]) => t.startsWith("good/")).map(([t, text]) => [t, text.replace(/^\S+/, "")]);
  await page.locator(".tab", { hasText: "Tensors" }).click();
  await page.waitForSelector("table.pairs tbody tr");
  const pairs = await page.$$eval("table.pairs tbody tr[data-pair='act']", (r) => r.map((x) => x.textContent));
  assert.equal(pairs.length, 1, "the good pair's row");
  await page.locator(".tab", { hasText: "Overview" }).first().click();
  await page.waitForSelector("ul.files");
  return { mine, pairs };
}

test("every broken file, dropped in two batches onto good ones, each get their message; the good files stay as they were", async () => {
  const rows = await table();
  assert.ok(rows.length >= 52, `${rows.length} broken files`);
  const names = (await readdir(dir)).filter((f) => f !== "messages.tsv").sort();
  assert.deepEqual(rows.map(([f]) => f), names, "messages.tsv lists the corpus");

  // The good files alone: what they must still look like afterwards.
  const { page: alone, errors: aloneErrors } = await newPage();
  await dropPaths(alone, GOOD);
  await listed(alone, GOOD.length);
  await alone.waitForSelector(".summary");
  const want = await goodState(alone);
  assert.equal(want.mine.length, GOOD.length);
  assert.equal(want.pairs.length, 1, "the int8 pair");
  assert.deepEqual(aloneErrors, []);
  await alone.close();

  const { page, errors } = await newPage();
  await dropPaths(page, GOOD);
  await listed(page, GOOD.length);
  const half = Math.ceil(names.length / 2);
  const t0 = Date.now();
  await dropPaths(page, names.slice(0, half).map((f) => [f, join(dir, f)]));
  await listed(page, GOOD.length + half);
  // Each drop's banner names the files of that drop it could not read.
  let banner = await page.textContent(".banner");
  assert.deepEqual(await goodState(page), want, "after the first batch");
  await dropPaths(page, names.slice(half).map((f) => [f, join(dir, f)]));
  // The two zips with one member each are listed by their member's path (run/model_check_result.txt).
  await listed(page, GOOD.length + names.length);
  console.log(`# ${names.length} broken files in two batches: listed after ${Date.now() - t0} ms`);
  banner += await page.textContent(".banner");
  assert.deepEqual(await goodState(page), want, "after the second batch");

  const shown = await cards(page);
  const dropped = new Set([...names, ...GOOD.map(([n]) => n)]);
  for (const [file, m] of rows) {
    // A zip's reports are its members (named by their path inside it); every other file is itself.
    const mine = shown.filter(([t]) => t === file || (file.endsWith(".zip") && !dropped.has(t)));
    assert.ok(mine.length > 0, `${file} is listed`);
    if (m.outcome.startsWith("refused: ")) {
      const msg = `Not read: ${m.outcome.slice(9)}`;
      assert.ok(mine.some(([, text]) => text.includes(msg)), `${file}: want "${msg}", got ${JSON.stringify(mine)}`);
    } else {
      const label = m.outcome.replace(/^read as /, "");
      const [, text] = mine[0];
      // A dump file's label says its side ("… (float side) — "), a report's does not.
      const side = text.includes(`${label} (float side) — `) || text.includes(`${label} (quantized side) — `);
      assert.ok(text.includes(`${label} — `) || side, `${file}: want "${label}", got ${text}`);
      for (const n of m.notes) assert.ok(text.includes(n), `${file}: note "${n}" missing in ${text}`);
      assert.ok(text.includes(`${m.notes.length} reader note(s)`) || m.notes.length === 0, `${file}: ${text}`);
    }
  }
  // The banners named every refused file.
  banner = banner.replace(/\u200b/g, "");
  for (const [file, m] of rows) {
    if (m.outcome.startsWith("refused: ") && !file.endsWith(".zip")) assert.ok(banner.includes(`${file}: ${m.outcome.slice(9)}`), file);
  }

  // Still responsive: a frame comes at once, and the example's layer grid opens and filters.
  const frame = await page.evaluate(() => new Promise((ok) => { const t = performance.now(); requestAnimationFrame(() => ok(performance.now() - t)); }));
  assert.ok(frame < 1000, `a frame after ${frame} ms`);
  await page.click('button.tab[title="good/horizon_quant_analysis/compare_per_layer_out.txt"]');
  await page.fill('input[aria-label="Filter rows"]', "dim_t_quant");
  await page.waitForFunction(() => /^1 of 1544 rows/.test(document.querySelector(".layers-view .count")?.textContent ?? ""), null, { timeout: 10000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test("each broken report that reads gives, alone, exactly the findings messages.tsv lists", async () => {
  const rows = (await table()).filter(([f, m]) => m.outcome.startsWith("read as ") && m.self === undefined);
  assert.ok(rows.length >= 12, `${rows.length} reports`);
  const { page, errors } = await newPage();
  for (const [file, m] of rows) {
    await page.goto(url);
    await page.waitForSelector(".dropzone");
    await dropPaths(page, [[file, join(dir, file)]]);
    await page.waitForSelector(".summary", { timeout: 30000 });
    const kinds = (await page.$$eval(".finding", (els) => els.map((e) => e.dataset.kind))).sort();
    assert.deepEqual(kinds, m.findings, file);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test("each broken dump that reads, as both sides of a pair, shows what its data holds", async () => {
  const rows = (await table()).filter(([, m]) => m.self !== undefined);
  assert.deepEqual(rows.map(([f]) => f), [
    "npy_nan_inf.npy",
    "npz_big_member_ok.npz",
    "npz_bomb.npz",
    // Cut short: the whole members before the cut are read.
    "npz_cut_in_a_member.npz",
    "npz_lying_size.npz",
    "npz_truncated_directory.npz",
  ]);
  const { page, errors } = await newPage();
  for (const [file, m] of rows) {
    await page.goto(url);
    await page.waitForSelector(".dropzone");
    await dropPaths(page, [[`float/${file}`, join(dir, file)], [`quant/${file}`, join(dir, file)]]);
    await page.waitForSelector(".summary", { timeout: 30000 });
    await page.locator(".tab", { hasText: "Tensors" }).click();
    await page.waitForSelector("table.pairs tbody tr");
    // What the reader said of the file (a zip cut short) is beside it in the Tensors view.
    const fileNotes = await page.locator("table.tfiles .file-note").allTextContents();
    for (const n of m.notes.filter((n) => !n.startsWith("Side not known"))) {
      assert.ok(fileNotes.includes(n), `${file}: the Tensors view shows "${n}": ${JSON.stringify(fileNotes)}`);
    }
    const [pairsText, kinds] = m.self.split(" · findings: ");
    if (kinds) {
      // The findings the pair gets (NaN/∞ on the float side: nonfinite_values) are its row's chips.
      const chips = await page.locator("table.pairs tbody td.chips .chip").allTextContents();
      assert.deepEqual([...new Set(chips)].sort(), kinds.split(", ").sort(), `${file}: ${chips}`);
    }
    for (const pair of pairsText.split("; ")) {
      const [, name, what] = /^([^:]+): (.*)$/.exec(pair);
      const row = page.locator(`table.pairs tbody tr[data-pair="${name}"]`);
      await row.waitFor({ timeout: 20000 });
      const text = await row.textContent();
      const count = /compared, (?:(\d+) of )?(\d+) values/.exec(what);
      if (count) {
        // Compared: the row's shape holds the element count; non-finite values make the metrics NaN.
        const shape = /\[([\d, ]+)\]/.exec(text)[1].split(", ").reduce((a, b) => a * Number(b), 1);
        assert.equal(shape, Number(count[2]), `${file} ${name}: ${text}`);
        assert.doesNotMatch(text, /side:/, `${file} ${name}: ${text}`);
        if (count[1]) assert.match(text, /NaN/, `${file} ${name}: ${text}`);
        else assert.match(text, /∞/, `${file} ${name}: identical sides, SQNR ∞: ${text}`);
      } else {
        // Refused: the pair's own message.
        assert.ok(text.includes(what), `${file} ${name}: want "${what}", got ${text}`);
        assert.match(await row.getAttribute("class"), /pair-error/);
      }
    }
  }
  assert.deepEqual(errors, []);
  await page.close();
});
