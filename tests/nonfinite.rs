//! NaN and ±∞ in tensor dumps: counted per side (NaN apart from ±∞), located (the first one's
//! index, the same whole, in slices and in parts), and diagnosed: an error when only the quantized
//! side holds them, a warning when the float side does, and the detail panel's note. Also the
//! pairs that cannot be compared at all (shape mismatch, raw integers without a scale): a finding.

use quantlens::engine::findings::Severity;
use quantlens::engine::metrics::{Accumulator, PairMetrics};
use quantlens::engine::pairs::{nonfinite_note, unravel};
use quantlens::engine::session::Session;

mod common;
use common::npy_f32 as npy;

type Located = (u64, u64, Option<u64>, u64, u64, Option<u64>);

fn located(m: &PairMetrics) -> Located {
    (
        m.nonfinite_base,
        m.nan_base,
        m.first_nonfinite_base,
        m.nonfinite_analy,
        m.nan_analy,
        m.first_nonfinite_analy,
    )
}

/// Compare `b` (float) with `a` (quantized) whole, in slices of `slice` and in parts cut at `cut`.
fn three_ways(b: &[f32], a: &[f32], slice: usize, cut: usize) -> [PairMetrics; 3] {
    let mut whole = Accumulator::new(&[b.len() as u64], false, None, true);
    whole.update(b, a);
    let mut sliced = Accumulator::new(&[b.len() as u64], false, None, true);
    for (bs, as_) in b.chunks(slice).zip(a.chunks(slice)) {
        sliced.update(bs, as_);
    }
    let parts: Vec<_> = [0..cut, cut..b.len()]
        .into_iter()
        .map(|r| {
            let mut acc = Accumulator::new(&[], false, None, false);
            acc.update(&b[r.clone()], &a[r.clone()]);
            acc.into_part(None).at_flat_offset(r.start as u64)
        })
        .collect();
    [
        whole.finish(),
        sliced.finish(),
        Accumulator::merged(&parts, None),
    ]
}

#[test]
fn non_finite_values_are_counted_and_located_whole_in_slices_and_in_parts() {
    // 10,000 elements: the float side holds +∞ at 7,001; the quantized side NaN at 4,097 and
    // 9,000 and −∞ at 5,000 (past the kernel's first blocks, so a block with finite sums comes first).
    let b: Vec<f32> = (0..10_000).map(|i| (i as f32 * 0.01).sin()).collect();
    let mut a: Vec<f32> = b.iter().map(|x| x + 0.001).collect();
    let mut b = b;
    b[7_001] = f32::INFINITY;
    a[4_097] = f32::NAN;
    a[5_000] = f32::NEG_INFINITY;
    a[9_000] = f32::NAN;
    for (slice, cut) in [(333, 4_500), (4_096, 6_000), (10_000, 9_500), (1, 1)] {
        for m in three_ways(&b, &a, slice, cut) {
            assert_eq!(
                located(&m),
                (1, 0, Some(7_001), 3, 2, Some(4_097)),
                "slices of {slice}, parts cut at {cut}"
            );
        }
    }
    // Finite sides: nothing counted, nothing located.
    let clean: Vec<f32> = (0..100).map(|i| i as f32).collect();
    for m in three_ways(&clean, &clean, 7, 50) {
        assert_eq!(located(&m), (0, 0, None, 0, 0, None));
    }
}

#[test]
fn a_flat_index_reads_as_one_index_per_axis() {
    assert_eq!(unravel(6, &[3, 4]), "[1, 2]");
    assert_eq!(unravel(0, &[1, 1, 1]), "[0, 0, 0]");
    assert_eq!(unravel(23, &[2, 3, 4]), "[1, 2, 3]");
    assert_eq!(unravel(12, &[3, 4]), "flat index 12");
    assert_eq!(unravel(5, &[]), "flat index 5");
    assert_eq!(unravel(1, &[u64::MAX, u64::MAX]), "flat index 1");
}

#[test]
fn nan_made_by_the_quantized_model_is_the_first_finding_and_a_bad_reference_a_warning() {
    // `act`: float finite, quantized NaN at [1, 2] and −∞ at [2, 0]. `mask`: −∞ on both sides at
    // [0, 1] (a masked attention score). `fine`: a small rounding error and nothing else.
    let b: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
    let mut a: Vec<f32> = b.iter().map(|x| x + 0.01).collect();
    a[6] = f32::NAN;
    a[8] = f32::NEG_INFINITY;
    let mut mb = b.clone();
    mb[1] = f32::NEG_INFINITY;
    let mut ma = mb.clone();
    ma[3] += 0.01;
    // `spread`, listed first: NaN in 4 of 12 (as downstream of an origin), so named after `act`.
    let mut sa = a.clone();
    sa[0] = f32::NAN;
    sa[11] = f32::NAN;
    let files = [
        ("fp32/spread.npy", npy(&[3, 4], &b)),
        ("int8/spread.npy", npy(&[3, 4], &sa)),
        ("fp32/fine.npy", npy(&[3, 4], &b)),
        (
            "int8/fine.npy",
            npy(&[3, 4], &b.iter().map(|x| x + 0.001).collect::<Vec<_>>()),
        ),
        ("fp32/act.npy", npy(&[3, 4], &b)),
        ("int8/act.npy", npy(&[3, 4], &a)),
        ("fp32/mask.npy", npy(&[3, 4], &mb)),
        ("int8/mask.npy", npy(&[3, 4], &ma)),
    ];
    let mut s = Session::new();
    for (name, bytes) in &files {
        s.open(name, Box::new(bytes.clone()));
    }
    s.update(&mut |_, _, _| {});
    let a = &s.analysis;
    let row = |name: &str| a.tensors.pairs.iter().position(|p| p.name == name).unwrap();
    let nonfinite: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.finding.kind == "nonfinite_values")
        .collect();
    assert_eq!(nonfinite.len(), 2, "{:#?}", a.findings);

    // The quantized side's NaN: an error, ranked first, naming the pair, its values and where.
    let first = &a.findings[0];
    assert_eq!(first.finding.kind, "nonfinite_values");
    assert_eq!(first.finding.severity, Severity::Error);
    // The smallest share of non-finite values first: the likeliest origin.
    assert_eq!(
        first.finding.layers,
        vec!["act".to_string(), "spread".to_string()]
    );
    assert!(row("spread") < row("act"), "the table lists spread first");
    assert!(
        first
            .finding
            .message
            .contains("holds 1 NaN and 1 ±∞ of 12 elements, the first at [1, 2]"),
        "{}",
        first.finding.message
    );
    assert!(
        first.finding.fix.contains("(here `act`)"),
        "{}",
        first.finding.fix
    );
    assert_eq!(first.finding.evidence.len(), 2);
    assert_eq!(first.finding.evidence[0].row, row("act"));
    assert_eq!(first.finding.evidence[1].row, row("spread"));
    assert_eq!(
        first.finding.evidence[0].file,
        Some(a.tensors.pairs[row("act")].quant_file)
    );

    // The float side's −∞ (on both sides): a warning about the reference, with the mask advice.
    let warn = nonfinite
        .iter()
        .find(|f| f.finding.severity == Severity::Warning)
        .unwrap();
    assert_eq!(warn.finding.layers, vec!["mask".to_string()]);
    assert!(
        warn.finding.message.contains("holds 1 ±∞ of 12 elements, the first at [0, 1] (quantized side: 1 ±∞ of 12 elements, the first at [0, 1])"),
        "{}",
        warn.finding.message
    );
    assert!(warn.finding.fix.contains("mask"), "{}", warn.finding.fix);

    // The detail panel's note, and none for a finite pair.
    let note = nonfinite_note(&a.tensors.pairs[row("act")]).unwrap();
    assert!(
        note.contains(
            "float side none; quantized side 1 NaN and 1 ±∞ of 12 elements, the first at [1, 2]"
        ),
        "{note}"
    );
    assert_eq!(nonfinite_note(&a.tensors.pairs[row("fine")]), None);
    // The index cites both rows.
    let idx = a.evidence_index();
    let q = a.tensors.pairs[row("act")].quant_file;
    assert!(idx.contains_key(&(q, "pairs".to_string(), row("act"))));
}

#[test]
fn pairs_that_cannot_be_compared_are_a_finding_per_file_with_their_reasons() {
    use quantlens::engine::encode::{npy as npy_raw, zip_stored};
    let b: Vec<f32> = (0..12).map(|i| i as f32 * 0.1).collect();
    let raw: Vec<u8> = (0..12u8).collect();
    let member = |name: &str, bytes: Vec<u8>| (format!("{name}.npy"), bytes);
    // One .npz a side: `ok` compares; `mm` and `mm2` do not (shapes); `raw` needs its scale.
    let float = zip_stored(&[
        member("ok", npy(&[3, 4], &b)),
        member("mm", npy(&[3, 4], &b)),
        member("mm2", npy(&[2, 6], &b)),
        member("raw", npy(&[12], &b)),
    ])
    .unwrap();
    let quant = zip_stored(&[
        member("ok", npy(&[3, 4], &b)),
        member("mm", npy(&[12], &b)),
        member("mm2", npy(&[6, 2], &b)),
        member("raw", npy_raw("|i1", false, &[12], &raw)),
    ])
    .unwrap();
    let files = [
        ("fp32/acts.npz", float),
        ("int8/acts.npz", quant),
        // A second quantized file: its own finding.
        ("fp32/other.npy", npy(&[3, 4], &b)),
        ("int8/other.npy", npy(&[4, 3], &b)),
    ];
    let mut s = Session::new();
    for (name, bytes) in &files {
        s.open(name, Box::new(bytes.clone()));
    }
    s.update(&mut |_, _, _| {});
    let a = &s.analysis;
    let f: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.finding.kind == "pairs_not_compared")
        .collect();
    assert_eq!(f.len(), 2, "one per quantized file: {:#?}", a.findings);
    let npz = f
        .iter()
        .find(|f| a.files[f.file].name == "int8/acts.npz")
        .expect("the npz's finding");
    let other = f
        .iter()
        .find(|f| a.files[f.file].name == "int8/other.npy")
        .expect("the npy's finding");
    assert_eq!(other.finding.layers, ["other"]);
    let f = &npz.finding;
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.layers, ["mm", "mm2", "raw"]);
    assert_eq!(f.evidence.len(), 3);
    assert!(
        f.message.starts_with("3 pairs could not be compared"),
        "{}",
        f.message
    );
    // One reason per kind, the first pair's sentence standing for it.
    assert_eq!(
        f.message.matches("shape mismatch").count(),
        1,
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("`mm` and `mm2` (shape mismatch: float [3, 4] vs quantized [12])"),
        "{}",
        f.message
    );
    assert!(f.message.contains("holds raw int8 values"), "{}", f.message);
    assert!(
        f.message.contains("type it in the pair's row"),
        "{}",
        f.message
    );
    assert!(
        f.fix.contains("pair the right tensors by hand"),
        "{}",
        f.fix
    );
    assert!(
        f.fix.starts_with("Give each raw integer dump its scale"),
        "{}",
        f.fix
    );
    // Nothing when every pair compares.
    let mut ok = Session::new();
    ok.open("fp32/ok.npy", Box::new(npy(&[3, 4], &b)));
    ok.open("int8/ok.npy", Box::new(npy(&[3, 4], &b)));
    ok.update(&mut |_, _, _| {});
    assert!(ok
        .analysis
        .findings
        .iter()
        .all(|f| f.finding.kind != "pairs_not_compared"));
}

#[test]
fn two_all_zero_tensors_sort_as_no_error_not_as_the_worst_cosine() {
    // Cosine is torch's (0 for two zero vectors), but the pair has no error: sorted worst-first by
    // Cosine it goes after a pair with a real error, not before it.
    let mut s = Session::new();
    let zeros = vec![0.0f32; 12];
    let b: Vec<f32> = (0..12).map(|i| i as f32 / 4.0).collect();
    let a: Vec<f32> = b.iter().map(|x| x + 0.01).collect();
    s.open("fp32/zero.npy", Box::new(npy(&[3, 4], &zeros)));
    s.open("int8/zero.npy", Box::new(npy(&[3, 4], &zeros)));
    s.open("fp32/some.npy", Box::new(npy(&[3, 4], &b)));
    s.open("int8/some.npy", Box::new(npy(&[3, 4], &a)));
    s.update(&mut |_, _, _| {});
    let t = &s.analysis.tensors;
    let at = |n: &str| t.pairs.iter().position(|p| p.name == n).expect(n);
    let zero = t.pairs[at("zero")].metrics.as_ref().expect("metrics");
    assert_eq!(
        (zero.cosine, zero.mse),
        (0.0, 0.0),
        "torch's convention kept"
    );
    let worst_first = quantlens::engine::views::sort_pairs(t, "cosine", false);
    assert_eq!(worst_first, [at("some"), at("zero")]);
    // And no finding is made of it.
    assert!(s
        .analysis
        .findings
        .iter()
        .all(|f| !f.finding.layers.iter().any(|l| l == "zero")));
}

#[test]
fn a_wider_dtype_typed_for_a_raw_int8_dump_does_not_hide_its_clipping() {
    // Raw int8 values at ±127 steps of a scale too small for the float range: clipped whatever
    // dtype is typed with the scale, since the dump cannot hold more than 8 bits (a user's report:
    // `1e-4 int16` turned the truncation into "inherited").
    use quantlens::engine::encode::npy as npy_raw;
    use quantlens::engine::quant::QDType;
    let b: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 16.0).collect();
    let raw: Vec<u8> = b
        .iter()
        .map(|x| ((x / 1e-4).round().clamp(-128.0, 127.0) as i8) as u8)
        .collect();
    let split = |dtype: Option<QDType>| {
        let mut s = Session::new();
        s.open("float/act.npy", Box::new(npy(&[64], &b)));
        s.open(
            "quant/act.npy",
            Box::new(npy_raw("|i1", false, &[64], &raw)),
        );
        s.settings.scales.insert("act".into(), (1e-4, dtype));
        s.update(&mut |_, _, _| {});
        let m = s.analysis.tensors.pairs[0]
            .metrics
            .clone()
            .expect("compared");
        let sp = m.error_split.expect("split");
        sp.clip / (sp.clip + sp.round + sp.inherited)
    };
    let int8 = split(Some(QDType::Int8));
    assert!(int8 > 0.99, "int8: clip share {int8}");
    assert_eq!(
        split(Some(QDType::Int16)),
        int8,
        "int16 typed for int8 data"
    );
    assert_eq!(split(None), int8);
}

#[test]
fn pairs_far_from_float_without_a_scale_get_a_finding_that_says_how_to_split_them() {
    // No scale anywhere: the error cannot be split, but a pair at Cosine ≈ 0.8 and a quantized
    // tensor that is all 0 must not pass silently.
    let mut s = Session::new();
    let b: Vec<f32> = (0..64)
        .map(|i| ((i * 37 % 64) as f32 - 32.0) / 8.0)
        .collect();
    let noisy: Vec<f32> = b
        .iter()
        .enumerate()
        .map(|(i, x)| x + if i % 2 == 0 { 2.5 } else { -2.5 })
        .collect();
    let close: Vec<f32> = b.iter().map(|x| x + 0.001).collect();
    s.open("fp32/noisy.npy", Box::new(npy(&[64], &b)));
    s.open("int8/noisy.npy", Box::new(npy(&[64], &noisy)));
    s.open("fp32/dead.npy", Box::new(npy(&[64], &b)));
    s.open("int8/dead.npy", Box::new(npy(&[64], &[0.0; 64])));
    s.open("fp32/close.npy", Box::new(npy(&[64], &b)));
    s.open("int8/close.npy", Box::new(npy(&[64], &close)));
    s.update(&mut |_, _, _| {});
    let t = &s.analysis.tensors;
    let cos = |n: &str| {
        t.pairs
            .iter()
            .find(|p| p.name == n)
            .expect(n)
            .metrics
            .as_ref()
            .expect("m")
            .cosine
    };
    assert!(cos("noisy") < 0.9, "{}", cos("noisy"));
    let found: Vec<_> = s
        .analysis
        .findings
        .iter()
        .filter(|f| f.finding.kind == "unexplained_error")
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", s.analysis.findings);
    let f = &found[0].finding;
    // The collapsed one first, then by Cosine; the close pair is not named.
    assert_eq!(f.layers, ["dead", "noisy"]);
    assert_eq!(f.severity, quantlens::engine::Severity::Error);
    assert!(
        f.message.contains(
            "dead (the quantized tensor is all 0 while the float one spans [-4.0000, 3.8750])"
        ),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains(&format!("noisy (Cosine {:.4}", cos("noisy"))),
        "{}",
        f.message
    );
    // Listed worst first, but the one the dumps reach first (noisy, opened first) is named as
    // where an error flowing downstream would start.
    assert!(
        f.message.contains(&format!(
            "The first of them in the dumps' order is noisy (Cosine {:.4}): an error made in one layer shows in every layer after it",
            cos("noisy")
        )),
        "{}",
        f.message
    );
    assert!(
        f.fix.contains("type the scale in the pair's row"),
        "{}",
        f.fix
    );
    assert_eq!(f.evidence.len(), 2);
    // With a scale the error splits, and this finding gives way to the split's own.
    s.settings.scales.insert("*".into(), (0.05, None));
    s.update(&mut |_, _, _| {});
    assert!(s
        .analysis
        .findings
        .iter()
        .all(|f| f.finding.kind != "unexplained_error"));
}
