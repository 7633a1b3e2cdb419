//! Mixed-precision recommendation: Horizon's sensitivity setter reproduced exactly
//! (`get_sensitive_op_qconfig_setter`, horizon-formats.md §4.1), so the ops QuantLens lists are the
//! ops the toolchain will set to int16, and the Python snippet that makes it so.

use super::cells::DType;
use super::diagnose_report::FixedScale;
use super::sensitivity::SensitivityTable;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What to pick: exactly one of `ratio` (0 < r ≤ 1) or `topk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetterRequest {
    /// `activation`, `weight`, or `both`.
    pub sensitive_type: String,
    /// Rows whose current dtype is this one are switched (qint8 → int16).
    pub origin_dtype: DType,
    #[serde(default, with = "crate::engine::num::opt")]
    pub ratio: Option<f64>,
    pub topk: Option<usize>,
}

/// One op set to int16.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub name: String,
    pub sensitive_type: String,
    pub op_type: String,
    #[serde(default, with = "crate::engine::num::opt")]
    pub metric: Option<f64>,
    pub flops: Option<u64>,
    /// Share of the model's flops, in percent (6-column tables).
    #[serde(default, with = "crate::engine::num::opt")]
    pub flops_share: Option<f64>,
    /// Table label and row the pick comes from.
    pub table: String,
    pub row: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetterResult {
    /// `ceil(len(table) · ratio)` or the given topk: how many top rows were considered.
    pub topk: usize,
    pub picks: Vec<Pick>,
    /// The setter's own log line.
    pub log: String,
}

fn type_matches(want: &str, got: &str) -> bool {
    want == got || (want == "both" && (got == "activation" || got == "weight"))
}

/// Apply the setter to one table, exactly as `get_sensitive_op_qconfig_setter` does.
pub fn setter(t: &SensitivityTable, req: &SetterRequest) -> Result<SetterResult, String> {
    if !matches!(
        req.sensitive_type.as_str(),
        "activation" | "weight" | "both"
    ) {
        return Err(format!(
            "sensitive type must be activation, weight or both, not '{}'",
            req.sensitive_type
        ));
    }
    if t.rows.is_empty() {
        return Err(format!("the sensitivity table {} is empty", t.label()));
    }
    let n = t.rows.len();
    let topk = match (req.ratio, req.topk) {
        (Some(_), Some(_)) | (None, None) => return Err("give exactly one of ratio or topk".into()),
        (Some(r), None) => {
            if !(r > 0.0 && r <= 1.0) {
                return Err(format!("ratio must be in (0, 1], not {r}"));
            }
            // Python: math.ceil(len(table) * ratio), in float64.
            ((n as f64) * r).ceil() as usize
        }
        (None, Some(k)) => {
            if k == 0 {
                return Err("topk must be at least 1".into());
            }
            k
        }
    };
    let mut picks: Vec<Pick> = Vec::new();
    for (row, r) in t.rows.iter().enumerate().take(topk.min(n)) {
        // 6 columns: x[1] == type and x[4] == dtype; 5 columns: x[1] == type and x[-1] == dtype;
        // 4 columns: x[1] == type only.
        let dtype_ok = t.columns < 5 || r.quant_dtype.as_ref() == Some(&req.origin_dtype);
        if !type_matches(&req.sensitive_type, &r.sensitive_type) || !dtype_ok {
            continue;
        }
        if picks
            .iter()
            .any(|p| p.name == r.op_name && p.sensitive_type == r.sensitive_type)
        {
            continue;
        }
        picks.push(Pick {
            name: r.op_name.clone(),
            sensitive_type: r.sensitive_type.clone(),
            op_type: r.op_type.clone(),
            metric: r.value,
            flops: r.flops,
            flops_share: r.flops_pct,
            table: t.label(),
            row,
        });
    }
    let mut names: Vec<&str> = picks.iter().map(|p| p.name.as_str()).collect();
    names.dedup();
    let flops: u64 = dedup_flops(&picks).0;
    let pct: f64 = dedup_flops(&picks).1;
    // The setter's own log line; a table without flops (a four-column one) has none to count.
    let log = if !picks.is_empty() && picks.iter().all(|p| p.flops.is_none()) {
        format!(
            "{} ops will be set custom {} qconfig in top {} ops (the table gives no flops):",
            names.len(),
            req.sensitive_type,
            topk
        )
    } else {
        format!(
            "{} ops with {}({:.2}%) flops will be set custom {} qconfig in top {} ops:",
            names.len(),
            flops,
            pct,
            req.sensitive_type,
            topk
        )
    };
    Ok(SetterResult { topk, picks, log })
}

/// Flops of the distinct ops picked (an op picked for activation and weight counts once).
fn dedup_flops(picks: &[Pick]) -> (u64, f64) {
    let mut seen: Vec<&str> = Vec::new();
    let (mut f, mut p) = (0u64, 0f64);
    for pk in picks {
        if seen.contains(&pk.name.as_str()) {
            continue;
        }
        seen.push(&pk.name);
        f += pk.flops.unwrap_or(0);
        p += pk.flops_share.unwrap_or(0.0);
    }
    (f, p)
}

/// One setter per table, as a tuple of setters does: the union of the picks, in table order.
pub fn recommend(
    tables: &[&SensitivityTable],
    req: &SetterRequest,
) -> Result<(Vec<SetterResult>, Vec<Pick>), String> {
    let mut results = Vec::new();
    let mut union: Vec<Pick> = Vec::new();
    for t in tables {
        let r = setter(t, req)?;
        for p in &r.picks {
            if !union
                .iter()
                .any(|u| u.name == p.name && u.sensitive_type == p.sensitive_type)
            {
                union.push(p.clone());
            }
        }
        results.push(r);
    }
    Ok((results, union))
}

fn py_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The Python to paste into the calibration/QAT script: the setter call with the chosen ratio or
/// topk, and the explicit list of ops it will switch.
/// `fixed`: QuantStubs to pin to a fixed qint16 scale (the report's fixed_scale suggestions), written
/// as an explicit `{module_name: qconfig}` dict put first in the setter tuple.
pub fn snippet(
    table_files: &[String],
    req: &SetterRequest,
    picks: &[Pick],
    fixed: &[FixedScale],
) -> String {
    let arg = match (req.ratio, req.topk) {
        (Some(r), _) => format!("ratio={r}"),
        (_, Some(k)) => format!("topk={k}"),
        _ => String::new(),
    };
    let files = table_files
        .iter()
        .map(|f| {
            let pt = f
                .strip_suffix(".txt")
                .map(|s| format!("{s}.pt"))
                .unwrap_or_else(|| f.clone());
            format!("    torch.load({}),", py_str(&pt))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (flops, pct) = dedup_flops(picks);
    let mut s = String::new();
    s.push_str("import torch\n");
    let first = if fixed.is_empty() {
        ""
    } else {
        "ModuleNameQconfigSetter(module_name_qconfig),\n    "
    };
    if !fixed.is_empty() {
        // Import paths as the plugin's docs and sources show them (check them against your
        // version): a wrong path fails loudly at import, where a missing import fails later.
        s.push_str("from horizon_plugin_pytorch.dtype import qint16\nfrom horizon_plugin_pytorch.quantization import get_default_qconfig\nfrom horizon_plugin_pytorch.quantization.observer_v2 import FixedScaleObserver\nfrom horizon_plugin_pytorch.quantization.qconfig_template import ModuleNameQconfigSetter\n");
    }
    let mut dict_block = String::new();
    if !fixed.is_empty() {
        dict_block.push_str("# QuantStubs whose inputs have a physical range: a fixed qint16 scale (bound / 32768), by module name.\nmodule_name_qconfig = {\n");
        for f in fixed {
            dict_block.push_str(&format!(
                "    {}: get_default_qconfig(activation_qkwargs={{\"observer\": FixedScaleObserver, \"scale\": {} / 32768, \"dtype\": qint16}}),  # {}\n",
                py_str(&f.name),
                f.bound,
                if f.physical { "physical bound" } else { "observed range, rounded up: check the true bound" }
            ));
        }
        dict_block.push_str("}\n");
    }
    if arg.is_empty() {
        // Ratio 0 (or no choice): the setter would switch nothing. Say so, in Python that runs,
        // rather than a setter call with an empty argument.
        s.push_str("from horizon_plugin_pytorch.quantization.qconfig_template import default_calibration_qconfig_setter\n\n");
        s.push_str(&format!(
            "# QuantLens: ratio 0: no op goes to int16{}; every op keeps the default qconfig{}.\n",
            match req.sensitive_type.as_str() {
                "activation" => " activations",
                "weight" => " weights",
                _ => "",
            },
            if fixed.is_empty() {
                ""
            } else {
                " (but the QuantStubs below, pinned to a fixed qint16 scale)"
            }
        ));
        s.push_str(&dict_block);
        s.push_str(&format!(
            "calib_qconfig_setter = (\n    {first}default_calibration_qconfig_setter,\n)\n"
        ));
        s.push_str("# For QAT use default_qat_qconfig_setter.\n\nint16_ops = []\n");
        return s;
    }
    if req.sensitive_type == "activation" {
        s.push_str("from horizon_plugin_pytorch.quantization.qconfig_template import (\n    default_calibration_qconfig_setter,\n    sensitive_op_calibration_8bit_weight_16bit_act_qconfig_setter,\n)\n\n");
        s.push_str(&format!(
            "# QuantLens: the top rows ({arg}) of each sensitivity table go to int16 activations:\n# {} op(s){}.\n",
            picks.len(),
            // Only tables with a flops column say how much of the model that is.
            if picks.iter().any(|p| p.flops.is_some()) {
                format!(", {flops} flops ({pct:.2}% of the model)")
            } else {
                String::new()
            }
        ));
        s.push_str(&dict_block);
        s.push_str(&format!("sensitive_tables = [\n{files}\n]\n"));
        s.push_str(&format!(
            "calib_qconfig_setter = (\n    {first}*[sensitive_op_calibration_8bit_weight_16bit_act_qconfig_setter(t, {arg}) for t in sensitive_tables],\n    default_calibration_qconfig_setter,\n)\n"
        ));
        s.push_str("# For QAT use sensitive_op_qat_8bit_weight_16bit_act_qconfig_setter and default_qat_qconfig_setter.\n");
    } else {
        s.push_str("from horizon_plugin_pytorch.quantization.qconfig_template import get_sensitive_op_qconfig_setter\nfrom horizon_plugin_pytorch.dtype import qint8\n\n");
        s.push_str(&dict_block);
        s.push_str(&format!("sensitive_tables = [\n{files}\n]\n"));
        s.push_str(&format!(
            "# int16_qconfig: your qconfig for the switched {0} (e.g. a 16-bit {0} fake-quant qconfig).\nsetters = [get_sensitive_op_qconfig_setter({1}, qint8, int16_qconfig, t, {arg}) for t in sensitive_tables]\n{2}",
            req.sensitive_type,
            py_str(&req.sensitive_type),
            if fixed.is_empty() {
                ""
            } else {
                "setters = [ModuleNameQconfigSetter(module_name_qconfig), *setters]\n"
            }
        ));
    }
    s.push_str("\n# The same choice written out, most sensitive first (for ModuleNameQconfigSetter or review):\nint16_ops = [\n");
    for p in picks {
        s.push_str(&format!(
            "    {},  # {} {}{}\n",
            py_str(&p.name),
            p.sensitive_type,
            p.metric.map(|m| format!("{m}")).unwrap_or_default(),
            p.flops_share
                .map(|f| format!(", {f:.2}% flops"))
                .unwrap_or_default()
        ));
    }
    s.push_str("]\n");
    s
}

/// One point of the accuracy/cost trade-off: switching the top `topk` rows of every table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    pub topk: usize,
    /// The ratio that gives this topk on the largest table (ceil(len · ratio) = topk).
    #[serde(with = "crate::engine::num")]
    pub ratio: f64,
    pub ops: usize,
    /// Share of the tables' distinct ops switched to int16.
    #[serde(with = "crate::engine::num")]
    pub op_share: f64,
    /// Share of the model's flops switched (6-column tables; 0 when unknown).
    #[serde(with = "crate::engine::num")]
    pub flops_share: f64,
    /// Share of the model's activation bytes (int8) that become int16, i.e. the extra activation
    /// memory as a share of the int8 total (from the comparison table's shapes; 0 when unknown).
    #[serde(with = "crate::engine::num")]
    pub act_bytes_share: f64,
    /// Estimated remaining error: the single-op errors of the ops left in int8, as a share of all
    /// (an estimate: single-op errors do not add exactly).
    #[serde(with = "crate::engine::num")]
    pub remaining_error: f64,
    /// Measured by the model runner: the whole model's output error (L1 of output 0) with this
    /// point's int16 set, as a share of the all-int8 model's (`None`: not simulated).
    #[serde(default, with = "crate::engine::num::opt")]
    pub simulated_error: Option<f64>,
}

/// Each op's output element count from comparison tables (product of its shape), first row per name.
pub fn activation_elems(tables: &[&super::compare::CompareTable]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for t in tables {
        for r in &t.rows {
            if let Some(shape) = &r.shape {
                let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
                if let Some(n) = n {
                    out.entry(r.mod_name.clone()).or_insert(n);
                }
            }
        }
    }
    out
}

/// The shortest decimal ratio r with ceil(n · r) = k (any r in ((k−1)/n, k/n] selects the same rows).
pub fn nice_ratio(k: usize, n: usize) -> f64 {
    if n == 0 || k == 0 {
        return 0.0;
    }
    let (lo, hi) = ((k - 1) as f64 / n as f64, k as f64 / n as f64);
    for d in 1..=12 {
        let m = 10f64.powi(d);
        let r = ((lo * m).floor() + 1.0) / m;
        if r > lo && r <= hi && ((n as f64) * r).ceil() as usize == k {
            return r;
        }
    }
    hi
}

/// The sweep over topk and the knee (the point farthest from the line joining the ends).
/// `act_elems`: each op's output element count (from the comparison table's shapes; empty when no
/// comparison is loaded), for the activation-bytes axis.
pub fn pareto(
    tables: &[&SensitivityTable],
    sensitive_type: &str,
    act_elems: &HashMap<String, u64>,
) -> (Vec<ParetoPoint>, Option<usize>) {
    let act_total: u64 = act_elems.values().sum();
    let n = tables.iter().map(|t| t.rows.len()).max().unwrap_or(0);
    // Each table's values as an error (higher = worse): 1 − Cosine; SQNR (dB, higher = better) as
    // its noise-to-signal power 10^(−SQNR/10); L1, MSE, KL as they are.
    let err = |t: &SensitivityTable, v: f64| {
        if t.metric.eq_ignore_ascii_case("cosine") {
            (1.0 - v).max(0.0)
        } else if t.metric.eq_ignore_ascii_case("sqnr") {
            10f64.powf(-v / 10.0).min(1e12)
        } else {
            v.max(0.0)
        }
    };
    // Per table, so tables of different metrics (and scales) weigh the same.
    let totals: Vec<f64> = tables
        .iter()
        .map(|t| {
            t.rows
                .iter()
                .filter(|r| type_matches(sensitive_type, &r.sensitive_type))
                .filter_map(|r| r.value.map(|v| err(t, v)))
                .filter(|e| e.is_finite())
                .sum::<f64>()
        })
        .collect();
    let measured = totals.iter().filter(|t| **t > 0.0).count();
    let distinct: usize = {
        let mut names: Vec<&str> = tables
            .iter()
            .flat_map(|t| t.rows.iter().map(|r| r.op_name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names.len().max(1)
    };
    let mut pts = Vec::new();
    let steps: Vec<usize> = if n <= 200 {
        (0..=n).collect()
    } else {
        (0..=200).map(|i| i * n / 200).collect()
    };
    for k in steps {
        let mut picked: std::collections::HashSet<(&str, &str)> = Default::default();
        let mut ops: std::collections::HashSet<&str> = Default::default();
        let (mut flops, mut elems) = (0.0, 0u64);
        // The setter takes ceil(len · ratio) rows of *each* table: a shorter table gives fewer
        // rows at the same ratio (taking k rows of every table disagreed with the setter's list).
        let ratio = nice_ratio(k, n);
        for t in tables {
            let take = if k == 0 {
                0
            } else {
                ((t.rows.len() as f64) * ratio).ceil() as usize
            };
            for r in t.rows.iter().take(take) {
                if !type_matches(sensitive_type, &r.sensitive_type)
                    || (t.columns >= 5 && r.quant_dtype != Some(DType::QInt8))
                {
                    continue;
                }
                if !picked.insert((r.op_name.as_str(), r.sensitive_type.as_str())) {
                    continue;
                }
                if ops.insert(r.op_name.as_str()) {
                    flops += r.flops_pct.unwrap_or(0.0);
                    if r.sensitive_type != "weight" {
                        elems += act_elems.get(&r.op_name).copied().unwrap_or(0);
                    }
                }
            }
        }
        // An op switched by any table no longer errs in any table.
        let removed: Vec<f64> = tables
            .iter()
            .map(|t| {
                t.rows
                    .iter()
                    .filter(|r| picked.contains(&(r.op_name.as_str(), r.sensitive_type.as_str())))
                    .filter_map(|r| r.value.map(|v| err(t, v)))
                    .filter(|e| e.is_finite())
                    .sum::<f64>()
            })
            .collect();
        pts.push(ParetoPoint {
            topk: k,
            ratio: nice_ratio(k, n),
            ops: ops.len(),
            op_share: ops.len() as f64 / distinct as f64,
            flops_share: (flops / 100.0).min(1.0),
            act_bytes_share: if act_total > 0 {
                elems as f64 / act_total as f64
            } else {
                0.0
            },
            remaining_error: if measured > 0 {
                totals
                    .iter()
                    .zip(&removed)
                    .filter(|(t, _)| **t > 0.0)
                    .map(|(t, r)| ((t - r) / t).max(0.0))
                    .sum::<f64>()
                    / measured as f64
            } else {
                0.0
            },
            simulated_error: None,
        });
    }
    // Knee: farthest from the chord between the first and last points, in (op share, error) space.
    let knee = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) if pts.len() > 2 => {
            let (x0, y0, x1, y1) = (a.op_share, a.remaining_error, b.op_share, b.remaining_error);
            let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt().max(1e-12);
            (0..pts.len()).max_by(|&i, &j| {
                let d = |p: &ParetoPoint| {
                    ((y1 - y0) * p.op_share - (x1 - x0) * p.remaining_error + x1 * y0 - y1 * x0)
                        .abs()
                        / len
                };
                d(&pts[i]).total_cmp(&d(&pts[j]))
            })
        }
        _ => None,
    };
    // Nothing to switch (an all-int16 run, or no row of the chosen type): no knee to offer.
    if pts.iter().all(|p| p.ops == 0) {
        return (pts, None);
    }
    // Several ratios pick the same ops: the knee is the smallest of them.
    let knee = knee.map(|k| {
        (0..=k)
            .find(|&i| pts[i].ops == pts[k].ops && pts[i].remaining_error == pts[k].remaining_error)
            .unwrap_or(k)
    });
    (pts, knee)
}

/// The knee of a curve given as (x, y) points: the point farthest from the chord joining the ends.
pub fn knee_of(pts: &[(f64, f64)]) -> Option<usize> {
    let (&(x0, y0), &(x1, y1)) = (pts.first()?, pts.last()?);
    if pts.len() < 3 {
        return None;
    }
    let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt().max(1e-12);
    let d = |&(x, y): &(f64, f64)| ((y1 - y0) * x - (x1 - x0) * y + x1 * y0 - y1 * x0).abs() / len;
    (0..pts.len()).max_by(|&i, &j| d(&pts[i]).total_cmp(&d(&pts[j])))
}

/// Model Explorer per-node data (`GraphNodeData`): the sensitivity of each op keyed by node name,
/// with thresholds colouring the most sensitive red, so the ranking overlays the model graph.
pub fn model_explorer_json(t: &SensitivityTable) -> serde_json::Value {
    let top = t.rows.first().and_then(|r| r.value).unwrap_or(0.0).abs();
    let mut results = serde_json::Map::new();
    for r in &t.rows {
        if let Some(v) = r.value {
            results
                .entry(r.op_name.clone())
                .or_insert_with(|| serde_json::json!({"value": v}));
        }
    }
    let (lo, hi) = if t.ascending() {
        (top, 1.0)
    } else {
        (top * 0.1, top * 0.5)
    };
    serde_json::json!({
        "results": results,
        "thresholds": if t.ascending() {
            serde_json::json!([{"value": lo, "bgColor": "#d9534f"}, {"value": hi, "bgColor": "#ffffff"}])
        } else {
            serde_json::json!([{"value": lo, "bgColor": "#ffffff"}, {"value": hi, "bgColor": "#f0ad4e"}, {"value": top * 1.0001, "bgColor": "#d9534f"}])
        },
        "metric": t.metric,
        "output": t.output,
        "producer": "QuantLens",
    })
}

/// One op in a merged ranking of several sensitivity tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedOp {
    pub name: String,
    /// Σ over tables of weight × (this op's error / the table's top error).
    #[serde(with = "crate::engine::num")]
    pub score: f64,
    /// (table label, rank from 1, value) in each table that lists the op.
    pub per_table: Vec<(String, usize, Option<f64>)>,
}

/// Merge tables (one per model output and metric) into one ranking: each table's values are scaled
/// by its top value, so tables with different metrics and magnitudes weigh as the user says.
pub fn merged_ranking(tables: &[&SensitivityTable], weights: &[f64]) -> Vec<MergedOp> {
    let mut out: Vec<MergedOp> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for (ti, t) in tables.iter().enumerate() {
        let w = weights.get(ti).copied().unwrap_or(1.0).max(0.0);
        let err = |v: f64| {
            if t.ascending() {
                if t.metric.eq_ignore_ascii_case("cosine") {
                    (1.0 - v).max(0.0)
                } else {
                    0.0
                }
            } else {
                v.max(0.0)
            }
        };
        let top = t
            .rows
            .iter()
            .filter_map(|r| r.value.map(err))
            .fold(0.0, f64::max);
        let mut best: std::collections::HashMap<&str, (usize, Option<f64>, f64)> =
            Default::default();
        for (rank, r) in t.rows.iter().enumerate() {
            let share = if top > 0.0 {
                r.value.map(err).unwrap_or(0.0) / top
            } else {
                0.0
            };
            let e = best
                .entry(r.op_name.as_str())
                .or_insert((rank + 1, r.value, share));
            if share > e.2 {
                *e = (rank + 1, r.value, share);
            }
        }
        let mut names: Vec<&&str> = best.keys().collect();
        names.sort_by_key(|n| best[**n].0);
        for n in names {
            let (rank, value, share) = best[*n];
            let i = *index.entry(n.to_string()).or_insert_with(|| {
                out.push(MergedOp {
                    name: n.to_string(),
                    score: 0.0,
                    per_table: Vec::new(),
                });
                out.len() - 1
            });
            out[i].score += w * share;
            out[i].per_table.push((t.label(), rank, value));
        }
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}
