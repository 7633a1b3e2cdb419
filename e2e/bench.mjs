// Parse benchmark: a 10,000-row compare_per_layer_out.txt (24 columns) read and diagnosed
//  - in the browser (Chromium, wasm+simd128 in the Web Worker; worker time and drop-to-findings time),
//  - natively (target/release/quantlens report),
//  - and, as a baseline measured in the same run, by Python splitting the same lines on '|' and
//    converting the numeric cells (what a hand-written script does; no diagnosis at all).
// Usage: node e2e/bench.mjs  (after `trunk build --release` and `cargo build --release`).
import { readFile, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch } from "./server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const ROWS = 10000;
const RUNS = 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Build the table from the example's rows (same widths, so the grid stays aligned).
const src = (await readFile(join(repo, "www/examples/horizon_quant_analysis/compare_per_layer_out.txt"), "utf8")).split("\n");
const sep = src.findIndex((l) => l.startsWith("|--") || l.startsWith("|-"));
const data = src.filter((l, i) => i > sep && l.startsWith("|"));
const rows = [];
for (let i = 0; rows.length < ROWS; i++) rows.push(data[i % data.length]);
const text = [src[0], ...src.slice(1, sep + 1), ...rows, src[0]].join("\n") + "\n";
const file = "/tmp/quantlens_bench_compare_10k.txt";
await writeFile(file, text);
const mb = Buffer.byteLength(text) / 1e6;

// Native.
const native = [];
for (let r = 0; r < RUNS; r++) {
  const t0 = process.hrtime.bigint();
  const p = spawnSync(join(repo, "target/release/quantlens"), ["report", file, "--json"], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (p.status !== 0) throw new Error(p.stderr);
  native.push(Number(process.hrtime.bigint() - t0) / 1e6);
}

// Python baseline (same file, same run).
const py = `
import sys, time
t0 = time.perf_counter()
rows = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("|") or line.startswith("|-"):
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    vals = []
    for c in cells[6:]:
        try:
            vals.append(float(c))
        except ValueError:
            vals.append(None)
    rows += 1
print((time.perf_counter() - t0) * 1000.0)
`;
const python = [];
for (let r = 0; r < RUNS; r++) {
  const p = spawnSync("python3", ["-c", py, file], { encoding: "utf8" });
  if (p.status !== 0) throw new Error(p.stderr);
  python.push(Number(p.stdout.trim()));
}

// Browser.
const { server, url } = await serve(join(repo, "dist"));
const browser = await launch(chromium);
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
await page.goto(url);
await page.waitForSelector(".dropzone");
const worker = [], endToEnd = [];
for (let r = 0; r < RUNS; r++) {
  const t = await page.evaluate(async (text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], "compare_per_layer_out.txt", { type: "text/plain" }));
    const t0 = performance.now();
    document.querySelector(".app").dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
    for (;;) {
      await new Promise((ok) => setTimeout(ok, 5));
      const f = document.querySelector("#parse-ms");
      if (f && !document.querySelector(".progress")) return { e2e: performance.now() - t0, worker: Number(f.dataset.ms) };
    }
  }, text);
  worker.push(t.worker);
  endToEnd.push(t.e2e);
  await page.click("text=Clear");
  await page.waitForSelector(".dropzone");
}
await browser.close();
server.close();

const fmt = (ms) => `${ms.toFixed(0).padStart(6)} ms  ${(mb / (ms / 1000)).toFixed(1).padStart(6)} MB/s`;
console.log(`\nParsing + diagnosing a ${ROWS}-row compare_per_layer_out.txt (${mb.toFixed(1)} MB, 24 columns), median of ${RUNS}:`);
console.log(`  browser worker (wasm, read + parse)         ${fmt(median(worker))}   ${(median(python) / median(worker)).toFixed(2)}× the Python baseline`);
console.log(`  browser drop → findings shown (end to end)  ${fmt(median(endToEnd))}`);
console.log(`  native CLI (quantlens report, whole process) ${fmt(median(native))}   ${(median(python) / median(native)).toFixed(2)}× the Python baseline`);
console.log(`  baseline: Python split on '|' + float()      ${fmt(median(python))}   (no diagnosis)`);
