//! `quantlens bench` (hidden): times the engine's comparison kernels and calibration on generated
//! arrays, one JSON line for scripts/bench.sh.

use crate::out::fail;
use quantlens::engine::metrics::bench as b;
use quantlens::engine::metrics::Kernel;
use quantlens::engine::quant::{calibrate, QDType};
use std::process::ExitCode;
use std::time::Instant;

/// Calibration: |x| max, a 2048-bin histogram and all four observers' int8 scales, best of 3.
pub fn calib(n: usize) -> ExitCode {
    let (x, _) = b::arrays(n);
    let mut best = f64::INFINITY;
    let mut scales = [0.0; 4];
    for _ in 0..3 {
        let t = Instant::now();
        match calibrate(|| x.chunks(1 << 20), 2048, QDType::Int8) {
            Ok((_, s)) => scales = s,
            Err(e) => return fail(e),
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{{\"elems\": {n}, \"calib_s\": {best}, \"scales\": [{}, {}, {}, {}]}}",
        scales[0], scales[1], scales[2], scales[3]
    );
    ExitCode::SUCCESS
}

/// A plain sum, the metrics without KL, and KL alone over two arrays of `n` elements, best of 5.
pub fn kernels(n: usize) -> ExitCode {
    let (x, y) = b::arrays(n);
    let bytes = (n * 8) as f64;
    let time = |f: &dyn Fn() -> f64| {
        let mut best = f64::INFINITY;
        let mut sink = 0.0;
        for _ in 0..5 {
            let t = Instant::now();
            sink += f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        std::hint::black_box(sink);
        best
    };
    let t_sum = time(&|| b::plain_sum(&x, &y));
    let kernel = Kernel::detect();
    let t_m = time(&|| b::metrics_no_kl_on(&x, &y, kernel));
    let t_portable = time(&|| b::metrics_no_kl_on(&x, &y, Kernel::Portable));
    // The AVX2 kernel too when a faster one was chosen (CPUs without AVX-512 run it).
    let t_avx2 = match kernel {
        Kernel::Avx512 => time(&|| b::metrics_no_kl_on(&x, &y, Kernel::Avx2)).to_string(),
        _ => "null".to_string(),
    };
    let t_kl = time(&|| b::kl_only(&x, &y));
    println!(
        "{{\"elems\": {n}, \"bytes\": {bytes}, \"plain_sum_s\": {t_sum}, \"kernel\": \"{}\", \"metrics_s\": {t_m}, \"metrics_avx2_s\": {t_avx2}, \"metrics_portable_s\": {t_portable}, \"kl_s\": {t_kl}}}",
        kernel.name()
    );
    ExitCode::SUCCESS
}
