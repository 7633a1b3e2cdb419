//! The journal kept in the browser: IndexedDB (database `quantlens`, store `journal`: `meta` and one `run:<id>` record per run), read when the analysis worker starts and written after each change.

use crate::engine::journal::{Journal, JournalRun};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransactionMode, WorkerGlobalScope};

const DB: &str = "quantlens";
const STORE: &str = "journal";

/// A browser error in words (a DOMException's message, not its debug form).
fn js_err(e: JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    match e.dyn_into::<web_sys::DomException>() {
        Ok(d) => format!("{}: {}", d.name(), d.message()),
        Err(e) => js_sys::JSON::stringify(&e)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| "an unknown error".into()),
    }
}

/// Wait for a request's result.
async fn done(req: &IdbRequest) -> Result<JsValue, String> {
    let r = req.clone();
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let r_ok = r.clone();
        let ok = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(&JsValue::NULL, &r_ok.result().unwrap_or(JsValue::UNDEFINED));
        });
        let r_err = r.clone();
        let err = Closure::once_into_js(move |_: web_sys::Event| {
            let why = r_err
                .error()
                .ok()
                .flatten()
                .map(|e| e.message())
                .unwrap_or_else(|| "unknown error".into());
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&why));
        });
        r.set_onsuccess(Some(ok.unchecked_ref()));
        r.set_onerror(Some(err.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(js_err)
}

/// Open (or create) the database.
pub async fn open() -> Result<IdbDatabase, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let factory = scope
        .indexed_db()
        .ok()
        .flatten()
        .ok_or("this browser gives the page no IndexedDB (a private window?)")?;
    let req: IdbOpenDbRequest = factory.open_with_u32(DB, 1).map_err(js_err)?;
    let upgrade = Closure::once_into_js(move |e: web_sys::Event| {
        if let Some(r) = e
            .target()
            .and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok())
        {
            if let Ok(db) = r.result() {
                let db: IdbDatabase = db.unchecked_into();
                if !db.object_store_names().contains(STORE) {
                    let _ = db.create_object_store(STORE);
                }
            }
        }
    });
    req.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    Ok(done(&req).await?.unchecked_into())
}

/// Read the journal (its runs in the order they were made).
pub async fn load(db: &IdbDatabase) -> Result<Journal, String> {
    let tx = db.transaction_with_str(STORE).map_err(js_err)?;
    let store = tx.object_store(STORE).map_err(js_err)?;
    let keys = done(&store.get_all_keys().map_err(js_err)?).await?;
    let values = done(&store.get_all().map_err(js_err)?).await?;
    let (keys, values): (js_sys::Array, js_sys::Array) =
        (keys.unchecked_into(), values.unchecked_into());
    let mut journal = Journal::default();
    let mut runs: Vec<JournalRun> = Vec::new();
    for (k, v) in keys.iter().zip(values.iter()) {
        let (Some(k), Some(v)) = (k.as_string(), v.as_string()) else {
            continue;
        };
        if k == "meta" {
            if let Ok(mut j) = serde_json::from_str::<Journal>(&v) {
                j.runs.clear();
                journal = j;
            }
        } else if k.starts_with("run:") {
            // A record this version cannot read is skipped, not fatal.
            if let Ok(r) = serde_json::from_str::<JournalRun>(&v) {
                runs.push(r);
            }
        }
    }
    runs.sort_by(|a, b| a.created_ms.total_cmp(&b.created_ms));
    journal.runs = runs;
    Ok(journal)
}

/// Write the journal's settings and the given runs, delete the given ids (one transaction).
pub fn save(
    db: &IdbDatabase,
    journal: &Journal,
    runs: &[&JournalRun],
    removed: &[String],
) -> Result<(), String> {
    let tx = db
        .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
        .map_err(js_err)?;
    let store = tx.object_store(STORE).map_err(js_err)?;
    let mut meta = Journal {
        runs: Vec::new(),
        ..journal.clone()
    };
    meta.runs.clear();
    let put = |k: &str, v: String| {
        store
            .put_with_key(&JsValue::from_str(&v), &JsValue::from_str(k))
            .map(|_| ())
            .map_err(js_err)
    };
    put(
        "meta",
        serde_json::to_string(&meta).map_err(|e| e.to_string())?,
    )?;
    for r in runs {
        put(
            &format!("run:{}", r.id),
            serde_json::to_string(r).map_err(|e| e.to_string())?,
        )?;
    }
    for id in removed {
        store
            .delete(&JsValue::from_str(&format!("run:{id}")))
            .map_err(js_err)?;
    }
    Ok(())
}
