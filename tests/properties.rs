//! Property tests (proptest) of the numeric core against plain f64 references, on random tensors,
//! scales and shapes, including NaN, ±inf, subnormals and extreme magnitudes: the comparison
//! metrics, fake quantization, the error split (clip + round + inherited = total) and the
//! observers. Case counts are fixed per block (`CASES`) and listed in RELIABILITY.md.

use proptest::prelude::*;
use quantlens::engine::metrics::{compare_slices, QuantSpec};
use quantlens::engine::quant::{self, AbsHistogram, Observer, QDType};

/// Cases per property (proptest's default is 256; these are cheap, so more).
const CASES: u32 = 512;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Failures are reported with their minimal input; nothing is persisted to disk.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Finite values over many magnitudes (|x| up to 1e15: squares and their sums stay finite in
/// the kernel's f32 lanes for the lengths below).
fn finite() -> impl Strategy<Value = f32> + Clone {
    prop_oneof![
        4 => -10.0f32..10.0,
        2 => -1e15f32..1e15,
        1 => -1e-30f32..1e-30,
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
    ]
}

/// Any f32: finite, ±inf, NaN, subnormal, ±f32::MAX.
fn any_value() -> impl Strategy<Value = f32> + Clone {
    prop_oneof![
        6 => finite(),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::MAX),
        1 => Just(-f32::MAX),
        1 => Just(f32::MIN_POSITIVE / 4.0),
        1 => any::<f32>(),
    ]
}

/// A pair of tensors of one length (1..600: several kernel blocks and a ragged tail).
fn pair_of(v: impl Strategy<Value = f32> + Clone) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (1usize..600).prop_flat_map(move |n| {
        (
            prop::collection::vec(v.clone(), n),
            prop::collection::vec(v.clone(), n),
        )
    })
}

fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= abs + rel * want.abs() || (got.is_nan() && want.is_nan()) || got == want
}

fn scale() -> impl Strategy<Value = f64> {
    prop_oneof![1e-6f64..1e3, Just(1.0 / 127.0), Just(2f64.powi(-10))]
}

fn dtype() -> impl Strategy<Value = QDType> {
    prop_oneof![
        Just(QDType::Int4),
        Just(QDType::Int8),
        Just(QDType::Int16),
        Just(QDType::Uint8)
    ]
}

proptest! {
    #![proptest_config(config())]

    /// MSE, L1, max |b − a|, min/max, mean and cosine agree with an f64 reference on finite tensors.
    #[test]
    fn metrics_match_an_f64_reference((b, a) in pair_of(-1e6f32..1e6)) {
        let n = b.len();
        let m = compare_slices(&b, &a, &[n as u64], None);
        let d: Vec<f64> = b.iter().zip(&a).map(|(&x, &y)| x as f64 - y as f64).collect();
        let mse = d.iter().map(|v| v * v).sum::<f64>() / n as f64;
        let l1 = d.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
        // The kernel subtracts in f32 (as torch does): atol is the largest f32 difference.
        let atol = b.iter().zip(&a).map(|(&x, &y)| (x - y).abs()).fold(0f32, f32::max) as f64;
        let dot: f64 = b.iter().zip(&a).map(|(&x, &y)| x as f64 * y as f64).sum();
        let nb = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        let na = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        let cos = (dot / (na.max(1e-8) * nb.max(1e-8))).clamp(-1.0, 1.0);
        let mean_b = b.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let scale2 = b.iter().chain(&a).map(|&x| (x as f64).powi(2)).fold(0.0, f64::max);
        prop_assert_eq!(m.numel, n as u64);
        prop_assert!(close(m.mse, mse, 1e-4, 1e-9 * scale2), "mse {} vs {}", m.mse, mse);
        prop_assert!(close(m.l1, l1, 1e-4, 1e-6), "l1 {} vs {}", m.l1, l1);
        prop_assert_eq!(m.atol, atol);
        prop_assert!(close(m.cosine, cos, 1e-4, 1e-4), "cosine {} vs {}", m.cosine, cos);
        prop_assert!((-1.0..=1.0).contains(&m.cosine));
        // The mean is summed shifted by the first value, in float32: half an ulp of the largest
        // shifted value per element at worst.
        let maxabs = b.iter().map(|x| x.abs()).fold(0f32, f32::max) as f64;
        prop_assert!(close(m.base_mean, mean_b, 1e-6, 4e-7 * maxabs + 1e-9), "mean {} vs {}", m.base_mean, mean_b);
        let min_b = b.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
        let max_a = a.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        prop_assert_eq!(m.base_min, min_b);
        prop_assert_eq!(m.analy_max, max_a);
        prop_assert_eq!(m.nonfinite_base + m.nonfinite_analy, 0);
        if b == a {
            prop_assert_eq!(m.sqnr_db, f64::INFINITY);
            prop_assert_eq!(m.mse, 0.0);
        }
    }

    /// KL (softmax along dim 1, or the last of 1–2 dims; Σ over groups / elements) agrees with a
    /// two-pass f64 log-softmax reference within the kernel's stated bound, 1e-5·|KL| + 1e-6·mean|b − a|:
    /// random shapes, values, and quantized sides near and far from the float one (past the f32
    /// kernel's range too, |b − a| > 30, which takes the exact path); never below 0.
    #[test]
    fn kl_matches_an_f64_log_softmax_reference(
        (shape, b, a) in prop::collection::vec(1u64..7, 1..5).prop_flat_map(|shape| {
            let n = shape.iter().product::<u64>() as usize;
            let b = prop::collection::vec(prop_oneof![4 => -8.0f32..8.0, 1 => -100.0f32..100.0], n);
            let delta = prop::collection::vec(prop_oneof![
                4 => -0.05f32..0.05, 2 => -1.0f32..1.0, 2 => -30.0f32..30.0, 1 => -80.0f32..80.0, 1 => Just(0.0f32)
            ], n);
            (Just(shape), b, delta)
        }).prop_map(|(shape, b, delta)| {
            let a = b.iter().zip(&delta).map(|(x, d)| x + d).collect::<Vec<f32>>();
            (shape, b, a)
        })
    ) {
        let nd = shape.len();
        let dim = if nd > 2 { 1 } else { nd - 1 };
        let outer: u64 = shape[..dim].iter().product();
        let along = shape[dim];
        let inner: u64 = shape[dim + 1..].iter().product();
        let log_softmax = |v: &[f64]| {
            let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
            v.iter().map(|x| x - lse).collect::<Vec<f64>>()
        };
        let mut total = 0.0;
        for o in 0..outer {
            for i in 0..inner {
                let at = |c: u64| ((o * along + c) * inner + i) as usize;
                let lp = log_softmax(&(0..along).map(|c| b[at(c)] as f64).collect::<Vec<_>>());
                let lq = log_softmax(&(0..along).map(|c| a[at(c)] as f64).collect::<Vec<_>>());
                total += lp.iter().zip(&lq).map(|(p, q)| p.exp() * (p - q)).sum::<f64>();
            }
        }
        let want = total / b.len() as f64;
        let got = compare_slices(&b, &a, &shape, None).kl;
        let mean_d = b.iter().zip(&a).map(|(&x, &y)| (x as f64 - y as f64).abs()).sum::<f64>() / b.len() as f64;
        let bound = 1e-5 * want.abs() + 1e-6 * mean_d + 1e-15;
        prop_assert!((got - want).abs() <= bound, "{:?}: KL {:e} vs f64 {:e} (bound {:e})", shape, got, want, bound);
        // Gibbs' inequality holds in what is shown too (rounding once gave −1.6e-18 on real dumps),
        // and identical sides give exactly 0.
        prop_assert!(got >= 0.0, "{:?}: KL {:e} < 0", shape, got);
        prop_assert_eq!(compare_slices(&b, &b, &shape, None).kl, 0.0);
    }

    /// Any values at all (NaN, ±inf, f32::MAX, subnormals): nothing panics, the non-finite count
    /// is exact, cosine stays in [−1, 1] or is NaN, and the split's parts are never negative.
    #[test]
    fn metrics_never_misbehave_on_any_values((b, a) in pair_of(any_value()), s in scale()) {
        let n = b.len();
        let m = compare_slices(&b, &a, &[n as u64], Some(QuantSpec::int8(s)));
        let bad = |v: &[f32]| v.iter().filter(|x| !x.is_finite()).count() as u64;
        prop_assert_eq!(m.nonfinite_base, bad(&b));
        prop_assert_eq!(m.nonfinite_analy, bad(&a));
        // NaN apart from ±inf, and where the first non-finite value of each side sits.
        let nan = |v: &[f32]| v.iter().filter(|x| x.is_nan()).count() as u64;
        let first = |v: &[f32]| v.iter().position(|x| !x.is_finite()).map(|i| i as u64);
        prop_assert_eq!((m.nan_base, m.first_nonfinite_base), (nan(&b), first(&b)));
        prop_assert_eq!((m.nan_analy, m.first_nonfinite_analy), (nan(&a), first(&a)));
        prop_assert!(m.cosine.is_nan() || (-1.0..=1.0).contains(&m.cosine), "cosine {}", m.cosine);
        prop_assert!(m.atol.is_nan() || m.atol >= 0.0);
        let split = m.error_split.expect("a split with a scale");
        prop_assert!(!(split.clip < 0.0 || split.round < 0.0 || split.inherited < 0.0));
        prop_assert!((0.0..=1.0).contains(&split.clipped_fraction));
        // The metrics travel as JSON (inf and nan as strings) and read back the same.
        let json = serde_json::to_string(&m).expect("json");
        let back: quantlens::engine::metrics::PairMetrics = serde_json::from_str(&json).expect("read back");
        prop_assert_eq!(back.nonfinite_base, m.nonfinite_base);
        prop_assert_eq!(back.first_nonfinite_analy, m.first_nonfinite_analy);
        prop_assert!(close(back.mse, m.mse, 0.0, 0.0));
    }

    /// The error split: clip and round against a per-element f64 reference, and
    /// clip + round + inherited = total whenever the quantized side carries error beyond the
    /// float tensor's own quantization.
    #[test]
    fn error_split_adds_up((b, a) in pair_of(-1e4f32..1e4), s in 1e-3f64..10.0) {
        let n = b.len();
        let q = QuantSpec::int8(s);
        let m = compare_slices(&b, &a, &[n as u64], Some(q));
        let split = m.error_split.expect("split");
        let (mut clip, mut round) = (0f64, 0f64);
        for &x in &b {
            let k = (x * (1.0f32 / s as f32)).round_ties_even();
            let e = (quant::fake_quant(x, s as f32, 0, q.qmin, q.qmax) - x) as f64;
            if k < q.qmin as f32 || k > q.qmax as f32 { clip += e * e } else { round += e * e }
        }
        let total = m.mse * n as f64;
        let tol = 1e-4 * (total + clip + round) + 1e-9;
        prop_assert!(close(split.clip, clip, 1e-4, 1e-9), "clip {} vs {}", split.clip, clip);
        prop_assert!(close(split.round, round, 1e-4, 1e-9), "round {} vs {}", split.round, round);
        if split.inherited > 0.0 {
            let sum = split.clip + split.round + split.inherited;
            prop_assert!((sum - total).abs() <= tol, "{} + {} + {} = {} vs total {}", split.clip, split.round, split.inherited, sum, total);
        } else {
            prop_assert!(split.clip + split.round + tol >= total);
        }
    }

    /// A quantized side that is exactly the float tensor fake-quantized inherits nothing: its whole
    /// error is clip + round.
    #[test]
    fn fake_quantized_side_inherits_nothing(b in prop::collection::vec(-1e3f32..1e3, 1..600), s in 1e-2f64..10.0) {
        let q = QuantSpec::int8(s);
        let a = quant::fake_quant_per_tensor(&b, s as f32, 0, q.qmin, q.qmax).expect("scale");
        let m = compare_slices(&b, &a, &[b.len() as u64], Some(q));
        let split = m.error_split.expect("split");
        let total = m.mse * b.len() as f64;
        prop_assert!(split.inherited <= 1e-3 * total + 1e-9, "inherited {} of {}", split.inherited, total);
        prop_assert!(close(split.clip + split.round, total, 1e-3, 1e-9));
    }

    /// Fake quantization lands on the grid, within half a step of x when not clipped, is idempotent
    /// and monotone, for every dtype.
    #[test]
    fn fake_quant_is_on_grid_idempotent_and_monotone(x in finite(), y in finite(), s in scale(), dt in dtype()) {
        let (qmin, qmax) = dt.range();
        let s32 = s as f32;
        let fq = |v: f32| quant::fake_quant(v, s32, 0, qmin, qmax);
        let q = fq(x);
        prop_assert!(q.is_finite());
        let k = (q as f64 / s32 as f64).round();
        prop_assert!(k >= qmin as f64 && k <= qmax as f64);
        prop_assert!((q as f64 - k * s32 as f64).abs() <= 1e-6 * (k.abs() * s32 as f64) + f32::MIN_POSITIVE as f64);
        let lo = qmin as f64 * s32 as f64;
        let hi = qmax as f64 * s32 as f64;
        if (x as f64) > lo && (x as f64) < hi {
            // Half a step, plus float32's rounding of x · (1/s) and of k · s.
            let tol = 0.5 * s32 as f64 + 3e-7 * (x as f64).abs();
            prop_assert!((q as f64 - x as f64).abs() <= tol, "{} → {}", x, q);
        }
        prop_assert_eq!(fq(q), q);
        if x <= y {
            prop_assert!(fq(x) <= fq(y));
        }
    }

    /// Non-finite input never becomes a finite lie silently: NaN stays NaN, ±inf clamps to the
    /// grid's ends; a non-positive or non-finite scale is refused with a sentence.
    #[test]
    fn fake_quant_non_finite(dt in dtype(), s in scale(), bad in prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN), Just(f64::INFINITY)]) {
        let (qmin, qmax) = dt.range();
        prop_assert!(quant::fake_quant(f32::NAN, s as f32, 0, qmin, qmax).is_nan());
        prop_assert_eq!(quant::fake_quant(f32::INFINITY, s as f32, 0, qmin, qmax), qmax as f32 * s as f32);
        prop_assert_eq!(quant::fake_quant(f32::NEG_INFINITY, s as f32, 0, qmin, qmax), qmin as f32 * s as f32);
        let e = quant::fake_quant_per_tensor(&[1.0], bad as f32, 0, qmin, qmax).expect_err("a bad scale");
        prop_assert!(e.contains("positive finite"), "{}", e);
    }

    /// Per-channel fake quantization is per-tensor fake quantization of each channel, on any
    /// shape and axis.
    #[test]
    fn per_channel_is_per_tensor_per_channel(
        shape in prop::collection::vec(1usize..5, 1..4),
        axis_pick in 0usize..4,
        seed in prop::collection::vec(-50f32..50.0, 64),
    ) {
        let axis = axis_pick % shape.len();
        let n: usize = shape.iter().product();
        let x: Vec<f32> = (0..n).map(|i| seed[i % seed.len()] * (1.0 + i as f32 / 7.0)).collect();
        let c = shape[axis];
        let scales: Vec<f32> = (0..c).map(|i| 0.05 * (i as f32 + 1.0)).collect();
        let zps = vec![0i64; c];
        let out = quant::fake_quant_per_channel(&x, &shape, axis, &scales, &zps, -128, 127).expect("valid");
        // C order: the channel of flat index i along `axis`.
        let inner: usize = shape[axis + 1..].iter().product();
        for i in 0..n {
            let ch = (i / inner) % c;
            prop_assert_eq!(out[i], quant::fake_quant(x[i], scales[ch], 0, -128, 127));
        }
    }

    /// Observers: every scale is positive and finite; min-max is amax/((qmax − qmin)/2);
    /// percentile, MSE and KL never clip above min-max's range; quant_error's MSE matches an f64
    /// reference; non-finite values are ignored.
    #[test]
    fn observers_are_bounded_by_min_max(
        x in prop::collection::vec(any_value(), 1..2000),
        dt in dtype(),
        nbins in prop_oneof![Just(1usize), Just(16), Just(2048)],
    ) {
        let amax = quant::abs_max(&x);
        let want_amax = x.iter().filter(|v| v.is_finite()).map(|v| v.abs()).fold(0f32, f32::max);
        prop_assert_eq!(amax, want_amax);
        let mut h = AbsHistogram::new(amax as f64, nbins);
        h.update(&x);
        prop_assert_eq!(h.count, x.iter().filter(|v| v.is_finite()).count() as u64);
        prop_assert_eq!(h.bins.iter().sum::<u64>(), h.count);
        let mm = Observer::MinMax.scale(&h, dt).expect("min-max");
        prop_assert!(mm.is_finite() && mm > 0.0);
        prop_assert!(close(mm, quant::symmetric_scale(amax as f64, dt), 0.0, 0.0));
        for obs in [Observer::Percentile { p: 0.9999 }, Observer::Percentile { p: 0.5 }, Observer::Mse, Observer::Kl] {
            let s = obs.scale(&h, dt).expect("a scale");
            prop_assert!(s.is_finite() && s > 0.0, "{}: {}", obs.label(), s);
            // MSE-optimal may pick ONNX Runtime's amax/qmax (nothing clipped), a hair above min-max.
            let (qmin, qmax) = dt.range();
            let top = if qmin < 0 { qmax.min(-qmin) as f64 } else { (qmax - qmin) as f64 / 2.0 };
            let bound = if obs == Observer::Mse { (h.amax / top).max(mm) } else { mm };
            prop_assert!(s <= bound * (1.0 + 1e-9) || s == f32::EPSILON as f64, "{}: {} above {}", obs.label(), s, bound);
        }
        let e = quant::quant_error(&x, mm, dt);
        let (qmin, qmax) = dt.range();
        let se: f64 = x.iter().filter(|v| v.is_finite()).map(|&v| {
            let d = (quant::fake_quant(v, mm as f32, 0, qmin, qmax) - v) as f64;
            d * d
        }).sum();
        prop_assert!(close(e.mse, se / x.len() as f64, 1e-9, 0.0));
        // Near f32::MAX an asymmetric grid's qmin · scale overflows (int4: −8 · amax/7.5), as in torch.
        if amax < 1e38 {
            prop_assert!(e.max_abs.is_finite());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The setter (`recommend::setter`, Horizon's `get_sensitive_op_qconfig_setter`): which ops a
// sensitivity table and a ratio or topk switch to int16.

use quantlens::engine::cells::DType;
use quantlens::engine::doc::DocTable;
use quantlens::engine::recommend::{self, SetterRequest};
use quantlens::engine::sensitivity::{SensRow, SensitivityTable};

/// A sensitivity table of 1–59 rows (4, 5 or 6 columns) drawn from 12 op names, so names repeat
/// (an op listed for activation and for weight, or twice); types activation, weight and now and
/// then `both`; dtypes qint8, qint16 or none.
fn sens_table() -> impl Strategy<Value = SensitivityTable> {
    let row = (
        0usize..12,
        prop_oneof![4 => Just("activation"), 4 => Just("weight"), 1 => Just("both")],
        prop_oneof![
            Just(Some(DType::QInt8)),
            Just(Some(DType::QInt16)),
            Just(None)
        ],
        -1e3f64..1e3,
        prop::option::of(0u64..1_000_000),
        prop::option::of(0f64..100.0),
    );
    (
        prop::collection::vec(row, 1..60),
        prop_oneof![Just(4usize), Just(5), Just(6)],
    )
        .prop_map(|(rows, columns)| SensitivityTable {
            output: Some("out".into()),
            metric: "L1".into(),
            columns,
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(line, (op, ty, dt, value, flops, flops_pct))| SensRow {
                    line: line + 2,
                    op_name: format!("model.op{op}"),
                    sensitive_type: ty.to_string(),
                    op_type: format!("Conv{}", op % 3),
                    value: Some(value),
                    quant_dtype: dt,
                    flops,
                    flops_pct,
                })
                .collect(),
            doc: DocTable {
                id: "sensitivity".into(),
                title: "sensitivity".into(),
                headers: Vec::new(),
                rows: Vec::new(),
                elided_runs: 0,
                first_line: 1,
            },
            notes: Vec::new(),
        })
}

fn request(ty: &str, dt: DType, ratio: Option<f64>, topk: Option<usize>) -> SetterRequest {
    SetterRequest {
        sensitive_type: ty.to_string(),
        origin_dtype: dt,
        ratio,
        topk,
    }
}

fn sens_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("activation"), Just("weight"), Just("both")]
}

fn origin() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::QInt8), Just(DType::QInt16)]
}

/// The rows the setter may pick within its budget: the first `topk`, of the requested type (or
/// either for `both`) and, for 5- and 6-column tables, of the origin dtype.
fn qualifies(t: &SensitivityTable, row: usize, req: &SetterRequest) -> bool {
    let r = &t.rows[row];
    let ty = req.sensitive_type == r.sensitive_type
        || (req.sensitive_type == "both"
            && matches!(r.sensitive_type.as_str(), "activation" | "weight"));
    ty && (t.columns < 5 || r.quant_dtype.as_ref() == Some(&req.origin_dtype))
}

proptest! {
    #![proptest_config(config())]

    /// The setter is deterministic; its budget is ceil(rows · ratio) (or topk), and it picks at
    /// most that many; every pick is a row of the table within the budget, of the requested type
    /// and origin dtype, with that row's name, type and numbers; picks come in table order, each
    /// (name, type) once; and every qualifying row within the budget is picked. A ratio is the
    /// topk ceil(rows · ratio).
    #[test]
    fn setter_picks_qualifying_rows_within_its_budget(
        t in sens_table(), ty in sens_type(), dt in origin(), ratio in 1e-3f64..=1.0,
    ) {
        let req = request(ty, dt.clone(), Some(ratio), None);
        let r = recommend::setter(&t, &req).expect("a valid request");
        prop_assert_eq!(&recommend::setter(&t, &req).expect("again"), &r);
        let n = t.rows.len();
        prop_assert_eq!(r.topk, (n as f64 * ratio).ceil() as usize);
        let budget = r.topk.min(n);
        prop_assert!(r.picks.len() <= budget);
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut last_row = None;
        for p in &r.picks {
            prop_assert!(p.row < budget, "row {} past the budget {}", p.row, budget);
            let row = &t.rows[p.row];
            prop_assert!(qualifies(&t, p.row, &req));
            prop_assert_eq!((&p.name, &p.sensitive_type, &p.op_type), (&row.op_name, &row.sensitive_type, &row.op_type));
            prop_assert_eq!((p.metric, p.flops, p.flops_share), (row.value, row.flops, row.flops_pct));
            prop_assert_eq!(&p.table, &t.label());
            prop_assert!(last_row < Some(p.row));
            last_row = Some(p.row);
            let key = (p.name.clone(), p.sensitive_type.clone());
            prop_assert!(!seen.contains(&key), "{:?} picked twice", key);
            seen.push(key);
        }
        for row in 0..budget {
            if qualifies(&t, row, &req) {
                let key = (t.rows[row].op_name.clone(), t.rows[row].sensitive_type.clone());
                prop_assert!(seen.contains(&key), "row {} qualifies but {:?} is not picked", row, key);
            }
        }
        let by_topk = recommend::setter(&t, &request(ty, dt, None, Some(r.topk))).expect("topk");
        prop_assert_eq!(by_topk.picks, r.picks);
    }

    /// Monotone: a bigger budget never removes an op; the smaller budget's picks are a prefix of
    /// the bigger one's (ratio and topk alike).
    #[test]
    fn setter_is_monotone_in_its_budget(
        t in sens_table(), ty in sens_type(), dt in origin(),
        r1 in 1e-3f64..=1.0, r2 in 1e-3f64..=1.0, k1 in 1usize..80, k2 in 1usize..80,
    ) {
        let pick = |ratio: Option<f64>, topk: Option<usize>| {
            recommend::setter(&t, &request(ty, dt.clone(), ratio, topk)).expect("valid").picks
        };
        let (lo, hi) = (r1.min(r2), r1.max(r2));
        let (small, big) = (pick(Some(lo), None), pick(Some(hi), None));
        prop_assert!(big.starts_with(&small), "ratio {} → {} picks, {} → {}", lo, small.len(), hi, big.len());
        let (small, big) = (pick(None, Some(k1.min(k2))), pick(None, Some(k1.max(k2))));
        prop_assert!(big.starts_with(&small));
        // A topk past the table is the whole table, as ratio 1 is.
        prop_assert_eq!(pick(None, Some(t.rows.len() + k1)), pick(Some(1.0), None));
    }

    /// A tuple of setters (one per table) picks the union of each table's picks, in table order,
    /// each (name, type) once.
    #[test]
    fn recommend_is_the_union_of_each_tables_setter(
        tables in prop::collection::vec(sens_table(), 1..4), ty in sens_type(), dt in origin(), k in 1usize..40,
    ) {
        let refs: Vec<&SensitivityTable> = tables.iter().collect();
        let req = request(ty, dt, None, Some(k));
        let (results, union) = recommend::recommend(&refs, &req).expect("valid");
        prop_assert_eq!(results.len(), tables.len());
        let mut want: Vec<recommend::Pick> = Vec::new();
        for (t, r) in tables.iter().zip(&results) {
            prop_assert_eq!(r, &recommend::setter(t, &req).expect("valid"));
            for p in &r.picks {
                if !want.iter().any(|u| u.name == p.name && u.sensitive_type == p.sensitive_type) {
                    want.push(p.clone());
                }
            }
        }
        prop_assert_eq!(union, want);
    }

    /// Bad requests are refused with a sentence, never half-applied: a ratio outside (0, 1] (NaN
    /// included), topk 0, both or neither of ratio and topk, an unknown type, an empty table.
    #[test]
    fn setter_refuses_bad_requests(
        t in sens_table(), dt in origin(),
        bad in prop_oneof![Just(0.0), Just(-0.5), Just(1.0 + 1e-9), Just(f64::NAN), Just(f64::INFINITY)],
    ) {
        let refused = |req: SetterRequest, t: &SensitivityTable| recommend::setter(t, &req).is_err();
        prop_assert!(refused(request("activation", dt.clone(), Some(bad), None), &t));
        prop_assert!(refused(request("activation", dt.clone(), None, Some(0)), &t));
        prop_assert!(refused(request("activation", dt.clone(), Some(0.5), Some(3)), &t));
        prop_assert!(refused(request("activation", dt.clone(), None, None), &t));
        prop_assert!(refused(request("bias", dt.clone(), Some(0.5), None), &t));
        let mut empty = t.clone();
        empty.rows.clear();
        prop_assert!(refused(request("activation", dt, Some(0.5), None), &empty));
    }
}
