//! Text rendering helpers: `code` spans and fenced code blocks in finding texts, and long module
//! names that wrap at their dots instead of overflowing.

use yew::prelude::*;

/// Render a finding text: ```` ``` ```` fenced blocks become `<pre>`, `backticks` become `<code>`.
pub fn rich_text(text: &str) -> Html {
    let mut parts = Vec::new();
    for (i, chunk) in text.split("```").enumerate() {
        if i % 2 == 1 {
            // Drop the language tag line (```python).
            let body = match chunk.split_once('\n') {
                Some((first, rest)) if !first.contains(' ') => rest,
                _ => chunk,
            };
            parts.push(html! { <pre class="code">{ body.trim_end().to_string() }</pre> });
        } else {
            parts.push(inline(chunk));
        }
    }
    html! { <>{ for parts }</> }
}

fn inline(text: &str) -> Html {
    let nodes = text.split('`').enumerate().map(|(i, s)| {
        if i % 2 == 1 {
            html! { <code>{ breakable(s) }</code> }
        } else {
            html! { { s.to_string() } }
        }
    });
    html! { <>{ for nodes }</> }
}

/// A long name with break opportunities after `.`, `_`, `[` and `(`, so 200-character module paths
/// wrap at natural boundaries and stay readable.
pub fn breakable(name: &str) -> Html {
    if name.len() < 24 {
        return html! { { name.to_string() } };
    }
    let mut nodes = Vec::new();
    let mut cur = String::new();
    for c in name.chars() {
        cur.push(c);
        if matches!(c, '.' | '_' | '[' | '(' | ',' | '/') {
            nodes.push(html! { { std::mem::take(&mut cur) } });
            nodes.push(html! { <wbr/> });
        }
    }
    if !cur.is_empty() {
        nodes.push(html! { { cur } });
    }
    html! { <>{ for nodes }</> }
}

/// `12.3 MB` style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A long name cut in the middle, never at its end: the end (`…layers.0.cross_attn.quant_normalizer`)
/// is what tells layers apart. The head shrinks with an ellipsis; the tail always shows.
pub fn middle_cut(name: &str) -> Html {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= 28 {
        return html! { { name.to_string() } };
    }
    // Keep the last 24 characters, starting at a dot when one is near.
    let mut cut = chars.len() - 24;
    if let Some(k) = (cut.saturating_sub(8)..cut + 6).find(|&k| chars.get(k) == Some(&'.')) {
        cut = k;
    }
    let head: String = chars[..cut].iter().collect();
    let tail: String = chars[cut..].iter().collect();
    html! { <span class="middle-cut"><span class="head">{ head }</span><span class="tail">{ tail }</span></span> }
}

/// Save text as a file through a local object URL (nothing leaves the machine).
pub fn download(name: &str, mime: &str, text: &str) {
    save(name, mime, &js_sys::Array::of1(&text.into()));
}

/// Save bytes as a file (a zip of a run's reports).
pub fn download_bytes(name: &str, mime: &str, bytes: &[u8]) {
    save(
        name,
        mime,
        &js_sys::Array::of1(&js_sys::Uint8Array::from(bytes)),
    );
}

/// A Blob of `parts` saved under `name` through a temporary link.
fn save(name: &str, mime: &str, parts: &js_sys::Array) {
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        if let Ok(a) = doc.create_element("a") {
            let _ = a.set_attribute("href", &url);
            let _ = a.set_attribute("download", name);
            if let Ok(a) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(a) {
                a.click();
            }
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

#[derive(Properties, PartialEq)]
pub struct CopyNameProps {
    pub name: String,
    /// A small "copy" button (in grid rows and lists) instead of the words.
    #[prop_or_default]
    pub compact: bool,
}

/// A "copy name" button with its feedback: "copied", or why the browser refused.
#[component]
pub fn CopyName(p: &CopyNameProps) -> Html {
    let state = use_state(|| None::<bool>);
    {
        // A new name starts without feedback.
        let state = state.clone();
        use_effect_with(p.name.clone(), move |_| state.set(None));
    }
    let onclick = {
        let (name, state) = (p.name.clone(), state.clone());
        Callback::from(move |e: MouseEvent| {
            // A row under the button is not selected by copying its name.
            e.stop_propagation();
            let Some(w) = web_sys::window() else { return };
            let promise = w.navigator().clipboard().write_text(&name);
            let state = state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                state.set(Some(ok));
            });
        })
    };
    // The button's words are drawn by CSS from `data-label` (`button.copy::before`), so they are
    // not in the text around it: a name selected and copied, or read from the page's text, does
    // not run into "copy".
    html! {
        <span class={classes!("copy-name", p.compact.then_some("compact"))}>
            <button class={if p.compact { "copy mini" } else { "link copy" }} title={format!("copy the full name: {}", p.name)} aria-label="copy name" data-label={if p.compact { "copy" } else { "copy name" }} {onclick}></button>
            { match *state {
                Some(true) => html! { <span class="copied" role="status">{ if p.compact { "✓" } else { "copied" } }</span> },
                Some(false) => html! { <span class="copy-error" role="status" title="select the name and copy it">{ if p.compact { "refused" } else { "the browser refused the clipboard: select the name and copy it" } }</span> },
                None => html! {},
            } }
        </span>
    }
}
