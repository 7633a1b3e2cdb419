//! The Yew front end: file intake, the worker bridge, and the views. It renders what the engine
//! computed and does no analysis of its own.

mod data_table;
mod digest;
mod export;
mod files;
mod journal;
mod layers;
mod model_panel;
mod recommend;
mod rich;
mod sens;
mod sources;
mod tensors;
mod views;

use crate::engine::share::{GridState, MixState, PairsState, TabRef, ViewState};
use crate::engine::views::PairWhatIf;
use crate::engine::views::{Analysis, Document, Intent, RowKey, TensorSettings};
use crate::protocol::{Envelope, FromWorker, ToWorker};
use files::Item;
use std::collections::HashMap;
use std::ops::Deref;
use std::rc::Rc;
use views::{CheckView, Overview};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, MessageEvent, Worker};
use yew::prelude::*;

/// Shared, immutable data compared by identity: props stay cheap to compare.
pub struct Shared<T>(pub Rc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum Tab {
    Overview,
    File(usize),
    Tensors,
    Recommend,
    Journal,
}

#[derive(Clone, PartialEq)]
struct Progress {
    file_name: String,
    /// `reading`, `comparing`, or empty before the worker answers.
    stage: String,
    done_bytes: u64,
    total_bytes: u64,
    started_ms: f64,
    now_ms: f64,
    /// The bar's fraction (0–1): it never goes back within a job (a new stage's own estimate of
    /// its bytes holds the bar until it catches up).
    shown: f64,
}

#[derive(Clone, PartialEq)]
struct State {
    analysis: Shared<Analysis>,
    evidence: Shared<HashMap<RowKey, Vec<usize>>>,
    tab: Tab,
    selected: Option<usize>,
    /// Selected comparison row (layer view).
    row: Option<usize>,
    busy: Option<Progress>,
    /// The newest job sent, and the newest whose result is shown.
    job: u32,
    done_job: u32,
    banner: Option<String>,
    /// What a finished run says that is not a problem ("Ran on 3 images as …"), shown apart.
    notice: Option<String>,
    /// Worker time of the last job (read + parse), in milliseconds.
    last_parse_ms: Option<f64>,
    /// The parts of a big result still arriving.
    staging: Option<Staging>,
    /// Parts that come before their `Done` (tensor pairs), by job: read one message per task and
    /// kept (shared, not copied per message) until the `Done` takes them.
    early: Early,
    /// What-if results by pair index (cleared when the session changes).
    whatif: Shared<HashMap<usize, Result<PairWhatIf, String>>>,
    /// The view a link (or back/forward) asked for, waiting until its files are loaded.
    pending_view: Option<ViewState>,
    /// The layer grid's filters, sort and columns, as the grid reports them.
    grid: GridState,
    /// The mixed-precision view's choices, as the view reports them.
    mix: MixState,
    /// The Tensors view's open pair and sort, as the view reports them.
    pairs: PairsState,
    /// Bumped when a link or back/forward opens a view: the views remount with its state.
    view_gen: u32,
    /// This page is an HTML report (read-only): what it says about itself.
    report: Option<String>,
    /// A link names files on another origin: the URL, until the user answers.
    confirm_src: Option<String>,
    /// The digest a link carried (shown read-only until its files are dropped, then checked).
    digest: Option<Rc<crate::engine::digest::Digest>>,
    /// The digest link made: its URL, findings in it and left out, files in it and left out.
    digest_link: Option<(String, usize, usize, usize, usize)>,
    /// The sides, scales and pairs the user set (mirrors the worker's session; part of the link).
    settings: TensorSettings,
    /// A link's run settings (intent, sides, scales, pairs), waiting to be sent to the worker.
    link_run: Option<crate::engine::share::RunState>,
    /// The journal of runs as the worker last sent it.
    journal: Option<Shared<crate::engine::views::JournalView>>,
    /// A link carrying the journal, just made.
    journal_link: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            analysis: Shared(Rc::new(Analysis::default())),
            evidence: Shared(Rc::new(HashMap::new())),
            tab: Tab::Overview,
            selected: None,
            row: None,
            busy: None,
            job: 0,
            done_job: 0,
            banner: None,
            notice: None,
            last_parse_ms: None,
            whatif: Shared(Rc::new(HashMap::new())),
            staging: None,
            early: Early::default(),
            pending_view: None,
            grid: GridState::default(),
            mix: MixState::default(),
            pairs: PairsState::default(),
            view_gen: 0,
            report: None,
            confirm_src: None,
            digest: None,
            digest_link: None,
            settings: TensorSettings::default(),
            link_run: None,
            journal: None,
            journal_link: None,
        }
    }
}

enum Action {
    Started {
        job: u32,
        what: String,
    },
    Worker(FromWorker),
    Cancelled,
    Clear,
    Select(Option<usize>),
    SelectRow(Option<usize>),
    OpenRow(usize, usize),
    /// Open the Tensors view on this pair (its index in the pairs list), its detail shown.
    OpenPair(usize),
    OpenFinding(usize),
    SetTab(Tab),
    Banner(Option<String>),
    Notice(Option<String>),
    /// Open the view a URL fragment names (now, or once its files are loaded).
    ApplyView(ViewState),
    /// The layer grid's filters, sort or columns changed.
    Grid(GridState),
    /// The mixed-precision view's choices changed.
    Mix(MixState),
    /// The Tensors view's open pair or sort changed.
    Pairs(PairsState),
    /// An HTML report was written (or why not).
    Exported {
        job: u32,
        message: Option<String>,
    },
    /// This page is an HTML report: what it says about itself.
    Report(String),
    /// A link names files on another origin: ask before loading them (None: answered).
    ConfirmSrc(Option<String>),
    /// The tensor settings changed (a side, scale or pair set by the user).
    Settings(TensorSettings),
    /// A link's run settings were sent to the worker.
    LinkRunApplied,
    /// A link's digest (None: forget it).
    Digest(Option<Rc<crate::engine::digest::Digest>>),
    CloseDigestLink,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Started { job, what } => {
                s.job = job;
                s.banner = None;
                s.notice = None;
                s.busy = Some(Progress {
                    file_name: what,
                    stage: String::new(),
                    done_bytes: 0,
                    total_bytes: 0,
                    started_ms: now_ms(),
                    now_ms: now_ms(),
                    shown: 0.0,
                });
            }
            Action::Worker(FromWorker::Ready) => {}
            // Saved where it arrives (spawn_worker).
            Action::Worker(FromWorker::JournalFile { .. }) => {}
            Action::Worker(FromWorker::JournalLink { result }) => match result {
                Ok(fragment) => {
                    let base = web_sys::window()
                        .and_then(|w| {
                            let l = w.location();
                            Some(format!(
                                "{}{}{}",
                                l.origin().ok()?,
                                l.pathname().ok()?,
                                l.search().ok()?
                            ))
                        })
                        .unwrap_or_default();
                    s.journal_link = Some(format!("{base}#{fragment}"));
                }
                Err(e) => s.banner = Some(format!("Journal: {e}")),
            },
            Action::Worker(FromWorker::Journal {
                view,
                notice,
                error,
            }) => {
                s.journal = Some(Shared(Rc::new(*view)));
                if notice.is_some() {
                    s.notice = notice;
                }
                match error {
                    Some(e) => s.banner = Some(format!("Journal: {e}")),
                    // A journal command that worked takes away the journal's last complaint.
                    None if s
                        .banner
                        .as_deref()
                        .is_some_and(|b| b.starts_with("Journal: ")) =>
                    {
                        s.banner = None
                    }
                    None => {}
                }
            }
            // Saved where it arrives (spawn_worker); only its outcome reaches the reducer.
            Action::Worker(FromWorker::Exported { .. }) => {}
            Action::Worker(FromWorker::Progress {
                job,
                stage,
                file_name,
                done_bytes,
                total_bytes,
                ..
            }) => {
                if job == s.job {
                    if let Some(p) = s.busy.as_mut() {
                        p.file_name = file_name;
                        p.stage = stage;
                        p.done_bytes = done_bytes;
                        p.total_bytes = total_bytes;
                        p.now_ms = now_ms();
                        if total_bytes > 0 && p.stage != "downloading" {
                            p.shown = p.shown.max(done_bytes as f64 / total_bytes as f64);
                        }
                    }
                }
            }
            Action::Worker(FromWorker::WhatIf { pair, result, .. }) => {
                let mut w = (*s.whatif.0).clone();
                w.insert(pair, result);
                s.whatif = Shared(Rc::new(w));
            }
            Action::Worker(FromWorker::Part(crate::protocol::PartMsg { job, part }))
                if part.goes_first() =>
            {
                if job >= s.done_job {
                    s.early.0.borrow_mut().push((job, part));
                }
                return self;
            }
            Action::Worker(FromWorker::Part(crate::protocol::PartMsg { job, part })) => {
                let Some(st) = s.staging.as_mut() else {
                    return self;
                };
                if st.job != job {
                    return self;
                }
                st.parts.borrow_mut().push(part);
                if st.parts.borrow().len() < st.expected {
                    // The parts sit in a shared cell: nothing to draw until the last one.
                    return self;
                }
                // Every part is in: the whole session, diagnosed by the worker, in one piece.
                let Some(st) = s.staging.take() else {
                    return self;
                };
                let parts = std::mem::take(&mut *st.parts.borrow_mut());
                let full = crate::protocol::assemble((*s.analysis.0).clone(), parts);
                s.evidence = Shared(Rc::new(full.evidence_index()));
                s.analysis = Shared(Rc::new(full));
            }
            Action::Worker(FromWorker::Done(crate::protocol::Done {
                job,
                analysis,
                elapsed_ms,
                parts,
            })) => {
                // An older job's answer is still the session as it was then: keep only the newest.
                if job < s.done_job {
                    return self;
                }
                // Its pairs came before it; parts of older jobs are dropped with them.
                let early: Vec<crate::protocol::Part> = {
                    let mut e = s.early.0.borrow_mut();
                    let (mine, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *e)
                        .into_iter()
                        .filter(|(j, _)| *j >= job)
                        .partition(|(j, _)| *j == job);
                    *e = later;
                    mine.into_iter().map(|(_, p)| p).collect()
                };
                let analysis = if early.is_empty() {
                    analysis
                } else {
                    crate::protocol::assemble(analysis, early)
                };
                s.done_job = job;
                if job == s.job {
                    s.busy = None;
                }
                // Exposed for the benchmark (scripts/bench.sh) and curious users.
                s.last_parse_ms = Some(elapsed_ms);
                let before: std::collections::HashSet<(String, u64)> = s
                    .analysis
                    .files
                    .iter()
                    .map(|f| (f.name.clone(), f.size_bytes))
                    .collect();
                let rejected: Vec<String> = analysis
                    .files
                    .iter()
                    .filter(|f| !before.contains(&(f.name.clone(), f.size_bytes)))
                    .filter(|f| !is_float_model(f) && !crate::engine::views::is_image_sample(f))
                    .filter_map(|f| f.error.as_ref().map(|e| format!("{}: {e}", f.name)))
                    .collect();
                let files_changed = analysis.files.len() != s.analysis.files.len()
                    || analysis
                        .files
                        .iter()
                        .zip(&s.analysis.files)
                        .any(|(a, b)| a.name != b.name || a.size_bytes != b.size_bytes);
                // Big results arrive in parts after this message; until then the first part shows.
                s.staging = (parts > 0).then(|| Staging {
                    job,
                    expected: parts as usize,
                    parts: Rc::new(std::cell::RefCell::new(Vec::new())),
                });
                // A journal file joins the journal: its panel stays (or opens) instead of the Overview.
                let only_journals = files_changed
                    && analysis
                        .files
                        .iter()
                        .filter(|f| !before.contains(&(f.name.clone(), f.size_bytes)))
                        .all(crate::engine::views::is_journal_file);
                // The worker diagnosed everything; the index from rows to findings is only a lookup.
                s.evidence = Shared(Rc::new(analysis.evidence_index()));
                s.analysis = Shared(Rc::new(analysis));
                s.whatif = Shared(Rc::new(HashMap::new()));
                if files_changed && only_journals {
                    s.selected = None;
                    s.tab = Tab::Journal;
                } else if files_changed {
                    s.selected = None;
                    s.tab = Tab::Overview;
                }
                if !rejected.is_empty() {
                    s.banner = Some(format!("Not read — {}", rejected.join(" · ")));
                }
            }
            Action::Worker(FromWorker::Failed { job, message }) => {
                if job == s.job || job == u32::MAX {
                    s.busy = None;
                    s.banner = Some(format!("The analysis failed: {message}"));
                }
            }
            Action::Exported { job, message } => {
                if job == s.job {
                    s.busy = None;
                }
                s.banner = message;
            }
            Action::Report(about) => s.report = Some(about),
            Action::Digest(d) => s.digest = d,
            Action::Settings(t) => s.settings = t,
            Action::LinkRunApplied => s.link_run = None,
            Action::CloseDigestLink => s.digest_link = None,
            Action::Worker(FromWorker::Fingerprints {
                job,
                purpose,
                files,
            }) => {
                if job == s.job {
                    s.busy = None;
                }
                if purpose == "link" {
                    let sha = |name: &str| {
                        files
                            .iter()
                            .find(|(n, _, _)| n == name)
                            .map(|(_, _, h)| h.clone())
                    };
                    let d = crate::engine::digest::digest(&s.analysis, &sha, 24);
                    let base = web_sys::window()
                        .and_then(|w| w.location().href().ok())
                        .unwrap_or_default();
                    let base = base.split('#').next().unwrap_or("").to_string();
                    let view = crate::engine::share::encode(&view_state(&s));
                    let url = format!("{base}#{}&{view}", crate::engine::digest::encode_digest(&d));
                    s.digest_link = Some((
                        url,
                        d.findings.len(),
                        d.omitted,
                        d.files.len(),
                        d.files_omitted,
                    ));
                } else if let Some(d) = &s.digest {
                    let checks = crate::engine::digest::check_files(d, &files);
                    let sentence = crate::engine::digest::check_sentence(&checks, d.files_omitted);
                    // The link's own files: news (a notice); others: a warning (the banner).
                    if crate::engine::digest::files_match(&checks) {
                        s.notice = Some(sentence);
                    } else {
                        s.banner = Some(sentence);
                    }
                }
            }
            Action::ConfirmSrc(url) => s.confirm_src = url,
            Action::Cancelled => {
                s.busy = None;
                s.job += 1;
                s.banner = Some("Cancelled. Nothing from that run was kept.".into());
            }
            Action::Clear => {
                let (job, done_job, report) = (s.job, s.done_job, s.report.take());
                s = State::default();
                s.job = job;
                s.done_job = done_job;
                s.report = report;
            }
            Action::Select(sel) => {
                s.selected = sel;
                // In the layer view, selecting a finding also selects its first row.
                if let (Some(fi), Tab::File(file)) = (sel, s.tab) {
                    if let Some(row) = first_compare_row(&s.analysis, fi, file) {
                        s.row = Some(row);
                    }
                }
            }
            Action::SelectRow(r) => s.row = r,
            Action::OpenRow(file, row) => {
                s.tab = Tab::File(file);
                s.selected = None;
                s.row = Some(row);
            }
            Action::OpenPair(row) => {
                if let Some(p) = s.analysis.tensors.pairs.get(row) {
                    s.tab = Tab::Tensors;
                    s.selected = None;
                    s.pairs.pair = Some(row);
                    s.pairs.name = p.name.clone();
                    s.view_gen = s.view_gen.wrapping_add(1);
                }
            }
            Action::OpenFinding(i) => {
                // A finding measured from the dumps cites pairs: open the Tensors view on its
                // first pair (the view is rebuilt so that the pair's detail opens).
                let pair = s.analysis.findings.get(i).and_then(|f| {
                    let e = f.finding.evidence.first().filter(|e| e.table == "pairs")?;
                    s.analysis
                        .tensors
                        .pairs
                        .get(e.row)
                        .map(|p| (e.row, p.name.clone()))
                });
                if let Some((row, name)) = pair {
                    s.tab = Tab::Tensors;
                    s.selected = Some(i);
                    s.pairs.pair = Some(row);
                    s.pairs.name = name;
                    s.view_gen = s.view_gen.wrapping_add(1);
                } else if let Some(f) = s.analysis.findings.get(i) {
                    // Open the file holding the first cited row (a finding may cite another file).
                    let file = f
                        .finding
                        .evidence
                        .first()
                        .and_then(|e| e.file)
                        .unwrap_or(f.file);
                    s.tab = Tab::File(file);
                    s.selected = Some(i);
                    s.row = first_compare_row(&s.analysis, i, file);
                }
            }
            Action::SetTab(t) => {
                s.tab = t;
                s.selected = None;
                s.row = None;
            }
            Action::Banner(b) => s.banner = b,
            Action::Notice(n) => s.notice = n,
            Action::ApplyView(v) => s.pending_view = Some(v),
            Action::Grid(g) => s.grid = g,
            Action::Mix(m) => s.mix = m,
            Action::Pairs(p) => s.pairs = p,
        }
        apply_pending_view(&mut s);
        // A run's .csv twin has no tab of its own: its view is its .txt's (the same rows).
        if let Tab::File(f) = s.tab {
            if s.analysis
                .files
                .get(f)
                .and_then(|x| x.compare())
                .is_some_and(|t| t.source == "csv")
            {
                if let Some(&(txt, _)) = crate::engine::views::compare_twins(&s.analysis.files)
                    .iter()
                    .find(|&&(_, csv)| csv == f)
                {
                    s.tab = Tab::File(txt);
                }
            }
        }

        Rc::new(s)
    }
}

/// The view the state shows, as a link carries it.
fn view_state(s: &State) -> ViewState {
    let (tab, file) = match s.tab {
        Tab::Overview => (TabRef::Overview, None),
        Tab::Tensors => (TabRef::Tensors, None),
        Tab::Recommend => (TabRef::Recommend, None),
        Tab::Journal => (TabRef::Journal, None),
        Tab::File(i) => (
            TabRef::File,
            s.analysis.files.get(i).map(|f| f.name.clone()),
        ),
    };
    let grid = if tab == TabRef::File {
        s.grid.clone()
    } else {
        GridState::default()
    };
    let mix = if tab == TabRef::Recommend {
        s.mix.clone()
    } else {
        MixState::default()
    };
    let pairs = if tab == TabRef::Tensors {
        s.pairs.clone()
    } else {
        PairsState::default()
    };
    let run = crate::engine::share::RunState {
        intent: s.analysis.intent,
        sides: s
            .settings
            .sides
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        scales: s
            .settings
            .scales
            .iter()
            .filter(|(_, (v, _))| v.is_finite() && *v > 0.0)
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        pairs: s.settings.manual.clone(),
    };
    ViewState {
        run,
        tab,
        file,
        finding: s.selected,
        row: s.row,
        grid,
        mix,
        pairs,
        ..ViewState::default()
    }
}

/// Opens the pending view once nothing is loading and its files are in; says what is missing.
fn apply_pending_view(s: &mut State) {
    let Some(v) = s.pending_view.as_ref() else {
        return;
    };
    if s.busy.is_some() || s.staging.is_some() {
        return;
    }
    if v.tab == TabRef::Journal {
        s.tab = Tab::Journal;
        s.pending_view = None;
        return;
    }
    if s.analysis.files.is_empty() && *v != ViewState::default() {
        let what = match (&v.tab, v.file.as_deref()) {
            (TabRef::File, Some(f)) => format!("a view of {f}"),
            (TabRef::Tensors, _) => "the Tensors view".to_string(),
            (TabRef::Recommend, _) => "the Mixed precision view".to_string(),
            _ => "a view of its files".to_string(),
        };
        // Guidance, not an error: a notice.
        s.notice = Some(format!(
            "This link opens {what}: drop the same files to see it."
        ));
        return;
    }
    let Some(v) = s.pending_view.take() else {
        return;
    };
    s.link_run = Some(v.run.clone().sanitized());
    let tab = match v.tab {
        TabRef::Overview => Tab::Overview,
        TabRef::Tensors => Tab::Tensors,
        TabRef::Recommend => Tab::Recommend,
        TabRef::Journal => Tab::Journal,
        TabRef::File => {
            let name = v.file.clone().unwrap_or_default();
            match crate::engine::share::resolve_file(
                &name,
                s.analysis.files.iter().map(|f| f.name.as_str()),
            ) {
                Some(i) => Tab::File(i),
                None => {
                    s.banner = Some(format!(
                        "This link opens a view of {name}, which is not among the loaded files."
                    ));
                    return;
                }
            }
        }
    };
    if s.banner
        .as_deref()
        .is_some_and(|b| b.starts_with("This link opens"))
    {
        s.banner = None;
    }
    if s.notice
        .as_deref()
        .is_some_and(|b| b.starts_with("This link opens"))
    {
        s.notice = None;
    }
    let rows = match tab {
        Tab::File(i) => s
            .analysis
            .files
            .get(i)
            .and_then(|f| f.compare())
            .map_or(0, |c| c.rows.len()),
        _ => 0,
    };
    s.tab = tab;
    s.selected = v.finding.filter(|&i| i < s.analysis.findings.len());
    s.row = v.row.filter(|&r| r < rows);
    s.grid = v.grid;
    s.mix = v.mix;
    s.pairs = v.pairs;
    s.view_gen = s.view_gen.wrapping_add(1);
}

/// A float ONNX model (no Q/DQ nodes): not a scale source, but a model the runner can run.
fn is_float_model(f: &crate::engine::views::FileReport) -> bool {
    f.format == Some(crate::engine::views::Format::OnnxModel)
}

/// Start the model runner's worker (its own wasm, fetched only now) and run `model` on `inputs`:
/// progress and the reports it writes come back through `on_msg`.
fn spawn_model_worker(on_msg: Rc<dyn Fn(crate::protocol::FromModel)>) -> Result<Worker, String> {
    let worker = Worker::new("./model_worker_loader.js")
        .map_err(|e| format!("cannot start the model runner: {e:?}"))?;
    let on = on_msg.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        match serde_wasm_bindgen::from_value::<crate::protocol::FromModel>(ev.data()) {
            Ok(m) => on(m),
            Err(e) => on(crate::protocol::FromModel::Failed {
                job: u32::MAX,
                message: format!("unexpected message from the model runner: {e}"),
            }),
        }
    });
    worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    let on = on_msg;
    let onerror = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |ev: web_sys::ErrorEvent| {
        on(crate::protocol::FromModel::Failed {
            job: u32::MAX,
            message: format!(
                "the model runner stopped ({}): the model may need more memory than the browser gives",
                ev.message()
            ),
        })
    });
    worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    onerror.forget();
    Ok(worker)
}

/// A model run split over several workers: what each part has sent so far.
struct SplitRun {
    values: Vec<Option<crate::protocol::PartValues>>,
    /// Part 0 has measured its rows and waits for the others'.
    awaiting: bool,
    /// (done, total) sensitivity rows per part.
    progress: Vec<(u64, u64)>,
    /// Each worker's wasm memory, the largest it reported (bytes).
    heap_bytes: Vec<f64>,
}

/// Keep a model worker's largest reported wasm memory.
fn note_heap(split: &Rc<std::cell::RefCell<SplitRun>>, part: usize, bytes: f64) {
    if let Some(h) = split.borrow_mut().heap_bytes.get_mut(part) {
        if bytes.is_finite() && bytes > *h {
            *h = bytes;
        }
    }
}

/// "The model workers' wasm memory peaked at 121 + 118 MiB": each worker's high-water mark, as
/// the run's notice says it (None when no worker reported one).
fn heap_words(heap_bytes: &[f64]) -> Option<String> {
    let mib: Vec<String> = heap_bytes
        .iter()
        .filter(|b| **b > 0.0)
        .map(|b| format!("{:.0}", b / (1024.0 * 1024.0)))
        .collect();
    match mib.len() {
        0 => None,
        1 => Some(format!(
            "the model worker's wasm memory peaked at {} MiB",
            mib[0]
        )),
        _ => Some(format!(
            "the model workers' wasm memory peaked at {} MiB",
            mib.join(" + ")
        )),
    }
}

/// Once part 0 waits and every other part's rows are in, hand them to part 0 (which then writes
/// the reports); the other workers are done.
fn send_parts(
    split: &Rc<std::cell::RefCell<SplitRun>>,
    workers: &Rc<std::cell::RefCell<Vec<Worker>>>,
    job: u32,
) {
    let mut sp = split.borrow_mut();
    if !sp.awaiting || sp.values.iter().skip(1).any(Option::is_none) {
        return;
    }
    let values: Vec<crate::protocol::PartValues> = sp
        .values
        .iter_mut()
        .skip(1)
        .filter_map(Option::take)
        .collect();
    sp.awaiting = false;
    let env = crate::protocol::ModelEnvelope {
        cmd: crate::protocol::ToModel::Parts { job, values },
        blobs: js_sys::Array::new(),
    };
    let ws = workers.borrow();
    for w in ws.iter().skip(1) {
        w.terminate();
    }
    if let (Some(w), Ok(msg)) = (ws.first(), serde_wasm_bindgen::to_value(&env)) {
        let _ = w.post_message(&msg);
    }
}

/// Sends a command with the Blobs of its files, and what to say while it runs.
type SendFn = dyn Fn(ToWorker, Vec<Item>, String);
/// Sends a command that carries no file.
type CommandFn = dyn Fn(ToWorker, &str);

/// The parts of a big result that follow its `Done`.
#[derive(Clone)]
struct Staging {
    job: u32,
    expected: usize,
    /// Shared, so cloning the state per message does not copy the parts received so far.
    parts: Rc<std::cell::RefCell<Vec<crate::protocol::Part>>>,
}

/// [`State::early`]: one buffer all clones of the state share (equal when it is the same).
#[derive(Clone, Default)]
struct Early(Rc<std::cell::RefCell<Vec<(u32, crate::protocol::Part)>>>);

impl PartialEq for Early {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for Staging {
    fn eq(&self, other: &Self) -> bool {
        self.job == other.job && Rc::ptr_eq(&self.parts, &other.parts)
    }
}

/// What the worker's session holds, as the UI knows it: enough to rebuild it in a fresh worker.
#[derive(Default)]
struct Ledger {
    files: Vec<Item>,
    intent: Intent,
    settings: TensorSettings,
    /// The Open job still running and its file names (dropped from `files` if it is cancelled).
    in_flight: Option<(u32, Vec<String>)>,
}

/// The first comparison row a finding cites in `file`, if any.
fn first_compare_row(a: &Analysis, finding: usize, file: usize) -> Option<usize> {
    let f = a.findings.get(finding)?;
    f.finding
        .evidence
        .iter()
        .find(|e| e.table == "compare" && e.file.unwrap_or(f.file) == file)
        .map(|e| e.row)
}

/// The worker and the handler keeping its messages flowing into the reducer. Jobs posted before the
/// worker's wasm has loaded (and installed its message handler) would be lost, so they wait in
/// `outbox` until the worker says `Ready`.
struct WorkerHandle {
    worker: Worker,
    ready: Rc<std::cell::Cell<bool>>,
    /// The worker stopped (a trap, out of memory): the next command starts a fresh one.
    dead: Rc<std::cell::Cell<bool>>,
    /// Messages waiting, in order: before `Ready`, and behind a batch being sent one per task.
    outbox: Outbox,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

type Outbox = Rc<std::cell::RefCell<std::collections::VecDeque<JsValue>>>;

impl WorkerHandle {
    /// Post messages in order, one per task (the first at once when nothing waits): a batch of
    /// files staged in several messages does not hold the page in one long task.
    fn post_all(&self, msgs: Vec<JsValue>) -> Result<(), JsValue> {
        let idle = self.ready.get() && self.outbox.borrow().is_empty();
        self.outbox.borrow_mut().extend(msgs);
        if idle {
            drain_outbox(&self.worker, &self.outbox)
        } else {
            Ok(())
        }
    }
}

/// Worker messages read but not yet given to the reducer (see [`later_inbox`]).
type Inbox = Rc<std::cell::RefCell<std::collections::VecDeque<FromWorker>>>;

/// In a later task, give the inbox's first message to the reducer (which draws it), and so on,
/// one message per task, until it is empty.
fn later_inbox(inbox: &Inbox, dispatch: &yew::UseReducerDispatcher<State>) {
    let (i, d) = (inbox.clone(), dispatch.clone());
    let next = Closure::once_into_js(move || {
        let msg = i.borrow_mut().pop_front();
        if let Some(msg) = msg {
            d.dispatch(Action::Worker(msg));
        }
        if !i.borrow().is_empty() {
            later_inbox(&i, &d);
        }
    });
    if let Some(win) = web_sys::window() {
        let _ = win.set_timeout_with_callback_and_timeout_and_arguments_0(next.unchecked_ref(), 0);
    }
}

/// Post the outbox's first message, and the next in a later task while any wait.
fn drain_outbox(worker: &Worker, outbox: &Outbox) -> Result<(), JsValue> {
    let Some(msg) = outbox.borrow_mut().pop_front() else {
        return Ok(());
    };
    let posted = worker.post_message(&msg);
    if !outbox.borrow().is_empty() {
        let (w, o) = (worker.clone(), outbox.clone());
        let next = Closure::once_into_js(move || {
            let _ = drain_outbox(&w, &o);
        });
        if let Some(win) = web_sys::window() {
            let _ =
                win.set_timeout_with_callback_and_timeout_and_arguments_0(next.unchecked_ref(), 0);
        }
    }
    posted
}

/// The envelopes that carry `cmd` and its Blobs: all in one, or (more than
/// [`crate::protocol::STAGE_FILES`]) staged ahead of the command in batches of that many.
fn envelopes(cmd: ToWorker, blobs: &[JsValue]) -> Result<Vec<JsValue>, String> {
    let job = cmd.job();
    let batch = crate::protocol::STAGE_FILES;
    let cut = if blobs.len() > batch {
        (blobs.len() - 1) / batch * batch
    } else {
        0
    };
    let mut out = Vec::new();
    for chunk in blobs[..cut].chunks(batch) {
        let env = Envelope {
            cmd: ToWorker::Stage { job },
            blobs: chunk.iter().collect(),
        };
        out.push(serde_wasm_bindgen::to_value(&env).map_err(|e| e.to_string())?);
    }
    let env = Envelope {
        cmd,
        blobs: blobs[cut..].iter().collect(),
    };
    out.push(serde_wasm_bindgen::to_value(&env).map_err(|e| e.to_string())?);
    Ok(out)
}

fn spawn_worker(dispatch: UseReducerDispatcher<State>) -> Result<WorkerHandle, String> {
    // An HTML report carries its worker inside it: a Blob URL and the compiled wasm, posted first.
    let boot = sources::report_worker();
    let url = boot
        .as_ref()
        .map(|(u, _)| u.clone())
        .unwrap_or_else(|| "./worker_loader.js".into());
    let worker = Worker::new(&url).map_err(|e| format!("cannot start the worker: {e:?}"))?;
    if let Some((_, module)) = &boot {
        worker
            .post_message(module)
            .map_err(|e| format!("cannot start the worker: {e:?}"))?;
    }
    let ready = Rc::new(std::cell::Cell::new(false));
    let outbox: Outbox = Rc::default();
    let (ready_in, outbox_in, worker_in) = (ready.clone(), outbox.clone(), worker.clone());
    let dispatch_err = dispatch.clone();
    let inbox_in: Inbox = Rc::default();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        match crate::protocol::read_from_worker(ev.data()) {
            Ok(FromWorker::Ready) => {
                ready_in.set(true);
                let _ = drain_outbox(&worker_in, &outbox_in);
            }
            Ok(FromWorker::Exported {
                job,
                file_name,
                result,
            }) => {
                let message = match result {
                    Ok(html) => {
                        rich::download(&file_name, "text/html", &html);
                        None
                    }
                    Err(e) => Some(format!("The report could not be written: {e}")),
                };
                dispatch.dispatch(Action::Exported { job, message });
            }
            Ok(FromWorker::JournalFile { name, text }) => {
                rich::download(&name, "application/json", &text);
            }
            // A `Done` is read here and drawn in a task of its own (reading a session of a thousand
            // files and drawing it took 140-200 ms in one task); what follows it waits its turn.
            Ok(msg) if matches!(msg, FromWorker::Done(_)) || !inbox_in.borrow().is_empty() => {
                let idle = inbox_in.borrow().is_empty();
                inbox_in.borrow_mut().push_back(msg);
                if idle {
                    later_inbox(&inbox_in, &dispatch);
                }
            }
            Ok(msg) => dispatch.dispatch(Action::Worker(msg)),
            Err(e) => dispatch.dispatch(Action::Banner(Some(format!(
                "Unexpected message from the worker: {e}"
            )))),
        }
    });
    worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    let dead = Rc::new(std::cell::Cell::new(false));
    let dead_in = dead.clone();
    let onerror = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |ev: web_sys::ErrorEvent| {
        dead_in.set(true);
        dispatch_err.dispatch(Action::Worker(FromWorker::Failed {
            job: u32::MAX,
            message: format!(
                "the analysis worker stopped ({}); the next action starts a fresh one with the files read before",
                ev.message()
            ),
        }));
    });
    worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    onerror.forget();
    Ok(WorkerHandle {
        worker,
        ready,
        dead,
        outbox,
        _onmessage: onmessage,
    })
}

#[component]
pub fn App() -> Html {
    let state = use_reducer(State::default);
    let worker = use_mut_ref(|| None::<WorkerHandle>);
    let next_job = use_mut_ref(|| 0u32);
    let dragging = use_state(|| false);
    let file_input = use_node_ref();
    let folder_input = use_node_ref();
    let intent_select = use_node_ref();
    // The select shows the session's intent, also when back/forward or a link changes it (an
    // option's `selected` attribute does not move a select the user has already changed).
    {
        let intent_select = intent_select.clone();
        let intent = state.analysis.intent;
        use_effect_with(intent, move |intent| {
            if let Some(sel) = intent_select.cast::<web_sys::HtmlSelectElement>() {
                sel.set_value(match intent {
                    Intent::Unstated => "unstated",
                    Intent::AllInt16 => "int16",
                    Intent::AllInt8 => "int8",
                    Intent::Mixed => "mixed",
                });
            }
        });
    }

    // What the session holds, kept here so a fresh worker can take it back after a cancel: the
    // files (Blob handles only, no bytes), the intent and the tensor settings.
    let ledger = use_mut_ref(Ledger::default);
    // The newest job whose result arrived: an Open at or before it is no longer in flight.
    let done_job = use_mut_ref(|| 0u32);
    *done_job.borrow_mut() = state.done_job;
    // Send one command (and the Blobs of an Open) to the worker, starting it if needed.
    let send: Rc<SendFn> = {
        let worker = worker.clone();
        let dispatch = state.dispatcher();
        let ledger = ledger.clone();
        let next_job = next_job.clone();
        let done_job = done_job.clone();
        Rc::new(move |cmd: ToWorker, items: Vec<Item>, what: String| {
            // A worker that stopped is replaced, and takes back the session as it was before the
            // job that stopped it (that job's files are left out, or they would stop it again).
            let was_dead = worker.borrow().as_ref().is_some_and(|w| w.dead.get());
            if was_dead {
                if let Some(w) = worker.borrow_mut().take() {
                    w.worker.terminate();
                }
                let (files, intent, settings) = {
                    let mut l = ledger.borrow_mut();
                    if let Some((job, names)) = l.in_flight.take() {
                        if job > *done_job.borrow() {
                            l.files.retain(|f| !names.contains(&f.name));
                        }
                    }
                    (l.files.clone(), l.intent, l.settings.clone())
                };
                if let Ok(w) = spawn_worker(dispatch.clone()) {
                    if !files.is_empty() {
                        let job = {
                            let mut j = next_job.borrow_mut();
                            *j += 1;
                            *j
                        };
                        let blobs: Vec<JsValue> =
                            files.iter().map(|f| f.blob.clone().into()).collect();
                        let restore = ToWorker::Restore {
                            job,
                            names: files.iter().map(|f| f.name.clone()).collect(),
                            intent,
                            settings,
                        };
                        if let Ok(msgs) = envelopes(restore, &blobs) {
                            let _ = w.post_all(msgs);
                        }
                    }
                    *worker.borrow_mut() = Some(w);
                }
            }
            if worker.borrow().is_none() {
                match spawn_worker(dispatch.clone()) {
                    Ok(w) => *worker.borrow_mut() = Some(w),
                    Err(e) => {
                        dispatch.dispatch(Action::Banner(Some(e)));
                        return;
                    }
                }
            }
            let job = cmd.job();
            let blobs: Vec<JsValue> = items.iter().map(|it| it.blob.clone().into()).collect();
            let msgs = match envelopes(cmd, &blobs) {
                Ok(m) => m,
                Err(e) => {
                    dispatch.dispatch(Action::Banner(Some(format!(
                        "cannot encode the command: {e}"
                    ))));
                    return;
                }
            };
            if !what.is_empty() {
                dispatch.dispatch(Action::Started { job, what });
            }
            if let Some(w) = worker.borrow().as_ref() {
                if let Err(e) = w.post_all(msgs) {
                    dispatch.dispatch(Action::Banner(Some(format!(
                        "cannot send to the worker: {e:?}"
                    ))));
                }
            }
        })
    };
    let new_job = {
        let next_job = next_job.clone();
        Rc::new(move || {
            let mut j = next_job.borrow_mut();
            *j += 1;
            *j
        })
    };
    // The journal: commands to the worker (which keeps it in IndexedDB and sends it when it starts).
    let journal_cmd = {
        let send = send.clone();
        let new_job = new_job.clone();
        Callback::from(move |cmd: crate::protocol::JournalCmd| {
            send(
                ToWorker::Journal {
                    job: new_job(),
                    cmd,
                },
                Vec::new(),
                String::new(),
            );
        })
    };
    let submit: Rc<dyn Fn(Vec<Item>)> = {
        let send = send.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        let dispatch = state.dispatcher();
        Rc::new(move |mut items: Vec<Item>| {
            if items.is_empty() {
                dispatch.dispatch(Action::Banner(Some("No files in what was dropped.".into())));
                return;
            }
            // One name twice in a drop (a flat list picked from two folders): both are kept.
            let distinct = crate::engine::views::distinct_paths(
                &items.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
                &ledger
                    .borrow()
                    .files
                    .iter()
                    .map(|f| f.name.clone())
                    .collect::<Vec<_>>(),
            );
            for (it, name) in items.iter_mut().zip(distinct.names) {
                it.name = name;
            }
            let job = new_job();
            {
                let mut l = ledger.borrow_mut();
                for it in &items {
                    l.files.retain(|f| f.name != it.name);
                    l.files.push(it.clone());
                }
                l.in_flight = Some((job, items.iter().map(|i| i.name.clone()).collect()));
            }
            let names = items.iter().map(|i| i.name.clone()).collect();
            let what = if items.len() == 1 {
                items[0].name.clone()
            } else {
                format!("{} files", items.len())
            };
            send(ToWorker::Open { job, names }, items, what);
            // After `Started`, which clears the notices of the run before.
            if distinct.note.is_some() {
                dispatch.dispatch(Action::Notice(distinct.note));
            }
        })
    };
    // A command that changes the session without files (intent, sides, scales, pairs).
    let command: Rc<CommandFn> = {
        let send = send.clone();
        Rc::new(move |cmd: ToWorker, what: &str| send(cmd, Vec::new(), what.to_string()))
    };
    let load_example = {
        let submit = submit.clone();
        let dispatch = state.dispatcher();
        let (command, ledger, new_job) = (command.clone(), ledger.clone(), new_job.clone());
        Callback::from(move |_: ()| {
            // The example is shown on its own, not mixed into files already loaded.
            if !ledger.borrow().files.is_empty() {
                *ledger.borrow_mut() = Ledger::default();
                dispatch.dispatch(Action::Clear);
                command(ToWorker::Clear { job: new_job() }, "");
            }
            let submit = submit.clone();
            let dispatch = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match files::example_items().await {
                    Ok(items) => submit(items),
                    Err(e) => dispatch.dispatch(Action::Banner(Some(e))),
                }
            });
        })
    };

    // Files a link or a bundled site names: downloaded (from this origin, or another one the user
    // confirmed and the deployment's CSP allows) with progress, then read like dropped files.
    let download_gen = use_mut_ref(|| 0u32);
    let load_src: Rc<dyn Fn(String)> = {
        let submit = submit.clone();
        let dispatch = state.dispatcher();
        let new_job = new_job.clone();
        let download_gen = download_gen.clone();
        Rc::new(move |url: String| {
            let job = new_job();
            let gen = *download_gen.borrow();
            dispatch.dispatch(Action::Started {
                job,
                what: url.clone(),
            });
            let d = dispatch.clone();
            let progress: Rc<dyn Fn(String, u64, u64)> = Rc::new(move |name, done, total| {
                d.dispatch(Action::Worker(FromWorker::Progress {
                    job,
                    stage: "downloading".into(),
                    file_index: 0,
                    file_name: name,
                    done_bytes: done,
                    total_bytes: total,
                }))
            });
            let (submit, dispatch, download_gen) =
                (submit.clone(), dispatch.clone(), download_gen.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let loaded = sources::load(&url, progress).await;
                if *download_gen.borrow() != gen {
                    return; // cancelled
                }
                match loaded {
                    Ok(l) => {
                        submit(l.items);
                        if !l.notes.is_empty() {
                            dispatch.dispatch(Action::Banner(Some(l.notes.join(" · "))));
                        }
                    }
                    Err(e) => {
                        dispatch.dispatch(Action::Worker(FromWorker::Failed { job, message: e }))
                    }
                }
            });
        })
    };
    let export_report = {
        let send = send.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| {
            let files = ledger.borrow().files.clone();
            let job = new_job();
            dispatch.dispatch(Action::Started {
                job,
                what: "the HTML report".into(),
            });
            let (send, dispatch) = (send.clone(), dispatch.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let (main, snippets) = match sources::app_assets().await {
                    Ok(a) => a,
                    Err(e) => {
                        dispatch.dispatch(Action::Exported {
                            job,
                            message: Some(format!("The report could not be written: {e}")),
                        });
                        return;
                    }
                };
                let mut items: Vec<Item> = main
                    .into_iter()
                    .map(|blob| Item {
                        name: String::new(),
                        blob,
                    })
                    .collect();
                let snippet_paths = snippets.iter().map(|(p, _)| p.clone()).collect();
                items.extend(snippets.into_iter().map(|(name, blob)| Item { name, blob }));
                let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
                items.extend(files);
                let hash = web_sys::window()
                    .and_then(|w| w.location().hash().ok())
                    .unwrap_or_default();
                let fragment = hash
                    .trim_start_matches('#')
                    .split('&')
                    .filter(|kv| !kv.starts_with("src="))
                    .collect::<Vec<_>>()
                    .join("&");
                // Named after the run folder(s) the files are in (none for files without a folder).
                let mut runs: Vec<&str> = names
                    .iter()
                    .filter_map(|n| n.split_once('/').map(|(top, _)| top))
                    .collect();
                runs.sort_unstable();
                runs.dedup();
                let run = runs.iter().take(3).copied().collect::<Vec<_>>().join("+");
                let stem: String = run
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_+".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let about = format!(
                    "{} file{} · exported {} from QuantLens",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    String::from(js_sys::Date::new_0().to_iso_string())
                        .get(..16)
                        .unwrap_or("")
                        .replace('T', " ")
                );
                send(
                    ToWorker::ExportHtml {
                        job,
                        snippet_paths,
                        names,
                        fragment,
                        title: if run.is_empty() {
                            "QuantLens report".to_string()
                        } else {
                            format!("QuantLens report — {run}")
                        },
                        about,
                        file_name: if stem.is_empty() {
                            "quantlens-report.html".to_string()
                        } else {
                            format!("quantlens-report-{stem}.html")
                        },
                    },
                    items,
                    "the HTML report".into(),
                );
            });
        })
    };

    // Start the worker early (its wasm loads while the user reads the page) and honour `?example`,
    // an HTML report's own files, and a source a bundled site or a link names.
    {
        let worker = worker.clone();
        let dispatch = state.dispatcher();
        let load_example = load_example.clone();
        let submit = submit.clone();
        let load_src = load_src.clone();
        use_effect_with((), move |_| {
            if worker.borrow().is_none() {
                if let Ok(w) = spawn_worker(dispatch.clone()) {
                    *worker.borrow_mut() = Some(w);
                }
            }
            if let Some((items, about)) = sources::report_files() {
                dispatch.dispatch(Action::Report(about));
                if !items.is_empty() {
                    submit(items);
                }
                return;
            }
            if let Some(src) = sources::start_src() {
                match sources::resolve(&src, None) {
                    Ok((abs, true)) => load_src(abs),
                    Ok((abs, false)) => {
                        let origin = web_sys::Url::new(&abs)
                            .map(|u| u.origin())
                            .unwrap_or_default();
                        if sources::csp_allows(&origin) {
                            dispatch.dispatch(Action::ConfirmSrc(Some(abs)))
                        } else {
                            dispatch.dispatch(Action::Banner(Some(format!(
                                "This link names files on {origin} ({abs}), and this deployment of QuantLens loads files only from its own site (its Content-Security-Policy). Download them and drop them here, or ask for {origin} to be allowed when QuantLens is built (QUANTLENS_ALLOW_ORIGINS)."
                            ))))
                        }
                    }
                    Err(e) => dispatch.dispatch(Action::Banner(Some(e))),
                }
                return;
            }
            let search = web_sys::window()
                .and_then(|w| w.location().search().ok())
                .unwrap_or_default();
            if search
                .trim_start_matches('?')
                .split('&')
                .any(|kv| kv == "example" || kv.starts_with("example="))
            {
                load_example.emit(());
            }
        });
    }

    // The view lives in the URL fragment (never sent to a server): read it on load and on
    // back/forward, and write each view change as a new history entry.
    {
        let dispatch = state.dispatcher();
        let journal_cmd = journal_cmd.clone();
        use_effect_with((), move |_| {
            let read = move || {
                let hash = web_sys::window()
                    .and_then(|w| w.location().hash().ok())
                    .unwrap_or_default();
                match crate::engine::share::decode(&hash) {
                    Ok(v) => dispatch.dispatch(Action::ApplyView(v.unwrap_or_default())),
                    Err(e) => dispatch.dispatch(Action::Banner(Some(e.to_string()))),
                }
                let key = format!("{}=", crate::engine::views::JOURNAL_LINK_KEY);
                if hash
                    .trim_start_matches('#')
                    .split('&')
                    .any(|kv| kv.starts_with(&key))
                {
                    journal_cmd.emit(crate::protocol::JournalCmd::OpenLink {
                        fragment: hash.clone(),
                    });
                    dispatch.dispatch(Action::SetTab(Tab::Journal));
                    // Taken in once: a reload must not bring back runs deleted since.
                    let rest: Vec<&str> = hash
                        .trim_start_matches('#')
                        .split('&')
                        .filter(|kv| !kv.starts_with(&key))
                        .collect();
                    if let Some(w) = web_sys::window() {
                        let l = w.location();
                        let url = format!(
                            "{}{}{}",
                            l.pathname().unwrap_or_default(),
                            l.search().unwrap_or_default(),
                            if rest.is_empty() {
                                String::new()
                            } else {
                                format!("#{}", rest.join("&"))
                            }
                        );
                        if let Ok(h) = w.history() {
                            let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&url));
                        }
                    }
                }
                match crate::engine::digest::decode_digest(&hash) {
                    Ok(Some(d)) => dispatch.dispatch(Action::Digest(Some(Rc::new(d)))),
                    Ok(None) => {}
                    Err(e) => dispatch.dispatch(Action::Banner(Some(format!(
                        "The findings in this link cannot be shown: {e}"
                    )))),
                }
            };
            read();
            let on_pop = Closure::<dyn Fn(web_sys::Event)>::new(move |_| read());
            if let Some(w) = web_sys::window() {
                let _ =
                    w.add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
            }
            // The app lives as long as the page.
            on_pop.forget();
        });
    }
    {
        let view = view_state(&state);
        // Without files there is nothing to show but a link's view: leave the address alone.
        // Nor while a link's view or run settings are being applied (back/forward): the intent
        // arrives with the worker's answer, and an entry written in between would cut history.
        let waiting = state.pending_view.is_some()
            || state.analysis.files.is_empty()
            || state.link_run.is_some()
            || state.busy.is_some();
        use_effect_with((view, waiting), move |(view, waiting)| {
            if *waiting {
                return;
            }
            let Some(w) = web_sys::window() else {
                return;
            };
            let hash = w.location().hash().unwrap_or_default();
            let want = crate::engine::share::encode(view);
            let current = crate::engine::share::decode(&hash).ok().flatten();
            // The default view needs no fragment; a damaged one stays until the view changes.
            let same = current.as_ref() == Some(view)
                || (current.is_none() && *view == ViewState::default());
            if !same {
                // A new view is a history entry; typing in a filter or moving the ratio slider only
                // rewrites the current one.
                let only_grid = current.as_ref().is_some_and(|c| {
                    ViewState {
                        grid: view.grid.clone(),
                        mix: view.mix.clone(),
                        pairs: PairsState {
                            pair: c.pairs.pair,
                            name: c.pairs.name.clone(),
                            sort: view.pairs.sort.clone(),
                        },
                        ..c.clone()
                    } == *view
                });
                if let Ok(h) = w.history() {
                    let url = format!("#{want}");
                    let _ = if only_grid {
                        h.replace_state_with_url(&JsValue::NULL, "", Some(&url))
                    } else {
                        h.push_state_with_url(&JsValue::NULL, "", Some(&url))
                    };
                }
            }
        });
    }

    // The model runner: a float ONNX model with sample inputs among the loaded files.
    let model_worker = use_mut_ref(Vec::<Worker>::new);
    let run_model: Callback<model_panel::RunRequest> = {
        let model_worker = model_worker.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        let submit = submit.clone();
        let dispatch = state.dispatcher();
        Callback::from(move |req: model_panel::RunRequest| {
            let model_panel::RunRequest {
                model,
                dtype,
                inputs,
                preprocess,
                typed,
                random,
                observer,
            } = req;
            let files = ledger.borrow().files.clone();
            let Some(model_item) = files.iter().find(|f| f.name == model).cloned() else {
                return;
            };
            let inputs: Vec<Item> = files
                .into_iter()
                .filter(|f| inputs.contains(&f.name) && f.blob.size() <= 512e6)
                .collect();
            let job = new_job();
            dispatch.dispatch(Action::Started {
                job,
                what: model.clone(),
            });
            let stem = model
                .rsplit('/')
                .next()
                .unwrap_or(&model)
                .trim_end_matches(".onnx")
                .to_string();
            // Another observer is another run (its own folder, beside the min-max one).
            let folder = if observer == "minmax" {
                format!("{stem}_{}_run", dtype.name())
            } else {
                format!("{stem}_{}_{observer}_run", dtype.name())
            };
            let blobs = js_sys::Array::new();
            blobs.push(&model_item.blob);
            for i in &inputs {
                blobs.push(&i.blob);
            }
            // The sensitivity rows split over several workers (one per core, at most 4; each
            // loads the model and calibrates the same way), part 0 writing the reports.
            let parts = web_sys::window()
                .map(|w| w.navigator().hardware_concurrency())
                .unwrap_or(1.0)
                .clamp(1.0, 4.0) as u32;
            let mut msgs = Vec::new();
            for part in 0..parts {
                let env = crate::protocol::ModelEnvelope {
                    cmd: crate::protocol::ToModel::Run {
                        job,
                        model: model.clone(),
                        inputs: inputs.iter().map(|i| i.name.clone()).collect(),
                        dtype,
                        observer: observer.clone(),
                        folder: folder.clone(),
                        preprocess: preprocess.clone(),
                        typed: typed.clone(),
                        random: random.clone(),
                        part,
                        parts,
                    },
                    blobs: blobs.clone(),
                };
                let Ok(msg) = serde_wasm_bindgen::to_value(&env) else {
                    return;
                };
                msgs.push(msg);
            }
            for w in model_worker.borrow_mut().drain(..) {
                w.terminate();
            }
            // What the workers have sent: each part's rows, part 0 waiting, progress per part.
            let split = Rc::new(std::cell::RefCell::new(SplitRun {
                values: vec![None; parts as usize],
                awaiting: false,
                progress: vec![(0, 0); parts as usize],
                heap_bytes: vec![0.0; parts as usize],
            }));
            for (part, msg) in msgs.into_iter().enumerate() {
                let (d, submit_in, mw) = (dispatch.clone(), submit.clone(), model_worker.clone());
                let model_name = model.clone();
                let split = split.clone();
                let msg_cell = Rc::new(std::cell::RefCell::new(Some(msg)));
                let on: Rc<dyn Fn(crate::protocol::FromModel)> = Rc::new(move |m| {
                    use crate::protocol::FromModel;
                    let stop_all = |mw: &Rc<std::cell::RefCell<Vec<Worker>>>| {
                        for w in mw.borrow_mut().drain(..) {
                            w.terminate();
                        }
                    };
                    match m {
                        FromModel::Ready => {
                            if let (Some(w), Some(msg)) =
                                (mw.borrow().get(part), msg_cell.borrow_mut().take())
                            {
                                let _ = w.post_message(&msg);
                            }
                        }
                        FromModel::Progress {
                            stage,
                            done,
                            total,
                            wasm_heap_bytes,
                            ..
                        } => {
                            note_heap(&split, part, wasm_heap_bytes);
                            // The sensitivity rows are counted over every part; other stages are
                            // part 0's.
                            let (done, total) = if stage == "sensitivity" {
                                let mut sp = split.borrow_mut();
                                sp.progress[part] = (done, total);
                                // A part that has not reported yet has about as many rows as
                                // the largest one that has, so the total does not grow.
                                let most = sp.progress.iter().map(|p| p.1).max().unwrap_or(0);
                                sp.progress.iter().fold((0, 0), |a, p| {
                                    (a.0 + p.0, a.1 + if p.1 > 0 { p.1 } else { most })
                                })
                            } else if part == 0 {
                                (done, total)
                            } else {
                                return;
                            };
                            d.dispatch(Action::Worker(FromWorker::Progress {
                                job,
                                stage,
                                file_index: 0,
                                file_name: model_name.clone(),
                                done_bytes: done,
                                total_bytes: total,
                            }))
                        }
                        FromModel::Inputs { .. } | FromModel::Bench { .. } => {}
                        FromModel::Part {
                            values,
                            wasm_heap_bytes,
                            ..
                        } => {
                            note_heap(&split, part, wasm_heap_bytes);
                            split.borrow_mut().values[part] = Some(values);
                            send_parts(&split, &mw, job);
                        }
                        FromModel::AwaitingParts { .. } => {
                            split.borrow_mut().awaiting = true;
                            send_parts(&split, &mw, job);
                        }
                        FromModel::Done {
                            files,
                            notes,
                            used,
                            wasm_heap_bytes,
                            ..
                        } => {
                            note_heap(&split, part, wasm_heap_bytes);
                            let memory = heap_words(&split.borrow().heap_bytes);
                            stop_all(&mw);
                            let items: Vec<Item> = files
                                .iter()
                                .filter_map(|(name, text)| {
                                    let parts = js_sys::Array::of1(&JsValue::from_str(text));
                                    web_sys::Blob::new_with_str_sequence(&parts)
                                        .ok()
                                        .map(|blob| Item {
                                            name: name.clone(),
                                            blob,
                                        })
                                })
                                .collect();
                            submit_in(items);
                            // What it ran on is news; inputs left out are a problem.
                            let mut said = Vec::new();
                            if !used.is_empty() {
                                said.push(format!("Ran on {}", used.join(" · ")));
                            }
                            said.extend(memory);
                            let said = said.join(" · ");
                            let mut chars = said.chars();
                            if let Some(c) = chars.next() {
                                let said = c.to_uppercase().chain(chars).collect::<String>();
                                d.dispatch(Action::Notice(Some(said)));
                            }
                            if !notes.is_empty() {
                                d.dispatch(Action::Banner(Some(format!(
                                    "Inputs left out: {}",
                                    notes.join(" · ")
                                ))));
                            }
                        }
                        FromModel::Failed { message, .. } => {
                            // One worker failing stops the run (the others' rows are of no use).
                            if !mw.borrow().is_empty() {
                                stop_all(&mw);
                                d.dispatch(Action::Worker(FromWorker::Failed { job, message }));
                            }
                        }
                    }
                });
                match spawn_model_worker(on) {
                    Ok(w) => model_worker.borrow_mut().push(w),
                    Err(e) => {
                        for w in model_worker.borrow_mut().drain(..) {
                            w.terminate();
                        }
                        dispatch.dispatch(Action::Worker(FromWorker::Failed { job, message: e }));
                        return;
                    }
                }
            }
        })
    };

    // A run's reports, as the folder the runner wrote, in one zip (read from their Blobs).
    let download_run: Callback<String> = {
        let ledger = ledger.clone();
        let dispatch = state.dispatcher();
        Callback::from(move |folder: String| {
            let prefix = format!("{folder}/");
            let items: Vec<Item> = ledger
                .borrow()
                .files
                .iter()
                .filter(|f| f.name.starts_with(&prefix) || f.name.contains(&format!("/{prefix}")))
                .cloned()
                .collect();
            let d = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let mut files = Vec::new();
                for it in items {
                    match wasm_bindgen_futures::JsFuture::from(it.blob.array_buffer()).await {
                        Ok(buf) => {
                            let name = it
                                .name
                                .find(&prefix)
                                .map_or(it.name.as_str(), |i| &it.name[i..]);
                            files.push((name.to_string(), js_sys::Uint8Array::new(&buf).to_vec()));
                        }
                        Err(_) => {
                            d.dispatch(Action::Banner(Some(format!(
                                "The browser could not read {}.",
                                it.name
                            ))));
                            return;
                        }
                    }
                }
                match crate::engine::views::zip_stored(&files) {
                    Ok(bytes) => {
                        rich::download_bytes(&format!("{folder}.zip"), "application/zip", &bytes)
                    }
                    Err(e) => d.dispatch(Action::Banner(Some(format!("{folder}: {e}")))),
                }
            });
        })
    };

    // A float model loaded: ask the model worker (spawned now, stopped after it answers) for its
    // declared inputs and whether the loaded images decode.
    let model_infos = use_mut_ref(HashMap::<String, model_panel::ModelInfo>::new);
    let inspect_workers = use_mut_ref(Vec::<Worker>::new);
    let force = use_force_update();
    {
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        let model_infos = model_infos.clone();
        let inspect_workers = inspect_workers.clone();
        let force = force.clone();
        let models: Vec<String> = state
            .analysis
            .files
            .iter()
            .filter(|f| is_float_model(f))
            .map(|f| f.name.clone())
            .collect();
        let images: Vec<String> = state
            .analysis
            .files
            .iter()
            .filter(|f| crate::engine::views::is_image_sample(f))
            .map(|f| f.name.clone())
            .collect();
        use_effect_with((models, images), move |(models, images)| {
            for w in inspect_workers.borrow_mut().drain(..) {
                w.terminate();
            }
            model_infos.borrow_mut().clear();
            let files = ledger.borrow().files.clone();
            for model in models {
                let Some(item) = files.iter().find(|f| &f.name == model) else {
                    continue;
                };
                let imgs: Vec<&Item> = files.iter().filter(|f| images.contains(&f.name)).collect();
                let blobs = js_sys::Array::new();
                blobs.push(&item.blob);
                for i in &imgs {
                    blobs.push(&i.blob);
                }
                let env = crate::protocol::ModelEnvelope {
                    cmd: crate::protocol::ToModel::Inspect {
                        job: new_job(),
                        model: model.clone(),
                        images: imgs.iter().map(|i| i.name.clone()).collect(),
                    },
                    blobs,
                };
                let Ok(msg) = serde_wasm_bindgen::to_value(&env) else {
                    continue;
                };
                let msg = Rc::new(std::cell::RefCell::new(Some(msg)));
                let me = Rc::new(std::cell::RefCell::new(None::<Worker>));
                let (infos, force, me_in, name) = (
                    model_infos.clone(),
                    force.clone(),
                    me.clone(),
                    model.clone(),
                );
                let on: Rc<dyn Fn(crate::protocol::FromModel)> = Rc::new(move |m| {
                    use crate::protocol::FromModel;
                    let info = match m {
                        FromModel::Ready => {
                            if let (Some(w), Some(msg)) =
                                (me_in.borrow().as_ref(), msg.borrow_mut().take())
                            {
                                let _ = w.post_message(&msg);
                            }
                            return;
                        }
                        FromModel::Inputs { inputs, images, .. } => model_panel::ModelInfo {
                            inputs,
                            images,
                            error: None,
                        },
                        FromModel::Failed { message, .. } => model_panel::ModelInfo {
                            error: Some(message),
                            ..Default::default()
                        },
                        _ => return,
                    };
                    if let Some(w) = me_in.borrow_mut().take() {
                        w.terminate();
                    }
                    infos.borrow_mut().insert(name.clone(), info);
                    force.force_update();
                });
                match spawn_model_worker(on) {
                    Ok(w) => {
                        *me.borrow_mut() = Some(w.clone());
                        inspect_workers.borrow_mut().push(w);
                    }
                    Err(e) => {
                        model_infos.borrow_mut().insert(
                            model.clone(),
                            model_panel::ModelInfo {
                                error: Some(e),
                                ..Default::default()
                            },
                        );
                    }
                }
            }
        });
    }

    // A digest link's files dropped: check they are the link's (size and SHA-256), once per set.
    let checked = use_mut_ref(Vec::<(String, u64)>::new);
    {
        let send = send.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        let loaded: Vec<(String, u64)> = state
            .analysis
            .files
            .iter()
            .map(|f| (f.name.clone(), f.size_bytes))
            .collect();
        let has_digest = state.digest.is_some();
        let busy = state.busy.is_some();
        use_effect_with(
            (loaded, has_digest, busy),
            move |(loaded, has_digest, busy)| {
                if *has_digest && !*busy && !loaded.is_empty() && *checked.borrow() != *loaded {
                    *checked.borrow_mut() = loaded.clone();
                    let items = ledger.borrow().files.clone();
                    let names = items.iter().map(|i| i.name.clone()).collect();
                    send(
                        ToWorker::Fingerprint {
                            job: new_job(),
                            names,
                            purpose: "check".into(),
                        },
                        items,
                        "checking the files against the link".into(),
                    );
                }
            },
        );
    }
    let make_digest_link = {
        let send = send.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        Callback::from(move |_: MouseEvent| {
            let items = ledger.borrow().files.clone();
            let names = items.iter().map(|i| i.name.clone()).collect();
            send(
                ToWorker::Fingerprint {
                    job: new_job(),
                    names,
                    purpose: "link".into(),
                },
                items,
                "the digest link".into(),
            );
        })
    };
    let close_digest_link = {
        let d = state.dispatcher();
        Callback::from(move |_: ()| d.dispatch(Action::CloseDigestLink))
    };

    let cancel = {
        let model_worker = model_worker.clone();
        let download_gen = download_gen.clone();
        let done_job = done_job.clone();
        let worker = worker.clone();
        let dispatch = state.dispatcher();
        let ledger = ledger.clone();
        let send = send.clone();
        let new_job = new_job.clone();
        Callback::from(move |_: MouseEvent| {
            *download_gen.borrow_mut() += 1;
            for w in model_worker.borrow_mut().drain(..) {
                w.terminate();
            }
            // A running job cannot be interrupted from outside: stop the worker, start a fresh one
            // and give it back the session as it was before the cancelled job.
            if let Some(w) = worker.borrow_mut().take() {
                w.worker.terminate();
            }
            match spawn_worker(dispatch.clone()) {
                Ok(w) => *worker.borrow_mut() = Some(w),
                Err(e) => dispatch.dispatch(Action::Banner(Some(e))),
            }
            dispatch.dispatch(Action::Cancelled);
            let (items, intent, settings) = {
                let mut l = ledger.borrow_mut();
                if let Some((job, names)) = l.in_flight.take() {
                    // Only a batch still running is dropped; one whose result arrived stays.
                    if job > *done_job.borrow() {
                        l.files.retain(|f| !names.contains(&f.name));
                    }
                }
                (l.files.clone(), l.intent, l.settings.clone())
            };
            if !items.is_empty() {
                let job = new_job();
                let names = items.iter().map(|i| i.name.clone()).collect();
                send(
                    ToWorker::Restore {
                        job,
                        names,
                        intent,
                        settings,
                    },
                    items,
                    String::new(),
                );
            }
        })
    };

    let on_drop = {
        let submit = submit.clone();
        let dragging = dragging.clone();
        let dispatch = state.dispatcher();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            let Some(dt) = e.data_transfer() else { return };
            let submit = submit.clone();
            let dispatch = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match files::items_from_drop(dt).await {
                    Ok(items) => submit(items),
                    Err(e) => dispatch.dispatch(Action::Banner(Some(e))),
                }
            });
        })
    };
    let on_drag_over = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if !*dragging {
                dragging.set(true);
            }
        })
    };
    let on_drag_leave = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            // Leaving the window (no related target) ends the drag highlight.
            if e.related_target().is_none() {
                dragging.set(false);
            }
        })
    };
    let on_pick = {
        let submit = submit.clone();
        Callback::from(move |e: Event| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                submit(files::items_from_list(input.files()));
                input.set_value("");
            }
        })
    };
    let click = |r: &NodeRef| {
        let r = r.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(i) = r.cast::<HtmlInputElement>() {
                i.click();
            }
        })
    };

    let s = &*state;
    let a = &s.analysis;
    // Every file's display name, once per analysis (1,174 dumps: ~17 ms a call, and the app and
    // the Overview each drew with it).
    let names = use_memo(a.clone(), |a| a.display_names());
    let on_select = {
        let d = state.dispatcher();
        Callback::from(move |sel| d.dispatch(Action::Select(sel)))
    };
    let on_open = {
        let d = state.dispatcher();
        Callback::from(move |i| d.dispatch(Action::OpenFinding(i)))
    };
    let on_row = {
        let d = state.dispatcher();
        Callback::from(move |r| d.dispatch(Action::SelectRow(r)))
    };
    let on_pairs = {
        let d = state.dispatcher();
        Callback::from(move |p| d.dispatch(Action::Pairs(p)))
    };
    let on_mix = {
        let d = state.dispatcher();
        Callback::from(move |m| d.dispatch(Action::Mix(m)))
    };
    let on_grid = {
        let d = state.dispatcher();
        Callback::from(move |g| d.dispatch(Action::Grid(g)))
    };
    let on_open_row = {
        let d = state.dispatcher();
        Callback::from(move |(f, r)| d.dispatch(Action::OpenRow(f, r)))
    };
    let on_tensor_edit = {
        let dispatch = state.dispatcher();
        let command = command.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        Callback::from(move |edit: tensors::TensorEdit| {
            let job = new_job();
            let mut l = ledger.borrow_mut();
            let (cmd, what) = match edit {
                tensors::TensorEdit::Side(file, side) => {
                    match side {
                        Some(s) => l.settings.sides.insert(file.clone(), s),
                        None => l.settings.sides.remove(&file),
                    };
                    (ToWorker::SetSide { job, file, side }, "setting a side")
                }
                tensors::TensorEdit::Scale(name, scale, dtype) => {
                    // A scale ≤ 0 clears the typed one (as the worker does).
                    if scale > 0.0 {
                        l.settings.scales.insert(name.clone(), (scale, dtype));
                    } else {
                        l.settings.scales.remove(&name);
                    }
                    (
                        ToWorker::SetScale {
                            job,
                            name,
                            scale,
                            dtype,
                        },
                        "comparing with the new scale",
                    )
                }
                tensors::TensorEdit::Pair(float, quant) => {
                    l.settings.manual.push((float.clone(), quant.clone()));
                    (ToWorker::Pair { job, float, quant }, "pairing")
                }
                tensors::TensorEdit::WhatIf(pair, typed) => {
                    (ToWorker::WhatIf { job, pair, typed }, "")
                }
            };
            let settings = l.settings.clone();
            drop(l);
            dispatch.dispatch(Action::Settings(settings));
            command(cmd, what);
        })
    };
    // A link's run settings: sent to the worker once its files are loaded, as the user's own edits.
    {
        let (command, ledger, new_job) = (command.clone(), ledger.clone(), new_job.clone());
        let on_edit = on_tensor_edit.clone();
        let dispatch = state.dispatcher();
        let ready =
            !state.analysis.files.is_empty() && state.busy.is_none() && state.staging.is_none();
        use_effect_with((state.link_run.clone(), ready), move |(run, ready)| {
            let Some(run) = run.clone().filter(|_| *ready) else {
                return;
            };
            dispatch.dispatch(Action::LinkRunApplied);
            let (intent, settings) = {
                let l = ledger.borrow();
                (l.intent, l.settings.clone())
            };
            if run.intent != intent {
                ledger.borrow_mut().intent = run.intent;
                command(
                    ToWorker::SetIntent {
                        job: new_job(),
                        intent: run.intent,
                    },
                    "diagnosing again",
                );
            }
            // A side is set on the loaded file the link's name means (another folder, or alone).
            let loaded: Vec<String> = ledger
                .borrow()
                .files
                .iter()
                .map(|f| f.name.clone())
                .collect();
            let sides: std::collections::BTreeMap<String, crate::engine::side::Side> = run
                .sides
                .iter()
                .filter_map(|(f, s)| {
                    let i =
                        crate::engine::share::resolve_file(f, loaded.iter().map(String::as_str))?;
                    Some((loaded[i].clone(), *s))
                })
                .collect();
            for (file, side) in &sides {
                if settings.sides.get(file) != Some(side) {
                    on_edit.emit(tensors::TensorEdit::Side(file.clone(), Some(*side)));
                }
            }
            for file in settings.sides.keys().filter(|f| !sides.contains_key(*f)) {
                on_edit.emit(tensors::TensorEdit::Side(file.clone(), None));
            }
            for (f, q) in &run.pairs {
                if !settings.manual.contains(&(f.clone(), q.clone())) {
                    on_edit.emit(tensors::TensorEdit::Pair(f.clone(), q.clone()));
                }
            }
            for (name, (scale, dtype)) in &run.scales {
                if settings.scales.get(name) != Some(&(*scale, *dtype)) {
                    on_edit.emit(tensors::TensorEdit::Scale(name.clone(), *scale, *dtype));
                }
            }
            for name in settings
                .scales
                .keys()
                .filter(|n| !run.scales.contains_key(*n))
            {
                ledger.borrow_mut().settings.scales.remove(name);
                command(
                    ToWorker::SetScale {
                        job: new_job(),
                        name: name.clone(),
                        scale: 0.0,
                        dtype: None,
                    },
                    "comparing with the scale removed",
                );
            }
            dispatch.dispatch(Action::Settings(ledger.borrow().settings.clone()));
        });
    }
    let on_intent = {
        let command = command.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<web_sys::HtmlSelectElement>() {
                let intent = Intent::parse(&sel.value()).unwrap_or_default();
                ledger.borrow_mut().intent = intent;
                command(
                    ToWorker::SetIntent {
                        job: new_job(),
                        intent,
                    },
                    "diagnosing again",
                );
            }
        })
    };
    let tab_btn = |t: Tab, label: String, title: Option<String>| {
        let d = state.dispatcher();
        html! {
            <button class={classes!("tab", (s.tab == t).then_some("active"))} role="tab"
                aria-selected={if s.tab == t { "true" } else { "false" }} title={title.unwrap_or_else(|| label.clone())}
                onclick={Callback::from(move |_| d.dispatch(Action::SetTab(t)))}>{ label }</button>
        }
    };
    let clear = {
        let d = state.dispatcher();
        let command = command.clone();
        let ledger = ledger.clone();
        let new_job = new_job.clone();
        Callback::from(move |_: MouseEvent| {
            *ledger.borrow_mut() = Ledger::default();
            d.dispatch(Action::Clear);
            command(ToWorker::Clear { job: new_job() }, "");
        })
    };
    let s_confirm = state.confirm_src.clone();
    let dismiss_notice = {
        let d = state.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Notice(None)))
    };
    let dismiss = {
        let d = state.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Banner(None)))
    };
    let confirm_yes = {
        let d = state.dispatcher();
        let url = s_confirm.clone();
        let load_src = load_src.clone();
        Callback::from(move |_: MouseEvent| {
            d.dispatch(Action::ConfirmSrc(None));
            if let Some(u) = url.clone() {
                load_src(u);
            }
        })
    };
    let confirm_no = {
        let d = state.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::ConfirmSrc(None)))
    };
    let example_btn = {
        let load_example = load_example.clone();
        Callback::from(move |_: MouseEvent| load_example.emit(()))
    };

    let progress = s.busy.as_ref().map(|p| {
        // Model-runner stages count steps, not bytes: their own fraction.
        let steps = matches!(p.stage.as_str(), "calibrating" | "simulating" | "sensitivity" | "verifying mixed precision" | "downloading");
        let pct = if steps && p.total_bytes > 0 { p.done_bytes as f64 * 100.0 / p.total_bytes as f64 } else { p.shown * 100.0 };
        let secs = ((p.now_ms - p.started_ms) / 1000.0).max(0.001);
        let rate = rich::human_bytes((p.done_bytes as f64 / secs) as u64);
        html! {
            <div class="progress" role="status">
                <span>{ {
                    let verb = match p.stage.as_str() { "comparing" => "Comparing", "histograms" => "Comparing (second pass: histograms)", "reading" => "Reading", "downloading" => "Downloading", "packing" => "Packing", "hashing" => "Hashing", _ => "Working on" };
                    if matches!(p.stage.as_str(), "calibrating" | "simulating" | "sensitivity" | "verifying mixed precision") {
                        let what = match p.stage.as_str() {
                            "calibrating" => "calibrating every activation on the inputs".to_string(),
                            "simulating" => "simulating the quantized model".to_string(),
                            "verifying mixed precision" => format!("verifying mixed precision: {} of {} int16 ratios simulated", p.done_bytes, p.total_bytes),
                            _ => format!("true sensitivity: {} of {} ops (activations and weights)", p.done_bytes, p.total_bytes),
                        };
                        format!("Running {} — {what}", p.file_name)
                    } else if p.total_bytes > 0 {
                        format!("{verb} {} — {} of {} ({rate}/s)", p.file_name, rich::human_bytes(p.done_bytes), rich::human_bytes(p.total_bytes))
                    } else {
                        format!("{verb} {}…", p.file_name)
                    }
                } }</span>
                <progress max="100" value={format!("{pct:.1}")}></progress>
                <button onclick={cancel.clone()}>{ "Cancel" }</button>
            </div>
        }
    });

    // Journal files alone are not an analysis: the start page (with the journal) stays.
    let has_files = a
        .files
        .iter()
        .any(|f| !crate::engine::views::is_journal_file(f));
    let runs = crate::engine::views::run_keys(&a.files);
    // A run's table as .txt and .csv is one table: one tab, the txt's (its view names the csv).
    let twins = crate::engine::views::compare_twins(&a.files);
    let file_tabs = a
        .files
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            !twins.iter().any(|&(_, csv)| csv == *i)
                && f.error.is_none()
                && !matches!(
                    f.document,
                    Some(Document::Tensors { .. })
                        | Some(Document::Scales(_))
                        | Some(Document::Journal { .. })
                )
        })
        .map(|(i, f)| {
            // Two runs loaded together: each tab names its run first, and stays short (the full
            // name is the tooltip): `Layers · ort_int8 (384)`, `Layers csv · ort_int8 (384)`.
            let shown = names.get(i).cloned().unwrap_or_else(|| f.name.clone());
            let short = shown.rsplit('/').next().unwrap_or(&shown).to_string();
            let run = runs.get(i).cloned().unwrap_or_default();
            let label = match (&f.document, run.is_empty()) {
                (Some(Document::ModelCheck(_)), true) => format!("Model check · {short}"),
                (Some(Document::ModelCheck(_)), false) => format!("Model check · {run}"),
                (Some(Document::Compare(c)), true) => {
                    format!("Layers · {short} ({})", c.rows.len())
                }
                (Some(Document::Compare(c)), false) => format!(
                    "Layers{} · {run} ({})",
                    if c.source == "csv" { " csv" } else { "" },
                    c.rows.len()
                ),
                (Some(Document::Sensitivity(t)), true) => format!("Sensitivity · {}", t.label()),
                (Some(Document::Sensitivity(t)), false) => {
                    format!("Sensitivity · {run} · {}", t.metric)
                }
                _ => shown,
            };
            tab_btn(Tab::File(i), label, Some(f.name.clone()))
        });
    let tensor_files = a
        .files
        .iter()
        .filter(|f| matches!(f.document, Some(Document::Tensors { .. })))
        .count();
    let rec_tab = a
        .files
        .iter()
        .any(|f| f.sensitivity().is_some())
        .then(|| tab_btn(Tab::Recommend, "Mixed precision".into(), None));
    let tensor_tab = (tensor_files > 0).then(|| {
        tab_btn(
            Tab::Tensors,
            format!("Tensors ({} pairs)", a.tensors.pairs.len()),
            None,
        )
    });
    let on_layer = {
        let d = state.dispatcher();
        let a = state.analysis.clone();
        Callback::from(move |name: String| {
            let pair = a.tensors.pairs.iter().position(|p| p.name == name);
            match (a.compare_rows_of(&name), pair) {
            (Some((file, rows)), _) => d.dispatch(Action::OpenRow(file, rows[0])),
            // A tensor pair's name (a finding measured from the dumps): open its pair.
            (None, Some(row)) => d.dispatch(Action::OpenPair(row)),
            (None, None) => d.dispatch(Action::Banner(Some(format!(
                "{name} is not in a loaded layer comparison: drop its run's compare_per_layer_out to see its row"
            )))),
        }
        })
    };
    let journal_panel = match &s.journal {
        Some(j) => html! {
            <journal::JournalPanel view={j.0.clone()} on_cmd={journal_cmd.clone()} on_import={on_pick.clone()} has_files={has_files}
                link={s.journal_link.clone()} {on_layer} />
        },
        None => {
            html! { <p class="muted small" id="journal-loading">{ "Reading the journal of runs…" }</p> }
        }
    };
    let body = if !has_files {
        html! {
            <>
            if let Some(d) = &s.digest { <digest::DigestView digest={d.clone()} /> }
            <section class="empty">
                <div class={classes!("dropzone", (*dragging).then_some("over"))}>
                    <h2>{ "Drop your quantization reports here" }</h2>
                    <p>{ "model_check_result.txt from horizon_plugin_pytorch, or a whole horizon_quant_analysis/ folder (compare_per_layer_out, *_sensitive_ops.txt, abnormal_layer_advisor, statistic, badcase); float and quantized tensor dumps (.npy, .npz, .safetensors, torch.save .pt) with their scales (scales.json or the ONNX QDQ model) — files, folders or a .zip of them, anywhere on this page." }</p>
                    <p class="actions">
                        <button class="primary" onclick={click(&file_input)}>{ "Open files…" }</button>
                        <button onclick={click(&folder_input)}>{ "Open folder…" }</button>
                        if s.report.is_none() { <button id="load-example" onclick={example_btn.clone()}>{ "Load example" }</button> }
                    </p>
                    <p class="muted small">{ "Formats are recognised by content, so renamed files work. The example is derived from Horizon's accuracy-tuning case (a BEV model): a full-size model check (2,304 layer calls) and a QuantAnalysis folder with the case's own rows." }</p>
                </div>
            </section>
            { journal_panel.clone() }
            </>
        }
    } else {
        match s.tab {
            Tab::Overview => {
                html! { <Overview analysis={a.clone()} names={Shared(names.clone())} on_open={on_open} /> }
            }
            Tab::Journal => journal_panel.clone(),
            Tab::Recommend => {
                html! { <recommend::RecommendView key={s.view_gen} analysis={a.clone()} on_open={on_open.clone()}
                mix={s.mix.clone()} on_mix={on_mix} /> }
            }
            Tab::Tensors => html! {
                <tensors::TensorsView key={s.view_gen} pairs={s.pairs.clone()} on_pairs={on_pairs} analysis={a.clone()} evidence={s.evidence.clone()} selected={s.selected} whatif={s.whatif.clone()}
                    on_select={on_select.clone()} on_edit={on_tensor_edit} on_open_row={on_open_row.clone()} />
            },
            Tab::File(i) => match a.files.get(i).and_then(|f| f.document.as_ref()) {
                // A big table's rows follow its first answer in parts: say so rather than draw
                // an empty grid.
                Some(Document::Compare(t)) if s.staging.is_some() && t.rows.is_empty() => html! {
                    <p class="muted rows-arriving">{ "The table's rows are arriving…" }</p>
                },
                Some(Document::Compare(_)) => html! {
                    <layers::LayersView key={s.view_gen} analysis={a.clone()} evidence={s.evidence.clone()} file={i}
                        selected={s.selected} on_select={on_select} row={s.row} on_row={on_row}
                        grid={s.grid.clone()} on_grid={on_grid} />
                },
                Some(Document::Sensitivity(_)) => html! {
                    <sens::SensitivityView analysis={a.clone()} evidence={s.evidence.clone()} file={i}
                        selected={s.selected} on_select={on_select} on_open_row={on_open_row} />
                },
                _ => html! {
                    <CheckView analysis={a.clone()} evidence={s.evidence.clone()} file={i} selected={s.selected} on_select={on_select} />
                },
            },
        }
    };

    html! {
        <div class={classes!("app", (*dragging).then_some("dragging"))}
            ondrop={on_drop} ondragover={on_drag_over} ondragleave={on_drag_leave}>
            <header class="topbar">
                <h1>{ "QuantLens" }</h1>
                <span class="tagline">{ "quantization-accuracy debugger" }</span>
                <span class="privacy" title="QuantLens runs entirely in this page (WebAssembly). Files are read locally and never uploaded.">
                    <svg class="lock" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
                        <path d="M4 7V5a4 4 0 1 1 8 0v2h1v8H3V7zm2 0h4V5a2 2 0 1 0-4 0z" fill="currentColor"/>
                    </svg>
                    { " Your files never leave this browser" }
                </span>
                <span class="spacer"></span>
                <label class="intent" title="What this run is meant to be. With all-int16 or all-int8 stated, rows still in the other dtype are reported (dtype_not_applied).">
                    { "This run is " }
                    <select id="intent" ref={intent_select} onchange={on_intent}>
                        <option value="unstated" selected={a.intent == Intent::Unstated}>{ "(not stated)" }</option>
                        <option value="int16" selected={a.intent == Intent::AllInt16}>{ "all-int16" }</option>
                        <option value="int8" selected={a.intent == Intent::AllInt8}>{ "all-int8" }</option>
                        <option value="mixed" selected={a.intent == Intent::Mixed}>{ "mixed int8/int16" }</option>
                    </select>
                </label>
                <button onclick={click(&file_input)}>{ "Open files…" }</button>
                <button onclick={click(&folder_input)}>{ "Open folder…" }</button>
                if s.report.is_none() { <button onclick={example_btn}>{ "Load example" }</button> }
                if has_files && s.report.is_none() { <button onclick={clear}>{ "Clear" }</button> }
                if has_files {
                    <button id="digest-link" onclick={make_digest_link}
                        title="A link that carries the findings that matter and the rows they cite, without the files (under 8 KiB): the colleague sees them read-only and can drop the files to check they are the same">{ "Link with findings" }</button>
                    <button id="export-report" onclick={export_report}
                        title="Save one HTML file with the app and the loaded files: it opens offline, from disk, in this view">{ "Export report" }</button>
                }
                <input ref={file_input} type="file" multiple=true class="hidden" onchange={on_pick.clone()} aria-label="Open files" />
                <input ref={folder_input} type="file" webkitdirectory=true class="hidden" onchange={on_pick} aria-label="Open folder" />
            </header>
            if let Some(about) = &s.report {
                <div class="report-ribbon" role="note">
                    { format!("A QuantLens report: its files are inside this page ({about}). Nothing is fetched; what you drop stays here too.") }
                </div>
            }
            if let Some(url) = &s.confirm_src {
                <div class="banner confirm" role="alertdialog" aria-label="Load files from another site?">
                    <span>{ format!("This link loads files from another site: {url}. They are downloaded into this page and analysed here; nothing is sent. Load them?") }</span>
                    <button class="primary" id="confirm-src" onclick={confirm_yes}>{ "Load" }</button>
                    <button onclick={confirm_no}>{ "Don't load" }</button>
                </div>
            }
            if let Some((url, n, omitted, files, files_omitted)) = &s.digest_link {
                <digest::DigestLink url={url.clone()} findings={*n} omitted={*omitted} files={*files} files_omitted={*files_omitted} on_close={close_digest_link} />
            }
            { progress.unwrap_or_default() }
            if let Some(b) = &s.banner {
                <div class="banner" role="alert"><span>{ b.clone() }</span><button class="link" onclick={dismiss}>{ "dismiss" }</button></div>
            }
            if let Some(n) = &s.notice {
                <div class="banner notice" role="status"><span>{ n.clone() }</span><button class="link" onclick={dismiss_notice}>{ "dismiss" }</button></div>
            }
            if has_files {
                <nav class="tabs" role="tablist">
                    { tab_btn(Tab::Overview, format!("Overview ({})", a.findings.len()), None) }
                    { for file_tabs }
                    { tensor_tab.unwrap_or_default() }
                    { rec_tab.unwrap_or_default() }
                    { tab_btn(Tab::Journal, format!("Journal ({})", s.journal.as_ref().map_or(0, |j| j.runs.len())), None) }
                </nav>
            }
            if s.report.is_none() && s.busy.is_none() {
                { for a.files.iter().filter(|f| is_float_model(f)).map(|f| {
                    let tensors: Vec<String> = a.files.iter().filter(|x| {
                        let n = x.name.to_ascii_lowercase();
                        n.ends_with(".npz") || n.ends_with(".npy")
                    }).map(|x| x.name.clone()).collect();
                    let images: Vec<String> = a.files.iter()
                        .filter(|x| crate::engine::views::is_image_sample(x))
                        .map(|x| x.name.clone()).collect();
                    // The run folders this model's runs wrote (`<stem>_int8_run`, …).
                    let stem = f.name.rsplit('/').next().unwrap_or(&f.name).trim_end_matches(".onnx").to_string();
                    let mut runs: Vec<String> = a.files.iter().filter_map(|x| {
                        let parts: Vec<&str> = x.name.split('/').collect();
                        parts.iter().rev().skip(1).find(|p| p.starts_with(&format!("{stem}_")) && p.ends_with("_run"))
                            .map(|p| p.to_string())
                    }).collect();
                    runs.sort();
                    runs.dedup();
                    html! {
                        <model_panel::ModelPanel model={f.name.clone()} {tensors} {images}
                            info={model_infos.borrow().get(&f.name).cloned()}
                            on_run={run_model.clone()} {runs} on_download={download_run.clone()} />
                    }
                }) }
            }
            <main>{ body }</main>
            if let Some(ms) = s.last_parse_ms {
                <footer class="muted small" id="parse-ms" data-ms={format!("{ms:.1}")}>
                    { format!("Last files read and parsed in {ms:.0} ms, on this machine.") }
                </footer>
            }
            if *dragging {
                <div class="drop-overlay">{ "Drop to analyse — files stay on this machine" }</div>
            }
        </div>
    }
}

/// Entry point of the UI binary.
pub fn run() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("QuantLens panicked: {info}").into());
    }));
    yew::Renderer::<App>::new().render();
}
