//! A digest link, read-only: the findings that matter and the rows they cite, the files to drop for the full view; and the panel that hands out such a link.

use crate::engine::digest::Digest;
use crate::engine::findings::Severity;
use crate::ui::rich::{breakable, human_bytes, rich_text};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct DigestProps {
    pub digest: Rc<Digest>,
}

fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// What a digest link shows before (or without) its files.
#[component]
pub fn DigestView(p: &DigestProps) -> Html {
    let d = &p.digest;
    let [errors, warnings, notes] = d.counts;
    html! {
        <section class="digest" aria-label="Digest from a link">
            <h2>{ "Findings shared by link (read-only)" }</h2>
            <p class="muted">{ format!(
                "{errors} error(s), {warnings} warning(s), {notes} note(s) in the analysis this link was made from; the {} that matter most are below{}. Drop the same files to see every view: QuantLens checks that they are the same (size and SHA-256).",
                d.findings.len(),
                if d.omitted > 0 { format!(" ({} more left out of the link)", d.omitted) } else { String::new() }
            ) }</p>
            <ol class="digest-findings">
                { for d.findings.iter().map(|f| html! {
                    <li class="digest-finding" data-kind={f.kind.clone()}>
                        <div>
                            <span class={classes!("sev", sev_class(f.severity))}>{ f.severity.as_str().to_uppercase() }</span>
                            <strong class="kind">{ f.kind.clone() }</strong>
                            { for f.layers.iter().map(|l| html! { <code class="layer">{ breakable(l) }</code> }) }
                            if f.more_layers > 0 { <span class="muted">{ format!(" +{} more", f.more_layers) }</span> }
                        </div>
                        if !f.rank_reason.is_empty() { <div class="muted small">{ f.rank_reason.clone() }</div> }
                        <div class="message">{ rich_text(&f.message) }</div>
                        <div class="fix"><strong>{ "Fix: " }</strong>{ rich_text(&f.fix) }</div>
                        { for f.rows.iter().map(|r| html! {
                            <div class="digest-row">
                                <div class="muted small">{ format!("{} · {} · row {} (line {})", r.file, r.table, r.row + 1, r.line) }</div>
                                <table class="kv"><tbody>
                                    { for r.cells.iter().map(|(h, c)| html! { <tr><th>{ h.clone() }</th><td>{ breakable(c) }</td></tr> }) }
                                </tbody></table>
                            </div>
                        }) }
                    </li>
                }) }
            </ol>
            <h3>{ "Files this link was made from" }</h3>
            <ul class="digest-files">
                { for d.files.iter().map(|f| html! {
                    <li>
                        <code>{ f.name.clone() }</code>
                        { format!(" — {}{}", human_bytes(f.bytes), if f.format.is_empty() { String::new() } else { format!(", {}", f.format) }) }
                        if !f.sha256.is_empty() { <span class="muted small" title={f.sha256.clone()}>{ format!(" · SHA-256 {}…", f.sha256.chars().take(12).collect::<String>()) }</span> }
                    </li>
                }) }
            </ul>
            if d.files_omitted > 0 {
                <p class="muted small">{ format!("…and {} more file(s) the link had no room for: a drop of them is not checked.", d.files_omitted) }</p>
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct LinkProps {
    pub url: String,
    pub findings: usize,
    pub omitted: usize,
    /// Files the link names, and the files it had no room for.
    pub files: usize,
    pub files_omitted: usize,
    pub on_close: Callback<()>,
}

/// The digest link just made: copied to the clipboard when the browser allows, and shown to copy by hand.
#[component]
pub fn DigestLink(p: &LinkProps) -> Html {
    let copied = use_state(|| None::<bool>);
    {
        let (url, copied) = (p.url.clone(), copied.clone());
        use_effect_with(p.url.clone(), move |_| {
            if let Some(w) = web_sys::window() {
                let promise = w.navigator().clipboard().write_text(&url);
                wasm_bindgen_futures::spawn_local(async move {
                    let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                    copied.set(Some(ok));
                });
            }
        });
    }
    let close = p.on_close.reform(|_: MouseEvent| ());
    html! {
        <div class="digest-link" role="status">
            <span>{ format!(
                "A link with the {} finding(s) that matter{} and {} ({} characters; links stay under 8 KiB){}:",
                p.findings,
                if p.omitted > 0 { format!(" ({} more left out)", p.omitted) } else { String::new() },
                if p.files_omitted > 0 {
                    format!("the size and SHA-256 of {} of the {} files (no room for the other {}: a drop of them is not checked)", p.files, p.files + p.files_omitted, p.files_omitted)
                } else {
                    "each file's size and SHA-256".to_string()
                },
                p.url.len(),
                match *copied { Some(true) => ", copied", Some(false) => ", copy it from here", None => "" },
            ) }</span>
            <input id="digest-url" readonly=true value={p.url.clone()} aria-label="Digest link" />
            <button class="link" onclick={close}>{ "close" }</button>
        </div>
    }
}
