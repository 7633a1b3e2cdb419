//! The native = wasm identity cases: deterministic pseudo-random inputs (a seeded SplitMix64, no crate) for the comparison kernel and its error split, fake quantization (per tensor and per channel) and the observers, each result written as a line of bit patterns.
//!
//! `tests/wasm_identity.rs` computes the lines natively and checks them against the committed
//! golden file (`tests/fixtures/wasm_identity.txt`; `QUANTLENS_BLESS=1` rewrites it);
//! `tests/wasm_engine.rs` computes the same lines under wasm32 (+simd128, in Node) and compares
//! them with the golden file, line by line. f64 and f32 results are written as their bits in hex;
//! long outputs (fake-quantized tensors, the metrics' whole JSON with its histograms) as a 64-bit
//! FNV-1a hash of their bits or text. NaN is written `nan` whatever its sign and payload: x86 and
//! wasm make different NaN bits (x86's default NaN is negative, wasm's canonical one positive), and
//! no result depends on them.
//!
//! The results computed through logarithms and exponentials (SQNR in dB, KL divergence) are
//! written last on a line, after `libm=`: they went through the platform's math library (glibc
//! natively, a port of musl's libm in wasm32) and differed in the last bit or two, until the engine
//! took them from the `libm` crate on both (`engine::math`, 2026-12-02). The wasm test now
//! requires them bit for bit too.
#![allow(dead_code)]

use quantlens::engine::metrics::{compare_slices, QuantSpec};
use quantlens::engine::quant::{self, AbsHistogram, Observer, QDType};

/// Cases; each gives three lines (metrics, fake quant, observers).
pub const CASES: u64 = 256;

/// SplitMix64 (Steele, Lea, Flood 2014): the same sequence on every target.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5851_F42D_4C95_7F2D)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A value of the case's kind: 0 moderate (±10), 1 wide (±1e6 and ±1e-30), 2 anything
    /// (±1e15, ±0, NaN, ±inf, ±f32::MAX, subnormals, arbitrary bit patterns).
    pub fn value(&mut self, kind: u64) -> f32 {
        match (kind, self.below(12)) {
            (0, _) => self.range(-10.0, 10.0) as f32,
            (1, 0..=7) => self.range(-1e6, 1e6) as f32,
            (1, 8..=9) => self.range(-1e-30, 1e-30) as f32,
            (1, _) => self.range(-1.0, 1.0) as f32,
            (_, 0..=4) => self.range(-10.0, 10.0) as f32,
            (_, 5) => self.range(-1e15, 1e15) as f32,
            (_, 6) => [0.0, -0.0][self.below(2) as usize],
            (_, 7) => [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][self.below(3) as usize],
            (_, 8) => [f32::MAX, -f32::MAX][self.below(2) as usize],
            (_, 9) => f32::MIN_POSITIVE * self.range(-1.0, 1.0) as f32,
            _ => f32::from_bits(self.next_u64() as u32),
        }
    }

    /// A scale: (1 + u) · 2^k for k in −20..10 (about 1e-6..2e3; exact arithmetic, no `powf`,
    /// whose last bit differs between the platforms' math libraries), or one of the common ones.
    pub fn scale(&mut self) -> f64 {
        match self.below(4) {
            0 => 1.0 / 127.0,
            1 => pow2(-10),
            _ => (1.0 + self.unit()) * pow2(self.below(30) as i32 - 20),
        }
    }

    pub fn dtype(&mut self) -> QDType {
        [QDType::Int4, QDType::Int8, QDType::Int16, QDType::Uint8][self.below(4) as usize]
    }
}

/// 2^k, exactly (normal range).
pub fn pow2(k: i32) -> f64 {
    f64::from_bits(((1023 + k) as u64) << 52)
}

pub fn f64_bits(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else {
        format!("{:016x}", v.to_bits())
    }
}

pub fn f32_bits(v: f32) -> String {
    if v.is_nan() {
        "nan".into()
    } else {
        format!("{:08x}", v.to_bits())
    }
}

/// FNV-1a, 64 bits.
pub fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The hash of f32 values' bits (every NaN as the canonical quiet NaN).
pub fn f32s_hash(v: &[f32]) -> String {
    let bits = v.iter().flat_map(|x| {
        let b = if x.is_nan() { 0x7fc0_0000 } else { x.to_bits() };
        b.to_le_bytes()
    });
    format!("{:016x}", fnv(bits))
}

/// The case's inputs: a float tensor `b` and a "quantized" side `a` (b fake-quantized with
/// noise, or b with noise, or independent values), 1–1,200 elements (several kernel blocks and a
/// ragged tail).
fn inputs(rng: &mut Rng, kind: u64) -> (Vec<f32>, Vec<f32>, f64) {
    let n = 1 + rng.below(1200) as usize;
    let b: Vec<f32> = (0..n).map(|_| rng.value(kind)).collect();
    let s = rng.scale();
    let noise = rng.range(0.0, 0.5) as f32 * s as f32;
    let a = match rng.below(3) {
        0 => b
            .iter()
            .map(|&x| {
                quant::fake_quant(x, s as f32, 0, -128, 127) + noise * rng.range(-1.0, 1.0) as f32
            })
            .collect(),
        1 => b
            .iter()
            .map(|&x| x + noise * rng.range(-1.0, 1.0) as f32)
            .collect(),
        _ => (0..n).map(|_| rng.value(kind)).collect(),
    };
    (b, a, s)
}

/// The metrics line: the kernel's numbers and its error split, and a hash of the whole result as
/// JSON (histograms, KL, everything it carries).
fn metrics_line(case: u64, b: &[f32], a: &[f32], s: f64) -> String {
    let m = compare_slices(b, a, &[b.len() as u64], Some(QuantSpec::int8(s)));
    let split = m.error_split.expect("a split with a scale");
    let nums = [
        m.cosine,
        m.mse,
        m.l1,
        m.atol,
        m.rtol,
        m.base_min,
        m.base_max,
        m.base_mean,
        m.base_var,
        m.analy_min,
        m.analy_max,
        m.analy_mean,
        m.analy_var,
        m.max_atol_diff,
        split.clip,
        split.round,
        split.inherited,
        split.clipped_fraction,
    ];
    // KL over many softmax groups too (the kernel's vector loop runs over a channel's groups; the
    // 1-D tensor above is one group): the first n − n mod 4 values as [1, 4, n/4].
    let m4 = b.len() / 4 * 4;
    let kl_groups = if m4 >= 16 {
        compare_slices(&b[..m4], &a[..m4], &[1, 4, m4 as u64 / 4], None).kl
    } else {
        0.0
    };
    let libm = [m.kl, m.sqnr_db, kl_groups].map(f64_bits).join(",");
    // The JSON without the libm results (written apart).
    let mut exact = m.clone();
    (exact.kl, exact.sqnr_db) = (0.0, 0.0);
    let json = serde_json::to_string(&exact).expect("json");
    format!(
        "{case} metrics n={} nonfinite={}/{} {} json={:016x} libm={libm}",
        m.numel,
        m.nonfinite_base,
        m.nonfinite_analy,
        nums.map(f64_bits).join(" "),
        fnv(json.bytes())
    )
}

/// The fake-quant line: per tensor (with a zero point for uint8) and per channel on a random
/// shape and axis, and a few single values at the grid's edges.
fn fake_quant_line(case: u64, rng: &mut Rng, b: &[f32], s: f64) -> String {
    let dt = rng.dtype();
    let (qmin, qmax) = dt.range();
    let zp = if dt == QDType::Uint8 {
        rng.below(256) as i64
    } else {
        0
    };
    let per_tensor = quant::fake_quant_per_tensor(b, s as f32, zp, qmin, qmax).expect("scale");
    let rank = 1 + rng.below(3) as usize;
    let shape: Vec<usize> = (0..rank).map(|_| 1 + rng.below(6) as usize).collect();
    let numel: usize = shape.iter().product();
    let x: Vec<f32> = (0..numel).map(|i| b[i % b.len()]).collect();
    let axis = rng.below(rank as u64) as usize;
    let scales: Vec<f32> = (0..shape[axis]).map(|_| rng.scale() as f32).collect();
    let zps = vec![zp; shape[axis]];
    let per_channel =
        quant::fake_quant_per_channel(&x, &shape, axis, &scales, &zps, qmin, qmax).expect("valid");
    let edges: Vec<String> = [
        qmax as f32 * s as f32,
        (qmax as f32 + 0.5) * s as f32,
        (qmin as f32 - 0.5) * s as f32,
        0.5 * s as f32,
        -1.5 * s as f32,
    ]
    .iter()
    .map(|&v| f32_bits(quant::fake_quant(v, s as f32, zp, qmin, qmax)))
    .collect();
    format!(
        "{case} fake_quant {} zp={zp} tensor={} shape={shape:?} axis={axis} channel={} edges={}",
        dt.name(),
        f32s_hash(&per_tensor),
        f32s_hash(&per_channel),
        edges.join(",")
    )
}

/// The observers line: |x| max, the histogram, every observer's scale and the error of min-max.
fn observers_line(case: u64, rng: &mut Rng, b: &[f32]) -> String {
    let dt = rng.dtype();
    let nbins = [1usize, 16, 256, 2048][rng.below(4) as usize];
    let amax = quant::abs_max(b);
    let mut h = AbsHistogram::new(amax as f64, nbins);
    h.update(b);
    let scales: Vec<String> = [
        Observer::MinMax,
        Observer::Percentile { p: 0.9999 },
        Observer::Percentile { p: 0.5 },
        Observer::Mse,
        Observer::Kl,
    ]
    .iter()
    .map(|o| match o.scale(&h, dt) {
        Ok(s) => f64_bits(s),
        Err(_) => "err".into(),
    })
    .collect();
    let e = quant::quant_error(b, quant::symmetric_scale(amax as f64, dt), dt);
    let hist = fnv(h.bins.iter().flat_map(|c| c.to_le_bytes()));
    format!(
        "{case} observers {} bins={nbins} amax={} count={} hist={hist:016x} scales={} error={} libm={}",
        dt.name(),
        f32_bits(amax),
        h.count,
        scales.join(","),
        [e.scale, e.mse, e.max_abs, e.max_rel, e.clipped_fraction]
            .map(f64_bits)
            .join(","),
        f64_bits(e.sqnr_db)
    )
}

/// Every case's lines, in order.
pub fn lines() -> Vec<String> {
    let mut out = Vec::new();
    for case in 0..CASES {
        let mut rng = Rng::new(case);
        let kind = case % 3;
        let (b, a, s) = inputs(&mut rng, kind);
        out.push(metrics_line(case, &b, &a, s));
        out.push(fake_quant_line(case, &mut rng, &b, s));
        out.push(observers_line(case, &mut rng, &b));
    }
    out
}

/// The golden file's text: a header, then the lines.
pub fn golden_text() -> String {
    let mut t = String::from(
        "# Native results of tests/common/identity.rs (written by `QUANTLENS_BLESS=1 cargo test --test wasm_identity`);\n# tests/wasm_engine.rs recomputes them under wasm32 and compares bit for bit.\n",
    );
    for l in lines() {
        t.push_str(&l);
        t.push('\n');
    }
    t
}

/// A line's exact part and its libm results (see the module's summary).
pub fn split_libm(line: &str) -> (&str, Vec<f64>) {
    let (exact, libm) = line.split_once(" libm=").unwrap_or((line, ""));
    let vals = libm
        .split(',')
        .filter(|v| !v.is_empty())
        .map(|v| match v {
            "nan" => f64::NAN,
            _ => f64::from_bits(u64::from_str_radix(v, 16).expect("hex bits")),
        })
        .collect();
    (exact, vals)
}

/// Two libm results agree: equal (infinities, NaN with NaN), or within 1e-12 relative or 1e-15
/// absolute.
pub fn libm_close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) + 1e-15
}

/// The golden file's result lines (comments left out).
pub fn golden_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}
