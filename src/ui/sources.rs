//! Files that arrive without a drop: a bundled site's index, a `?src=` link, the data inside an HTML report; and the report's export.

use crate::engine::bundle::{is_index, parse_index, SRC_META};
use crate::ui::files::Item;
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

// The UI's only inline JS module. One, not one per Rust module: wasm-bindgen numbers inline
// modules (`snippets/quantlens-<hash>/inline0.js`, `inline1.js`) in an order that differed
// between the app's and the worker's builds, which write the same snippet folder, so a build could
// ship the app importing `blob_head_text` from a file that held the folder-drop code (a blank page).
#[wasm_bindgen(inline_js = r#"
// Folder drops need the (callback-based) FileSystem entry API. `webkitGetAsEntry` must be called
// synchronously inside the drop event, which this function does before its first `await`.
export function files_from_data_transfer(dt) {
  const items = dt && dt.items ? Array.from(dt.items) : [];
  const entries = items
    .filter((i) => i.kind === "file")
    .map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  const plain = Array.from((dt && dt.files) || []);
  if (!entries.length || entries.some((e) => !e)) return Promise.resolve(plain);
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      // Keep the path inside the dropped folder (`ort_int8/float.npz`): sides and runs are told by it.
      const f = await new Promise((res, rej) => entry.file(res, rej));
      out.push([f, (entry.fullPath || f.name).replace(/^\//, "")]);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  return (async () => {
    for (const e of entries) await walk(e);
    return out;
  })();
}
export function fetch_blob(url, onprogress) {
  return (async () => {
    const resp = await fetch(url, { credentials: "same-origin" });
    if (!resp.ok) throw new Error("HTTP " + resp.status + " " + resp.statusText);
    const total = Number(resp.headers.get("content-length")) || 0;
    if (!resp.body) return await resp.blob();
    const reader = resp.body.getReader();
    const chunks = [];
    let done = 0, last = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(r.value);
      done += r.value.byteLength;
      const now = performance.now();
      if (now - last > 100) { last = now; onprogress(done, total); }
    }
    onprogress(done, total);
    return new Blob(chunks);
  })();
}
export function blob_head_text(blob, n) {
  return blob.slice(0, n).text();
}
export function report_info() {
  return globalThis.__quantlens_report;
}
export function worker_boot() {
  return globalThis.__quantlens_worker;
}
// The app's own files, for the HTML report: unpacked from this report if it is one, else fetched
// from the page's origin (the same files the page loaded).
export function collect_assets() {
  return (async () => {
    const parts = [...document.querySelectorAll('script[type="application/x-quantlens"][data-role]')];
    if (parts.length) {
      const dec = async (el) => {
        const bin = atob(el.textContent);
        const raw = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) raw[i] = bin.charCodeAt(i);
        if (el.dataset.deflate !== "1") return new Blob([raw]);
        return await new Response(new Blob([raw]).stream().pipeThrough(new DecompressionStream("deflate-raw"))).blob();
      };
      const one = (r) => dec(parts.find((p) => p.dataset.role === r));
      const css = new Blob([[...document.querySelectorAll("style")].map((s) => s.textContent).join("\n")]);
      const snippets = [];
      for (const p of parts.filter((p) => p.dataset.role === "snippet")) snippets.push([p.dataset.path, await dec(p)]);
      return [[await one("app-js"), await one("app-wasm"), await one("worker-js"), await one("worker-wasm"), css], snippets];
    }
    const get = async (href) => {
      const r = await fetch(href);
      if (!r.ok) throw new Error(href + ": HTTP " + r.status);
      return await r.blob();
    };
    const links = [...document.querySelectorAll("link[href]")];
    const href = (pred, what) => {
      const l = links.find(pred);
      if (!l) throw new Error("this page names no " + what + " (is it a release build?)");
      return l.getAttribute("href");
    };
    const isSnippet = (l) => l.rel === "modulepreload" && l.getAttribute("href").includes("/snippets/");
    const appJs = href((l) => l.rel === "modulepreload" && !isSnippet(l), "app script");
    const appWasm = href((l) => l.rel === "preload" && l.getAttribute("href").endsWith(".wasm"), "app wasm");
    const css = href((l) => l.rel === "stylesheet", "stylesheet");
    const snippets = [];
    for (const l of links.filter(isSnippet)) snippets.push([l.getAttribute("href"), await get(l.getAttribute("href"))]);
    return [[await get(appJs), await get(appWasm), await get("./worker.js"), await get("./worker_bg.wasm"), await get(css)], snippets];
  })();
}
"#)]
extern "C" {
    pub(crate) fn files_from_data_transfer(dt: &web_sys::DataTransfer) -> Promise;
    #[wasm_bindgen(catch)]
    fn fetch_blob(url: &str, onprogress: &Function) -> Result<Promise, JsValue>;
    fn blob_head_text(blob: &Blob, n: u32) -> Promise;
    fn report_info() -> JsValue;
    fn worker_boot() -> JsValue;
    fn collect_assets() -> Promise;
}

fn js_error(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Inside an HTML report: its files and what it says about itself.
pub fn report_files() -> Option<(Vec<Item>, String)> {
    let info = report_info();
    if info.is_undefined() || info.is_null() {
        return None;
    }
    let files: Array = Reflect::get(&info, &"files".into()).ok()?.dyn_into().ok()?;
    let about = Reflect::get(&info, &"about".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    let items = files
        .iter()
        .filter_map(|f| {
            let name = Reflect::get(&f, &"name".into()).ok()?.as_string()?;
            let blob: Blob = Reflect::get(&f, &"blob".into()).ok()?.dyn_into().ok()?;
            Some(Item { name, blob })
        })
        .collect();
    Some((items, about))
}

/// The worker of an HTML report: its script's URL and its compiled wasm module (posted first).
pub fn report_worker() -> Option<(String, JsValue)> {
    let boot = worker_boot();
    if boot.is_undefined() || boot.is_null() {
        return None;
    }
    let url = Reflect::get(&boot, &"url".into()).ok()?.as_string()?;
    let module = Reflect::get(&boot, &"module".into()).ok()?;
    Some((url, module))
}

/// Where this page's data comes from without a drop: a bundled site's `<meta name=quantlens-src>`,
/// `?src=URL`, or `src=URL` in the fragment.
pub fn start_src() -> Option<String> {
    let window = web_sys::window()?;
    let doc = window.document()?;
    if let Ok(Some(meta)) = doc.query_selector(&format!("meta[name=\"{SRC_META}\"]")) {
        if let Some(c) = meta.get_attribute("content").filter(|c| !c.is_empty()) {
            return Some(c);
        }
    }
    let loc = window.location();
    let from = |s: String| {
        web_sys::UrlSearchParams::new_with_str(s.trim_start_matches(['?', '#']))
            .ok()?
            .get("src")
            .filter(|v| !v.is_empty())
    };
    from(loc.search().unwrap_or_default()).or_else(|| from(loc.hash().unwrap_or_default()))
}

/// `url` made absolute against the page, and whether it is on the page's own origin.
pub fn resolve(url: &str, base: Option<&str>) -> Result<(String, bool), String> {
    let window = web_sys::window().ok_or("no window")?;
    let page = window.location().href().map_err(js_error)?;
    let base = base.unwrap_or(&page);
    let u = web_sys::Url::new_with_base(url, base).map_err(|_| format!("{url:?} is not a URL"))?;
    let proto = u.protocol();
    if proto != "http:" && proto != "https:" {
        return Err(format!(
            "{url:?} is not an http(s) URL: a link may only load files over http(s)"
        ));
    }
    let own = window.location().origin().map_err(js_error)?;
    Ok((u.href(), u.origin() == own))
}

/// Whether this page's Content-Security-Policy lets it fetch from `origin` (`connect-src`, else
/// `default-src`; a page without a CSP meta allows it). Asked before offering to load from another
/// site, so the user is not asked about a load the browser would refuse.
pub fn csp_allows(origin: &str) -> bool {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    let Ok(Some(meta)) = doc.query_selector("meta[http-equiv=\"Content-Security-Policy\"]") else {
        return true;
    };
    let policy = meta.get_attribute("content").unwrap_or_default();
    let directive = |name: &str| {
        policy
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name).map(|r| r.trim().to_string()))
    };
    let Some(sources) = directive("connect-src").or_else(|| directive("default-src")) else {
        return true;
    };
    let scheme = origin.split(':').next().unwrap_or("");
    sources
        .split_whitespace()
        .any(|t| t == "*" || t.trim_end_matches('/') == origin || t == format!("{scheme}:"))
}

/// Download one URL into a Blob, reporting (bytes done, bytes total or 0).
pub async fn fetch_with_progress(
    url: &str,
    on_progress: impl Fn(u64, u64) + 'static,
) -> Result<Blob, String> {
    let cb =
        Closure::<dyn Fn(f64, f64)>::new(move |d: f64, t: f64| on_progress(d as u64, t as u64));
    let promise = fetch_blob(url, cb.as_ref().unchecked_ref()).map_err(js_error)?;
    let out = JsFuture::from(promise).await;
    drop(cb);
    let blob = out.map_err(|e| {
        let m = js_error(e);
        if m.contains("Failed to fetch") {
            format!("could not load {url}: the server did not answer, or this page's Content-Security-Policy does not allow its origin")
        } else {
            format!("could not load {url}: {m}")
        }
    })?;
    blob.dyn_into()
        .map_err(|_| "the download is not a Blob".to_string())
}

/// The file name a URL names (its last path segment, decoded).
fn url_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    js_sys::decode_uri_component(last)
        .ok()
        .and_then(|s| s.as_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "download".into())
}

/// What a source URL gave: the files, and notes for the user (e.g. a size that differs from the
/// index's).
pub struct Loaded {
    pub items: Vec<Item>,
    pub notes: Vec<String>,
}

/// Load a source: a bundle index (and every file it lists, from below its folder), or one file.
/// `progress(name, done, total)` is called as bytes arrive.
pub async fn load(
    url: &str,
    progress: std::rc::Rc<dyn Fn(String, u64, u64)>,
) -> Result<Loaded, String> {
    let p = progress.clone();
    let first_name = url_name(url);
    let n0 = first_name.clone();
    let blob = fetch_with_progress(url, move |d, t| p(n0.clone(), d, t)).await?;
    let head = JsFuture::from(blob_head_text(&blob, 512))
        .await
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    if !is_index(head.as_bytes()) {
        return Ok(Loaded {
            items: vec![Item {
                name: first_name,
                blob,
            }],
            notes: Vec::new(),
        });
    }
    let text = JsFuture::from(blob.text())
        .await
        .ok()
        .and_then(|v| v.as_string())
        .ok_or("the bundle index is not text")?;
    let index = parse_index(text.as_bytes())?;
    let total: u64 = index.files.iter().map(|f| f.bytes).sum();
    let mut done_before = 0u64;
    let mut items = Vec::new();
    let mut notes = Vec::new();
    for f in &index.files {
        let (abs, _) = resolve(&f.url, Some(url))?;
        let p = progress.clone();
        let name = f.name.clone();
        let base = done_before;
        let blob = fetch_with_progress(&abs, move |d, _| p(name.clone(), base + d, total)).await?;
        let got = blob.size() as u64;
        if got != f.bytes {
            notes.push(format!(
                "{}: {} bytes arrived, the index says {} (the file changed after bundling?)",
                f.name, got, f.bytes
            ));
        }
        done_before += f.bytes;
        items.push(Item {
            name: f.name.clone(),
            blob,
        });
    }
    Ok(Loaded { items, notes })
}

/// The app's own files for an HTML report: (app JS, app wasm, worker JS, worker wasm, CSS) and the
/// snippets with the paths the app imports them by.
pub async fn app_assets() -> Result<(Vec<Blob>, Vec<(String, Blob)>), String> {
    let v = JsFuture::from(collect_assets()).await.map_err(js_error)?;
    let v: Array = v.dyn_into().map_err(|_| "unexpected assets")?;
    let main: Array = v.get(0).dyn_into().map_err(|_| "unexpected assets")?;
    let blobs = main.iter().filter_map(|b| b.dyn_into().ok()).collect();
    let snips: Array = v.get(1).dyn_into().map_err(|_| "unexpected assets")?;
    let snippets = snips
        .iter()
        .filter_map(|p| {
            let p: Array = p.dyn_into().ok()?;
            Some((p.get(0).as_string()?, p.get(1).dyn_into().ok()?))
        })
        .collect();
    Ok((blobs, snippets))
}
