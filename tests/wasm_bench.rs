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
