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
    let (spec, deq) = part_setup(&d.float, &d.quant, d.scale, d.dtype.as_deref())
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
    let (spec, deq) = part_setup(&d[0].float, &d[0].quant, d[0].scale, None)
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
    let (spec, deq) = part_setup(&d[0].float, &d[0].quant, d[0].scale, None)
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
