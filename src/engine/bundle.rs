//! What a shared analysis travels in: a bundled site's file index, and the single-file HTML report (the app, its wasm and the data in one page).

use super::encode::{base64_encode, sha256_hex};
use serde::{Deserialize, Serialize};

/// The `quantlens_bundle` value this version writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// The `<meta name=…>` a bundled site's `index.html` carries: its content is the index's URL.
pub const SRC_META: &str = "quantlens-src";
/// Most files an index may list.
pub const MAX_INDEX_FILES: usize = 10_000;
/// Most bytes of data one HTML report embeds (beyond it, a bundled site is the way).
pub const REPORT_DATA_CAP_BYTES: u64 = 256 << 20;

/// One file of a bundle: its display name (the path as a drop would name it), where it is (relative
/// to the index), its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleFile {
    pub name: String,
    pub url: String,
    pub bytes: u64,
    pub sha256: String,
}

/// `index.json` of a bundled report folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleIndex {
    pub quantlens_bundle: u32,
    pub files: Vec<BundleFile>,
}

impl BundleIndex {
    pub fn new(files: Vec<BundleFile>) -> Self {
        BundleIndex {
            quantlens_bundle: BUNDLE_VERSION,
            files,
        }
    }
}

/// Whether `bytes` look like a bundle index (JSON naming `quantlens_bundle`), so a `?src=` URL can
/// be an index, a zip or a single report file alike.
pub fn is_index(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with('{') && text.contains("\"quantlens_bundle\"")
}

/// Read an index, saying exactly why one is refused. Every `url` must stay below the index's folder
/// (relative, no `..`, no scheme), so an index cannot send the page elsewhere.
pub fn parse_index(bytes: &[u8]) -> Result<BundleIndex, String> {
    if bytes.len() > 16 << 20 {
        return Err("a bundle index over 16 MiB: not one QuantLens writes".into());
    }
    let index: BundleIndex =
        serde_json::from_slice(bytes).map_err(|e| format!("not a QuantLens bundle index ({e})"))?;
    if index.quantlens_bundle == 0 || index.quantlens_bundle > BUNDLE_VERSION {
        return Err(format!(
            "a bundle index of version {} (this QuantLens reads version {BUNDLE_VERSION}): open it with a newer QuantLens",
            index.quantlens_bundle
        ));
    }
    if index.files.len() > MAX_INDEX_FILES {
        return Err(format!(
            "a bundle index listing {} files (at most {MAX_INDEX_FILES})",
            index.files.len()
        ));
    }
    for f in &index.files {
        if let Some(why) = unsafe_url(&f.url) {
            return Err(format!("the bundle index names {:?}: {why}", f.url));
        }
        if f.name.is_empty() || f.name.len() > 1024 {
            return Err("the bundle index has a file with an empty or overlong name".into());
        }
    }
    Ok(index)
}

fn unsafe_url(url: &str) -> Option<&'static str> {
    if url.is_empty() {
        return Some("an empty URL");
    }
    if url.contains(':') || url.starts_with('/') || url.contains('\\') {
        return Some("only paths below the index's folder are allowed");
    }
    if url.split('/').any(|seg| seg == ".." || seg == ".") {
        return Some("`.` and `..` are not allowed");
    }
    if url.chars().any(|c| c.is_control() || c == '?' || c == '#') {
        return Some("control characters, `?` and `#` are not allowed");
    }
    None
}

/// Percent-encode a relative path for use as a URL (each segment; `/` kept).
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `index.html` of a bundled site: the app's page with the meta that names the bundle's index.
pub fn bundle_page(index_html: &str, index_url: &str) -> Result<String, String> {
    let at = index_html
        .find("</head>")
        .ok_or("the app's index.html has no </head>: is it a QuantLens build?")?;
    Ok(format!(
        "{}    <meta name=\"{SRC_META}\" content=\"{}\" />\n  {}",
        &index_html[..at],
        escape_attr(index_url),
        &index_html[at..]
    ))
}

/// A build's `sw.js` after its `index.html` changed (a bundled site adds its meta): the listed hash
/// of `index.html` becomes `new_index_sha256` and the version changes with it, so the service
/// worker's integrity check passes and the site gets its own cache. `None` when `sw.js` does not
/// list `old_index_sha256` (not a build this version wrote).
pub fn service_worker_for(
    sw_js: &str,
    old_index_sha256: &str,
    new_index_sha256: &str,
) -> Option<String> {
    let listed = format!("[\"index.html\", \"{old_index_sha256}\"]");
    if !sw_js.contains(&listed) {
        return None;
    }
    let out = sw_js.replace(
        &listed,
        &format!("[\"index.html\", \"{new_index_sha256}\"]"),
    );
    let key = "const VERSION = \"";
    let at = out.find(key)? + key.len();
    let end = at + out[at..].find('"')?;
    let old_version = &out[at..end];
    let new_version = &sha256_hex(format!("{old_version}+{new_index_sha256}").as_bytes())[..16];
    Some(format!("{}{new_version}{}", &out[..at], &out[end..]))
}

/// The built app, as the HTML report embeds it.
#[derive(Debug, Clone, Default)]
pub struct AppAssets {
    pub app_js: String,
    pub app_wasm: Vec<u8>,
    /// (path as `app_js` imports it, e.g. `./snippets/quantlens-…/inline0.js`, its source)
    pub snippets: Vec<(String, String)>,
    pub worker_js: String,
    pub worker_wasm: Vec<u8>,
    pub css: String,
}

/// The files a build's `index.html` names: `(role, path)` with role `app-js`, `app-wasm`,
/// `snippet` or `css`; the worker is always `worker.js` + `worker_bg.wasm`.
pub fn build_files(index_html: &str) -> Result<Vec<(&'static str, String)>, String> {
    let mut out = Vec::new();
    for tag in index_html.split('<').filter(|t| t.starts_with("link ")) {
        let attr = |name: &str| {
            let key = format!(" {name}=\"");
            let i = tag.find(&key)? + key.len();
            tag[i..].split('"').next().map(str::to_string)
        };
        let (Some(rel), Some(href)) = (attr("rel"), attr("href")) else {
            continue;
        };
        let role = match rel.as_str() {
            "modulepreload" if href.contains("/snippets/") => "snippet",
            "modulepreload" => "app-js",
            "preload" if href.ends_with(".wasm") => "app-wasm",
            "stylesheet" => "css",
            _ => continue,
        };
        out.push((role, href));
    }
    for role in ["app-js", "app-wasm", "css"] {
        if !out.iter().any(|(r, _)| *r == role) {
            return Err(format!(
                "the app's index.html names no {role} file: is it a release build of QuantLens (trunk build --release)?"
            ));
        }
    }
    Ok(out)
}

/// The script that starts an HTML report: it unpacks the app, its worker and the data from the page
/// (no request of any kind), then runs the app as the served page would.
/// Kept as a JavaScript file (it names the worker glue's globals); its bytes are hashed as they are.
pub const REPORT_BOOT_JS: &str = include_str!("../../www/report-boot.js");

/// HTML-escape text for an attribute or element body.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn part(out: &mut String, role: &str, extra: &str, data: &[u8], deflate: bool) {
    let packed;
    let body = if deflate {
        packed = miniz_oxide::deflate::compress_to_vec(data, 6);
        &packed[..]
    } else {
        data
    };
    out.push_str(&format!(
        "<script type=\"application/x-quantlens\" data-role=\"{role}\"{extra} data-deflate=\"{}\">",
        u8::from(deflate)
    ));
    out.push_str(&base64_encode(body));
    out.push_str("</script>\n");
}

/// One self-contained HTML file: the app, its worker, both wasm modules, the stylesheet and the
/// data files, deflated and base64-encoded in inert `<script>` blocks, started by
/// [`REPORT_BOOT_JS`] (allowed by its hash; the page may fetch nothing). `fragment` (without `#`) is
/// the view it opens when its URL has none.
pub fn report_html(
    assets: &AppAssets,
    files: &[(String, Vec<u8>)],
    fragment: &str,
    title: &str,
    about: &str,
) -> Result<String, String> {
    let data_bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    if data_bytes > REPORT_DATA_CAP_BYTES {
        return Err(format!(
            "the loaded files hold {} MiB; one HTML report embeds at most {} MiB: share a bundled site instead (quantlens bundle)",
            data_bytes >> 20,
            REPORT_DATA_CAP_BYTES >> 20
        ));
    }
    let boot_hash = {
        let hex = sha256_hex(REPORT_BOOT_JS.as_bytes());
        let raw: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        base64_encode(&raw)
    };
    let mut out = String::with_capacity(
        (assets.app_wasm.len() + assets.worker_wasm.len()) / 2 + data_bytes as usize + 65536,
    );
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n");
    out.push_str(&format!(
        "<!-- A QuantLens report: the app and its data in one file. It makes no network request. -->\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-{boot_hash}' blob: 'wasm-unsafe-eval'; worker-src blob:; style-src 'unsafe-inline'; img-src data: blob:; connect-src 'none'; base-uri 'none'; form-action 'none'\" />\n"
    ));
    out.push_str(&format!(
        "<title>{}</title>\n<link rel=\"icon\" href=\"data:,\" />\n<style>\n{}\n</style>\n",
        escape_attr(title),
        assets.css.replace("</", "<\\/")
    ));
    out.push_str(&format!(
        "<script type=\"application/x-quantlens\" id=\"ql-state\">{}</script>\n",
        escape_attr(fragment)
    ));
    out.push_str(&format!(
        "<script type=\"application/x-quantlens\" id=\"ql-about\">{}</script>\n",
        escape_attr(about)
    ));
    part(&mut out, "app-js", "", assets.app_js.as_bytes(), true);
    for (path, src) in &assets.snippets {
        let extra = format!(" data-path=\"{}\"", escape_attr(path));
        part(&mut out, "snippet", &extra, src.as_bytes(), true);
    }
    part(&mut out, "worker-js", "", assets.worker_js.as_bytes(), true);
    part(&mut out, "app-wasm", "", &assets.app_wasm, true);
    part(&mut out, "worker-wasm", "", &assets.worker_wasm, true);
    for (name, data) in files {
        let extra = format!(" data-name=\"{}\"", escape_attr(name));
        part(&mut out, "file", &extra, data, true);
    }
    out.push_str(&format!(
        "<script type=\"module\">{REPORT_BOOT_JS}</script>\n</head>\n<body>\n<noscript>This QuantLens report needs JavaScript and WebAssembly.</noscript>\n</body>\n</html>\n"
    ));
    Ok(out)
}
