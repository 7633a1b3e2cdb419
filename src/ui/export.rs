//! Exports from the views, saved through local object URLs (nothing leaves the machine): any table
//! as CSV or JSON (the engine writes the text from the rows as shown), any figure as SVG (the element
//! with the stylesheet's computed styles inlined, so the file renders alone) or PNG (that SVG drawn
//! at 2× on a canvas).

use crate::engine::views::{export_name, ExportTable};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;
use yew::prelude::*;

/// Save a Blob as a file.
pub fn download_blob(name: &str, blob: &web_sys::Blob) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
        return;
    };
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        if let Ok(a) = doc.create_element("a") {
            let _ = a.set_attribute("href", &url);
            let _ = a.set_attribute("download", name);
            if let Ok(a) = a.dyn_into::<web_sys::HtmlElement>() {
                a.click();
            }
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

fn text_blob(text: &str, mime: &str) -> Result<web_sys::Blob, JsValue> {
    let parts = js_sys::Array::of1(&text.into());
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
}

/// "CSV" and "JSON" buttons for a table: `build` gives the rows as shown when clicked (so a 50,000-row
/// grid writes nothing until asked). `kind` names the buttons (`csv-<kind>`, `json-<kind>`).
pub fn table_export(
    kind: &str,
    source: &str,
    part: Option<&str>,
    filtered: bool,
    build: impl Fn() -> Option<ExportTable> + 'static,
) -> Html {
    let build = Rc::new(build);
    let csv_name = export_name(source, part, filtered, "csv");
    let json_name = export_name(source, part, filtered, "json");
    let save = |name: &String, json: bool| {
        let (build, name) = (build.clone(), name.clone());
        Callback::from(move |e: MouseEvent| {
            e.stop_propagation();
            if let Some(t) = build() {
                let (text, mime) = if json {
                    (t.json(), "application/json")
                } else {
                    (t.csv(), "text/csv")
                };
                if let Ok(blob) = text_blob(&text, mime) {
                    download_blob(&name, &blob);
                }
            }
        })
    };
    html! {
        <span class="table-export">
            <button class={classes!("export-csv", format!("csv-{kind}"))} title={format!("The rows as shown (filters, sort and columns) as CSV: {csv_name}")}
                onclick={save(&csv_name, false)}>{ "CSV" }</button>
            <button class={classes!("export-json", format!("json-{kind}"))} title={format!("The rows as shown as JSON: {json_name}")}
                onclick={save(&json_name, true)}>{ "JSON" }</button>
        </span>
    }
}

/// "SVG" and "PNG" buttons: they save the first `svg` inside the nearest `[data-figure]` element
/// around them, named by that attribute.
pub fn figure_buttons() -> Html {
    html! {
        <span class="fig-export">
            <button class="link export-svg" title="Save this picture as SVG" onclick={Callback::from(|e: MouseEvent| save_figure(&e, false))}>{ "SVG" }</button>
            <button class="link export-png" title="Save this picture as PNG (2×)" onclick={Callback::from(|e: MouseEvent| save_figure(&e, true))}>{ "PNG" }</button>
        </span>
    }
}

/// A figure with its export buttons; `stem` is the file name without the extension.
pub fn figure(stem: String, svg: Html) -> Html {
    html! { <div class="figure" data-figure={stem}>{ svg }{ figure_buttons() }</div> }
}

/// "SVG" and "PNG" buttons for a picture the engine writes as a standalone SVG (`build` gives the
/// text and its size when clicked): for figures the view draws in HTML.
pub fn svg_text_buttons(
    stem: String,
    build: impl Fn() -> Option<(String, f64, f64)> + 'static,
) -> Html {
    let build = Rc::new(build);
    let save = |png: bool| {
        let (build, stem) = (build.clone(), stem.clone());
        Callback::from(move |e: MouseEvent| {
            e.stop_propagation();
            let Some((text, w, h)) = build() else { return };
            if png {
                let name = format!("{stem}.png");
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(err) = svg_to_png(&text, w, h, &name).await {
                        web_sys::console::error_2(&"PNG export failed".into(), &err);
                    }
                });
            } else if let Ok(blob) = text_blob(&text, "image/svg+xml") {
                download_blob(&format!("{stem}.svg"), &blob);
            }
        })
    };
    html! {
        <span class="fig-export">
            <button class="link export-svg" title="Save this picture as SVG" onclick={save(false)}>{ "SVG" }</button>
            <button class="link export-png" title="Save this picture as PNG (2×)" onclick={save(true)}>{ "PNG" }</button>
        </span>
    }
}

fn save_figure(e: &MouseEvent, png: bool) {
    e.stop_propagation();
    let Some(button) = e.target_dyn_into::<Element>() else {
        return;
    };
    let Ok(Some(host)) = button.closest("[data-figure]") else {
        return;
    };
    let stem = host
        .get_attribute("data-figure")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "quantlens_figure".into());
    let Ok(Some(svg)) = host.query_selector("svg") else {
        return;
    };
    // What the picture shows, for the file's <title>: the figure's caption if it has one.
    let caption = host
        .get_attribute("data-caption")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("QuantLens: {}", stem.replace(['_', '.'], " ")));
    let Some((text, w, h)) = standalone_svg(&svg, &caption) else {
        return;
    };
    if png {
        let name = format!("{stem}.png");
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(err) = svg_to_png(&text, w, h, &name).await {
                web_sys::console::error_2(&"PNG export failed".into(), &err);
            }
        });
    } else if let Ok(blob) = text_blob(&text, "image/svg+xml") {
        download_blob(&format!("{stem}.svg"), &blob);
    }
}

/// Properties the stylesheet gives SVG elements that a standalone file must carry itself.
const STYLE_PROPS: &[&str] = &[
    "fill",
    "fill-opacity",
    "stroke",
    "stroke-width",
    "stroke-dasharray",
    "stroke-opacity",
    "stroke-linecap",
    "stroke-linejoin",
    "opacity",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "text-anchor",
    "dominant-baseline",
    "visibility",
    "rx",
    "ry",
];

fn inline_style(win: &web_sys::Window, from: &Element, to: &Element, root: bool) {
    let Ok(Some(cs)) = win.get_computed_style(from) else {
        return;
    };
    let mut style = String::new();
    let props = STYLE_PROPS.iter().chain(if root {
        &["background-color"][..]
    } else {
        &[][..]
    });
    for p in props {
        let v = cs.get_property_value(p).unwrap_or_default();
        let transparent = *p == "background-color" && v == "rgba(0, 0, 0, 0)";
        if !v.is_empty() && !transparent {
            style.push_str(&format!("{p}:{v};"));
        }
    }
    let own = to.get_attribute("style").unwrap_or_default();
    let _ = to.set_attribute("style", &(style + &own));
}

/// The SVG as a standalone file: a deep copy with every element's computed style inline, the SVG
/// namespace declared, and the size it is drawn at. Returns (text, width, height) in CSS pixels.
fn standalone_svg(svg: &Element, caption: &str) -> Option<(String, f64, f64)> {
    let win = web_sys::window()?;
    let rect = svg.get_bounding_client_rect();
    let (w, h) = (
        rect.width().round().max(1.0),
        rect.height().round().max(1.0),
    );
    let copy: Element = svg.clone_node_with_deep(true).ok()?.dyn_into().ok()?;
    inline_style(&win, svg, &copy, true);
    // querySelectorAll walks both trees in the same (document) order.
    let (from, to) = (
        svg.query_selector_all("*").ok()?,
        copy.query_selector_all("*").ok()?,
    );
    for i in 0..from.length().min(to.length()) {
        let (Some(a), Some(b)) = (from.item(i), to.item(i)) else {
            continue;
        };
        if let (Some(a), Some(b)) = (a.dyn_ref::<Element>(), b.dyn_ref::<Element>()) {
            inline_style(&win, a, b, false);
        }
    }
    let _ = copy.set_attribute_ns(
        Some("http://www.w3.org/2000/xmlns/"),
        "xmlns",
        "http://www.w3.org/2000/svg",
    );
    // A <title>, so the file alone says what it shows.
    if let Some(doc) = win.document() {
        if let Ok(title) = doc.create_element_ns(Some("http://www.w3.org/2000/svg"), "title") {
            title.set_text_content(Some(caption));
            let first = copy.first_child();
            let _ = copy.insert_before(&title, first.as_ref());
        }
    }
    let _ = copy.set_attribute("width", &format!("{w}"));
    let _ = copy.set_attribute("height", &format!("{h}"));
    let text = web_sys::XmlSerializer::new()
        .ok()?
        .serialize_to_string(&copy)
        .ok()?;
    Some((text, w, h))
}

/// Draw the SVG text at 2× on a white canvas and save it as PNG.
async fn svg_to_png(text: &str, w: f64, h: f64, name: &str) -> Result<(), JsValue> {
    use wasm_bindgen_futures::JsFuture;
    let blob = text_blob(text, "image/svg+xml")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let img = web_sys::HtmlImageElement::new()?;
    img.set_src(&url);
    let loaded = JsFuture::from(img.decode()).await;
    let _ = web_sys::Url::revoke_object_url(&url);
    loaded?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = doc.create_element("canvas")?.dyn_into()?;
    let (cw, ch) = ((w * 2.0).round(), (h * 2.0).round());
    canvas.set_width(cw as u32);
    canvas.set_height(ch as u32);
    let ctx: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or("no 2d context")?
        .dyn_into()?;
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, cw, ch);
    ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, 0.0, 0.0, cw, ch)?;
    let promise = js_sys::Promise::new(&mut |resolve: js_sys::Function, _reject| {
        let _ = canvas.to_blob(&resolve);
    });
    let png: web_sys::Blob = JsFuture::from(promise).await?.dyn_into()?;
    download_blob(name, &png);
    Ok(())
}
