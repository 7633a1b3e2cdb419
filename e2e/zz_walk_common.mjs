import { chromium } from "playwright-core";
import { serve, launch } from "./server.mjs";
import { readFile, writeFile, mkdir } from "node:fs/promises";
export const D = "/tmp/walk/data/", S = "/tmp/walk/shots/";
export async function setup() {
  const { server, url } = await serve("/work/main/dist");
  const browser = await launch(chromium);
  return { server, url, browser };
}
export async function newPage(browser, url, tag) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => { errors.push("PAGEERR " + e); console.log(`[${tag}] PAGEERR`, String(e).slice(0, 300)); });
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") { errors.push(m.type() + " " + m.text()); console.log(`[${tag}] console.${m.type()}:`, m.text().slice(0, 300)); } });
  await page.addInitScript(() => {
    window.__runFiles = [];
    const W = window.Worker;
    window.Worker = function (u, o) {
      const w = new W(u, o);
      if (String(u).includes("model_worker")) w.addEventListener("message", (e) => {
        try { const d = e.data; const f = d && (d.files || (d.Done && d.Done.files) || (d.msg && d.msg.files));
          const s = JSON.stringify(d); if (s && s.includes("compare_per_layer_out")) window.__runFiles.push(d); } catch {}
      });
      return w;
    };
    window.Worker.prototype = W.prototype;
  });
  await page.goto(url);
  await page.waitForSelector(".dropzone");
  return { page, errors };
}
export async function drop(page, names) {
  await page.setInputFiles('input[aria-label="Open files"]', await Promise.all(names.map(async (n) => {
    const [path, name] = Array.isArray(n) ? n : [D + n, n];
    return { name, mimeType: "application/octet-stream", buffer: await readFile(path) };
  })));
}
export async function shot(page, name) { await page.screenshot({ path: S + name + ".png", fullPage: false }); return S + name + ".png"; }
export async function text(page, sel) { return (await page.textContent(sel).catch(() => null))?.replace(/\s+/g, " ").trim(); }
export async function tabs(page) { return page.$$eval("button.tab", (b) => b.map((x) => (x.title || x.textContent).trim())); }
export async function banners(page) { return page.$$eval(".banner, [role=alert], .error, .image-error, .warning", (b) => b.map((x) => x.className + ": " + x.textContent.replace(/\s+/g, " ").trim().slice(0, 400))); }
// Watch progress until selector appears; log progress text changes.
export async function runUntil(page, sel, timeout, tag) {
  const t0 = Date.now(); let last = "";
  while (Date.now() - t0 < timeout) {
    if (await page.$(sel)) { console.log(`[${tag}] done in ${Date.now() - t0} ms`); return true; }
    const p = await text(page, ".progress");
    if (p && p !== last) { console.log(`[${tag}] ${((Date.now() - t0) / 1000).toFixed(1)}s progress: ${p.slice(0, 200)}`); last = p; }
    const b = await page.$$eval(".banner", (b) => b.map((x) => x.textContent.trim()).join(" | ")).catch(() => "");
    if (/error|cannot|could not|fail/i.test(b) && !/Ran on/.test(b)) { console.log(`[${tag}] banner: ${b.slice(0, 500)}`); }
    await page.waitForTimeout(500);
  }
  console.log(`[${tag}] TIMEOUT after ${timeout} ms waiting for ${sel}`); return false;
}
