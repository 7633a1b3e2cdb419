//! Getting files into the app: drag-and-drop (files and folders), pickers, and the bundled example.

use js_sys::{Array, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, DataTransfer, File, FileList};

// Folder drops: `files_from_data_transfer`, in the one inline JS module of `ui::sources`.
use super::sources::files_from_data_transfer;

/// One file handed to the worker: a display name and its data (a `File` or any `Blob`).
#[derive(Clone)]
pub struct Item {
    pub name: String,
    pub blob: Blob,
}

impl Item {
    pub fn from_file(f: File) -> Item {
        // Inside a picked folder, show the path relative to it.
        let rel = Reflect::get(&f, &"webkitRelativePath".into())
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty());
        Item {
            name: rel.unwrap_or_else(|| f.name()),
            blob: f.into(),
        }
    }
}

pub fn items_from_list(list: Option<FileList>) -> Vec<Item> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.get(i))
        .map(Item::from_file)
        .collect()
}

/// All files of a drop, descending into dropped folders.
pub async fn items_from_drop(dt: DataTransfer) -> Result<Vec<Item>, String> {
    let value = JsFuture::from(files_from_data_transfer(&dt))
        .await
        .map_err(|e| format!("could not read the dropped items: {e:?}"))?;
    let arr: Array = value
        .dyn_into()
        .map_err(|_| "unexpected drop data".to_string())?;
    Ok(arr
        .iter()
        .filter_map(|v| match v.dyn_into::<File>() {
            Ok(f) => Some(Item::from_file(f)),
            // [file, path inside the dropped folder]
            Err(v) => {
                let pair: Array = v.dyn_into().ok()?;
                let f: File = pair.get(0).dyn_into().ok()?;
                let path = pair.get(1).as_string().unwrap_or_else(|| f.name());
                Some(Item {
                    name: path,
                    blob: f.into(),
                })
            }
        })
        .collect())
}

/// The bundled example (shipped with the page, so it works offline): relative URL and display name.
pub const EXAMPLE_FILES: &[(&str, &str)] = &[
    (
        "examples/model_check_result.txt",
        "example/model_check_result.txt",
    ),
    (
        "examples/horizon_quant_analysis/compare_per_layer_out.txt",
        "example/horizon_quant_analysis/compare_per_layer_out.txt",
    ),
    (
        "examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
        "example/horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
    ),
    (
        "examples/horizon_quant_analysis/abnormal_layer_advisor.txt",
        "example/horizon_quant_analysis/abnormal_layer_advisor.txt",
    ),
];

/// Fetch the bundled example from the page's own assets.
pub async fn example_items() -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for (url, name) in EXAMPLE_FILES {
        items.push(fetch_item(url, name).await?);
    }
    Ok(items)
}

async fn fetch_item(url: &str, name: &str) -> Result<Item, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("could not load the example: {e:?}"))?
        .dyn_into()
        .map_err(|_| "unexpected fetch result".to_string())?;
    if !resp.ok() {
        return Err(format!(
            "could not load the example ({}: HTTP {})",
            url,
            resp.status()
        ));
    }
    let blob: Blob = JsFuture::from(resp.blob().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "unexpected example data".to_string())?;
    Ok(Item {
        name: name.to_string(),
        blob,
    })
}
