//! Pairing float and quantized tensors by name, comparing each pair in one streaming pass, and the
//! findings that the error split supports (truncation / rounding / inherited measured, not inferred).

use super::findings::{kind, Evidence, Finding, Severity};
use super::metrics::{Accumulator, PairMetrics, QuantSpec};
use super::quant::QDType;
use super::tensor::{ByteSource, ElemReader, ElemType, TensorEntry};
use serde::{Deserialize, Serialize};

/// Suffixes that name the same activation on the quantized side (ONNX Runtime QDQ models and its
/// `qdq_loss_debug` dumps, common dump conventions). Stripped, longest first, to pair names.
pub const NAME_SUFFIXES: &[&str] = &[
    "_DequantizeLinear_Output_1",
    "_QuantizeLinear_Output",
    "_QuantizeLinear_Input",
    "_DequantizeLinear_Output",
    "_QuantizeLinear",
    "_DequantizeLinear",
    "_dequantized",
    "_quantized",
    "_fake_quant",
    "_quant",
    "_dequant",
    "_qdq",
];

/// The name with one known quantization suffix removed (and a trailing `.npy` of npz members).
pub fn normalize(name: &str) -> String {
    let n = name.trim_end_matches(".npy");
    for s in NAME_SUFFIXES {
        if let Some(base) = n.strip_suffix(s) {
            return base.to_string();
        }
    }
    n.to_string()
}

/// A tensor and the file it lives in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Located {
    pub file: usize,
    pub entry: TensorEntry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub name: String,
    pub float: Located,
    pub quant: Located,
    /// `exact` or `normalized` (after stripping a known suffix) or `manual`.
    pub matched_by: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pairing {
    pub pairs: Vec<Pair>,
    pub unpaired_float: Vec<String>,
    pub unpaired_quant: Vec<String>,
}

/// Pair by exact name, then by normalized name; everything else is listed, never dropped.
pub fn pair(float: &[Located], quant: &[Located]) -> Pairing {
    let mut used_q = vec![false; quant.len()];
    let mut out = Pairing::default();
    let mut pending = Vec::new();
    for f in float {
        match quant
            .iter()
            .enumerate()
            .find(|(i, q)| !used_q[*i] && q.entry.name == f.entry.name)
        {
            Some((i, q)) => {
                used_q[i] = true;
                out.pairs.push(Pair {
                    name: f.entry.name.clone(),
                    float: f.clone(),
                    quant: q.clone(),
                    matched_by: "exact".into(),
                });
            }
            None => pending.push(f),
        }
    }
    for f in pending {
        let nf = normalize(&f.entry.name);
        match quant
            .iter()
            .enumerate()
            .find(|(i, q)| !used_q[*i] && normalize(&q.entry.name) == nf)
        {
            Some((i, q)) => {
                used_q[i] = true;
                out.pairs.push(Pair {
                    name: nf,
                    float: f.clone(),
                    quant: q.clone(),
                    matched_by: "normalized".into(),
                });
            }
            None => out.unpaired_float.push(f.entry.name.clone()),
        }
    }
    out.unpaired_quant = quant
        .iter()
        .enumerate()
        .filter(|(i, _)| !used_q[*i])
        .map(|(_, q)| q.entry.name.clone())
        .collect();
    out
}

/// The quantizer of the quantized side: from the given scale, and the dtype from the quantized
/// tensor's integer type, or else from its values (≤ 128 steps from 0 → int8, else int16).
pub fn quant_spec(
    quant: &TensorEntry,
    scale: Option<f64>,
    dtype: Option<&str>,
    analy_absmax: f64,
) -> Option<QuantSpec> {
    let s = scale
        .or(quant.scale)
        .filter(|s| *s > 0.0 && s.is_finite())?;
    Some(match (dtype, quant.elem) {
        (Some("int16") | Some("qint16"), _) | (None, ElemType::I16) => QuantSpec::int16(s),
        (Some("int8") | Some("qint8"), _) | (None, ElemType::I8) => QuantSpec::int8(s),
        (Some("uint8") | Some("quint8"), _) | (None, ElemType::U8) => QuantSpec {
            scale: s,
            qmin: 0,
            qmax: 255,
        },
        _ if analy_absmax / s <= 128.5 => QuantSpec::int8(s),
        _ => QuantSpec::int16(s),
    })
}

/// Elements per slice while streaming a pair.
pub const CHUNK_ELEMS: usize = 1 << 18;

/// Compare one pair, streaming both tensors in lockstep. `progress(done_bytes)` is called per slice.
/// Integer quantized dumps are dequantized with the scale (required for them).
pub fn compare_pair<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    scale: Option<f64>,
    dtype: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> Result<PairMetrics, String> {
    if fe.shape != qe.shape {
        return Err(format!(
            "shape mismatch: float {:?} vs quantized {:?}",
            fe.shape, qe.shape
        ));
    }
    if fe.fortran != qe.fortran && fe.shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err("one tensor is in Fortran order and the other in C order: not compared (the elements would not line up)".into());
    }
    let scale = scale.or(qe.scale);
    if qe.is_raw_int() && scale.is_none() && !fe.is_raw_int() {
        return Err(format!(
            "the quantized tensor holds raw {} values: give its scale (--scale {}=S) to dequantize it",
            qe.elem.name(),
            qe.name
        ));
    }
    // The dtype inference needs the quantized side's range: read it first only when it matters.
    let absmax = if scale.is_some() && dtype.is_none() && !qe.is_raw_int() {
        let mut r = ElemReader::new(qsrc, qe);
        let mut buf = Vec::new();
        let mut m = 0f32;
        while r
            .next_chunk(&mut buf, CHUNK_ELEMS)
            .map_err(|e| e.to_string())?
            > 0
        {
            m = buf
                .iter()
                .fold(m, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
        }
        m as f64
    } else {
        0.0
    };
    let spec = quant_spec(qe, scale, dtype, absmax);
    let deq = if qe.is_raw_int() {
        scale.map(|s| s as f32)
    } else {
        None
    };
    let mut acc = Accumulator::new(&fe.shape, fe.fortran, spec, true);
    let mut fr = ElemReader::new(fsrc, fe);
    let mut qr = ElemReader::new(qsrc, qe);
    let (mut bf, mut qf) = (Vec::new(), Vec::new());
    loop {
        let n = fr
            .next_chunk(&mut bf, CHUNK_ELEMS)
            .map_err(|e| format!("float side: {e}"))?;
        let m = qr
            .next_chunk(&mut qf, CHUNK_ELEMS)
            .map_err(|e| format!("quantized side: {e}"))?;
        if n != m {
            return Err("the two tensors ended at different places (truncated file?)".into());
        }
        if n == 0 {
            break;
        }
        if let Some(s) = deq {
            qf.iter_mut().for_each(|v| *v *= s);
        }
        acc.update(&bf, &qf);
        progress(fr.done_bytes() + qr.done_bytes());
    }
    let mut m = acc.finish();
    // KL of tensors with more softmax groups than the single pass keeps: windowed, bounded memory.
    if super::metrics::kl_layout(&fe.shape, fe.fortran).2 > super::metrics::KL_MAX_GROUPS {
        let raw = matches!(fe.data, super::tensor::DataRef::Raw { .. })
            && matches!(qe.data, super::tensor::DataRef::Raw { .. });
        m.kl = if raw {
            super::metrics::kl_windowed(&fe.shape, fe.fortran, &mut |start, n, b, a| {
                super::tensor::read_range(fsrc, fe, start, n, b)
                    .map_err(|e| format!("float side: {e}"))?;
                super::tensor::read_range(qsrc, qe, start, n, a)
                    .map_err(|e| format!("quantized side: {e}"))?;
                if let Some(s) = deq {
                    a.iter_mut().for_each(|v| *v *= s);
                }
                Ok(())
            })?
        } else {
            f64::NAN
        };
    }
    // Second pass: histograms over the ranges the first pass found (skipped for huge tensors).
    if fe.numel() <= HIST_MAX_ELEMS {
        if let Some(mut h) = super::metrics::HistAccumulator::new(&m) {
            let mut fr = ElemReader::new(fsrc, fe);
            let mut qr = ElemReader::new(qsrc, qe);
            loop {
                let n = fr
                    .next_chunk(&mut bf, CHUNK_ELEMS)
                    .map_err(|e| format!("float side: {e}"))?;
                let k = qr
                    .next_chunk(&mut qf, CHUNK_ELEMS)
                    .map_err(|e| format!("quantized side: {e}"))?;
                if n == 0 || n != k {
                    break;
                }
                if let Some(s) = deq {
                    qf.iter_mut().for_each(|v| *v *= s);
                }
                h.update(&bf, &qf);
            }
            m.observer_scales = h.observer_scales();
            let (hist, local) = h.finish();
            m.hist = Some(hist);
            m.local = Some(local);
        }
    }
    // Group-split what-if on small float tensors (the whole tensor is read; bounded by the limit).
    if fe.numel() >= 2 && fe.numel() <= GROUPS_MAX_ELEMS {
        let mut x = Vec::with_capacity(fe.numel() as usize);
        let mut fr = ElemReader::new(fsrc, fe);
        while fr
            .next_chunk(&mut bf, CHUNK_ELEMS)
            .map_err(|e| format!("float side: {e}"))?
            > 0
        {
            x.extend_from_slice(&bf);
        }
        let shape: Vec<usize> = fe.shape.iter().map(|&d| d as usize).collect();
        for dt in [QDType::Int8, QDType::Int16] {
            // Fortran-order dumps would need the axis mirrored: only C order here.
            if !fe.fortran {
                for axis in (0..shape.len().min(2)).filter(|&a| shape[a] > 1) {
                    if let Ok((mse, sqnr_db)) =
                        super::quant::per_channel_minmax_error(&x, &shape, axis, dt)
                    {
                        let amax = x
                            .iter()
                            .filter(|v| v.is_finite())
                            .fold(0f32, |m, v| m.max(v.abs()));
                        let t = super::quant::quant_error(
                            &x,
                            super::quant::symmetric_scale(amax as f64, dt),
                            dt,
                        );
                        m.channels.push(super::metrics::ChannelWhatIf {
                            dtype: dt.name().to_string(),
                            axis,
                            channels: shape[axis],
                            per_channel_mse: mse,
                            per_channel_sqnr_db: sqnr_db,
                            per_tensor_mse: t.mse,
                            per_tensor_sqnr_db: t.sqnr_db,
                        });
                    }
                }
            }
            for k in [1, 2, 4] {
                m.groups.push(super::metrics::GroupWhatIf {
                    dtype: dt.name().to_string(),
                    k,
                    split: super::quant::best_split(&x, k, dt),
                });
            }
        }
    }
    Ok(m)
}

/// The group-split what-if runs on float tensors up to this many elements (its cost is about 700
/// element operations per element: 64 candidate cuts, every segment between two of them).
pub const GROUPS_MAX_ELEMS: u64 = 1 << 16;

/// Histograms are computed (a second read of both tensors) up to this many elements.
pub const HIST_MAX_ELEMS: u64 = 64 << 20;

/// Findings a measured error split supports, one per pair that matters.
pub fn pair_findings(name: &str, row: usize, m: &PairMetrics) -> Vec<Finding> {
    let Some(sp) = m.error_split else {
        return Vec::new();
    };
    let total = sp.clip + sp.round + sp.inherited;
    let notable = m.cosine < 0.999 || m.sqnr_db < 30.0;
    if total <= 0.0 || !notable {
        return Vec::new();
    }
    let pct = |x: f64| x / total * 100.0;
    let ev = vec![Evidence {
        table: "pairs".into(),
        row,
        line: 0,
        file: None,
    }];
    let share = format!(
        "Of the error energy Σ(b−a)² = {total:.4e}: clipping {:.1}%, own rounding {:.1}%, inherited {:.1}% ({:.3}% of the elements clipped; Cosine {:.6}, SQNR {:.2} dB).",
        pct(sp.clip),
        pct(sp.round),
        pct(sp.inherited),
        sp.clipped_fraction * 100.0,
        m.cosine,
        m.sqnr_db
    );
    let (k, sev, fix) = if sp.clip >= sp.round && sp.clip >= sp.inherited {
        (
            kind::TRUNCATION,
            Severity::Error,
            format!("The scale does not cover the float values of `{name}` (float range [{:.4}, {:.4}]): use a scale whose qmax·scale reaches the range, better calibration data or method, or int16.", m.base_min, m.base_max),
        )
    } else if sp.round >= sp.inherited {
        (
            kind::ROUNDING,
            Severity::Warning,
            format!("The step is too coarse for `{name}`'s values: use int16, or split the tensor into groups of similar magnitude with their own scales."),
        )
    } else {
        (
            kind::INHERITED,
            Severity::Warning,
            format!("Most of `{name}`'s error arrives from upstream: fix the layers before it first (look for the first pair whose own clipping or rounding dominates)."),
        )
    };
    vec![Finding {
        kind: k.into(),
        severity: sev,
        layers: vec![name.to_string()],
        message: format!("`{name}` (measured from the dumps): {share}"),
        fix,
        evidence: ev,
        score: 50.0 + (1.0 - m.cosine.clamp(0.0, 1.0)) * 100.0,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ort_qdq_names_pair() {
        assert_eq!(
            normalize("conv1_output_QuantizeLinear_Output"),
            "conv1_output"
        );
        assert_eq!(normalize("x.npy"), "x");
        assert_eq!(normalize("relu_1"), "relu_1");
    }
}

/// Which side of the comparison a tensor file is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Float,
    Quant,
}

/// Guess a file's side from its path: `float`, `fp32`, `baseline`… vs `quant`, `qdq`, `int8`, `calib`…
/// (the quantized words win when both appear, e.g. `float_vs_quant/quant/x.npy`).
pub fn guess_side(path: &str) -> Option<Side> {
    let p = path.to_ascii_lowercase();
    let words: Vec<&str> = p
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| {
        words
            .iter()
            .rev()
            .find_map(|w| list.iter().find(|k| w.starts_with(*k)).map(|_| *w))
    };
    let quant = has(&[
        "quant",
        "qdq",
        "int8",
        "int16",
        "calib",
        "qat",
        "analysis",
        "analy",
        "fakequant",
        "fq",
    ]);
    let float = has(&[
        "float", "fp32", "fp16", "baseline", "base", "ref", "orig", "gt",
    ]);
    match (float, quant) {
        (_, Some(_)) => Some(Side::Quant),
        (Some(_), None) => Some(Side::Float),
        _ => None,
    }
}

/// One compared pair, for the UI and the findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResult {
    pub name: String,
    /// Indices into `Analysis::files`.
    pub float_file: usize,
    pub quant_file: usize,
    pub float_tensor: String,
    pub quant_tensor: String,
    pub shape: Vec<u64>,
    pub matched_by: String,
    pub scale: Option<f64>,
    pub metrics: Option<PairMetrics>,
    /// Why the pair was not compared (shape mismatch, missing scale, truncated file…).
    pub error: Option<String>,
}

/// Progress of a batch compare: bytes read so far, bytes in all, and the pair being compared.
pub type CompareProgress<'p> = &'p mut dyn FnMut(u64, u64, &str);

/// All tensor pairs of a session and what could not be paired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorComparison {
    pub pairs: Vec<PairResult>,
    pub unpaired_float: Vec<String>,
    pub unpaired_quant: Vec<String>,
}

/// Pair the tensors of the float-side and quant-side files and compare every pair, streaming.
/// `files[i]` lists file i's tensors and its side; `sources[i]` reads its bytes; `scales` by pair
/// name (or `*`). `progress(pair index, pairs)` is called before each pair.
pub fn compare_files(
    files: &[(Vec<TensorEntry>, Option<Side>)],
    sources: &mut [Box<dyn ByteSource + '_>],
    scales: &std::collections::HashMap<String, f64>,
    manual: &[(String, String)],
    progress: CompareProgress,
) -> TensorComparison {
    let side_list = |want: Side| -> Vec<Located> {
        files
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| *s == Some(want))
            .flat_map(|(i, (entries, _))| {
                entries.iter().map(move |e| Located {
                    file: i,
                    entry: e.clone(),
                })
            })
            .collect()
    };
    let (mut fl, mut ql) = (side_list(Side::Float), side_list(Side::Quant));
    // Pairs made by hand come first; their tensors are then out of the automatic pairing.
    let mut manual_pairs = Vec::new();
    for (f, q) in manual {
        if let (Some(i), Some(j)) = (
            fl.iter().position(|x| x.entry.name == *f),
            ql.iter().position(|x| x.entry.name == *q),
        ) {
            let (a, b) = (fl.remove(i), ql.remove(j));
            manual_pairs.push(Pair {
                name: a.entry.name.clone(),
                float: a,
                quant: b,
                matched_by: "manual".into(),
            });
        }
    }
    let mut pairing = pair(&fl, &ql);
    pairing.pairs.splice(0..0, manual_pairs);
    if pairing.pairs.is_empty() && fl.len() == 1 && ql.len() == 1 {
        pairing = Pairing {
            pairs: vec![Pair {
                name: fl[0].entry.name.clone(),
                float: fl[0].clone(),
                quant: ql[0].clone(),
                matched_by: "only tensor on each side".into(),
            }],
            ..Default::default()
        };
    }
    let bytes = |p: &Pair| {
        p.float.entry.numel() * p.float.entry.elem.size_bytes() as u64
            + p.quant.entry.numel() * p.quant.entry.elem.size_bytes() as u64
    };
    let total: u64 = pairing.pairs.iter().map(bytes).sum();
    let mut done = 0u64;
    let mut out = TensorComparison {
        pairs: Vec::with_capacity(pairing.pairs.len()),
        unpaired_float: pairing.unpaired_float.clone(),
        unpaired_quant: pairing.unpaired_quant.clone(),
    };
    for p in pairing.pairs.iter() {
        let scale = scales
            .get(&p.name)
            .or_else(|| scales.get(&p.quant.entry.name))
            .or_else(|| scales.get("*"))
            .copied()
            .or(p.quant.entry.scale);
        let (fi, qi) = (p.float.file, p.quant.file);
        let result = if fi == qi {
            Err("both tensors are in the same file: assign the file to one side".to_string())
        } else {
            // Two distinct sources borrowed at once.
            let (a, b) = if fi < qi {
                let (l, r) = sources.split_at_mut(qi);
                (&mut l[fi], &mut r[0])
            } else {
                let (l, r) = sources.split_at_mut(fi);
                (&mut r[0], &mut l[qi])
            };
            let label = p.name.clone();
            compare_pair(
                a.as_mut(),
                &p.float.entry,
                b.as_mut(),
                &p.quant.entry,
                scale,
                None,
                &mut |d| progress(done + d, total, &label),
            )
        };
        done += bytes(p);
        let (metrics, error) = match result {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e)),
        };
        out.pairs.push(PairResult {
            name: p.name.clone(),
            float_file: fi,
            quant_file: qi,
            float_tensor: p.float.entry.name.clone(),
            quant_tensor: p.quant.entry.name.clone(),
            shape: p.float.entry.shape.clone(),
            matched_by: p.matched_by.clone(),
            scale,
            metrics,
            error,
        });
    }
    out
}

impl ByteSource for Box<dyn ByteSource + '_> {
    fn size(&self) -> u64 {
        self.as_ref().size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.as_mut().read_at(offset, buf)
    }
}

#[cfg(test)]
mod side_tests {
    use super::*;

    #[test]
    fn sides_from_paths() {
        assert_eq!(guess_side("dumps/float/conv1.npy"), Some(Side::Float));
        assert_eq!(guess_side("dumps/qdq/conv1.npy"), Some(Side::Quant));
        assert_eq!(guess_side("model_fp32.npz"), Some(Side::Float));
        assert_eq!(guess_side("calib_model/op.npy"), Some(Side::Quant));
        assert_eq!(guess_side("x.npy"), None);
    }
}
