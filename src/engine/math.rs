//! ln, ln(1 + x), log10, exp (the `libm` crate: the same bits on every target) and SQNR in dB from two energies.
//!
//! `f64::ln` and friends call the platform's math library: glibc natively and a port of musl's
//! libm in wasm32, which differ in the last bit or two. SQNR in dB and KL go through these
//! instead, so the CLI and the browser print the same numbers (`tests/wasm_engine.rs` checks every
//! result of its seeded cases bit for bit). Errors are musl's: under 1 ulp.

/// Natural logarithm.
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// ln(1 + x), accurate near x = 0.
#[inline]
pub fn ln_1p(x: f64) -> f64 {
    libm::log1p(x)
}

/// Base-10 logarithm.
#[inline]
pub fn log10(x: f64) -> f64 {
    libm::log10(x)
}

/// e^x.
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// SQNR in dB from the two energies, Σx² and Σ(error)²: 10·log10(signal / noise), ∞ when
/// there is no error.
#[inline]
pub fn sqnr_db(signal: f64, noise: f64) -> f64 {
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * log10(signal / noise)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_platform_within_an_ulp_or_two() {
        let mut x = 1e-300f64;
        while x < 1e300 {
            for v in [x, x * 1.37, x * 7.9] {
                let close =
                    |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1e-300);
                assert!(close(ln(v), v.ln()), "ln({v})");
                assert!(close(log10(v), v.log10()), "log10({v})");
            }
            x *= 10.0;
        }
        for v in [-700.0, -1.0, -1e-9, 0.0, 1e-9, 0.5, 1.0, 30.0, 700.0] {
            let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1e-300);
            assert!(close(exp(v), f64::exp(v)), "exp({v})");
            let w = v.clamp(-0.5, 1e300);
            assert!(close(ln_1p(w), w.ln_1p()), "ln_1p({w})");
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(log10(1.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(sqnr_db(4.0, 0.0), f64::INFINITY);
        assert_eq!(sqnr_db(100.0, 1.0), 20.0);
        assert!(
            ln(0.0) == f64::NEG_INFINITY
                && ln(-1.0).is_nan()
                && log10(f64::INFINITY) == f64::INFINITY
        );
    }
}
