//! Findings from a parsed model-check file: fusion, shared/unused modules and qconfig errors.

use super::cells::{
    class_path, is_dequant_stub, is_gemm_like, is_quant_stub, parse_dtype_list, short_type, DType,
    ModuleName,
};
use super::doc::DocTable;
use super::findings::{kind, name_list, plural, Evidence, Finding, Severity};
use super::model_check::ModelCheck;
use std::collections::{BTreeMap, HashMap};

fn ev(t: &DocTable, row: usize) -> Evidence {
    Evidence {
        table: t.id.clone(),
        row,
        line: t.rows.get(row).map(|r| r.line).unwrap_or(0),
        file: None,
    }
}

/// All findings of a model-check file, most severe first.
pub fn diagnose(mc: &ModelCheck) -> Vec<Finding> {
    let layers = LayerIndex::new(mc);
    let mut out = Vec::new();
    out.extend(qint32_output(mc, &layers));
    out.extend(float_input(mc, &layers));
    out.extend(low_precision_output(mc, &layers));
    out.extend(unfused(mc));
    out.extend(shared_modules(mc, &layers));
    out.extend(unusual(mc, &layers));
    super::findings::sort_by_severity(&mut out);
    out
}

// --- The per-layer qconfig table, typed -------------------------------------------------------

struct Layer {
    row: usize,
    name: String,
    module: ModuleName,
    type_path: String,
    inputs: Vec<DType>,
    outputs: Vec<DType>,
    ch_axis: String,
}

struct LayerIndex<'a> {
    table: Option<&'a DocTable>,
    layers: Vec<Layer>,
    /// base module name → module type path (first call's).
    type_of: HashMap<String, String>,
}

impl<'a> LayerIndex<'a> {
    fn new(mc: &'a ModelCheck) -> Self {
        let Some(t) = mc.table("layers") else {
            return LayerIndex {
                table: None,
                layers: Vec::new(),
                type_of: HashMap::new(),
            };
        };
        let c_name = t.column("Module Name");
        let c_type = t.column("Module Type");
        let c_in = t.column("Input dtype");
        let c_out = t.column("out dtype");
        let c_axis = t.column("ch_axis");
        let mut layers = Vec::with_capacity(t.rows.len());
        let mut type_of = HashMap::new();
        for i in 0..t.rows.len() {
            let name = t.cell(i, c_name).to_string();
            let module = ModuleName::parse(&name);
            let type_path = class_path(t.cell(i, c_type)).to_string();
            type_of
                .entry(module.base.clone())
                .or_insert_with(|| type_path.clone());
            layers.push(Layer {
                row: i,
                name,
                module,
                type_path,
                inputs: parse_dtype_list(t.cell(i, c_in)),
                outputs: parse_dtype_list(t.cell(i, c_out)),
                ch_axis: t.cell(i, c_axis).to_string(),
            });
        }
        LayerIndex {
            table: Some(t),
            layers,
            type_of,
        }
    }

    fn is_excerpt(&self) -> bool {
        self.table.is_some_and(|t| t.elided_runs > 0)
    }
}

// --- dtype statistics ---------------------------------------------------------------------------

/// Calls per module type counted in a dtype-statistics table for the columns that match `want`.
fn stats_counts(
    t: &DocTable,
    want: impl Fn(&DType) -> bool,
    row_filter: impl Fn(&str) -> bool,
) -> Vec<(String, u64, usize)> {
    let cols: Vec<usize> = t
        .headers
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, h)| want(&DType::parse(h)))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    for (ri, r) in t.rows.iter().enumerate() {
        let Some(ty) = r.cells.first() else { continue };
        if ty.trim() == "total" || !row_filter(ty) {
            continue;
        }
        // A call counts once per distinct dtype, so summing matching columns can double count a call
        // with two matching dtypes; the largest column is a safe lower bound for one dtype family.
        let n: u64 = cols
            .iter()
            .filter_map(|&c| r.cells.get(c))
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        if n > 0 {
            out.push((short_type(ty).to_string(), n, ri));
        }
    }
    out
}

fn stats_summary(counts: &[(String, u64, usize)]) -> String {
    counts
        .iter()
        .map(|(t, n, _)| format!("{t} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sentence that relates named layers to the statistics count (excerpts name only some).
fn coverage_sentence(named: usize, counted: u64, excerpt: bool) -> String {
    if counted as usize > named {
        let why = if excerpt {
            "the per-layer table is an excerpt"
        } else {
            "the per-layer table lists fewer rows"
        };
        format!(
            " The dtype statistics count {counted} such call(s); {why}, so only {named} can be named here."
        )
    } else {
        String::new()
    }
}

// --- qint32_output ------------------------------------------------------------------------------

fn qint32_output(mc: &ModelCheck, li: &LayerIndex) -> Vec<Finding> {
    let hits: Vec<&Layer> = li
        .layers
        .iter()
        .filter(|l| l.outputs.contains(&DType::QInt32))
        .collect();
    let stats = mc
        .table("output_dtype_stats")
        .map(|t| (t, stats_counts(t, |d| *d == DType::QInt32, |_| true)))
        .filter(|(_, c)| !c.is_empty());
    if hits.is_empty() && stats.is_none() {
        return Vec::new();
    }
    let mut evidence = Vec::new();
    let names: Vec<String> = hits.iter().map(|l| l.name.clone()).collect();
    if let Some(t) = li.table {
        evidence.extend(hits.iter().map(|l| ev(t, l.row)));
    }
    let counted: u64 = stats
        .as_ref()
        .map(|(_, c)| c.iter().fold(0u64, |s, x| s.saturating_add(x.1)))
        .unwrap_or(0);
    if let Some((t, c)) = &stats {
        evidence.extend(c.iter().map(|x| ev(t, x.2)));
    }
    let who = if names.is_empty() {
        format!(
            "The output dtype statistics count {counted} call(s) with a qint32 output ({}).",
            stats
                .as_ref()
                .map(|(_, c)| stats_summary(c))
                .unwrap_or_default()
        )
    } else {
        let types: Vec<String> = hits
            .iter()
            .map(|l| short_type(&l.type_path).to_string())
            .collect();
        let mut s = format!(
            "{} output{} qint32: {}.",
            plural(names.len(), "layer", "layers"),
            if names.len() == 1 { "s" } else { "" },
            name_list(&names, 4)
        );
        if names.len() == 1 {
            s = format!(
                "`{}` ({}) outputs qint32.",
                names[0],
                types.first().map(String::as_str).unwrap_or("?")
            );
        }
        s + &coverage_sentence(names.len(), counted, li.is_excerpt())
    };
    vec![Finding {
        kind: kind::QINT32_OUTPUT.into(),
        severity: Severity::Error,
        layers: names.clone(),
        message: format!(
            "{who} A qint32 output is not a valid activation dtype here: high-precision output is shown \
             as torch.float32 in this table, never as qint32, so this comes from a qconfig configuration \
             error on {}.",
            if names.len() == 1 { "this layer" } else { "these layers" }
        ),
        fix: format!(
            "Correct the qconfig of {}. If the layer is a model output feeding a DeQuantStub and should \
             be high precision, configure it for high-precision output (for GEMM-like ops set the \
             activation to None, e.g. `module.qconfig = get_default_qconfig(activation_fake_quant=None)` \
             or let the template do it); otherwise give it a qint8/qint16 activation qconfig. Check for \
             a manually set qconfig that overrides the setter templates.",
            if names.is_empty() {
                "the layers counted above (find them in 'Each layer out qconfig')".to_string()
            } else {
                name_list(&names, 3)
            }
        ),
        score: 0.0,
        evidence,
        rank_reason: String::new(),
    }]
}

// --- float_input --------------------------------------------------------------------------------

fn is_fakecast(l: &Layer) -> bool {
    let a = l.ch_axis.to_ascii_lowercase();
    a.contains("fakecast")
}

fn float_input(mc: &ModelCheck, li: &LayerIndex) -> Vec<Finding> {
    let stats = mc
        .table("input_dtype_stats")
        .map(|t| {
            (
                t,
                stats_counts(
                    t,
                    |d| *d == DType::Float32,
                    |ty| !is_quant_stub(ty) && !is_dequant_stub(ty),
                ),
            )
        })
        .filter(|(_, c)| !c.is_empty());
    let counted: u64 = stats
        .as_ref()
        .map(|(_, c)| c.iter().fold(0u64, |s, x| s.saturating_add(x.1)))
        .unwrap_or(0);
    let candidates: Vec<&Layer> = li
        .layers
        .iter()
        .filter(|l| {
            !is_quant_stub(&l.type_path)
                && !is_dequant_stub(&l.type_path)
                && l.inputs.contains(&DType::Float32)
                && !is_fakecast(l)
        })
        .collect();
    let (quant_out, float_out): (Vec<&Layer>, Vec<&Layer>) = candidates
        .into_iter()
        .partition(|l| l.outputs.iter().any(|d| !d.is_float()));
    let mut out = Vec::new();

    if !quant_out.is_empty() || (li.table.is_none() || li.is_excerpt()) && stats.is_some() {
        let names: Vec<String> = quant_out.iter().map(|l| l.name.clone()).collect();
        let mut evidence: Vec<Evidence> = li
            .table
            .map(|t| quant_out.iter().map(|l| ev(t, l.row)).collect())
            .unwrap_or_default();
        if let Some((t, c)) = &stats {
            evidence.extend(c.iter().map(|x| ev(t, x.2)));
        }
        let who = if names.is_empty() {
            format!(
                "Apart from QuantStub and DeQuantStub, {counted} op call(s) take a torch.float32 input \
                 (input dtype statistics: {}). The per-layer table is {}, so they cannot be named here.",
                stats.as_ref().map(|(_, c)| stats_summary(c)).unwrap_or_default(),
                if li.table.is_none() { "absent" } else { "an excerpt" }
            )
        } else {
            format!(
                "{} take{} a torch.float32 input although {} not a QuantStub: {}.{}",
                plural(names.len(), "op", "ops"),
                if names.len() == 1 { "s" } else { "" },
                if names.len() == 1 {
                    "it is"
                } else {
                    "they are"
                },
                name_list(&names, 4),
                coverage_sentence(names.len(), counted, li.is_excerpt())
            )
        };
        out.push(Finding {
            kind: kind::FLOAT_INPUT.into(),
            severity: Severity::Error,
            layers: names,
            message: format!(
                "{who} A float input means a QuantStub is missing in front of the op: the model is not \
                 fully quantized, and when compiled these ops fall back to the CPU."
            ),
            fix: "Insert a QuantStub before each listed op (create it in `__init__`, e.g. \
                  `self.x_quant = QuantStub()`, and call `x = self.x_quant(x)` before the op), or make \
                  the input come from a quantized op. Constant tensors created in `forward` (e.g. \
                  `torch.arange`, masks) need their own QuantStub too. Then re-run the check: the \
                  torch.float32 input counts should be zero for every type except QuantStub."
                .into(),
            score: 0.0,
            evidence,
            rank_reason: String::new(),
        });
    }
    if !float_out.is_empty() {
        let names: Vec<String> = float_out.iter().map(|l| l.name.clone()).collect();
        out.push(Finding {
            kind: kind::FLOAT_INPUT.into(),
            severity: Severity::Warning,
            layers: names.clone(),
            message: format!(
                "{} run entirely in float (torch.float32 in and out): {}. They will run on the CPU. \
                 That is expected only for post-processing after the last DeQuantStub.",
                plural(names.len(), "op", "ops"),
                name_list(&names, 4)
            ),
            fix: "If these ops belong to the network (before the outputs), add a QuantStub in front of \
                  them and give them a qconfig; if they are post-processing (sigmoid, decoding, NMS), \
                  move them after the DeQuantStub and out of the quantized model."
                .into(),
            score: 0.0,
            evidence: li
                .table
                .map(|t| float_out.iter().map(|l| ev(t, l.row)).collect())
                .unwrap_or_default(),
            rank_reason: String::new(),
        });
    }
    out
}

// --- low_precision_output -----------------------------------------------------------------------

/// Producer of a module's input from the fx graph: graph node whose target is `module`, first arg.
fn producer_from_graph(mc: &ModelCheck, module: &str) -> Option<String> {
    let g = mc.table("graph")?;
    let c_name = g.column("name");
    let c_target = g.column("target");
    let c_args = g.column("args");
    let node = (0..g.rows.len()).find(|&i| g.cell(i, c_target) == module)?;
    let args = g.cell(node, c_args);
    let first = args
        .trim_start_matches('(')
        .split([',', ')'])
        .next()?
        .trim()
        .to_string();
    if first.is_empty() {
        return None;
    }
    let p = (0..g.rows.len()).find(|&i| g.cell(i, c_name) == first)?;
    // `call_method add (add0, x, y)`: the module is the receiver `add0`, not the method name.
    if g.cell(p, g.column("opcode")) == "call_method" {
        let recv = g.cell(p, c_args).trim_start_matches('(');
        let recv = recv
            .split([',', ')'])
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if !recv.is_empty() {
            let target = (0..g.rows.len())
                .find(|&i| g.cell(i, c_name) == recv)
                .map(|i| g.cell(i, c_target).to_string())
                .filter(|t| !t.is_empty());
            return Some(target.unwrap_or(recv));
        }
    }
    let target = g.cell(p, c_target);
    Some(if target.is_empty() {
        first
    } else {
        target.to_string()
    })
}

fn low_precision_output(mc: &ModelCheck, li: &LayerIndex) -> Vec<Finding> {
    let hits: Vec<&Layer> = li
        .layers
        .iter()
        .filter(|l| {
            is_dequant_stub(&l.type_path) && l.inputs.iter().any(DType::is_low_precision_int)
        })
        .collect();
    let stats = mc
        .table("input_dtype_stats")
        .map(|t| {
            (
                t,
                stats_counts(t, DType::is_low_precision_int, is_dequant_stub),
            )
        })
        .filter(|(_, c)| !c.is_empty());
    if hits.is_empty() && stats.is_none() {
        return Vec::new();
    }
    let counted: u64 = stats
        .as_ref()
        .map(|(_, c)| c.iter().fold(0u64, |s, x| s.saturating_add(x.1)))
        .unwrap_or(0);
    let names: Vec<String> = hits.iter().map(|l| l.name.clone()).collect();
    let mut evidence: Vec<Evidence> = li
        .table
        .map(|t| hits.iter().map(|l| ev(t, l.row)).collect())
        .unwrap_or_default();
    if let Some((t, c)) = &stats {
        evidence.extend(c.iter().map(|x| ev(t, x.2)));
    }
    // Name the op in front of each DeQuantStub when the fx graph is in the file.
    let mut producers = Vec::new();
    for l in &hits {
        if let Some(p) = producer_from_graph(mc, &l.module.base) {
            let ty = li.type_of.get(&p).map(|t| short_type(t).to_string());
            let gemm = li.type_of.get(&p).is_some_and(|t| is_gemm_like(t));
            producers.push(format!(
                "`{}` ← `{p}`{}{}",
                l.name,
                ty.map(|t| format!(" ({t})")).unwrap_or_default(),
                if gemm {
                    ", GEMM-like"
                } else {
                    ", not GEMM-like"
                }
            ));
        }
    }
    let dtypes: Vec<String> = {
        let mut d: Vec<String> = hits
            .iter()
            .flat_map(|l| {
                l.inputs
                    .iter()
                    .filter(|d| d.is_low_precision_int())
                    .map(|d| d.to_string())
            })
            .collect();
        d.sort();
        d.dedup();
        if d.is_empty() {
            vec!["qint8/qint16".into()]
        } else {
            d
        }
    };
    let who = if names.is_empty() {
        format!(
            "The input dtype statistics count {counted} DeQuantStub call(s) with a {} input.",
            dtypes.join("/")
        )
    } else {
        format!(
            "{} {} a {} input: {}.{}",
            plural(names.len(), "DeQuantStub", "DeQuantStubs"),
            if names.len() == 1 { "has" } else { "have" },
            dtypes.join("/"),
            name_list(&names, 4),
            coverage_sentence(names.len(), counted, li.is_excerpt())
        )
    };
    let graph_note = if producers.is_empty() {
        String::new()
    } else {
        format!(" Ops in front (from the graph): {}.", producers.join("; "))
    };
    vec![Finding {
        kind: kind::LOW_PRECISION_OUTPUT.into(),
        severity: Severity::Warning,
        layers: names,
        message: format!(
            "{who} These model outputs are therefore not high precision: the value reaching the \
             DeQuantStub was already rounded to {} steps.{graph_note}",
            dtypes.join("/")
        ),
        fix: "Check the op in front of each DeQuantStub. The templates give automatic high-precision \
              (float) output only to GEMM-like ops (Conv, Linear, Matmul) directly before the dequant: \
              if it is GEMM-like, make sure it is the last op before the DeQuantStub and that its \
              qconfig has no output fake-quant (activation=None); if it is not GEMM-like (add, \
              sigmoid, reshape…), move it after the DeQuantStub as post-processing, or accept an \
              int16 output."
            .into(),
        score: 0.0,
        evidence,
        rank_reason: String::new(),
    }]
}

// --- unfused ------------------------------------------------------------------------------------

/// `model.view.input_proj.3.0` → `model.view.input_proj.#.0`.
fn name_pattern(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_digits = false;
    for c in name.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut parts: Vec<&str> = first.split('.').collect();
    for n in &names[1..] {
        let other: Vec<&str> = n.split('.').collect();
        let k = parts
            .iter()
            .zip(other.iter())
            .take_while(|(a, b)| a == b)
            .count();
        parts.truncate(k);
    }
    parts.join(".")
}

fn unfused(mc: &ModelCheck) -> Vec<Finding> {
    let Some(t) = mc.table("fusable") else {
        return Vec::new();
    };
    let c_group = t.column("group");
    let c_name = t.column("name");
    let c_type = t.column("type");
    // group number → rows
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..t.rows.len() {
        let g = t.cell(i, c_group).parse::<usize>().unwrap_or(0);
        groups.entry(g).or_default().push(i);
    }
    // Cluster groups of the same shape (same types, same names up to indices).
    let mut clusters: Vec<(String, Vec<Vec<usize>>)> = Vec::new();
    for rows in groups.into_values() {
        let sig = rows
            .iter()
            .map(|&i| {
                format!(
                    "{}:{}",
                    name_pattern(&ModuleName::parse(t.cell(i, c_name)).base),
                    short_type(t.cell(i, c_type))
                )
            })
            .collect::<Vec<_>>()
            .join("|");
        match clusters.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, v)) => v.push(rows),
            None => clusters.push((sig, vec![rows])),
        }
    }
    clusters
        .into_iter()
        .map(|(_, groups)| {
            let first = &groups[0];
            let chain = first
                .iter()
                .map(|&i| {
                    format!(
                        "`{}` ({})",
                        ModuleName::parse(t.cell(i, c_name)).base,
                        short_type(t.cell(i, c_type))
                    )
                })
                .collect::<Vec<_>>()
                .join(" → ");
            let all_rows: Vec<usize> = groups.iter().flatten().copied().collect();
            let layers: Vec<String> = all_rows
                .iter()
                .map(|&i| ModuleName::parse(t.cell(i, c_name)).base)
                .collect();
            let shared: Vec<String> = all_rows
                .iter()
                .map(|&i| ModuleName::parse(t.cell(i, c_name)))
                .filter(|m| m.shared_output)
                .map(|m| m.base)
                .collect();
            let parent = common_prefix(&layers);
            let pattern = first
                .iter()
                .map(|&i| short_type(t.cell(i, c_type)).to_string())
                .collect::<Vec<_>>()
                .join(" + ");
            let head = if groups.len() == 1 {
                format!("These modules can be fused but were not: {chain}.")
            } else {
                format!(
                    "{} groups of fusable modules ({pattern}) were not fused, all of the same shape, \
                     e.g. {chain}.",
                    groups.len()
                )
            };
            let shared_note = if shared.is_empty() {
                String::new()
            } else {
                format!(
                    " {} marked `(shared)`: the output also goes to another consumer, which blocks \
                     fusion.",
                    name_list(&shared, 2)
                )
            };
            let where_ = if parent.is_empty() {
                "the code that calls these modules".to_string()
            } else {
                format!("the code around `{parent}`")
            };
            Finding {
                kind: kind::UNFUSED.into(),
                severity: Severity::Warning,
                layers,
                message: format!(
                    "{head}{shared_note} Unfused, the intermediate output is quantized on its own, \
                     which adds error and costs speed on the BPU."
                ),
                fix: format!(
                    "Check {where_}. Fusion needs the traced graph to show the pattern directly (the \
                     add/relu consuming the conv/linear output). When the modules run inside a Python \
                     loop or other dynamic code, annotate the block so it traces as one static \
                     pattern:\n\
                     ```python\n\
                     for cam_idx in range(num_cameras):\n    \
                         with Tracer.dynamic_block(self, \"process_input\"):\n        \
                             src = self.input_proj[str(cam_idx)](src)\n        \
                             src = src + self.cams_embeds[cam_idx][None, :, None, None]\n\
                     ```\n\
                     {}",
                    if shared.is_empty() {
                        "Otherwise remove any op between the pair (reshape, slice, cast)."
                    } else {
                        "For a `(shared)` output, let the other consumer read a separate op's \
                         output, or accept the pair unfused."
                    }
                ),
                score: 0.0,
                evidence: all_rows.iter().map(|&i| ev(t, i)).collect(),
                rank_reason: String::new(),
            }
        })
        .collect()
}

// --- shared_module / unused_module --------------------------------------------------------------

struct Count {
    table: String,
    row: usize,
    line: usize,
    name: String,
    calls: u64,
}

fn call_counts(mc: &ModelCheck) -> Vec<Count> {
    let mut out = Vec::new();
    for id in ["unused", "shared", "called_times"] {
        let Some(t) = mc.table(id) else { continue };
        let c_name = t.column("name");
        let c_calls = t.column("called times");
        for i in 0..t.rows.len() {
            let Ok(calls) = t.cell(i, c_calls).trim().parse::<u64>() else {
                continue;
            };
            out.push(Count {
                table: id.to_string(),
                row: i,
                line: t.rows[i].line,
                name: t.cell(i, c_name).to_string(),
                calls,
            });
        }
    }
    out
}

/// Cluster module names under common parents: a parent absorbs groups nested below it.
fn cluster_by_parent<'a>(names: &[&'a Count]) -> Vec<(String, Vec<&'a Count>)> {
    let mut by_parent: BTreeMap<String, Vec<&'a Count>> = BTreeMap::new();
    for c in names {
        let base = ModuleName::parse(&c.name).base;
        by_parent
            .entry(super::cells::parent_path(&base).to_string())
            .or_default()
            .push(c);
    }
    let parents: Vec<String> = by_parent.keys().cloned().collect();
    let mut merged: Vec<(String, Vec<&'a Count>)> = Vec::new();
    for p in parents {
        let items = by_parent.remove(&p).unwrap_or_default();
        match merged
            .iter_mut()
            .find(|(q, _)| !q.is_empty() && (p.starts_with(&format!("{q}."))))
        {
            Some((_, v)) => v.extend(items),
            None => merged.push((p, items)),
        }
    }
    for (_, v) in merged.iter_mut() {
        v.sort_by_key(|c| (c.table.clone(), c.row));
    }
    merged
}

fn shared_modules(mc: &ModelCheck, li: &LayerIndex) -> Vec<Finding> {
    let mut counts = call_counts(mc);
    // Without a call-count section, shared calls still show in the per-layer table as `name(k)`.
    if counts.is_empty() && mc.calls != super::model_check::CallStatus::AllOnce {
        if let Some(t) = li.table {
            let mut max_call: BTreeMap<String, (u64, usize)> = BTreeMap::new();
            for l in &li.layers {
                let e = max_call.entry(l.module.base.clone()).or_insert((0, l.row));
                e.0 = e.0.max(l.module.call_index as u64 + 1);
            }
            for (name, (calls, row)) in max_call {
                if calls > 1 {
                    counts.push(Count {
                        table: t.id.clone(),
                        row,
                        line: t.rows[row].line,
                        name,
                        calls,
                    });
                }
            }
        }
    }
    let to_ev = |c: &Count| Evidence {
        table: c.table.clone(),
        row: c.row,
        line: c.line,
        file: None,
    };
    let mut out = Vec::new();
    // A DeQuantStub has no quantization parameters: calling it twice is harmless.
    let harmless = |c: &Count| {
        li.type_of
            .get(&ModuleName::parse(&c.name).base)
            .is_some_and(|t| is_dequant_stub(t))
    };
    let shared: Vec<&Count> = counts
        .iter()
        .filter(|c| c.calls > 1 && !harmless(c))
        .collect();
    for (parent, items) in cluster_by_parent(&shared) {
        let layers: Vec<String> = items.iter().map(|c| c.name.clone()).collect();
        let min = items.iter().map(|c| c.calls).min().unwrap_or(0);
        let max = items.iter().map(|c| c.calls).max().unwrap_or(0);
        let times = if min == max {
            format!("{max} times")
        } else {
            format!("{min}–{max} times")
        };
        let listing = items
            .iter()
            .take(12)
            .map(|c| {
                let rel = c
                    .name
                    .strip_prefix(&format!("{parent}."))
                    .unwrap_or(&c.name);
                format!("`{rel}` ×{}", c.calls)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let more = if items.len() > 12 {
            format!(" and {} more", items.len() - 12)
        } else {
            String::new()
        };
        let (subject, owner) = if parent.is_empty() || items.len() == 1 {
            (
                format!("`{}` is called {times} in one forward pass.", layers[0]),
                layers[0].clone(),
            )
        } else {
            (
                format!(
                    "Under `{parent}`, {} are called {times} in one forward pass: {listing}{more}.",
                    plural(items.len(), "module", "modules")
                ),
                parent.clone(),
            )
        };
        let last = owner.rsplit('.').next().unwrap_or(&owner).to_string();
        let type_hint = li
            .type_of
            .get(&owner)
            .map(|t| short_type(t).to_string())
            .unwrap_or_else(|| "TheModule".into());
        out.push(Finding {
            kind: kind::SHARED_MODULE.into(),
            severity: Severity::Warning,
            layers,
            message: format!(
                "{subject} One module object keeps one set of quantization parameters, so every call \
                 shares one scale even when the calls see different value ranges: calls with a wider \
                 range are clipped, calls with a narrower one lose resolution, and the calibrated \
                 scale fits neither well. Per-layer comparison and sensitivity cannot tell the calls \
                 apart either."
            ),
            fix: format!(
                "Construct one instance per call site. For a module reused in a loop, create the copies \
                 in `__init__` and pick one by index in `forward`:\n\
                 ```python\n\
                 for i in range(num_layers):\n    \
                     self.add_module(\"{last}%d\" % i, {type_hint}())\n\
                 # forward\n\
                 out = getattr(self, \"{last}%d\" % lid)(x)\n\
                 ```\n\
                 Functional ops need the same: one FloatFunctional (e.g. one `add`) per call."
            ),
            score: 0.0,
            evidence: items.iter().map(|c| to_ev(c)).collect(),
            rank_reason: String::new(),
        });
    }
    let dq: Vec<&Count> = counts
        .iter()
        .filter(|c| c.calls > 1 && harmless(c))
        .collect();
    if !dq.is_empty() {
        let layers: Vec<String> = dq.iter().map(|c| c.name.clone()).collect();
        out.push(Finding {
            kind: kind::SHARED_MODULE.into(),
            severity: Severity::Info,
            layers: layers.clone(),
            message: format!(
                "{} called more than once: {}. A DeQuantStub has no quantization parameters, so \
                 sharing it does not cost accuracy.",
                plural(layers.len(), "DeQuantStub is", "DeQuantStubs are"),
                name_list(&layers, 4)
            ),
            fix: "Nothing required. Separate DeQuantStubs per output keep the per-layer reports \
                  easier to read."
                .into(),
            score: 0.0,
            evidence: dq.iter().map(|c| to_ev(c)).collect(),
            rank_reason: String::new(),
        });
    }
    let unused: Vec<&Count> = counts.iter().filter(|c| c.calls == 0).collect();
    if !unused.is_empty() {
        let layers: Vec<String> = unused.iter().map(|c| c.name.clone()).collect();
        out.push(Finding {
            kind: kind::UNUSED_MODULE.into(),
            severity: Severity::Info,
            layers: layers.clone(),
            message: format!(
                "{} never ran in the checked forward pass: {}. {} no calibration statistics.",
                plural(layers.len(), "module", "modules"),
                name_list(&layers, 4),
                if layers.len() == 1 { "It collects" } else { "They collect" }
            ),
            fix: "If they run at deploy time (another branch or mode), calibrate with inputs that \
                  reach them; if they are leftovers (auxiliary heads, training-only layers), remove \
                  them from the deployed model."
                .into(),
            score: 0.0,
            evidence: unused.iter().map(|c| to_ev(c)).collect(),
            rank_reason: String::new(),
        });
    }
    out
}

// --- unusual_qconfig ----------------------------------------------------------------------------

fn unusual(mc: &ModelCheck, li: &LayerIndex) -> Vec<Finding> {
    let Some(t) = mc.table("unusual") else {
        return Vec::new();
    };
    let c_name = t.column("Module Name");
    let c_msg = t.column("Msg");
    // category → (severity, rows)
    let mut cats: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for i in 0..t.rows.len() {
        let m = t.cell(i, c_msg);
        let cat = if m.starts_with("Fixed") {
            "fixed"
        } else if m.contains("weight!") {
            "weight"
        } else if m.starts_with("Mixed") || m.contains("is not same with out dtype") {
            "mixed"
        } else if m.starts_with("activation is None") {
            "no_activation"
        } else {
            "other"
        };
        cats.entry(cat).or_default().push(i);
    }
    let out_dtype_of = |name: &str| -> Option<DType> {
        li.layers
            .iter()
            .find(|l| l.name == name)
            .and_then(|l| l.outputs.first().cloned())
    };
    cats.into_iter()
        .map(|(cat, rows)| {
            let layers: Vec<String> = rows.iter().map(|&i| t.cell(i, c_name).to_string()).collect();
            let details: Vec<String> = rows
                .iter()
                .take(8)
                .map(|&i| {
                    let name = t.cell(i, c_name);
                    let msg = t.cell(i, c_msg);
                    let mut s = format!("`{name}`: {msg}");
                    if cat == "fixed" {
                        if let (Some(scale), Some((qmin, qmax))) = (
                            super::cells::first_number(msg),
                            out_dtype_of(name).and_then(|d| d.qrange()),
                        ) {
                            s.push_str(&format!(
                                " (with {} it represents [{:.6}, {:.6}], step {scale:.3e})",
                                out_dtype_of(name).map(|d| d.to_string()).unwrap_or_default(),
                                qmin as f64 * scale,
                                qmax as f64 * scale
                            ));
                        }
                    }
                    s
                })
                .collect();
            let listing = details.join("; ")
                + &if rows.len() > 8 {
                    format!("; and {} more", rows.len() - 8)
                } else {
                    String::new()
                };
            let (severity, why, fix) = match cat {
                "fixed" => (
                    Severity::Info,
                    "A fixed scale is set. It must cover the physical range of the input: values beyond qmax·scale are clipped.",
                    "Check each range above against what the tensor can physically hold (e.g. an input in [-100, 1] needs int16 with scale 100/32768). If the range is unknown, let an observer calibrate it instead.",
                ),
                "weight" => (
                    Severity::Warning,
                    "Weights are quantized to a dtype other than qint8. int16 weights are slower and are rarely needed.",
                    "Make sure this is intended; the sensitivity tables tell whether the weight really needs int16. Otherwise return these weights to qint8.",
                ),
                "mixed" => (
                    Severity::Warning,
                    "An op mixes dtypes that do not belong together (int8/int16 with float, or with qint32) between its inputs and output: usually a missing QuantStub, or a wrong qconfig on the op that feeds it.",
                    "Make all inputs and the output of these ops int8/int16 (or all float). Look at the op that feeds the odd input: a float input needs a QuantStub; a qint32 input comes from a wrongly configured qconfig upstream.",
                ),
                "no_activation" => (
                    Severity::Info,
                    "The activation qconfig is None: the output is not fake-quantized (high-precision output).",
                    "Expected for a model output feeding a DeQuantStub; anywhere else, give the op an activation qconfig.",
                ),
                _ => (
                    Severity::Info,
                    "The tool flags these qconfigs for review.",
                    "Check that each qconfig is what you meant.",
                ),
            };
            Finding {
                kind: kind::UNUSUAL_QCONFIG.into(),
                severity,
                layers,
                message: format!("{why} {listing}."),
                fix: fix.to_string(),
                score: 0.0,
                evidence: rows.iter().map(|&i| ev(t, i)).collect(),
                rank_reason: String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_prefixes() {
        assert_eq!(name_pattern("a.input_proj.12.0"), "a.input_proj.#.#");
        assert_eq!(
            common_prefix(&["a.b.c".into(), "a.b.d".into(), "a.b".into()]),
            "a.b"
        );
    }
}
