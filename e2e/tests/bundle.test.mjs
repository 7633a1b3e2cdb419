// End-to-end: the ways to share with the data. A bundled site (`quantlens bundle`) served by a
// static server opens with its files; `?src=` loads from the page's origin and asks before another
// origin; the HTML report (the app's "Export report" and `quantlens report --html`) opens from
// file:// with every request blocked, in the view it was exported in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, stat, cp } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch, scratchDir } from "../server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const real = join(repo, "tests", "fixtures", "real");
let browser, server, url, site, siteServer, siteUrl, tmp;

// The CLI of this checkout (built by the native tests before the browser tests run).
function quantlens(...args) {
  return execFileSync("cargo", ["run", "--quiet", "--locked", "--bin", "quantlens", "--", ...args], {
    cwd: repo,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

before(async () => {
  tmp = await scratchDir("quantlens-share-");
  ({ server, url } = await serve(join(repo, "dist")));
  site = join(tmp, "site");
  quantlens("bundle", join(real, "ort_int8"), "--out", site, "--app", join(repo, "dist"));
  ({ server: siteServer, url: siteUrl } = await serve(site));
  browser = await launch(chromium);
});

after(async () => {
  await browser?.close();
  server?.close();
  siteServer?.close();
});

async function newPage(context) {
  const page = await (context ?? browser).newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("dialog", (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  return { page, errors };
}

// Every request a page makes, by URL, to assert where it went.
function recordRequests(page) {
  const seen = [];
  page.on("request", (r) => seen.push(r.url()));
  return seen;
}

test("a bundled site opens with its data loaded, fetched from its own origin only", async () => {
  const index = JSON.parse(await readFile(join(site, "data", "index.json"), "utf8"));
  assert.equal(index.quantlens_bundle, 1);
  const names = index.files.map((f) => f.name);
  assert.ok(names.includes("ort_int8/horizon_quant_analysis/compare_per_layer_out.txt"), names.join(", "));
  assert.ok(names.includes("ort_int8/float.npz"));
  for (const f of index.files) assert.match(f.sha256, /^[0-9a-f]{64}$/);

  const { page, errors } = await newPage();
  const requests = recordRequests(page);
  await page.goto(siteUrl);
  await page.waitForSelector(".finding", { timeout: 60000 });
  await page.waitForSelector('button.tab[title$="compare_per_layer_out.txt"]');
  const tabs = await page.$$eval("button.tab", (b) => b.map((x) => x.textContent));
  assert.ok(tabs.some((t) => t.startsWith("Tensors (")), tabs.join(" | "));
  const origin = new URL(siteUrl).origin;
  const foreign = requests.filter((r) => !r.startsWith(origin) && !r.startsWith("blob:") && !r.startsWith("data:"));
  assert.deepEqual(foreign, []);
  for (const f of index.files) assert.ok(requests.includes(new URL("data/" + f.url, siteUrl).href), f.url);

  // A view link into the bundled site opens that view once the data is in.
  await page.click('button.tab[title$="compare_per_layer_out.txt"]');
  await page.waitForSelector("input.search");
  await page.type("input.search", "conv", { delay: 10 });
  await page.waitForFunction(() => location.hash.length > 3);
  const link = page.url();
  const { page: other, errors: otherErrors } = await newPage();
  await other.goto(link);
  await other.waitForSelector("input.search", { timeout: 60000 });
  assert.equal(await other.inputValue("input.search"), "conv");
  assert.deepEqual(otherErrors, []);
  await other.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test("?src= loads one file from the page's origin; another origin the CSP does not name is refused with the reason", async () => {
  const { page, errors } = await newPage();
  await page.goto(url + "?src=examples/model_check_result.txt");
  await page.waitForSelector(".finding", { timeout: 30000 });
  assert.ok(await page.$('button.tab[title="model_check_result.txt"]'));
  assert.deepEqual(errors, []);
  await page.close();

  // Another origin this deployment's CSP does not name: the page says so and offers nothing to
  // confirm (the browser would refuse the load anyway); nothing is fetched.
  const { page: p2, errors: e2 } = await newPage();
  const requests = recordRequests(p2);
  await p2.goto(url + "?src=" + encodeURIComponent("http://127.0.0.2:9/run42/index.json"));
  await p2.waitForSelector(".banner");
  assert.match(await p2.textContent(".banner"), /This link names files on http:\/\/127\.0\.0\.2:9 .*loads files only from its own site.*QUANTLENS_ALLOW_ORIGINS/);
  assert.equal(await p2.$(".banner.confirm"), null);
  assert.equal(requests.filter((r) => r.startsWith("http://127.0.0.2")).length, 0, "nothing fetched");
  assert.deepEqual(e2, []);
  await p2.close();
});

test("a deployment that names another origin at build time loads a report folder from it, after the user confirms", async () => {
  // The app as built with QUANTLENS_ALLOW_ORIGINS naming the artifact host (the CSP names it).
  const app = join(tmp, "allowed");
  await cp(join(repo, "dist"), app, { recursive: true });
  const { server: data, url: dataUrl } = await serve(join(site, "data"), 0, { cors: true });
  try {
    const origin = new URL(dataUrl).origin;
    execFileSync("python3", [join(repo, "scripts", "csp_hash.py"), app], { env: { ...process.env, QUANTLENS_ALLOW_ORIGINS: origin }, stdio: "ignore" });
    const { server: s, url: u } = await serve(app);
    try {
      const { page, errors } = await newPage();
      await page.goto(u + "?src=" + encodeURIComponent(dataUrl + "index.json"));
      await page.waitForSelector(".banner.confirm");
      await page.click("#confirm-src");
      await page.waitForSelector(".finding", { timeout: 60000 });
      await page.waitForSelector('button.tab[title$="compare_per_layer_out.txt"]');
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      s.close();
    }
  } finally {
    data.close();
  }
});

test("?src= to a zipped report folder opens it as the folder; a zip bomb beside it is refused", async () => {
  const app = join(tmp, "withzip");
  await cp(join(repo, "dist"), app, { recursive: true });
  await cp(join(repo, "tests", "fixtures", "zip", "reports.zip"), join(app, "reports.zip"));
  const { server: s, url: u } = await serve(app);
  try {
    const { page, errors } = await newPage();
    await page.goto(u + "?src=reports.zip");
    await page.waitForSelector('button.tab[title="run42/model_check_result.txt"]', { timeout: 30000 });
    assert.ok(await page.$('button.tab[title="run42/horizon_quant_analysis/abnormal_layer_advisor.txt"]'));
    assert.deepEqual(errors, []);
    // A bomb dropped next: its message, and the zip's files stay.
    const bomb = await readFile(join(repo, "tests", "fixtures", "zip", "bomb.zip"));
    await page.setInputFiles('input[aria-label="Open files"]', [{ name: "bomb.zip", mimeType: "application/zip", buffer: bomb }]);
    await page.waitForFunction(() => document.querySelector(".banner")?.textContent.includes("inflates past"), null, { timeout: 30000 });
    assert.ok(await page.$('button.tab[title="run42/model_check_result.txt"]'));
    await page.close();
  } finally {
    s.close();
  }
});

test("a bundle index that points outside its folder is refused with the reason; the rest of the app goes on", async () => {
  const evil = join(tmp, "evil");
  quantlens("bundle", join(repo, "www", "examples", "model_check_result.txt"), "--out", evil, "--app", join(repo, "dist"));
  await writeFile(join(evil, "data", "index.json"), JSON.stringify({
    quantlens_bundle: 1,
    files: [{ name: "<img src=x onerror=alert(1)>.txt", url: "../../etc/passwd", bytes: 1, sha256: "0".repeat(64) }],
  }));
  const { server: es, url: eu } = await serve(evil);
  try {
    const { page, errors } = await newPage();
    const requests = recordRequests(page);
    await page.goto(eu);
    await page.waitForSelector(".banner", { timeout: 20000 });
    assert.match(await page.textContent(".banner"), /the bundle index names "\.\.\/\.\.\/etc\/passwd": `\.` and `\.\.` are not allowed/);
    assert.ok(!requests.some((r) => r.includes("passwd")));
    // The page still works: the example loads.
    await page.click("#load-example");
    await page.waitForSelector(".finding", { timeout: 30000 });
    assert.deepEqual(errors.filter((e) => !/404|Failed to load resource/.test(e)), []);
    await page.close();
  } finally {
    es.close();
  }
});

test("Export report writes one HTML file that opens from file:// with the network blocked, in the same view", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const { page, errors } = await newPage(ctx);
  await page.goto(url);
  await page.click("#load-example");
  await page.waitForSelector(".finding", { timeout: 30000 });
  await page.click('.finding[data-kind="shared_module"] button.evidence');
  await page.waitForSelector(".check-view tr.hl");
  const tab = await page.getAttribute("button.tab.active", "title");
  const selected = await page.textContent(".flist-item.selected");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-report")]);
  assert.match(download.suggestedFilename(), /^quantlens-report-example\.html$/);
  const file = join(tmp, download.suggestedFilename());
  await download.saveAs(file);
  const size = (await stat(file)).size;
  assert.ok(size > 500_000 && size < 4_000_000, `report size ${size}`);
  assert.deepEqual(errors, []);
  await ctx.close();

  // A colleague opens the file: offline, every request that is not the file itself refused.
  const off = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await off.setOffline(true);
  const blocked = [];
  await off.route("**/*", (r) => {
    const u = r.request().url();
    if (u.startsWith("file:") || u.startsWith("blob:") || u.startsWith("data:")) return r.continue();
    blocked.push(u);
    return r.abort();
  });
  const { page: rep, errors: repErrors } = await newPage(off);
  await rep.goto("file://" + file);
  await rep.waitForFunction((t) => document.querySelector("button.tab.active")?.title === t, tab, { timeout: 30000 });
  await rep.waitForSelector(".check-view tr.hl");
  assert.equal(await rep.textContent(".flist-item.selected"), selected);
  assert.match(await rep.textContent(".report-ribbon"), /its files are inside this page \(4 files · exported/);
  assert.equal(await rep.$("#load-example"), null, "a report has no example to fetch");
  // Every view of the report draws.
  const titles = await rep.$$eval("button.tab", (b) => b.map((x) => x.title));
  for (const t of titles) {
    await rep.click(`button.tab[title="${t}"]`);
    await rep.waitForFunction((x) => document.querySelector("button.tab.active")?.title === x, t);
  }
  assert.deepEqual(blocked, []);
  assert.deepEqual(repErrors, []);
  await off.close();
});

test("quantlens report --html: a real int8 run with its dumps, from file://, offline, tensors compared", async () => {
  const out = join(tmp, "ort_int8.html");
  execFileSync("cargo", ["run", "--quiet", "--locked", "--bin", "quantlens", "--", "report", join(real, "ort_int8"), "--html", out, "--app", join(repo, "dist")], { cwd: repo, stdio: "ignore" });
  const off = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await off.setOffline(true);
  const { page, errors } = await newPage(off);
  const requests = recordRequests(page);
  await page.goto("file://" + out);
  await page.waitForSelector(".finding", { timeout: 60000 });
  await page.locator("button.tab", { hasText: "Tensors (" }).click();
  await page.waitForSelector(".pairs-table, table", { timeout: 30000 });
  assert.deepEqual(requests.filter((r) => !r.startsWith("file:") && !r.startsWith("blob:") && !r.startsWith("data:")), []);
  assert.deepEqual(errors, []);
  await off.close();
});
