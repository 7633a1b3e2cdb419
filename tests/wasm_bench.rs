//! The comparison kernels timed in wasm (+simd128) under Node, on the same arrays as the native and
//! numpy runs. Ignored by default; scripts/bench.sh runs it with `--include-ignored`.
#![cfg(target_arch = "wasm32")]

use quantlens::engine::metrics::bench as b;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

fn best(f: &dyn Fn() -> f64) -> f64 {
    let mut t = f64::INFINITY;
    let mut sink = 0.0;
    for _ in 0..5 {
        let s = js_sys::Date::now();
        sink += f();
        t = t.min((js_sys::Date::now() - s) / 1000.0);
    }
    std::hint::black_box(sink);
    t
}

#[wasm_bindgen_test]
#[ignore]
fn wasm_kernel_timings() {
    let n = 16 << 20;
    let (x, y) = b::arrays(n);
    let s = best(&|| b::plain_sum(&x, &y));
    let m = best(&|| b::metrics_no_kl(&x, &y));
    let k = best(&|| b::kl_only(&x, &y));
    console_log!(
        "WASMBENCH {{\"elems\": {n}, \"plain_sum_s\": {s}, \"metrics_s\": {m}, \"kl_s\": {k}}}"
    );
}

#[wasm_bindgen_test]
#[ignore]
fn wasm_calibration_timing() {
    use quantlens::engine::quant::{calibrate, QDType};
    let n = 100_000_000usize;
    // The same data as `quantlens bench --calib` and scripts/bench_calib_numpy.py (x only).
    let x: Vec<f32> = (0..n)
        .map(|i| ((i % 9973) as f32 * 0.001).sin() * 3.0 + ((i / 4096) % 7) as f32 * 0.1)
        .collect();
    let mut scales = [0.0; 4];
    let t = best(&|| {
        let (_, s) = calibrate(|| x.chunks(1 << 20), 2048, QDType::Int8).expect("calibrate");
        s[0]
    });
    if let Ok((_, s)) = calibrate(|| x.chunks(1 << 20), 2048, QDType::Int8) {
        scales = s;
    }
    console_log!(
        "WASMCALIB {{\"elems\": {n}, \"calib_s\": {t}, \"scales\": [{}, {}, {}, {}]}}",
        scales[0],
        scales[1],
        scales[2],
        scales[3]
    );
}
