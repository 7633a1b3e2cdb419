
const parts = [...document.querySelectorAll('script[type="application/x-quantlens"]')];
const role = (r) => parts.filter((p) => p.dataset.role === r);
const bytes = async (el) => {
  const bin = atob(el.textContent);
  const raw = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) raw[i] = bin.charCodeAt(i);
  if (el.dataset.deflate !== "1") return raw;
  const out = new Blob([raw]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(out).arrayBuffer());
};
const text = async (el) => new TextDecoder().decode(await bytes(el));
const js = (src) => URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
try {
  let app = await text(role("app-js")[0]);
  for (const s of role("snippet")) {
    const url = js(await text(s));
    for (const q of ["'", '"']) app = app.split("from " + q + s.dataset.path + q).join("from " + q + url + q);
  }
  const worker = (await text(role("worker-js")[0])) +
    "\n;self.onmessage = (e) => { self.onmessage = null; wasm_bindgen({ module_or_path: e.data }); };";
  globalThis.__quantlens_worker = {
    url: js(worker),
    module: await WebAssembly.compile(await bytes(role("worker-wasm")[0])),
  };
  const files = [];
  for (const f of role("file")) files.push({ name: f.dataset.name, blob: new Blob([await bytes(f)]) });
  globalThis.__quantlens_report = { files, about: document.getElementById("ql-about")?.textContent || "" };
  const state = document.getElementById("ql-state")?.textContent || "";
  if (state && !location.hash) history.replaceState(null, "", "#" + state);
  const m = await import(js(app));
  await m.default({ module_or_path: await bytes(role("app-wasm")[0]) });
} catch (e) {
  document.body.textContent = "This QuantLens report could not start (" + e + "). It needs a browser with WebAssembly and DecompressionStream (Chromium 103+, Firefox 113+, Safari 16.4+).";
}
