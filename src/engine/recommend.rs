//! Mixed-precision recommendation: Horizon's sensitivity setter reproduced exactly
//! (`get_sensitive_op_qconfig_setter`, horizon-formats.md §4.1), so the ops QuantLens lists are the
//! ops the toolchain will set to int16, and the Python snippet that makes it so.

use super::cells::DType;
use super::sensitivity::SensitivityTable;
use serde::{Deserialize, Serialize};

/// What to pick: exactly one of `ratio` (0 < r ≤ 1) or `topk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetterRequest {
    /// `activation`, `weight`, or `both`.
    pub sensitive_type: String,
    /// Rows whose current dtype is this one are switched (qint8 → int16).
    pub origin_dtype: DType,
    pub ratio: Option<f64>,
    pub topk: Option<usize>,
}

/// One op set to int16.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub name: String,
    pub sensitive_type: String,
    pub op_type: String,
    pub metric: Option<f64>,
    pub flops: Option<u64>,
    /// Share of the model's flops, in percent (6-column tables).
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
    let log = format!(
        "{} ops with {}({:.2}%) flops will be set custom {} qconfig in top {} ops:",
        names.len(),
        flops,
        pct,
        req.sensitive_type,
        topk
    );
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
pub fn snippet(table_files: &[String], req: &SetterRequest, picks: &[Pick]) -> String {
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
    if req.sensitive_type == "activation" {
        s.push_str("from horizon_plugin_pytorch.quantization.qconfig_template import (\n    default_calibration_qconfig_setter,\n    sensitive_op_calibration_8bit_weight_16bit_act_qconfig_setter,\n)\n\n");
        s.push_str(&format!(
            "# QuantLens: the top rows ({arg}) of each sensitivity table go to int16 activations:\n# {} op(s), {flops} flops ({pct:.2}% of the model).\n",
            picks.len()
        ));
        s.push_str(&format!("sensitive_tables = [\n{files}\n]\n"));
        s.push_str(&format!(
            "calib_qconfig_setter = (\n    *[sensitive_op_calibration_8bit_weight_16bit_act_qconfig_setter(t, {arg}) for t in sensitive_tables],\n    default_calibration_qconfig_setter,\n)\n"
        ));
        s.push_str("# For QAT use sensitive_op_qat_8bit_weight_16bit_act_qconfig_setter and default_qat_qconfig_setter.\n");
    } else {
        s.push_str("from horizon_plugin_pytorch.quantization.qconfig_template import get_sensitive_op_qconfig_setter\nfrom horizon_plugin_pytorch.dtype import qint8\n\n");
        s.push_str(&format!("sensitive_tables = [\n{files}\n]\n"));
        s.push_str(&format!(
            "# int16_qconfig: your qconfig for the switched {0} (e.g. a 16-bit {0} fake-quant qconfig).\nsetters = [get_sensitive_op_qconfig_setter({1}, qint8, int16_qconfig, t, {arg}) for t in sensitive_tables]\n",
            req.sensitive_type,
            py_str(&req.sensitive_type)
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
