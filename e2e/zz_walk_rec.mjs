import { setup, newPage, drop, shot, text, tabs, banners, runUntil } from "./zz_walk_common.mjs";
const { server, url, browser } = await setup();
const T = "rec";
const { page, errors } = await newPage(browser, url, T);
await drop(page, ["ch_PP-OCRv4_rec_infer.onnx", "crop_0004.jpg", "crop_0005.png"]);
await page.waitForSelector("#model-inputs .model-input", { timeout: 90000 }).catch(() => console.log("no model-inputs"));
await page.waitForTimeout(1500);
console.log("inputs:", await text(page, "#model-inputs"));
console.log("preset now:", await page.inputValue("#pp-preset").catch(() => "?"), await text(page, "#pp-describe"));
await page.fill("#shape-0", "1x3x48x320");
await page.press("#shape-0", "Tab");
await page.waitForTimeout(800);
console.log("after shape:", await text(page, ".model-run"));
console.log("pp-error:", await text(page, "#pp-error"));
await shot(page, "rec-01-panel");
await page.click("#run-model-int8");
await runUntil(page, 'button.tab[title$="compare_per_layer_out.txt"]', 600000, T);
await page.waitForTimeout(1500);
console.log("banners:", (await banners(page)).slice(0, 4));
console.log("tabs:", await tabs(page));
await shot(page, "rec-02-after");
for (const sel of ['button.tab[title$="compare_per_layer_out.txt"]', 'button.tab[title$="_L1_sensitive_ops.txt"]']) {
  const el = await page.$(sel); if (el) { await el.click(); await page.waitForTimeout(800); await shot(page, "rec-03-" + sel.slice(-22).replace(/[^A-Za-z0-9]+/g, "_")); }
}
const mp = page.locator(".tab", { hasText: "Mixed precision" });
if (await mp.count()) { await mp.first().click(); await page.waitForTimeout(2000); console.log("MP:", await text(page, ".recommend-view .provenance"), "|", await text(page, ".ratio-readout.simulated"), "pts", await page.$$eval("svg.pareto .simulated-pt", (c) => c.length)); await shot(page, "rec-04-mixed"); }
console.log("ERRORS:", errors.filter((e) => !/deprecated parameters|integrity/.test(e)));
await browser.close(); server.close();
