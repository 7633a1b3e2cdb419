//! Big pairs compared in parts (the browser spreads them over several workers): the session lists
//! them, takes the merged results as its own, and gives what comparing them whole gives.

use quantlens::engine::metrics::AccPart;
use quantlens::engine::pairs::{compare_part, merge_parts, part_setup, plan_parts_with};
use quantlens::engine::session::Session;

mod common;
use common::npy_f32 as npy;

/// [4, 16, 40, 40] float and its int8 fake quant at 0.02, plus a small pair beside it.
fn files() -> Vec<(String, Vec<u8>)> {
    let shape = [4usize, 16, 40, 40];
    let n: usize = shape.iter().product();
    let b: Vec<f32> = (0..n)
        .map(|i| ((i % 7919) as f32 * 0.003).sin() * 2.5 + ((i / 1600) % 3) as f32 * 0.2)
        .collect();
    let q: Vec<f32> = b
        .iter()
        .map(|x| (x / 0.02).round_ties_even().clamp(-128.0, 127.0) * 0.02)
        .collect();
    vec![
        ("float/act.npy".into(), npy(&shape, &b)),
        ("quant/act.npy".into(), npy(&shape, &q)),
        ("float/small.npy".into(), npy(&[3, 5], &b[..15])),
        ("quant/small.npy".into(), npy(&[3, 5], &q[..15])),
    ]
}

fn session(files: &[(String, Vec<u8>)]) -> Session {
    let mut s = Session::new();
    for (name, bytes) in files {
        s.open(name, Box::new(bytes.clone()));
    }
    s
}

#[test]
fn deferred_pairs_merged_in_parts_are_what_a_whole_comparison_gets() {
    let files = files();
    let mut whole = session(&files);
    whole.update(&mut |_, _, _| {});

    let mut s = session(&files);
    // Only the big pair (102,400 bytes a side and more) is left for parts; nothing is compared.
    let deferred = s.deferred_pairs(100_000);
    assert_eq!(deferred.len(), 1, "{deferred:?}");
    let d = &deferred[0];
    assert_eq!(
        (
            s.analysis.files[d.float_file].name.as_str(),
            s.analysis.files[d.quant_file].name.as_str()
        ),
        ("float/act.npy", "quant/act.npy")
    );
    assert!(
        s.analysis.tensors.pairs.is_empty(),
        "planning compares nothing"
    );
    let (spec, deq) = part_setup(
        &d.float,
        &d.quant,
        d.scale,
        d.dtype.as_deref(),
        d.zero_point,
    )
    .unwrap()
    .unwrap();
    let (fb, qb) = (&files[0].1, &files[1].1);
    let parts = plan_parts_with(&d.float.shape, d.float.fortran, 3, 0);
    assert_eq!(parts.len(), 3);
    let sums: Vec<AccPart> = parts
        .iter()
        .map(|&p| {
            compare_part(
                &mut fb.as_slice(),
                &d.float,
                &mut qb.as_slice(),
                &d.quant,
                spec,
                deq,
                p,
                &mut |_| {},
            )
            .unwrap()
        })
        .collect();
    s.insert_compared(d.key.clone(), Ok(merge_parts(&sums, spec, &[])));
    s.update(&mut |_, _, _| {});
    assert!(s.deferred_pairs(0).is_empty(), "everything is cached now");

    let find = |s: &Session, name: &str| {
        s.analysis
            .tensors
            .pairs
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.metrics.clone())
            .unwrap()
    };
    let (a, b) = (find(&s, "act"), find(&whole, "act"));
    assert_eq!(a.numel, b.numel);
    for (x, y, what) in [
        (a.cosine, b.cosine, "cosine"),
        (a.mse, b.mse, "mse"),
        (a.sqnr_db, b.sqnr_db, "sqnr"),
        (a.kl, b.kl, "kl"),
        (a.base_var, b.base_var, "var"),
    ] {
        assert!(
            (x - y).abs() <= 2e-6 * x.abs().max(y.abs()),
            "{what}: {x} vs {y}"
        );
    }
    assert_eq!((a.atol, a.base_max), (b.atol, b.base_max));
    // The small pair was compared here, as always.
    assert_eq!(find(&s, "small"), find(&whole, "small"));
    // The findings are those of the whole comparison.
    assert_eq!(
        s.analysis.findings.len(),
        whole.analysis.findings.len(),
        "same findings"
    );
}

#[test]
fn a_pair_whose_split_dtype_comes_from_its_range_goes_in_parts_and_gets_its_split_after() {
    let files = files();
    // A typed scale without a dtype: the dtype is inferred from the quantized side's range, which
    // only a pass finds. The pair is listed without its scale (the parts need no quantizer)...
    let typed = |s: &mut Session| {
        s.settings.scales.insert("act".into(), (0.02, None));
    };
    let mut whole = session(&files);
    typed(&mut whole);
    whole.update(&mut |_, _, _| {});
    let mut s = session(&files);
    typed(&mut s);
    let d = s.deferred_pairs(100_000);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].scale, d[0].dtype.as_deref()), (None, None));
    let (spec, deq) = part_setup(&d[0].float, &d[0].quant, d[0].scale, None, 0)
        .unwrap()
        .unwrap();
    assert_eq!((spec, deq), (None, None));
    let (fb, qb) = (&files[0].1, &files[1].1);
    let parts: Vec<AccPart> = plan_parts_with(&d[0].float.shape, d[0].float.fortran, 2, 0)
        .iter()
        .map(|&p| {
            compare_part(
                &mut fb.as_slice(),
                &d[0].float,
                &mut qb.as_slice(),
                &d[0].quant,
                None,
                None,
                p,
                &mut |_| {},
            )
            .unwrap()
        })
        .collect();
    s.insert_compared(d[0].key.clone(), Ok(merge_parts(&parts, None, &[])));
    // ...and the session's pass adds the split from the float side alone: int8 from the range, the
    // split the whole comparison finds.
    s.update(&mut |_, _, _| {});
    assert!(s.deferred_pairs(0).is_empty(), "nothing left to compare");
    let find = |s: &Session| {
        s.analysis
            .tensors
            .pairs
            .iter()
            .find(|p| p.name == "act")
            .and_then(|p| p.metrics.clone())
            .unwrap()
    };
    let (a, b) = (find(&s), find(&whole));
    assert_eq!(a.quant, b.quant, "the same quantizer (int8 at 0.02)");
    assert_eq!(a.quant.map(|q| q.qmax), Some(127));
    let (sa, sb) = (a.error_split.unwrap(), b.error_split.unwrap());
    assert_eq!(
        (sa.clip, sa.round, sa.clipped_fraction),
        (sb.clip, sb.round, sb.clipped_fraction)
    );
    assert!(
        (sa.inherited - sb.inherited).abs() <= 1e-6 * (sb.clip + sb.round + sb.inherited),
        "{sa:?} vs {sb:?}"
    );
    assert_eq!(a.max_qscale_diff, b.max_qscale_diff);
    // With its dtype, it goes in parts with its scale.
    s.settings.scales.insert(
        "act".into(),
        (0.02, Some(quantlens::engine::quant::QDType::Int16)),
    );
    let d = s.deferred_pairs(100_000);
    assert_eq!(
        d.len(),
        0,
        "a scale change rescales the compared pair: {d:?}"
    );
    // A fresh session with the dtype typed lists the pair with its scale and dtype.
    let mut fresh = session(&files);
    fresh.settings.scales.insert(
        "act".into(),
        (0.02, Some(quantlens::engine::quant::QDType::Int8)),
    );
    let d = fresh.deferred_pairs(100_000);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].scale, d[0].dtype.as_deref()),
        (Some(0.02), Some("int8"))
    );
}

#[test]
fn non_finite_values_are_located_the_same_in_parts_of_slabs_and_of_groups() {
    // [4, 16, 40, 40]: 3 parts cut the batch (contiguous slabs), 5 parts cut the softmax groups
    // (each part reads a run of every channel: not contiguous). NaN on the quantized side at flat
    // 30,001 and 70,000; +∞ on the float side at 95,000.
    let mut files = files();
    let shape = [4usize, 16, 40, 40];
    let mut b: Vec<f32> = files[0].1[128..]
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut q: Vec<f32> = files[1].1[128..]
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    q[30_001] = f32::NAN;
    q[70_000] = f32::NAN;
    b[95_000] = f32::INFINITY;
    files[0].1 = npy(&shape, &b);
    files[1].1 = npy(&shape, &q);
    let mut whole = session(&files);
    whole.update(&mut |_, _, _| {});
    let want = whole
        .analysis
        .tensors
        .pairs
        .iter()
        .find(|p| p.name == "act")
        .and_then(|p| p.metrics.clone())
        .unwrap();
    assert_eq!(
        (want.first_nonfinite_analy, want.first_nonfinite_base),
        (Some(30_001), Some(95_000))
    );
    let s = session(&files);
    let mut s = s;
    let d = s.deferred_pairs(100_000);
    let (spec, deq) = part_setup(&d[0].float, &d[0].quant, d[0].scale, None, 0)
        .unwrap()
        .unwrap();
    for k in [3, 5] {
        let plan = plan_parts_with(&d[0].float.shape, d[0].float.fortran, k, 0);
        assert_eq!(plan.len(), k);
        let parts: Vec<AccPart> = plan
            .iter()
            .map(|&p| {
                compare_part(
                    &mut files[0].1.as_slice(),
                    &d[0].float,
                    &mut files[1].1.as_slice(),
                    &d[0].quant,
                    spec,
                    deq,
                    p,
                    &mut |_| {},
                )
                .unwrap()
            })
            .collect();
        let m = merge_parts(&parts, spec, &[]);
        assert_eq!(
            (
                m.nonfinite_analy,
                m.nan_analy,
                m.first_nonfinite_analy,
                m.nonfinite_base,
                m.first_nonfinite_base
            ),
            (2, 2, Some(30_001), 1, Some(95_000)),
            "{k} parts"
        );
    }
}

/// Compressed `.npz` members (the real ONNX Runtime int16 run of PP-OCRv4's recognizer: 384
/// deflated members a side) are listed for the workers too, each pair whole (a part could only
/// start by inflating all before it), read in order through the inflater: every pair gets what
/// the session's own comparison gives.
#[test]
fn compressed_pairs_go_whole_to_the_workers_and_get_what_the_session_gets() {
    use quantlens::engine::pairs::{is_compressed, plan_pair_parts};
    let dir = "tests/fixtures/real/ort_int16";
    let files: Vec<(String, Vec<u8>)> = ["float.npz", "quant.npz", "scales.json"]
        .iter()
        .map(|f| (format!("run/{f}"), common::bytes(&format!("{dir}/{f}"))))
        .collect();
    let mut whole = session(&files);
    whole.update(&mut |_, _, _| {});
    let mut s = session(&files);
    // All of them: the compressed pairs' threshold (1 MiB) is under the one asked for here.
    let deferred = s.deferred_pairs(u64::MAX);
    assert!(deferred.is_empty(), "none at or over u64::MAX bytes");
    let deferred = s.deferred_pairs(0);
    assert!(deferred.len() >= 300, "{} deferred", deferred.len());
    let fb = &files[0].1;
    let qb = &files[1].1;
    for d in &deferred {
        assert!(is_compressed(&d.float) && is_compressed(&d.quant));
        let parts = plan_pair_parts(&d.float, &d.quant, 4);
        assert_eq!(parts.len(), 1, "a compressed pair goes whole");
        let (spec, deq) = part_setup(
            &d.float,
            &d.quant,
            d.scale,
            d.dtype.as_deref(),
            d.zero_point,
        )
        .unwrap()
        .unwrap();
        // Both passes on one worker, the histograms from the values the first one kept; and the
        // same from two passes that each read (and inflate) both members.
        let (fe, qe) = (&d.float, &d.quant);
        let one = one_read(fb, fe, qb, qe, spec, deq, parts[0]);
        assert_eq!(
            format!("{:?}", two_reads(fb, fe, qb, qe, spec, deq, parts[0])),
            format!("{one:?}"),
            "{}: one read or two",
            d.key
        );
        s.insert_compared(d.key.clone(), Ok(one));
    }
    s.update(&mut |_, _, _| {});
    assert!(s.deferred_pairs(0).is_empty(), "everything is cached now");
    let (got, want) = (&s.analysis.tensors.pairs, &whole.analysis.tensors.pairs);
    assert_eq!(got.len(), want.len());
    let mut compared = 0;
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.name, w.name);
        let (Some(a), Some(b)) = (&g.metrics, &w.metrics) else {
            assert_eq!(g.metrics.is_some(), w.metrics.is_some(), "{}", g.name);
            continue;
        };
        compared += 1;
        assert_eq!(a.numel, b.numel);
        for (x, y, what) in [
            (a.cosine, b.cosine, "cosine"),
            (a.mse, b.mse, "mse"),
            (a.sqnr_db, b.sqnr_db, "sqnr"),
            (a.kl, b.kl, "kl"),
            (a.base_var, b.base_var, "var"),
        ] {
            assert!(
                x == y
                    || (x.is_nan() && y.is_nan())
                    || (x - y).abs() <= 2e-6 * x.abs().max(y.abs()) + 1e-12,
                "{}: {what}: {x} vs {y}",
                g.name
            );
        }
        assert_eq!((a.atol, a.base_max), (b.atol, b.base_max), "{}", g.name);
        assert_eq!(a.quant, b.quant, "{}", g.name);
        assert_eq!(
            a.hist.as_ref().map(|h| format!("{h:?}")),
            b.hist.as_ref().map(|h| format!("{h:?}")),
            "{}: histograms",
            g.name
        );
    }
    assert!(compared >= 300, "{compared} pairs compared");
    assert_eq!(
        s.analysis.findings.len(),
        whole.analysis.findings.len(),
        "same findings"
    );
}

/// A compressed pair whose quantized side holds raw int8 values (dequantized with its scale as it
/// is read): both passes on one worker, the histograms from the kept (dequantized) values, give
/// what two passes that each inflate both members give, and what the session's own comparison
/// gives.
#[test]
fn a_compressed_raw_int8_pair_compared_whole_is_dequantized_once() {
    use quantlens::engine::encode::npy as npy_bytes;
    use quantlens::engine::pairs::compare_pair;
    use quantlens::engine::tensor::{list_tensors, DataRef};
    let shape = [2usize, 8, 30, 30];
    let n: usize = shape.iter().product();
    let b: Vec<f32> = (0..n)
        .map(|i| ((i % 613) as f32 * 0.01).sin() * 2.6)
        .collect();
    let q: Vec<u8> = b
        .iter()
        .map(|x| ((x / 0.02).round_ties_even().clamp(-128.0, 127.0) as i8) as u8)
        .collect();
    let f_bytes: Vec<u8> = b.iter().flat_map(|v| v.to_le_bytes()).collect();
    // Each side a raw deflate stream of a whole .npy, its elements after the header.
    let side = |descr: &str, data: &[u8]| {
        let file = npy_bytes(descr, false, &shape, data);
        let mut entry = list_tensors("t.npy", &mut file.as_slice())
            .unwrap()
            .remove(0);
        let DataRef::Raw { offset, .. } = entry.data else {
            panic!("a .npy is raw")
        };
        let packed = miniz_oxide::deflate::compress_to_vec(&file, 6);
        entry.data = DataRef::Deflate {
            offset: 0,
            len: packed.len() as u64,
            skip: offset,
        };
        (entry, packed)
    };
    let (fe, fz) = side("<f4", &f_bytes);
    let (qe, qz) = side("|i1", &q);
    let (spec, deq) = part_setup(&fe, &qe, Some(0.02), Some("int8"), 0)
        .unwrap()
        .unwrap();
    assert_eq!(deq, Some(quantlens::engine::pairs::Deq::new(0.02, 0)));
    let part = plan_parts_with(&fe.shape, fe.fortran, 1, 0)[0];
    let one = one_read(&fz, &fe, &qz, &qe, spec, deq, part);
    let two = two_reads(&fz, &fe, &qz, &qe, spec, deq, part);
    assert!(two.hist.is_some(), "the pair has histograms");
    assert_eq!(format!("{one:?}"), format!("{two:?}"));
    // The session's comparison of the same pair (one pass, then the histograms from kept values).
    let whole = compare_pair(
        &mut fz.as_slice(),
        &fe,
        &mut qz.as_slice(),
        &qe,
        Some(0.02),
        Some("int8"),
        0,
        &mut |_| {},
    )
    .unwrap();
    assert!(
        (one.sqnr_db - whole.sqnr_db).abs() < 1e-9,
        "{} vs {}",
        one.sqnr_db,
        whole.sqnr_db
    );
    assert_eq!(one.atol, whole.atol);
    assert_eq!(format!("{:?}", one.hist), format!("{:?}", whole.hist));
    // Dequantized once: the quantized side's max is 127 · 0.02, not 127 · 0.02².
    assert!((one.analy_max - 2.54).abs() < 1e-5, "{}", one.analy_max);
}

/// A pair compared whole on one worker: both passes from one read (`run_whole_part`), merged.
fn one_read(
    fb: &[u8],
    fe: &quantlens::engine::tensor::TensorEntry,
    qb: &[u8],
    qe: &quantlens::engine::tensor::TensorEntry,
    spec: Option<quantlens::engine::metrics::QuantSpec>,
    deq: Option<quantlens::engine::pairs::Deq>,
    part: quantlens::engine::pairs::PairPart,
) -> quantlens::engine::metrics::PairMetrics {
    use quantlens::engine::pairs::{run_whole_part, PartOutput};
    let out = run_whole_part(
        &mut { fb },
        fe,
        &mut { qb },
        qe,
        spec,
        deq,
        part,
        &mut |_| {},
    );
    let Ok(PartOutput::Whole(sum, hist)) = out else {
        panic!("not both passes: {out:?}");
    };
    merge_parts(&[sum], spec, &hist.into_iter().collect::<Vec<_>>())
}

/// The same from two passes that each read (and inflate) both tensors, as parts do.
fn two_reads(
    fb: &[u8],
    fe: &quantlens::engine::tensor::TensorEntry,
    qb: &[u8],
    qe: &quantlens::engine::tensor::TensorEntry,
    spec: Option<quantlens::engine::metrics::QuantSpec>,
    deq: Option<quantlens::engine::pairs::Deq>,
    part: quantlens::engine::pairs::PairPart,
) -> quantlens::engine::metrics::PairMetrics {
    use quantlens::engine::pairs::hist_part;
    let sums = compare_part(
        &mut { fb },
        fe,
        &mut { qb },
        qe,
        spec,
        deq,
        part,
        &mut |_| {},
    );
    let Ok(sums) = sums else {
        panic!("the metrics pass: {sums:?}");
    };
    let merged = merge_parts(std::slice::from_ref(&sums), spec, &[]);
    let hist = hist_part(
        &mut { fb },
        fe,
        &mut { qb },
        qe,
        deq,
        part,
        &merged,
        &mut |_| {},
    );
    let Ok(hist) = hist else {
        panic!("the histogram pass: {hist:?}");
    };
    merge_parts(&[sums], spec, &hist.into_iter().collect::<Vec<_>>())
}
