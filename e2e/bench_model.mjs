// Model runner benchmark (a benchmark, not a test): headless Chromium, one thread, both sides of
// every ratio measured in the same run.
//  1. Forward pass: tract in QuantLens's model worker (wasm simd128) vs onnxruntime-web 1.30.0
//     (wasm backend, numThreads 1, proxy off), same model, same input: PP-OCR text classifier
//     1×3×48×192, PP-OCRv4 detector 96×96 and 640×640. Warm-up runs first, then the median.
//  2. True sensitivity of every tensor (int8 min-max, one input): the engine's `sensitivity` vs
//     onnxruntime-web running one graph with a gated fake quant after every tensor (written by
//     scripts/bench_model_graph.py with the scales our calibration used) and a one-hot mask input:
//     one session, one run per tensor.
//  3. The detector at 96×96 from drop to sensitivity tables: the model worker's whole `Run`.
//  4. The wasm heap of the 640×640 detector's sensitivity run (the worker's memory never shrinks).
// Usage: node e2e/bench_model.mjs  (after `trunk build --release`; models from
// `pip install rapidocr-onnxruntime`, or QUANTLENS_OCR_MODELS=dir). BENCH_MODEL_ORT640=1 also runs
// onnxruntime-web's sensitivity at 640×640 (several minutes); BENCH_MODEL_ONLY=cls,det96 runs only those;
// BENCH_DIST=folder times another build of the app instead of dist/.
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..");
// Warm-up and timed forward runs per model (fewer at 640×640, where one run takes seconds).
const WARMUP = { cls: 10, det96: 10, det640: 2 };
const RUNS = { cls: 15, det96: 15, det640: 5 };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MiB = 1024 * 1024;

function modelsDir() {
  if (process.env.QUANTLENS_OCR_MODELS) return process.env.QUANTLENS_OCR_MODELS;
  const p = spawnSync("python3", ["-c", "import rapidocr_onnxruntime,os;print(os.path.dirname(rapidocr_onnxruntime.__file__))"], { encoding: "utf8" });
  if (p.status !== 0) throw new Error("pip install rapidocr-onnxruntime (or set QUANTLENS_OCR_MODELS): " + p.stderr);
  return join(p.stdout.trim(), "models");
}

const CASES = [
  { key: "cls", label: "PP-OCR cls 1×3×48×192", file: "ch_ppocr_mobile_v2.0_cls_infer.onnx", shape: [1, 3, 48, 192], sens: true, ortSens: true },
  { key: "det96", label: "PP-OCRv4 det 96×96", file: "ch_PP-OCRv4_det_infer.onnx", shape: [1, 3, 96, 96], sens: true, ortSens: true, fullRun: true },
  { key: "det640", label: "PP-OCRv4 det 640×640", file: "ch_PP-OCRv4_det_infer.onnx", shape: [1, 3, 640, 640], sens: true, ortSens: process.env.BENCH_MODEL_ORT640 === "1" },
].filter((c) => !process.env.BENCH_MODEL_ONLY || process.env.BENCH_MODEL_ONLY.split(",").includes(c.key));

// A deterministic input: a smooth image-like pattern plus noise, in [-1, 1] like the PP-OCR
// preprocessing's output.
function input(shape) {
  const [, c, h, w] = shape;
  const v = new Float32Array(c * h * w);
  let s = 12345;
  for (let k = 0; k < c; k++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const noise = (s / 2 ** 32) * 2 - 1;
        const stripe = Math.sin((x + 3 * k) / 5) * Math.cos(y / 7);
        v[(k * h + y) * w + x] = Math.max(-1, Math.min(1, 0.7 * stripe + 0.3 * noise));
      }
  return v;
}

function npy(shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  head.write("\x93NUMPY", 0, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, "latin1"), Buffer.from(data.buffer)]);
}

// One served folder: the app's build (the model worker), onnxruntime-web's files, models, inputs.
const root = "/tmp/quantlens_bench_model";
await rm(root, { recursive: true, force: true });
await mkdir(root, { recursive: true });
// BENCH_DIST=folder: another build of the app (e.g. its wasm run through wasm-opt) in place of dist/.
await symlink(process.env.BENCH_DIST || join(repo, "dist"), join(root, "app"));
await symlink(join(here, "node_modules", "onnxruntime-web", "dist"), join(root, "ort"));
const models = modelsDir();
for (const c of CASES) {
  await symlink(join(models, c.file), join(root, `${c.key}.onnx`));
  c.input = input(c.shape);
  await writeFile(join(root, `${c.key}.f32`), Buffer.from(c.input.buffer));
  await writeFile(join(root, `${c.key}.npy`), npy(c.shape, c.input));
}
await writeFile(join(root, "index.html"), "<!doctype html><title>model benchmark</title>");

const { server, url } = await serve(root);
const browser = await launch(chromium);
const page = await browser.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(url);

// In the page: run one command in a fresh model worker (its own wasm heap), answer when it
// answers (or dies).
await page.evaluate(() => {
  window.inWorker = async (cmd, files) => {
    const blobs = await Promise.all(files.map((f) => fetch(f).then((r) => r.blob())));
    const w = new Worker("app/model_worker_loader.js");
    return await new Promise((ok) => {
      let t0 = 0;
      w.onerror = (e) => { w.terminate(); ok({ type: "died", message: e.message, ms: performance.now() - t0 }); };
      w.onmessage = (ev) => {
        const m = ev.data;
        if (m.type === "ready") {
          t0 = performance.now();
          w.postMessage({ cmd, blobs });
        } else if (m.type !== "progress") {
          const ms = performance.now() - t0;
          w.terminate();
          ok({ ...m, ms });
        }
      };
    });
  };
});

const ours = {}, ort = {}, graphs = {};
let failures = [];

// --- QuantLens's model worker (tract).
for (const c of CASES) {
  const r = await page.evaluate(([c, warmup, runs]) => window.inWorker(
    { type: "bench", job: 1, shape: c.shape, warmup, runs, sensitivity: c.sens, full_run: !!c.fullRun },
    [`${c.key}.onnx`, `${c.key}.f32`]), [{ key: c.key, shape: c.shape, sens: c.sens, fullRun: c.fullRun }, WARMUP[c.key], RUNS[c.key]]);
  if (r.type !== "bench") {
    failures.push(`${c.label}: the model worker ${r.type === "died" ? "died" : "failed"} after ${(r.ms / 1000).toFixed(1)} s: ${r.message}`);
    continue;
  }
  ours[c.key] = r.result;
  if (c.sens) {
    const scales = join(root, `${c.key}_scales.json`);
    await writeFile(scales, JSON.stringify(r.result.scales));
    const p = spawnSync("python3", [join(repo, "scripts/bench_model_graph.py"), join(models, c.file), scales, join(root, `${c.key}_gated.onnx`)], { encoding: "utf8" });
    if (p.status !== 0) throw new Error(p.stderr);
    graphs[c.key] = JSON.parse(p.stdout.trim().split("\n").pop());
  }
}

// The model worker's whole `Run` (what the app sends when a model and an .npy are dropped), fresh
// worker: the detector at 96×96.
const run96 = await page.evaluate(() => window.inWorker(
  { type: "run", job: 2, model: "det96.onnx", inputs: ["x.npy"], dtype: "int8", observer: "minmax", folder: "det96_run" },
  ["det96.onnx", "det96.npy"]));

// The same in the app itself: drop the model and the .npy, click "Run at int8", until the reports
// open — the rows split over one model worker per core, as a user gets it.
let app96 = null;
if (CASES.some((c) => c.key === "det96")) {
  const { readFile } = await import("node:fs/promises");
  const ap = await browser.newPage();
  ap.on("pageerror", (e) => errors.push(String(e)));
  await ap.goto(`${url}app/`);
  await ap.waitForSelector(".dropzone");
  const cores = await ap.evaluate(() => navigator.hardwareConcurrency || 1);
  const t0 = Date.now();
  await ap.setInputFiles('input[aria-label="Open files"]', [
    { name: "det96.onnx", mimeType: "application/octet-stream", buffer: await readFile(join(root, "det96.onnx")) },
    { name: "det96.npy", mimeType: "application/octet-stream", buffer: await readFile(join(root, "det96.npy")) },
  ]);
  await ap.waitForSelector("#run-model-int8:not([disabled])", { timeout: 60000 });
  const t1 = Date.now();
  await ap.click("#run-model-int8");
  await ap.waitForSelector('button.tab[title$="_L1_sensitive_ops.txt"]', { timeout: 300000 });
  const t2 = Date.now();
  app96 = { workers: Math.min(Math.max(cores, 1), 4), drop: t2 - t0, run: t2 - t1 };
  await ap.close();
}

// --- onnxruntime-web.
await page.evaluate(async () => {
  window.ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL("/ort/", location.href).href;
});
for (const c of CASES) {
  const r = await page.evaluate(async ([c, warmup, runs, gated]) => {
    const now = () => performance.now();
    const opts = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const x = new Float32Array(await (await fetch(`${c.key}.f32`)).arrayBuffer());
    const out = { forward_ms: [] };
    let t = now();
    const s = await ort.InferenceSession.create(`${c.key}.onnx`, opts);
    out.create_ms = now() - t;
    const feeds = { [s.inputNames[0]]: new ort.Tensor("float32", x, c.shape) };
    t = now();
    const first = await s.run(feeds);
    out.first_ms = now() - t;
    out.output = Array.from(first[s.outputNames[0]].data);
    for (let i = 0; i < warmup; i++) await s.run(feeds);
    for (let i = 0; i < runs; i++) {
      t = now();
      await s.run(feeds);
      out.forward_ms.push(now() - t);
    }
    await s.release();
    if (!gated) return out;
    // True sensitivity: the gated graph, one run per tensor.
    t = now();
    const g = await ort.InferenceSession.create(`${c.key}_gated.onnx`, opts);
    out.sens_create_ms = now() - t;
    const n = gated.length;
    const mask = new Float32Array(n);
    const gfeeds = { [g.inputNames.find((k) => k !== "fq__mask")]: feeds[s.inputNames[0]], fq__mask: new ort.Tensor("float32", mask, [n]) };
    const o = g.outputNames[0];
    for (let i = 0; i < warmup; i++) await g.run(gfeeds);
    t = now();
    const float = (await g.run(gfeeds))[o].data;
    out.sens_l1 = [];
    for (let i = 0; i < n; i++) {
      mask.fill(0);
      mask[i] = 1;
      const q = (await g.run(gfeeds))[o].data;
      // The metrics the engine writes (L1, cosine, SQNR) at the output.
      let l1 = 0, dot = 0, ff = 0, qq = 0, ee = 0;
      for (let j = 0; j < q.length; j++) {
        const d = q[j] - float[j];
        l1 += Math.abs(d); dot += q[j] * float[j]; ff += float[j] * float[j]; qq += q[j] * q[j]; ee += d * d;
      }
      out.sens_l1.push(l1 / q.length);
      out.cos = dot / Math.sqrt(ff * qq);
      out.sqnr = 10 * Math.log10(ff / ee);
    }
    out.sens_ms = now() - t;
    out.sens_runs = n + 1;
    await g.release();
    return out;
  }, [{ key: c.key, shape: c.shape }, WARMUP[c.key], RUNS[c.key], c.ortSens && graphs[c.key] ? graphs[c.key].gated : null]);
  ort[c.key] = r;
}
await browser.close();
server.close();

// --- Report.
const ms = (x) => `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)} ms`;
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
function spearman(a, b) {
  const rank = (v) => {
    const ix = v.map((x, i) => [x, i]).sort((p, q) => p[0] - q[0]);
    const r = new Array(v.length);
    ix.forEach(([, i], k) => { r[i] = k; });
    return r;
  };
  const ra = rank(a), rb = rank(b), n = a.length;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (ra[i] - rb[i]) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

console.log(`\nModel runner (tract 0.23.9, wasm simd128, in its web worker) vs onnxruntime-web 1.30.0 (wasm, 1 thread, proxy off), headless Chromium, same model and input.`);
console.log(`\n1. Forward pass, median of ${RUNS.cls} after ${WARMUP.cls} warm-up runs (${RUNS.det640} after ${WARMUP.det640} at 640×640; first run in brackets):`);
console.log(`   ${pad("model", 24)}${lpad("tract (ours)", 24)}${lpad("onnxruntime-web", 24)}${lpad("ours / ort", 12)}   max |Δ| output`);
for (const c of CASES) {
  const a = ours[c.key], b = ort[c.key];
  if (!a || !b) { console.log(`   ${pad(c.label, 24)}  (not measured)`); continue; }
  const ma = median(a.forward_ms), mb = median(b.forward_ms);
  let d = 0;
  for (let i = 0; i < a.output.length; i++) d = Math.max(d, Math.abs(a.output[i] - b.output[i]));
  console.log(`   ${pad(c.label, 24)}${lpad(`${ms(ma)} [${ms(a.first_ms)}]`, 24)}${lpad(`${ms(mb)} [${ms(b.first_ms)}]`, 24)}${lpad((ma / mb).toFixed(2) + "×", 12)}   ${d.toExponential(1)}${a.output.length !== b.output.length ? " (lengths differ!)" : ""}`);
  if (a.plain_forward_ms?.length) console.log(`   ${pad("", 24)}${lpad(`tract alone ${ms(median(a.plain_forward_ms))}`, 24)}${lpad("", 24)}${lpad((median(a.plain_forward_ms) / mb).toFixed(2) + "×", 12)}   (the untouched model on tract's own optimized plan and loop: no taps)`);
}
console.log(`   (load: ours Model::load ${CASES.map((c) => ours[c.key] ? ms(ours[c.key].load_ms) : "-").join(" / ")}; ort session ${CASES.map((c) => ort[c.key] ? ms(ort[c.key].create_ms) : "-").join(" / ")})`);

console.log(`\n2. True sensitivity of every tensor (int8 min-max scales from our calibration of the same input, also used for ort's graph):`);
for (const c of CASES) {
  const a = ours[c.key], b = ort[c.key], g = graphs[c.key];
  if (!a || !c.sens) continue;
  const fwd = median(a.forward_ms);
  console.log(`   ${c.label}: ${g.ops} ONNX nodes, ${g.compute_ops} besides Constant (${a.tensors} tensors the engine quantizes; ${g.gated.length} gated in ort's graph${g.missing.length ? `, ${g.missing.length} not found: ${g.missing.slice(0, 3).join(", ")}` : ""})`);
  console.log(`     ours: calibration ${ms(a.calibrate_ms)} + sensitivity ${ms(a.sensitivity_ms)} (${a.sensitivity_tensors} tensors, ${ms(a.sensitivity_ms / a.sensitivity_tensors)} each = ${(a.sensitivity_ms / a.sensitivity_tensors / fwd).toFixed(2)}× a forward pass)`);
  if (b && b.sens_ms !== undefined) {
    const tb = b.sens_create_ms + b.sens_ms;
    const ta = a.calibrate_ms + a.sensitivity_ms;
    const lo = a.sensitivity_l1.map(([n]) => n), ol = new Map(g.gated.map((n, i) => [n, b.sens_l1[i]]));
    const both = lo.filter((n) => ol.has(n));
    const rho = spearman(both.map((n) => a.sensitivity_l1.find((r) => r[0] === n)[1]), both.map((n) => ol.get(n)));
    console.log(`     ort:  session ${ms(b.sens_create_ms)} + ${b.sens_runs} runs ${ms(b.sens_ms)} (${ms(b.sens_ms / b.sens_runs)} each = ${(b.sens_ms / b.sens_runs / median(b.forward_ms)).toFixed(2)}× its plain forward pass)`);
    console.log(`     ratio ort / ours: ${(tb / ta).toFixed(2)}× (sensitivity loop alone ${(b.sens_ms / a.sensitivity_ms).toFixed(2)}×; target ≥ 3×); Spearman of L1 ranks ours vs ort: ${rho.toFixed(4)} over ${both.length} tensors`);
  } else {
    console.log(`     ort:  not run at this size (BENCH_MODEL_ORT640=1 runs it)`);
  }
}

console.log(`\n3. PP-OCRv4 det 96×96 (${graphs.det96 ? `${graphs.det96.ops} ONNX nodes, ${graphs.det96.compute_ops} besides Constant` : "?"}) from drop to sensitivity tables:`);
if (run96.type === "done") console.log(`     model worker Run (fresh worker, one .npy sample): ${ms(run96.ms)} (target ≤ 2000 ms), ${run96.files.length} reports`);
else console.log(`     model worker Run ${run96.type}: ${run96.message}`);
if (app96) console.log(`     in the app (${app96.workers} model workers, one per core): click "Run at int8" to tables ${ms(app96.run)}; drop to tables ${ms(app96.drop)} (with reading the declared inputs)`);
if (ours.det96) {
  const a = ours.det96;
  console.log(`     the same run_report in a warm worker: ${ms(a.full_run_ms)} = ${a.full_run_stages.map(([s, t]) => `${s} ${ms(t)}`).join(" + ")}`);
  console.log(`     (calibrating = int8 and int16 min-max passes; simulating = a float and an all-int8 run; sensitivity = a branch per activation and per weight, ${a.sensitivity_tensors} activations; verifying = the setter's ratios simulated whole)`);
}

console.log(`\n4. Memory: PP-OCRv4 det 640×640, forward passes + calibration + sensitivity of every tensor in one fresh worker:`);
if (ours.det640) {
  const a = ours.det640;
  console.log(`     peak wasm heap ${(a.wasm_heap_bytes / MiB).toFixed(0)} MiB (target ≤ 1536 MiB); calibration ${ms(a.calibrate_ms)}, sensitivity ${(a.sensitivity_ms / 1000).toFixed(1)} s for ${a.sensitivity_tensors} tensors`);
}
for (const f of failures) console.log(`     ${f}`);
console.log(`     (other workers' heaps: ${CASES.filter((c) => c.key !== "det640" && ours[c.key]).map((c) => `${c.key} ${(ours[c.key].wasm_heap_bytes / MiB).toFixed(0)} MiB`).join(", ")})`);
if (errors.length) console.log(`\npage errors: ${errors.join(" | ")}`);
