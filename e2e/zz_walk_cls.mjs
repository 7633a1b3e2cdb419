import { setup, newPage, drop, shot, text, tabs, banners, runUntil, S } from "./zz_walk_common.mjs";
import { writeFile, mkdir } from "node:fs/promises";
const { server, url, browser } = await setup();
const T = "cls";
const { page, errors } = await newPage(browser, url, T);
await drop(page, ["ch_ppocr_mobile_v2.0_cls_infer.onnx", "img_0001.png", "img_0002.png", "img_0003.png"]);
await page.waitForSelector(".model-run", { timeout: 60000 });
await page.waitForSelector("#preprocess", { timeout: 60000 }).catch(() => console.log("no #preprocess"));
await page.waitForTimeout(1500);
console.log("panel:", await text(page, ".model-run"));
await page.selectOption("#pp-preset", "ppocr");
await page.waitForTimeout(500);
console.log("describe:", await text(page, "#pp-describe"), "size:", await page.inputValue("#pp-size").catch(() => "?"));
await shot(page, "cls-01-panel");
await page.click("#run-model-int8");
const ok1 = await runUntil(page, 'button.tab[title$="_int8_run/compare_per_layer_out.txt"]', 300000, T + " int8");
await page.waitForTimeout(1500);
console.log("banners:", await banners(page));
console.log("tabs:", await tabs(page));
await shot(page, "cls-02-after-int8");
// Visit each tab
const all = await page.$$("button.tab");
for (let i = 0; i < all.length; i++) {
  const t = ((await all[i].getAttribute("title")) || (await all[i].textContent())).trim();
  await all[i].click().catch((e) => console.log("cannot click", t));
  await page.waitForTimeout(800);
  const b = await banners(page);
  const main = (await page.evaluate(() => document.querySelector("main, .view, .content")?.innerText || document.body.innerText)).replace(/\s+/g, " ").slice(0, 250);
  console.log(`TAB ${i} "${t}": ${main}`);
  await shot(page, `cls-tab${String(i).padStart(2, "0")}-${t.replace(/[^A-Za-z0-9]+/g, "_").slice(-50)}`);
}
// Mixed precision
const mp = page.locator(".tab", { hasText: "Mixed precision" });
if (await mp.count()) {
  await mp.first().click();
  await page.waitForSelector(".int16-list li", { timeout: 20000 }).catch(() => console.log("no int16 list"));
  const pts = await page.$$eval("svg.pareto .simulated-pt", (c) => c.length).catch(() => -1);
  console.log("simulated pts", pts, "prov:", await text(page, ".recommend-view .provenance"), "readout:", await text(page, ".ratio-readout.simulated"));
  await shot(page, "cls-03-mixed");
} else console.log("NO Mixed precision tab");
const rf = await page.evaluate(() => window.__runFiles);
await mkdir("/tmp/walk/runmsg", { recursive: true });
await writeFile("/tmp/walk/runmsg/cls_int8.json", JSON.stringify(rf));
console.log("captured run messages:", rf.length, JSON.stringify(rf).length);
// int16
await page.click("#run-model-int16");
await runUntil(page, 'button.tab[title$="_int16_run/compare_per_layer_out.txt"]', 300000, T + " int16");
await page.waitForTimeout(1000);
console.log("banners:", await banners(page));
console.log("tabs:", await tabs(page));
await shot(page, "cls-04-after-int16");
// KL
await page.selectOption("#model-observer", "kl");
await page.click("#run-model-int8");
await runUntil(page, 'button.tab[title*="kl"][title$="compare_per_layer_out.txt"]', 300000, T + " kl");
await page.waitForTimeout(1000);
console.log("banners:", await banners(page));
console.log("tabs:", await tabs(page));
await shot(page, "cls-05-after-kl");
for (const sel of ['button.tab[title*="kl"][title$="compare_per_layer_out.txt"]', 'button.tab[title*="kl"][title$="_SQNR_sensitive_ops.txt"]']) {
  const el = await page.$(sel); if (el) { await el.click(); await page.waitForTimeout(800); console.log(sel, (await page.evaluate(() => document.body.innerText)).replace(/\s+/g, " ").slice(0, 300)); await shot(page, "cls-06-kl-" + sel.slice(-30).replace(/[^A-Za-z0-9]+/g, "_")); }
}
const mp2 = page.locator(".tab", { hasText: "Mixed precision" });
if (await mp2.count()) { await mp2.first().click(); await page.waitForTimeout(1500); console.log("MP after kl:", await text(page, ".recommend-view .provenance"), await text(page, ".ratio-readout.simulated")); await shot(page, "cls-07-mixed-after-kl"); }
await writeFile("/tmp/walk/runmsg/cls_all.json", JSON.stringify(await page.evaluate(() => window.__runFiles)));
console.log("ERRORS:", errors);
await browser.close(); server.close();
