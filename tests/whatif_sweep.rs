//! `engine::whatif::sweep`, the computation behind `quantlens whatif`, against the numbers the CLI
//! printed (`whatif … --json`) when it still held the sweep itself.

use quantlens::engine::quant::{Observer, QDType};
use quantlens::engine::tensor::{self, FileSource};
use quantlens::engine::whatif::{sweep, TensorWhatIf, SWEEP_GROUPS};

fn tensor(path: &str) -> Vec<f32> {
    let mut src = FileSource::open(std::path::Path::new(path)).expect("open");
    let entries = tensor::list_tensors(path, &mut src).expect("list");
    assert_eq!(entries.len(), 1);
    tensor::read_all(&mut src, &entries[0]).expect("read")
}

/// The CLI's default observers, parsed from its default arguments (percentile 99.99 is 99.99 / 100).
fn default_observers() -> Vec<Observer> {
    ["minmax", "percentile:99.99", "mse", "kl"]
        .iter()
        .map(|o| Observer::parse(o).expect("observer"))
        .collect()
}

fn cell(w: &TensorWhatIf, i: usize) -> &quantlens::engine::quant::QuantError {
    w.results[i].result.as_ref().expect("a scale")
}

#[test]
fn real_tensor_with_the_default_dtypes_and_observers() {
    let x = tensor("tests/fixtures/quant/real.npy");
    let w = sweep(&x, &[QDType::Int8, QDType::Int16], &default_observers());
    assert_eq!(w.amax, 12.156295776367188);
    // Dtype by dtype, observers in the order given.
    let order: Vec<(QDType, String)> = w
        .results
        .iter()
        .map(|r| (r.dtype, r.observer.label()))
        .collect();
    assert_eq!(order.len(), 8);
    assert_eq!(order[0], (QDType::Int8, "min-max".to_string()));
    assert_eq!(order[1], (QDType::Int8, "percentile 99.99%".to_string()));
    assert_eq!(order[3], (QDType::Int8, "KL (entropy)".to_string()));
    assert_eq!(order[4], (QDType::Int16, "min-max".to_string()));

    let minmax8 = cell(&w, 0);
    assert_eq!(minmax8.scale, 0.09534349628523284);
    assert_eq!(minmax8.mse, 0.0007587056856732626);
    assert_eq!(minmax8.sqnr_db, 43.35656965094589);
    assert_eq!(minmax8.max_abs, 0.047672271728515625);
    assert_eq!(minmax8.max_rel, 1.0);
    assert_eq!(minmax8.clipped_fraction, 0.00005425347222222222);
    assert_eq!(cell(&w, 1).scale, 0.09436585301277685);
    // MSE-optimal: its search predicts each bin's rounding error exactly since 2026-12-02 (it was
    // 0.09166569540313646 with MSE 0.0007251839686626574; the new pick has less error).
    assert_eq!(cell(&w, 2).scale, 0.09231745758477379);
    assert_eq!(cell(&w, 2).mse, 0.0007200049253124321);
    assert_eq!(cell(&w, 3).scale, 0.07015754340910445);
    assert_eq!(cell(&w, 3).sqnr_db, 34.37981287703728);
    let minmax16 = cell(&w, 4);
    assert_eq!(minmax16.scale, 0.00037098636686861027);
    assert_eq!(minmax16.mse, 1.1421098423350156e-8);
    assert_eq!(minmax16.max_rel, 0.011334229777836864);
    assert_eq!(cell(&w, 5).mse, 8.566592465004331e-7);

    // 1, 2 and 4 groups per dtype.
    assert_eq!(SWEEP_GROUPS, [1, 2, 4]);
    let splits: Vec<(&str, usize, &[usize])> = w
        .splits
        .iter()
        .map(|g| (g.dtype.as_str(), g.k, g.split.cuts.as_slice()))
        .collect();
    assert_eq!(
        splits,
        [
            ("int8", 1, &[][..]),
            ("int8", 2, &[9216][..]),
            ("int8", 4, &[9216, 11520, 12096][..]),
            ("int16", 1, &[][..]),
            ("int16", 2, &[8352][..]),
            ("int16", 4, &[8352, 11520, 11808][..]),
        ]
    );
    assert_eq!(w.splits[0].split.mse, minmax8.mse);
    assert_eq!(w.splits[1].split.mse, 0.0005305984218169486);
    assert_eq!(
        w.splits[1].split.scales,
        [0.09534349628523284, 0.06000512440999349]
    );
    assert_eq!(w.splits[2].split.mse, 0.0005048457954439118);
    assert_eq!(w.splits[5].split.mse, 8.601405860406367e-9);
    assert_eq!(w.splits[5].split.max_rel, 0.004391426094923293);
    assert!(w.splits.iter().all(|g| g.split.objective == "relative"));
}

#[test]
fn other_grids_a_fixed_scale_and_a_percentile() {
    let x = tensor("tests/fixtures/quant/syn.npy");
    let obs: Vec<Observer> = ["minmax", "fixed=0.01", "percentile:99"]
        .iter()
        .map(|o| Observer::parse(o).expect("observer"))
        .collect();
    let w = sweep(&x, &[QDType::Int4, QDType::Uint8], &obs);
    assert_eq!(w.amax, 40.0);
    assert_eq!(cell(&w, 0).scale, 5.333333333333333);
    assert_eq!(cell(&w, 0).mse, 2.236579587570572);
    let fixed4 = cell(&w, 1);
    assert_eq!(fixed4.scale, 0.01);
    assert_eq!(fixed4.clipped_fraction, 0.9668);
    assert_eq!(fixed4.sqnr_db, 0.2301633960511526);
    assert_eq!(cell(&w, 2).scale, 0.6927083333333334);
    assert_eq!(cell(&w, 3).scale, 0.3137254901960784);
    assert_eq!(cell(&w, 3).clipped_fraction, 0.4558);
    assert_eq!(cell(&w, 5).mse, 2.4356229555698583);
    assert_eq!(w.splits[2].split.cuts, [78, 2265, 4453]);
    assert_eq!(w.splits[2].split.mse, 0.10535434401876703);
    assert_eq!(w.splits[4].split.mse, 2.2604181869376854);
    assert!(w.splits.iter().all(|g| g.split.objective == "absolute"));
}

#[test]
fn an_observer_without_a_scale_gives_its_reason_and_the_splits_still_come() {
    let x = tensor("tests/fixtures/quant/real.npy");
    let p0 = Observer::parse("percentile:0").expect("observer");
    let w = sweep(&x, &[QDType::Int8, QDType::Int16], &[p0]);
    assert_eq!(w.results.len(), 2);
    for r in &w.results {
        assert_eq!(
            r.result.as_ref().err().map(String::as_str),
            Some("percentile must be in (0, 100], not 0")
        );
    }
    assert_eq!(w.splits.len(), 6);
    assert_eq!(w.splits[4].split.mse, 1.1217169796657436e-8);
}
