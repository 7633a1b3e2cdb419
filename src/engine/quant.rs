//! The quantization engine: fake quantization exactly as PyTorch does it, observers that turn data
//! into a scale (min-max, percentile, MSE-optimal, KL/entropy, fixed), and what-ifs (dtype, observer,
//! fixed scale, splitting a tensor into groups with their own scales).
//!
//! Rounding is PyTorch's: `nearbyint(x · (1/scale))` in float32, i.e. round half to even.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, ShapeBuilder, Zip};
use serde::{Deserialize, Serialize};

/// An integer grid: `[qmin, qmax]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QDType {
    Int4,
    Int8,
    Int16,
    Uint8,
    /// ONNX Runtime's QUInt16 activations (`com.microsoft` or opset-21 QuantizeLinear).
    Uint16,
}

impl QDType {
    pub fn parse(s: &str) -> Option<QDType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "int4" | "qint4" => QDType::Int4,
            "int8" | "qint8" => QDType::Int8,
            "int16" | "qint16" => QDType::Int16,
            "uint8" | "quint8" => QDType::Uint8,
            "uint16" | "quint16" => QDType::Uint16,
            _ => return None,
        })
    }
    pub fn range(self) -> (i64, i64) {
        match self {
            QDType::Int4 => (-8, 7),
            QDType::Int8 => (-128, 127),
            QDType::Int16 => (-32768, 32767),
            QDType::Uint8 => (0, 255),
            QDType::Uint16 => (0, 65535),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            QDType::Int4 => "int4",
            QDType::Int8 => "int8",
            QDType::Int16 => "int16",
            QDType::Uint8 => "uint8",
            QDType::Uint16 => "uint16",
        }
    }
}

/// PyTorch's `fake_quantize_per_tensor_affine(x, scale, zero_point, qmin, qmax)` for one value.
#[inline]
pub fn fake_quant(x: f32, scale: f32, zero_point: i64, qmin: i64, qmax: i64) -> f32 {
    let inv = 1.0f32 / scale;
    let q = (x * inv).round_ties_even() + zero_point as f32;
    (q.clamp(qmin as f32, qmax as f32) - zero_point as f32) * scale
}

/// Fake-quantize a tensor per tensor.
pub fn fake_quant_per_tensor(
    x: &[f32],
    scale: f32,
    zero_point: i64,
    qmin: i64,
    qmax: i64,
) -> Result<Vec<f32>, String> {
    check_scale(scale as f64)?;
    Ok(x.iter()
        .map(|&v| fake_quant(v, scale, zero_point, qmin, qmax))
        .collect())
}

/// The tensor `x` of `shape` as an n-d view, in C order or Fortran order.
fn view<'a>(x: &'a [f32], shape: &[usize], fortran: bool) -> Result<ArrayViewD<'a, f32>, String> {
    let sh = if fortran {
        IxDyn(shape).f()
    } else {
        IxDyn(shape).into()
    };
    ArrayViewD::from_shape(sh, x)
        .map_err(|_| format!("{} values do not fill shape {shape:?}", x.len()))
}

/// Fake-quantize per channel along `axis` of `shape` (C order), one scale and zero point per channel.
pub fn fake_quant_per_channel(
    x: &[f32],
    shape: &[usize],
    axis: usize,
    scales: &[f32],
    zero_points: &[i64],
    qmin: i64,
    qmax: i64,
) -> Result<Vec<f32>, String> {
    let dim = *shape
        .get(axis)
        .ok_or_else(|| format!("axis {axis} is out of range for shape {shape:?}"))?;
    if scales.len() != dim || zero_points.len() != dim {
        return Err(format!(
            "{} scales / {} zero points for {dim} channels",
            scales.len(),
            zero_points.len()
        ));
    }
    for &s in scales {
        check_scale(s as f64)?;
    }
    let v = view(x, shape, false)?;
    let mut out = ArrayD::<f32>::zeros(IxDyn(shape));
    for (c, (src, mut dst)) in v
        .axis_iter(Axis(axis))
        .zip(out.axis_iter_mut(Axis(axis)))
        .enumerate()
    {
        Zip::from(&mut dst)
            .and(&src)
            .for_each(|o, &i| *o = fake_quant(i, scales[c], zero_points[c], qmin, qmax));
    }
    Ok(out.into_raw_vec_and_offset().0)
}

pub fn check_scale(s: f64) -> Result<(), String> {
    if s.is_finite() && s > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "the scale must be a positive finite number, not {s}"
        ))
    }
}

/// Symmetric scale for a magnitude `amax` on a grid, as PyTorch's symmetric observers compute it:
/// `amax / ((qmax − qmin) / 2)` (127.5 for int8), clamped to float32 eps.
pub fn symmetric_scale(amax: f64, dt: QDType) -> f64 {
    let (qmin, qmax) = dt.range();
    (amax / ((qmax - qmin) as f64 / 2.0)).max(f32::EPSILON as f64)
}

/// The largest finite |x| (NaN and ±inf skipped), in 16 lanes so it vectorizes (simd128 in wasm).
pub fn abs_max(x: &[f32]) -> f32 {
    let mut m = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for j in 0..16 {
            let a = c[j].abs();
            // NaN and inf fail `a < INFINITY`; a select, not a branch.
            m[j] = if a < f32::INFINITY && a > m[j] {
                a
            } else {
                m[j]
            };
        }
    }
    for &v in chunks.remainder() {
        let a = v.abs();
        if a < f32::INFINITY && a > m[0] {
            m[0] = a;
        }
    }
    m.iter().fold(0f32, |a, &b| a.max(b))
}

/// Calibrate a stream of batches the way the observers need it: pass 1 finds |x| max, pass 2 fills
/// a `nbins` histogram of |x|; then every observer's scale on `dt` (min-max, percentile 99.99%, MSE,
/// KL). `batches` is called once per pass and yields the calibration batches in order.
pub fn calibrate<'a, I>(
    batches: impl Fn() -> I,
    nbins: usize,
    dt: QDType,
) -> Result<(AbsHistogram, [f64; 4]), String>
where
    I: Iterator<Item = &'a [f32]>,
{
    let amax = batches().fold(0f32, |m, b| m.max(abs_max(b)));
    let mut h = AbsHistogram::new(amax as f64, nbins);
    for b in batches() {
        h.update(b);
    }
    if h.count == 0 {
        return Err("no finite values to calibrate on".into());
    }
    let scales = [
        Observer::MinMax.scale(&h, dt)?,
        Observer::Percentile { p: 0.9999 }.scale(&h, dt)?,
        Observer::Mse.scale(&h, dt)?,
        Observer::Kl.scale(&h, dt)?,
    ];
    Ok((h, scales))
}

/// Streaming histogram of |x| over [0, amax] (amax from a first pass), for the observers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbsHistogram {
    #[serde(with = "crate::engine::num")]
    pub amax: f64,
    pub bins: Vec<u64>,
    pub count: u64,
}

impl AbsHistogram {
    pub fn new(amax: f64, nbins: usize) -> AbsHistogram {
        AbsHistogram {
            amax: amax.max(f64::MIN_POSITIVE),
            bins: vec![0; nbins.max(1)],
            count: 0,
        }
    }

    pub fn update(&mut self, x: &[f32]) {
        let k = self.bins.len() as f64 / self.amax;
        let last = self.bins.len() - 1;
        for &v in x {
            if v.is_finite() {
                let b = ((v.abs() as f64) * k) as usize;
                self.bins[b.min(last)] += 1;
                self.count += 1;
            }
        }
    }

    pub fn width(&self) -> f64 {
        self.amax / self.bins.len() as f64
    }

    /// The |x| below which `p` (0..1) of the values fall (upper edge of that bin).
    pub fn percentile(&self, p: f64) -> f64 {
        let target = (p.clamp(0.0, 1.0) * self.count as f64).ceil() as u64;
        let mut acc = 0;
        for (i, &c) in self.bins.iter().enumerate() {
            acc += c;
            if acc >= target.max(1) {
                return (i + 1) as f64 * self.width();
            }
        }
        self.amax
    }

    /// Σ (x − q(x))² predicted from the histogram for symmetric quantization with step `scale`,
    /// clipping at `qmax`·scale: each bin's values taken as spread evenly over the bin, so the error
    /// of a bin is the exact integral over it of the rounding error and of the overshoot past the
    /// clip level. (A flat step²/12 everywhere overstates the rounding error of
    /// values far below one step — a softmax's many near-zero values — and the search then clipped
    /// too much: 28.4 dB where amax/qmax gives 41.8 on a real softmax.)
    pub fn predicted_sq_error(&self, scale: f64, qmax: f64) -> f64 {
        let w = self.width();
        let lim = qmax * scale;
        self.bins
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| {
                let (a, b) = (i as f64 * w, (i + 1) as f64 * w);
                n as f64 * sq_error_integral(a, b, scale, lim) / w
            })
            .sum()
    }
}

/// ∫ over [a, b] (0 ≤ a < b) of (x − q(x))², q rounding to the nearest multiple of `s` and
/// clipping at `lim`: the overshoot past `lim`, and below it the rounding error in closed form
/// (`rounding_integral`), so each bin costs the same whatever its width in steps.
fn sq_error_integral(a: f64, b: f64, s: f64, lim: f64) -> f64 {
    let cube = |t: f64| t * t * t;
    let mut total = 0.0;
    if b > lim {
        let lo = a.max(lim);
        total += (cube(b - lim) - cube(lo - lim)) / 3.0;
    }
    let hi = b.min(lim);
    if hi > a {
        total += s * s * s * (rounding_integral(hi / s) - rounding_integral(a / s));
    }
    total
}

/// H(u) = ∫₀ᵘ (v − round(v))² dv for u ≥ 0: the first half cell gives u³/3 up to 1/24, each whole
/// cell [c − ½, c + ½] 1/12, and the cell holding u its part ((u − c)³ + ⅛)/3.
fn rounding_integral(u: f64) -> f64 {
    let c = (u + 0.5).floor();
    if c <= 0.0 {
        u * u * u / 3.0
    } else {
        let d = u - c;
        1.0 / 24.0 + (c - 1.0) / 12.0 + (d * d * d + 0.125) / 3.0
    }
}

/// How a scale is chosen from data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observer {
    MinMax,
    Percentile { p: f64 },
    Mse,
    Kl,
    Fixed { scale: f64 },
}

impl Observer {
    pub fn parse(s: &str) -> Option<Observer> {
        let t = s.to_ascii_lowercase();
        Some(match t.as_str() {
            "minmax" | "min-max" | "max" => Observer::MinMax,
            "mse" => Observer::Mse,
            "kl" | "entropy" => Observer::Kl,
            _ => {
                if let Some(p) = t
                    .strip_prefix("percentile")
                    .map(|r| r.trim_start_matches([':', '=']))
                {
                    let p: f64 = if p.is_empty() { 99.99 } else { p.parse().ok()? };
                    Observer::Percentile { p: p / 100.0 }
                } else if let Some(v) = t
                    .strip_prefix("fixed")
                    .map(|r| r.trim_start_matches([':', '=']))
                {
                    Observer::Fixed {
                        scale: v.parse().ok()?,
                    }
                } else {
                    return None;
                }
            }
        })
    }

    pub fn label(&self) -> String {
        match self {
            Observer::MinMax => "min-max".into(),
            Observer::Percentile { p } => format!("percentile {}%", p * 100.0),
            Observer::Mse => "MSE-optimal".into(),
            Observer::Kl => "KL (entropy)".into(),
            Observer::Fixed { scale } => format!("fixed {scale}"),
        }
    }

    /// The scale this observer picks for the data summarised by `h` on grid `dt`.
    pub fn scale(&self, h: &AbsHistogram, dt: QDType) -> Result<f64, String> {
        let (qmin, qmax) = dt.range();
        let half = (qmax - qmin) as f64 / 2.0;
        let s = match *self {
            Observer::MinMax => symmetric_scale(h.amax, dt),
            Observer::Percentile { p } => {
                if !(p > 0.0 && p <= 1.0) {
                    return Err(format!("percentile must be in (0, 100], not {}", p * 100.0));
                }
                symmetric_scale(h.percentile(p), dt)
            }
            Observer::Mse => {
                // Candidates: a clip value at every bin edge (its scale as min-max's, c / half) and
                // ONNX Runtime's amax / qmax (nothing clipped); the one with the least predicted
                // error. Every edge up to 256 bins, else every n/256-th, then each edge around the
                // best one.
                let (w, n) = (h.width(), h.bins.len());
                // |x| clips at the smaller side of a signed grid (127 for int8); an unsigned grid
                // centred by its zero point has `half` steps a side.
                let top = if qmin < 0 {
                    qmax.min(-qmin) as f64
                } else {
                    half
                };
                let err = |s: f64| h.predicted_sq_error(s, top);
                let at = |i: usize| symmetric_scale(i as f64 * w, dt);
                let stride = n.div_ceil(256).max(1);
                let mut best = (f64::INFINITY, 0usize);
                for i in (stride..=n).step_by(stride).chain([n]) {
                    let e = err(at(i));
                    if e < best.0 {
                        best = (e, i);
                    }
                }
                let (lo, hi) = (
                    best.1.saturating_sub(stride).max(1),
                    (best.1 + stride).min(n),
                );
                for i in lo..=hi {
                    let e = err(at(i));
                    if e < best.0 {
                        best = (e, i);
                    }
                }
                let s = at(best.1);
                // Where the histogram cannot tell them apart (a step finer than a bin), clipping
                // nothing is the safer pick.
                let ort = h.amax / top;
                if check_scale(ort).is_ok() && err(ort) <= best.0 * (1.0 + 1e-3) {
                    ort
                } else {
                    s
                }
            }
            Observer::Kl => symmetric_scale(kl_threshold(h, half.round() as usize), dt),
            Observer::Fixed { scale } => scale,
        };
        check_scale(s)?;
        Ok(s)
    }
}

/// TensorRT's entropy calibration on the |x| histogram (indexing mirrors TensorRT's reference).: the clip threshold whose quantized
/// distribution (`levels` bins) diverges least (KL) from the clipped reference.
#[allow(clippy::needless_range_loop)]
pub fn kl_threshold(h: &AbsHistogram, levels: usize) -> f64 {
    let n = h.bins.len();
    let levels = levels.max(2).min(n);
    let mut best = (f64::INFINITY, n);
    for i in levels..=n {
        // Reference: the first i bins, with everything beyond folded into the last one.
        let mut p: Vec<f64> = h.bins[..i].iter().map(|&c| c as f64).collect();
        p[i - 1] += h.bins[i..].iter().map(|&c| c as f64).sum::<f64>();
        // Candidate: the i bins merged into `levels` groups, each spread back over its non-empty bins.
        let mut q = vec![0f64; i];
        let per = i as f64 / levels as f64;
        for j in 0..levels {
            let a = (j as f64 * per).floor() as usize;
            let b = if j == levels - 1 {
                i
            } else {
                ((j + 1) as f64 * per).floor() as usize
            };
            let total: f64 = h.bins[a..b].iter().map(|&c| c as f64).sum();
            let nonzero = h.bins[a..b].iter().filter(|&&c| c > 0).count();
            if nonzero > 0 {
                for k in a..b {
                    if h.bins[k] > 0 {
                        q[k] = total / nonzero as f64;
                    }
                }
            }
        }
        let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
        if sp == 0.0 || sq == 0.0 {
            continue;
        }
        let mut kl = 0.0;
        for k in 0..i {
            if p[k] > 0.0 {
                let pk = p[k] / sp;
                let qk = (q[k] / sq).max(1e-12);
                kl += pk * super::math::ln(pk / qk);
            }
        }
        if kl < best.0 {
            best = (kl, i);
        }
    }
    best.1 as f64 * h.width()
}

/// The error of quantizing `x` per tensor with `scale` on grid `dt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantError {
    #[serde(with = "crate::engine::num")]
    pub scale: f64,
    #[serde(with = "crate::engine::num")]
    pub mse: f64,
    #[serde(with = "crate::engine::num")]
    pub sqnr_db: f64,
    #[serde(with = "crate::engine::num")]
    pub max_abs: f64,
    /// Largest |q(x) − x| / |x| over nonzero x.
    #[serde(with = "crate::engine::num")]
    pub max_rel: f64,
    #[serde(with = "crate::engine::num")]
    pub clipped_fraction: f64,
}

pub fn quant_error(x: &[f32], scale: f64, dt: QDType) -> QuantError {
    let (qmin, qmax) = dt.range();
    let s = scale as f32;
    let (mut se, mut ss, mut mx, mut mr, mut clipped) = (0f64, 0f64, 0f64, 0f64, 0usize);
    for &v in x {
        if !v.is_finite() {
            continue;
        }
        let k = (v * (1.0 / s)).round_ties_even();
        if k > qmax as f32 || k < qmin as f32 {
            clipped += 1;
        }
        let q = fake_quant(v, s, 0, qmin, qmax);
        let e = (q - v) as f64;
        se += e * e;
        ss += (v as f64) * (v as f64);
        mx = mx.max(e.abs());
        if v != 0.0 {
            mr = mr.max((e / v as f64).abs());
        }
    }
    let n = x.len().max(1) as f64;
    QuantError {
        scale,
        mse: se / n,
        sqnr_db: super::math::sqnr_db(ss, se),
        max_abs: mx,
        max_rel: mr,
        clipped_fraction: clipped as f64 / n,
    }
}

/// The error of quantizing `x` (`shape`, C order or `fortran`) per channel along `axis`, each
/// channel with its own symmetric min-max scale, on grid `dt`: mean squared error and SQNR over the
/// whole tensor.
pub fn per_channel_minmax_error(
    x: &[f32],
    shape: &[usize],
    axis: usize,
    dt: QDType,
) -> Result<(f64, f64), String> {
    per_channel_minmax_error_in(x, shape, false, axis, dt)
}

/// [`per_channel_minmax_error`] for a tensor stored in either order.
pub fn per_channel_minmax_error_in(
    x: &[f32],
    shape: &[usize],
    fortran: bool,
    axis: usize,
    dt: QDType,
) -> Result<(f64, f64), String> {
    let dim = *shape
        .get(axis)
        .ok_or_else(|| format!("axis {axis} is out of range for shape {shape:?}"))?;
    if dim == 0 {
        return Err(format!("{} values do not fill shape {shape:?}", x.len()));
    }
    let v = view(x, shape, fortran)?;
    let (qmin, qmax) = dt.range();
    let (mut se, mut ss) = (0f64, 0f64);
    for ch in v.axis_iter(Axis(axis)) {
        let amax = ch
            .iter()
            .filter(|v| v.is_finite())
            .fold(0f32, |m, v| m.max(v.abs()));
        let s = symmetric_scale(amax as f64, dt) as f32;
        for &v in ch.iter().filter(|v| v.is_finite()) {
            let e = (fake_quant(v, s, 0, qmin, qmax) - v) as f64;
            se += e * e;
            ss += v as f64 * v as f64;
        }
    }
    let sqnr_db = super::math::sqnr_db(ss, se);
    Ok((se / x.len().max(1) as f64, sqnr_db))
}

/// A split of a tensor (flattened order) into contiguous groups, each with its own min-max scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSplit {
    /// Element indices where a new group starts (after the first).
    pub cuts: Vec<usize>,
    #[serde(default, with = "crate::engine::num::vec")]
    pub scales: Vec<f64>,
    #[serde(with = "crate::engine::num")]
    pub mse: f64,
    #[serde(with = "crate::engine::num")]
    pub max_rel: f64,
    /// What the cut positions minimise: `relative` (mean squared relative error, when no value is 0)
    /// or `absolute` (MSE).
    pub objective: String,
}

/// The largest finite |x| of `x` (0 when none).
fn finite_amax(x: &[f32]) -> f32 {
    x.iter()
        .filter(|v| v.is_finite())
        .fold(0f32, |m, v| m.max(v.abs()))
}

/// `x` quantized with scale `s`: (the objective, Σ error², the largest |relative error|).
fn group_cost_at(x: &[f32], s: f64, dt: QDType, relative: bool) -> (f64, f64, f64) {
    let (qmin, qmax) = dt.range();
    let (mut cost, mut se, mut mr) = (0f64, 0f64, 0f64);
    for &v in x {
        let e = (fake_quant(v, s as f32, 0, qmin, qmax) - v) as f64;
        se += e * e;
        let r = if v != 0.0 { e / v as f64 } else { 0.0 };
        mr = mr.max(r.abs());
        cost += if relative { r * r } else { e * e };
    }
    (cost, se, mr)
}

/// The best split of `x` into `k` contiguous groups (cuts at up to 64 candidate positions, exact
/// dynamic programming over them), each group quantized with its own min-max scale.
pub fn best_split(x: &[f32], k: usize, dt: QDType) -> GroupSplit {
    best_splits(x, &[k], dt).remove(0)
}

/// [`best_split`] for each group count of `ks`, sharing one pass over the tensor.
///
/// The candidate cuts divide `x` into at most 64 blocks. A group of consecutive blocks takes the
/// min-max scale of its largest block, so its cost is the sum of its blocks' costs at that block's
/// scale: each (block, scale) cost is computed once, at most 64 passes over `x` in all, where
/// summing every group element by element took about 700. Block sums differ from an element-by-
/// element sum only in rounding order (1e-16 relative); the chosen groups' errors are then summed
/// element by element, so the figures reported are those of the element-by-element split.
pub fn best_splits(x: &[f32], ks: &[usize], dt: QDType) -> Vec<GroupSplit> {
    let n = x.len();
    let relative = n > 0 && x.iter().all(|&v| v != 0.0 && v.is_finite());
    let objective = if relative { "relative" } else { "absolute" };
    if n == 0 {
        return ks
            .iter()
            .map(|_| GroupSplit {
                cuts: Vec::new(),
                scales: Vec::new(),
                mse: f64::NAN,
                max_rel: f64::NAN,
                objective: objective.into(),
            })
            .collect();
    }
    let cands: Vec<usize> = if n <= 65 {
        (1..n).collect()
    } else {
        (1..64).map(|j| j * n / 64).collect()
    };
    let mut pts = vec![0usize];
    pts.extend(cands);
    pts.push(n);
    pts.dedup();
    let m = pts.len();
    let blocks = m - 1;
    let block = |j: usize| &x[pts[j]..pts[j + 1]];
    let bmax: Vec<f32> = (0..blocks).map(|j| finite_amax(block(j))).collect();
    let scale_of = |i: usize| symmetric_scale(bmax[i] as f64, dt);
    // at[i * blocks + j]: the objective of block j quantized with block i's scale, computed when
    // first needed.
    let mut at: Vec<Option<f64>> = vec![None; blocks * blocks];
    // cost[a][b]: the objective of one group from pts[a] to pts[b]; scale_block[a][b]: the block
    // whose scale it takes (its largest).
    let mut cost = vec![vec![0f64; m]; m];
    let mut scale_block = vec![vec![0usize; m]; m];
    for a in 0..blocks {
        let mut top = a;
        for b in a + 1..m {
            if bmax[b - 1] > bmax[top] {
                top = b - 1;
            }
            cost[a][b] = (a..b)
                .map(|j| {
                    *at[top * blocks + j].get_or_insert_with(|| {
                        group_cost_at(block(j), scale_of(top), dt, relative).0
                    })
                })
                .sum();
            scale_block[a][b] = top;
        }
    }
    // dp[g][b]: best cost covering pts[0]..pts[b] with g groups.
    let kmax = ks.iter().copied().max().unwrap_or(1).max(1).min(blocks);
    let inf = f64::INFINITY;
    let mut dp = vec![vec![inf; m]; kmax + 1];
    let mut prev = vec![vec![0usize; m]; kmax + 1];
    dp[0][0] = 0.0;
    for g in 1..=kmax {
        for b in 1..m {
            for a in 0..b {
                let c = dp[g - 1][a] + cost[a][b];
                if c < dp[g][b] {
                    dp[g][b] = c;
                    prev[g][b] = a;
                }
            }
        }
    }
    ks.iter()
        .map(|&k| {
            let k = k.max(1).min(blocks);
            // At most k groups: a further cut can cost more than it saves (values on the coarser
            // grid can be exact and off the finer one), so k groups are never reported worse than
            // fewer.
            let best_g = (1..=k)
                .min_by(|&x, &y| dp[x][m - 1].total_cmp(&dp[y][m - 1]).then(x.cmp(&y)))
                .unwrap_or(1);
            let mut bounds = vec![m - 1];
            let mut b = m - 1;
            for g in (1..=best_g).rev() {
                b = prev[g][b];
                bounds.push(b);
            }
            bounds.reverse();
            let groups: Vec<(usize, usize)> = bounds
                .windows(2)
                .map(|w| (w[0], w[1]))
                .filter(|(a, b)| a < b)
                .collect();
            let scales: Vec<f64> = groups
                .iter()
                .map(|&(a, b)| scale_of(scale_block[a][b]))
                .collect();
            // The chosen groups' errors summed element by element, as one group's error always is.
            let exact: Vec<(f64, f64, f64)> = groups
                .iter()
                .zip(&scales)
                .map(|(&(a, b), &s)| group_cost_at(&x[pts[a]..pts[b]], s, dt, relative))
                .collect();
            GroupSplit {
                cuts: groups.iter().skip(1).map(|&(a, _)| pts[a]).collect(),
                scales,
                mse: exact.iter().map(|e| e.1).sum::<f64>() / n as f64,
                max_rel: exact.iter().map(|e| e.2).fold(0.0, f64::max),
                objective: objective.into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bin_error_integral_matches_a_fine_riemann_sum() {
        // Whole cells from 0 give s³/12 each; any span, clipped or not, matches a midpoint sum.
        let s = 0.37;
        assert!((sq_error_integral(0.0, 3.0 * s, s, 1e9) - 3.0 * s * s * s / 12.0).abs() < 1e-15);
        for (a, b, lim) in [
            (0.0, 0.1, 10.0),
            (0.05, 2.9, 10.0),
            (1.234, 40.0, 25.0),
            (30.0, 31.0, 25.0),
            (0.5, 700.0, 1e9),
        ] {
            let n = 400_000;
            let h = (b - a) / n as f64;
            let riemann: f64 = (0..n)
                .map(|i| {
                    let x: f64 = a + (i as f64 + 0.5) * h;
                    let q = (x / s).round() * s;
                    let e = if x > lim { x - lim } else { x - q };
                    e * e * h
                })
                .sum();
            let got = sq_error_integral(a, b, s, lim);
            assert!(
                (got - riemann).abs() <= 1e-6 * riemann.max(1e-12),
                "[{a}, {b}] lim {lim}: {got} vs {riemann}"
            );
        }
    }

    #[test]
    fn fake_quant_rounds_half_to_even_and_clamps() {
        assert_eq!(fake_quant(0.25, 0.5, 0, -128, 127), 0.0); // 0.5 → 0
        assert_eq!(fake_quant(0.75, 0.5, 0, -128, 127), 1.0); // 1.5 → 2
        assert_eq!(fake_quant(100.0, 0.5, 0, -128, 127), 63.5);
        assert_eq!(fake_quant(-100.0, 0.5, 0, -128, 127), -64.0);
        assert!(fake_quant_per_tensor(&[1.0], 0.0, 0, -128, 127).is_err());
        assert!(fake_quant_per_tensor(&[1.0], f32::NAN, 0, -128, 127).is_err());
    }

    /// The split as first written: every group's cost summed element by element.
    fn reference_split(x: &[f32], k: usize, dt: QDType) -> (Vec<usize>, f64, f64) {
        let n = x.len();
        let relative = x.iter().all(|&v| v != 0.0 && v.is_finite());
        let mut pts = vec![0usize];
        pts.extend(if n <= 65 {
            (1..n).collect::<Vec<_>>()
        } else {
            (1..64).map(|j| j * n / 64).collect()
        });
        pts.push(n);
        pts.dedup();
        let m = pts.len();
        let k = k.max(1).min(m - 1);
        let seg = |a: usize, b: usize| {
            let g = &x[pts[a]..pts[b]];
            group_cost_at(g, symmetric_scale(finite_amax(g) as f64, dt), dt, relative)
        };
        let mut dp = vec![vec![f64::INFINITY; m]; k + 1];
        let mut prev = vec![vec![0usize; m]; k + 1];
        dp[0][0] = 0.0;
        for g in 1..=k {
            for b in 1..m {
                for a in 0..b {
                    let c = dp[g - 1][a] + seg(a, b).0;
                    if c < dp[g][b] {
                        dp[g][b] = c;
                        prev[g][b] = a;
                    }
                }
            }
        }
        let best_g = (1..=k)
            .min_by(|&x, &y| dp[x][m - 1].total_cmp(&dp[y][m - 1]).then(x.cmp(&y)))
            .unwrap_or(1);
        let mut bounds = vec![m - 1];
        let mut b = m - 1;
        for g in (1..=best_g).rev() {
            b = prev[g][b];
            bounds.push(b);
        }
        bounds.reverse();
        let groups: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let se: f64 = groups.iter().map(|&(a, b)| seg(a, b).1).sum();
        let mr = groups.iter().map(|&(a, b)| seg(a, b).2).fold(0.0, f64::max);
        let cuts = groups.iter().skip(1).map(|&(a, _)| pts[a]).collect();
        (cuts, se / n as f64, mr)
    }

    #[test]
    fn block_costs_give_the_element_by_element_split() {
        // Smooth, spiky, signed, with zeros (absolute objective) and without (relative); sizes
        // below and above the 65 candidates; every group count, int8 and int16.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for (n, kind) in [
            (1, 0),
            (7, 1),
            (65, 2),
            (66, 0),
            (1000, 1),
            (6625, 2),
            (4099, 3),
        ] {
            let x: Vec<f32> = (0..n)
                .map(|i| match kind {
                    0 => ((i as f64 * 0.01).sin() * 3.0) as f32,
                    1 => (rnd() * 2.0 - 1.0).powi(5) as f32 * 40.0,
                    2 => (0.5 + rnd()) as f32 * if i % 97 == 0 { 300.0 } else { 1.0 },
                    _ => {
                        if i % 5 == 0 {
                            0.0
                        } else {
                            (rnd() - 0.5) as f32
                        }
                    }
                })
                .collect();
            for dt in [QDType::Int8, QDType::Int16] {
                let got = best_splits(&x, &[1, 2, 3, 4], dt);
                for (k, g) in [1, 2, 3, 4].into_iter().zip(got) {
                    let (cuts, mse, mr) = reference_split(&x, k, dt);
                    assert_eq!(g.cuts, cuts, "n {n} kind {kind} {dt:?} k {k}");
                    assert!(
                        (g.mse - mse).abs() <= 1e-12 * mse.abs(),
                        "{} vs {mse}",
                        g.mse
                    );
                    assert_eq!(g.max_rel, mr);
                    assert_eq!(g.scales.len(), cuts.len() + 1);
                }
            }
        }
    }

    #[test]
    fn dim_t_split_finds_the_small_values() {
        // The seed's dim_t: 10000^(2·(i//2)/128), i in 0..128.
        let x: Vec<f32> = (0..128)
            .map(|i| 10000f32.powf(2.0 * (i / 2) as f32 / 128.0))
            .collect();
        let one = best_split(&x, 1, QDType::Int16);
        let two = best_split(&x, 2, QDType::Int16);
        assert_eq!(two.cuts.len(), 1);
        assert!(
            two.max_rel < one.max_rel / 4.0,
            "{} vs {}",
            two.max_rel,
            one.max_rel
        );
        assert_eq!(two.objective, "relative");
    }
}

/// A what-if estimated from a report row's statistics alone (no tensor): rounding noise step²/12
/// against the signal power mean² + var, plus what clipping can cost. The row cannot say how many
/// values lie beyond the representable range, so a clipping scale gets an interval: from only the
/// extreme values clipped (`sqnr_db_best`) to as many as the variance allows beyond the bound
/// (Cantelli: P(X ≥ hi) ≤ var / (var + (hi − mean)²), each costing at most the overshoot²).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsEstimate {
    pub dtype: QDType,
    #[serde(with = "crate::engine::num")]
    pub scale: f64,
    #[serde(with = "crate::engine::num")]
    pub step: f64,
    /// The estimate when nothing is clipped; the best case of the interval when something is.
    #[serde(with = "crate::engine::num")]
    pub sqnr_db: f64,
    /// The worst case (as many values clipped as mean and variance allow); equal to `sqnr_db`
    /// when the scale covers the range.
    #[serde(with = "crate::engine::num")]
    pub sqnr_db_worst: f64,
    /// How far the float range passes the representable range (0 when covered).
    #[serde(with = "crate::engine::num")]
    pub overshoot: f64,
    /// The overshoot is more than half a step, i.e. more than ordinary rounding at the edge.
    pub clips: bool,
}

impl StatsEstimate {
    /// `≈ 31.8 dB`, or `3.6 – 35.4 dB` when clipping leaves the value open.
    pub fn text(&self) -> String {
        if self.clips && (self.sqnr_db - self.sqnr_db_worst).abs() >= 0.05 {
            format!("{:.1} – {:.1} dB", self.sqnr_db_worst, self.sqnr_db)
        } else {
            format!("≈ {:.1} dB", self.sqnr_db)
        }
    }
}

/// Estimate the error of quantizing a tensor known only by min/max/mean/var (and its element count
/// when known) with `scale` on `dt` (`scale` None: the min-max symmetric scale of the range).
pub fn estimate_from_stats(
    min: f64,
    max: f64,
    mean: f64,
    var: f64,
    dt: QDType,
    scale: Option<f64>,
) -> Result<StatsEstimate, String> {
    estimate_from_stats_n(min, max, mean, var, None, dt, scale)
}

/// [`estimate_from_stats`] with the element count (the shape), which bounds the best case better.
pub fn estimate_from_stats_n(
    min: f64,
    max: f64,
    mean: f64,
    var: f64,
    numel: Option<u64>,
    dt: QDType,
    scale: Option<f64>,
) -> Result<StatsEstimate, String> {
    if !(min.is_finite() && max.is_finite() && mean.is_finite() && var.is_finite()) {
        return Err("the row's statistics are not finite".into());
    }
    let s = match scale {
        Some(s) => {
            check_scale(s)?;
            s
        }
        None => symmetric_scale(min.abs().max(max.abs()), dt),
    };
    let (qmin, qmax) = dt.range();
    let (lo, hi) = (qmin as f64 * s, qmax as f64 * s);
    let var = var.max(0.0);
    let power = mean * mean + var;
    // step²/12 holds while the step is small against the values; a step far larger rounds every
    // value to 0, and the error is then the signal itself (0 dB), never more.
    let noise = (s * s / 12.0).min(power);
    let over_hi = (max - hi).max(0.0);
    let over_lo = (lo - min).max(0.0);
    let overshoot = over_hi.max(over_lo);
    // Torch's symmetric min-max puts the largest value exactly half a step past qmax·scale: that
    // is rounding at the edge, not clipping (a relative margin keeps the tie on the right side).
    let clips = overshoot > s / 2.0 * (1.0 + 1e-9);
    // Clipping energy per element: at least the two extremes (when the count is known), at most
    // the Cantelli bound on the mass beyond each side times its largest overshoot².
    let tail = |d: f64| {
        if d <= 0.0 {
            1.0
        } else {
            var / (var + d * d)
        }
    };
    let (clip_best, clip_worst) = if clips {
        // At least the two extremes are cut; and when the mean itself lies beyond a bound, the
        // values past it cost at least (mean − bound)² on average (Jensen).
        let extremes = numel
            .filter(|&n| n > 0)
            .map(|n| (over_hi * over_hi + over_lo * over_lo) / n as f64)
            .unwrap_or(0.0);
        let by_mean = (mean - hi).max(0.0).powi(2) + (lo - mean).max(0.0).powi(2);
        let best = extremes.max(by_mean);
        let worst = tail(hi - mean) * over_hi * over_hi + tail(mean - lo) * over_lo * over_lo;
        (best, worst.max(best))
    } else {
        (0.0, 0.0)
    };
    let db = |e: f64| {
        if power > 0.0 {
            10.0 * super::math::log10(power / e)
        } else {
            f64::NEG_INFINITY
        }
    };
    Ok(StatsEstimate {
        dtype: dt,
        scale: s,
        step: s,
        sqnr_db: db(noise + clip_best),
        sqnr_db_worst: db(noise + clip_worst),
        overshoot,
        clips,
    })
}
