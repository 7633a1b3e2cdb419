//! What-if quantization of a dumped float tensor, on demand for the pair in view: the float side is
//! re-quantized exactly as the toolchain would (symmetric, round half to even, clamp to the grid) with
//! each observer's scale or a scale the user types, and the *predicted* error split (clipping vs own
//! rounding; nothing is inherited when only this tensor is quantized) is set beside the *measured*
//! split of the real quantized tensor. Small tensors also get the group-split and per-channel tables.

use super::metrics::{ChannelWhatIf, GroupWhatIf};
use super::quant::{self, AbsHistogram, Observer, QDType};
use super::tensor::{ByteSource, ElemReader, TensorEntry};
use serde::{Deserialize, Serialize};

/// The error of quantizing the float tensor itself with one scale on one grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predicted {
    /// Where the scale comes from: `min-max`, `MSE-optimal`, `typed`, `measured`…
    pub label: String,
    pub dtype: QDType,
    #[serde(with = "crate::engine::num")]
    pub scale: f64,
    /// Σ(q(b) − b)² over clipped elements and over the others.
    #[serde(with = "crate::engine::num")]
    pub clip: f64,
    #[serde(with = "crate::engine::num")]
    pub round: f64,
    #[serde(with = "crate::engine::num")]
    pub clipped_fraction: f64,
    #[serde(with = "crate::engine::num")]
    pub mse: f64,
    /// 10·log10(Σb² / Σ(q(b) − b)²): ∞ when the grid holds every value exactly.
    #[serde(with = "crate::engine::num")]
    pub sqnr_db: f64,
    #[serde(with = "crate::engine::num")]
    pub max_abs: f64,
}

/// Everything the detail of a pair offers beyond the measured metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairWhatIf {
    /// Each observer's scale at int8 and int16, with its predicted error.
    pub observers: Vec<Predicted>,
    /// Extra scales asked for (typed in the detail), with their predicted error.
    pub typed: Vec<Predicted>,
    pub groups: Vec<GroupWhatIf>,
    pub channels: Vec<ChannelWhatIf>,
    /// Why a table is missing (tensor too large, Fortran order, one element…), in plain words.
    pub notes: Vec<String>,
}

/// The label of the amax / qmax scale (ONNX Runtime's symmetric calibration).
pub const MAX_OVER_QMAX: &str = "amax/qmax (ONNX Runtime)";

/// Elements per slice while streaming the float tensor.
const CHUNK: usize = 1 << 18;

/// Group-split and per-channel tables are computed up to this many elements (the group split costs
/// about 700 element operations per element).
pub const TABLES_MAX_ELEMS: u64 = 1 << 16;

fn stream(
    src: &mut (impl ByteSource + ?Sized),
    e: &TensorEntry,
    f: &mut dyn FnMut(&[f32]),
) -> Result<(), String> {
    let mut r = ElemReader::new(src, e);
    let mut buf = Vec::new();
    while r.next_chunk(&mut buf, CHUNK).map_err(|e| e.to_string())? > 0 {
        f(&buf);
    }
    Ok(())
}

/// Predicted errors of several (label, dtype, scale) quantizers of the float tensor, in one pass.
pub fn predict(
    src: &mut (impl ByteSource + ?Sized),
    e: &TensorEntry,
    quantizers: &[(String, QDType, f64)],
) -> Result<Vec<Predicted>, String> {
    for (_, _, s) in quantizers {
        quant::check_scale(*s)?;
    }
    let k = quantizers.len();
    let (mut clip, mut round, mut nclip, mut maxa) =
        (vec![0f64; k], vec![0f64; k], vec![0u64; k], vec![0f64; k]);
    let (mut ss, mut n) = (0f64, 0u64);
    stream(src, e, &mut |x| {
        for (j, (_, dt, s)) in quantizers.iter().enumerate() {
            let (qmin, qmax) = dt.range();
            let s32 = *s as f32;
            let inv = 1.0f32 / s32;
            let (mut c, mut r, mut nc, mut m) = (0f64, 0f64, 0u64, maxa[j]);
            for &v in x {
                if !v.is_finite() {
                    continue;
                }
                let t = (v * inv).round_ties_even();
                let q = t.clamp(qmin as f32, qmax as f32);
                let err = (q * s32 - v) as f64;
                if q != t {
                    c += err * err;
                    nc += 1;
                } else {
                    r += err * err;
                }
                m = m.max(err.abs());
            }
            clip[j] += c;
            round[j] += r;
            nclip[j] += nc;
            maxa[j] = m;
        }
        for &v in x {
            if v.is_finite() {
                ss += (v as f64) * (v as f64);
                n += 1;
            }
        }
    })?;
    Ok(quantizers
        .iter()
        .enumerate()
        .map(|(j, (label, dt, s))| {
            let se = clip[j] + round[j];
            Predicted {
                label: label.clone(),
                dtype: *dt,
                scale: *s,
                clip: clip[j],
                round: round[j],
                clipped_fraction: if n > 0 {
                    nclip[j] as f64 / n as f64
                } else {
                    0.0
                },
                mse: if n > 0 { se / n as f64 } else { f64::NAN },
                sqnr_db: super::math::sqnr_db(ss, se),
                max_abs: maxa[j],
            }
        })
        .collect())
}

/// The |x| histogram of the float tensor (two streaming passes: max, then bins).
pub fn abs_histogram(
    src: &mut (impl ByteSource + ?Sized),
    e: &TensorEntry,
) -> Result<AbsHistogram, String> {
    let mut amax = 0f32;
    stream(src, e, &mut |x| amax = amax.max(quant::abs_max(x)))?;
    let mut h = AbsHistogram::new(amax as f64, 2048);
    stream(src, e, &mut |x| h.update(x))?;
    Ok(h)
}

/// The observers whose scales the detail offers.
pub fn observers() -> [Observer; 4] {
    [
        Observer::MinMax,
        Observer::Percentile { p: 0.9999 },
        Observer::Mse,
        Observer::Kl,
    ]
}

/// The what-if of a pair's float tensor: every observer's scale at int8 and int16 with its
/// predicted error, the `typed` extra scales, and (small tensors) group splits and per-channel scales.
pub fn pair_whatif(
    src: &mut (impl ByteSource + ?Sized),
    e: &TensorEntry,
    typed: &[(QDType, f64)],
) -> Result<PairWhatIf, String> {
    let mut out = PairWhatIf::default();
    let h = abs_histogram(src, e)?;
    if h.count == 0 {
        out.notes
            .push("The float tensor has no finite value: nothing to quantize.".into());
        return Ok(out);
    }
    if h.amax <= f64::MIN_POSITIVE {
        // No |x| above 0: every scale quantizes it exactly (and an observer's scale would be a
        // meaningless 1e-310).
        out.notes.push(
            "The float tensor is all zero: any scale quantizes it exactly, so there is no error to predict."
                .into(),
        );
        return Ok(out);
    }
    let mut qs = Vec::new();
    for dt in [QDType::Int8, QDType::Int16] {
        for o in observers() {
            if let Ok(s) = o.scale(&h, dt) {
                // Torch's min-max divides by (qmax − qmin) / 2: say so beside ONNX Runtime's.
                let label = if o == Observer::MinMax {
                    let (qmin, qmax) = dt.range();
                    let half = (qmax as f64 - qmin as f64) / 2.0;
                    format!("min-max (torch, amax/{half})")
                } else {
                    o.label()
                };
                qs.push((label, dt, s));
            }
        }
        // ONNX Runtime's (and TensorRT's) symmetric max: amax / qmax, so the largest value lands
        // exactly on qmax. Torch's min-max divides by (qmax − qmin) / 2 = 127.5 instead.
        let s = h.amax / dt.range().1 as f64;
        if quant::check_scale(s).is_ok() {
            qs.push((MAX_OVER_QMAX.to_string(), dt, s));
        }
    }
    let n_obs = qs.len();
    for (dt, s) in typed {
        qs.push(("typed".to_string(), *dt, *s));
    }
    let mut all = predict(src, e, &qs)?;
    out.typed = all.split_off(n_obs);
    out.observers = all;
    let n = e.numel();
    if n > TABLES_MAX_ELEMS {
        out.notes.push(format!(
            "Group-split and per-channel tables are computed for float tensors up to {} elements; this one has {n} (use `quantlens whatif` on the file).",
            TABLES_MAX_ELEMS
        ));
        return Ok(out);
    }
    if n < 2 {
        out.notes
            .push("One element: there is nothing to split into groups or channels.".into());
        return Ok(out);
    }
    let mut x = Vec::with_capacity(n as usize);
    stream(src, e, &mut |c| x.extend_from_slice(c))?;
    let shape: Vec<usize> = e.shape.iter().map(|&d| d as usize).collect();
    for dt in [QDType::Int8, QDType::Int16] {
        {
            // Channels along axis 0 and 1 of the logical shape, whatever the storage order.
            for axis in (0..shape.len().min(2)).filter(|&a| shape[a] > 1) {
                if let Ok((mse, sqnr_db)) =
                    quant::per_channel_minmax_error_in(&x, &shape, e.fortran, axis, dt)
                {
                    let amax = quant::abs_max(&x);
                    let t = quant::quant_error(&x, quant::symmetric_scale(amax as f64, dt), dt);
                    out.channels.push(ChannelWhatIf {
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
        for (k, split) in SWEEP_GROUPS
            .into_iter()
            .zip(quant::best_splits(&x, &SWEEP_GROUPS, dt))
        {
            out.groups.push(GroupWhatIf {
                dtype: dt.name().to_string(),
                k,
                split,
            });
        }
    }
    Ok(out)
}

/// Elements a [`sweep`] should be given at most: every configuration runs over the whole tensor,
/// held in memory.
pub const SWEEP_MAX_ELEMS: u64 = 32 << 20;

/// The group counts a [`sweep`] splits each dtype into.
pub const SWEEP_GROUPS: [usize; 3] = [1, 2, 4];

/// One (dtype, observer) cell of a [`sweep`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObserverResult {
    pub dtype: QDType,
    pub observer: Observer,
    /// The error of quantizing the tensor with the observer's scale (`scale` holds the scale), or
    /// why the observer gives no scale.
    pub result: Result<quant::QuantError, String>,
}

/// The what-if of a whole float tensor: every dtype with every observer, and the best split of each
/// dtype into 1, 2 and 4 groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorWhatIf {
    /// The largest finite |x| (the range of the observers' histogram).
    #[serde(with = "crate::engine::num")]
    pub amax: f64,
    /// Dtype by dtype, the observers in the order given.
    pub results: Vec<ObserverResult>,
    /// Dtype by dtype, [`SWEEP_GROUPS`] groups each with its own min-max scale.
    pub splits: Vec<GroupWhatIf>,
}

/// Sweep a float tensor (flattened) through `dtypes` × `observers` (scales from one 2048-bin |x|
/// histogram, errors by [`quant::quant_error`]) and [`quant::best_splits`] into 1, 2 and 4 groups
/// per dtype. Pure; the CLI's `whatif`.
pub fn sweep(x: &[f32], dtypes: &[QDType], observers: &[Observer]) -> TensorWhatIf {
    let amax = quant::abs_max(x) as f64;
    let mut h = AbsHistogram::new(amax, 2048);
    h.update(x);
    let results = dtypes
        .iter()
        .flat_map(|&dtype| observers.iter().map(move |&observer| (dtype, observer)))
        .map(|(dtype, observer)| ObserverResult {
            dtype,
            observer,
            result: observer
                .scale(&h, dtype)
                .map(|s| quant::quant_error(x, s, dtype)),
        })
        .collect();
    let splits = dtypes
        .iter()
        .flat_map(|&dt| {
            SWEEP_GROUPS
                .into_iter()
                .zip(quant::best_splits(x, &SWEEP_GROUPS, dt))
                .map(move |(k, split)| GroupWhatIf {
                    dtype: dt.name().to_string(),
                    k,
                    split,
                })
        })
        .collect();
    TensorWhatIf {
        amax,
        results,
        splits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tensor::DataRef;

    fn entry(n: usize) -> TensorEntry {
        TensorEntry {
            name: "x".into(),
            elem: crate::engine::tensor::ElemType::F32,
            shape: vec![n as u64],
            big_endian: false,
            fortran: false,
            data: DataRef::Raw {
                offset: 0,
                len: 4 * n as u64,
            },
            scale: None,
            quant: None,
        }
    }

    #[test]
    fn the_onnx_runtime_max_scale_puts_the_largest_value_on_qmax() {
        // A Clip(0, 6) output: amax / 127 = 6/127 holds 6 exactly; torch's min-max (÷127.5) does not.
        let x: Vec<f32> = (0..600).map(|i| i as f32 * 0.01).collect();
        let mut bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let w = pair_whatif(&mut bytes, &entry(600), &[]).expect("what-if");
        let ort = w
            .observers
            .iter()
            .find(|p| p.label == MAX_OVER_QMAX && p.dtype == QDType::Int8)
            .expect("amax/qmax");
        assert!((ort.scale - 5.99 / 127.0).abs() < 1e-7, "{}", ort.scale);
        assert_eq!(ort.clip, 0.0);
        let torch = w
            .observers
            .iter()
            .find(|p| p.label.starts_with("min-max") && p.dtype == QDType::Int8)
            .expect("min-max");
        assert!(
            torch.clipped_fraction > 0.0,
            "÷127.5 cuts the top half step"
        );
    }

    #[test]
    fn an_all_zero_tensor_gets_a_sentence_not_denormal_scales() {
        let mut bytes = vec![0u8; 4 * 8];
        let w = pair_whatif(&mut bytes, &entry(8), &[]).expect("what-if");
        assert!(w.observers.is_empty(), "{:?}", w.observers);
        assert_eq!(w.notes.len(), 1);
        assert!(w.notes[0].contains("all zero"), "{:?}", w.notes);
    }

    #[test]
    fn a_scale_that_clips_is_predicted_as_clipping_not_inherited() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.02).collect();
        let mut bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        // Scale 0.05 at int8 covers ±6.35: values beyond are clipped.
        let p = predict(
            &mut bytes,
            &entry(1000),
            &[
                ("t".into(), QDType::Int8, 0.05),
                ("u".into(), QDType::Int16, 0.05),
            ],
        )
        .expect("predict");
        assert!(p[0].clip > 10.0 * p[0].round, "{:?}", p[0]);
        assert!((p[0].clipped_fraction - 0.364).abs() < 0.01, "{:?}", p[0]);
        assert_eq!(p[1].clip, 0.0, "int16 covers the range");
        // Against a direct computation with the same rounding.
        let direct: f64 = x
            .iter()
            .map(|&v| {
                let q = (v * (1.0 / 0.05f32)).round_ties_even().clamp(-128.0, 127.0) * 0.05;
                ((q - v) as f64).powi(2)
            })
            .sum();
        assert!((p[0].clip + p[0].round - direct).abs() <= 1e-9 * direct);
    }
}
