//! Pairing float and quantized tensors by name, comparing each pair in one streaming pass, and the
//! findings that the error split supports (truncation / rounding / inherited measured, not inferred).

use super::findings::{kind, Evidence, Finding, Severity};
use super::metrics::{Accumulator, ErrorSplit, PairMetrics, QuantSpec};
use super::tensor::{ByteSource, ElemReader, ElemType, TensorEntry};
use serde::{Deserialize, Serialize};

/// Suffixes that name the same activation on either side (ONNX Runtime QDQ models and its
/// `qdq_loss_debug` dumps, common dump conventions such as `conv1_float` / `conv1_int8`).
/// Stripped, the first that matches, to pair names.
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
    "_int16",
    "_int8",
    // The float side's own words (`conv1_float.npy` beside `conv1_quant.npy`).
    "_baseline",
    "_float32",
    "_float",
    "_fp32",
    "_fp16",
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

/// The name as a user's file name may spell it: every run of characters other than letters and
/// digits as one `_`, none at the ends (`det/backbone/conv_1:0` and `det__backbone__conv_1_0`
/// both give `det_backbone_conv_1_0`). A fallback for finding a scale, never for pairing.
pub fn loose_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    if out.ends_with('_') {
        out.pop();
    }
    out
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
    /// Quantized-side tensors that are ONNX Runtime's value *before* a QuantizeLinear (`X`, or
    /// `X_QuantizeLinear_Input`, beside `X_DequantizeLinear_Output`) of a tensor whose
    /// DequantizeLinear output was paired: left out on purpose, not unpaired.
    #[serde(default)]
    pub pre_qdq: Vec<String>,
}

/// ONNX Runtime's name of the value a QDQ pair gives the next node (`X_DequantizeLinear_Output`).
const DQ_OUTPUT: &str = "_DequantizeLinear_Output";

/// How well a quantized tensor's name stands for the quantized model's value of an activation,
/// lower first: ORT's DequantizeLinear output (what the next layer reads, and what
/// `qdq_loss_debug` compares with the float model), then other names, and last the value
/// before the QuantizeLinear (`_QuantizeLinear_Input`: the error of this tensor's own
/// quantization is not in it yet).
fn qdq_rank(quant_name: &str) -> u8 {
    let n = quant_name.trim_end_matches(".npy");
    if n.ends_with(DQ_OUTPUT) {
        0
    } else if n.ends_with("_DequantizeLinear_Output_1") {
        1
    } else if n.ends_with("_QuantizeLinear_Input") {
        3
    } else {
        2
    }
}

/// Pair by exact name, then by normalized name; everything else is listed, never dropped.
pub fn pair(float: &[Located], quant: &[Located]) -> Pairing {
    pair_within(float, quant, &|_, _| true)
}

/// [`pair`], preferring for each float tensor a quantized one whose file `same_run(float file,
/// quant file)` says belongs with it (two runs loaded together share every tensor name).
pub fn pair_within(
    float: &[Located],
    quant: &[Located],
    same_run: &dyn Fn(usize, usize) -> bool,
) -> Pairing {
    let mut used_q = vec![false; quant.len()];
    let mut out = Pairing::default();
    // A QDQ model's dump holds an activation twice: `X` before its QuantizeLinear and
    // `X_DequantizeLinear_Output` after its DequantizeLinear. The float `X` is compared with the
    // second (ORT's `create_activation_matching` does the same), before any exact name.
    let mut by_name: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    for (i, q) in quant.iter().enumerate() {
        by_name.entry(q.entry.name.as_str()).or_default().push(i);
    }
    let mut float_rest = Vec::new();
    let mut dq_bases: std::collections::HashSet<&str> = Default::default();
    for f in float {
        let base = f.entry.name.trim_end_matches(".npy");
        let dq = format!("{base}{DQ_OUTPUT}");
        let cands = [dq.clone(), format!("{dq}.npy")];
        let list: Vec<usize> = cands
            .iter()
            .filter_map(|n| by_name.get(n.as_str()))
            .flatten()
            .copied()
            .filter(|&i| !used_q[i])
            .collect();
        let pick = list
            .iter()
            .copied()
            .find(|&i| same_run(f.file, quant[i].file))
            .or_else(|| list.first().copied());
        match pick {
            Some(i) => {
                used_q[i] = true;
                dq_bases.insert(base);
                out.pairs.push(Pair {
                    name: f.entry.name.clone(),
                    float: f.clone(),
                    quant: quant[i].clone(),
                    matched_by: "as its DequantizeLinear output".into(),
                });
            }
            None => float_rest.push(f),
        }
    }
    let mut pending = Vec::new();
    for f in float_rest {
        let hit = |i: &usize, q: &&Located| !used_q[*i] && q.entry.name == f.entry.name;
        match quant
            .iter()
            .enumerate()
            .find(|(i, q)| hit(i, q) && same_run(f.file, q.file))
            .or_else(|| quant.iter().enumerate().find(|(i, q)| hit(i, q)))
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
        let hit = |i: &usize, q: &&Located| !used_q[*i] && normalize(&q.entry.name) == nf;
        // Of the names that strip to the same, the DequantizeLinear output first (`qdq_rank`).
        let best = |same: bool| {
            quant
                .iter()
                .enumerate()
                .filter(|(i, q)| hit(i, q) && (!same || same_run(f.file, q.file)))
                .min_by_key(|(_, q)| qdq_rank(&q.entry.name))
        };
        match best(true).or_else(|| best(false)) {
            Some((i, q)) => {
                used_q[i] = true;
                if let Some(base) = q
                    .entry
                    .name
                    .trim_end_matches(".npy")
                    .strip_suffix(DQ_OUTPUT)
                {
                    dq_bases.insert(base);
                }
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
    // What is left of the quantized side: the values before a QuantizeLinear whose
    // DequantizeLinear output was compared are set apart from the tensors with no counterpart.
    for (i, q) in quant.iter().enumerate() {
        if used_q[i] {
            continue;
        }
        let n = q.entry.name.trim_end_matches(".npy");
        let base = n.strip_suffix("_QuantizeLinear_Input").unwrap_or(n);
        if dq_bases.contains(base) {
            out.pre_qdq.push(q.entry.name.clone());
        } else {
            out.unpaired_quant.push(q.entry.name.clone());
        }
    }
    out
}

/// The name under which a scale typed in one pair's row is kept (`TensorSettings::scales`): the
/// pair's name, prefixed by its run when several runs are loaded (`[int8 run] conv1`), so that a
/// scale typed for one run's pair does not change the other runs' pairs of the same name.
pub fn run_scale_key(run: &str, pair: &str) -> String {
    if run.is_empty() {
        pair.to_string()
    } else {
        format!("[{run}] {pair}")
    }
}

/// [`pair_within`] once per run of the quantized side, so that one float dump compared with two
/// quantized runs (`fp32 dumps/`, `int8 run/`, `int16 run/`) pairs every float tensor in each run.
/// A run's own float tensors are offered to it first (two complete runs pair within themselves);
/// float tensors of other runs only for what is left (a float dump shared by the runs). A float
/// tensor is unpaired only when no run paired it.
pub fn pair_each_run<'a>(
    float: &[Located],
    quant: &[Located],
    run_of: &dyn Fn(usize) -> &'a str,
) -> Pairing {
    let same_run = |a: usize, b: usize| run_of(a) == run_of(b);
    let mut runs: Vec<&str> = Vec::new();
    for q in quant {
        let r = run_of(q.file);
        if !runs.contains(&r) {
            runs.push(r);
        }
    }
    if runs.len() <= 1 {
        return pair_within(float, quant, &same_run);
    }
    let index: std::collections::HashMap<(usize, &str), usize> = float
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.file, f.entry.name.as_str()), i))
        .collect();
    let mut used_float = vec![false; float.len()];
    let mut out = Pairing::default();
    for r in runs {
        let q: Vec<Located> = quant
            .iter()
            .filter(|q| run_of(q.file) == r)
            .cloned()
            .collect();
        // Stable: this run's float tensors first, then those of the runs nearest to it (a float
        // dump beside `exp1/int8 run/` before one in `exp2/`), each group in file order.
        let mut fl: Vec<Located> = float.to_vec();
        fl.sort_by_key(|f| std::cmp::Reverse(run_affinity(run_of(f.file), r)));
        let p = pair_within(&fl, &q, &same_run);
        for pr in &p.pairs {
            if let Some(&i) = index.get(&(pr.float.file, pr.float.entry.name.as_str())) {
                used_float[i] = true;
            }
        }
        out.pairs.extend(p.pairs);
        out.unpaired_quant.extend(p.unpaired_quant);
        out.pre_qdq.extend(p.pre_qdq);
    }
    out.unpaired_float = float
        .iter()
        .zip(&used_float)
        .filter(|(_, &used)| !used)
        .map(|(f, _)| f.entry.name.clone())
        .collect();
    out
}

/// How near the run `a` is to the run `b` (`document::run_keys`): `usize::MAX` for the same run,
/// else the number of folders their keys share from the start (`exp1` and `exp1/int8 run`: 1).
fn run_affinity(a: &str, b: &str) -> usize {
    if a == b {
        return usize::MAX;
    }
    a.split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| !x.is_empty() && x == y)
        .count()
}

/// The quantizer of the quantized side: from the given scale, and the dtype from the quantized
/// tensor's integer type, or else from its zero point (one only an unsigned grid holds: 128–255 →
/// uint8 when the values fit it, over 32,767 → uint16), or else from its values (≤ 128 steps from 0
/// → int8, else int16). A zero point z (asymmetric quantization: `clamp(round(x/s) + z, qmin,
/// qmax) − z`, ONNX Runtime's uint8 and uint16 activations) moves the integer range to
/// `qmin − z … qmax − z`, the same values.
pub fn quant_spec(
    quant: &TensorEntry,
    scale: Option<f64>,
    dtype: Option<&str>,
    zero_point: i64,
    analy_absmax: f64,
) -> Option<QuantSpec> {
    let s = scale
        .or(quant.scale)
        .filter(|s| *s > 0.0 && s.is_finite())?;
    let uint8 = QuantSpec {
        scale: s,
        qmin: 0,
        qmax: 255,
        zero_point: 0,
    };
    let uint16 = QuantSpec {
        qmax: 65535,
        ..uint8
    };
    let spec = match (dtype, quant.elem) {
        // A raw 8-bit dump holds 8-bit values: a wider dtype typed for it cannot apply (its range
        // would hide clipping the data shows at ±127 steps).
        (Some("int16") | Some("qint16"), ElemType::I8) => QuantSpec::int8(s),
        (Some("int16") | Some("qint16") | Some("int8") | Some("qint8"), ElemType::U8) => uint8,
        (Some("int16") | Some("qint16"), _) | (None, ElemType::I16) => QuantSpec::int16(s),
        (Some("int4") | Some("qint4"), _) => QuantSpec {
            scale: s,
            qmin: -8,
            qmax: 7,
            zero_point: 0,
        },
        (Some("int8") | Some("qint8"), _) | (None, ElemType::I8) => QuantSpec::int8(s),
        (Some("uint8") | Some("quint8"), _) | (None, ElemType::U8) => uint8,
        (Some("uint16") | Some("quint16"), _) | (None, ElemType::U16) => uint16,
        (None, _) if zero_point > 32767 => uint16,
        (None, _) if zero_point > 127 && analy_absmax / s <= 255.5 => uint8,
        _ if analy_absmax / s <= 128.5 => QuantSpec::int8(s),
        _ => QuantSpec::int16(s),
    };
    Some(QuantSpec {
        qmin: spec.qmin.saturating_sub(zero_point),
        qmax: spec.qmax.saturating_sub(zero_point),
        zero_point,
        ..spec
    })
}

/// Elements per slice while streaming a pair.
pub const CHUNK_ELEMS: usize = 1 << 20;

/// Compare one pair, streaming both tensors in lockstep. `progress(done_bytes)` is called per slice.
/// Integer quantized dumps are dequantized with the scale (required for them).
#[allow(clippy::too_many_arguments)]
pub fn compare_pair<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    scale: Option<f64>,
    dtype: Option<&str>,
    zero_point: i64,
    progress: &mut dyn FnMut(u64),
) -> Result<PairMetrics, String> {
    pair_checks(fe, qe, scale)?;
    let scale = scale.or(qe.scale);
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
    let spec = quant_spec(qe, scale, dtype, zero_point, absmax);
    let deq = if qe.is_raw_int() {
        scale.map(|s| Deq::new(s, zero_point))
    } else {
        None
    };
    let mut acc = Accumulator::new(&fe.shape, fe.fortran, spec, true);
    let windowed =
        super::metrics::kl_layout(&fe.shape, fe.fortran).2 > super::metrics::KL_MAX_GROUPS;
    // A compressed side would be inflated again for the histograms: a pair small enough keeps
    // the values of the first pass instead.
    let mut kept: Option<(Vec<f32>, Vec<f32>)> = ((is_compressed(fe) || is_compressed(qe))
        && fe.numel() <= KEEP_COMPRESSED_MAX_ELEMS)
        .then(|| {
            let n = fe.numel() as usize;
            (Vec::with_capacity(n), Vec::with_capacity(n))
        });
    let raw = matches!(fe.data, super::tensor::DataRef::Raw { .. })
        && matches!(qe.data, super::tensor::DataRef::Raw { .. });
    let mut m = if windowed && raw {
        // More softmax groups than one pass keeps (huge spatial maps): the one pass goes in KL's
        // window order instead, every element read once, the metrics taking the values as they
        // come (sums in another order than the flat one: equal to within rounding).
        let es = (fe.elem.size_bytes() + qe.elem.size_bytes()) as u64;
        let mut done = 0u64;
        let kl = super::metrics::kl_windowed(&fe.shape, fe.fortran, &mut |start, n, b, a| {
            super::tensor::read_range(fsrc, fe, start, n, b)
                .map_err(|e| format!("float side: {e}"))?;
            super::tensor::read_range(qsrc, qe, start, n, a)
                .map_err(|e| format!("quantized side: {e}"))?;
            if let Some(d) = deq {
                d.apply(a);
            }
            acc.update(b, a);
            done += n as u64 * es;
            progress(done);
            Ok(())
        })?;
        let mut m = acc.finish();
        m.kl = kl;
        m
    } else {
        lockstep(fsrc, fe, qsrc, qe, deq, &mut |b, a, done| {
            acc.update(b, a);
            if let Some((kb, ka)) = kept.as_mut() {
                kb.extend_from_slice(b);
                ka.extend_from_slice(a);
            }
            progress(done);
        })?;
        let mut m = acc.finish();
        if windowed {
            // A compressed member cannot be read in window order.
            m.kl = f64::NAN;
        }
        m
    };
    // Second pass: histograms over the ranges the first pass found (skipped for huge tensors).
    if fe.numel() <= HIST_MAX_ELEMS {
        if let Some(mut h) = super::metrics::HistAccumulator::new(&m) {
            match kept {
                // The same slices as a second read would give.
                Some((kb, ka)) if kb.len() as u64 == fe.numel() && ka.len() == kb.len() => kb
                    .chunks(CHUNK_ELEMS)
                    .zip(ka.chunks(CHUNK_ELEMS))
                    .for_each(|(b, a)| h.update(b, a)),
                _ => lockstep(fsrc, fe, qsrc, qe, deq, &mut |b, a, _| h.update(b, a))?,
            }
            // Observer scales are a what-if: computed on demand for the pair in view (whatif.rs).
            let (hist, local) = h.finish();
            m.hist = Some(hist);
            m.local = Some(local);
        }
    }
    Ok(m)
}

/// A compressed pair up to this many elements a side (2 × 16 MiB of f32, on each worker that
/// compares one) keeps its values from the metrics pass for the histogram pass instead of
/// inflating both members again.
pub const KEEP_COMPRESSED_MAX_ELEMS: u64 = 1 << 22;

/// Elements per read of a changed scale's pass (16 MiB of float32): it reads one file, and the
/// browser's synchronous reads are faster in big slices (617 MB/s at 4 MiB, 897 at 16 MiB in
/// Chromium). A multiple of the kernel's block, so the split's blocks are the comparison's.
pub const RESCALE_CHUNK_ELEMS: usize = 1 << 22;

/// A pair compared before under another scale (`old`): only what the scale changes is computed
/// again — the quantizer, `max_qscale_diff` and the error split, whose pass reads the float tensor
/// alone (half the bytes of a comparison) — and everything else (metrics, KL, histograms) is kept.
/// The split is the one a whole comparison computes, bit for bit (same slices, same kernel), but
/// for `inherited`, taken from the kept MSE · n (equal to within rounding). None when a scale
/// changes more than that (raw integer dumps, which it dequantizes) or when the kept range cannot
/// stand for the quantized side's |x| max (non-finite): the pair is then compared whole.
#[allow(clippy::too_many_arguments)]
pub fn rescale_pair<F: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qe: &TensorEntry,
    old: &PairMetrics,
    scale: Option<f64>,
    dtype: Option<&str>,
    zero_point: i64,
    progress: &mut dyn FnMut(u64),
) -> Option<Result<PairMetrics, String>> {
    if qe.is_raw_int() || fe.is_raw_int() || fe.shape != qe.shape {
        return None;
    }
    let scale = scale.or(qe.scale);
    // `compare_pair`'s |x| max of the quantized side (finite values, from 0) is its kept range.
    let absmax = if scale.is_some() && dtype.is_none() {
        let (lo, hi) = (old.analy_min, old.analy_max);
        if !(lo.is_finite() && hi.is_finite()) {
            return None;
        }
        lo.abs().max(hi.abs()).max(0.0)
    } else {
        0.0
    };
    let spec = quant_spec(qe, scale, dtype, zero_point, absmax);
    let mut m = old.clone();
    m.quant = spec;
    m.max_qscale_diff = spec.map(|q| m.atol / q.scale);
    m.error_split = match spec {
        None => None,
        Some(q) => {
            let mut acc = Accumulator::new(&[fe.numel()], false, Some(q), false);
            let mut r = ElemReader::new(fsrc, fe);
            let mut buf = Vec::new();
            loop {
                let n = match r.next_chunk(&mut buf, RESCALE_CHUNK_ELEMS) {
                    Ok(n) => n,
                    Err(e) => return Some(Err(format!("float side: {e}"))),
                };
                if n == 0 {
                    break;
                }
                // The split depends on the float values alone: only its loop runs.
                acc.update_split(&buf);
                progress(r.done_bytes());
            }
            acc.finish().error_split.map(|sp| ErrorSplit {
                inherited: (old.mse * old.numel as f64 - sp.clip - sp.round).max(0.0),
                ..sp
            })
        }
    };
    Some(Ok(m))
}

/// A part of a pair compared on several workers: outer slabs `o0..o1` × softmax groups `r0..r1`
/// of the pair's KL layout (`metrics::kl_layout`). The parts of [`plan_parts`] hold every element
/// once and every softmax group whole, so their sums and KL add up to the pair's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairPart {
    pub o0: u64,
    pub o1: u64,
    pub r0: u64,
    pub r1: u64,
}

/// Elements per read of a part when whole channels lie side by side (16 MiB of float32: the
/// browser's synchronous reads are faster in big slices; the part holds two such buffers).
pub const PART_READ_ELEMS: usize = 1 << 22;

/// Softmax groups a part keeps KL state for at once (20 bytes each, 20 MiB): a huge map's part
/// reads one channel's run of this many values at a time, so bigger windows mean bigger reads.
pub const PART_WINDOW: u64 = 1 << 20;

/// Pairs smaller than this (both sides, bytes) are compared whole, on one worker.
pub const PART_MIN_BYTES: u64 = 64 << 20;

/// Pairs at least this big (both sides, bytes; files bigger than the browser worker keeps in
/// memory) are compared apart from the session's pass: in the browser, read as streams into
/// reused buffers, one pair or part per worker.
pub const DEFER_MIN_BYTES: u64 = 32 << 20;

/// Compressed pairs (a deflated `.npz` member on either side) at least this big (both sides,
/// inflated bytes) are compared apart from the session's pass too, each whole on one worker:
/// inflating, not reading, is their cost, so several of them go round the workers. So are the
/// pairs this big in a file of [`DEFER_MIN_BYTES`] or more (an `.npz` of many members, a
/// `.safetensors` of a whole run): the browser keeps no such file in memory, and streamed on
/// several workers they are read many times faster than through the session's pass.
pub const DEFER_MIN_COMPRESSED_BYTES: u64 = 1 << 20;

/// Whether a tensor is stored deflated (it can only be read in order, from its start).
pub fn is_compressed(e: &TensorEntry) -> bool {
    matches!(e.data, super::tensor::DataRef::Deflate { .. })
}

/// A pair's parts for `k` workers: [`plan_parts`], or the whole pair when either side is
/// compressed (a part could only start by inflating everything before it).
pub fn plan_pair_parts(fe: &TensorEntry, qe: &TensorEntry, k: usize) -> Vec<PairPart> {
    if is_compressed(fe) || is_compressed(qe) {
        plan_parts(&fe.shape, fe.fortran, 1)
    } else {
        plan_parts(&fe.shape, fe.fortran, k)
    }
}

/// Whether a part's two passes come from one read ([`run_whole_part`]; in the browser,
/// `spread::run_whole_streamed`): a compressed pair (reading it again means inflating it again),
/// or a whole pair small enough ([`KEEP_COMPRESSED_MAX_ELEMS`] a side) that its histograms can
/// take the values the metrics pass kept instead of a second read.
pub fn one_read(fe: &TensorEntry, qe: &TensorEntry, part: PairPart) -> bool {
    let (outer, _, inner) = super::metrics::kl_layout(&fe.shape, fe.fortran);
    let whole = part.o0 == 0 && part.o1 == outer && part.r0 == 0 && part.r1 == inner;
    is_compressed(fe) || is_compressed(qe) || (whole && fe.numel() <= KEEP_COMPRESSED_MAX_ELEMS)
}

/// Split a tensor of `shape` into at most `k` parts of about equal size: by outer slabs (batch)
/// when there are enough, else by ranges of softmax groups (spatial positions). One part for
/// tensors under [`PART_MIN_BYTES`] (4-byte elements assumed) or `k` ≤ 1.
pub fn plan_parts(shape: &[u64], fortran: bool, k: usize) -> Vec<PairPart> {
    plan_parts_with(shape, fortran, k, PART_MIN_BYTES)
}

/// [`plan_parts`] with another threshold (tests split small tensors).
pub fn plan_parts_with(shape: &[u64], fortran: bool, k: usize, min_bytes: u64) -> Vec<PairPart> {
    let (outer, _, inner) = super::metrics::kl_layout(shape, fortran);
    let numel: u64 = super::metrics::dims_product(shape);
    let whole = PairPart {
        o0: 0,
        o1: outer,
        r0: 0,
        r1: inner,
    };
    let k = k as u64;
    if k <= 1 || numel.saturating_mul(8) < min_bytes {
        return vec![whole];
    }
    let cut = |n: u64, i: u64| n * i / k;
    if outer >= k {
        (0..k)
            .map(|i| PairPart {
                o0: cut(outer, i),
                o1: cut(outer, i + 1),
                ..whole
            })
            .collect()
    } else if inner >= k {
        (0..k)
            .map(|i| PairPart {
                r0: cut(inner, i),
                r1: cut(inner, i + 1),
                ..whole
            })
            .collect()
    } else {
        vec![whole]
    }
}

/// The error split's quantizer and how raw integers are dequantized (see [`part_setup`]).
pub type PartSetup = (Option<QuantSpec>, Option<Deq>);

/// How a raw integer dump is dequantized: `(q − zero_point) · scale`, in f32 (with a zero point of
/// 0, the bits of `q · scale`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Deq {
    pub scale: f32,
    pub zero_point: f32,
}

impl Deq {
    pub fn new(scale: f64, zero_point: i64) -> Deq {
        Deq {
            scale: scale as f32,
            zero_point: zero_point as f32,
        }
    }

    pub fn apply(self, values: &mut [f32]) {
        let (s, z) = (self.scale, self.zero_point);
        values.iter_mut().for_each(|v| *v = (*v - z) * s);
    }
}

/// What comparing a pair in parts needs to know first: the error split's quantizer and the
/// scale that dequantizes raw integers. None when the split's dtype must be inferred from the
/// quantized side's range (a scale without a dtype), which takes a pass of its own: such a pair
/// goes in parts without its scale and gets its split after ([`compare_files_with`]), or, in a
/// compressed member, is compared whole. Errors are those of [`compare_pair`].
pub fn part_setup(
    fe: &TensorEntry,
    qe: &TensorEntry,
    scale: Option<f64>,
    dtype: Option<&str>,
    zero_point: i64,
) -> Result<Option<PartSetup>, String> {
    pair_checks(fe, qe, scale)?;
    let scale = scale.or(qe.scale);
    // A compressed side is read in order only: its pair goes whole ([`plan_pair_parts`]), whose
    // reads are in order when its softmax groups fit one window (else they go window by window).
    let in_order = super::metrics::kl_layout(&fe.shape, fe.fortran).2 <= PART_WINDOW;
    let readable = (!is_compressed(fe) && !is_compressed(qe)) || in_order;
    if !readable || (scale.is_some() && dtype.is_none() && !qe.is_raw_int()) {
        return Ok(None);
    }
    let deq = if qe.is_raw_int() {
        scale.map(|s| Deq::new(s, zero_point))
    } else {
        None
    };
    Ok(Some((quant_spec(qe, scale, dtype, zero_point, 0.0), deq)))
}

/// The checks every comparison makes before reading.
fn pair_checks(fe: &TensorEntry, qe: &TensorEntry, scale: Option<f64>) -> Result<(), String> {
    if fe.shape != qe.shape {
        return Err(format!(
            "shape mismatch: float {:?} vs quantized {:?}",
            fe.shape, qe.shape
        ));
    }
    if fe.fortran != qe.fortran && fe.shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err("one tensor is in Fortran order and the other in C order: not compared (the elements would not line up)".into());
    }
    if qe.is_raw_int() && scale.or(qe.scale).is_none() && !fe.is_raw_int() {
        return Err(format!(
            "the quantized tensor holds raw {} values: give its scale to dequantize it (type it in the pair's row, or drop a scales.json or the QDQ model; on the command line --scale {}=S)",
            qe.elem.name(),
            qe.name
        ));
    }
    Ok(())
}

/// One read of a part: `n` values of each tensor from flat position `start`, channels of `w`
/// softmax groups one after the other (`n / w` of them, possibly across outer slabs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRead {
    pub start: u64,
    pub n: usize,
    pub w: usize,
}

/// A part's reads in order (see [`part_schedule`]): whole groups side by side in reads of about
/// [`PART_READ_ELEMS`] values (one contiguous range, across outer slabs), else window by window,
/// slab by slab, channel by channel (one run of `w` groups per read).
pub struct PartSchedule {
    along: u64,
    inner: u64,
    part: PairPart,
    contiguous: bool,
    /// Contiguous: the next channel row (over slabs `o0..o1`); windowed: the window, slab and
    /// channel of the next read.
    row: u64,
    r: u64,
    o: u64,
    c: u64,
}

impl Iterator for PartSchedule {
    type Item = PartRead;
    fn next(&mut self) -> Option<PartRead> {
        let p = self.part;
        if self.contiguous {
            let end = p.o1 * self.along;
            if self.row >= end {
                return None;
            }
            let batch = (PART_READ_ELEMS as u64 / self.inner).max(1);
            let rows = batch.min(end - self.row);
            let read = PartRead {
                start: self.row * self.inner,
                n: (rows * self.inner) as usize,
                w: self.inner as usize,
            };
            self.row += rows;
            return Some(read);
        }
        if self.r >= p.r1 || p.o0 >= p.o1 {
            return None;
        }
        let w = (p.r1 - self.r).min(PART_WINDOW);
        let read = PartRead {
            start: (self.o * self.along + self.c) * self.inner + self.r,
            n: w as usize,
            w: w as usize,
        };
        self.c += 1;
        if self.c == self.along {
            self.c = 0;
            self.o += 1;
            if self.o == p.o1 {
                self.o = p.o0;
                self.r += w;
            }
        }
        Some(read)
    }
}

/// The reads of `part` of a tensor `e` (error: a part outside the tensor).
pub fn part_schedule(e: &TensorEntry, part: PairPart) -> Result<PartSchedule, String> {
    let (outer, along, inner) = super::metrics::kl_layout(&e.shape, e.fortran);
    if part.o1 > outer || part.r1 > inner || part.o0 > part.o1 || part.r0 > part.r1 {
        return Err(format!("a part outside the tensor: {part:?}"));
    }
    let empty = e.numel() == 0 || along == 0 || part.r0 == part.r1;
    let part = if empty {
        PairPart {
            o1: part.o0,
            ..part
        }
    } else {
        part
    };
    Ok(PartSchedule {
        along,
        inner,
        part,
        contiguous: part.r0 == 0 && part.r1 == inner && inner <= PART_WINDOW,
        row: part.o0 * along,
        r: part.r0,
        o: part.o0,
        c: 0,
    })
}

/// What a part computes: the metrics pass (sums and KL) or the histogram pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PartOutput {
    Sums(super::metrics::AccPart),
    /// None: the pair has no histograms (no finite range, or too big).
    Hist(Option<super::metrics::HistPart>),
    /// Both passes of a pair compared whole on one worker ([`run_whole_part`]).
    Whole(super::metrics::AccPart, Option<super::metrics::HistPart>),
}

enum PartPass {
    Sums {
        acc: Box<Accumulator>,
        kl: super::metrics::KlRuns,
        kl_total: f64,
    },
    Hist(Box<super::metrics::HistAccumulator>),
    NoHist,
}

/// A part being compared, fed the values of its reads in [`part_schedule`]'s order by whoever
/// reads them (synchronously in [`run_part`], asynchronously in the browser's helpers).
pub struct PartRun {
    pass: PartPass,
    deq: Option<Deq>,
    along: u64,
    /// Channels of the current outer slab seen so far.
    c: u64,
    /// Flat index of the first non-finite value of each side (float, quantized), read by read:
    /// a part of groups is not contiguous, so its own order says nothing of where a value sits.
    first_nonfinite: (Option<u64>, Option<u64>),
}

impl PartRun {
    /// The metrics pass (`merged` None) or the histogram pass over `merged`'s ranges.
    pub fn new(
        fe: &TensorEntry,
        spec: Option<QuantSpec>,
        deq: Option<Deq>,
        part: PairPart,
        merged: Option<&PairMetrics>,
    ) -> PartRun {
        let (_, along, _) = super::metrics::kl_layout(&fe.shape, fe.fortran);
        let pass = match merged {
            None => PartPass::Sums {
                acc: Box::new(Accumulator::new(&[], false, spec, false)),
                kl: super::metrics::KlRuns::new(
                    (part.r1.saturating_sub(part.r0)).min(PART_WINDOW) as usize,
                    along,
                ),
                kl_total: 0.0,
            },
            Some(m) if fe.numel() <= HIST_MAX_ELEMS => {
                match super::metrics::HistAccumulator::new(m) {
                    Some(h) => PartPass::Hist(Box::new(h)),
                    None => PartPass::NoHist,
                }
            }
            Some(_) => PartPass::NoHist,
        };
        PartRun {
            pass,
            deq,
            along,
            c: 0,
            first_nonfinite: (None, None),
        }
    }

    /// Whether the pass reads anything (a pair without histograms has no histogram pass).
    pub fn reads(&self) -> bool {
        !matches!(self.pass, PartPass::NoHist)
    }

    /// The values of one read at flat element `start` (`b` float, `a` quantized, raw integers not
    /// yet dequantized).
    pub fn feed(&mut self, start: u64, b: &[f32], a: &mut [f32], w: usize) {
        if let Some(d) = self.deq {
            d.apply(a);
        }
        match &mut self.pass {
            PartPass::Sums { acc, kl, kl_total } => {
                let seen = acc.nonfinite_counts();
                acc.update(b, a);
                // Where the first non-finite value of each side sits (a scan only of the read
                // where the count first grows).
                let now = acc.nonfinite_counts();
                let at = |v: &[f32]| {
                    v.iter()
                        .position(|x| !x.is_finite())
                        .map(|i| start + i as u64)
                };
                if now.0 > seen.0 && self.first_nonfinite.0.is_none() {
                    self.first_nonfinite.0 = at(b);
                }
                if now.1 > seen.1 && self.first_nonfinite.1.is_none() {
                    self.first_nonfinite.1 = at(a);
                }
                if w == 0 {
                    return;
                }
                // KL channel by channel, each outer slab's groups taken when its last channel is in.
                let rows = (b.len().min(a.len()) / w) as u64;
                let mut r = 0u64;
                while r < rows {
                    let take = (self.along - self.c).min(rows - r);
                    let (s, e) = ((r as usize) * w, ((r + take) as usize) * w);
                    kl.push_rows(&b[s..e], &a[s..e], take as usize, w);
                    r += take;
                    self.c += take;
                    if self.c == self.along {
                        *kl_total += kl.take(w);
                        self.c = 0;
                    }
                }
            }
            PartPass::Hist(h) => h.update(b, a),
            PartPass::NoHist => {}
        }
    }

    pub fn finish(self) -> PartOutput {
        match self.pass {
            PartPass::Sums { acc, kl_total, .. } => PartOutput::Sums(
                acc.into_part(Some(kl_total))
                    .with_first_nonfinite(self.first_nonfinite.0, self.first_nonfinite.1),
            ),
            PartPass::Hist(h) => PartOutput::Hist(Some(h.part())),
            PartPass::NoHist => PartOutput::Hist(None),
        }
    }
}

/// Run a part reading both tensors synchronously (see [`plan_parts`], [`part_setup`]): the
/// metrics pass (`merged` None: its sums and the KL of its softmax groups, every element read
/// once; [`Accumulator::merged`] makes the pair's metrics from its parts) or the histogram pass.
#[allow(clippy::too_many_arguments)]
pub fn run_part<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    spec: Option<QuantSpec>,
    deq: Option<Deq>,
    part: PairPart,
    merged: Option<&PairMetrics>,
    progress: &mut dyn FnMut(u64),
) -> Result<PartOutput, String> {
    let run = PartRun::new(fe, spec, deq, part, merged);
    run_reading(fsrc, fe, qsrc, qe, part, run, None, progress)
}

/// The values a pass kept for the next one: float, quantized (dequantized) and the reads.
pub type Kept = (Vec<f32>, Vec<f32>, Vec<PartRead>);

/// [`run_part`]'s reading loop for `run`, keeping the values it fed in `kept`.
#[allow(clippy::too_many_arguments)]
fn run_reading<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    part: PairPart,
    mut run: PartRun,
    mut kept: Option<&mut Kept>,
    progress: &mut dyn FnMut(u64),
) -> Result<PartOutput, String> {
    let schedule = part_schedule(fe, part)?;
    if !run.reads() {
        return Ok(run.finish());
    }
    let es = (fe.elem.size_bytes() + qe.elem.size_bytes()) as u64;
    let (mut b, mut a) = (Vec::new(), Vec::new());
    let mut done = 0u64;
    let (mut fr, mut qr) = (SideReader::new(fsrc, fe), SideReader::new(qsrc, qe));
    for r in schedule {
        fr.read(r.start, r.n, &mut b)
            .map_err(|e| format!("float side: {e}"))?;
        qr.read(r.start, r.n, &mut a)
            .map_err(|e| format!("quantized side: {e}"))?;
        run.feed(r.start, &b, &mut a, r.w);
        if let Some((kb, ka, reads)) = kept.as_deref_mut() {
            kb.extend_from_slice(&b);
            ka.extend_from_slice(&a);
            reads.push(r);
        }
        done += r.n as u64 * es;
        progress(done);
    }
    Ok(run.finish())
}

/// A pair compared whole on one worker (a compressed one, see [`plan_pair_parts`]): the metrics
/// pass, then the histogram pass over the ranges it found, which takes the values the first pass
/// kept (up to [`KEEP_COMPRESSED_MAX_ELEMS`] a side) instead of inflating both members again.
/// The same results as [`run_part`]'s two passes merged by [`merge_parts`].
#[allow(clippy::too_many_arguments)]
pub fn run_whole_part<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    spec: Option<QuantSpec>,
    deq: Option<Deq>,
    part: PairPart,
    progress: &mut dyn FnMut(u64),
) -> Result<PartOutput, String> {
    let mut kept: Kept = Default::default();
    let keep = fe.numel() <= KEEP_COMPRESSED_MAX_ELEMS;
    let run = PartRun::new(fe, spec, deq, part, None);
    let first = run_reading(
        fsrc,
        fe,
        qsrc,
        qe,
        part,
        run,
        keep.then_some(&mut kept),
        progress,
    )?;
    let PartOutput::Sums(sums) = first else {
        return Err("the metrics pass gave no sums".into());
    };
    if keep {
        return Ok(finish_whole(fe, spec, part, sums, kept));
    }
    let merged = merge_parts(std::slice::from_ref(&sums), spec, &[]);
    match run_part(
        fsrc,
        fe,
        qsrc,
        qe,
        spec,
        deq,
        part,
        Some(&merged),
        &mut |_| {},
    )? {
        PartOutput::Hist(h) => Ok(PartOutput::Whole(sums, h)),
        _ => Err("the histogram pass gave no histograms".into()),
    }
}

/// Both passes of a pair compared whole, from the metrics pass's `sums` and the values it
/// `kept`: the histograms over the ranges those sums found, from the kept values (the
/// quantized ones dequantized already).
pub fn finish_whole(
    fe: &TensorEntry,
    spec: Option<QuantSpec>,
    part: PairPart,
    sums: super::metrics::AccPart,
    kept: Kept,
) -> PartOutput {
    let merged = merge_parts(std::slice::from_ref(&sums), spec, &[]);
    let mut run = PartRun::new(fe, spec, None, part, Some(&merged));
    let (kb, mut ka, reads) = kept;
    let mut at = 0usize;
    for r in reads {
        if run.reads() && at + r.n <= kb.len() && at + r.n <= ka.len() {
            run.feed(r.start, &kb[at..at + r.n], &mut ka[at..at + r.n], r.w);
        }
        at += r.n;
    }
    match run.finish() {
        PartOutput::Hist(h) => PartOutput::Whole(sums, h),
        _ => PartOutput::Whole(sums, None),
    }
}

/// One side of a part's reads: random access into a tensor stored raw, in order (from where the
/// previous read ended) through the inflater for a compressed one.
enum SideReader<'a, S: ByteSource + ?Sized> {
    Raw(&'a mut S, &'a TensorEntry),
    InOrder(Box<ElemReader<'a, S>>, u64),
}

impl<'a, S: ByteSource + ?Sized> SideReader<'a, S> {
    fn new(src: &'a mut S, e: &'a TensorEntry) -> Self {
        if is_compressed(e) {
            SideReader::InOrder(Box::new(ElemReader::new(src, e)), 0)
        } else {
            SideReader::Raw(src, e)
        }
    }

    /// `n` elements from flat position `start` into `out`.
    fn read(&mut self, start: u64, n: usize, out: &mut Vec<f32>) -> Result<(), String> {
        match self {
            SideReader::Raw(src, e) => {
                super::tensor::read_range(*src, e, start, n, out).map_err(|e| e.to_string())
            }
            SideReader::InOrder(r, next) => {
                if start != *next {
                    return Err(format!(
                        "a compressed member is read in order only (element {start} asked for, {next} next)"
                    ));
                }
                let got = r.next_chunk(out, n).map_err(|e| e.to_string())?;
                if got != n {
                    return Err(
                        "the compressed member holds fewer elements than its shape says".into(),
                    );
                }
                *next += n as u64;
                Ok(())
            }
        }
    }
}

/// The metrics pass of one part (see [`run_part`]).
#[allow(clippy::too_many_arguments)]
pub fn compare_part<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    spec: Option<QuantSpec>,
    deq: Option<Deq>,
    part: PairPart,
    progress: &mut dyn FnMut(u64),
) -> Result<super::metrics::AccPart, String> {
    match run_part(fsrc, fe, qsrc, qe, spec, deq, part, None, progress)? {
        PartOutput::Sums(s) => Ok(s),
        PartOutput::Hist(_) | PartOutput::Whole(..) => {
            Err("the metrics pass gave histograms".into())
        }
    }
}

/// The histogram pass of one part, over the ranges of the pair's merged metrics `m`; None when
/// `m` has no finite range (no histograms) or the pair is too big for them.
#[allow(clippy::too_many_arguments)]
pub fn hist_part<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    deq: Option<Deq>,
    part: PairPart,
    m: &PairMetrics,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<super::metrics::HistPart>, String> {
    match run_part(fsrc, fe, qsrc, qe, None, deq, part, Some(m), progress)? {
        PartOutput::Hist(h) => Ok(h),
        PartOutput::Sums(_) | PartOutput::Whole(..) => Err("the histogram pass gave sums".into()),
    }
}

/// A pair's metrics from its parts' sums and, if the pair has histograms, their parts.
pub fn merge_parts(
    parts: &[super::metrics::AccPart],
    spec: Option<QuantSpec>,
    hists: &[super::metrics::HistPart],
) -> PairMetrics {
    let mut m = Accumulator::merged(parts, spec);
    if let Some((first, rest)) = hists.split_first() {
        if let Some(mut h) = super::metrics::HistAccumulator::new(&m) {
            h.absorb(first);
            rest.iter().for_each(|p| h.absorb(p));
            let (hist, local) = h.finish();
            m.hist = Some(hist);
            m.local = Some(local);
        }
    }
    m
}

/// Called with a float slice, the aligned quantized slice and the bytes read so far.
type SliceVisitor<'a> = dyn FnMut(&[f32], &[f32], u64) + 'a;

/// Read both tensors of a pair in lockstep, a slice at a time (dequantizing raw integers with
/// `deq`), calling `f(float slice, quantized slice, bytes read so far)`; the one reading loop of a
/// pair's passes.
fn lockstep<F: ByteSource + ?Sized, Q: ByteSource + ?Sized>(
    fsrc: &mut F,
    fe: &TensorEntry,
    qsrc: &mut Q,
    qe: &TensorEntry,
    deq: Option<Deq>,
    f: &mut SliceVisitor,
) -> Result<(), String> {
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
            return Ok(());
        }
        if let Some(d) = deq {
            d.apply(&mut qf);
        }
        f(&bf, &qf, fr.done_bytes() + qr.done_bytes());
    }
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
    if let Some(f) = grid_mismatch(name, row, m) {
        return vec![f];
    }
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
            // Clipping dominates, but its weight is the error it makes: an error when the output
            // suffers (Cosine < 0.99 or SQNR < 20 dB), a warning when it stays close.
            if m.cosine < 0.99 || m.sqnr_db < 20.0 {
                Severity::Error
            } else {
                Severity::Warning
            },
            {
                // The scale that would cover the range, per dtype (the largest |x| on qmax).
                let amax = m.base_min.abs().max(m.base_max.abs());
                let need = |qmax: f64| super::num::short(amax / qmax);
                let clip_after = m.quant.map(|q| {
                    let (lo, hi) = (q.qmin as f64 * q.scale, q.qmax as f64 * q.scale);
                    format!(" If the op after it keeps only values inside [{lo:.4}, {hi:.4}] anyway (a ReLU6, or hardswish's Clip(0, 6) after an Add), this clipping costs nothing: compare that op's pair before changing anything.")
                }).unwrap_or_default();
                let is16 = m.quant.is_some_and(|q| q.dtype_range().1 > 255);
                let what = if is16 {
                    "Use such a scale, or better calibration data or method (the tensor is int16 already: if the covering scale's step is too coarse for its small values, fix the scale to the physical range or split the tensor into groups with their own scales)"
                } else {
                    "Use such a scale, better calibration data or method, or int16"
                };
                match m.quant.filter(|q| q.zero_point != 0) {
                    // Asymmetric: the zero point places the range; its width is the scale's.
                    Some(q) => {
                        let (lo, hi) = q.dtype_range();
                        let width = (m.base_max - m.base_min).max(0.0);
                        format!("The scale and zero point ({}, {}) do not cover the float values of `{name}` (float range [{:.4}, {:.4}]): the range they represent, [{:.4}, {:.4}], must reach both ends, so scale ≥ (max − min)/{} = {} with the zero point that puts 0 in place. {what}.{clip_after}", super::num::short(q.scale), q.zero_point, m.base_min, m.base_max, q.qmin as f64 * q.scale, q.qmax as f64 * q.scale, hi - lo, super::num::short(width / (hi - lo) as f64))
                    }
                    None => format!("The scale does not cover the float values of `{name}` (float range [{:.4}, {:.4}]): qmax·scale must reach {} (int8: scale ≥ {}; int16: scale ≥ {}). {what}.{clip_after}", m.base_min, m.base_max, super::num::short(amax), need(127.0), need(32767.0)),
                }
            },
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
        rank_reason: format!(
            "measured from the dumps: clipping {:.0}%, rounding {:.0}%, inherited {:.0}% of the error energy; Cosine {:.4}",
            pct(sp.clip),
            pct(sp.round),
            pct(sp.inherited),
            m.cosine
        ),
    }]
}

/// The quantized side holds values its own quantizer could not have written: beyond the range the
/// scale, zero point and dtype represent by more than one step. Then that quantizer (a wrong dtype
/// or zero point, a scale from another run) is not the one that made the dump, and a split made
/// with it would be wrong (clipping counted where none happened), so the pair gets this finding
/// instead of one about its split.
fn grid_mismatch(name: &str, row: usize, m: &PairMetrics) -> Option<Finding> {
    // NaN or ±∞ on the quantized side have their own finding; its range says nothing then.
    if m.nonfinite_analy > 0 {
        return None;
    }
    let q = m.quant?;
    let (lo, hi) = (q.qmin as f64 * q.scale, q.qmax as f64 * q.scale);
    let slack = q.scale + 1e-6 * lo.abs().max(hi.abs());
    if !(m.analy_min < lo - slack || m.analy_max > hi + slack) {
        return None;
    }
    let (dlo, dhi) = q.dtype_range();
    let zp = if q.zero_point != 0 {
        format!(", zero point {}", q.zero_point)
    } else {
        String::new()
    };
    Some(Finding {
        kind: kind::SCALE_NOT_COVER.into(),
        severity: Severity::Warning,
        layers: vec![name.to_string()],
        message: format!(
            "`{name}`: the quantized dump holds values in [{:.4}, {:.4}], beyond the range [{lo:.4}, {hi:.4}] that its scale {}{zp} and grid {} [{dlo}, {dhi}] can represent. No quantizer with these parameters wrote this dump (or it holds values from before their quantization), so its error is not split into clipping and rounding (Cosine {:.6}, SQNR {:.2} dB).",
            m.analy_min,
            m.analy_max,
            super::num::short(q.scale),
            q.dtype_name(),
            m.cosine,
            m.sqnr_db
        ),
        fix: "Give this tensor's real quantization: the dtype (int16 or uint16, int8 or uint8), the zero point and the scale of the run that wrote the dump (a scales.json entry with \"dtype\", or that run's QDQ model).".into(),
        evidence: vec![Evidence {
            table: "pairs".into(),
            row,
            line: 0,
            file: None,
        }],
        score: 40.0,
        rank_reason: "the dump does not fit its scale and dtype".into(),
    })
}

/// `[0, 3, 1, 7]`: a flat row-major index as one index per axis of `shape` (the flat index when the
/// shape does not hold it).
pub fn unravel(flat: u64, shape: &[u64]) -> String {
    let total = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if shape.is_empty() || total.is_none_or(|t| flat >= t) {
        return format!("flat index {flat}");
    }
    let mut rest = flat;
    let mut idx = vec![0u64; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        idx[k] = rest % d;
        rest /= d;
    }
    let parts: Vec<String> = idx.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// One side's non-finite values in words: `12 NaN and 3 ±∞ of 1,024 elements, the first at [0, 3]`
/// (None when the side is finite).
fn nonfinite_words(
    count: u64,
    nan: u64,
    first: Option<u64>,
    numel: u64,
    shape: &[u64],
) -> Option<String> {
    if count == 0 {
        return None;
    }
    let inf = count.saturating_sub(nan);
    let what = match (nan, inf) {
        (0, i) => format!("{i} ±∞"),
        (n, 0) => format!("{n} NaN"),
        (n, i) => format!("{n} NaN and {i} ±∞"),
    };
    let at = first
        .map(|i| format!(", the first at {}", unravel(i, shape)))
        .unwrap_or_default();
    Some(format!("{what} of {numel} elements{at}"))
}

/// Evidence citing these rows of the pairs table (each with its quantized file).
fn pair_evidence(pairs: &[PairResult], rows: impl Iterator<Item = usize>) -> Vec<Evidence> {
    rows.map(|i| Evidence {
        table: "pairs".into(),
        row: i,
        line: 0,
        file: Some(pairs[i].quant_file),
    })
    .collect()
}

/// [`nonfinite_words`] for one side of a pair (`quant`: the quantized side).
fn side_words(m: &PairMetrics, shape: &[u64], quant: bool) -> Option<String> {
    if quant {
        nonfinite_words(
            m.nonfinite_analy,
            m.nan_analy,
            m.first_nonfinite_analy,
            m.numel,
            shape,
        )
    } else {
        nonfinite_words(
            m.nonfinite_base,
            m.nan_base,
            m.first_nonfinite_base,
            m.numel,
            shape,
        )
    }
}

/// What the detail panel says about a pair's NaN/±∞ values (None when both sides are finite).
pub fn nonfinite_note(p: &PairResult) -> Option<String> {
    let m = p.metrics.as_ref()?;
    let f = side_words(m, &p.shape, false);
    let q = side_words(m, &p.shape, true);
    if f.is_none() && q.is_none() {
        return None;
    }
    let side = |w: Option<String>| w.unwrap_or_else(|| "none".into());
    Some(format!(
        "Non-finite values: float side {}; quantized side {}. Cosine, SQNR, MSE, L1 and KL sum over every element, so they are NaN for this pair.",
        side(f),
        side(q)
    ))
}

/// Every pair's findings ([`pair_findings`]), with the pairs whose error mostly arrived from
/// upstream gathered into one `inherited` finding: downstream of one bad layer nearly every pair
/// carries inherited error (358 of 366 findings on a real int8 run, one per pair), which buried the
/// pairs whose own clipping or rounding is the cause. Returned with each finding's quantized file.
pub fn all_pair_findings(pairs: &[PairResult]) -> Vec<(usize, Finding)> {
    all_pair_findings_in(pairs, None)
}

/// Where each activation comes in a loaded model's graph (an ONNX graph's nodes are in
/// topological order, so the order of its QuantizeLinear nodes is an execution order), and which
/// activations only a Clip reads after their quantization.
#[derive(Debug, Clone, Default)]
pub struct GraphOrder {
    /// The model's file name, for the findings' words.
    pub model: String,
    /// Position by activation name, ORT's QDQ suffixes removed ([`normalize`]).
    pub index: std::collections::HashMap<String, usize>,
    /// [lo, hi] of the Clip that alone reads an activation's quantized values (by [`normalize`]d
    /// name; `ScaleEntry::clamp_after`).
    pub clamps: std::collections::HashMap<String, [f64; 2]>,
}

impl GraphOrder {
    /// The order and clamps of a QDQ model's scales (`model` its file name); None when it
    /// places no activation.
    pub fn of_scales(model: &str, set: &super::scales::ScaleSet) -> Option<GraphOrder> {
        let mut index = std::collections::HashMap::new();
        let mut clamps = std::collections::HashMap::new();
        for e in set.entries.iter().filter(|e| !e.weight) {
            let k = index.len();
            let n = normalize(&e.name);
            if let Some(c) = e.clamp_after {
                clamps.entry(n.clone()).or_insert(c);
            }
            index.entry(n).or_insert(k);
        }
        (!index.is_empty()).then(|| GraphOrder {
            model: model
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or(model)
                .to_string(),
            index,
            clamps,
        })
    }

    /// The Clip bounds that alone read this pair's quantized values.
    fn clamp(&self, pair: &PairResult) -> Option<[f64; 2]> {
        self.clamps
            .get(&normalize(&pair.name))
            .or_else(|| self.clamps.get(&normalize(&pair.quant_tensor)))
            .copied()
    }

    fn of(&self, pair: &PairResult) -> Option<usize> {
        self.index
            .get(&normalize(&pair.name))
            .or_else(|| self.index.get(&normalize(&pair.quant_tensor)))
            .copied()
    }
}

/// The words for a clamp after quantization: `Clip(0, 6)`, `Relu` (a minimum of 0 and no
/// maximum), `Clip(-1, no maximum)`.
fn clamp_words(lo: f64, hi: f64) -> String {
    use super::scales::NO_BOUND;
    let b = super::num::short;
    match (lo <= -NO_BOUND, hi >= NO_BOUND) {
        (false, true) if lo == 0.0 => "Relu".into(),
        (false, true) => format!("Clip({}, no maximum)", b(lo)),
        (true, false) => format!("Clip(no minimum, {})", b(hi)),
        _ => format!("Clip({}, {})", b(lo), b(hi)),
    }
}

/// The share of the clipping's energy above the represented range, estimated from the float
/// side's histogram (Σ over the bins past each end of count × (bin centre − end)²); None without
/// a histogram or when no bin centre lies past either end.
fn clip_share_above(m: &PairMetrics, qlo: f64, qhi: f64) -> Option<f64> {
    let h = m.hist.as_ref()?;
    let w = (h.hi - h.lo) / h.float.len().max(1) as f64;
    let (mut below, mut above) = (0.0, 0.0);
    for (i, &n) in h.float.iter().enumerate() {
        let c = h.lo + (i as f64 + 0.5) * w;
        if c < qlo {
            below += n as f64 * (qlo - c) * (qlo - c);
        } else if c > qhi {
            above += n as f64 * (c - qhi) * (c - qhi);
        }
    }
    (below + above > 0.0 && (below + above).is_finite()).then(|| above / (below + above))
}

/// A truncation finding whose pair only a Clip or a Relu reads after its quantization (hardswish's
/// `Add → Clip(0, 6)`, a ReLU6, a Conv's Relu): on each side the quantization cuts, the values it
/// clips are cut by the op after anyway when that op's bound lies inside the range the scale
/// represents (half a step of slack: a scale of 6/32767 represents 5.9999998, not 6). When that
/// holds on every side cut, the clipping costs nothing: the finding is kept, as information at
/// the bottom of the list, with the reason. When it holds on one of two sides cut (a Relu after a
/// tensor clipped both below and above), the finding stays on the other side: said so, ranked on
/// that side's estimated share of the clipping.
fn harmless_before_clip(f: &mut Finding, p: &PairResult, m: &PairMetrics, o: &GraphOrder) {
    let (Some([lo, hi]), Some(q)) = (o.clamp(p), m.quant) else {
        return;
    };
    if f.kind != kind::TRUNCATION {
        return;
    }
    let (qlo, qhi) = (q.qmin as f64 * q.scale, q.qmax as f64 * q.scale);
    let half = q.scale / 2.0;
    // Which sides the quantization cuts (NaN bounds: both, to be safe), and on which the op
    // after cuts the same values anyway.
    let cut_low = m.base_min.is_nan() || m.base_min < qlo - half;
    let cut_high = m.base_max.is_nan() || m.base_max > qhi + half;
    let low_ok = lo >= qlo - half;
    let high_ok = hi <= qhi + half;
    let clip = clamp_words(lo, hi);
    let reads = format!(
        "in {}, what reads `{}` after its QuantizeLinear → DequantizeLinear is only a {clip}",
        o.model, p.name
    );
    let below = if lo == 0.0 {
        "sets them to 0".to_string()
    } else {
        format!("cuts them to {}", super::num::short(lo))
    };
    let above = format!("cuts them to {}", super::num::short(hi));
    if (!cut_low || low_ok) && (!cut_high || high_ok) {
        f.severity = Severity::Info;
        if low_ok && high_ok {
            f.message.push_str(&format!(
                " Harmless here: {reads} (hardswish's Add → Clip(0, 6), or a ReLU6), inside the range its scale represents, [{qlo:.4}, {qhi:.4}]: the values the quantization clips, the {clip} cuts anyway."
            ));
        } else {
            let (side, does) = if cut_low {
                (format!("below {qlo:.4}"), below)
            } else {
                (format!("above {qhi:.4}"), above)
            };
            f.message.push_str(&format!(
                " Harmless here: {reads}: the quantization cuts only values {side}, and the {clip} {does} anyway."
            ));
        }
        f.fix = format!("Nothing to do for accuracy: the next op, a {clip}, cuts these values anyway. (A scale that covered only what it keeps would even give a finer step.)");
        f.score = 1.0;
        f.rank_reason = format!("harmless: the next op in {} is a {clip}", o.model);
        return;
    }
    if !(cut_low && cut_high && (low_ok || high_ok)) {
        return;
    }
    // Both sides cut, one of them harmless.
    let share_above = clip_share_above(m, qlo, qhi);
    let (free, costs) = (format!("below {qlo:.4}"), format!("above {qhi:.4}"));
    let (free, does, costs, reach, share) = if low_ok {
        let does = below.replace("them", &format!("the values {free}"));
        (free, does, costs, m.base_max, share_above)
    } else {
        let does = above.replace("them", &format!("the values {costs}"));
        (costs, does, free, m.base_min, share_above.map(|s| 1.0 - s))
    };
    let est = share
        .map(|s| {
            format!(
                " By the float histogram, about {:.0}% of the clipping's energy is in the part that costs.",
                s * 100.0
            )
        })
        .unwrap_or_default();
    f.message.push_str(&format!(
        " Part of it is harmless: {reads}, which {does} anyway, so the cut {free} costs nothing; the cut {costs} (the float values reach {reach:.4}) is what costs accuracy.{est}"
    ));
    f.fix.push_str(&format!(
        " Only the values {costs} need covering: the {clip} after it cuts those {free} anyway."
    ));
    f.rank_reason
        .push_str(&format!("; the cut {free} is harmless (a {clip} follows)"));
    if let Some(s) = share {
        f.score = 50.0 + (f.score - 50.0).max(0.0) * s;
        if s < 0.5 && f.severity == Severity::Error {
            f.severity = Severity::Warning;
        }
    }
}

/// The first of these rows where an error that flows downstream starts: in the graph's order
/// when a loaded model places any of them, else in the dumps' order; and the words for it.
fn first_in_order(
    pairs: &[PairResult],
    rows: impl Iterator<Item = usize> + Clone,
    order: Option<&GraphOrder>,
) -> (usize, String) {
    let placed = order.and_then(|o| {
        rows.clone()
            .filter_map(|r| o.of(&pairs[r]).map(|k| (k, r)))
            .min()
            .map(|(_, r)| (r, format!("in the graph of {}", o.model)))
    });
    placed.unwrap_or_else(|| (rows.min().unwrap_or(0), "in the dumps' order".to_string()))
}

/// [`all_pair_findings`], naming where the error starts in a loaded model's graph order.
pub fn all_pair_findings_in(
    pairs: &[PairResult],
    order: Option<&GraphOrder>,
) -> Vec<(usize, Finding)> {
    let mut out = Vec::new();
    // Per run (pairs of two runs never share a finding), in order of first appearance.
    let mut runs: Vec<&str> = Vec::new();
    let mut inherited: Vec<Vec<(usize, Finding)>> = Vec::new();
    // Per run, the pairs whose own clipping or rounding dominates (not those harmless here).
    let mut own: Vec<Vec<String>> = Vec::new();
    for (row, p) in pairs.iter().enumerate() {
        let Some(m) = &p.metrics else { continue };
        let run = match runs.iter().position(|r| *r == p.run) {
            Some(i) => i,
            None => {
                runs.push(&p.run);
                inherited.push(Vec::new());
                own.push(Vec::new());
                runs.len() - 1
            }
        };
        for mut f in pair_findings(&p.name, row, m) {
            if let Some(o) = order {
                harmless_before_clip(&mut f, p, m, o);
            }
            if f.kind == kind::INHERITED {
                inherited[run].push((row, f));
            } else {
                if (f.kind == kind::TRUNCATION || f.kind == kind::ROUNDING)
                    && f.severity != Severity::Info
                {
                    own[run].push(p.name.clone());
                }
                out.push((p.quant_file, f));
            }
        }
    }
    for run in &runs {
        let rows: Vec<usize> = (0..pairs.len())
            .filter(|&i| pairs[i].run == *run && unexplained(&pairs[i]))
            .collect();
        if !rows.is_empty() {
            out.push((
                pairs[rows[0]].quant_file,
                unexplained_finding(pairs, rows, order),
            ));
        }
    }
    for (mut inherited, own) in inherited.into_iter().zip(own) {
        match inherited.len() {
            0 => {}
            1 => {
                let (row, f) = inherited.pop().expect("one");
                out.push((pairs[row].quant_file, f));
            }
            n => out.push((
                pairs[inherited[0].0].quant_file,
                inherited_finding(pairs, &inherited, n, &own, order),
            )),
        }
    }
    out
}

/// A pair whose quantized side is far from its float side (Cosine < 0.99 or SQNR < 10 dB, or a
/// constant quantized tensor where the float one varies) and whose error has no split (no scale
/// known): nothing else would say it. Non-finite pairs have their own finding.
fn unexplained(p: &PairResult) -> bool {
    let Some(m) = &p.metrics else { return false };
    // Identical tensors have no error (two all-zero ones: Cosine 0 by torch's convention).
    if m.error_split.is_some() || m.nonfinite_base > 0 || m.nonfinite_analy > 0 || m.mse == 0.0 {
        return false;
    }
    collapsed(m) || m.cosine < 0.99 || m.sqnr_db < 10.0
}

/// The quantized tensor is one constant value while the float one varies.
fn collapsed(m: &super::metrics::PairMetrics) -> bool {
    m.analy_min == m.analy_max && m.base_min < m.base_max
}

/// The finding for a run's pairs that [`unexplained`] picks: the worst first, each with its
/// Cosine and SQNR (or its constant value), and how to get their error split.
fn unexplained_finding(
    pairs: &[PairResult],
    mut rows: Vec<usize>,
    order: Option<&GraphOrder>,
) -> Finding {
    let metrics = |i: usize| pairs[i].metrics.as_ref().expect("compared");
    // The first in the graph's order (a loaded model's), else in the dumps' order: where an
    // error that flows downstream would start.
    let (first, first_where) = first_in_order(pairs, rows.iter().copied(), order);
    let graph = first_where.starts_with("in the graph");
    // Worst first: collapsed tensors, then by Cosine (NaN, an undefined Cosine, first of all).
    let badness = |i: usize| {
        let m = metrics(i);
        let c = if m.cosine.is_nan() { -2.0 } else { m.cosine };
        (!collapsed(m), c)
    };
    rows.sort_by(|&a, &b| {
        let (x, y) = (badness(a), badness(b));
        x.0.cmp(&y.0).then(x.1.total_cmp(&y.1))
    });
    let run = &pairs[rows[0]].run;
    let in_run = if run.is_empty() {
        String::new()
    } else {
        format!(" in {run}")
    };
    let described: Vec<String> = rows
        .iter()
        .map(|&i| {
            let m = metrics(i);
            if collapsed(m) {
                format!(
                    "{} (the quantized tensor is all {} while the float one spans [{:.4}, {:.4}])",
                    pairs[i].name,
                    super::num::short(m.analy_min),
                    m.base_min,
                    m.base_max
                )
            } else {
                format!(
                    "{} (Cosine {:.4}, SQNR {:.2} dB)",
                    pairs[i].name, m.cosine, m.sqnr_db
                )
            }
        })
        .collect();
    let shown: Vec<String> = described.iter().take(4).cloned().collect();
    let more = match described.len().saturating_sub(4) {
        0 => String::new(),
        n => format!(" and {} more", super::findings::plural(n, "pair", "pairs")),
    };
    let names: Vec<String> = rows.iter().map(|&i| pairs[i].name.clone()).collect();
    let count = super::findings::plural(rows.len(), "pair", "pairs");
    let start = if rows.len() > 1 {
        let m = metrics(first);
        format!(
            " The first of them {first_where} is {} (Cosine {:.4}): an error made in one layer shows in every layer after it, so {}start there.",
            pairs[first].name,
            m.cosine,
            if graph { "" } else { "if the dumps are in execution order, " }
        )
    } else {
        String::new()
    };
    let any_collapsed = rows.iter().any(|&i| collapsed(metrics(i)));
    let worst = metrics(rows[0]);
    Finding {
        kind: kind::UNEXPLAINED.into(),
        severity: if any_collapsed || worst.cosine < 0.9 || worst.cosine.is_nan() {
            Severity::Error
        } else {
            Severity::Warning
        },
        layers: names,
        message: format!(
            "{count}{in_run} far from the float dump, with no scale known to tell clipping, rounding and upstream error apart: {}{more}.{start}",
            shown.join("; ")
        ),
        fix: format!(
            "Load this run's scales beside its dumps (its scales.json, its QDQ .onnx model, or its compare_per_layer_out.txt), or type the scale in the pair's row in Tensors: the error then splits into clipping, rounding and inherited, each with its fix.{}",
            if any_collapsed {
                " A quantized tensor that is all one value usually means a scale far too large for the values (every one rounds to 0), or a dump of another tensor than its float partner."
            } else {
                ""
            }
        ),
        evidence: pair_evidence(pairs, rows.iter().copied()),
        score: 50.0
            + if worst.cosine.is_nan() || any_collapsed {
                100.0
            } else {
                (1.0 - worst.cosine.clamp(0.0, 1.0)) * 100.0
            },
        rank_reason: format!("{count} far from the float dump, no scale known"),
    }
}

/// The one finding of [`all_pair_findings`] for a run's `n` (≥ 2) pairs with mostly inherited
/// error; `own`: the run's pairs whose own clipping or rounding dominates.
fn inherited_finding(
    pairs: &[PairResult],
    inherited: &[(usize, Finding)],
    n: usize,
    own: &[String],
    order: Option<&GraphOrder>,
) -> Finding {
    let names: Vec<String> = inherited
        .iter()
        .map(|(r, _)| pairs[*r].name.clone())
        .collect();
    let count = super::findings::plural(n, "pair", "pairs");
    let run = &pairs[inherited[0].0].run;
    let in_run = if run.is_empty() {
        String::new()
    } else {
        format!(" in {run}")
    };
    Finding {
        kind: kind::INHERITED.into(),
        severity: Severity::Warning,
        layers: names.clone(),
        message: format!(
            "{count}{in_run} carry error that mostly arrived from upstream (measured from the dumps: inherited error above their own clipping and rounding): {}. Their own quantization is not what hurts them.",
            super::findings::name_list(&names, 6)
        ),
        fix: if !own.is_empty() {
            format!("Fix the pairs whose own clipping or rounding dominates first ({}: {}): their error flows into these. Then compare again: what stays inherited enters earlier in the graph.", super::findings::plural(own.len(), "pair", "pairs"), super::findings::name_list(own, 6))
        } else {
            // Where the error shows first: in the graph's order, else in the dumps' order.
            let (first, first_where) =
                first_in_order(pairs, inherited.iter().map(|(r, _)| *r), order);
            let hedge = if first_where.starts_with("in the graph") {
                ""
            } else {
                "if the dumps are in execution order, "
            };
            format!(
                "No pair here has error of its own that dominates: the error enters where no activation was dumped. Most often that is the layers' weights (a weight's quantization error shows as inherited error in its layer's output: per-channel weight scales, or int16 weights for the layers where it jumps, remove it), else the model input's quantization or a tensor that was not dumped. The first of these pairs {first_where} is {}: {hedge}start there, and dump more of the graph around it.",
                pairs[first].name
            )
        },
        evidence: pair_evidence(pairs, inherited.iter().map(|(r, _)| *r)),
        score: inherited.iter().map(|(_, f)| f.score).fold(0.0, f64::max),
        rank_reason: format!("{count} with mostly inherited error"),
    }
}

/// A finding per quantized file for its pairs that could not be compared (shape mismatch, a raw
/// integer dump without its scale, a truncated file…): they would otherwise show only in their
/// rows, and the Overview would say nothing. Pairs named in order, each reason with its pairs,
/// every row cited; per file, so that a file's findings do not depend on what else is loaded.
pub fn uncompared_findings(pairs: &[PairResult]) -> Vec<(usize, Finding)> {
    let rows: Vec<usize> = (0..pairs.len())
        .filter(|&i| pairs[i].metrics.is_none() && pairs[i].error.is_some())
        .collect();
    // A float side's fault (its file could not be read there) is the float file's finding.
    let file_of = |i: usize| match pairs[i].error.as_deref() {
        Some(e) if e.starts_with("float side") => pairs[i].float_file,
        _ => pairs[i].quant_file,
    };
    let mut files: Vec<usize> = Vec::new();
    for &i in &rows {
        if !files.contains(&file_of(i)) {
            files.push(file_of(i));
        }
    }
    files
        .into_iter()
        .map(|file| {
            let mine: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&i| file_of(i) == file)
                .collect();
            (file, uncompared_finding(pairs, &mine))
        })
        .collect()
}

/// The finding of [`uncompared_findings`] for these rows (not empty).
fn uncompared_finding(pairs: &[PairResult], rows: &[usize]) -> Finding {
    // Reasons (the error's words before its first colon) in order of first appearance, each with
    // the first pair's whole sentence and its pairs.
    let mut reasons: Vec<(String, String, Vec<String>)> = Vec::new();
    for &i in rows {
        let e = pairs[i].error.as_deref().unwrap_or_default();
        let key = e.split(':').next().unwrap_or(e).trim().to_string();
        match reasons.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, names)) => names.push(pairs[i].name.clone()),
            None => reasons.push((key, e.to_string(), vec![pairs[i].name.clone()])),
        }
    }
    let names: Vec<String> = rows.iter().map(|&i| pairs[i].name.clone()).collect();
    let count = super::findings::plural(rows.len(), "pair", "pairs");
    let said: Vec<String> = reasons
        .iter()
        .map(|(_, why, names)| {
            let why = why.trim_end_matches('.');
            format!("{} ({why})", super::findings::name_list(names, 3))
        })
        .collect();
    let shape = reasons.iter().any(|(k, _, _)| k == "shape mismatch");
    let raw = reasons.iter().any(|(_, w, _)| w.contains("holds raw "));
    let mut fix = Vec::new();
    if raw {
        fix.push("give each raw integer dump its scale: type it in the pair's row, or drop the run's scales.json or QDQ model");
    }
    if shape {
        fix.push("a shape mismatch means the two names are not the same tensor (another layer, or a layout change such as NCHW vs NHWC): pair the right tensors by hand in the Tensors view, or dump both sides at the same point");
    }
    fix.push("the Tensors view lists each pair with its reason");
    Finding {
        kind: kind::NOT_COMPARED.into(),
        severity: Severity::Warning,
        layers: names,
        message: format!(
            "{count} could not be compared, so nothing is measured for {}: {}.",
            if rows.len() == 1 { "it" } else { "them" },
            said.join("; ")
        ),
        fix: {
            // The sentences start in lower case to be joined; the first one's letter goes up.
            let f = fix.join("; ");
            let mut chars = f.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
                + "."
        },
        evidence: pair_evidence(pairs, rows.iter().copied()),
        score: 40.0,
        rank_reason: format!("{count} not compared"),
    }
}

/// Findings about NaN/±∞ in the dumps: one for pairs whose quantized side alone holds them (the
/// quantized model makes them: an error), one for pairs whose float side holds them too (the
/// reference is not finite). Each names the pairs with the smallest share of such values first
/// (they spread as they flow downstream, so that pair is the likeliest origin; graph order is not
/// known from dumps), its values and where, and cites every such pair's row (`pairs` row = index
/// in `pairs`); returned with the quantized file.
pub fn nonfinite_findings(pairs: &[PairResult]) -> Vec<(usize, Finding)> {
    let with = |quant_only: bool| -> Vec<usize> {
        (0..pairs.len())
            .filter(|&i| {
                pairs[i].metrics.as_ref().is_some_and(|m| {
                    if quant_only {
                        m.nonfinite_analy > 0 && m.nonfinite_base == 0
                    } else {
                        m.nonfinite_base > 0
                    }
                })
            })
            .collect()
    };
    let mut out = Vec::new();
    for quant_only in [true, false] {
        let mut rows = with(quant_only);
        let share = |i: usize| {
            pairs[i].metrics.as_ref().map_or(f64::INFINITY, |m| {
                let n = if quant_only {
                    m.nonfinite_analy
                } else {
                    m.nonfinite_base
                };
                n as f64 / m.numel.max(1) as f64
            })
        };
        rows.sort_by(|&x, &y| share(x).total_cmp(&share(y)));
        let Some(&first) = rows.first() else { continue };
        let p = &pairs[first];
        let names: Vec<String> = rows.iter().map(|&i| pairs[i].name.clone()).collect();
        let evidence = pair_evidence(pairs, rows.iter().copied());
        let m = p.metrics.as_ref().expect("rows have metrics");
        let count = super::findings::plural(rows.len(), "pair", "pairs");
        let hold = if rows.len() == 1 { "holds" } else { "hold" };
        let (severity, message, fix) = if quant_only {
            let q = side_words(m, &p.shape, true).unwrap_or_default();
            (
                Severity::Error,
                format!(
                    "{count} {hold} NaN or ±∞ on the quantized side while the float side is finite: {} (the smallest share first). `{}` holds {q}. The quantized model makes these values; Cosine, SQNR, MSE, L1 and KL of these pairs are NaN because they sum over every element.",
                    super::findings::name_list(&names, 5),
                    p.name
                ),
                format!(
                    "Start at the first of them in graph order: everything after it inherits the NaN, and NaN spreads as it flows, so the origin usually holds the fewest (here `{}`). A NaN or ∞ appears where quantization turns a value into 0 or a huge one that then goes through a division, log, rsqrt, exp or pow (a LayerNorm's variance, a softmax's sum, a reciprocal), or where an accumulator overflows. Check that op's input scale (0 or tiny) and range, and keep its input in int16 or float. A tensor that is NaN from its first element suggests a dump read with the wrong dtype or a buffer never written.",
                    p.name
                ),
            )
        } else {
            let f = side_words(m, &p.shape, false).unwrap_or_default();
            let q = side_words(m, &p.shape, true).unwrap_or_else(|| "none".into());
            (
                Severity::Warning,
                format!(
                    "{count} {hold} NaN or ±∞ on the float side: {} (the smallest share first). `{}` holds {f} (quantized side: {q}). The float reference is not finite there, so Cosine, SQNR, MSE, L1 and KL of these pairs are NaN and say nothing about quantization.",
                    super::findings::name_list(&names, 5),
                    p.name
                ),
                "If the values are a mask (−∞ before a softmax, on both sides at the same places), dump the tensor after the mask is applied or compare the softmax output instead. Otherwise the float model or its input is broken here (a division by zero, an overflow, an input outside the preprocessing's range): fix the float model first, then compare again.".to_string(),
            )
        };
        out.push((
            p.quant_file,
            Finding {
                kind: kind::NONFINITE.into(),
                severity,
                layers: names,
                message,
                fix,
                evidence,
                score: if quant_only { 200.0 } else { 100.0 },
                rank_reason: format!(
                    "NaN/±∞ on the {} side of {count}",
                    if quant_only { "quantized" } else { "float" }
                ),
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_chooses_for_its_files_without_a_choice() {
        let mut sides = std::collections::HashMap::new();
        sides.insert("run_a/".to_string(), Side::Float);
        sides.insert("run_a/deep/x.npy".to_string(), Side::Quant);
        sides.insert("./".to_string(), Side::Quant);
        assert_eq!(chosen_side(&sides, "run_a/y.npy"), Some(Side::Float));
        assert_eq!(chosen_side(&sides, "run_a/deep/z.npy"), Some(Side::Float));
        assert_eq!(chosen_side(&sides, "run_a/deep/x.npy"), Some(Side::Quant));
        assert_eq!(chosen_side(&sides, "run_b/y.npy"), None);
        assert_eq!(chosen_side(&sides, "top.npy"), Some(Side::Quant));
        sides.insert("run_a/deep/".to_string(), Side::Quant);
        assert_eq!(
            chosen_side(&sides, "run_a/deep/z.npy"),
            Some(Side::Quant),
            "the nearest folder"
        );
        assert_eq!(folder_key("a\\b\\c.npy"), "a\\b/");
        assert_eq!(
            chosen_side(
                &std::collections::HashMap::from([("a\\b/".to_string(), Side::Float)]),
                "a\\b\\c.npy"
            ),
            Some(Side::Float)
        );
    }

    #[test]
    fn a_drop_keeps_files_of_one_name_apart() {
        let names: Vec<String> = [
            "conv1.npy",
            "out/a.npy",
            "conv1.npy",
            "(2)/conv1.npy",
            "conv1.npy",
            "b.npy",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = distinct_paths(&names, &[]);
        // The second conv1.npy cannot take (2)/ (a file of the drop has that path): (3)/; the
        // third then (4)/.
        assert_eq!(
            d.names,
            [
                "conv1.npy",
                "out/a.npy",
                "(3)/conv1.npy",
                "(2)/conv1.npy",
                "(4)/conv1.npy",
                "b.npy"
            ]
        );
        assert_eq!(d.renamed, 2);
        let note = d.note.unwrap();
        assert!(
            note.starts_with(
                "2 file(s) came with the name of another file in the same drop (conv1.npy, …)"
            ),
            "{note}"
        );
        // Names all distinct already: untouched, no note.
        let plain: Vec<String> = vec!["float/x.npy".into(), "quant/x.npy".into()];
        assert_eq!(
            distinct_paths(&plain, &[]),
            DistinctPaths {
                names: plain.clone(),
                renamed: 0,
                note: None
            }
        );
        let two: Vec<String> = vec!["x.npy".into(), "x.npy".into()];
        assert_eq!(distinct_paths(&two, &[]).names, ["x.npy", "(2)/x.npy"]);
        // A flat name loaded before is replaced, and the note says so; one in a folder is a re-drop.
        let loaded: Vec<String> = vec!["x.npy".into(), "run/y.npy".into()];
        let again: Vec<String> = vec!["x.npy".into(), "run/y.npy".into()];
        let d = distinct_paths(&again, &loaded);
        assert_eq!(d.names, again);
        assert_eq!(d.note.as_deref(), Some("1 file(s) without a folder have the name of a file loaded before (x.npy) and replace it, as a file dropped again does. If they are the other side's files, Clear, then drop or pick both folders together."));
    }

    /// The search as it was before `SideCounter` (every candidate recounted with `count_pairs`):
    /// the reference `search_sides` must agree with.
    fn search_reference(
        files: &[SideInput],
        guesses: &[Option<(Side, SideBasis)>],
        free: &[usize],
    ) -> (Vec<Option<Side>>, (usize, i64)) {
        let score = |sides: &[Option<Side>]| -> (usize, i64) {
            let (mut fl, mut ql) = (Vec::new(), Vec::new());
            for (f, s) in files.iter().zip(sides) {
                match s {
                    Some(Side::Float) => fl.extend(f.names.iter().copied()),
                    Some(Side::Quant) => ql.extend(f.names.iter().copied()),
                    None => {}
                }
            }
            let agree = (0..files.len())
                .map(|i| agreement(guesses[i], sides[i]))
                .sum();
            (count_pairs(&fl, &ql), agree)
        };
        let base: Vec<Option<Side>> = guesses.iter().map(|g| g.map(|(s, _)| s)).collect();
        let mut best = (base.clone(), score(&base));
        let consider = |cand: Vec<Option<Side>>, best: &mut (Vec<Option<Side>>, (usize, i64))| {
            let sc = score(&cand);
            if sc > best.1 {
                *best = (cand, sc);
            }
        };
        if free.len() <= 12 && files.len() >= 2 {
            for mask in 0u32..(1 << free.len()) {
                let mut cand = base.clone();
                for (bit, &i) in free.iter().enumerate() {
                    cand[i] = Some(if mask >> bit & 1 == 1 {
                        Side::Quant
                    } else {
                        Side::Float
                    });
                }
                consider(cand, &mut best);
            }
        } else {
            for &i in free {
                for s in [Side::Float, Side::Quant] {
                    let mut cand = best.0.clone();
                    cand[i] = Some(s);
                    consider(cand, &mut best);
                }
            }
        }
        best
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// The incremental search finds what recounting every candidate found: same sides, same
        /// score, ties broken the same way; with few files (every assignment) and many (flips),
        /// names that pair exactly, by normalized name, repeated, or not at all.
        #[test]
        fn side_search_matches_the_recounting_one(
            spec in proptest::collection::vec(
                (0usize..6, proptest::collection::vec((0usize..6, 0usize..3), 0..6), 0usize..8),
                0..18,
            )
        ) {
            let paths = ["float/t.npy", "quant/t.npy", "a_fp32.npy", "b_int8.npy", "c.npy", "run/d.npz"];
            let bases = ["conv1", "conv2", "relu", "add", "x", "y"];
            let suffixes = ["", "_QuantizeLinear_Output", "_int8"];
            let names: Vec<Vec<String>> = spec
                .iter()
                .map(|(_, ns, _)| ns.iter().map(|&(b, x)| format!("{}{}", bases[b], suffixes[x])).collect())
                .collect();
            let files: Vec<SideInput> = spec
                .iter()
                .zip(&names)
                .map(|((p, _, chosen), ns)| SideInput {
                    path: paths[*p],
                    names: ns.iter().map(String::as_str).collect(),
                    chosen: match chosen {
                        0 => Some(Side::Float),
                        1 => Some(Side::Quant),
                        _ => None,
                    },
                })
                .collect();
            let guesses: Vec<_> = files
                .iter()
                .map(|f| match f.chosen {
                    Some(s) => Some((s, SideBasis::Chosen)),
                    None => guess_side_with_basis(f.path),
                })
                .collect();
            let free: Vec<usize> = (0..files.len()).filter(|&i| files[i].chosen.is_none()).collect();
            proptest::prop_assert_eq!(
                search_sides(&files, &guesses, &free),
                search_reference(&files, &guesses, &free)
            );
        }
    }

    /// A C-order float32 `.npy` file in memory.
    fn npy(shape: &[usize], data: &[f32]) -> Vec<u8> {
        npy_as(shape, false, data)
    }

    fn npy_as(shape: &[usize], fortran: bool, data: &[f32]) -> Vec<u8> {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        npy_raw(shape, "<f4", fortran, &bytes)
    }

    /// The tensors of a float and a quantized `.npy`, and their comparison as one whole pair.
    fn entries_and_whole(
        fb: &[u8],
        qb: &[u8],
        scale: Option<f64>,
        dtype: Option<&str>,
    ) -> (TensorEntry, TensorEntry, PairMetrics) {
        let entry = |name: &str, b: &[u8]| {
            crate::engine::tensor::list_tensors(name, &mut &b[..]).unwrap()[0].clone()
        };
        let (fe, qe) = (entry("f.npy", fb), entry("q.npy", qb));
        let whole = compare_pair(
            &mut &fb[..],
            &fe,
            &mut &qb[..],
            &qe,
            scale,
            dtype,
            0,
            &mut |_| {},
        )
        .unwrap();
        (fe, qe, whole)
    }

    fn npy_i8(shape: &[usize], data: &[i8]) -> Vec<u8> {
        let bytes: Vec<u8> = data.iter().map(|&v| v as u8).collect();
        npy_raw(shape, "|i1", false, &bytes)
    }

    fn npy_raw(shape: &[usize], descr: &str, fortran: bool, bytes: &[u8]) -> Vec<u8> {
        crate::engine::encode::npy(descr, fortran, shape, bytes)
    }

    /// A pair compared in parts (2, 3 or 5, by slabs or by groups, windowed KL, Fortran order,
    /// raw int8 dequantized, with and without the split) merges to what one whole comparison
    /// gets: counts and extremes exactly, histograms exactly, sums and KL to within rounding (the
    /// kernel sums each block in float32 lanes, so other block boundaries round differently).
    #[test]
    fn part_schedules_read_every_element_once_in_kl_order() {
        for (shape, k) in [
            (vec![8u64, 5, 300_001], 2usize),
            (vec![1, 3, (1 << 21) + 5], 3),
            (vec![5, 7, 11], 2),
            (vec![4096, 3], 3),
            (vec![0, 3, 4], 2),
        ] {
            let e = TensorEntry {
                shape: shape.clone(),
                ..crate::engine::tensor::list_tensors("t.npy", &mut npy(&[1], &[0.0]).as_slice())
                    .unwrap()[0]
                    .clone()
            };
            let (_, along, inner) = crate::engine::metrics::kl_layout(&shape, false);
            let mut seen = vec![0u8; e.numel() as usize];
            for part in plan_parts_with(&shape, false, k, 0) {
                let mut last_window = None;
                for r in part_schedule(&e, part).unwrap() {
                    assert!(
                        r.n > 0 && r.n % r.w == 0 && r.n <= PART_READ_ELEMS.max(inner as usize)
                    );
                    // Each read's channels belong to one window of groups.
                    let g = r.start % inner;
                    assert!(g + r.w as u64 <= inner);
                    if r.w as u64 != inner {
                        assert_eq!(r.n, r.w, "a window's read is one channel run");
                        if last_window != Some(g) {
                            // A new window starts at channel 0 of the part's first slab.
                            assert_eq!(r.start / inner, part.o0 * along);
                            last_window = Some(g);
                        }
                    }
                    for i in r.start..r.start + r.n as u64 {
                        seen[i as usize] += 1;
                    }
                }
            }
            assert!(
                seen.iter().all(|&c| c == 1),
                "{shape:?}: every element once"
            );
        }
        let e =
            crate::engine::tensor::list_tensors("t.npy", &mut npy(&[2, 3], &[0.0; 6]).as_slice())
                .unwrap()[0]
                .clone();
        assert!(part_schedule(
            &e,
            PairPart {
                o0: 0,
                o1: 3,
                r0: 0,
                r1: 1
            }
        )
        .is_err());
    }

    #[test]
    fn parts_merge_to_the_whole_comparison() {
        // (shape, Fortran order, raw int8 quantized side, scale, dtype)
        type Case = (Vec<usize>, bool, bool, Option<f64>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (vec![6, 5, 7, 9], false, false, None, None),
            (vec![6, 5, 7, 9], false, false, Some(0.02), Some("int8")),
            (vec![1, 4, 33, 17], false, false, Some(0.05), Some("int16")),
            (vec![2, 3, 11, 5], true, false, None, None),
            (
                vec![1, 3, (1 << 18) + 37],
                false,
                false,
                Some(0.02),
                Some("int8"),
            ),
            (
                // Parts wider than PART_WINDOW: windows inside each part.
                vec![1, 2, (1 << 21) + 5],
                false,
                false,
                Some(0.02),
                Some("int8"),
            ),
            (vec![1, 2, 300, 200], false, true, Some(0.02), None),
            (vec![4, 1000], false, false, None, None),
            // Whole groups read across outer slabs, 13 channels a read: reads end inside slabs.
            (vec![8, 5, 300_001], false, false, Some(0.02), Some("int8")),
        ];
        for (shape, fortran, raw_int, scale, dtype) in cases {
            let n: usize = shape.iter().product();
            let b: Vec<f32> = (0..n)
                .map(|i| ((i % 9973) as f32 * 0.0013).sin() * 2.0 + ((i / 4096) % 5) as f32 * 0.1)
                .collect();
            let q: Vec<f32> = b
                .iter()
                .map(|x| (x * 50.0).round_ties_even().clamp(-128.0, 127.0) / 50.0)
                .collect();
            let (fb, qb) = if raw_int {
                let codes: Vec<i8> = b
                    .iter()
                    .map(|x| (x / 0.02).round_ties_even().clamp(-128.0, 127.0) as i8)
                    .collect();
                (npy_as(&shape, fortran, &b), npy_i8(&shape, &codes))
            } else {
                (npy_as(&shape, fortran, &b), npy_as(&shape, fortran, &q))
            };
            let (fe, qe, whole) = entries_and_whole(&fb, &qb, scale, dtype);
            let Some((spec, deq)) = part_setup(&fe, &qe, scale, dtype, 0).unwrap() else {
                panic!("{shape:?}: not in parts");
            };
            for k in [2usize, 3, 5] {
                let parts = plan_parts_with(&fe.shape, fe.fortran, k, 0);
                if parts.len() == 1 {
                    // [4, 1000]: 4 groups of 1000 along the last axis, no 5 parts of whole groups.
                    assert_eq!((shape.as_slice(), k), (&[4usize, 1000][..], 5));
                    continue;
                }
                let accs: Vec<_> = parts
                    .iter()
                    .map(|&p| {
                        compare_part(
                            &mut fb.as_slice(),
                            &fe,
                            &mut qb.as_slice(),
                            &qe,
                            spec,
                            deq,
                            p,
                            &mut |_| {},
                        )
                        .unwrap()
                    })
                    .collect();
                assert_eq!(
                    accs.iter().map(|p| p.sums.n).sum::<u64>(),
                    n as u64,
                    "{shape:?}: every element once"
                );
                let merged0 = merge_parts(&accs, spec, &[]);
                let hists: Vec<_> = parts
                    .iter()
                    .filter_map(|&p| {
                        hist_part(
                            &mut fb.as_slice(),
                            &fe,
                            &mut qb.as_slice(),
                            &qe,
                            deq,
                            p,
                            &merged0,
                            &mut |_| {},
                        )
                        .unwrap()
                    })
                    .collect();
                let m = merge_parts(&accs, spec, &hists);
                let close = |x: f64, y: f64, what: &str| {
                    assert!(
                        x == y || (x - y).abs() <= 2e-6 * x.abs().max(y.abs()).max(1e-12),
                        "{shape:?} in {k}: {what} {x} vs {y}"
                    );
                };
                assert_eq!(m.numel, whole.numel);
                close(m.cosine, whole.cosine, "cosine");
                close(m.mse, whole.mse, "mse");
                close(m.l1, whole.l1, "l1");
                close(m.sqnr_db, whole.sqnr_db, "sqnr");
                close(m.kl, whole.kl, "kl");
                close(m.base_mean, whole.base_mean, "base mean");
                close(m.base_var, whole.base_var, "base var");
                close(m.analy_mean, whole.analy_mean, "analy mean");
                close(m.analy_var, whole.analy_var, "analy var");
                assert_eq!(
                    (
                        m.atol,
                        m.rtol,
                        m.base_min,
                        m.base_max,
                        m.analy_min,
                        m.analy_max
                    ),
                    (
                        whole.atol,
                        whole.rtol,
                        whole.base_min,
                        whole.base_max,
                        whole.analy_min,
                        whole.analy_max
                    )
                );
                assert_eq!(m.quant, whole.quant);
                assert_eq!(m.max_qscale_diff, whole.max_qscale_diff);
                match (m.error_split, whole.error_split) {
                    (Some(x), Some(y)) => {
                        close(x.clip, y.clip, "clip");
                        close(x.round, y.round, "round");
                        assert_eq!(x.clipped_fraction, y.clipped_fraction);
                    }
                    (None, None) => {}
                    other => panic!("{shape:?}: split {other:?}"),
                }
                assert_eq!(m.hist, whole.hist, "{shape:?} in {k}: histograms");
                match (m.local, whole.local) {
                    (Some(x), Some(y)) => {
                        close(x.int8_mse, y.int8_mse, "local int8");
                        close(x.int16_mse, y.int16_mse, "local int16");
                    }
                    (None, None) => {}
                    other => panic!("{shape:?}: local {other:?}"),
                }
            }
        }
        // Identical tensors (SQNR ∞, MSE 0) and NaN/∞ values merge as a whole comparison gives them.
        let shape = [4usize, 3, 50];
        let n = 600;
        let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut q = b.clone();
        q[7] = f32::NAN;
        q[300] = f32::INFINITY;
        for (bq, nb) in [(&b, &b), (&b, &q)] {
            let (fb, qb) = (npy(&shape, bq), npy(&shape, nb));
            let (fe, qe, whole) = entries_and_whole(&fb, &qb, None, None);
            let accs: Vec<_> = plan_parts_with(&fe.shape, false, 3, 0)
                .into_iter()
                .map(|p| {
                    compare_part(
                        &mut fb.as_slice(),
                        &fe,
                        &mut qb.as_slice(),
                        &qe,
                        None,
                        None,
                        p,
                        &mut |_| {},
                    )
                    .unwrap()
                })
                .collect();
            let m = merge_parts(&accs, None, &[]);
            // NaN ≠ NaN: compared as printed.
            let show = |m: &PairMetrics| {
                format!("{:?}", (m.sqnr_db, m.mse, m.nonfinite_analy, m.analy_max))
            };
            assert_eq!(show(&m), show(&whole));
            // Cosine to within rounding (identical tensors: 1 − 2e-16 from the parts, 1 whole).
            assert!(
                (m.cosine.is_nan() && whole.cosine.is_nan())
                    || (m.cosine - whole.cosine).abs() < 1e-12
            );
        }
        // Small tensors and k = 1 stay whole; a part never crosses a softmax group.
        assert_eq!(plan_parts(&[1, 64, 56, 56], false, 4).len(), 1);
        assert_eq!(plan_parts(&[16, 128, 256, 256], false, 1).len(), 1);
        let p = plan_parts(&[16, 128, 256, 256], false, 3);
        assert_eq!((p.len(), p[0].o1, p[2].o1, p[1].r1), (3, 5, 16, 65536));
        let p = plan_parts(&[1, 64, 1 << 21], false, 2);
        assert_eq!((p[0].r1, p[1].r0, p[1].o1), (1 << 20, 1 << 20, 1));
    }

    #[test]
    fn a_new_scale_recomputes_only_the_split_and_gets_what_a_whole_comparison_gets() {
        // 600,001 elements: slices of CHUNK_ELEMS and a ragged end; values clipped at int8 0.01.
        let n = 600_001usize;
        let b: Vec<f32> = (0..n)
            .map(|i| ((i % 9973) as f32 * 0.001).sin() * 2.0 + ((i / 4096) % 5) as f32 * 0.1)
            .collect();
        let a: Vec<f32> = b
            .iter()
            .map(|x| (x * 60.0).round_ties_even().clamp(-128.0, 127.0) / 60.0)
            .collect();
        let shape = [1usize, 7, n / 7];
        let (fb, qb) = (npy(&shape, &b[..n / 7 * 7]), npy(&shape, &a[..n / 7 * 7]));
        let fe =
            crate::engine::tensor::list_tensors("f.npy", &mut fb.as_slice()).unwrap()[0].clone();
        let qe =
            crate::engine::tensor::list_tensors("q.npy", &mut qb.as_slice()).unwrap()[0].clone();
        let whole = |scale: Option<f64>, dtype: Option<&str>| {
            compare_pair(
                &mut fb.as_slice(),
                &fe,
                &mut qb.as_slice(),
                &qe,
                scale,
                dtype,
                0,
                &mut |_| {},
            )
            .unwrap()
        };
        let cases: [(Option<f64>, Option<&str>); 5] = [
            (None, None),
            (Some(1.0 / 60.0), None),
            (Some(0.01), None),
            (Some(0.002), Some("int16")),
            (Some(0.05), Some("int8")),
        ];
        for (s0, d0) in cases {
            let old = whole(s0, d0);
            for (s1, d1) in cases {
                let want = whole(s1, d1);
                let mut read = 0u64;
                let got = rescale_pair(&mut fb.as_slice(), &fe, &qe, &old, s1, d1, 0, &mut |d| {
                    read = d
                })
                .expect("a float dump: the split alone")
                .unwrap();
                if s1.is_some() {
                    assert!(
                        read > 0 && read <= fb.len() as u64,
                        "the float side only: {read}"
                    );
                }
                let (mut g, mut w) = (got.clone(), want.clone());
                let (gi, wi) = (
                    g.error_split
                        .as_mut()
                        .map(|sp| std::mem::take(&mut sp.inherited)),
                    w.error_split
                        .as_mut()
                        .map(|sp| std::mem::take(&mut sp.inherited)),
                );
                assert_eq!(
                    format!("{g:?}"),
                    format!("{w:?}"),
                    "{s0:?} {d0:?} → {s1:?} {d1:?}"
                );
                match (gi, wi) {
                    (Some(x), Some(y)) => assert!(
                        (x - y).abs() <= 1e-12 * y.abs().max(1e-300),
                        "inherited {x} vs {y}"
                    ),
                    (x, y) => assert_eq!(x, y),
                }
            }
        }
        // A raw integer dump: the scale dequantizes it, so the pair is compared whole.
        let mut raw = qe.clone();
        raw.elem = ElemType::I8;
        let old = whole(Some(0.01), None);
        assert!(rescale_pair(
            &mut fb.as_slice(),
            &fe,
            &raw,
            &old,
            Some(0.02),
            None,
            0,
            &mut |_| {}
        )
        .is_none());
    }

    #[test]
    fn compare_files_reads_only_the_float_tensor_when_a_scale_changes() {
        let n = 300_000usize;
        let b: Vec<f32> = (0..n)
            .map(|i| ((i % 977) as f32 * 0.01).cos() * 1.5)
            .collect();
        let a: Vec<f32> = b.iter().map(|x| (x * 80.0).round() / 80.0).collect();
        let (fb, qb) = (npy(&[n], &b), npy(&[n], &a));
        let fe = crate::engine::tensor::list_tensors("act.npy", &mut fb.as_slice()).unwrap();
        let qe = crate::engine::tensor::list_tensors("act.npy", &mut qb.as_slice()).unwrap();
        let files = [
            CompareInput {
                key: "f".into(),
                run: String::new(),
                entries: fe.clone(),
                side: Some(Side::Float),
            },
            CompareInput {
                key: "q".into(),
                run: String::new(),
                entries: qe.clone(),
                side: Some(Side::Quant),
            },
        ];
        let mut sources: Vec<Box<dyn ByteSource + '_>> =
            vec![Box::new(fb.as_slice()), Box::new(qb.as_slice())];
        let mut cache = CompareCache::new();
        let mut run = |scale: Option<f64>, cache: &mut CompareCache| {
            let choice = |_: &str, _: &str, _: &str| {
                scale.map(|s| ScaleChoice {
                    scale: s,
                    dtype: None,
                    zero_point: 0,
                    source: "typed".into(),
                })
            };
            let mut most = 0u64;
            let cmp = compare_files(&files, &mut sources, &choice, &[], cache, &mut |d, _, _| {
                most = most.max(d)
            });
            (cmp.pairs[0].metrics.clone().expect("compared"), most)
        };
        let (first, read0) = run(None, &mut cache);
        assert!(
            read0 > fb.len() as u64,
            "the first comparison reads both sides: {read0}"
        );
        assert!(first.error_split.is_none());
        let (typed, read1) = run(Some(1.0 / 80.0), &mut cache);
        assert!(
            read1 <= fb.len() as u64,
            "a new scale reads the float side only: {read1}"
        );
        let want = compare_pair(
            &mut fb.as_slice(),
            &fe[0],
            &mut qb.as_slice(),
            &qe[0],
            Some(1.0 / 80.0),
            None,
            0,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            typed.error_split.map(|s| s.clip),
            want.error_split.map(|s| s.clip)
        );
        assert_eq!(
            typed.error_split.map(|s| s.round),
            want.error_split.map(|s| s.round)
        );
        assert_eq!(typed.quant, want.quant);
        assert_eq!(typed.kl.to_bits(), want.kl.to_bits());
        // Back to the first scale: from the cache, nothing read.
        let (again, read2) = run(None, &mut cache);
        assert_eq!(read2, 0);
        assert_eq!(format!("{again:?}"), format!("{first:?}"));
    }

    /// A one-element f32 tensor named `name` in file `file`, for the pairing tests.
    fn located_at(file: usize, name: &str) -> Located {
        use crate::engine::tensor::{DataRef, ElemType, TensorEntry};
        Located {
            file,
            entry: TensorEntry {
                name: name.into(),
                elem: ElemType::F32,
                shape: vec![1],
                big_endian: false,
                fortran: false,
                data: DataRef::Raw { offset: 0, len: 4 },
                scale: None,
                quant: None,
            },
        }
    }

    #[test]
    fn a_clip_that_alone_reads_the_quantized_values_makes_their_clipping_harmless() {
        use crate::engine::metrics::{compare_slices, QuantSpec};
        // hardswish's Add: float values in [-10, 14], quantized at int8 with scale 6/127 (ORT
        // takes the scale from the Clip(0, 6) after it), so everything past ±6 is clipped.
        let s = 6.0 / 127.0;
        let b: Vec<f32> = (0..512).map(|i| -10.0 + 24.0 * i as f32 / 511.0).collect();
        let a: Vec<f32> = b
            .iter()
            .map(|x| ((x / s as f32).round_ties_even().clamp(-127.0, 127.0)) * s as f32)
            .collect();
        // Metrics with histograms, as a dropped pair's second pass gives them.
        let with_hist = |b: &[f32], a: &[f32]| {
            let mut m = compare_slices(b, a, &[b.len() as u64], Some(QuantSpec::int8(s)));
            let mut h = crate::engine::metrics::HistAccumulator::new(&m).expect("hist");
            h.update(b, a);
            m.hist = Some(h.finish().0);
            m
        };
        let m = with_hist(&b, &a);
        let pairs: Vec<PairResult> = vec![serde_json::from_value(serde_json::json!({
            "name": "p2o.Add.4", "float_file": 0, "quant_file": 1, "float_tensor": "p2o.Add.4",
            "quant_tensor": "p2o.Add.4_DequantizeLinear_Output", "shape": [512],
            "matched_by": "exact", "metrics": m, "error": null,
        }))
        .expect("pair")];
        let truncation = |order: Option<&GraphOrder>| {
            all_pair_findings_in(&pairs, order)
                .into_iter()
                .map(|(_, f)| f)
                .find(|f| f.kind == kind::TRUNCATION)
                .expect("truncation")
        };
        let order = |lo: f64, hi: f64| GraphOrder {
            model: "m.onnx".into(),
            index: [("p2o.Add.4".to_string(), 0)].into(),
            clamps: [("p2o.Add.4".to_string(), [lo, hi])].into(),
        };
        let plain = truncation(None);
        assert_eq!(plain.severity, Severity::Error, "{}", plain.message);
        // Clip(0, 6) inside the represented [-6, 6]: harmless, information, at the bottom.
        let f = truncation(Some(&order(0.0, 6.0)));
        assert_eq!(f.severity, Severity::Info);
        assert!(f.rank_reason.starts_with("harmless"), "{}", f.rank_reason);
        assert!(
            f.message.contains("only a Clip(0, 6)") && f.message.contains("m.onnx"),
            "{}",
            f.message
        );
        assert!(f.fix.starts_with("Nothing to do"), "{}", f.fix);
        // A Clip that keeps more than the scale represents on both sides: the clipping costs, as
        // before.
        let f = truncation(Some(&order(-7.0, 8.0)));
        assert_eq!(f.severity, plain.severity);
        assert_eq!(f.rank_reason, plain.rank_reason);
        assert_eq!(f.message, plain.message);
        // One that keeps more on one side only (the float side, [-10, 14], is cut on both): that
        // side costs, the other is said to cost nothing; the finding is ranked on the costly
        // side's share of the clipping energy (∫(x−6)² over [6, 14] against ∫(−6.05−x)² over
        // [−10, −6.05]: about 89% above).
        use crate::engine::scales::NO_BOUND;
        for (lo, hi, clip, free, costs, share) in [
            (
                0.0,
                8.0,
                "Clip(0, 8)",
                "below -6.0472",
                "above 6.0000",
                89.0,
            ),
            (0.0, NO_BOUND, "Relu", "below -6.0472", "above 6.0000", 89.0),
            (
                -7.0,
                6.0,
                "Clip(-7, 6)",
                "above 6.0000",
                "below -6.0472",
                11.0,
            ),
        ] {
            let f = truncation(Some(&order(lo, hi)));
            assert!(
                f.message.contains(&format!(
                    "Part of it is harmless: in m.onnx, what reads `p2o.Add.4` after its QuantizeLinear → DequantizeLinear is only a {clip}, which"
                )) && f.message.contains(&format!(
                    "so the cut {free} costs nothing; the cut {costs}"
                )) && f.message.contains(&format!("the values {free} to ")),
                "{}",
                f.message
            );
            let pct = f
                .message
                .split("about ")
                .nth(1)
                .and_then(|t| t.split('%').next())
                .and_then(|t| t.parse::<f64>().ok())
                .expect("share");
            assert!((pct - share).abs() <= 3.0, "{clip}: {pct}% ({})", f.message);
            assert!(
                f.rank_reason.starts_with(&plain.rank_reason),
                "{}",
                f.rank_reason
            );
            assert!(
                f.rank_reason.contains("is harmless (a "),
                "{}",
                f.rank_reason
            );
            assert!(f.score < plain.score, "{clip}");
            // Mostly harmless: no longer an error.
            let sev = if share < 50.0 {
                Severity::Warning
            } else {
                plain.severity
            };
            assert_eq!(f.severity, sev, "{clip}");
        }
        // A Relu after a tensor the quantization cuts only below ([-10, 5] at the same scale):
        // harmless, the Relu sets those values to 0 anyway.
        let low_only: Vec<f32> = (0..512).map(|i| -10.0 + 15.0 * i as f32 / 511.0).collect();
        let lq: Vec<f32> = low_only
            .iter()
            .map(|x| ((x / s as f32).round_ties_even().clamp(-127.0, 127.0)) * s as f32)
            .collect();
        let lm = with_hist(&low_only, &lq);
        let lp: Vec<PairResult> = vec![PairResult {
            metrics: Some(lm),
            ..pairs[0].clone()
        }];
        let f = all_pair_findings_in(&lp, Some(&order(0.0, NO_BOUND)))
            .into_iter()
            .map(|(_, f)| f)
            .find(|f| f.kind == kind::TRUNCATION)
            .expect("truncation");
        assert_eq!(f.severity, Severity::Info, "{}", f.message);
        assert!(
            f.message.contains("is only a Relu: the quantization cuts only values below -6.0472, and the Relu sets them to 0 anyway."),
            "{}",
            f.message
        );
        assert_eq!(f.rank_reason, "harmless: the next op in m.onnx is a Relu");
        // Another pair's clamp says nothing of this one.
        let other = GraphOrder {
            clamps: [("p2o.Add.12".to_string(), [0.0, 6.0])].into(),
            ..order(0.0, 6.0)
        };
        assert_eq!(truncation(Some(&other)).severity, plain.severity);
    }

    #[test]
    fn inherited_error_names_where_it_starts_in_a_loaded_models_graph() {
        use crate::engine::metrics::{compare_slices, QuantSpec};
        // Three int16 pairs whose error is mostly inherited (noise far above their rounding),
        // dumped in the order c, a, b; the model's graph runs a, b, c.
        let b: Vec<f32> = (0..256).map(|i| (i as f32 * 0.37).sin()).collect();
        let noisy: Vec<f32> = b
            .iter()
            .enumerate()
            .map(|(i, x)| x + 0.01 * ((i * 7 % 13) as f32 - 6.0))
            .collect();
        let m = compare_slices(&b, &noisy, &[256], Some(QuantSpec::int16(2.0 / 32768.0)));
        let split = m.error_split.expect("split");
        assert!(
            split.inherited > 10.0 * (split.clip + split.round),
            "{split:?}"
        );
        let pr = |name: &str| -> PairResult {
            serde_json::from_value(serde_json::json!({
                "name": name, "float_file": 0, "quant_file": 1, "float_tensor": name,
                "quant_tensor": format!("{name}_DequantizeLinear_Output"), "shape": [256],
                "matched_by": "exact", "metrics": m, "error": null,
            }))
            .expect("pair")
        };
        let pairs = [pr("c"), pr("a"), pr("b")];
        let fix = |order: Option<&GraphOrder>| {
            let f = all_pair_findings_in(&pairs, order);
            let f = f
                .iter()
                .find(|(_, f)| f.kind == kind::INHERITED)
                .expect("inherited");
            f.1.fix.clone()
        };
        assert!(
            fix(None).contains("The first of these pairs in the dumps' order is c: if the dumps are in execution order, start there"),
            "{}",
            fix(None)
        );
        let order = GraphOrder {
            model: "m.onnx".into(),
            index: [("a", 0), ("b", 1), ("c", 2)]
                .map(|(k, v)| (k.to_string(), v))
                .into(),
            clamps: Default::default(),
        };
        let with = fix(Some(&order));
        assert!(
            with.contains("The first of these pairs in the graph of m.onnx is a: start there"),
            "{with}"
        );
        assert!(with.contains("the layers' weights"), "{with}");
        // With a pair whose own rounding dominates, the fix names it as the one to fix first.
        let coarse = QuantSpec::int8(0.1);
        let rounded: Vec<f32> = b
            .iter()
            .map(|x| (x / 0.1).round_ties_even().clamp(-128.0, 127.0) * 0.1)
            .collect();
        let rm = compare_slices(&b, &rounded, &[256], Some(coarse));
        let mut with_own = pairs.to_vec();
        with_own.push(PairResult {
            name: "r".into(),
            metrics: Some(rm),
            ..pairs[0].clone()
        });
        let f = all_pair_findings_in(&with_own, None);
        assert!(
            f.iter().any(|(_, f)| f.kind == kind::ROUNDING),
            "{:?}",
            f.iter().map(|(_, f)| &f.kind).collect::<Vec<_>>()
        );
        let inh = &f
            .iter()
            .find(|(_, f)| f.kind == kind::INHERITED)
            .expect("inherited")
            .1;
        assert!(
            inh.fix.starts_with(
                "Fix the pairs whose own clipping or rounding dominates first (1 pair: `r`)"
            ),
            "{}",
            inh.fix
        );
    }

    #[test]
    fn a_qdq_dump_pairs_each_float_tensor_with_its_dequantizelinear_output() {
        let at = located_at;
        let got = |p: &Pairing| {
            p.pairs
                .iter()
                .map(|p| (p.name.clone(), p.quant.entry.name.clone()))
                .collect::<Vec<_>>()
        };
        // ORT's qdq_loss_debug dump of a QDQ model: `conv` before its QuantizeLinear (listed
        // first, same name as the float one) and after its DequantizeLinear; `relu` under
        // create_activation_matching's names (`_QuantizeLinear_Input` first); `out` as a graph
        // output (its DequantizeLinear output keeps the name); `other` with no QDQ.
        let float = [at(0, "conv"), at(0, "relu"), at(0, "out"), at(0, "other")];
        let quant = [
            at(1, "conv"),
            at(1, "conv_DequantizeLinear_Output"),
            at(1, "relu_QuantizeLinear_Input"),
            at(1, "relu_DequantizeLinear_Output"),
            at(1, "out_QuantizeLinear_Input"),
            at(1, "out"),
            at(1, "other"),
            at(1, "stray"),
        ];
        let p = pair(&float, &quant);
        assert_eq!(
            got(&p),
            [
                ("conv".into(), "conv_DequantizeLinear_Output".into()),
                ("relu".into(), "relu_DequantizeLinear_Output".into()),
                ("out".into(), "out".into()),
                ("other".into(), "other".into()),
            ]
        );
        assert_eq!(p.pairs[0].matched_by, "as its DequantizeLinear output");
        // The values before a QuantizeLinear whose output was compared are set apart; what is
        // left with no counterpart is listed as such.
        assert_eq!(p.pre_qdq, ["conv", "relu_QuantizeLinear_Input"]);
        assert_eq!(p.unpaired_quant, ["out_QuantizeLinear_Input", "stray"]);
        assert!(p.unpaired_float.is_empty());
        // npz members keep their `.npy` in some writers.
        let p = pair(
            &[at(0, "conv.npy")],
            &[at(1, "conv.npy"), at(1, "conv_DequantizeLinear_Output.npy")],
        );
        assert_eq!(
            got(&p),
            [("conv.npy".into(), "conv_DequantizeLinear_Output.npy".into())]
        );
        assert_eq!(p.pre_qdq, ["conv.npy"]);
        // A float name with a suffix of its own pairs by the stripped name, with the
        // DequantizeLinear output before the value that precedes the QuantizeLinear.
        let p = pair(
            &[at(0, "relu_fp32")],
            &[
                at(1, "relu_QuantizeLinear_Input"),
                at(1, "relu_DequantizeLinear_Output"),
            ],
        );
        assert_eq!(
            got(&p),
            [("relu".into(), "relu_DequantizeLinear_Output".into())]
        );
        assert_eq!(p.pre_qdq, ["relu_QuantizeLinear_Input"]);
        assert!(p.unpaired_quant.is_empty());
    }

    #[test]
    fn one_float_dump_pairs_with_every_quantized_run() {
        let at = located_at;
        let pairs = |p: &Pairing| {
            p.pairs
                .iter()
                .map(|p| (p.float.file, p.quant.file, p.name.clone()))
                .collect::<Vec<_>>()
        };
        // Files 0: `fp32 dumps/`, 1: `int8 run/`, 2: `int16 run/`.
        let runs = ["fp32 dumps", "int8 run", "int16 run"];
        let run_of = |i: usize| runs[i];
        let float = [at(0, "a"), at(0, "b"), at(0, "c")];
        let quant = [
            at(1, "a"),
            at(1, "b"),
            at(2, "a"),
            at(2, "b_QuantizeLinear_Output"),
            at(2, "z"),
        ];
        let p = pair_each_run(&float, &quant, &run_of);
        assert_eq!(
            pairs(&p),
            [
                (0, 1, "a".into()),
                (0, 1, "b".into()),
                (0, 2, "a".into()),
                (0, 2, "b".into())
            ]
        );
        assert_eq!(p.unpaired_float, ["c"]);
        assert_eq!(p.unpaired_quant, ["z"]);
        // Two complete runs (float and quant in each, files 0–1 and 2–3) pair within each run, even
        // with the other run's float tensors listed first.
        let runs = ["B", "B", "A", "A"];
        let run_of = |i: usize| runs[i];
        let float = [at(0, "x"), at(2, "x")];
        let quant = [at(3, "x"), at(1, "x")];
        let p = pair_each_run(&float, &quant, &run_of);
        assert_eq!(pairs(&p), [(2, 3, "x".into()), (0, 1, "x".into())]);
        assert!(p.unpaired_float.is_empty() && p.unpaired_quant.is_empty());
        // Nested runs (`exp1/`, `exp2/`, each with its float dump and quantized run): each
        // quantized run takes the float dump of its own folder, whatever the file order.
        let runs = ["exp2/fp32", "exp1/fp32", "exp1/int8", "exp2/int8"];
        let run_of = |i: usize| runs[i];
        let nested = pair_each_run(
            &[at(0, "x"), at(1, "x")],
            &[at(2, "x"), at(3, "x")],
            &run_of,
        );
        assert_eq!(pairs(&nested), [(1, 2, "x".into()), (0, 3, "x".into())]);
        assert_eq!(run_affinity("exp1", "exp1/int8"), 1);
        assert_eq!(run_affinity("", "exp1/int8"), 0);
        assert_eq!(run_affinity("exp10/a", "exp1/a"), 0);
        // One run: exactly `pair_within`.
        let run_of = |_| "";
        assert_eq!(
            pair_each_run(&float, &quant, &run_of),
            pair_within(&float, &quant, &|_, _| true)
        );
    }

    #[test]
    fn ort_qdq_names_pair() {
        assert_eq!(
            normalize("conv1_output_QuantizeLinear_Output"),
            "conv1_output"
        );
        assert_eq!(normalize("x.npy"), "x");
        assert_eq!(normalize("relu_1"), "relu_1");
        // Dumps named by side: `conv1_float` / `conv1_quant`, `conv1_fp32` / `conv1_int8`.
        let f = ["conv1_float", "conv2_float", "head_fp32"];
        let q = ["conv2_quant", "conv1_quant", "head_int8"];
        assert_eq!(count_pairs(&f, &q), 3);
        assert_eq!(normalize("conv1_float"), normalize("conv1_quant"));
        assert_eq!(normalize("head_fp32"), normalize("head_int8"));
        assert_eq!(
            count_pairs(
                &["conv1_float", "conv2_float"],
                &["conv3_quant", "conv4_quant"]
            ),
            0
        );
    }
}

pub use super::side::Side;

/// How sure a side guess is: from the file's own name, from a folder on its path, or a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideBasis {
    /// The user chose it.
    Chosen,
    /// The file name says it (`float.npz`, `model_int8.npz`).
    FileName,
    /// Only a folder on the path says it (`ort_int8/…`).
    Folder,
    /// Picked because it pairs the most tensors.
    Pairing,
}

/// Words that name the quantized side outright.
const QUANT_WORDS: &[&str] = &[
    "quant",
    "qdq",
    "calib",
    "qat",
    "analysis",
    "analy",
    "fakequant",
    "fq",
    "quantized",
];
/// Dtype words: a hint of the quantized side, weaker than any side word (`float/int8_raw.npy` is a
/// float tensor named after what it holds, not the quantized side).
const QUANT_DTYPE_WORDS: &[&str] = &[
    "int8", "int16", "int4", "uint8", "w8a8", "a8w8", "w8a16", "i8", "i16",
];
const FLOAT_WORDS: &[&str] = &[
    "float", "fp32", "fp16", "f32", "baseline", "base", "ref", "orig", "original", "gt", "fp",
];

/// The side one path component names, if it names exactly one: by side words, or (`dtypes`) by
/// dtype words alone.
fn side_of_component(c: &str, dtypes: bool) -> Option<Side> {
    let c = c.to_ascii_lowercase();
    let words: Vec<&str> = c
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let any = |list: &[&str]| {
        words.iter().any(|w| {
            list.iter()
                .any(|k| w == k || (k.len() >= 4 && w.starts_with(k)))
        })
    };
    if dtypes {
        return any(QUANT_DTYPE_WORDS).then_some(Side::Quant);
    }
    match (any(FLOAT_WORDS), any(QUANT_WORDS)) {
        (true, false) => Some(Side::Float),
        (false, true) => Some(Side::Quant),
        // `float_vs_quant`: a comparison folder, not a side.
        _ => None,
    }
}

/// Guess a file's side from its path. Side words first, the file name before the folders
/// (`ort_int8/float.npz` is the float side; `float/int8_raw.npy` too); then dtype words the same way
/// (`int8/conv.npy` is the quantized side).
pub fn guess_side_with_basis(path: &str) -> Option<(Side, SideBasis)> {
    let mut parts = path.rsplit(['/', '\\']);
    let file = parts.next().unwrap_or(path);
    let folders: Vec<&str> = parts.collect();
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
    if let Some(s) = side_of_component(stem, false) {
        return Some((s, SideBasis::FileName));
    }
    // A tensor dumped under its ONNX Runtime QDQ name (`conv1_DequantizeLinear_Output.npy` beside
    // `conv1.npy` in one folder) is the quantized model's (`_QuantizeLinear_…` already is, by the
    // word rule above).
    if stem.ends_with("_DequantizeLinear_Output") || stem.ends_with("_DequantizeLinear_Output_1") {
        return Some((Side::Quant, SideBasis::FileName));
    }
    if let Some(s) = folders.iter().find_map(|c| side_of_component(c, false)) {
        return Some((s, SideBasis::Folder));
    }
    if let Some(s) = side_of_component(stem, true) {
        return Some((s, SideBasis::FileName));
    }
    folders
        .iter()
        .find_map(|c| side_of_component(c, true))
        .map(|s| (s, SideBasis::Folder))
}

/// The side the folders of `path` name (side words first, then dtype words), whatever its file name says.
fn guess_side_of_folders(path: &str) -> Option<Side> {
    let folders: Vec<&str> = path.rsplit(['/', '\\']).skip(1).collect();
    folders
        .iter()
        .find_map(|c| side_of_component(c, false))
        .or_else(|| folders.iter().find_map(|c| side_of_component(c, true)))
}

/// [`guess_side_with_basis`] for every path, where a file name that files in folders of opposite
/// sides share is no evidence: `fp32_ref/neck_fp16.npy` and `int8_sim/neck_fp16.npy` both say
/// "fp16", which names the tensor, not the side; their folders decide.
fn guess_sides(paths: &[&str]) -> Vec<Option<(Side, SideBasis)>> {
    let mut out: Vec<Option<(Side, SideBasis)>> =
        paths.iter().map(|p| guess_side_with_basis(p)).collect();
    let file_name = |p: &str| p.rsplit(['/', '\\']).next().unwrap_or(p).to_string();
    let mut by_name: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for (i, p) in paths.iter().enumerate() {
        if matches!(out[i], Some((_, SideBasis::FileName))) {
            by_name.entry(file_name(p)).or_default().push(i);
        }
    }
    for same in by_name.values().filter(|v| v.len() > 1) {
        let folders: Vec<Option<Side>> = same
            .iter()
            .map(|&i| guess_side_of_folders(paths[i]))
            .collect();
        let both = folders.contains(&Some(Side::Float)) && folders.contains(&Some(Side::Quant));
        if both {
            for (&i, f) in same.iter().zip(folders) {
                out[i] = f.map(|s| (s, SideBasis::Folder));
            }
        }
    }
    out
}

/// One drop's file names made distinct, and what to tell the user when some were renamed.
#[derive(Debug, Clone, PartialEq)]
pub struct DistinctPaths {
    pub names: Vec<String>,
    /// How many names were given a folder of their own.
    pub renamed: usize,
    /// The notice for the user (None when nothing was renamed).
    pub note: Option<String>,
}

/// The names of one drop made distinct. A path that came before in the same drop (one file name
/// picked as a flat list from two folders, which loses the folders; or two dropped folders of one
/// name) gets a folder of its own, `(2)/conv1.npy`, so both files are kept, not the second taken
/// for a re-drop of the first, and their tensors keep their names. A file dropped again in a
/// later drop still replaces the earlier copy (the session's rule, by name and size); when such a
/// file has no folder (`loaded`: the names loaded before), the note says so, since it may as well
/// be the other side's file picked on its own.
pub fn distinct_paths(names: &[String], loaded: &[String]) -> DistinctPaths {
    use std::collections::{HashMap, HashSet};
    let taken: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut fresh: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    let mut first: Option<String> = None;
    let mut renamed = 0;
    for name in names {
        let count = seen.entry(name.as_str()).or_insert(0);
        *count += 1;
        if *count == 1 {
            out.push(name.clone());
            continue;
        }
        // The k-th copy goes under `(k)/`, or the next number free in this drop.
        let mut k = *count;
        let new = loop {
            let candidate = format!("({k})/{name}");
            if !taken.contains(candidate.as_str()) && !fresh.contains(&candidate) {
                break candidate;
            }
            k += 1;
        };
        fresh.insert(new.clone());
        first.get_or_insert_with(|| name.clone());
        renamed += 1;
        out.push(new);
    }
    let loaded: HashSet<&str> = loaded.iter().map(String::as_str).collect();
    let again: Vec<&String> = names
        .iter()
        .filter(|n| !n.contains(['/', '\\']) && loaded.contains(n.as_str()))
        .collect();
    let replaced = again.first().map(|example| {
        format!(
            "{} file(s) without a folder have the name of a file loaded before ({example}{more}) and replace it, as a file dropped again does. If they are the other side's files, Clear, then drop or pick both folders together.",
            again.len(),
            more = if again.len() > 1 { ", …" } else { "" }
        )
    });
    let note = first.map(|example| {
        format!(
            "{renamed} file(s) came with the name of another file in the same drop ({example}{more}): picked as one list from several folders, files lose their folders. Each is kept, the later ones under (2)/, but which side each is on cannot be told from the names: drop or pick the folders themselves (float_out/, quant_out/…), or choose the sides in the Tensors view (one choice for a whole folder).",
            more = if renamed > 1 { ", …" } else { "" }
        )
    });
    let note = match (note, replaced) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b),
    };
    DistinctPaths {
        names: out,
        renamed,
        note,
    }
}

/// The key a whole folder's side is chosen under in `TensorSettings::sides`: its path and a
/// slash (`run_a/`, `(2)/`), `./` for the files dropped without a folder. File names never end
/// with a slash, so the two kinds of key cannot meet.
pub fn folder_key(path: &str) -> String {
    match path.rsplit_once(['/', '\\']) {
        Some((folder, _)) => format!("{folder}/"),
        None => "./".to_string(),
    }
}

/// The side the user chose for a file: its own choice, else the one of its nearest folder that
/// has one (`a/b/`, then `a/`; `./` for a file without a folder).
pub fn chosen_side<S: std::hash::BuildHasher>(
    sides: &std::collections::HashMap<String, Side, S>,
    path: &str,
) -> Option<Side> {
    if let Some(s) = sides.get(path) {
        return Some(*s);
    }
    if sides.is_empty() {
        return None;
    }
    let mut rest = path;
    while let Some((folder, _)) = rest.rsplit_once(['/', '\\']) {
        if let Some(s) = sides.get(&format!("{folder}/")) {
            return Some(*s);
        }
        rest = folder;
    }
    if !path.contains(['/', '\\']) {
        return sides.get("./").copied();
    }
    None
}

/// [`guess_side_with_basis`] without the basis.
pub fn guess_side(path: &str) -> Option<Side> {
    guess_side_with_basis(path).map(|(s, _)| s)
}

/// How many tensors pair by name (exact or without QDQ suffixes) between two name lists; one tensor
/// on each side always pairs.
pub fn count_pairs(float: &[&str], quant: &[&str]) -> usize {
    use std::collections::HashMap;
    let mut exact: HashMap<&str, usize> = HashMap::new();
    for q in quant {
        *exact.entry(q).or_default() += 1;
    }
    let mut pending = Vec::new();
    let mut n = 0;
    for f in float {
        match exact.get_mut(f) {
            Some(c) if *c > 0 => {
                *c -= 1;
                n += 1;
            }
            _ => pending.push(*f),
        }
    }
    let mut norm: HashMap<String, usize> = HashMap::new();
    for (q, c) in &exact {
        if *c > 0 {
            *norm.entry(normalize(q)).or_default() += c;
        }
    }
    for f in pending {
        if let Some(c) = norm.get_mut(&normalize(f)) {
            if *c > 0 {
                *c -= 1;
                n += 1;
            }
        }
    }
    if n == 0 && float.len() == 1 && quant.len() == 1 {
        return 1;
    }
    n
}

/// [`count_pairs`] of the names on each side, kept up to date as files change sides: per distinct
/// name its count on each side, per normalized name (the second matching stage) the exact matches
/// and the leftovers of its names. Moving a file costs its names, not every name.
struct SideCounter {
    /// Per file, the ids of its names (repeats kept).
    file_names: Vec<Vec<usize>>,
    /// Per name id: its normalized group, and its count on the float and the quantized side.
    group: Vec<usize>,
    float: Vec<usize>,
    quant: Vec<usize>,
    /// Per group: exact matches Σ min(F, Q), leftovers Σ (F − min) and Σ (Q − min).
    exact: Vec<usize>,
    left_float: Vec<usize>,
    left_quant: Vec<usize>,
    /// Σ over groups of exact + min(left_float, left_quant); names on each side.
    total: usize,
    n_float: usize,
    n_quant: usize,
}

impl SideCounter {
    fn new(files: &[SideInput], sides: &[Option<Side>]) -> SideCounter {
        use std::collections::HashMap;
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut groups: HashMap<String, usize> = HashMap::new();
        let mut group = Vec::new();
        let file_names = files
            .iter()
            .map(|f| {
                f.names
                    .iter()
                    .map(|&n| {
                        *ids.entry(n).or_insert_with(|| {
                            let k = groups.len();
                            group.push(*groups.entry(normalize(n)).or_insert(k));
                            group.len() - 1
                        })
                    })
                    .collect()
            })
            .collect();
        let (names, n_groups) = (group.len(), groups.len());
        let mut c = SideCounter {
            file_names,
            group,
            float: vec![0; names],
            quant: vec![0; names],
            exact: vec![0; n_groups],
            left_float: vec![0; n_groups],
            left_quant: vec![0; n_groups],
            total: 0,
            n_float: 0,
            n_quant: 0,
        };
        for (i, s) in sides.iter().enumerate() {
            c.set(i, None, *s);
        }
        c
    }

    /// Group k's matches: exact ones, then leftovers matched by normalized name.
    fn group_pairs(&self, k: usize) -> usize {
        self.exact[k] + self.left_float[k].min(self.left_quant[k])
    }

    /// Name `id` counted once more (`add`) or once less on `side`.
    fn bump(&mut self, id: usize, side: Side, add: bool) {
        let k = self.group[id];
        self.total -= self.group_pairs(k);
        let (f, q) = (self.float[id], self.quant[id]);
        let m = f.min(q);
        self.exact[k] -= m;
        self.left_float[k] -= f - m;
        self.left_quant[k] -= q - m;
        let (count, n) = match side {
            Side::Float => (&mut self.float[id], &mut self.n_float),
            Side::Quant => (&mut self.quant[id], &mut self.n_quant),
        };
        if add {
            *count += 1;
            *n += 1;
        } else {
            *count -= 1;
            *n -= 1;
        }
        let (f, q) = (self.float[id], self.quant[id]);
        let m = f.min(q);
        self.exact[k] += m;
        self.left_float[k] += f - m;
        self.left_quant[k] += q - m;
        self.total += self.group_pairs(k);
    }

    /// File `i` moves from side `from` to side `to`.
    fn set(&mut self, i: usize, from: Option<Side>, to: Option<Side>) {
        if from == to {
            return;
        }
        let names = std::mem::take(&mut self.file_names[i]);
        for &id in &names {
            if let Some(s) = from {
                self.bump(id, s, false);
            }
            if let Some(s) = to {
                self.bump(id, s, true);
            }
        }
        self.file_names[i] = names;
    }

    /// What [`count_pairs`] gives for the names on each side now.
    fn pairs(&self) -> usize {
        if self.total == 0 && self.n_float == 1 && self.n_quant == 1 {
            1
        } else {
            self.total
        }
    }
}

/// How much a file's side `s` agrees with its guess `g` (file names and choices count twice).
fn agreement(g: Option<(Side, SideBasis)>, s: Option<Side>) -> i64 {
    match (g, s) {
        (Some((gs, b)), Some(s)) => {
            let w = match b {
                SideBasis::FileName | SideBasis::Chosen => 2,
                _ => 1,
            };
            if gs == s {
                w
            } else {
                -w
            }
        }
        _ => 0,
    }
}

/// The best assignment of sides and its (pairs, agreement) score, from the guesses: every
/// assignment of the `free` (undecided) files when there are at most 12, else single flips.
fn search_sides(
    files: &[SideInput],
    guesses: &[Option<(Side, SideBasis)>],
    free: &[usize],
) -> (Vec<Option<Side>>, (usize, i64)) {
    let agree_of = |i: usize, s: Option<Side>| agreement(guesses[i], s);
    let base: Vec<Option<Side>> = guesses.iter().map(|g| g.map(|(s, _)| s)).collect();
    // Candidates differ from the one before by one file's side: the pair count follows them
    // (`SideCounter`, each move costs that file's names) where recounting every name for every
    // candidate made a folder of 768 dumps take half a second in the browser.
    let mut walk = SideWalk {
        counter: SideCounter::new(files, &base),
        agree_of: &agree_of,
        agree: (0..files.len()).map(|i| agree_of(i, base[i])).sum(),
        current: base.clone(),
    };
    let mut best = (base.clone(), walk.score());
    if free.len() <= 12 && files.len() >= 2 {
        // Every assignment of the undecided files, in Gray-code order (one flip per step). The
        // winner is the first best in counting order (mask 0, 1, 2, …), the base only beaten by
        // a strictly better one, as when they were tried in that order.
        for &i in free {
            walk.set(i, Some(Side::Float));
        }
        let mut best_mask: Option<u32> = None;
        for step in 0u32..(1 << free.len()) {
            if step > 0 {
                let i = free[step.trailing_zeros() as usize];
                let flip = match walk.current[i] {
                    Some(Side::Float) => Side::Quant,
                    _ => Side::Float,
                };
                walk.set(i, Some(flip));
            }
            let mask = step ^ (step >> 1);
            let sc = walk.score();
            if sc > best.1 || (sc == best.1 && best_mask.is_some_and(|m| mask < m)) {
                best = (walk.current.clone(), sc);
                best_mask = Some(mask);
            }
        }
    } else {
        // Each file's guess kept, single flips tried in turn, each against the best so far.
        for &i in free {
            for s in [Side::Float, Side::Quant] {
                let was = walk.current[i];
                walk.set(i, Some(s));
                let sc = walk.score();
                if sc > best.1 {
                    best = (walk.current.clone(), sc);
                } else {
                    walk.set(i, was);
                }
            }
        }
    }
    best
}

/// An assignment of sides being searched: its pair count and agreement with the guesses follow
/// each file's move.
struct SideWalk<'a> {
    counter: SideCounter,
    agree_of: &'a dyn Fn(usize, Option<Side>) -> i64,
    agree: i64,
    current: Vec<Option<Side>>,
}

impl SideWalk<'_> {
    fn set(&mut self, i: usize, s: Option<Side>) {
        self.agree += (self.agree_of)(i, s) - (self.agree_of)(i, self.current[i]);
        self.counter.set(i, self.current[i], s);
        self.current[i] = s;
    }

    /// (pairs, agreement): the larger the better.
    fn score(&self) -> (usize, i64) {
        (self.counter.pairs(), self.agree)
    }
}

/// One tensor file as side assignment sees it.
pub struct SideInput<'a> {
    pub path: &'a str,
    pub names: Vec<&'a str>,
    /// The user's choice, which is never changed.
    pub chosen: Option<Side>,
}

/// Sides for a set of tensor files, with how each was decided, and a plain message when the
/// result cannot pair anything (everything on one side, or no name in common).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideAssignment {
    pub sides: Vec<Option<(Side, SideBasis)>>,
    pub pairs: usize,
    pub message: Option<String>,
}

/// Decide the side of every file: the user's choice stands; otherwise the assignment that pairs
/// the most tensors wins, ties going to the one that agrees best with the names (file names count
/// twice as much as folders). Up to 12 undecided files every assignment is tried; beyond, each
/// file's guess is kept and single flips are tried.
pub fn assign_sides(files: &[SideInput]) -> SideAssignment {
    let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
    let guesses: Vec<Option<(Side, SideBasis)>> = files
        .iter()
        .zip(guess_sides(&paths))
        .map(|(f, g)| match f.chosen {
            Some(s) => Some((s, SideBasis::Chosen)),
            None => g,
        })
        .collect();
    let free: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].chosen.is_none())
        .collect();
    let best = search_sides(files, &guesses, &free);
    let score = |sides: &[Option<Side>]| -> (usize, i64) {
        let c = SideCounter::new(files, sides);
        let agree = (0..files.len())
            .map(|i| agreement(guesses[i], sides[i]))
            .sum();
        (c.pairs(), agree)
    };
    let (mut sides, (pairs, agree)) = best;
    // Nothing tells the sides apart when flipping every undecided file pairs as many tensors and
    // agrees as well with the names: then the files the names say nothing sure about stay open.
    let flipped: Vec<Option<Side>> = sides
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if free.contains(&i) {
                s.map(|s| match s {
                    Side::Float => Side::Quant,
                    Side::Quant => Side::Float,
                })
            } else {
                *s
            }
        })
        .collect();
    let pairs = if pairs > 0 && score(&flipped) == (pairs, agree) && flipped != sides {
        for &i in &free {
            if !matches!(guesses[i], Some((_, SideBasis::FileName))) {
                sides[i] = None;
            }
        }
        0
    } else {
        pairs
    };
    // A side that no name gave and no pair needs stays open for the user.
    let out: Vec<Option<(Side, SideBasis)>> = sides
        .iter()
        .zip(&guesses)
        .map(|(s, g)| match (s, g) {
            (Some(s), Some((gs, b))) if s == gs => Some((*s, *b)),
            (Some(s), _) if pairs > 0 => Some((*s, SideBasis::Pairing)),
            (None, _) => None,
            _ => g.map(|(gs, b)| (gs, b)),
        })
        .collect();
    let n_float = out
        .iter()
        .filter(|s| matches!(s, Some((Side::Float, _))))
        .count();
    let n_quant = out
        .iter()
        .filter(|s| matches!(s, Some((Side::Quant, _))))
        .count();
    let undecided = out.iter().filter(|s| s.is_none()).count();
    let message = if files.is_empty() || pairs > 0 {
        None
    } else if files.len() == 1 {
        Some("Only one tensor file was read: drop the other side's file too (float and quantized dumps are compared by tensor name); a file that could not be read says why in the banner at the top.".into())
    } else if undecided > 0 {
        Some(format!(
            "{} of {} tensor files have no side yet (no float/fp32/baseline or quant/qdq/int8 in their names): choose each file's side below, or a whole folder's.",
            undecided,
            files.len()
        ))
    } else if n_float == 0 || n_quant == 0 {
        Some(format!(
            "All {} tensor files landed on the {} side, so nothing can be compared: set the other side's file(s) below.",
            files.len(),
            if n_float == 0 { "quantized" } else { "float" }
        ))
    } else {
        Some(format!(
            "No tensor name is shared between the {n_float} float and {n_quant} quantized file(s), whatever their sides: pair tensors by hand below, or check that the dumps come from the same model."
        ))
    };
    SideAssignment {
        sides: out,
        pairs,
        message,
    }
}

/// One compared pair, for the UI and the findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResult {
    /// The run of the quantized file (empty when only one run is loaded).
    #[serde(default)]
    pub run: String,
    pub name: String,
    /// Indices into `Analysis::files`.
    pub float_file: usize,
    pub quant_file: usize,
    pub float_tensor: String,
    pub quant_tensor: String,
    pub shape: Vec<u64>,
    pub matched_by: String,
    #[serde(default, with = "crate::engine::num::opt")]
    pub scale: Option<f64>,
    /// Where the scale comes from (`typed`, `scales.json`, a comparison report, the file itself).
    #[serde(default)]
    pub scale_source: Option<String>,
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
    /// The quantized side's values before a QuantizeLinear, left out because their
    /// DequantizeLinear outputs were compared ([`Pairing::pre_qdq`]).
    #[serde(default)]
    pub pre_qdq: Vec<String>,
    /// Each tensor file's side and how it was decided (indices into `Analysis::files`).
    #[serde(default)]
    pub sides: Vec<(usize, Option<(Side, SideBasis)>)>,
    /// Why nothing could be compared, in plain words (everything on one side, no shared name…).
    #[serde(default)]
    pub message: Option<String>,
}

/// A scale for a pair and where it came from (`typed`, `scales.json`, `compare_per_layer_out`…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleChoice {
    #[serde(with = "crate::engine::num")]
    pub scale: f64,
    pub dtype: Option<super::quant::QDType>,
    /// The zero point (asymmetric quantization; 0 when symmetric or unknown, and not written).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zero_point: i64,
    pub source: String,
}

/// Scales known from loaded files, by (run, name): under the name the source gives, and under its
/// [`loose_name`] when only one scale has it (`None`: two sources' names spell alike and their
/// scales differ, so the loose name finds neither).
#[derive(Debug, Clone, Default)]
pub struct KnownScales {
    pub exact: std::collections::HashMap<(String, String), ScaleChoice>,
    pub loose: std::collections::HashMap<(String, String), Option<ScaleChoice>>,
}

impl KnownScales {
    /// Record `choice` for `name` in `run` unless a scale is known for that name already.
    pub fn insert(&mut self, run: &str, name: &str, choice: ScaleChoice) {
        let key = (run.to_string(), loose_name(name));
        match self.loose.get_mut(&key) {
            None => {
                self.loose.insert(key, Some(choice.clone()));
            }
            Some(slot) => {
                if slot.as_ref().is_some_and(|c| {
                    c.scale != choice.scale
                        || c.dtype != choice.dtype
                        || c.zero_point != choice.zero_point
                }) {
                    *slot = None;
                }
            }
        }
        self.exact
            .entry((run.to_string(), name.to_string()))
            .or_insert(choice);
    }

    /// Record the usable entries of `set` (positive finite per-tensor scales), read from the file
    /// `file` (its name, the source each choice names) of `run`.
    pub fn add_set(&mut self, run: &str, file: &str, set: &super::scales::ScaleSet) {
        let short = file.rsplit(['/', '\\']).next().unwrap_or(file);
        for e in &set.entries {
            if e.scale > 0.0 && e.scale.is_finite() && !e.is_per_channel() {
                self.insert(
                    run,
                    &e.name,
                    ScaleChoice {
                        scale: e.scale,
                        dtype: e.dtype,
                        zero_point: e.zero_point,
                        source: short.to_string(),
                    },
                );
            }
        }
    }

    /// The scale for `name` in `run`, by that name.
    pub fn get(&self, run: &str, name: &str) -> Option<ScaleChoice> {
        self.exact
            .get(&(run.to_string(), name.to_string()))
            .cloned()
    }

    /// The scale for `name` in `run` by its loose spelling ([`loose_name`]).
    pub fn get_loose(&self, run: &str, name: &str) -> Option<ScaleChoice> {
        self.loose
            .get(&(run.to_string(), loose_name(name)))
            .cloned()
            .flatten()
    }
}

/// One tensor file of a batch compare: a key that stays the same while the file does (name and
/// size), its tensors and its side.
pub struct CompareInput {
    pub key: String,
    /// The run the file belongs to (`document::run_keys`): pairs and scales stay within a run.
    pub run: String,
    pub entries: Vec<TensorEntry>,
    pub side: Option<Side>,
}

/// Results already computed, by pair, file keys and scale: changing one scale or one side only
/// computes the pairs that changed.
pub type CompareCache = std::collections::HashMap<String, Result<PairMetrics, String>>;

/// Pair the tensors of the float-side and quant-side files and compare every pair not in `cache`,
/// streaming. `scales(pair name, quant tensor name)` gives a pair's scale. `progress` is called
/// per slice with the bytes done and the bytes of the pairs to compute.
pub fn compare_files(
    files: &[CompareInput],
    sources: &mut [Box<dyn ByteSource + '_>],
    scales: &dyn Fn(&str, &str, &str) -> Option<ScaleChoice>,
    manual: &[(String, String)],
    cache: &mut CompareCache,
    progress: CompareProgress,
) -> TensorComparison {
    compare_files_with(files, sources, scales, manual, cache, progress, None)
}

/// A pair left to be compared in parts on other workers (see [`compare_files_with`]): its cache
/// key, its files (indexes into the `files` given), tensors, scale and dtype, and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredPair {
    pub key: String,
    pub float_file: usize,
    pub float: TensorEntry,
    pub quant_file: usize,
    pub quant: TensorEntry,
    pub scale: Option<f64>,
    pub dtype: Option<String>,
    pub zero_point: i64,
    pub bytes: u64,
}

/// [`compare_files`], or with `defer` its plan only: nothing is compared, and the pairs still to
/// compare of at least `defer.0` bytes that can be compared in parts ([`part_setup`]) are listed
/// in `defer.1`, for the caller to compare elsewhere and put in `cache`.
#[allow(clippy::too_many_arguments)]
pub fn compare_files_with(
    files: &[CompareInput],
    sources: &mut [Box<dyn ByteSource + '_>],
    scales: &dyn Fn(&str, &str, &str) -> Option<ScaleChoice>,
    manual: &[(String, String)],
    cache: &mut CompareCache,
    progress: CompareProgress,
    mut defer: Option<(u64, &mut Vec<DeferredPair>)>,
) -> TensorComparison {
    let side_list = |want: Side| -> Vec<Located> {
        files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.side == Some(want))
            .flat_map(|(i, f)| {
                f.entries.iter().map(move |e| Located {
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
    let mut pairing = pair_each_run(&fl, &ql, &|i| files[i].run.as_str());
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
        p.float
            .entry
            .numel()
            .saturating_mul(p.float.entry.elem.size_bytes() as u64)
            .saturating_add(
                p.quant
                    .entry
                    .numel()
                    .saturating_mul(p.quant.entry.elem.size_bytes() as u64),
            )
    };
    let key = |p: &Pair, sc: &Option<ScaleChoice>| {
        format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}",
            files[p.float.file].key,
            p.float.entry.name,
            files[p.quant.file].key,
            p.quant.entry.name,
            sc.as_ref()
                .map(|s| (s.scale.to_bits(), s.dtype, s.zero_point))
        )
    };
    let chosen: Vec<Option<ScaleChoice>> = pairing
        .pairs
        .iter()
        .map(|p| scales(&p.name, &p.quant.entry.name, &files[p.quant.file].run))
        .collect();
    let total: u64 = pairing
        .pairs
        .iter()
        .zip(&chosen)
        .filter(|(p, sc)| !cache.contains_key(&key(p, sc)))
        .map(|(p, _)| bytes(p))
        .sum();
    let mut done = 0u64;
    let mut out = TensorComparison {
        pairs: Vec::with_capacity(pairing.pairs.len()),
        unpaired_float: pairing.unpaired_float.clone(),
        unpaired_quant: pairing.unpaired_quant.clone(),
        pre_qdq: pairing.pre_qdq.clone(),
        ..Default::default()
    };
    let n_pairs = pairing.pairs.len();
    for (i, (p, sc)) in pairing.pairs.iter().zip(chosen).enumerate() {
        let scale = sc.as_ref().map(|s| s.scale).or(p.quant.entry.scale);
        let (fi, qi) = (p.float.file, p.quant.file);
        let k = key(p, &sc);
        let zero_point = sc.as_ref().map_or(0, |s| s.zero_point);
        if let Some((min_bytes, list)) = defer.as_mut() {
            let dtype = sc.as_ref().and_then(|s| s.dtype).map(|d| d.name());
            let prefix = key(p, &None);
            let prefix = &prefix[..prefix.rfind('\u{1f}').unwrap_or(0) + 1];
            let rescale = cache.keys().any(|k| k.starts_with(prefix));
            // A typed scale without a dtype: the split's dtype comes from the quantized side's
            // range, which only a pass finds. The pair goes in parts without its scale (the
            // metrics, KL and histograms), and this pass then adds the split from the float side
            // alone (`rescale_pair`, with the range the parts found).
            let plan = match part_setup(&p.float.entry, &p.quant.entry, scale, dtype, zero_point) {
                Ok(Some(_)) => Some((k.clone(), scale, dtype, zero_point)),
                Ok(None)
                    if sc.is_some()
                        && p.quant.entry.scale.is_none()
                        && matches!(
                            part_setup(&p.float.entry, &p.quant.entry, None, None, 0),
                            Ok(Some(_))
                        ) =>
                {
                    Some((key(p, &None), None, None, 0))
                }
                _ => None,
            };
            if let (Some((dkey, dscale, ddtype, dzp)), false, true, false, true) = (
                plan,
                cache.contains_key(&k),
                fi != qi,
                rescale,
                bytes(p)
                    >= if is_compressed(&p.float.entry)
                        || is_compressed(&p.quant.entry)
                        || sources[fi].size() >= *min_bytes
                        || sources[qi].size() >= *min_bytes
                    {
                        (*min_bytes).min(DEFER_MIN_COMPRESSED_BYTES)
                    } else {
                        *min_bytes
                    },
            ) {
                list.push(DeferredPair {
                    key: dkey,
                    float_file: fi,
                    float: p.float.entry.clone(),
                    quant_file: qi,
                    quant: p.quant.entry.clone(),
                    scale: dscale,
                    dtype: ddtype.map(str::to_string),
                    zero_point: dzp,
                    bytes: bytes(p),
                });
            }
            continue;
        }
        let result = match cache.get(&k) {
            Some(r) => r.clone(),
            None => {
                let r = if fi == qi {
                    Err(
                        "both tensors are in the same file: assign the file to one side"
                            .to_string(),
                    )
                } else {
                    // Two distinct sources borrowed at once.
                    let (a, b) = if fi < qi {
                        let (l, r) = sources.split_at_mut(qi);
                        (&mut l[fi], &mut r[0])
                    } else {
                        let (l, r) = sources.split_at_mut(fi);
                        (&mut r[0], &mut l[qi])
                    };
                    // The bytes are all the pairs': say which pair of how many.
                    let label = match n_pairs {
                        1 => p.name.clone(),
                        n => format!("{} (pair {} of {n})", p.name, i + 1),
                    };
                    let dtype = sc.as_ref().and_then(|s| s.dtype).map(|d| d.name());
                    // The same pair compared under another scale: only the split again.
                    let prefix = key(p, &None);
                    let prefix = &prefix[..prefix.rfind('\u{1f}').unwrap_or(0) + 1];
                    let before = cache
                        .iter()
                        .find_map(|(k, v)| v.as_ref().ok().filter(|_| k.starts_with(prefix)));
                    let rescaled = before.and_then(|old| {
                        rescale_pair(
                            a.as_mut(),
                            &p.float.entry,
                            &p.quant.entry,
                            old,
                            scale,
                            dtype,
                            zero_point,
                            &mut |d| progress(done + d, total, &label),
                        )
                    });
                    match rescaled {
                        Some(r) => r,
                        None => compare_pair(
                            a.as_mut(),
                            &p.float.entry,
                            b.as_mut(),
                            &p.quant.entry,
                            scale,
                            dtype,
                            zero_point,
                            &mut |d| progress(done + d, total, &label),
                        ),
                    }
                };
                done += bytes(p);
                cache.insert(k, r.clone());
                r
            }
        };
        let (metrics, error) = match result {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e)),
        };
        out.pairs.push(PairResult {
            run: files[qi].run.clone(),
            name: p.name.clone(),
            float_file: fi,
            quant_file: qi,
            float_tensor: p.float.entry.name.clone(),
            quant_tensor: p.quant.entry.name.clone(),
            shape: p.float.entry.shape.clone(),
            matched_by: p.matched_by.clone(),
            scale,
            scale_source: sc
                .map(|s| s.source)
                .or_else(|| p.quant.entry.scale.map(|_| "the file".to_string())),
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
    fn a_file_name_both_sides_share_leaves_the_side_to_their_folders() {
        let input = |path| SideInput {
            path,
            names: vec!["neck_fp16", "head"],
            chosen: None,
        };
        // A user's trial: a layer named `neck_fp16` dumped by both runs; "fp16" names the layer.
        let a = assign_sides(&[
            input("edge/int8_sim/neck_fp16.npy"),
            input("edge/fp32_ref/neck_fp16.npy"),
        ]);
        assert_eq!(
            a.sides,
            vec![
                Some((Side::Quant, SideBasis::Folder)),
                Some((Side::Float, SideBasis::Folder))
            ]
        );
        // Folders that do not name opposite sides leave the file names their say: two runs'
        // `model_float.npz` stay float.
        let g = guess_sides(&[
            "r1/model_float.npz",
            "r2/model_float.npz",
            "r1/model_int8.npz",
        ]);
        assert_eq!(
            g,
            vec![
                Some((Side::Float, SideBasis::FileName)),
                Some((Side::Float, SideBasis::FileName)),
                Some((Side::Quant, SideBasis::FileName))
            ]
        );
    }

    #[test]
    fn sides_from_paths() {
        assert_eq!(guess_side("dumps/float/conv1.npy"), Some(Side::Float));
        assert_eq!(guess_side("dumps/qdq/conv1.npy"), Some(Side::Quant));
        assert_eq!(guess_side("model_fp32.npz"), Some(Side::Float));
        assert_eq!(guess_side("calib_model/op.npy"), Some(Side::Quant));
        assert_eq!(guess_side("x.npy"), None);
        // The file name decides before the folder.
        assert_eq!(guess_side("ort_int8/float.npz"), Some(Side::Float));
        assert_eq!(guess_side("ort_int8/quant.npz"), Some(Side::Quant));
        assert_eq!(guess_side("ort_int8/model.npz"), Some(Side::Quant));
        assert_eq!(guess_side("float_vs_quant/a.npz"), None);
        // ONNX Runtime's QDQ names, in a file name.
        assert_eq!(
            guess_side("dump/conv1_DequantizeLinear_Output.npy"),
            Some(Side::Quant)
        );
        assert_eq!(
            guess_side("conv1_DequantizeLinear_Output_1.npy"),
            Some(Side::Quant)
        );
        assert_eq!(
            guess_side("conv1_QuantizeLinear_Input.npy"),
            Some(Side::Quant)
        );
        assert_eq!(guess_side("dump/conv1.npy"), None);
        // A side word anywhere beats a dtype word in the file name: `float/int8_raw.npy` is a float
        // tensor named after what it holds (a user's report); dtype words still decide alone.
        assert_eq!(
            guess_side_with_basis("edge/float/int8_raw.npy"),
            Some((Side::Float, SideBasis::Folder))
        );
        assert_eq!(
            guess_side_with_basis("edge/quant/int8_raw.npy"),
            Some((Side::Quant, SideBasis::Folder))
        );
        assert_eq!(
            guess_side_with_basis("run/conv_int8.npy"),
            Some((Side::Quant, SideBasis::FileName))
        );
        assert_eq!(
            guess_side_with_basis("int16 run (v2)/conv.npy"),
            Some((Side::Quant, SideBasis::Folder))
        );
        assert_eq!(guess_side("fp32 dumps/int8_stats.npy"), Some(Side::Float));
    }

    /// Loose dumps in one folder, the quantized ones under their QDQ names: every pair is found
    /// (with no side known, single flips from nothing could pair nothing).
    #[test]
    fn one_folder_of_qdq_named_dumps_pairs() {
        let names: Vec<String> = (0..40)
            .flat_map(|i| {
                [
                    format!("dump/t{i}.npy"),
                    format!("dump/t{i}_DequantizeLinear_Output.npy"),
                ]
            })
            .collect();
        let tensors: Vec<String> = names
            .iter()
            .map(|n| {
                n.trim_start_matches("dump/")
                    .trim_end_matches(".npy")
                    .to_string()
            })
            .collect();
        let files: Vec<SideInput> = names
            .iter()
            .zip(&tensors)
            .map(|(n, t)| SideInput {
                path: n,
                names: vec![t.as_str()],
                chosen: None,
            })
            .collect();
        let a = assign_sides(&files);
        assert_eq!(a.pairs, 40, "{:?}", a.message);
        for (k, s) in a.sides.iter().enumerate() {
            let want = if k % 2 == 0 { Side::Float } else { Side::Quant };
            assert_eq!(s.map(|(s, _)| s), Some(want), "{}", names[k]);
        }
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}
