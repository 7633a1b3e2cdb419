//! The model panel: a float ONNX model's declared inputs, its image samples (checked by the model worker), the image preprocessing form (presets, remembered in localStorage), typed shapes for symbolic dimensions, and the explicit, warned choice of random inputs.

use crate::engine::views::{
    dims_text, parse_dims, parse_size, parse_triple, Layout, Preprocess, QDType, RandomInputs,
    PRESETS, RANDOM_WARNING,
};
use crate::protocol::ImageCheck;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// What the model worker said of a model (`FromModel::Inputs`).
#[derive(Clone, PartialEq, Default)]
pub struct ModelInfo {
    pub inputs: Vec<(String, Vec<Option<usize>>)>,
    pub images: Vec<ImageCheck>,
    /// The model could not be read (its message).
    pub error: Option<String>,
}

/// A run the user asked for.
#[derive(Clone, PartialEq)]
pub struct RunRequest {
    pub model: String,
    pub dtype: QDType,
    /// Sample files (tensor files and images that decode); empty for random inputs.
    pub inputs: Vec<String>,
    pub preprocess: Preprocess,
    pub typed: Vec<Vec<Option<usize>>>,
    pub random: Option<RandomInputs>,
    /// The calibration observer: `minmax`, `percentile`, `mse` or `kl`.
    pub observer: String,
}

/// The observers a run can calibrate with (value, label).
const OBSERVERS: &[(&str, &str)] = &[
    ("minmax", "min-max"),
    ("percentile", "percentile (99.99%)"),
    ("mse", "MSE"),
    ("kl", "KL (entropy)"),
];

#[derive(Properties, PartialEq)]
pub struct ModelPanelProps {
    pub model: String,
    /// Loaded .npz/.npy files (names).
    pub tensors: Vec<String>,
    /// Loaded images (names), before or after the worker checked them.
    pub images: Vec<String>,
    /// `None` while the model worker reads the model.
    pub info: Option<ModelInfo>,
    pub on_run: Callback<RunRequest>,
    /// The folders of this model's runs loaded (`<model>_int8_run`, …), each downloadable.
    #[prop_or_default]
    pub runs: Vec<String>,
    #[prop_or_default]
    pub on_download: Callback<String>,
}

const PP_KEY: &str = "quantlens.preprocess";
const RANDOM_KEY: &str = "quantlens.random-inputs";
const OBSERVER_KEY: &str = "quantlens.observer";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn load<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    let s = storage()?.get_item(key).ok()??;
    serde_json::from_str(&s).ok()
}

fn save<T: serde::Serialize>(key: &str, v: &T) {
    if let (Some(st), Ok(s)) = (storage(), serde_json::to_string(v)) {
        let _ = st.set_item(key, &s);
    }
}

fn triple_text(v: [f32; 3]) -> String {
    if v[0] == v[1] && v[1] == v[2] {
        v[0].to_string()
    } else {
        format!("{},{},{}", v[0], v[1], v[2])
    }
}

fn scale_text(s: f32) -> String {
    if (s - 1.0 / 255.0).abs() < 1e-9 {
        "1/255".into()
    } else {
        s.to_string()
    }
}

fn parse_scale(s: &str) -> Option<f32> {
    let s = s.trim();
    let v = match s.split_once('/') {
        Some((a, b)) => a.trim().parse::<f32>().ok()? / b.trim().parse::<f32>().ok()?,
        None => s.parse().ok()?,
    };
    v.is_finite().then_some(v)
}

fn input_value(e: &Event) -> String {
    e.target_dyn_into::<HtmlInputElement>()
        .map(|i| i.value())
        .or_else(|| e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value()))
        .unwrap_or_default()
}

/// The panel under the tabs for one float model.
#[component]
pub fn ModelPanel(p: &ModelPanelProps) -> Html {
    let pp = use_state(|| load::<Preprocess>(PP_KEY).unwrap_or_default());
    let random = use_state(|| {
        load::<RandomInputs>(RANDOM_KEY).unwrap_or(RandomInputs {
            count: 4,
            normal: false,
            a: 0.0,
            b: 1.0,
            seed: 0,
        })
    });
    let typed_text = use_state(Vec::<String>::new);
    let form_error = use_state(|| None::<String>);
    let observer = use_state(|| {
        load::<String>(OBSERVER_KEY)
            .filter(|o| OBSERVERS.iter().any(|(k, _)| k == o))
            .unwrap_or_else(|| "minmax".into())
    });
    let on_observer = {
        let observer = observer.clone();
        Callback::from(move |e: Event| {
            let v = input_value(&e);
            if OBSERVERS.iter().any(|(k, _)| *k == v) {
                save(OBSERVER_KEY, &v);
                observer.set(v);
            }
        })
    };

    let set_pp = {
        let pp = pp.clone();
        let form_error = form_error.clone();
        move |v: Preprocess| match v.check() {
            Ok(()) => {
                save(PP_KEY, &v);
                form_error.set(None);
                pp.set(v);
            }
            Err(e) => form_error.set(Some(e)),
        }
    };
    // A field of the form: parse the text, update the settings or say what is wrong.
    let field = |f: fn(&mut Preprocess, &str) -> Result<(), String>| {
        let pp = pp.clone();
        let set_pp = set_pp.clone();
        let form_error = form_error.clone();
        Callback::from(move |e: Event| {
            let mut v = (*pp).clone();
            match f(&mut v, &input_value(&e)) {
                Ok(()) => set_pp(v),
                Err(m) => form_error.set(Some(m)),
            }
        })
    };
    let on_preset = field(|v, s| {
        if let Some(p) = Preprocess::preset(s) {
            *v = Preprocess { size: v.size, ..p };
        }
        Ok(())
    });
    let on_size = field(|v, s| {
        v.size = if s.trim().is_empty() {
            None
        } else {
            Some(parse_size(s).ok_or(format!("size {s:?}: H×W, e.g. 48x192"))?)
        };
        Ok(())
    });
    let on_order = field(|v, s| {
        v.bgr = s == "bgr";
        Ok(())
    });
    let on_scale = field(|v, s| {
        v.scale = parse_scale(s).ok_or(format!("scale {s:?}: a number or a fraction (1/255)"))?;
        Ok(())
    });
    let on_mean = field(|v, s| {
        v.mean = parse_triple(s).ok_or(format!("mean {s:?}: one number or three (a,b,c)"))?;
        Ok(())
    });
    let on_std = field(|v, s| {
        v.std = parse_triple(s).ok_or(format!("std {s:?}: one number or three (a,b,c)"))?;
        Ok(())
    });
    let on_layout = field(|v, s| {
        v.layout = Layout::parse(s);
        Ok(())
    });
    let on_pad = {
        let pp = pp.clone();
        let set_pp = set_pp.clone();
        Callback::from(move |e: Event| {
            let on = e
                .target_dyn_into::<HtmlInputElement>()
                .is_some_and(|i| i.checked());
            set_pp(Preprocess {
                pad: on,
                ..(*pp).clone()
            })
        })
    };

    let info = p.info.clone().unwrap_or_default();
    let n_inputs = info.inputs.len();
    // Typed shapes: parsed from what the user typed, per input.
    let typed: Vec<Vec<Option<usize>>> = (0..n_inputs)
        .map(|i| {
            typed_text
                .get(i)
                .and_then(|t| parse_dims(t))
                .unwrap_or_default()
        })
        .collect();
    let typed_bad: Vec<bool> = (0..n_inputs)
        .map(|i| {
            typed_text.get(i).is_some_and(|t| {
                !t.trim().is_empty()
                    && parse_dims(t).is_none_or(|d| d.len() != info.inputs[i].1.len())
            })
        })
        .collect();
    let good_images: Vec<String> = p
        .images
        .iter()
        .filter(|n| {
            info.images
                .iter()
                .find(|c| &c.name == *n)
                .is_none_or(|c| c.error.is_none())
        })
        .cloned()
        .collect();
    let samples = p.tensors.len() + good_images.len();
    let run_with = |dtype: QDType, rnd: bool| {
        let on_run = p.on_run.clone();
        let model = p.model.clone();
        let inputs: Vec<String> = p.tensors.iter().chain(&good_images).cloned().collect();
        let (pp, typed, random) = ((*pp).clone(), typed.clone(), (*random).clone());
        let observer = (*observer).clone();
        Callback::from(move |_: MouseEvent| {
            on_run.emit(RunRequest {
                model: model.clone(),
                dtype,
                inputs: if rnd { Vec::new() } else { inputs.clone() },
                preprocess: pp.clone(),
                typed: typed.clone(),
                random: rnd.then(|| random.clone()),
                observer: observer.clone(),
            })
        })
    };
    let rnd_field = |f: fn(&mut RandomInputs, &str) -> Option<()>| {
        let random = random.clone();
        let form_error = form_error.clone();
        Callback::from(move |e: Event| {
            let mut v = (*random).clone();
            let s = input_value(&e);
            match f(&mut v, &s) {
                Some(()) => {
                    save(RANDOM_KEY, &v);
                    form_error.set(None);
                    random.set(v);
                }
                None => form_error.set(Some(format!("{s:?} is not a number here"))),
            }
        })
    };
    let symbolic = info
        .inputs
        .iter()
        .any(|(_, d)| d.iter().any(Option::is_none));
    let v = &*pp;
    let preset = v.preset_key().unwrap_or("custom");
    let default_size = info
        .inputs
        .first()
        .filter(|_| n_inputs == 1)
        .and_then(|(_, d)| {
            let nhwc = v.layout == Some(Layout::Nhwc)
                || (v.layout.is_none() && matches!(d.get(3), Some(Some(1 | 3))));
            let (h, w) = if nhwc {
                (*d.get(1)?, *d.get(2)?)
            } else {
                (*d.get(2)?, *d.get(3)?)
            };
            Some(match (h, w) {
                (Some(h), Some(w)) => format!("{h}x{w} (the model's)"),
                _ => "typed, else 1st image's".to_string(),
            })
        })
        .unwrap_or_else(|| "the model's".into());

    html! {
        <div class="model-run" role="region" aria-label="Run the model">
            <span>{ format!(
                "{} is a float ONNX model. QuantLens can run it here: calibrate every activation on the sample inputs loaded ({} .npz/.npy file(s), {} image(s)), simulate the quantized model (Horizon's layer comparison) and measure each activation's true sensitivity (the model's output with that one activation quantized).",
                p.model, p.tensors.len(), good_images.len()
            ) }</span>
            <div class="model-inputs" id="model-inputs">
                { match (&p.info, &info.error) {
                    (None, _) => html! { <span class="muted">{ "Reading the model's inputs…" }</span> },
                    (Some(_), Some(e)) => html! { <span class="error">{ e.clone() }</span> },
                    (Some(_), None) => html! {
                        <>
                            <strong>{ "Inputs: " }</strong>
                            { for info.inputs.iter().enumerate().map(|(i, (name, dims))| {
                                let sym = dims.iter().any(Option::is_none);
                                let tt = typed_text.clone();
                                let oninput = Callback::from(move |e: InputEvent| {
                                    let val = e.target_dyn_into::<HtmlInputElement>().map(|x| x.value()).unwrap_or_default();
                                    let mut t = (*tt).clone();
                                    t.resize(n_inputs.max(i + 1), String::new());
                                    t[i] = val;
                                    tt.set(t);
                                });
                                html! {
                                    <span class="model-input" data-input={name.clone()}>
                                        <code>{ format!("{name} {}", dims_text(dims)) }</code>
                                        if sym {
                                            <label>{ " shape: " }
                                                <input type="text" id={format!("shape-{i}")} size="14"
                                                    class={classes!(typed_bad[i].then_some("bad"))}
                                                    placeholder={dims_text(dims)}
                                                    title="Type the symbolic (?) dimensions, e.g. 1x3x48x192; ? leaves one to the samples"
                                                    value={typed_text.get(i).cloned().unwrap_or_default()}
                                                    {oninput} />
                                            </label>
                                        }
                                        { " " }
                                    </span>
                                }
                            }) }
                            if symbolic {
                                <span class="muted small">{ " ? is symbolic: the samples fix it, or type it." }</span>
                            }
                        </>
                    },
                } }
            </div>
            if !p.images.is_empty() {
                <ul class="model-images">
                    { for p.images.iter().map(|n| {
                        let c = info.images.iter().find(|c| &c.name == n);
                        html! {
                            <li data-image={n.clone()}>
                                { match c {
                                    Some(ImageCheck { error: Some(e), .. }) => html! { <span class="error image-error">{ e.clone() }</span> },
                                    Some(ImageCheck { size: Some((w, h)), .. }) => html! { <span>{ format!("{n}: {w}×{h}") }</span> },
                                    _ => html! { <span class="muted">{ format!("{n}: checking…") }</span> },
                                } }
                            </li>
                        }
                    }) }
                </ul>
                <fieldset class="preprocess" id="preprocess">
                    <legend>{ "Image preprocessing (remembered on this browser)" }</legend>
                    <label>{ "Preset " }
                        <select id="pp-preset" onchange={on_preset}>
                            { for PRESETS.iter().map(|(k, label)| html! { <option value={*k} selected={preset == *k}>{ *label }</option> }) }
                            <option value="custom" selected={preset == "custom"} disabled=true>{ "custom" }</option>
                        </select>
                    </label>
                    <label>{ " Size H×W " }
                        <input type="text" id="pp-size" size="14" placeholder={default_size}
                            value={v.size.map(|(h, w)| format!("{h}x{w}")).unwrap_or_default()} onchange={on_size} />
                    </label>
                    <label>{ " Channels " }
                        <select id="pp-order" onchange={on_order}>
                            <option value="rgb" selected={!v.bgr}>{ "RGB" }</option>
                            <option value="bgr" selected={v.bgr}>{ "BGR" }</option>
                        </select>
                    </label>
                    <label>{ " Scale ×" }
                        <input type="text" id="pp-scale" size="6" value={scale_text(v.scale)} onchange={on_scale} />
                    </label>
                    <label>{ " Mean " }
                        <input type="text" id="pp-mean" size="16" value={triple_text(v.mean)} onchange={on_mean} />
                    </label>
                    <label>{ " Std " }
                        <input type="text" id="pp-std" size="16" value={triple_text(v.std)} onchange={on_std} />
                    </label>
                    <label>{ " Layout " }
                        <select id="pp-layout" onchange={on_layout}>
                            <option value="auto" selected={v.layout.is_none()}>{ "from the model" }</option>
                            <option value="nchw" selected={v.layout == Some(Layout::Nchw)}>{ "NCHW" }</option>
                            <option value="nhwc" selected={v.layout == Some(Layout::Nhwc)}>{ "NHWC" }</option>
                        </select>
                    </label>
                    <label>{ " " }
                        <input type="checkbox" id="pp-pad" checked={v.pad} onchange={on_pad} />
                        { " keep aspect, pad right" }
                    </label>
                    <p class="muted small" id="pp-describe">{ format!(
                        "{} — resize is bilinear with half-pixel centres, no antialiasing (OpenCV INTER_LINEAR), in f32; then (x·scale − mean) / std per channel.",
                        v.describe()
                    ) }</p>
                </fieldset>
            }
            if let Some(e) = &*form_error {
                <p class="error" id="pp-error">{ e.clone() }</p>
            }
            if !p.runs.is_empty() {
                <p class="model-runs">{ "Its runs: " }
                    { for p.runs.iter().map(|r| {
                        let (cb, r2) = (p.on_download.clone(), r.clone());
                        html! { <button class="link download-run" data-run={r.clone()} title={format!("Download {r}/ (its reports) as {r}.zip")}
                            onclick={Callback::from(move |_: MouseEvent| cb.emit(r2.clone()))}>{ format!("{r}.zip ↓") }</button> }
                    }) }
                </p>
            }
            <label class="observer">{ "Calibration " }
                <select id="model-observer" onchange={on_observer}>
                    { for OBSERVERS.iter().map(|(k, label)| html! { <option value={*k} selected={*observer == *k}>{ *label }</option> }) }
                </select>
            </label>{ " " }
            <button class="primary" id="run-model-int8" disabled={samples == 0 || info.error.is_some()}
                onclick={run_with(QDType::Int8, false)}>{ "Run at int8" }</button>
            <button id="run-model-int16" disabled={samples == 0 || info.error.is_some()}
                onclick={run_with(QDType::Int16, false)}>{ "Run at int16" }</button>
            <details class="random-inputs" id="random-inputs">
                <summary>{ "Run on random inputs instead…" }</summary>
                <p class="warning" role="note">{ format!("Warning: {RANDOM_WARNING}.") }</p>
                <label>{ "Samples " }
                    <input type="number" id="rnd-count" min="1" max="1000" value={random.count.to_string()}
                        onchange={rnd_field(|r, s| { r.count = s.parse().ok().filter(|n| (1..=1000).contains(n))?; Some(()) })} />
                </label>
                <label>{ " Distribution " }
                    <select id="rnd-dist" onchange={rnd_field(|r, s| { r.normal = s == "normal"; Some(()) })}>
                        <option value="uniform" selected={!random.normal}>{ "uniform in [a, b]" }</option>
                        <option value="normal" selected={random.normal}>{ "normal (mean a, std b)" }</option>
                    </select>
                </label>
                <label>{ " a " }
                    <input type="text" id="rnd-a" size="6" value={random.a.to_string()}
                        onchange={rnd_field(|r, s| { r.a = s.trim().parse().ok()?; Some(()) })} />
                </label>
                <label>{ " b " }
                    <input type="text" id="rnd-b" size="6" value={random.b.to_string()}
                        onchange={rnd_field(|r, s| { r.b = s.trim().parse().ok()?; Some(()) })} />
                </label>
                <label>{ " Seed " }
                    <input type="number" id="rnd-seed" min="0" value={random.seed.to_string()}
                        onchange={rnd_field(|r, s| { r.seed = s.trim().parse().ok()?; Some(()) })} />
                </label>
                <button id="run-model-random" onclick={run_with(QDType::Int8, true)}>
                    { format!("Run at int8 on {}", random.describe()) }
                </button>
                if symbolic {
                    <span class="muted small">{ " (type every ? above first)" }</span>
                }
            </details>
        </div>
    }
}
