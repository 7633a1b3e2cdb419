//! Asymmetric quantization (a zero point: ONNX Runtime's default uint8 activations): the error
//! split, the clipped share and the representable range against an f64 reference, with the scale
//! and zero point from a `scales.json` as a user drops it, compared whole and in parts, and a raw
//! uint8 dump dequantized as `(q − z)·s`. Ignoring
//! the zero point clipped every value below 0 (found on a real PP-OCR det run: 157 false
//! truncation errors).

use quantlens::engine::metrics::{AccPart, PairMetrics};
use quantlens::engine::pairs::{compare_part, merge_parts, part_setup, plan_parts_with};
use quantlens::engine::session::Session;

mod common;
use common::npy_f32 as npy;

const SCALE: f64 = 0.02;
const ZERO_POINT: i64 = 75;
const SHAPE: [usize; 4] = [2, 8, 32, 32];

/// Float values mostly in [−1.2, 3.4], a few beyond uint8's range at this scale and zero point
/// ([−1.5, 3.6]) on both sides; the quantized side is their fake quant (so nothing is inherited).
fn data() -> (Vec<f32>, Vec<f32>) {
    let n: usize = SHAPE.iter().product();
    let b: Vec<f32> = (0..n)
        .map(|i| match i {
            i if i % 97 == 0 => 5.25,
            i if i % 89 == 0 => -2.5,
            i => ((i % 1013) as f32 * 0.0137).sin() * 2.3 + 1.1,
        })
        .collect();
    let a = b.iter().map(|&x| fake_quant_f64(x).0 as f32).collect();
    (b, a)
}

/// `(clamp(round(x/s) + z, 0, 255) − z)·s` in f64 (round half to even), and whether it clipped.
fn fake_quant_f64(x: f32) -> (f64, bool) {
    let q = (x as f64 / SCALE).round_ties_even() + ZERO_POINT as f64;
    let c = q.clamp(0.0, 255.0);
    ((c - ZERO_POINT as f64) * SCALE, c != q)
}

fn files() -> Vec<(String, Vec<u8>)> {
    let (b, a) = data();
    vec![
        ("float/act.npy".into(), npy(&SHAPE, &b)),
        ("quant/act.npy".into(), npy(&SHAPE, &a)),
        (
            "quant/scales.json".into(),
            format!(
                r#"{{"act": {{"scale": {SCALE}, "zero_point": {ZERO_POINT}, "dtype": "uint8"}}}}"#
            )
            .into_bytes(),
        ),
    ]
}

fn session() -> Session {
    let mut s = Session::new();
    for (name, bytes) in files() {
        s.open(&name, Box::new(bytes));
    }
    s
}

fn act(s: &Session) -> PairMetrics {
    let p = &s.analysis.tensors.pairs;
    assert_eq!(p.len(), 1, "one pair");
    p[0].metrics.clone().expect("compared")
}

/// The reference split: Σ clipped error², Σ rounding error², the clipped share.
fn reference() -> (f64, f64, f64) {
    let (b, _) = data();
    let (mut clip, mut round, mut n) = (0f64, 0f64, 0usize);
    for &x in &b {
        let (q, clipped) = fake_quant_f64(x);
        let e2 = (q - x as f64).powi(2);
        if clipped {
            clip += e2;
            n += 1;
        } else {
            round += e2;
        }
    }
    (clip, round, n as f64 / b.len() as f64)
}

fn check(m: &PairMetrics, how: &str) {
    let (clip, round, share) = reference();
    let q = m.quant.expect("a quantizer");
    assert_eq!((q.qmin, q.qmax, q.zero_point), (-75, 180, 75), "{how}");
    assert_eq!(q.dtype_name(), "uint8", "{how}");
    let sp = m.error_split.expect("a split");
    // About 2% clipped (the planted values), not the ~30% below 0 that a symmetric range clips.
    assert!(share > 0.01 && share < 0.03, "reference share {share}");
    assert_eq!(sp.clipped_fraction, share, "{how}: clipped share");
    assert!(
        (sp.clip - clip).abs() <= 1e-5 * clip,
        "{how}: clip {} vs {clip}",
        sp.clip
    );
    assert!(
        (sp.round - round).abs() <= 1e-4 * round,
        "{how}: round {} vs {round}",
        sp.round
    );
    assert!(
        sp.inherited <= 1e-4 * round,
        "{how}: inherited {}",
        sp.inherited
    );
}

#[test]
fn a_zero_point_moves_the_representable_range() {
    let mut s = session();
    s.update(&mut |_, _, _| {});
    let m = act(&s);
    check(&m, "whole");
    // The user sees uint8's range moved by the zero point (the representable bar, as the pair's
    // detail draws it), and its truncation finding.
    let q = m.quant.expect("a quantizer");
    let rep = (q.qmin as f64 * q.scale, q.qmax as f64 * q.scale);
    assert!(
        (rep.0 + 1.5).abs() < 1e-12 && (rep.1 - 3.6).abs() < 1e-12,
        "{rep:?}"
    );
    let rp = quantlens::engine::views::pair_range_picture(&m, Some(rep)).expect("a picture");
    let bar = rp
        .bars
        .iter()
        .find(|b| b.label.starts_with("representable"));
    let bar = bar.unwrap_or_else(|| panic!("{rp:?}"));
    assert_eq!(
        (
            bar.label.as_str(),
            bar.lo_label.as_str(),
            bar.hi_label.as_str()
        ),
        ("representable (quint8 × qscale)", "-1.5", "3.6")
    );
    // The planted values do clip: the finding says so with the asymmetric range and the scale
    // that would cover [−2.5, 5.25] on 255 steps.
    let f = s
        .analysis
        .findings
        .iter()
        .find(|f| f.finding.kind == "truncation");
    let f = f.unwrap_or_else(|| panic!("{:#?}", s.analysis.findings));
    assert!(
        f.finding.message.contains("2.148% of the elements clipped"),
        "{}",
        f.finding.message
    );
    assert!(
        f.finding.fix.contains("[-1.5000, 3.6000]") && f.finding.fix.contains("= 0.0304"),
        "{}",
        f.finding.fix
    );
}

#[test]
fn a_zero_point_reaches_the_parts() {
    let files = files();
    let mut s = session();
    let d = s.deferred_pairs(0);
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!((d.scale, d.zero_point), (Some(SCALE), ZERO_POINT));
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
    let sums: Vec<AccPart> = plan_parts_with(&d.float.shape, d.float.fortran, 2, 0)
        .into_iter()
        .map(|p| {
            let (mut f, mut q) = (fb.as_slice(), qb.as_slice());
            compare_part(
                &mut f,
                &d.float,
                &mut q,
                &d.quant,
                spec,
                deq,
                p,
                &mut |_| {},
            )
            .unwrap()
        })
        .collect();
    check(&merge_parts(&sums, spec, &[]), "in parts");
}

#[test]
fn a_raw_integer_dump_is_dequantized_with_its_zero_point() {
    // The quantized side as uint8 integers q = round(a/s) + z: dequantized as (q − z)·s it is the
    // float dump's values again, so everything equals the float dump's comparison.
    let (b, a) = data();
    let raw: Vec<u8> = a
        .iter()
        .map(|&v| ((v as f64 / SCALE).round() as i64 + ZERO_POINT) as u8)
        .collect();
    let mut s = Session::new();
    s.open("float/act.npy", Box::new(npy(&SHAPE, &b)));
    s.open(
        "quant/act.npy",
        Box::new(quantlens::engine::encode::npy("|u1", false, &SHAPE, &raw)),
    );
    s.open("quant/scales.json", Box::new(files()[2].1.clone()));
    s.update(&mut |_, _, _| {});
    let m = act(&s);
    check(&m, "raw");
    let mut f = session();
    f.update(&mut |_, _, _| {});
    let want = act(&f);
    // (q − z)·s in f32 against the f64 fake quant rounded to f32: the last bits differ.
    assert!(
        (m.sqnr_db - want.sqnr_db).abs() < 1e-6,
        "{} vs {}",
        m.sqnr_db,
        want.sqnr_db
    );
    assert!(
        (m.analy_min - want.analy_min).abs() < 1e-6 && (m.analy_max - want.analy_max).abs() < 1e-6
    );
}

/// ONNX Runtime's QUInt16 activations (a real PP-OCRv4 det run, a user's trial): scale 0.0013 and
/// zero point 39,328 represent [−51.1, 34.1]. Read as int16 they were [−91.5, −8.3], and 22 pairs
/// got false truncation errors; a `scales.json` saying `"uint16"` was skipped.
mod quint16 {
    use super::*;

    const S: f64 = 0.0013;
    const Z: i64 = 39_328;

    /// Values inside the grid's range, and a few beyond its top: their QUInt16 fake quant in f64.
    fn data() -> (Vec<f32>, Vec<f32>, f64, f64) {
        let b: Vec<f32> = (0..4096)
            .map(|i| match i {
                i if i % 101 == 0 => 40.0,
                i => ((i % 997) as f32 * 0.021).sin() * 40.0 - 8.0,
            })
            .collect();
        let (mut clip, mut n) = (0f64, 0usize);
        let a = b
            .iter()
            .map(|&x| {
                let q = (x as f64 / S).round_ties_even() + Z as f64;
                let c = q.clamp(0.0, 65535.0);
                let v = (c - Z as f64) * S;
                if c != q {
                    clip += (v - x as f64).powi(2);
                    n += 1;
                }
                v as f32
            })
            .collect();
        (b, a, clip, n as f64 / 4096.0)
    }

    fn run(names: [&str; 2], scales_json: &str) -> Session {
        let (b, a, _, _) = data();
        let mut s = Session::new();
        s.open(names[0], Box::new(npy(&[4096], &b)));
        s.open(names[1], Box::new(npy(&[4096], &a)));
        s.open(
            "quant/scales.json",
            Box::new(scales_json.as_bytes().to_vec()),
        );
        s.update(&mut |_, _, _| {});
        s
    }

    fn kinds(s: &Session) -> Vec<String> {
        s.analysis
            .findings
            .iter()
            .map(|f| f.finding.kind.clone())
            .collect()
    }

    #[test]
    fn a_uint16_grid_is_read_as_uint16_said_or_not() {
        let (_, _, clip, share) = data();
        assert!(share > 0.005 && share < 0.02, "{share}");
        let said = format!(r#"{{"act": {{"scale": {S}, "zero_point": {Z}, "dtype": "uint16"}}}}"#);
        let unsaid = format!(r#"{{"act": {{"scale": {S}, "zero_point": {Z}}}}}"#);
        for json in [said, unsaid] {
            let s = run(["float/act.npy", "quant/act.npy"], &json);
            let m = act(&s);
            let q = m.quant.expect("a quantizer");
            assert_eq!(
                (q.qmin, q.qmax, q.dtype_name()),
                (-Z, 65535 - Z, "uint16"),
                "{json}"
            );
            let sp = m.error_split.expect("a split");
            assert_eq!(sp.clipped_fraction, share, "{json}");
            assert!(
                (sp.clip - clip).abs() <= 1e-5 * clip,
                "{json}: {} vs {clip}",
                sp.clip
            );
            assert!(
                !kinds(&s).contains(&"scale_not_cover".to_string()),
                "{json}"
            );
        }
    }

    #[test]
    fn a_grid_the_dump_does_not_fit_is_named_not_split() {
        // Another run's scale for the same dump: 0.0005 represents [−19.66, 13.10], and the dump
        // holds values to −48 and 34: no quantizer with that scale wrote it.
        let json =
            format!(r#"{{"act": {{"scale": 0.0005, "zero_point": {Z}, "dtype": "uint16"}}}}"#);
        let s = run(["float/act.npy", "quant/act.npy"], &json);
        assert_eq!(kinds(&s), ["scale_not_cover"], "{:#?}", s.analysis.findings);
        let f = &s.analysis.findings[0].finding;
        assert!(f.message.contains("[-19.6640, 13.1035]"), "{}", f.message);
        assert!(f.message.contains("uint16 [0, 65535]"), "{}", f.message);
        assert!(
            f.fix.contains("scale of the run that wrote the dump"),
            "{}",
            f.fix
        );
        // ±∞ in a dump that fits its grid: the non-finite finding, not this one.
        let (b, mut a, _, _) = data();
        a[5] = f32::INFINITY;
        let mut s = Session::new();
        s.open("float/act.npy", Box::new(npy(&[4096], &b)));
        s.open("quant/act.npy", Box::new(npy(&[4096], &a)));
        let json = format!(r#"{{"act": {{"scale": {S}, "zero_point": {Z}, "dtype": "uint16"}}}}"#);
        s.open("quant/scales.json", Box::new(json.into_bytes()));
        s.update(&mut |_, _, _| {});
        assert!(
            !kinds(&s).contains(&"scale_not_cover".to_string()),
            "{:?}",
            kinds(&s)
        );
    }

    #[test]
    fn a_scale_is_found_under_a_file_name_that_spells_the_tensor_loosely() {
        // ORT names the tensor `det/neck/act:0`; a user saves it as `det__neck__act_0.npy`.
        let json = format!(
            r#"{{"det/neck/act:0": {{"scale": {S}, "zero_point": {Z}, "dtype": "uint16"}}}}"#
        );
        let s = run(
            ["float/det__neck__act_0.npy", "quant/det__neck__act_0.npy"],
            &json,
        );
        let p = &s.analysis.tensors.pairs[0];
        assert_eq!(p.scale_source.as_deref(), Some("scales.json"), "{p:?}");
        assert_eq!(act(&s).quant.map(|q| q.zero_point), Some(Z));
        // Two names that spell alike with different scales: neither is taken.
        let json = format!(
            r#"{{"det/neck/act:0": {{"scale": {S}, "zero_point": {Z}, "dtype": "uint16"}}, "det_neck/act_0": 0.5}}"#
        );
        let s = run(
            ["float/det__neck__act_0.npy", "quant/det__neck__act_0.npy"],
            &json,
        );
        assert_eq!(s.analysis.tensors.pairs[0].scale_source, None);
    }
}
