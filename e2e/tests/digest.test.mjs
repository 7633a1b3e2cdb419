// End-to-end: a link that carries its findings without the files. It stays under 8 KiB, a fresh
// browser shows its findings read-only with the files to drop, and dropping them says whether they
// are the link's files (size and SHA-256); a damaged digest gets a clear message.
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

async function digestLink() {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(url).origin });
  const { page, errors } = await newPage(ctx);
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  // The Overview's ranking: "the findings that matter most".
  const kinds = await page.$$eval(".top-list .top-item .kind", (k) => k.map((x) => x.textContent));
  await page.click("#digest-link");
  await page.waitForSelector("#digest-url");
  const link = await page.inputValue("#digest-url");
  await page.waitForFunction(() => document.querySelector(".digest-link")?.textContent.includes("copied"));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  assert.deepEqual(errors, []);
  await ctx.close();
  return { link, kinds };
}

test("a digest link shows the findings read-only in a fresh browser, and checks the dropped files", async () => {
  const { link, kinds } = await digestLink();
  const hash = new URL(link).hash;
  assert.match(hash, /^#d=[A-Za-z0-9_-]+&s=[A-Za-z0-9_-]+$/);
  assert.ok(hash.length < 8192, `fragment of ${hash.length} characters`);

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page, errors } = await newPage(ctx);
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(link);
  await page.waitForSelector(".digest .digest-finding");
  const shown = await page.$$eval(".digest-finding", (f) => f.map((x) => x.dataset.kind));
  assert.ok(shown.length >= 10, `${shown.length} findings in the digest`);
  // The Overview's order: the first finding of the digest is the first the analysis ranks.
  assert.deepEqual(shown.slice(0, kinds.length), kinds);
  // A cited row travels with its cells.
  assert.ok(await page.$(".digest-row table.kv th"));
  const files = await page.$$eval(".digest-files li code", (c) => c.map((x) => x.textContent));
  assert.deepEqual(files.sort(), [
    "example/horizon_quant_analysis/abnormal_layer_advisor.txt",
    "example/horizon_quant_analysis/compare_per_layer_out.txt",
    "example/horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
    "example/model_check_result.txt",
  ]);
  assert.ok(!requests.some((r) => r.includes("/examples/")), "nothing fetched: the findings came in the link");

  // The same files: every view, and the check says so.
  await page.click("#load-example");
  await page.waitForSelector(".banner", { timeout: 30000 });
  await page.waitForFunction(() => document.querySelector(".banner")?.textContent.includes("link's files"), null, { timeout: 30000 });
  // The link's own files are news, not a warning: a status notice, not the alert banner.
  assert.match(await page.textContent('.banner.notice[role="status"]'), /These are the link's files: 4 of 4 match \(size and SHA-256\)/);
  assert.equal(await page.$('.banner[role="alert"]'), null);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("dropping a different file with the same name says it is not the link's", async () => {
  const { link } = await digestLink();
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const { page } = await newPage(ctx);
  await page.goto(link);
  await page.waitForSelector(".digest");
  const original = await readFile(join(repo, "www", "examples", "model_check_result.txt"));
  const changed = Buffer.concat([original, Buffer.from("\n")]);
  await page.setInputFiles('input[aria-label="Open files"]', [
    { name: "model_check_result.txt", mimeType: "text/plain", buffer: changed },
  ]);
  await page.waitForFunction(() => document.querySelector('.banner[role="alert"]')?.textContent.includes("Not the link's files"), null, { timeout: 30000 });
  const text = await page.textContent('.banner[role="alert"]');
  // Matched by its file name (the link's is in a folder), and said with the name it was loaded as.
  assert.match(text, new RegExp(`example/model_check_result\\.txt \\(loaded as model_check_result\\.txt\\) differs from the link's \\(${changed.length} bytes here, ${original.length} in the link\\)`));
  assert.match(text, /example\/horizon_quant_analysis\/compare_per_layer_out\.txt is not loaded/);
  await ctx.close();
});

test("a damaged or newer digest gets a clear message and the page works", async () => {
  const { page, errors } = await newPage();
  await page.goto(url + "#d=%%%not-base64");
  await page.waitForSelector(".banner");
  assert.match(await page.textContent(".banner"), /The findings in this link cannot be shown: .*damaged/i);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  assert.deepEqual(errors, []);
  await page.close();
});
