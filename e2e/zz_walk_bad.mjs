import { setup, newPage, drop, shot, text, tabs, banners, runUntil } from "./zz_walk_common.mjs";
const { server, url, browser } = await setup();
const show = async (page, tag) => { console.log(`[${tag}] banners:`, (await banners(page)).filter(b=>!/random inputs mis-rank/.test(b)).slice(0, 5)); console.log(`[${tag}] overview:`, (await page.evaluate(() => document.body.innerText)).replace(/\s+/g, " ").slice(0, 900)); await shot(page, "bad-" + tag); };
const noise = (e) => !/deprecated parameters|integrity/.test(e);
// a truncated onnx
{ const { page, errors } = await newPage(browser, url, "trunc");
  await drop(page, ["truncated.onnx", "img_0001.png"]); await page.waitForTimeout(8000);
  if (await page.$("#run-model-int8")) { console.log("run button present; disabled?", await page.isDisabled("#run-model-int8")); if (!(await page.isDisabled("#run-model-int8"))) { await page.click("#run-model-int8"); await page.waitForTimeout(10000); } }
  await show(page, "trunc"); console.log("ERR", errors.filter(noise)); await page.close(); }
// wrong shape npy
{ const { page, errors } = await newPage(browser, url, "wrongshape");
  await drop(page, ["ch_ppocr_mobile_v2.0_cls_infer.onnx", "wrong_shape.npy"]); await page.waitForSelector("#run-model-int8", { timeout: 60000 });
  await page.waitForTimeout(1500); await page.click("#run-model-int8"); await page.waitForTimeout(10000);
  await show(page, "wrongshape"); console.log("ERR", errors.filter(noise)); await page.close(); }
// npz with a space and folder name + cls
{ const { page, errors } = await newPage(browser, url, "npz");
  await drop(page, ["ch_ppocr_mobile_v2.0_cls_infer.onnx", ["/tmp/walk/data/calib/sample 3.npz", "calib/sample 3.npz"]]); await page.waitForSelector("#run-model-int8", { timeout: 60000 });
  await page.waitForTimeout(1500); await page.click("#run-model-int8"); await runUntil(page, 'button.tab[title$="compare_per_layer_out.txt"]', 120000, "npz");
  console.log("[npz] banners", (await banners(page)).slice(0, 2)); console.log("ERR", errors.filter(noise)); await shot(page, "bad-npz"); await page.close(); }
// half png
{ const { page, errors } = await newPage(browser, url, "halfpng");
  await drop(page, ["ch_ppocr_mobile_v2.0_cls_infer.onnx", "half.png"]); await page.waitForTimeout(8000);
  console.log("[halfpng] run disabled?", await page.isDisabled("#run-model-int8").catch(() => "no button"));
  if (await page.$("#run-model-int8") && !(await page.isDisabled("#run-model-int8"))) { await page.click("#run-model-int8"); await page.waitForTimeout(8000); }
  await show(page, "halfpng"); console.log("ERR", errors.filter(noise)); await page.close(); }
// random inputs
{ const { page, errors } = await newPage(browser, url, "random");
  await drop(page, ["ch_ppocr_mobile_v2.0_cls_infer.onnx"]); await page.waitForSelector("#shape-0", { timeout: 60000 });
  await page.click("#random-inputs summary");
  // first try without typing the shape
  await page.click("#run-model-random"); await page.waitForTimeout(4000);
  console.log("[random] without shape:", (await banners(page)).filter(b=>!/mis-rank layers: activations/.test(b)).slice(0,3), await text(page, "#random-inputs"));
  await shot(page, "bad-random-noshape");
  await page.fill("#shape-0", "1x3x48x192"); await page.press("#shape-0", "Tab");
  await page.click("#run-model-random"); await runUntil(page, 'button.tab[title$="compare_per_layer_out.txt"]', 120000, "random");
  console.log("[random] banners", (await banners(page)).slice(0, 3)); await shot(page, "bad-random"); console.log("ERR", errors.filter(noise)); await page.close(); }
// custom op
{ const { page, errors } = await newPage(browser, url, "customop");
  await drop(page, ["custom_op.onnx", "custom_x.npy"]); await page.waitForTimeout(6000);
  console.log("[customop] panel:", await text(page, ".model-run"));
  if (await page.$("#run-model-int8")) { await page.click("#run-model-int8"); await page.waitForTimeout(10000); }
  await show(page, "customop"); console.log("ERR", errors.filter(noise)); await page.close(); }
await browser.close(); server.close();
