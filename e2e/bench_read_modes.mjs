// Reading and computing in Chromium's workers (a benchmark, not a test; the figures in README's
// "Big dumps in the browser"): whether reading a file overlaps a kernel's compute. A 512 MiB file of
// float32, read in 16 MiB slices by `k` workers (each its share), each slice then put through a
// JS loop standing in for the kernel (one exp per value): FileReaderSync (read, then compute),
// three Blob.arrayBuffer() reads in flight, and a reader worker per compute worker passing the
// slices (transferred). Prints each mode's time, and the read alone, the compute alone.
// Usage: node e2e/bench_read_modes.mjs [runs]
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { serve, launch } from "./server.mjs";

const runs = Number(process.argv[2] || 2);
const dir = await mkdtemp(join(tmpdir(), "quantlens_read_modes_"));
const SL = 16 << 20;
const size = 512 << 20;
const buf = Buffer.alloc(size);
for (let i = 0; i < size / 4; i++) buf.writeFloatLE(Math.sin(i * 0.001) * 3, i * 4);
await writeFile(join(dir, "a.bin"), buf);
const common = `const SL = ${SL};
function compute(ab, on) { if (!on) return 0; const x = new Float32Array(ab); let s = 0; for (let i = 0; i < x.length; i++) s += Math.exp(-Math.abs(x[i])); return s; }`;
await writeFile(join(dir, "index.html"), `<!doctype html><input type=file id=f><script>
const share = (file, k) => { const n = file.size / ${SL}; return [...Array(k)].map((_, i) => [Math.floor(n * i / k) * ${SL}, Math.floor(n * (i + 1) / k) * ${SL}]); };
window.run = async (k, mode, on) => { const file = document.querySelector('#f').files[0]; const t0 = performance.now();
  await Promise.all(share(file, k).map(([from, to]) => new Promise((res) => { const w = new Worker(mode === 'relay' ? 'relay.js' : 'w.js'); w.onmessage = () => { res(); w.terminate(); }; w.postMessage({ file, from, to, mode, on }); })));
  return performance.now() - t0; };
</script>`);
await writeFile(join(dir, "w.js"), `${common}
onmessage = async (e) => { const { file, from, to, mode, on } = e.data;
  if (mode === 'sync') { const r = new FileReaderSync(); for (let o = from; o < to; o += SL) compute(r.readAsArrayBuffer(file.slice(o, o + SL)), on); }
  else { const q = []; let o2 = from; const more = () => { while (q.length < 3 && o2 < to) { q.push(file.slice(o2, o2 + SL).arrayBuffer()); o2 += SL; } }; more(); while (q.length) { const ab = await q.shift(); more(); compute(ab, on); } }
  postMessage(0); };`);
await writeFile(join(dir, "relay.js"), `${common}
onmessage = async (e) => { const { file, from, to, on } = e.data; const rd = new Worker('reader.js'); const q = []; let wake = null, end = false;
  rd.onmessage = (m) => { if (m.data === null) end = true; else q.push(m.data); if (wake) { const w = wake; wake = null; w(); } };
  rd.postMessage({ file, from, to });
  for (;;) { while (!q.length && !end) await new Promise((r) => { wake = r; }); if (!q.length) break; const ab = q.shift(); rd.postMessage('ack'); compute(ab, on); }
  rd.terminate(); postMessage(0); };`);
await writeFile(join(dir, "reader.js"), `const SL = ${SL}; let acks = 0, sent = 0, wake = null;
onmessage = (e) => { if (e.data === 'ack') { acks++; if (wake) { const w = wake; wake = null; w(); } return; }
  const { file, from, to } = e.data; (async () => { const r = new FileReaderSync();
    for (let o = from; o < to; o += SL) { while (sent - acks >= 3) await new Promise((res) => { wake = res; }); const ab = r.readAsArrayBuffer(file.slice(o, Math.min(o + SL, to))); postMessage(ab, [ab]); sent++; }
    postMessage(null); })(); };`);
const { server, url } = await serve(dir);
const browser = await launch(chromium);
const page = await browser.newPage();
await page.goto(url + "index.html");
await page.setInputFiles("#f", join(dir, "a.bin"));
console.log(`Reading 512 MiB and computing in Chromium's workers (${await page.evaluate(() => navigator.hardwareConcurrency)} cores), ms:`);
for (let r = 0; r < runs; r++) {
  const t = async (k, mode, on) => Math.round(await page.evaluate(([k, m, on]) => run(k, m, on), [k, mode, on]));
  const row = [];
  for (const k of [1, 2]) {
    row.push(`k=${k}: read alone ${await t(k, "sync", false)}, compute+read: FileReaderSync ${await t(k, "sync", true)}, 3 in flight ${await t(k, "ahead", true)}, reader worker ${await t(k, "relay", true)}`);
  }
  console.log(` run ${r + 1}: ${row.join("; ")}`);
}
await browser.close(); server.close();
await rm(dir, { recursive: true, force: true });
