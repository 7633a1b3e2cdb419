//! `quantlens bundle` (a static site: the app and the data, opening with it loaded) and `report --html` (one self-contained HTML file).

use crate::out::fail;
use quantlens::engine::bundle::{
    build_files, bundle_page, report_html, service_worker_for, url_path, AppAssets, BundleFile,
    BundleIndex,
};
use quantlens::engine::encode::{sha256_hex, Sha256};
use quantlens::engine::tensor::FileSource;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The web build to bundle: `--app DIR`, else `$QUANTLENS_APP`, else this checkout's `dist/`.
pub fn app_dir(arg: Option<&Path>) -> Result<PathBuf, String> {
    let dir = arg
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("QUANTLENS_APP").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("dist"));
    if !dir.join("index.html").is_file() || !dir.join("worker_bg.wasm").is_file() {
        return Err(format!(
            "no QuantLens web build in {}: build it first (trunk build --release --offline, or scripts/serve.sh), or pass --app DIR",
            dir.display()
        ));
    }
    Ok(dir)
}

fn read_text(dir: &Path, rel: &str) -> Result<String, String> {
    let p = dir.join(rel.trim_start_matches("./"));
    std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

fn read_bytes(dir: &Path, rel: &str) -> Result<Vec<u8>, String> {
    let p = dir.join(rel.trim_start_matches("./"));
    std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// The built app's files, found through its `index.html`.
pub fn load_assets(dir: &Path) -> Result<AppAssets, String> {
    let index = read_text(dir, "index.html")?;
    let mut a = AppAssets {
        worker_js: read_text(dir, "worker.js")?,
        worker_wasm: read_bytes(dir, "worker_bg.wasm")?,
        ..AppAssets::default()
    };
    for (role, href) in build_files(&index)? {
        match role {
            "app-js" => a.app_js = read_text(dir, &href)?,
            "app-wasm" => a.app_wasm = read_bytes(dir, &href)?,
            "css" => a.css = read_text(dir, &href)?,
            _ => {
                let src = read_text(dir, &href)?;
                a.snippets.push((href, src));
            }
        }
    }
    Ok(a)
}

/// The files under `paths`, named as a drop names them: a folder's files as `folder/rel/path`, a
/// file by its name. Inside folders only what the engine reads is kept (reports, dumps, scales).
pub fn named_files(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    let mut bases: Vec<PathBuf> = Vec::new();
    for p in paths {
        let base = p
            .canonicalize()
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        if !bases.contains(&base) {
            bases.push(base); // the same path given twice is read once
        }
    }
    let name_of = |b: &Path| {
        b.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "files".into())
    };
    for base in &bases {
        // Two folders of the same name (a/run, b/run) keep their parent's name too.
        let clash = bases
            .iter()
            .any(|o| o != base && name_of(o) == name_of(base));
        let label = match (clash, base.parent().and_then(|p| p.file_name())) {
            (true, Some(parent)) => format!("{}/{}", parent.to_string_lossy(), name_of(base)),
            _ => name_of(base),
        };
        let base = base.clone();
        if base.is_dir() {
            let mut files = Vec::new();
            crate::collect(&base, &mut files)?;
            for f in files {
                let mut src = FileSource::open(&f)
                    .map_err(|e| format!("cannot open {}: {e}", f.display()))?;
                if !crate::report::wanted(&f, &mut src) {
                    continue;
                }
                let rel = f.strip_prefix(&base).unwrap_or(&f);
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((format!("{label}/{}", rel.join("/")), f));
            }
        } else {
            out.push((label, base));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &out {
        if !seen.insert(name.clone()) {
            return Err(format!(
                "two of the given files would both be named {name}: rename one, or give the folders that hold them"
            ));
        }
    }
    if out.is_empty() {
        return Err("no report, dump or scale file among the given paths".into());
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?;
    for e in entries.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)
                .map_err(|e| format!("cannot copy {} to {}: {e}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// Copy `src` to `dst`, hashing on the way; gives (bytes, sha256).
fn copy_hashed(src: &Path, dst: &Path) -> Result<(u64, String), String> {
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut input =
        std::fs::File::open(src).map_err(|e| format!("cannot open {}: {e}", src.display()))?;
    let mut output =
        std::fs::File::create(dst).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", src.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        std::io::Write::write_all(&mut output, &buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
        total += n as u64;
    }
    Ok((total, hash.hex()))
}

pub fn run_bundle(paths: &[PathBuf], out: &Path, app: Option<&Path>) -> ExitCode {
    match bundle(paths, out, app) {
        Ok(n) => {
            println!(
                "wrote {} ({n} files): serve it with any static server, e.g. `python3 -m http.server -d {}`, and open its index.html",
                out.display(),
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn bundle(paths: &[PathBuf], out: &Path, app: Option<&Path>) -> Result<usize, String> {
    let app = app_dir(app)?;
    let files = named_files(paths)?;
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        let ours = out.join("data").join("index.json").is_file();
        if !ours {
            return Err(format!(
                "{} exists and is not an earlier bundle: choose an empty or new folder",
                out.display()
            ));
        }
        std::fs::remove_dir_all(out.join("data"))
            .map_err(|e| format!("cannot replace {}/data: {e}", out.display()))?;
    }
    copy_dir(&app, out)?;
    let mut listed = Vec::new();
    for (name, path) in &files {
        let (bytes, sha256) = copy_hashed(path, &out.join("data").join(name))?;
        listed.push(BundleFile {
            name: name.clone(),
            url: url_path(name),
            bytes,
            sha256,
        });
    }
    let index = serde_json::to_string_pretty(&BundleIndex::new(listed))
        .map_err(|e| format!("cannot write the index: {e}"))?;
    std::fs::write(out.join("data").join("index.json"), index)
        .map_err(|e| format!("cannot write the index: {e}"))?;
    let original = read_text(&app, "index.html")?;
    let page = bundle_page(&original, "data/index.json")?;
    std::fs::write(out.join("index.html"), &page)
        .map_err(|e| format!("cannot write {}/index.html: {e}", out.display()))?;
    // The service worker lists index.html by hash: list the bundle's own (else it would refuse to
    // install, and the site would not open offline).
    if let Ok(sw) = std::fs::read_to_string(out.join("sw.js")) {
        let (old, new) = (sha256_hex(original.as_bytes()), sha256_hex(page.as_bytes()));
        if let Some(sw) = service_worker_for(&sw, &old, &new) {
            std::fs::write(out.join("sw.js"), sw)
                .map_err(|e| format!("cannot write {}/sw.js: {e}", out.display()))?;
        }
    }
    Ok(files.len())
}

/// `report … --html OUT`: the app and the given files in one HTML file.
pub fn write_html(paths: &[PathBuf], html: &Path, app: Option<&Path>) -> Result<u64, String> {
    let app = app_dir(app)?;
    let assets = load_assets(&app)?;
    let files = named_files(paths)?;
    let total: u64 = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let cap = quantlens::engine::bundle::REPORT_DATA_CAP_BYTES;
    if total > cap {
        return Err(format!(
            "the files hold {} MiB; one HTML report embeds at most {} MiB: use quantlens bundle instead",
            total >> 20,
            cap >> 20
        ));
    }
    let mut data = Vec::new();
    for (name, path) in files {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        data.push((name, bytes));
    }
    let title = format!(
        "QuantLens report — {}",
        data.first()
            .map(|(n, _)| n.split('/').next().unwrap_or(n))
            .unwrap_or("")
    );
    let about = format!("{} files, written by quantlens report --html", data.len());
    let page = report_html(&assets, &data, "", &title, &about)?;
    std::fs::write(html, &page).map_err(|e| format!("cannot write {}: {e}", html.display()))?;
    Ok(page.len() as u64)
}
