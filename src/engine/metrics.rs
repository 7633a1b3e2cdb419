//! Streaming, single-pass comparison metrics of a float tensor (baseline `b`) and a quantized one
//! (analysis `a`), with exactly Horizon's definitions (horizon-formats.md §3.4), accumulated in f64.
//!
//! The hot loop keeps 8 f32 lanes per sum over blocks of 256 elements and flushes them into f64, so
//! it vectorises (SSE2 natively) without losing precision on long tensors. On x86-64 an AVX2 version
//! of the same loop (one 8-lane register per sum instead of two, no spills), or on CPUs with
//! AVX-512VL the same in one loop over a block (its 32 registers hold every sum), is chosen at run
//! time ([`Kernel`]), and on wasm a simd128 one runs the whole chunks; each does the same IEEE
//! operations on the same lanes in the same order, so all give the same bits. KL
//! uses softmax along dim 1 (ndim > 2) or the last dim, computed in the same single pass with an
//! online log-sum-exp per softmax group. The error split needs the quantized side's dtype and scale.

use serde::{Deserialize, Serialize};

const LANES: usize = 8;

/// max/min as plain compare-and-select (simd128 `pmax`/`pmin`; NaN never wins). `f32::max` has
/// NaN semantics wasm's `f32x4.max` lacks, which makes LLVM scalarise the loop.
#[inline(always)]
fn vmax(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}
#[inline(always)]
fn vmin(a: f32, b: f32) -> f32 {
    if b < a {
        b
    } else {
        a
    }
}
const BLOCK: usize = 256;

/// Which implementation of the comparison kernel (and of KL's softmax runs) runs. `Portable` is the
/// loop LLVM vectorises for the target's baseline (SSE2 on x86-64, simd128 on wasm); `Avx2` is the
/// same computation written with AVX2 intrinsics (x86-64 only; for KL, the same loops compiled
/// with AVX2), taken when the CPU has AVX2 and FMA ([`Kernel::detect`]); `Avx512` is the AVX2
/// kernel's operations on the same 8-lane registers in one loop instead of three, which needs
/// the 32 vector registers of AVX-512VL (with AVX2's 16 its accumulators would spill).
/// All do the same IEEE operations on the same lanes in the same order (no FMA: a fused
/// multiply-add rounds once where `a * b + c` rounds twice), so their results agree bit for bit;
/// `tests::kernels_agree_bit_for_bit` checks it on random, non-finite and ragged data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    Avx2,
    Avx512,
}

impl Kernel {
    /// Every copy, slowest first.
    pub const ALL: [Kernel; 3] = [Kernel::Portable, Kernel::Avx2, Kernel::Avx512];

    /// The fastest copy this CPU can run.
    pub fn detect() -> Kernel {
        Kernel::ALL
            .into_iter()
            .rev()
            .find(|k| k.available())
            .unwrap_or(Kernel::Portable)
    }

    /// Whether this copy runs KL's loops and the split alone compiled for AVX2 (both wide
    /// copies do: they differ in the metrics' block kernel only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn wide(self) -> bool {
        self != Kernel::Portable
    }

    /// Whether this CPU can run this copy.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                Kernel::Avx2.available()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => {
                if cfg!(target_arch = "x86_64") {
                    "sse2"
                } else if cfg!(target_arch = "wasm32") {
                    "simd128"
                } else {
                    "portable"
                }
            }
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512vl",
        }
    }
}

/// One block's per-lane partial sums and extrema, before they are added into f64.
struct Lanes {
    dot: [f32; LANES],
    dd: [f32; LANES],
    ad: [f32; LANES],
    s_a: [f32; LANES],
    s_b: [f32; LANES],
    q_a: [f32; LANES],
    q_b: [f32; LANES],
    aa: [f32; LANES],
    bb: [f32; LANES],
    mx: [f32; LANES],
    mn_a: [f32; LANES],
    mx_a: [f32; LANES],
    mn_b: [f32; LANES],
    mx_b: [f32; LANES],
    rt: [f32; LANES],
    clip: [f32; LANES],
    round: [f32; LANES],
    nclip: [f32; LANES],
}

impl Lanes {
    /// Before the first element: sums 0, minima +∞, maxima −∞ (Atol and Rtol start at 0).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    const EMPTY: Lanes = Lanes {
        dot: [0.0; LANES],
        dd: [0.0; LANES],
        ad: [0.0; LANES],
        s_a: [0.0; LANES],
        s_b: [0.0; LANES],
        q_a: [0.0; LANES],
        q_b: [0.0; LANES],
        aa: [0.0; LANES],
        bb: [0.0; LANES],
        mx: [0.0; LANES],
        mn_a: [f32::INFINITY; LANES],
        mx_a: [f32::NEG_INFINITY; LANES],
        mn_b: [f32::INFINITY; LANES],
        mx_b: [f32::NEG_INFINITY; LANES],
        rt: [0.0; LANES],
        clip: [0.0; LANES],
        round: [0.0; LANES],
        nclip: [0.0; LANES],
    };
}

/// One block's lanes folded: the f64 sums, each lane by lane in order from −0 (what
/// `Iterator::sum` gives), in fours: [Σab, Σa², Σb², Σ(b−a)²], [Σ|b−a|, Σ(a−sa), Σ(b−sb),
/// Σ(a−sa)²], [Σ(b−sb)², Σ clipped e², Σ rounded e², clipped]; the maxima [Atol, Rtol, max a,
/// max b] and minima [min a, min b] by [`zmax`] and [`zmin`] (lanes are never NaN).
struct Folded {
    sums: [[f64; 4]; 3],
    maxes: [f32; 4],
    mins: [f32; 2],
}

impl Folded {
    #[inline(always)]
    fn of(l: &Lanes) -> Folded {
        let sum = |v: &[f32; LANES]| v.iter().fold(-0.0f64, |s, &x| s + x as f64);
        let four = |v: [&[f32; LANES]; 4]| v.map(sum);
        let max = |v: &[f32; LANES]| v.iter().fold(f32::NEG_INFINITY, |m, &x| zmax(m, x));
        let min = |v: &[f32; LANES]| v.iter().fold(f32::INFINITY, |m, &x| zmin(m, x));
        Folded {
            sums: [
                four([&l.dot, &l.aa, &l.bb, &l.dd]),
                four([&l.ad, &l.s_a, &l.s_b, &l.q_a]),
                four([&l.q_b, &l.clip, &l.round, &l.nclip]),
            ],
            maxes: [max(&l.mx), max(&l.rt), max(&l.mx_a), max(&l.mx_b)],
            mins: [min(&l.mn_a), min(&l.mn_b)],
        }
    }
}

/// The smaller of two floats, NaN ignored, and −0 below +0 (IEEE 754-2019's minimumNumber):
/// the same bits whatever the order of a fold, on every kernel.
#[inline(always)]
fn zmin(a: f32, b: f32) -> f32 {
    if a < b || b.is_nan() {
        a
    } else if b < a || a.is_nan() {
        b
    } else {
        f32::from_bits(a.to_bits() | b.to_bits())
    }
}

/// The larger of two floats, NaN ignored, and +0 above −0 (maximumNumber).
#[inline(always)]
fn zmax(a: f32, b: f32) -> f32 {
    if a > b || b.is_nan() {
        a
    } else if b > a || a.is_nan() {
        b
    } else {
        f32::from_bits(a.to_bits() & b.to_bits())
    }
}

/// The block kernel with AVX2 intrinsics: lane `k` of every register holds what lane `k` of the
/// portable kernel holds (element `i ≡ k mod 8` of the block, in order), and every step is the
/// portable kernel's IEEE operation: `max_ps(v, m)` is `vmax(m, v)` (`v > m ? v : m`, the second
/// operand when either is NaN), `min_ps(v, m)` is `vmin(m, v)`, no FMA. Four loops over the
/// (L1-resident) block keep every accumulator in a register. The last, partial chunk is loaded
/// masked (zeros past the end) and only its real lanes are kept.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{QuantSpec, Sums, BLOCK, LANES};
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store(v: __m256) -> [f32; LANES] {
        let mut o = [0f32; LANES];
        // SAFETY: `o` holds 8 f32; unaligned store.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), v) };
        o
    }

    /// Runs `step` over `b` and `a` (equal lengths) eight elements at a time; the partial last
    /// chunk runs on a copy whose first `tail` lanes are then kept.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn chunks<const N: usize>(
        b: &[f32],
        a: &[f32],
        mut acc: [__m256; N],
        step: impl Fn(&mut [__m256; N], __m256, __m256),
    ) -> [__m256; N] {
        let full = b.len() / LANES * LANES;
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= full <= len of both slices; unaligned loads.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(b.as_ptr().add(i)),
                    _mm256_loadu_ps(a.as_ptr().add(i)),
                )
            };
            step(&mut acc, x, y);
            i += LANES;
        }
        let tail = b.len() - full;
        if tail > 0 {
            let mut idx = [0i32; LANES];
            for (k, m) in idx.iter_mut().enumerate() {
                *m = if k < tail { -1 } else { 0 };
            }
            // SAFETY: masked loads read only the `tail` lanes inside both slices.
            let (mask, x, y) = unsafe {
                let mask = _mm256_loadu_si256(idx.as_ptr() as *const __m256i);
                (
                    mask,
                    _mm256_maskload_ps(b.as_ptr().add(full), mask),
                    _mm256_maskload_ps(a.as_ptr().add(full), mask),
                )
            };
            let mut t = acc;
            step(&mut t, x, y);
            let keep = _mm256_castsi256_ps(mask);
            for (o, n) in acc.iter_mut().zip(t) {
                *o = _mm256_blendv_ps(*o, n, keep);
            }
        }
        acc
    }

    /// The error split's lanes of one block (the float side alone): Σ clipped e², Σ rounded e²,
    /// the clipped count. A block whose errors are all finite (nearly every one) takes a
    /// shorter loop, [`split_finite`]; the others take [`split_any`], the portable kernel's
    /// steps one for one.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn split_regs(b: &[f32], q: QuantSpec) -> [__m256; 3] {
        const BIG: i64 = 1 << 22;
        let v = if -BIG < q.qmin && q.qmax < BIG {
            split_finite::<false>(b, q)
        } else {
            split_finite::<true>(b, q)
        };
        // x − x is NaN exactly where x is ±∞ or NaN.
        let bad =
            _mm256_cmp_ps::<_CMP_UNORD_Q>(_mm256_sub_ps(v[0], v[0]), _mm256_sub_ps(v[1], v[1]));
        if _mm256_movemask_ps(bad) == 0 {
            v
        } else {
            split_any(b, q)
        }
    }

    /// A quantizer's constants in registers.
    #[derive(Clone, Copy)]
    struct Quantizer {
        scale: __m256,
        inv: __m256,
        lo: __m256,
        hi: __m256,
    }

    impl Quantizer {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn new(q: QuantSpec) -> Quantizer {
            Quantizer {
                scale: _mm256_set1_ps(q.scale as f32),
                inv: _mm256_set1_ps(1.0f32 / q.scale as f32),
                lo: _mm256_set1_ps(q.qmin as f32),
                hi: _mm256_set1_ps(q.qmax as f32),
            }
        }

        /// Eight values' quantization errors `e = kc·scale − x` and where they are clipped
        /// (`kq ≠ kc`, ordered: NaN is not clipped), kq = x/scale rounded half to even (the
        /// portable kernel's `(t + 1.5·2²³) − 1.5·2²³` for |t| ≤ 2²², but −0 where it gives +0,
        /// t in (−½, −0]; kq·scale − x is the same either way, x then being ≤ 0 and ±0 − x
        /// being −x, and so is kq ≠ kc), kc = kq clamped to the bounds. With `CLAMP`, x/scale is
        /// clamped to ±2²² first, as the portable kernel does.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn errors<const CLAMP: bool>(self, x: __m256) -> (__m256, __m256) {
            let (e, kq, kc) = self.rounded::<CLAMP>(x);
            (e, _mm256_cmp_ps::<_CMP_NEQ_OQ>(kq, kc))
        }

        /// [`Quantizer::errors`]' e with kq and kc, whose inequality is the clipped mask.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn rounded<const CLAMP: bool>(self, x: __m256) -> (__m256, __m256, __m256) {
            let t = _mm256_mul_ps(x, self.inv);
            let t = if CLAMP {
                let big = _mm256_set1_ps(4_194_304.0);
                _mm256_min_ps(big, _mm256_max_ps(_mm256_set1_ps(-4_194_304.0), t))
            } else {
                t
            };
            let kq = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
            let kc = _mm256_min_ps(self.hi, _mm256_max_ps(self.lo, kq));
            (_mm256_sub_ps(_mm256_mul_ps(kc, self.scale), x), kq, kc)
        }
    }

    /// The split where every error is finite (and no sum overflows), which is what the caller
    /// checks afterwards: both sums then stay finite, and they are the portable kernel's bits.
    /// There `(c·e)·e` and `((1 − c)·e)·e`, with c ∈ {0, 1}, are e·e and +0, which an AND with
    /// the clipped mask gives without `e − e`; the clipped count adds the mask (−1 where
    /// clipped) as integers, exact like the portable kernel's f32 sum of 1s (at most 32 a lane
    /// a block) and made a float at the end. Without `CLAMP` (both bounds strictly inside
    /// ±2²²), x/scale is not clamped to ±2²² first: where it is beyond, the clamped and the
    /// unclamped rounded values are both past the bound, so kc and kq ≠ kc are the same.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn split_finite<const CLAMP: bool>(b: &[f32], q: QuantSpec) -> [__m256; 3] {
        let quant = Quantizer::new(q);
        let zero = _mm256_setzero_ps();
        let [clip, round, count] = chunks(b, b, [zero; 3], |[clip, round, count], x, _| {
            split_step::<CLAMP>([clip, round, count], x, quant)
        });
        [clip, round, _mm256_cvtepi32_ps(_mm256_castps_si256(count))]
    }

    /// One chunk of [`split_finite`]: Σ clipped e², Σ rounded e², and the clipped count as
    /// integers (minus the mask).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn split_step<const CLAMP: bool>(
        [clip, round, count]: [&mut __m256; 3],
        x: __m256,
        quant: Quantizer,
    ) {
        let (e, m) = quant.errors::<CLAMP>(x);
        let ee = _mm256_mul_ps(e, e);
        *clip = _mm256_add_ps(*clip, _mm256_and_ps(m, ee));
        *round = _mm256_add_ps(*round, _mm256_andnot_ps(m, ee));
        let n = _mm256_sub_epi32(_mm256_castps_si256(*count), _mm256_castps_si256(m));
        *count = _mm256_castsi256_ps(n);
    }

    /// The split of any block: the portable kernel's steps one for one, NaN and ±∞ included.
    #[inline(never)]
    #[target_feature(enable = "avx2,fma")]
    fn split_any(b: &[f32], q: QuantSpec) -> [__m256; 3] {
        let quant = Quantizer::new(q);
        let zero = _mm256_setzero_ps();
        let one = _mm256_set1_ps(1.0);
        chunks(b, b, [zero; 3], |[clip, round, nclip], x, _| {
            let (e, m) = quant.errors::<true>(x);
            // The portable (c·e)·e and ((1 − c)·e)·e with c ∈ {0, 1}: e·e where the factor is 1,
            // and where it is 0, (0·e)·e, which is e − e (+0, or NaN for e = ±∞ or NaN).
            let (ee, z) = (_mm256_mul_ps(e, e), _mm256_sub_ps(e, e));
            *clip = _mm256_add_ps(*clip, _mm256_blendv_ps(z, ee, m));
            *round = _mm256_add_ps(*round, _mm256_blendv_ps(ee, z, m));
            *nclip = _mm256_add_ps(*nclip, _mm256_and_ps(m, one));
        })
    }

    /// The split alone over one block, as [`block`] computes it.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn split(b: &[f32], q: QuantSpec) -> [[f32; LANES]; 3] {
        let [c, r, n] = split_regs(b, q);
        [store(c), store(r), store(n)]
    }

    /// Σ of each of four registers' lanes in f64, lane by lane in order from −0 (what
    /// [`Folded::of`] gives): the four transposed so that one f64 add takes a lane of each.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sums4(v: [__m256; 4]) -> __m256d {
        let mut acc = _mm256_set1_pd(-0.0);
        let halves = [
            v.map(|r| _mm256_cvtps_pd(_mm256_castps256_ps128(r))),
            v.map(|r| _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(r))),
        ];
        for [r0, r1, r2, r3] in halves {
            let (t0, t1) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
            acc = _mm256_add_pd(acc, _mm256_permute2f128_pd::<0x20>(t0, t2));
            acc = _mm256_add_pd(acc, _mm256_permute2f128_pd::<0x20>(t1, t3));
            acc = _mm256_add_pd(acc, _mm256_permute2f128_pd::<0x31>(t0, t2));
            acc = _mm256_add_pd(acc, _mm256_permute2f128_pd::<0x31>(t1, t3));
        }
        acc
    }

    /// Floats that are never NaN as integers in the same order, −0 below +0: `max_epi32`
    /// (`min_epi32`) of them is [`super::zmax`] ([`super::zmin`]) of the floats. A negative
    /// float's magnitude bits are flipped; the map is its own inverse.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn ordered(v: __m256i) -> __m256i {
        _mm256_xor_si256(v, _mm256_srli_epi32::<1>(_mm256_srai_epi32::<31>(v)))
    }

    /// [`ordered`] of four values.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn ordered4(v: __m128i) -> __m128i {
        _mm_xor_si128(v, _mm_srli_epi32::<1>(_mm_srai_epi32::<31>(v)))
    }

    /// The greatest (`MAX`) or least [`ordered`] lane of each of four registers, as lanes 0–3.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce4<const MAX: bool>(v: [__m256; 4]) -> __m128i {
        let o = v.map(|r| ordered(_mm256_castps_si256(r)));
        let pick = |x: __m256i, y: __m256i| {
            if MAX {
                _mm256_max_epi32(x, y)
            } else {
                _mm256_min_epi32(x, y)
            }
        };
        // In each 128-bit half: [a0·a2, b0·b2, a1·a3, b1·b3], the same of c and d, then
        // [a0·a1·a2·a3, b…, c…, d…]; then the two halves.
        let t0 = pick(
            _mm256_unpacklo_epi32(o[0], o[1]),
            _mm256_unpackhi_epi32(o[0], o[1]),
        );
        let t1 = pick(
            _mm256_unpacklo_epi32(o[2], o[3]),
            _mm256_unpackhi_epi32(o[2], o[3]),
        );
        let u = pick(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
        let (lo, hi) = (_mm256_castsi256_si128(u), _mm256_extracti128_si256::<1>(u));
        if MAX {
            _mm_max_epi32(lo, hi)
        } else {
            _mm_min_epi32(lo, hi)
        }
    }

    /// A pair's totals while its blocks run, in registers: the f64 sums in [`super::Folded`]'s
    /// order (the clipped count as an f64, exact), the maxima [Atol, Rtol, max a, max b] and the
    /// minima [min a, min b, min a, min b] as [`ordered`] integers.
    struct Totals {
        sums: [__m256d; 3],
        maxes: __m128i,
        mins: __m128i,
    }

    impl Totals {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn load(s: &Sums) -> Totals {
            let i = |x: f32| x.to_bits() as i32;
            Totals {
                sums: [
                    _mm256_setr_pd(s.dot, s.aa, s.bb, s.dd),
                    _mm256_setr_pd(s.abs_d, s.sum_a, s.sum_b, s.sq_a),
                    _mm256_setr_pd(s.sq_b, s.clip_e, s.round_e, 0.0),
                ],
                maxes: ordered4(_mm_setr_epi32(
                    i(s.max_abs_d),
                    i(s.max_rtol),
                    i(s.max_a),
                    i(s.max_b),
                )),
                mins: ordered4(_mm_setr_epi32(
                    i(s.min_a),
                    i(s.min_b),
                    i(s.min_a),
                    i(s.min_b),
                )),
            }
        }

        /// Rtol so far, where the next block's Rtol lanes start.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn max_rtol(&self) -> f32 {
            f32::from_bits(_mm_cvtsi128_si32(ordered4(_mm_srli_si128::<4>(self.maxes))) as u32)
        }

        /// Adds one block's registers (what [`regs`] gives) as `Accumulator::apply` adds its
        /// folded lanes: the same f64 additions and the same maxima and minima. True when
        /// Σ(b−a)², Σa² or Σb² is then not finite (the block's non-finite values are counted).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn add(&mut self, v: [__m256; 18]) -> bool {
            let [dot, dd, ad, mx, rt, s_a, q_a, aa, mn_a, mx_a, s_b, q_b, bb, mn_b, mx_b, clip, round, nclip] =
                v;
            let block = [
                sums4([dot, aa, bb, dd]),
                sums4([ad, s_a, s_b, q_a]),
                sums4([q_b, clip, round, nclip]),
            ];
            for (t, b) in self.sums.iter_mut().zip(block) {
                *t = _mm256_add_pd(*t, b);
            }
            self.maxes = _mm_max_epi32(self.maxes, reduce4::<true>([mx, rt, mx_a, mx_b]));
            self.mins = _mm_min_epi32(self.mins, reduce4::<false>([mn_a, mn_b, mn_a, mn_b]));
            let s0 = self.sums[0];
            let z = _mm256_sub_pd(s0, s0);
            _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_UNORD_Q>(z, z)) & 0b1110 != 0
        }

        /// Writes the totals back (the split's only with `SPLIT`).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn store<const SPLIT: bool>(&self, s: &mut Sums) {
            let mut d = [[0f64; 4]; 3];
            for (o, v) in d.iter_mut().zip(self.sums) {
                // SAFETY: `o` holds 4 f64; unaligned store.
                unsafe { _mm256_storeu_pd(o.as_mut_ptr(), v) };
            }
            [s.dot, s.aa, s.bb, s.dd] = d[0];
            [s.abs_d, s.sum_a, s.sum_b, s.sq_a] = d[1];
            s.sq_b = d[2][0];
            if SPLIT {
                s.clip_e = d[2][1];
                s.round_e = d[2][2];
                s.clipped += d[2][3] as u64;
            }
            let mut m = [0i32; 4];
            let f = |x: i32| f32::from_bits(x as u32);
            // SAFETY: `m` holds 4 i32; unaligned store.
            unsafe { _mm_storeu_si128(m.as_mut_ptr() as *mut __m128i, ordered4(self.maxes)) };
            [s.max_abs_d, s.max_rtol, s.max_a, s.max_b] = m.map(f);
            // SAFETY: as above.
            unsafe { _mm_storeu_si128(m.as_mut_ptr() as *mut __m128i, ordered4(self.mins)) };
            [s.min_a, s.min_b] = [f(m[0]), f(m[1])];
        }
    }

    /// One block (at most `BLOCK` elements of each side, equal lengths) through [`regs`] into
    /// the totals; true when its non-finite values are to be counted.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn block_avx2<const SPLIT: bool>(
        t: &mut Totals,
        b: &[f32],
        a: &[f32],
        sa: f32,
        sb: f32,
        q: QuantSpec,
    ) -> bool {
        t.add(regs::<SPLIT>(b, a, sa, sb, q, t.max_rtol()))
    }

    /// The same through [`regs_fused`]. Not inlined: the totals then wait in memory while the
    /// loop has every register (inlined, LLVM kept them in registers and spilled accumulators).
    #[inline(never)]
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
    fn block_avx512<const SPLIT: bool>(
        t: &mut Totals,
        b: &[f32],
        a: &[f32],
        sa: f32,
        sb: f32,
        q: QuantSpec,
    ) -> bool {
        t.add(regs_fused::<SPLIT>(b, a, sa, sb, q, t.max_rtol()))
    }

    /// The metrics over equal-length slices in blocks of [`BLOCK`], added into `s` as
    /// `Accumulator::blocks_portable` adds them: `$block` adds one block to the totals.
    macro_rules! blocks_fn {
        ($(#[$doc:meta])* $name:ident, $features:literal, $block:ident) => {
            $(#[$doc])*
            #[target_feature(enable = $features)]
            pub(super) fn $name(
                s: &mut Sums,
                quant: Option<QuantSpec>,
                b: &[f32],
                a: &[f32],
                sa: f32,
                sb: f32,
            ) {
                #[inline]
                #[target_feature(enable = $features)]
                fn run<const SPLIT: bool>(
                    s: &mut Sums,
                    q: QuantSpec,
                    b: &[f32],
                    a: &[f32],
                    sa: f32,
                    sb: f32,
                ) {
                    let mut t = Totals::load(s);
                    for (bc, ac) in b.chunks(BLOCK).zip(a.chunks(BLOCK)) {
                        if $block::<SPLIT>(&mut t, bc, ac, sa, sb, q) {
                            s.count_nonfinite(bc, ac);
                        }
                    }
                    t.store::<SPLIT>(s);
                }
                match quant {
                    Some(q) => run::<true>(s, q, b, a, sa, sb),
                    None => run::<false>(s, QuantSpec::int8(1.0), b, a, sa, sb),
                }
            }
        };
    }

    blocks_fn!(
        /// The AVX2 kernel: three loops over each (L1-resident) block, [`regs`].
        blocks_avx2,
        "avx2,fma",
        block_avx2
    );

    blocks_fn!(
        /// The same operations in one loop over each block, [`regs_fused`]: AVX-512VL's 32
        /// registers hold its 18 accumulators and constants.
        blocks_avx512,
        "avx2,fma,avx512f,avx512vl",
        block_avx512
    );

    /// One chunk of the difference, x = b and y = a: Σab, Σ(b−a)², Σ|b−a|, Atol, Rtol (0/0 → 0,
    /// x/0 → f32::MAX). A chunk whose |d| < fl(rt·|x|) in every lane skips the division: |d|
    /// is a float below the rounded product, so below the exact one, so |d|/|x| < rt exactly
    /// and the rounded quotient is ≤ rt, which `max_ps` would not take. NaN, x = 0 and
    /// rt·|x| = NaN fail the compare and take the division.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn diff_step(
        [dot, dd, ad, mx, rt]: [&mut __m256; 5],
        x: __m256,
        y: __m256,
        abs_mask: __m256,
        zero: __m256,
        fmax: __m256,
    ) {
        let d = _mm256_sub_ps(x, y);
        *dot = _mm256_add_ps(*dot, _mm256_mul_ps(x, y));
        *dd = _mm256_add_ps(*dd, _mm256_mul_ps(d, d));
        let ad_ = _mm256_and_ps(d, abs_mask);
        *ad = _mm256_add_ps(*ad, ad_);
        *mx = _mm256_max_ps(ad_, *mx);
        let bound = _mm256_mul_ps(*rt, _mm256_and_ps(x, abs_mask));
        if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(ad_, bound)) != 0xff {
            let r = _mm256_and_ps(_mm256_div_ps(d, x), abs_mask);
            let d0 = _mm256_cmp_ps::<_CMP_EQ_OQ>(d, zero);
            let x0 = _mm256_cmp_ps::<_CMP_EQ_OQ>(x, zero);
            let r = _mm256_blendv_ps(r, _mm256_andnot_ps(d0, fmax), x0);
            *rt = _mm256_max_ps(r, *rt);
        }
    }

    /// One chunk of one side v: Σ(v − shift), Σ(v − shift)², Σv², min, max.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn side_step([s, q, vv, mn, mx]: [&mut __m256; 5], v: __m256, shift: __m256) {
        let vs = _mm256_sub_ps(v, shift);
        *s = _mm256_add_ps(*s, vs);
        *q = _mm256_add_ps(*q, _mm256_mul_ps(vs, vs));
        *vv = _mm256_add_ps(*vv, _mm256_mul_ps(v, v));
        *mn = _mm256_min_ps(v, *mn);
        *mx = _mm256_max_ps(v, *mx);
    }

    /// One block's registers (at most `BLOCK` elements of each side, equal lengths): lane `k`
    /// of each holds what lane `k` of the portable kernel's [`Lanes`] holds.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn regs<const SPLIT: bool>(
        b: &[f32],
        a: &[f32],
        sa: f32,
        sb: f32,
        q: QuantSpec,
        rt0: f32,
    ) -> [__m256; 18] {
        let zero = _mm256_setzero_ps();
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let fmax = _mm256_set1_ps(f32::MAX);
        // The difference ([`diff_step`]). Rtol's lanes start at `rt0` (the pair's Rtol so far,
        // which the block's is folded into by a max: the same result).
        let rt0 = _mm256_set1_ps(rt0);
        let init = [zero, zero, zero, zero, rt0];
        let [dot, dd, ad, mx, rt] = chunks(b, a, init, |[dot, dd, ad, mx, rt], x, y| {
            diff_step([dot, dd, ad, mx, rt], x, y, abs_mask, zero, fmax)
        });
        // Each side alone, both in one loop (ten independent sums, so not bound by the adds'
        // latency): shifted sums, Σv² unshifted, range.
        let (sh_a, sh_b) = (_mm256_set1_ps(sa), _mm256_set1_ps(sb));
        let (inf, ninf) = (
            _mm256_set1_ps(f32::INFINITY),
            _mm256_set1_ps(f32::NEG_INFINITY),
        );
        let init = [zero, zero, zero, inf, ninf, zero, zero, zero, inf, ninf];
        let [s_a, q_a, aa, mn_a, mx_a, s_b, q_b, bb, mn_b, mx_b] = chunks(
            a,
            b,
            init,
            |[s_a, q_a, aa, mn_a, mx_a, s_b, q_b, bb, mn_b, mx_b], x, y| {
                side_step([s_a, q_a, aa, mn_a, mx_a], x, sh_a);
                side_step([s_b, q_b, bb, mn_b, mx_b], y, sh_b);
            },
        );
        let [clip, round, nclip] = if SPLIT { split_regs(b, q) } else { [zero; 3] };
        [
            dot, dd, ad, mx, rt, s_a, q_a, aa, mn_a, mx_a, s_b, q_b, bb, mn_b, mx_b, clip, round,
            nclip,
        ]
    }

    /// [`regs`] in one loop over the block: each step does what the three loops do to its
    /// chunk, so every accumulator sees the same operations in the same order. A block with a
    /// non-finite quantization error has its split redone by [`split_any`], as [`split_regs`]
    /// does.
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
    fn regs_fused<const SPLIT: bool>(
        b: &[f32],
        a: &[f32],
        sa: f32,
        sb: f32,
        q: QuantSpec,
        rt0: f32,
    ) -> [__m256; 18] {
        const BIG: i64 = 1 << 22;
        let mut v = if !SPLIT {
            fused::<false, false>(b, a, sa, sb, q, rt0)
        } else if -BIG < q.qmin && q.qmax < BIG {
            fused::<true, false>(b, a, sa, sb, q, rt0)
        } else {
            fused::<true, true>(b, a, sa, sb, q, rt0)
        };
        if SPLIT {
            let (clip, round) = (v[15], v[16]);
            let bad = _mm256_cmp_ps::<_CMP_UNORD_Q>(
                _mm256_sub_ps(clip, clip),
                _mm256_sub_ps(round, round),
            );
            if _mm256_movemask_ps(bad) != 0 {
                [v[15], v[16], v[17]] = split_any(b, q);
            }
        }
        v
    }

    /// The one loop of [`regs_fused`]; the split as [`split_finite`] takes it (`CLAMP` likewise).
    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
    fn fused<const SPLIT: bool, const CLAMP: bool>(
        b: &[f32],
        a: &[f32],
        sa: f32,
        sb: f32,
        q: QuantSpec,
        rt0: f32,
    ) -> [__m256; 18] {
        let zero = _mm256_setzero_ps();
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let fmax = _mm256_set1_ps(f32::MAX);
        let minus_one = _mm256_set1_epi32(-1);
        let (sh_a, sh_b) = (_mm256_set1_ps(sa), _mm256_set1_ps(sb));
        let (inf, ninf) = (
            _mm256_set1_ps(f32::INFINITY),
            _mm256_set1_ps(f32::NEG_INFINITY),
        );
        let quant = Quantizer::new(q);
        let rt0 = _mm256_set1_ps(rt0);
        let init = [
            zero, zero, zero, zero, rt0, zero, zero, zero, inf, ninf, zero, zero, zero, inf, ninf,
            zero, zero, zero,
        ];
        // x is b (the float side), y is a.
        let mut v = chunks(b, a, init, |v, x, y| {
            let [dot, dd, ad, mx, rt, s_a, q_a, aa, mn_a, mx_a, s_b, q_b, bb, mn_b, mx_b, clip, round, count] =
                v;
            diff_step([dot, dd, ad, mx, rt], x, y, abs_mask, zero, fmax);
            side_step([s_a, q_a, aa, mn_a, mx_a], y, sh_a);
            side_step([s_b, q_b, bb, mn_b, mx_b], x, sh_b);
            if SPLIT {
                // [`split_step`] with a mask register: a lane the mask leaves out keeps its sum,
                // which is what adding the +0 of the AND gives (the sums are never −0).
                let (e, kq, kc) = quant.rounded::<CLAMP>(x);
                let m = _mm256_cmp_ps_mask::<_CMP_NEQ_OQ>(kq, kc);
                let ee = _mm256_mul_ps(e, e);
                *clip = _mm256_mask_add_ps(*clip, m, *clip, ee);
                *round = _mm256_mask_add_ps(*round, !m, *round, ee);
                let n = _mm256_mask_sub_epi32(
                    _mm256_castps_si256(*count),
                    m,
                    _mm256_castps_si256(*count),
                    minus_one,
                );
                *count = _mm256_castsi256_ps(n);
            }
        });
        v[17] = _mm256_cvtepi32_ps(_mm256_castps_si256(v[17]));
        v
    }
}

/// The block kernel with wasm simd128 intrinsics, for the whole 8-element chunks of a block (the
/// portable kernel's scalar loop takes the partial last chunk). Lane `k` of the portable kernel is
/// lane `k mod 4` of half `k / 4` here: each half runs over its four elements of every chunk, in
/// order, with the portable kernel's IEEE operations (`pmax(m, v)` is `vmax(m, v)`, `pmin(m, v)`
/// is `vmin(m, v)`); so the bits are the portable kernel's. Four loops per half keep every
/// accumulator in a register: LLVM's own vectorisation of the portable loop kept its fifteen sums
/// in memory (2.3× the SSE2 kernel's time).
#[cfg(target_arch = "wasm32")]
mod simd128 {
    use super::{Lanes, QuantSpec, LANES};
    use core::arch::wasm32::*;

    #[inline(always)]
    fn store(lo: v128, hi: v128) -> [f32; LANES] {
        let mut o = [0f32; LANES];
        // SAFETY: `o` holds 8 f32; wasm loads and stores may be unaligned.
        unsafe {
            v128_store(o.as_mut_ptr() as *mut v128, lo);
            v128_store(o.as_mut_ptr().add(4) as *mut v128, hi);
        }
        o
    }

    /// Runs `step` over elements `8j + half·4 … 8j + half·4 + 3` of `b` and `a` (equal lengths, a
    /// multiple of 8), for every chunk `j` in order.
    #[inline(always)]
    fn half<const N: usize>(
        b: &[f32],
        a: &[f32],
        half: usize,
        mut acc: [v128; N],
        step: impl Fn(&mut [v128; N], v128, v128),
    ) -> [v128; N] {
        debug_assert!(b.len().is_multiple_of(LANES) && a.len() == b.len());
        let mut i = half * 4;
        while i < b.len() {
            // SAFETY: i + 4 <= len of both slices (len a multiple of 8, i ≡ half·4 mod 8).
            let (x, y) = unsafe {
                (
                    v128_load(b.as_ptr().add(i) as *const v128),
                    v128_load(a.as_ptr().add(i) as *const v128),
                )
            };
            step(&mut acc, x, y);
            i += LANES;
        }
        acc
    }

    /// Both halves of one loop.
    #[inline(always)]
    fn both<const N: usize>(
        b: &[f32],
        a: &[f32],
        init: [v128; N],
        step: impl Fn(&mut [v128; N], v128, v128) + Copy,
    ) -> [[f32; LANES]; N] {
        let lo = half(b, a, 0, init, step);
        let hi = half(b, a, 1, init, step);
        std::array::from_fn(|j| store(lo[j], hi[j]))
    }

    /// The error split's lanes over the whole chunks of one block (the float side alone): Σ
    /// clipped e², Σ rounded e², the clipped count. A block whose errors are all finite (nearly
    /// every one) takes a shorter loop, [`split_finite`]; the others take [`split_any`], the
    /// portable kernel's steps one for one.
    #[inline(always)]
    pub(super) fn split(b: &[f32], q: QuantSpec) -> [[f32; LANES]; 3] {
        let v = split_finite(b, q);
        if v[0].iter().chain(&v[1]).all(|x| x.is_finite()) {
            v
        } else {
            split_any(b, q)
        }
    }

    /// A quantizer's constants in registers.
    #[derive(Clone, Copy)]
    struct Quantizer {
        scale: v128,
        inv: v128,
        lo: v128,
        hi: v128,
    }

    impl Quantizer {
        #[inline(always)]
        fn new(q: QuantSpec) -> Quantizer {
            Quantizer {
                scale: f32x4_splat(q.scale as f32),
                inv: f32x4_splat(1.0f32 / q.scale as f32),
                lo: f32x4_splat(q.qmin as f32),
                hi: f32x4_splat(q.qmax as f32),
            }
        }

        /// Four values quantized as the portable kernel does: (kq, kc, e), kq = x/scale clamped
        /// to ±2²² and rounded half to even by adding and subtracting 1.5·2²³, kc = kq clamped to
        /// the bounds, e = kc·scale − x.
        #[inline(always)]
        fn errors(self, x: v128) -> (v128, v128, v128) {
            let (big, magic) = (f32x4_splat(4_194_304.0), f32x4_splat(12_582_912.0));
            let t = f32x4_pmin(
                f32x4_pmax(f32x4_mul(x, self.inv), f32x4_splat(-4_194_304.0)),
                big,
            );
            let kq = f32x4_sub(f32x4_add(t, magic), magic);
            let kc = f32x4_pmin(f32x4_pmax(kq, self.lo), self.hi);
            (kq, kc, f32x4_sub(f32x4_mul(kc, self.scale), x))
        }
    }

    /// The split where every error is finite (and no sum overflows), which [`split`] checks
    /// afterwards: both sums then stay finite and are the portable kernel's bits. There kq and
    /// kc are finite, so `kq ≠ kc` is its `|kq − kc| > 0`; `(c·e)·e` and `((1 − c)·e)·e`, with
    /// c ∈ {0, 1}, are e·e and +0, which an AND with that mask gives; and the clipped count adds
    /// the mask (−1 where clipped) as integers, exact like the portable kernel's f32 sum of 1s
    /// (at most 32 a lane a block), made floats at the end.
    #[inline(always)]
    fn split_finite(b: &[f32], q: QuantSpec) -> [[f32; LANES]; 3] {
        let quant = Quantizer::new(q);
        let zero = f32x4_splat(0.0);
        let [clip, round, count] = both(b, b, [zero; 3], |[clip, round, count], x, _| {
            let (kq, kc, e) = quant.errors(x);
            let m = f32x4_ne(kq, kc);
            let ee = f32x4_mul(e, e);
            *clip = f32x4_add(*clip, v128_and(m, ee));
            *round = f32x4_add(*round, v128_andnot(ee, m));
            *count = i32x4_sub(*count, m);
        });
        [clip, round, count.map(|n| n.to_bits() as i32 as f32)]
    }

    /// The split of any block: the portable kernel's steps one for one, NaN and ±∞ included.
    #[inline(never)]
    fn split_any(b: &[f32], q: QuantSpec) -> [[f32; LANES]; 3] {
        let quant = Quantizer::new(q);
        let zero = f32x4_splat(0.0);
        let one = f32x4_splat(1.0);
        both(b, b, [zero; 3], |[clip, round, nclip], x, _| {
            let (kq, kc, e) = quant.errors(x);
            let c = v128_and(f32x4_gt(f32x4_abs(f32x4_sub(kq, kc)), zero), one);
            *clip = f32x4_add(*clip, f32x4_mul(f32x4_mul(c, e), e));
            let r = f32x4_mul(f32x4_mul(f32x4_sub(one, c), e), e);
            *round = f32x4_add(*round, r);
            *nclip = f32x4_add(*nclip, c);
        })
    }

    /// The whole chunks of one block (`b.len()` a multiple of 8, at most `BLOCK`).
    #[inline(always)]
    pub(super) fn block<const SPLIT: bool>(
        b: &[f32],
        a: &[f32],
        sa: f32,
        sb: f32,
        q: QuantSpec,
    ) -> Lanes {
        let zero = f32x4_splat(0.0);
        let fmax = f32x4_splat(f32::MAX);
        // The difference: Σab, Σ(b−a)², Σ|b−a|, Atol, Rtol (0/0 → 0, x/0 → f32::MAX).
        let [dot, dd, ad, mx, rt] = both(b, a, [zero; 5], |[dot, dd, ad, mx, rt], x, y| {
            let d = f32x4_sub(x, y);
            *dot = f32x4_add(*dot, f32x4_mul(x, y));
            *dd = f32x4_add(*dd, f32x4_mul(d, d));
            let ad_ = f32x4_abs(d);
            *ad = f32x4_add(*ad, ad_);
            *mx = f32x4_pmax(*mx, ad_);
            let r = f32x4_abs(f32x4_div(d, x));
            let r0 = v128_andnot(fmax, f32x4_eq(d, zero));
            let r = v128_bitselect(r0, r, f32x4_eq(x, zero));
            *rt = f32x4_pmax(*rt, r);
        });
        // Each side alone: shifted sums, Σv² unshifted, range.
        let side = |v: &[f32], shift: f32| {
            let sh = f32x4_splat(shift);
            let init = [
                zero,
                zero,
                zero,
                f32x4_splat(f32::INFINITY),
                f32x4_splat(f32::NEG_INFINITY),
            ];
            both(v, v, init, |[s, sq, vv, mn, mx], x, _| {
                let xs = f32x4_sub(x, sh);
                *s = f32x4_add(*s, xs);
                *sq = f32x4_add(*sq, f32x4_mul(xs, xs));
                *vv = f32x4_add(*vv, f32x4_mul(x, x));
                *mn = f32x4_pmin(*mn, x);
                *mx = f32x4_pmax(*mx, x);
            })
        };
        let [s_a, q_a, aa, mn_a, mx_a] = side(a, sa);
        let [s_b, q_b, bb, mn_b, mx_b] = side(b, sb);
        let [clip, round, nclip] = if SPLIT {
            split(b, q)
        } else {
            [[0f32; LANES]; 3]
        };
        Lanes {
            dot,
            dd,
            ad,
            s_a,
            s_b,
            q_a,
            q_b,
            aa,
            bb,
            mx,
            mn_a,
            mx_a,
            mn_b,
            mx_b,
            rt,
            clip,
            round,
            nclip,
        }
    }
}

/// The error split's lanes over `b` (the float side of a block, or its partial last chunk) on
/// the portable kernel, added to `acc` (Σ clipped e², Σ rounded e², the clipped count): lane `k`
/// takes the elements `i ≡ k mod LANES`.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn split_scalar(b: &[f32], q: QuantSpec, acc: [[f32; LANES]; 3]) -> [[f32; LANES]; 3] {
    let [mut clip, mut round, mut nclip] = acc;
    let scale = q.scale as f32;
    let inv = 1.0f32 / scale;
    let (lo, hi) = (q.qmin as f32, q.qmax as f32);
    let mut split = |k: usize, x: f32| {
        // Round half to even without a rounding instruction (SSE2 has none): adding and
        // subtracting 1.5·2²³ rounds exactly like round_ties_even for |t| < 2²², and larger
        // values are clipped anyway.
        let t = vmin(vmax(x * inv, -4_194_304.0), 4_194_304.0);
        let kq = (t + 12_582_912.0) - 12_582_912.0;
        let kc = vmin(vmax(kq, lo), hi);
        let e = kc * scale - x;
        // Ordered: a NaN element is not counted as clipped (it is not finite, and said so by
        // its own finding).
        let c = if (kq - kc).abs() > 0.0 { 1.0f32 } else { 0.0 };
        clip[k] += c * e * e;
        round[k] += (1.0 - c) * e * e;
        nclip[k] += c;
    };
    let full = b.len() / LANES * LANES;
    for bl in b[..full].chunks_exact(LANES) {
        for k in 0..LANES {
            split(k, bl[k]);
        }
    }
    for (k, &x) in b[full..].iter().enumerate() {
        split(k, x);
    }
    [clip, round, nclip]
}

/// A quantizer: `clamp(nearbyint(x · (1/scale)), qmin, qmax) · scale`, as PyTorch's
/// `fake_quantize_per_tensor_affine` (round half to even). With a zero point z, `qmin` and
/// `qmax` are the dtype's bounds minus z (`clamp(round(x/s) + z, 0, 255) − z` is
/// `clamp(round(x/s), −z, 255 − z)`), so the kernels need not know it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantSpec {
    #[serde(with = "crate::engine::num")]
    pub scale: f64,
    pub qmin: i64,
    pub qmax: i64,
    /// The zero point already taken off `qmin` and `qmax` (0: symmetric, and not written).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zero_point: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl QuantSpec {
    pub fn int8(scale: f64) -> QuantSpec {
        QuantSpec {
            scale,
            qmin: -128,
            qmax: 127,
            zero_point: 0,
        }
    }
    pub fn int16(scale: f64) -> QuantSpec {
        QuantSpec {
            scale,
            qmin: -32768,
            qmax: 32767,
            zero_point: 0,
        }
    }
    /// The dtype's own bounds (before the zero point): `(-128, 127)` for int8.
    pub fn dtype_range(&self) -> (i64, i64) {
        (
            self.qmin.saturating_add(self.zero_point),
            self.qmax.saturating_add(self.zero_point),
        )
    }

    /// The grid's dtype name: `int4`, `int8`, `uint8`, `int16` or `uint16`.
    pub fn dtype_name(&self) -> &'static str {
        match self.dtype_range() {
            (0, q) if q > 255 => "uint16",
            (0, _) => "uint8",
            (_, q) if q > 255 => "int16",
            (_, q) if q < 127 => "int4",
            _ => "int8",
        }
    }
}

/// The error energy Σ(b−a)², split into its causes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorSplit {
    /// Σ over clipped elements of (clamp − b)²: values beyond the representable range.
    #[serde(with = "crate::engine::num")]
    pub clip: f64,
    /// Σ over the other elements of (q(b) − b)²: what quantizing the float tensor itself costs.
    #[serde(with = "crate::engine::num")]
    pub round: f64,
    /// The rest, Σ(b−a)² − clip − round (floored at 0): error that arrived from upstream layers.
    #[serde(with = "crate::engine::num")]
    pub inherited: f64,
    /// Share of elements clipped.
    #[serde(with = "crate::engine::num")]
    pub clipped_fraction: f64,
}

/// Everything computed for a pair (the CLI's JSON keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairMetrics {
    pub numel: u64,
    #[serde(with = "crate::engine::num")]
    pub cosine: f64,
    #[serde(with = "crate::engine::num")]
    pub mse: f64,
    #[serde(with = "crate::engine::num")]
    pub l1: f64,
    #[serde(with = "crate::engine::num")]
    pub kl: f64,
    #[serde(with = "crate::engine::num")]
    pub sqnr_db: f64,
    #[serde(with = "crate::engine::num")]
    pub atol: f64,
    #[serde(with = "crate::engine::num")]
    pub rtol: f64,
    #[serde(with = "crate::engine::num")]
    pub base_min: f64,
    #[serde(with = "crate::engine::num")]
    pub base_max: f64,
    #[serde(with = "crate::engine::num")]
    pub base_mean: f64,
    #[serde(with = "crate::engine::num")]
    pub base_var: f64,
    #[serde(with = "crate::engine::num")]
    pub analy_min: f64,
    #[serde(with = "crate::engine::num")]
    pub analy_max: f64,
    #[serde(with = "crate::engine::num")]
    pub analy_mean: f64,
    #[serde(with = "crate::engine::num")]
    pub analy_var: f64,
    #[serde(with = "crate::engine::num")]
    pub max_atol_diff: f64,
    #[serde(default, with = "crate::engine::num::opt")]
    pub max_qscale_diff: Option<f64>,
    pub error_split: Option<ErrorSplit>,
    /// NaN or ±inf elements on the baseline / analysis side.
    pub nonfinite_base: u64,
    pub nonfinite_analy: u64,
    /// How many of those are NaN (the rest are ±inf).
    #[serde(default)]
    pub nan_base: u64,
    #[serde(default)]
    pub nan_analy: u64,
    /// Flat (row-major) index of the first non-finite element on each side.
    #[serde(default)]
    pub first_nonfinite_base: Option<u64>,
    #[serde(default)]
    pub first_nonfinite_analy: Option<u64>,
    /// Fixed-bin histograms of both sides and of the error (second pass; None when skipped).
    #[serde(default)]
    pub hist: Option<Histograms>,
    /// The quantizer used for the split (scale and integer range), when known.
    #[serde(default)]
    pub quant: Option<QuantSpec>,
    /// The float tensor's own quantization error (clip + round) with a min-max scale, at int8 and
    /// int16: the *local* error of the layer, not its sensitivity (second pass).
    #[serde(default)]
    pub local: Option<LocalError>,
    /// Scales each observer picks for the float tensor: (dtype, observer, scale) (second pass).
    #[serde(default)]
    pub observer_scales: Vec<(String, String, f64)>,
    /// What-if for small float tensors (≤ `pairs::GROUPS_MAX_ELEMS`): the error with 1 group and
    /// the best 2- and 4-group splits (where to cut, per-group scales), at int8 and int16.
    #[serde(default)]
    pub groups: Vec<GroupWhatIf>,
    /// Per-channel what-if on the same small tensors: one min-max scale per channel along axis 0
    /// and 1 (weights, activations) against one scale for the tensor.
    #[serde(default)]
    pub channels: Vec<ChannelWhatIf>,
}

/// Per-channel quantization of the float tensor along `axis` on grid `dtype`, beside per tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelWhatIf {
    pub dtype: String,
    pub axis: usize,
    pub channels: usize,
    #[serde(with = "crate::engine::num")]
    pub per_channel_mse: f64,
    #[serde(with = "crate::engine::num")]
    pub per_channel_sqnr_db: f64,
    #[serde(with = "crate::engine::num")]
    pub per_tensor_mse: f64,
    #[serde(with = "crate::engine::num")]
    pub per_tensor_sqnr_db: f64,
}

/// One row of the group-split what-if: `k` contiguous groups on grid `dtype`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupWhatIf {
    pub dtype: String,
    pub k: usize,
    pub split: super::quant::GroupSplit,
}

/// Mean squared error of quantizing the float tensor itself, per dtype (min-max symmetric scale).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocalError {
    #[serde(with = "crate::engine::num")]
    pub int8_mse: f64,
    #[serde(with = "crate::engine::num")]
    pub int16_mse: f64,
    /// 10·log10(Σb² / Σe²) at int8 and int16.
    #[serde(with = "crate::engine::num")]
    pub int8_sqnr_db: f64,
    #[serde(with = "crate::engine::num")]
    pub int16_sqnr_db: f64,
}

/// Value histograms of both sides over one common range, and the error histogram over [−Atol, Atol].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    #[serde(with = "crate::engine::num")]
    pub lo: f64,
    #[serde(with = "crate::engine::num")]
    pub hi: f64,
    pub float: Vec<u64>,
    pub quant: Vec<u64>,
    #[serde(with = "crate::engine::num")]
    pub err_lo: f64,
    #[serde(with = "crate::engine::num")]
    pub err_hi: f64,
    pub err: Vec<u64>,
}

/// Bins of the histograms.
pub const HIST_BINS: usize = 64;

/// Accumulates the histograms and the local errors once the ranges are known (from a first pass).
pub struct HistAccumulator {
    h: Histograms,
    abs: super::quant::AbsHistogram,
    scales: [f32; 2],
    se: [f64; 2],
    ss: f64,
    n: u64,
}

impl HistAccumulator {
    pub fn new(m: &PairMetrics) -> Option<HistAccumulator> {
        let lo = m.base_min.min(m.analy_min);
        let hi = m.base_max.max(m.analy_max);
        if !(lo.is_finite() && hi.is_finite() && m.atol.is_finite()) {
            return None;
        }
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        let e = if m.atol > 0.0 { m.atol } else { 1.0 };
        let amax = m.base_min.abs().max(m.base_max.abs());
        let sc = |dt| super::quant::symmetric_scale(amax, dt) as f32;
        Some(HistAccumulator {
            h: Histograms {
                lo,
                hi,
                float: vec![0; HIST_BINS],
                quant: vec![0; HIST_BINS],
                err_lo: -e,
                err_hi: e,
                err: vec![0; HIST_BINS],
            },
            abs: super::quant::AbsHistogram::new(amax, 2048),
            scales: [
                sc(super::quant::QDType::Int8),
                sc(super::quant::QDType::Int16),
            ],
            se: [0.0; 2],
            ss: 0.0,
            n: 0,
        })
    }

    pub fn update(&mut self, b: &[f32], a: &[f32]) {
        self.abs.update(b);
        let h = &mut self.h;
        let k = HIST_BINS as f64 / (h.hi - h.lo);
        let ke = HIST_BINS as f64 / (h.err_hi - h.err_lo);
        let bin = |v: f64, lo: f64, k: f64| {
            (((v - lo) * k) as isize).clamp(0, HIST_BINS as isize - 1) as usize
        };
        for (&x, &y) in b.iter().zip(a) {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            h.float[bin(x as f64, h.lo, k)] += 1;
            h.quant[bin(y as f64, h.lo, k)] += 1;
            h.err[bin((x - y) as f64, h.err_lo, ke)] += 1;
            for (j, (qmin, qmax)) in [(-128, 127), (-32768, 32767)].into_iter().enumerate() {
                let e = (super::quant::fake_quant(x, self.scales[j], 0, qmin, qmax) - x) as f64;
                self.se[j] += e * e;
            }
            self.ss += (x as f64) * (x as f64);
            self.n += 1;
        }
    }

    /// The scale each observer picks for the float tensor, at int8 and int16.
    pub fn observer_scales(&self) -> Vec<(String, String, f64)> {
        use super::quant::{Observer, QDType};
        let mut out = Vec::new();
        for dt in [QDType::Int8, QDType::Int16] {
            for o in [
                Observer::MinMax,
                Observer::Percentile { p: 0.9999 },
                Observer::Mse,
                Observer::Kl,
            ] {
                if let Ok(s) = o.scale(&self.abs, dt) {
                    out.push((dt.name().to_string(), o.label(), s));
                }
            }
        }
        out
    }

    pub fn finish(self) -> (Histograms, LocalError) {
        let n = self.n.max(1) as f64;
        let db = |se: f64| super::math::sqnr_db(self.ss, se);
        (
            self.h,
            LocalError {
                int8_mse: self.se[0] / n,
                int16_mse: self.se[1] / n,
                int8_sqnr_db: db(self.se[0]),
                int16_sqnr_db: db(self.se[1]),
            },
        )
    }
}

/// Online softmax state of one group: running max, Σe^(x−m), and Σe^(b−m_b)(b−a).
#[derive(Clone, Copy)]
struct Group {
    mb: f64,
    sb: f64,
    t: f64,
    ma: f64,
    sa: f64,
}

impl Group {
    const EMPTY: Group = Group {
        mb: f64::NEG_INFINITY,
        sb: 0.0,
        t: 0.0,
        ma: f64::NEG_INFINITY,
        sa: 0.0,
    };

    fn push(&mut self, b: f64, a: f64) {
        if b > self.mb {
            let r = super::math::exp(self.mb - b);
            self.sb *= r;
            self.t *= r;
            self.mb = b;
        }
        let e = super::math::exp(b - self.mb);
        self.sb += e;
        self.t += e * (b - a);
        if a > self.ma {
            self.sa *= super::math::exp(self.ma - a);
            self.ma = a;
        }
        self.sa += super::math::exp(a - self.ma);
    }

    /// Σ_c p_b (log p_b − log p_a) = t/s_b − lse_b + lse_a.
    fn kl(&self) -> f64 {
        if self.sb == 0.0 {
            return 0.0;
        }
        self.t / self.sb - (self.mb + super::math::ln(self.sb))
            + (self.ma + super::math::ln(self.sa))
    }
}

/// e^x in f32 for x ≤ 64 (the KL kernel keeps to that and never passes NaN: values beyond its
/// range take the exact path), 0 below −87 (where e^x < 1.7e-38: an absolute error under that).
/// Branch-free, so loops over it vectorise (f32x4 on wasm and SSE2, f32x8 with AVX2), where libm's
/// `exp` is a call per element. Cephes' `expf`: x = n·ln2 + r with n = round(x/ln2), |r| ≤ ln2/2
/// (Cody–Waite: ln2 split in a high part whose products with n are exact and a low part), e^r as
/// 1 + r + r²·P₅(r) (Cephes' minimax coefficients), times 2ⁿ built in the exponent bits. Relative
/// error ≤ 2 units in the last place (2.4e-7) against libm's f64 `exp` over [−87, 64]
/// (`tests::exp32_error_bound`); e⁰ = 1 exactly.
#[inline(always)]
pub fn exp32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4; // 0.693359375 exactly: 10 significant bits
    const C2: f32 = -2.121_944_4e-4;
    const SHIFT: f32 = 12_582_912.0; // 1.5·2²³, rounds to an integer in the low bits
    let xc = if x < -87.0 { -87.0 } else { x };
    let kf = xc * LOG2E + SHIFT;
    let n = kf - SHIFT;
    let r = (xc - n * C1) - n * C2;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let p = p * (r * r) + r + 1.0;
    // 2ⁿ: kf's bits are those of 1.5·2²³ plus n; n + 127 shifted into the exponent field.
    let scale = f32::from_bits(kf.to_bits().wrapping_add(127) << 23);
    if x < -87.0 {
        0.0
    } else {
        p * scale
    }
}

/// φ(d) = e^(−d) − 1 + d for |d| ≤ 1/2, without the cancellation of that formula: d²·(1/2 − d/6 +
/// d²/24 − … − d⁷/9!) (the series' next term is under 2e-9 of the sum there). Defined for every d
/// (the kernel computes it on every lane and keeps it where |d| ≤ 1/2).
#[inline(always)]
fn phi_small(d: f32) -> f32 {
    let p = -1.0f32 / 362_880.0;
    let p = p * d + 1.0 / 40_320.0;
    let p = p * d - 1.0 / 5_040.0;
    let p = p * d + 1.0 / 720.0;
    let p = p * d - 1.0 / 120.0;
    let p = p * d + 1.0 / 24.0;
    let p = p * d - 1.0 / 6.0;
    let p = p * d + 0.5;
    p * (d * d)
}

/// The fast kernel's range: |values| ≤ 2⁹⁹ and |b − a| ≤ 30. Then its f32 sums cannot overflow
/// (at most e^30 per value), e/s is at least e^−30 (the group's largest float value carries
/// e^(a−b) into e), and what `exp32` flushes to 0 is negligible against that: when the maximum
/// jumps by more than 87, the old sums it drops are at most e^(30−87) per value relative to the new
/// maximum, under 2e-12 of e/s for 10,000 channels. (With |b − a| up to 64 a jump could drop a
/// sum that mattered: the property test found one.) A run with anything else takes the exact path.
const FAST_MAX: f32 = 6.338_253e29; // 2⁹⁹
const FAST_MAX_DIFF: f32 = 30.0;

/// The softmax states of many groups as a struct of arrays, so that one channel of a run of
/// consecutive groups updates them in a vectorised loop. Per group, relative to the running maximum
/// m of its float values b (and d = b − a): s = Σ e^(b−m), t = Σ e^(b−m)·d, e = Σ e^(a−m) and
/// q = Σ e^(b−m)·φ(d), φ(d) = e^(−d) − 1 + d. With p the float side's softmax,
/// KL = Σ p·d + ln Σ p·e^(−d) = t/s + ln(e/s), and when e/s is near 1 the logarithm is taken as
/// ln(1 + q/s − t/s), which keeps KL's precision relative to KL itself when the two sides are close
/// (there the two terms nearly cancel, and φ, computed from d, carries the difference).
struct KlGroups {
    kernel: Kernel,
    mb: Vec<f32>,
    s: Vec<f32>,
    t: Vec<f32>,
    e: Vec<f32>,
    q: Vec<f32>,
    /// Groups that saw a value outside the fast kernel's range (NaN, ±∞, huge, or a quantized value
    /// far from its float one) continue on the exact f64 recurrence; `None` until one does.
    exact: Option<Exact>,
    /// Each group holds one element (a softmax axis of length 1): both softmaxes are exactly 1, so
    /// a finite group's KL is exactly 0, not the recurrence's rounding (6e-12 for 0.5 vs 0.53).
    single: bool,
}

/// The exact recurrence's groups: `on[g]` once group g has moved to it, and its state.
struct Exact {
    on: Vec<bool>,
    g: Vec<Group>,
}

/// A run's fast states: (m, s, t, e, q) of consecutive groups.
type States<'a> = (
    &'a mut [f32],
    &'a mut [f32],
    &'a mut [f32],
    &'a mut [f32],
    &'a mut [f32],
);

impl KlGroups {
    /// State for `n` groups of `along` elements each.
    fn new(n: usize, along: u64) -> KlGroups {
        KlGroups {
            single: along == 1,
            kernel: Kernel::detect(),
            mb: vec![f32::NEG_INFINITY; n],
            s: vec![0.0; n],
            t: vec![0.0; n],
            e: vec![0.0; n],
            q: vec![0.0; n],
            exact: None,
        }
    }

    /// Adds `b[i]`, `a[i]` to group `g0 + i`. Values in the fast kernel's range go through it (f32
    /// lanes, one [`exp32`] per side and element); a run holding anything else, or a group that
    /// already moved, takes [`Group::push`] (f64, libm `exp`), so non-finite values give what they
    /// gave before.
    fn push_run(&mut self, g0: usize, b: &[f32], a: &[f32]) {
        let n = b.len().min(a.len());
        let (b, a) = (&b[..n], &a[..n]);
        let in_range = b.iter().zip(a).fold(true, |f, (&x, &y)| {
            f & (x.abs() <= FAST_MAX) & (y.abs() <= FAST_MAX) & ((x - y).abs() <= FAST_MAX_DIFF)
        });
        let moved = |ex: &Exact| ex.on[g0..g0 + n].iter().any(|&o| o);
        if in_range && !self.exact.as_ref().is_some_and(moved) {
            let st = (
                &mut self.mb[g0..g0 + n],
                &mut self.s[g0..g0 + n],
                &mut self.t[g0..g0 + n],
                &mut self.e[g0..g0 + n],
                &mut self.q[g0..g0 + n],
            );
            #[cfg(target_arch = "x86_64")]
            if self.kernel.wide() {
                // SAFETY: `kernel` is wide only when `Kernel::available` saw AVX2 and FMA.
                unsafe { push_fast_avx2(st, b, a) };
                return;
            }
            push_fast_portable(st, b, a);
            return;
        }
        let len = self.mb.len();
        let ex = self.exact.get_or_insert_with(|| Exact {
            on: vec![false; len],
            g: vec![Group::EMPTY; len],
        });
        for i in 0..n {
            let k = g0 + i;
            if !ex.on[k] {
                // The fast state in the exact one's terms: Σe^(a−m_a) with m_a = m.
                ex.on[k] = true;
                ex.g[k] = Group {
                    mb: self.mb[k] as f64,
                    sb: self.s[k] as f64,
                    t: self.t[k] as f64,
                    ma: self.mb[k] as f64,
                    sa: self.e[k] as f64,
                };
            }
            ex.g[k].push(b[i] as f64, a[i] as f64);
        }
    }

    /// Σ KL of groups `0..n` in order (groups with no value count 0), which start again empty.
    fn take(&mut self, n: usize) -> f64 {
        let mut total = 0.0;
        for i in 0..n {
            if let Some(ex) = self.exact.as_ref().filter(|ex| ex.on[i]) {
                let g = ex.g[i];
                if g.sb > 0.0 {
                    total += self.settle(g.kl());
                }
                continue;
            }
            let s = self.s[i] as f64;
            if s > 0.0 {
                let m = self.t[i] as f64 / s;
                let v = self.e[i] as f64 / s;
                total += self.settle(if (v - 1.0).abs() <= 0.5 {
                    m + super::math::ln_1p(self.q[i] as f64 / s - m)
                } else {
                    m + super::math::ln(v)
                });
            }
        }
        self.mb[..n].fill(f32::NEG_INFINITY);
        self.s[..n].fill(0.0);
        self.t[..n].fill(0.0);
        self.e[..n].fill(0.0);
        self.q[..n].fill(0.0);
        if let Some(ex) = self.exact.as_mut() {
            ex.on[..n].fill(false);
        }
        total
    }

    /// A group's KL as reported: exactly 0 for a finite one-element group, never below 0.
    #[inline]
    fn settle(&self, kl: f64) -> f64 {
        if self.single && kl.is_finite() {
            0.0
        } else {
            not_below_zero(kl)
        }
    }
}

/// A group's KL is ≥ 0 (Gibbs' inequality); rounding can leave it a few ulps below, e.g.
/// −1.6e-18 for two sides that agree to 1e-6, which a user reads as a bug. Finite negatives become
/// 0 (that only brings the result closer to the exact one); −∞ and NaN (non-finite inputs) stay.
#[inline]
fn not_below_zero(kl: f64) -> f64 {
    if kl < 0.0 && kl.is_finite() {
        0.0
    } else {
        kl
    }
}

/// Elements per block of [`push_fast`]: a block whose every |b − a| is at most ½ (the usual case
/// when a quantized tensor is compared with its float one) takes [`push_block::<true>`], which
/// needs no exponential of the quantized side.
const KL_BLOCK: usize = 64;

/// The fast recurrence over a run (see [`KlGroups`]): of e^(m_old − m_new) and e^(b − m_new) one is
/// e⁰ = 1, so one `exp32(−|b − m|)` for the float side per element. The quantized side's
/// e^(a − m_new) is w·e^(−d) with w = e^(b − m_new): where |d| ≤ ½ it is w·(1 − d + φ(d)), from the
/// φ series the kernel computes there anyway, and elsewhere one more `exp32(a − m_new)`. A block
/// of [`KL_BLOCK`] elements all within ½ skips that second exponential; any other block computes
/// both and keeps, lane by lane, what the first would have given, so every element gets the same
/// bits whichever block it is in (and on every kernel's lane width). Each block its own loop over
/// slices of one length (`&mut` arguments, so known not to overlap): the form LLVM vectorises
/// without run-time checks.
#[inline(always)]
fn push_fast((mb, s, t, e, q): States, b: &[f32], a: &[f32]) {
    let n = b.len().min(a.len());
    let mut i = 0;
    while i < n {
        let j = (i + KL_BLOCK).min(n);
        let (x, y) = (&b[i..j], &a[i..j]);
        let small = x
            .iter()
            .zip(y)
            .fold(true, |f, (&x, &y)| f & ((x - y).abs() <= 0.5));
        let st = (
            &mut mb[i..j],
            &mut s[i..j],
            &mut t[i..j],
            &mut e[i..j],
            &mut q[i..j],
        );
        if small {
            push_block::<true>(st, x, y);
        } else {
            push_block::<false>(st, x, y);
        }
        i = j;
    }
}

/// One block of [`push_fast`]; `SMALL`: every |b − a| in it is at most ½.
#[inline(always)]
fn push_block<const SMALL: bool>((mb, s, t, e, q): States, b: &[f32], a: &[f32]) {
    let n = b.len();
    let (mb, s, t, e, q, a) = (
        &mut mb[..n],
        &mut s[..n],
        &mut t[..n],
        &mut e[..n],
        &mut q[..n],
        &a[..n],
    );
    for i in 0..n {
        let (x, y, m) = (b[i], a[i], mb[i]);
        let up = x > m;
        let mn = if up { x } else { m };
        let z = exp32(-(x - m).abs());
        let r = if up { z } else { 1.0 };
        let w = if up { 1.0 } else { z };
        let d = x - y;
        let ps = phi_small(d);
        // w·e^(−d) = w·(1 − d + φ(d)) where |d| ≤ ½.
        let ea_small = w * ((1.0 - d) + ps);
        let (ea, phi) = if SMALL {
            (ea_small, w * ps)
        } else {
            let ea_big = exp32(y - mn);
            if d.abs() <= 0.5 {
                (ea_small, w * ps)
            } else {
                (ea_big, (ea_big - w) + w * d)
            }
        };
        mb[i] = mn;
        s[i] = s[i] * r + w;
        t[i] = t[i] * r + w * d;
        e[i] = e[i] * r + ea;
        q[i] = q[i] * r + phi;
    }
}

/// One channel of a run on the portable kernel (SSE2, simd128: four f32 lanes).
#[inline(never)]
fn push_fast_portable(st: States, b: &[f32], a: &[f32]) {
    push_fast(st, b, a);
}

/// The same compiled for AVX2 (eight f32 lanes): the same IEEE operations (no FMA), the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn push_fast_avx2(st: States, b: &[f32], a: &[f32]) {
    push_fast(st, b, a);
}

/// Groups per tile when a chunk holds several whole channels: each tile's state (20 bytes per
/// group, 10 KiB) stays in L1 while every channel of the chunk passes over it.
const KL_TILE: usize = 512;

/// The largest number of softmax groups KL keeps state for at once (20 bytes each, 5 MiB, and 41
/// more for groups that took the exact path);
/// more (huge spatial maps) are handled by [`kl_windowed`] in windows of this size.
pub const KL_MAX_GROUPS: u64 = 1 << 18;

/// (outer, along, inner) of the softmax dimension: 1 if ndim > 2 else the last; inner = elements
/// between two consecutive values along it (C order: dims after; Fortran: dims before).
/// The product of some dimensions, saturating: a tensor with a 0 dimension holds no element
/// whatever its other dimensions claim, and their product may pass u64 (a `.npy` of shape
/// `(0, 3, 4877901303051132008, 5)` is valid and empty).
pub fn dims_product(dims: &[u64]) -> u64 {
    dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
}

pub fn kl_layout(shape: &[u64], fortran: bool) -> (u64, u64, u64) {
    let nd = shape.len();
    if nd == 0 {
        return (1, 1, 1);
    }
    let dim = if nd > 2 { 1 } else { nd - 1 };
    let (inner, outer): (u64, u64) = if fortran {
        (dims_product(&shape[..dim]), dims_product(&shape[dim + 1..]))
    } else {
        (dims_product(&shape[dim + 1..]), dims_product(&shape[..dim]))
    };
    (outer.max(1), shape[dim].max(1), inner.max(1))
}

/// Reads `n` elements of both tensors at a flat position into the two buffers.
pub type RangeReader<'a> =
    dyn FnMut(u64, usize, &mut Vec<f32>, &mut Vec<f32>) -> Result<(), String> + 'a;

/// KL over huge tensors with bounded memory: softmax groups are taken in windows of
/// [`KL_MAX_GROUPS`], reading for each window the contiguous runs that belong to it.
/// `read(start_elem, n, out_b, out_a)` reads n elements of both tensors at a flat position.
pub fn kl_windowed(shape: &[u64], fortran: bool, read: &mut RangeReader) -> Result<f64, String> {
    kl_windowed_with(shape, fortran, KL_MAX_GROUPS, read)
}

/// [`kl_windowed`] with a given window (tests use small ones).
pub fn kl_windowed_with(
    shape: &[u64],
    fortran: bool,
    window: u64,
    read: &mut RangeReader,
) -> Result<f64, String> {
    let window = window.max(1);
    let (outer, along, inner) = kl_layout(shape, fortran);
    let n: u64 = dims_product(shape);
    if n == 0 {
        return Ok(f64::NAN);
    }
    let mut total = 0.0;
    let (mut b, mut a) = (Vec::new(), Vec::new());
    let mut groups = KlGroups::new(inner.min(window) as usize, along);
    let mut r0 = 0u64;
    while r0 < inner {
        let w = (inner - r0).min(window) as usize;
        for o in 0..outer {
            for c in 0..along {
                read((o * along + c) * inner + r0, w, &mut b, &mut a)?;
                let n = w.min(b.len()).min(a.len());
                groups.push_run(0, &b[..n], &a[..n]);
            }
            total += groups.take(w);
        }
        r0 += w as u64;
    }
    Ok(total / n as f64)
}

/// KL of a run of consecutive softmax groups fed channel by channel (a part of a pair compared
/// in parts, see `pairs::compare_part`): the same kernel and recurrence as the single pass.
pub struct KlRuns {
    groups: KlGroups,
}

impl KlRuns {
    /// State for up to `groups` groups of `along` elements each (20 bytes each; 41 more once one
    /// takes the exact path).
    pub fn new(groups: usize, along: u64) -> KlRuns {
        KlRuns {
            groups: KlGroups::new(groups, along),
        }
    }

    /// `rows` consecutive channels of groups `0..w` (`b`, `a` hold `rows · w` values, channel
    /// after channel), tiled so that each tile's state stays in cache while the channels pass.
    pub fn push_rows(&mut self, b: &[f32], a: &[f32], rows: usize, w: usize) {
        for g0 in (0..w).step_by(KL_TILE) {
            let g1 = (g0 + KL_TILE).min(w);
            for r in 0..rows {
                let (s, e) = (r * w + g0, r * w + g1);
                if e <= b.len() && e <= a.len() {
                    self.groups.push_run(g0, &b[s..e], &a[s..e]);
                }
            }
        }
    }

    /// Σ KL of groups `0..w`, which start again empty.
    pub fn take(&mut self, w: usize) -> f64 {
        self.groups.take(w)
    }
}

/// KL accumulator: groups are the softmax slices along `dim` (1 if ndim > 2, else the last).
pub(crate) struct Kl {
    inner: u64,
    along: u64,
    groups: KlGroups,
    pos: u64,
    pub(crate) total: f64,
}

impl Kl {
    pub(crate) fn new(shape: &[u64], fortran: bool) -> Kl {
        let nd = shape.len();
        let (inner, along) = if nd == 0 {
            (1, 1)
        } else {
            let dim = if nd > 2 { 1 } else { nd - 1 };
            let inner: u64 = if fortran {
                dims_product(&shape[..dim])
            } else {
                dims_product(&shape[dim + 1..])
            };
            (inner.max(1), shape[dim].max(1))
        };
        Kl {
            inner,
            along,
            groups: KlGroups::new(inner.min(1 << 26) as usize, along),
            pos: 0,
            total: 0.0,
        }
    }

    pub(crate) fn push(&mut self, mut b: &[f32], mut a: &[f32]) {
        let (inner, slab) = (self.inner, self.inner * self.along);
        while !b.is_empty() && !a.is_empty() {
            let len = b.len().min(a.len()) as u64;
            let to_slab_end = slab - self.pos % slab;
            let rows = (len.min(to_slab_end) / inner) as usize;
            if self.pos.is_multiple_of(inner) && rows >= 2 {
                // Several whole channels of the same groups: tile by groups, so each tile's state
                // stays in cache while the channels pass over it. Every group still sees its
                // values in channel order, as the plain order gives them.
                let w = inner as usize;
                for g0 in (0..w).step_by(KL_TILE) {
                    let g1 = (g0 + KL_TILE).min(w);
                    for r in 0..rows {
                        let (s, e) = (r * w + g0, r * w + g1);
                        self.groups.push_run(g0, &b[s..e], &a[s..e]);
                    }
                }
                let n = rows * w;
                self.pos += n as u64;
                if self.pos.is_multiple_of(slab) {
                    self.flush();
                }
                b = &b[n..];
                a = &a[n..];
                continue;
            }
            // Runs of consecutive groups (no division per element): up to the last group, the
            // end of the slab (where its groups end) or the end of the data.
            let g = (self.pos % inner) as usize;
            let n = ((inner as usize - g) as u64).min(to_slab_end).min(len) as usize;
            self.groups.push_run(g, &b[..n], &a[..n]);
            self.pos += n as u64;
            if self.pos.is_multiple_of(slab) {
                self.flush();
            }
            b = &b[n..];
            a = &a[n..];
        }
    }

    pub(crate) fn flush(&mut self) {
        let n = self.groups.mb.len();
        self.total += self.groups.take(n);
    }
}

/// The sums a comparison keeps (f64, flushed from the kernel's f32 lanes block by block), its
/// extremes and counts: [`Accumulator`]'s state, and as data a part's share ([`AccPart`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sums {
    pub n: u64,
    dot: f64,
    aa: f64,
    bb: f64,
    dd: f64,
    abs_d: f64,
    sum_a: f64,
    sum_b: f64,
    sq_a: f64,
    sq_b: f64,
    shift_a: Option<f32>,
    shift_b: Option<f32>,
    max_abs_d: f32,
    max_rtol: f32,
    min_a: f32,
    max_a: f32,
    min_b: f32,
    max_b: f32,
    nonfinite_a: u64,
    nonfinite_b: u64,
    /// The NaN among the non-finite values.
    nan_a: u64,
    nan_b: u64,
    /// Flat index of the first non-finite value on each side.
    first_nonfinite_a: Option<u64>,
    first_nonfinite_b: Option<u64>,
    clip_e: f64,
    round_e: f64,
    clipped: u64,
}

impl Sums {
    /// Counts a block's non-finite values (once Σ(b−a)², Σa² or Σb² is not finite: before that
    /// there are none).
    fn count_nonfinite(&mut self, b: &[f32], a: &[f32]) {
        self.nonfinite_a += a.iter().filter(|v| !v.is_finite()).count() as u64;
        self.nonfinite_b += b.iter().filter(|v| !v.is_finite()).count() as u64;
        self.nan_a += a.iter().filter(|v| v.is_nan()).count() as u64;
        self.nan_b += b.iter().filter(|v| v.is_nan()).count() as u64;
    }

    const EMPTY: Sums = Sums {
        n: 0,
        dot: 0.0,
        aa: 0.0,
        bb: 0.0,
        dd: 0.0,
        abs_d: 0.0,
        sum_a: 0.0,
        sum_b: 0.0,
        sq_a: 0.0,
        sq_b: 0.0,
        shift_a: None,
        shift_b: None,
        max_abs_d: 0.0,
        max_rtol: 0.0,
        min_a: f32::INFINITY,
        max_a: f32::NEG_INFINITY,
        min_b: f32::INFINITY,
        max_b: f32::NEG_INFINITY,
        nonfinite_a: 0,
        nonfinite_b: 0,
        nan_a: 0,
        nan_b: 0,
        first_nonfinite_a: None,
        first_nonfinite_b: None,
        clip_e: 0.0,
        round_e: 0.0,
        clipped: 0,
    };
}

/// One part's sums of a pair compared in parts (on several workers), with the part's Σ of its
/// softmax groups' KL. Merged by [`Accumulator::merged`]. Its first non-finite indices are flat
/// indices into the whole tensor: [`Accumulator::into_part`] gives them from the part's own start
/// (place a contiguous part with [`AccPart::at_flat_offset`]); a part read in pieces
/// (`pairs::PartRun`) sets them read by read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccPart {
    pub sums: Sums,
    /// Σ over the part's softmax groups of their KL (NaN: not computed).
    pub kl_total: f64,
}

impl AccPart {
    /// This part's first non-finite indices moved by `start`: a contiguous part that began at
    /// flat element `start`.
    pub fn at_flat_offset(mut self, start: u64) -> AccPart {
        self.sums.first_nonfinite_a = self.sums.first_nonfinite_a.map(|i| start + i);
        self.sums.first_nonfinite_b = self.sums.first_nonfinite_b.map(|i| start + i);
        self
    }

    /// Set each side's first non-finite flat index (a part read in pieces knows them read by read).
    pub fn with_first_nonfinite(mut self, float: Option<u64>, quant: Option<u64>) -> AccPart {
        self.sums.first_nonfinite_b = float;
        self.sums.first_nonfinite_a = quant;
        self
    }
}

/// One part's histogram sums (the second pass of a pair compared in parts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistPart {
    float: Vec<u64>,
    quant: Vec<u64>,
    err: Vec<u64>,
    abs_bins: Vec<u64>,
    abs_count: u64,
    se: [f64; 2],
    ss: f64,
    n: u64,
}

impl HistAccumulator {
    /// This part's sums, for [`HistAccumulator::absorb`] on another worker.
    pub fn part(self) -> HistPart {
        HistPart {
            float: self.h.float,
            quant: self.h.quant,
            err: self.h.err,
            abs_bins: self.abs.bins,
            abs_count: self.abs.count,
            se: self.se,
            ss: self.ss,
            n: self.n,
        }
    }

    /// Add another part's sums (made with `HistAccumulator::new` of the same metrics): counts
    /// add exactly, the energies to within rounding.
    pub fn absorb(&mut self, p: &HistPart) {
        let add = |d: &mut Vec<u64>, s: &Vec<u64>| d.iter_mut().zip(s).for_each(|(d, s)| *d += s);
        add(&mut self.h.float, &p.float);
        add(&mut self.h.quant, &p.quant);
        add(&mut self.h.err, &p.err);
        add(&mut self.abs.bins, &p.abs_bins);
        self.abs.count += p.abs_count;
        self.se[0] += p.se[0];
        self.se[1] += p.se[1];
        self.ss += p.ss;
        self.n += p.n;
    }
}

/// The streaming accumulator. Feed aligned chunks of both tensors with [`Accumulator::update`].
pub struct Accumulator {
    s: Sums,
    quant: Option<QuantSpec>,
    kl: Option<Kl>,
    kernel: Kernel,
}

impl Accumulator {
    /// `shape` and `fortran` place the KL softmax groups; `quant` enables the error split.
    pub fn new(
        shape: &[u64],
        fortran: bool,
        quant: Option<QuantSpec>,
        with_kl: bool,
    ) -> Accumulator {
        Accumulator {
            s: Sums::EMPTY,
            quant,
            // Huge softmax groups go to `kl_windowed` (bounded memory) instead.
            kl: (with_kl && kl_layout(shape, fortran).2 <= KL_MAX_GROUPS)
                .then(|| Kl::new(shape, fortran)),
            kernel: Kernel::detect(),
        }
    }

    /// This accumulator's sums as a part of a pair compared in parts, with `kl_total` the Σ of
    /// the KL of the part's softmax groups (the accumulator's own, if it keeps KL, else given).
    pub fn into_part(mut self, kl_total: Option<f64>) -> AccPart {
        let kl_total = match (kl_total, self.kl.as_mut()) {
            (Some(t), _) => t,
            (None, Some(k)) => {
                k.flush();
                k.total
            }
            (None, None) => f64::NAN,
        };
        AccPart {
            sums: self.s,
            kl_total,
        }
    }

    /// The metrics of a pair compared in parts, from its parts in order (the first holds the
    /// tensor's first element, whose values are the shifts a whole comparison takes). Sums add,
    /// extremes and counts combine exactly; the shifted sums are re-centred on the first part's
    /// shifts (Σ(x−s) = Σ(x−p) + n(p−s), Σ(x−s)² = Σ(x−p)² + 2(p−s)Σ(x−p) + n(p−s)²). Equal to
    /// a whole comparison to within rounding (the same values summed in another order); KL is
    /// NaN if a part has none.
    pub fn merged(parts: &[AccPart], quant: Option<QuantSpec>) -> PairMetrics {
        let mut acc = Accumulator::new(&[], false, quant, false);
        let mut kl = 0.0;
        for p in parts {
            kl += p.kl_total;
            if p.sums.n == 0 {
                continue;
            }
            // The part's shift minus the merged one (the first part's).
            let offset = |mine: &mut Option<f32>, theirs: Option<f32>| {
                let theirs = theirs.unwrap_or(0.0);
                theirs as f64 - *mine.get_or_insert(theirs) as f64
            };
            let da = offset(&mut acc.s.shift_a, p.sums.shift_a);
            let db = offset(&mut acc.s.shift_b, p.sums.shift_b);
            let n = p.sums.n as f64;
            acc.s.sq_a += p.sums.sq_a + 2.0 * da * p.sums.sum_a + n * da * da;
            acc.s.sum_a += p.sums.sum_a + n * da;
            acc.s.sq_b += p.sums.sq_b + 2.0 * db * p.sums.sum_b + n * db * db;
            acc.s.sum_b += p.sums.sum_b + n * db;
            // A part's first non-finite indices are flat (see `AccPart::at_flat_offset`).
            let first = |mine: &mut Option<u64>, theirs: Option<u64>| {
                *mine = match (*mine, theirs) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
            };
            first(&mut acc.s.first_nonfinite_a, p.sums.first_nonfinite_a);
            first(&mut acc.s.first_nonfinite_b, p.sums.first_nonfinite_b);
            acc.s.n += p.sums.n;
            acc.s.dot += p.sums.dot;
            acc.s.aa += p.sums.aa;
            acc.s.bb += p.sums.bb;
            acc.s.dd += p.sums.dd;
            acc.s.abs_d += p.sums.abs_d;
            acc.s.max_abs_d = zmax(acc.s.max_abs_d, p.sums.max_abs_d);
            acc.s.max_rtol = zmax(acc.s.max_rtol, p.sums.max_rtol);
            acc.s.min_a = zmin(acc.s.min_a, p.sums.min_a);
            acc.s.max_a = zmax(acc.s.max_a, p.sums.max_a);
            acc.s.min_b = zmin(acc.s.min_b, p.sums.min_b);
            acc.s.max_b = zmax(acc.s.max_b, p.sums.max_b);
            acc.s.nonfinite_a += p.sums.nonfinite_a;
            acc.s.nonfinite_b += p.sums.nonfinite_b;
            acc.s.nan_a += p.sums.nan_a;
            acc.s.nan_b += p.sums.nan_b;
            acc.s.clip_e += p.sums.clip_e;
            acc.s.round_e += p.sums.round_e;
            acc.s.clipped += p.sums.clipped;
        }
        let n = acc.s.n;
        let mut m = acc.finish();
        m.kl = if n > 0 { kl / n as f64 } else { f64::NAN };
        m
    }

    /// Runs the given copy of the kernel (tests and benchmarks compare them); one this CPU
    /// cannot run falls back to [`Kernel::Portable`].
    pub fn with_kernel(mut self, kernel: Kernel) -> Accumulator {
        self.kernel = if kernel.available() {
            kernel
        } else {
            Kernel::Portable
        };
        if let Some(kl) = self.kl.as_mut() {
            kl.groups.kernel = self.kernel;
        }
        self
    }

    /// Non-finite values seen so far: (float side, quantized side).
    pub fn nonfinite_counts(&self) -> (u64, u64) {
        (self.s.nonfinite_b, self.s.nonfinite_a)
    }

    /// The copy of the kernel this accumulator runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Add the next aligned elements: `b` from the float (baseline) tensor, `a` from the quantized one.
    pub fn update(&mut self, b: &[f32], a: &[f32]) {
        let len = b.len().min(a.len());
        let (b, a) = (&b[..len], &a[..len]);
        if len == 0 {
            return;
        }
        // Shifts keep the variance sums well conditioned (values far from 0).
        let sa = *self
            .s
            .shift_a
            .get_or_insert(if a[0].is_finite() { a[0] } else { 0.0 });
        let sb = *self
            .s
            .shift_b
            .get_or_insert(if b[0].is_finite() { b[0] } else { 0.0 });
        let seen = (self.s.nonfinite_a, self.s.nonfinite_b);
        self.blocks(b, a, sa, sb);
        // Where the first non-finite value sits (found once per side: a scan of this slice only).
        let first = |mine: &mut Option<u64>, grew: bool, v: &[f32], at: u64| {
            if grew && mine.is_none() {
                *mine = v.iter().position(|x| !x.is_finite()).map(|i| at + i as u64);
            }
        };
        first(
            &mut self.s.first_nonfinite_a,
            self.s.nonfinite_a > seen.0,
            a,
            self.s.n,
        );
        first(
            &mut self.s.first_nonfinite_b,
            self.s.nonfinite_b > seen.1,
            b,
            self.s.n,
        );
        if let Some(kl) = self.kl.as_mut() {
            kl.push(b, a);
        }
        self.s.n += len as u64;
    }

    /// The error split alone over float values `b` (the other sums untouched): what
    /// `update(b, b)` adds to the split, bit for bit (the same blocks, lanes and kernel), for a
    /// changed scale, whose split depends on the float side only.
    pub fn update_split(&mut self, b: &[f32]) {
        let Some(q) = self.quant else {
            self.s.n += b.len() as u64;
            return;
        };
        let sum = |v: &[f32; LANES]| v.iter().map(|&x| x as f64).sum::<f64>();
        for bc in b.chunks(BLOCK) {
            #[cfg(target_arch = "x86_64")]
            let [clip, round, nclip] = if self.kernel.wide() {
                // SAFETY: `kernel` is wide only when `Kernel::available` saw AVX2 and FMA.
                unsafe { avx2::split(bc, q) }
            } else {
                split_scalar(bc, q, [[0.0; LANES]; 3])
            };
            #[cfg(target_arch = "wasm32")]
            let [clip, round, nclip] = {
                let full = bc.len() / LANES * LANES;
                split_scalar(&bc[full..], q, simd128::split(&bc[..full], q))
            };
            #[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
            let [clip, round, nclip] = split_scalar(bc, q, [[0.0; LANES]; 3]);
            self.s.clip_e += sum(&clip);
            self.s.round_e += sum(&round);
            self.s.clipped += sum(&nclip) as u64;
        }
        self.s.n += b.len() as u64;
    }

    /// Runs the chosen copy of the kernel over equal-length slices.
    fn blocks(&mut self, b: &[f32], a: &[f32], sa: f32, sb: f32) {
        // SAFETY: `kernel` is `Avx2` (`Avx512`) only when `Kernel::available` saw AVX2 and FMA
        // (and AVX-512F and VL) on this CPU (`Accumulator::new` via `Kernel::detect`, or
        // `with_kernel`).
        #[cfg(target_arch = "x86_64")]
        match self.kernel {
            Kernel::Avx2 => {
                return unsafe { avx2::blocks_avx2(&mut self.s, self.quant, b, a, sa, sb) }
            }
            Kernel::Avx512 => {
                return unsafe { avx2::blocks_avx512(&mut self.s, self.quant, b, a, sa, sb) }
            }
            Kernel::Portable => {}
        }
        self.blocks_portable(b, a, sa, sb);
    }

    fn blocks_portable(&mut self, b: &[f32], a: &[f32], sa: f32, sb: f32) {
        for (bc, ac) in b.chunks(BLOCK).zip(a.chunks(BLOCK)) {
            match self.quant {
                Some(q) => self.block_impl::<true>(bc, ac, sa, sb, q),
                None => self.block_impl::<false>(bc, ac, sa, sb, QuantSpec::int8(1.0)),
            }
        }
    }

    /// The fused kernel: every sum in f32 lanes over one block, flushed to f64. Branch-free so it
    /// vectorises; `SPLIT` adds the error split (quantize b, classify clipped, accumulate energies).
    /// Lanes are indexed on purpose: each `k` is one SIMD lane.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn block_impl<const SPLIT: bool>(
        &mut self,
        b: &[f32],
        a: &[f32],
        sa: f32,
        sb: f32,
        q: QuantSpec,
    ) {
        let full = b.len() / LANES * LANES;
        // On wasm the whole chunks go to the simd128 kernel (the same operations on the same
        // lanes); the scalar steps below then take only the partial last chunk.
        #[cfg(target_arch = "wasm32")]
        let (start, vb, va) = (
            simd128::block::<SPLIT>(&b[..full], &a[..full], sa, sb, q),
            &b[..0],
            &a[..0],
        );
        #[cfg(not(target_arch = "wasm32"))]
        let (start, vb, va) = (Lanes::EMPTY, &b[..full], &a[..full]);
        let Lanes {
            mut dot,
            mut dd,
            mut ad,
            mut s_a,
            mut s_b,
            mut q_a,
            mut q_b,
            mut aa,
            mut bb,
            mut mx,
            mut mn_a,
            mut mx_a,
            mut mn_b,
            mut mx_b,
            mut rt,
            mut clip,
            mut round,
            mut nclip,
        } = start;
        let mut step = |k: usize, x: f32, y: f32| {
            let d = x - y;
            dot[k] += x * y;
            dd[k] += d * d;
            ad[k] += d.abs();
            let (ya, xb) = (y - sa, x - sb);
            s_a[k] += ya;
            s_b[k] += xb;
            q_a[k] += ya * ya;
            q_b[k] += xb * xb;
            // Σa², Σb² unshifted for the norms: recovering them from the shifted sums cancels
            // catastrophically when the first value is far from the rest (a softmax row: Cosine > 1).
            aa[k] += y * y;
            bb[k] += x * x;
            mx[k] = vmax(mx[k], d.abs());
            mn_a[k] = vmin(mn_a[k], y);
            mx_a[k] = vmax(mx_a[k], y);
            mn_b[k] = vmin(mn_b[k], x);
            mx_b[k] = vmax(mx_b[k], x);
            // Rtol = |(b−a)/b| with 0/0 → 0 and x/0 → float32 max (torch.nan_to_num), branch-free.
            let r = (d / x).abs();
            let r = if x == 0.0 {
                if d == 0.0 {
                    0.0
                } else {
                    f32::MAX
                }
            } else {
                r
            };
            rt[k] = vmax(rt[k], r);
        };
        for (bl, al) in vb.chunks_exact(LANES).zip(va.chunks_exact(LANES)) {
            for k in 0..LANES {
                step(k, bl[k], al[k]);
            }
        }
        for (k, (&x, &y)) in b[full..].iter().zip(&a[full..]).enumerate() {
            step(k, x, y);
        }
        // The split in its own loop over the same (L1-resident) block: few accumulators, no spills.
        if SPLIT {
            // What the vector kernel left to the scalar steps: all of it natively, the partial
            // last chunk on wasm.
            let from = full - vb.len();
            [clip, round, nclip] = split_scalar(&b[from..], q, [clip, round, nclip]);
        }
        let l = Lanes {
            dot,
            dd,
            ad,
            s_a,
            s_b,
            q_a,
            q_b,
            aa,
            bb,
            mx,
            mn_a,
            mx_a,
            mn_b,
            mx_b,
            rt,
            clip,
            round,
            nclip,
        };
        self.flush::<SPLIT>(&l, b, a);
    }

    /// Adds one block's lanes into the f64 totals (the same for every kernel).
    #[inline(always)]
    fn flush<const SPLIT: bool>(&mut self, l: &Lanes, b: &[f32], a: &[f32]) {
        self.apply::<SPLIT>(&Folded::of(l), b, a);
    }

    /// Adds one block's folded lanes into the totals.
    #[inline(always)]
    fn apply<const SPLIT: bool>(&mut self, f: &Folded, b: &[f32], a: &[f32]) {
        let [dot, aa, bb, dd] = f.sums[0];
        let [ad, sum_a, sum_b, sq_a] = f.sums[1];
        let [sq_b, clip, round, nclip] = f.sums[2];
        self.s.dot += dot;
        self.s.aa += aa;
        self.s.bb += bb;
        self.s.dd += dd;
        self.s.abs_d += ad;
        self.s.sum_a += sum_a;
        self.s.sum_b += sum_b;
        self.s.sq_a += sq_a;
        self.s.sq_b += sq_b;
        if SPLIT {
            self.s.clip_e += clip;
            self.s.round_e += round;
            self.s.clipped += nclip as u64;
        }
        let [mx, rt, mx_a, mx_b] = f.maxes;
        let [mn_a, mn_b] = f.mins;
        self.s.max_abs_d = zmax(self.s.max_abs_d, mx);
        self.s.max_rtol = zmax(self.s.max_rtol, rt);
        self.s.min_a = zmin(self.s.min_a, mn_a);
        self.s.max_a = zmax(self.s.max_a, mx_a);
        self.s.min_b = zmin(self.s.min_b, mn_b);
        self.s.max_b = zmax(self.s.max_b, mx_b);
        // NaN never wins a max/min: count non-finite values separately.
        if !(self.s.dd.is_finite() && self.s.bb.is_finite() && self.s.aa.is_finite()) {
            self.s.count_nonfinite(b, a);
        }
    }

    pub fn finish(mut self) -> PairMetrics {
        let n = self.s.n as f64;
        let nan = f64::NAN;
        let eps = 1e-8f64;
        let (na, nb) = (self.s.aa.sqrt(), self.s.bb.sqrt());
        // 1 − cos from the difference: ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b gives
        // 1 − cos = (‖a−b‖² − (‖a‖ − ‖b‖)²) / (2‖a‖‖b‖). Near cos = 1 (an int16 pair's 1 − cos
        // is 1e-9) a·b / (‖a‖‖b‖) is the ratio of two nearly equal sums, each a few units of
        // f32 rounding off, so 1 − cos read from it is noise below about 1e-7; Σ(b−a)² keeps
        // its own relative precision. Equal to the ratio elsewhere (both to about 1e-7). Both
        // norms zero (torch's 0) or a sum not finite: the ratio. Rounding can put |cos| a hair
        // past 1: clamp it.
        let cosine = if self.s.n == 0 {
            nan
        } else if na > eps && nb > eps && (self.s.dd + self.s.dot).is_finite() {
            let gap = na - nb;
            (1.0 - (self.s.dd - gap * gap) / (2.0 * na * nb)).clamp(-1.0, 1.0)
        } else {
            (self.s.dot / (na.max(eps) * nb.max(eps))).clamp(-1.0, 1.0)
        };
        let sqnr_db = if self.s.n == 0 {
            nan
        } else if self.s.dd == 0.0 {
            f64::INFINITY
        } else {
            20.0 * super::math::log10(nb / self.s.dd.sqrt())
        };
        let var = |sum: f64, sq: f64| {
            if self.s.n > 1 {
                (sq - sum * sum / n) / (n - 1.0)
            } else {
                nan
            }
        };
        let kl = match self.kl.as_mut() {
            Some(k) => {
                k.flush();
                if self.s.n > 0 {
                    k.total / n
                } else {
                    nan
                }
            }
            None => nan,
        };
        let atol = if self.s.n == 0 {
            nan
        } else {
            self.s.max_abs_d as f64
        };
        let error_split = self.quant.map(|_| ErrorSplit {
            clip: self.s.clip_e,
            round: self.s.round_e,
            inherited: (self.s.dd - self.s.clip_e - self.s.round_e).max(0.0),
            clipped_fraction: if self.s.n > 0 {
                self.s.clipped as f64 / n
            } else {
                0.0
            },
        });
        PairMetrics {
            numel: self.s.n,
            cosine,
            mse: if self.s.n > 0 { self.s.dd / n } else { nan },
            l1: if self.s.n > 0 { self.s.abs_d / n } else { nan },
            kl,
            sqnr_db,
            atol,
            rtol: if self.s.n == 0 {
                nan
            } else {
                self.s.max_rtol as f64
            },
            base_min: if self.s.n == 0 {
                nan
            } else {
                self.s.min_b as f64
            },
            base_max: if self.s.n == 0 {
                nan
            } else {
                self.s.max_b as f64
            },
            base_mean: if self.s.n > 0 {
                self.s.shift_b.unwrap_or(0.0) as f64 + self.s.sum_b / n
            } else {
                nan
            },
            base_var: var(self.s.sum_b, self.s.sq_b),
            analy_min: if self.s.n == 0 {
                nan
            } else {
                self.s.min_a as f64
            },
            analy_max: if self.s.n == 0 {
                nan
            } else {
                self.s.max_a as f64
            },
            analy_mean: if self.s.n > 0 {
                self.s.shift_a.unwrap_or(0.0) as f64 + self.s.sum_a / n
            } else {
                nan
            },
            analy_var: var(self.s.sum_a, self.s.sq_a),
            max_atol_diff: atol,
            max_qscale_diff: self.quant.map(|q| atol / q.scale),
            error_split,
            nonfinite_base: self.s.nonfinite_b,
            nonfinite_analy: self.s.nonfinite_a,
            nan_base: self.s.nan_b,
            nan_analy: self.s.nan_a,
            first_nonfinite_base: self.s.first_nonfinite_b,
            first_nonfinite_analy: self.s.first_nonfinite_a,
            hist: None,
            quant: self.quant,
            local: None,
            observer_scales: Vec::new(),
            groups: Vec::new(),
            channels: Vec::new(),
        }
    }
}

/// All metrics of two in-memory tensors (tests, small tensors).
pub fn compare_slices(
    b: &[f32],
    a: &[f32],
    shape: &[u64],
    quant: Option<QuantSpec>,
) -> PairMetrics {
    let mut acc = Accumulator::new(shape, false, quant, true);
    acc.update(b, a);
    acc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_zero_and_one_element() {
        let m = compare_slices(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], &[3], None);
        assert_eq!(m.sqnr_db, f64::INFINITY);
        assert!((m.cosine - 1.0).abs() < 1e-12);
        assert_eq!(m.atol, 0.0);
        assert!(m.kl.abs() < 1e-12);
        let z = compare_slices(&[0.0; 4], &[0.0; 4], &[4], None);
        assert_eq!(z.cosine, 0.0, "torch: all-zero → 0");
        assert_eq!(z.rtol, 0.0);
        let one = compare_slices(&[2.0], &[1.0], &[1], None);
        assert!(one.base_var.is_nan(), "var of one element is nan (n−1 = 0)");
        let e = compare_slices(&[], &[], &[0], None);
        assert!(e.cosine.is_nan() && e.numel == 0);
    }

    #[test]
    fn one_minus_cosine_of_an_int16_pair_is_measured_not_rounding_noise() {
        // An int16 activation: 1 − cos ≈ 1e-10, below the f32 rounding of a·b / (‖a‖‖b‖)
        // (about 1e-7: the ratio gave 3.6e-8 where numpy's f64 gives 5.9e-10 on a real pair).
        let n = 100_000;
        let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7311).sin() * 3.0).collect();
        let scale = 6.0f32 / 65535.0;
        let a: Vec<f32> = b.iter().map(|x| (x / scale).round() * scale).collect();
        let m = compare_slices(&b, &a, &[n as u64], None);
        let (dot, na, nb) = b
            .iter()
            .zip(&a)
            .fold((0f64, 0f64, 0f64), |(d, x, y), (&p, &q)| {
                let (p, q) = (p as f64, q as f64);
                (d + p * q, x + q * q, y + p * p)
            });
        let want = 1.0 - dot / (na.sqrt() * nb.sqrt());
        assert!(want > 1e-11 && want < 1e-8, "{want}");
        let got = 1.0 - m.cosine;
        assert!(
            (got - want).abs() < 0.02 * want,
            "1 − cos {got:e} vs f64 {want:e}"
        );
        // One element: cos is 1 (same sign); within 1e-9, where the ratio was 1.2e-8 off.
        let one = compare_slices(&[0.731], &[0.73], &[1], None);
        assert!((1.0 - one.cosine).abs() < 1e-9, "{}", one.cosine);
    }

    #[test]
    fn cosine_of_a_softmax_row_is_not_above_one() {
        // One large value first, thousands of tiny ones (int16 softmax of PP-OCR: Cosine 1.00035).
        let mut b = vec![0.8723829f32];
        b.extend((1..6625).map(|i| 1e-7 + (i % 13) as f32 * 3e-6));
        let a: Vec<f32> = b
            .iter()
            .map(|x| (x / 3.0518e-5).round() * 3.0518e-5)
            .collect();
        let m = compare_slices(&b, &a, &[1, 1, 6625], None);
        let (dot, na, nb) = b
            .iter()
            .zip(&a)
            .fold((0f64, 0f64, 0f64), |(d, x, y), (&p, &q)| {
                (
                    d + p as f64 * q as f64,
                    x + (q as f64).powi(2),
                    y + (p as f64).powi(2),
                )
            });
        let want = dot / (na.sqrt() * nb.sqrt());
        assert!(m.cosine <= 1.0 + 1e-12, "{}", m.cosine);
        assert!((m.cosine - want).abs() < 1e-8, "{} vs {want}", m.cosine);
    }

    #[test]
    fn magic_rounding_is_round_half_to_even() {
        for &t in &[
            0.5f32,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            3.4999998,
            126.5,
            127.5,
            -128.5,
            1e6 + 0.5,
            4_194_303.5,
        ] {
            let m = (t + 12_582_912.0) - 12_582_912.0;
            assert_eq!(m, t.round_ties_even(), "{t}");
        }
    }

    /// xorshift64*: reproducible data without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    /// Every field of the metrics as text: `{:?}` of an f64 is its shortest round-trip form, so
    /// equal text is equal bits (NaN aside, which prints as NaN whatever its payload).
    fn bits(m: &PairMetrics) -> String {
        format!("{m:?}")
    }

    /// KL's fast kernel gives an element the same bits whichever block it falls in: a block whose
    /// every |b − a| is within ½ skips the quantized side's exponential, and the mixed blocks keep
    /// the same value for those lanes. The same channels fed whole and in ragged pieces (so the
    /// blocks hold other elements) leave every state array bit for bit the same, on each kernel;
    /// the quantized side's sums are compared directly, as the groups' KL reads them only when
    /// the two sides are far apart.
    #[test]
    fn kl_blocks_give_each_element_the_same_bits() {
        let mut rng = Rng(0x5151_2a2a_7777_0101);
        let (groups, channels) = (1000usize, 9usize);
        let b: Vec<f32> = (0..groups * channels)
            .map(|_| (rng.unit() - 0.5) * 12.0)
            .collect();
        // Mostly an int8 fake-quant (|d| ≤ 0.01); one element in 40 far off (up to ±20).
        let a: Vec<f32> = b
            .iter()
            .map(|&x| match rng.next() % 40 {
                0 => x + (rng.unit() - 0.5) * 40.0,
                1 => x + 0.5,
                _ => (x * 50.0).round_ties_even() * 0.02,
            })
            .collect();
        let state = |k: Kernel, piece: usize| {
            let mut g = KlGroups::new(groups, channels as u64);
            g.kernel = k;
            for c in 0..channels {
                let row = c * groups;
                let mut g0 = 0;
                while g0 < groups {
                    let g1 = (g0 + piece).min(groups);
                    g.push_run(g0, &b[row + g0..row + g1], &a[row + g0..row + g1]);
                    g0 = g1;
                }
            }
            assert!(
                g.exact.is_none(),
                "the data stays in the fast kernel's range"
            );
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            [bits(&g.mb), bits(&g.s), bits(&g.t), bits(&g.e), bits(&g.q)]
        };
        let want = state(Kernel::Portable, groups);
        for k in Kernel::ALL.into_iter().filter(|k| k.available()) {
            for piece in [1, 7, 37, 64, 100, 333, groups] {
                let got = state(k, piece);
                for (f, name) in ["m", "s", "t", "e", "q"].iter().enumerate() {
                    assert!(
                        got[f] == want[f],
                        "{name} differs: {k:?}, pieces of {piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn kernels_agree_bit_for_bit() {
        for k in Kernel::ALL.into_iter().filter(|k| !k.available()) {
            eprintln!(
                "this CPU cannot run the {} kernel: the portable one stands in",
                k.name()
            );
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::MIN_POSITIVE / 4.0, // subnormal
            1e30,
            -1e30,
            f32::MAX,
            0.01, // a tie at scale 0.02: round half to even
            0.03,
            2.55,
            -2.57,
        ];
        let mut cases = 0;
        for len in (0..40).chain([63, 255, 256, 257, 511, 1000, 4099, 70_001]) {
            for kind in 0..5 {
                let b: Vec<f32> = (0..len)
                    .map(|_| match kind {
                        0 => (rng.unit() - 0.5) * 6.0,
                        1 => (rng.unit() - 0.3) * 1e4,
                        // Rare specials: most blocks' errors finite, a few not (the AVX2
                        // split's two loops, chosen per block).
                        4 if rng.next().is_multiple_of(3000) => {
                            specials[rng.next() as usize % specials.len()]
                        }
                        4 => (rng.unit() - 0.5) * 8.0,
                        _ if rng.next().is_multiple_of(7) => {
                            specials[rng.next() as usize % specials.len()]
                        }
                        _ => (rng.unit() - 0.5) * 8.0,
                    })
                    .collect();
                let a: Vec<f32> = b
                    .iter()
                    .map(|&x| match rng.next() % 11 {
                        0 => x,
                        1 => specials[rng.next() as usize % specials.len()],
                        2 => 0.0,
                        _ => (x * 50.0).round_ties_even().clamp(-128.0, 127.0) * 0.02,
                    })
                    .collect();
                // The first values set the variance shifts: a non-finite one too.
                let chunk = 1 + rng.next() as usize % 700;
                // int32-wide bounds (past ±2²²: the AVX2 split clamps x/scale first) and an
                // asymmetric uint8 (bounds −z and 255 − z).
                let wide = QuantSpec {
                    scale: 1e-6,
                    qmin: -(1 << 31),
                    qmax: (1 << 31) - 1,
                    zero_point: 0,
                };
                let uint8 = QuantSpec {
                    scale: 0.03,
                    qmin: -37,
                    qmax: 218,
                    zero_point: 37,
                };
                for quant in [
                    None,
                    Some(QuantSpec::int8(0.02)),
                    Some(QuantSpec::int16(1e-4)),
                    Some(wide),
                    Some(uint8),
                ] {
                    let run = |k: Kernel| {
                        // KL too: softmax along dim 1 of [1, 3, len/3] when it divides.
                        let shape = [1, 3, len as u64 / 3];
                        let shape: &[u64] = if len % 3 == 0 { &shape } else { &[len as u64] };
                        let mut acc = Accumulator::new(shape, false, quant, true).with_kernel(k);
                        for (x, y) in b.chunks(chunk).zip(a.chunks(chunk)) {
                            acc.update(x, y);
                        }
                        acc.finish()
                    };
                    let p = run(Kernel::Portable);
                    for k in Kernel::ALL {
                        assert_eq!(
                            bits(&p),
                            bits(&run(k)),
                            "{k:?}: len {len}, kind {kind}, chunk {chunk}, {quant:?}"
                        );
                    }
                    // The split alone (a changed scale) is the whole pass's split, on each kernel.
                    let split = |k: Kernel, whole: bool| {
                        let mut acc =
                            Accumulator::new(&[len as u64], false, quant, false).with_kernel(k);
                        for x in b.chunks(chunk) {
                            if whole {
                                acc.update(x, x);
                            } else {
                                acc.update_split(x);
                            }
                        }
                        format!(
                            "{:?}",
                            acc.finish()
                                .error_split
                                .map(|s| (s.clip, s.round, s.clipped_fraction))
                        )
                    };
                    for k in Kernel::ALL {
                        assert_eq!(
                            split(k, false),
                            split(Kernel::Portable, true),
                            "split alone, {k:?}, len {len}, kind {kind}, {quant:?}"
                        );
                    }
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 48 * 5 * 5);
    }

    /// Zeros of both signs at a range's end: the minimum is −0 and the maximum +0 whatever
    /// their order, the lanes and blocks they fall in and the kernel (IEEE 754-2019's
    /// minimumNumber and maximumNumber), so a pair's range has one answer.
    #[test]
    fn zeros_of_both_signs_tie_the_same_way_everywhere() {
        // The expected ends: the least (greatest) value, −0 (+0) when it is a zero and one of
        // the zeros is negative (positive).
        let ends = |v: &[f32]| {
            let lo = v.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let any = |z: f32| v.iter().any(|x| x.to_bits() == z.to_bits());
            let lo = if lo == 0.0 && any(-0.0) { -0.0 } else { lo };
            let hi = if hi == 0.0 && any(0.0) { 0.0 } else { hi };
            ((lo as f64).to_bits(), (hi as f64).to_bits())
        };
        let mut cases = 0;
        for len in [1usize, 2, 7, 8, 9, 255, 256, 257, 700] {
            for first in [0.0f32, -0.0] {
                // Values ≤ 0 with zeros of both signs (so +0 is the maximum), the first element
                // either zero; and their negations (−0 the minimum).
                let neg: Vec<f32> = (0..len)
                    .map(|i| match i % 5 {
                        _ if i == 0 => first,
                        0 | 3 => -0.0,
                        1 => 0.0,
                        _ => -(i as f32),
                    })
                    .collect();
                let pos: Vec<f32> = neg.iter().map(|&x| -x).collect();
                for (b, a) in [(&neg, &pos), (&pos, &neg)] {
                    for k in Kernel::ALL {
                        let mut acc =
                            Accumulator::new(&[len as u64], false, None, false).with_kernel(k);
                        for (x, y) in b.chunks(3).zip(a.chunks(3)) {
                            acc.update(x, y);
                        }
                        let m = acc.finish();
                        let got = |lo: f64, hi: f64| (lo.to_bits(), hi.to_bits());
                        let what = format!("len {len}, first {first:?}, {k:?}");
                        assert_eq!(got(m.base_min, m.base_max), ends(b), "float side, {what}");
                        assert_eq!(got(m.analy_min, m.analy_max), ends(a), "quantized, {what}");
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 9 * 2 * 2 * 3);
    }

    #[test]
    fn a_nan_element_is_not_counted_as_clipped() {
        // 600 elements (whole blocks and a tail): 200 beyond ±12.8 at scale 0.1 (clipped), 100 NaN.
        let b: Vec<f32> = (0..600)
            .map(|i| match i % 6 {
                0 | 1 => 50.0,
                2 => f32::NAN,
                _ => 0.3,
            })
            .collect();
        for k in Kernel::ALL {
            let mut acc =
                Accumulator::new(&[600], false, Some(QuantSpec::int8(0.1)), false).with_kernel(k);
            acc.update(&b, &b);
            let sp = acc.finish().error_split.expect("split");
            assert_eq!(sp.clipped_fraction, 200.0 / 600.0, "{k:?}");
        }
    }

    #[test]
    fn the_kernel_asked_for_runs_when_the_cpu_has_it() {
        let acc = Accumulator::new(&[4], false, None, false);
        assert_eq!(acc.kernel(), Kernel::detect());
        let p = Accumulator::new(&[4], false, None, false).with_kernel(Kernel::Portable);
        assert_eq!(p.kernel(), Kernel::Portable);
        for k in [Kernel::Avx2, Kernel::Avx512] {
            let v = Accumulator::new(&[4], false, None, false).with_kernel(k);
            let want = if k.available() { k } else { Kernel::Portable };
            assert_eq!(v.kernel(), want);
        }
        #[cfg(target_arch = "x86_64")]
        {
            let has = |f: &[&str]| {
                f.iter().all(|f| match *f {
                    "avx2" => std::arch::is_x86_feature_detected!("avx2"),
                    "fma" => std::arch::is_x86_feature_detected!("fma"),
                    "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
                    _ => std::arch::is_x86_feature_detected!("avx512vl"),
                })
            };
            let want = if has(&["avx2", "fma", "avx512f", "avx512vl"]) {
                Kernel::Avx512
            } else if has(&["avx2", "fma"]) {
                Kernel::Avx2
            } else {
                Kernel::Portable
            };
            assert_eq!(Kernel::detect(), want);
        }
    }

    #[test]
    fn exp32_error_bound() {
        // The bound stated on `exp32`: relative error ≤ 2 ulp (2·2⁻²³ of the result's binade, taken
        // as 2.4e-7 relative) against libm's f64 exp over [−87, 64]; 0 below −87.
        let bound = 2.4e-7;
        let mut rng = Rng(42);
        let mut worst = 0f64;
        let mut check = |x: f32| {
            let (got, want) = (exp32(x) as f64, (x as f64).exp());
            let rel = ((got - want) / want).abs();
            assert!(
                rel <= bound,
                "exp32({x:e}) = {got:e}, libm {want:e}, rel {rel:e}"
            );
            worst = worst.max(rel);
        };
        for i in 0..=400_000 {
            check(-87.0 + 151.0 * i as f32 / 400_000.0);
        }
        for _ in 0..300_000 {
            let u = rng.unit();
            check(-u * 87.0);
            check(u * 64.0);
            check((u - 0.5) * 4.0); // where the KL's values mostly are
            check(-(u * 40.0).exp2() * 1e-12); // tiny arguments
        }
        for k in -125..=92 {
            // Near n·ln2 ± ln2/2, the ends of the reduced range.
            let c = k as f32 * std::f32::consts::LN_2;
            for x in [c, c - 0.3465, c + 0.3465] {
                if (-87.0..=64.0).contains(&x) {
                    check(x);
                }
            }
        }
        assert!(worst > 0.0, "the comparison ran");
        eprintln!("exp32: worst relative error {worst:e} (bound {bound:e})");
        assert_eq!(exp32(0.0), 1.0);
        assert_eq!(exp32(-0.0), 1.0);
        assert_eq!(exp32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp32(-87.5), 0.0);
    }

    #[test]
    fn phi_small_matches_f64() {
        // φ(d) = e^(−d) − 1 + d on |d| ≤ 1/2, relative to φ itself: a few f32 ulps.
        let mut worst = 0f64;
        for i in 1..=100_000 {
            for d in [i as f32 / 200_000.0, -(i as f32) / 200_000.0] {
                let want = (-(d as f64)).exp_m1() + d as f64;
                let got = phi_small(d) as f64;
                worst = worst.max(((got - want) / want).abs());
            }
        }
        eprintln!("phi_small: worst relative error {worst:e}");
        assert!(worst < 4e-7, "{worst:e}");
        assert_eq!(phi_small(0.0), 0.0);
    }

    /// The stated bound of the f32 kernel against the exact f64 recurrence: |KL − KL_exact| ≤
    /// 1e-5·|KL_exact| + 1e-6·mean|b − a| (f32 roundings are relative to the log-ratios' size, not
    /// to KL's: one element's KL is 0 whatever d, and comes out as about 1e-7·|d|).
    fn kl_bound(kl_exact: f64, b: &[f32], a: &[f32]) -> f64 {
        let mean_d = b
            .iter()
            .zip(a)
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .filter(|d| d.is_finite())
            .sum::<f64>()
            / b.len().max(1) as f64;
        1e-5 * kl_exact.abs() + 1e-6 * mean_d + 1e-15
    }

    /// KL exactly as before the vectorised kernel: `Group::push` (libm `exp`) element by element in
    /// flat order, groups summed in order at the end of each slab.
    fn kl_reference(shape: &[u64], fortran: bool, b: &[f32], a: &[f32]) -> f64 {
        let (_, along, inner) = kl_layout(shape, fortran);
        let mut groups = vec![Group::EMPTY; inner as usize];
        let mut total = 0.0;
        for (i, (&x, &y)) in b.iter().zip(a).enumerate() {
            groups[i % inner as usize].push(x as f64, y as f64);
            if (i as u64 + 1).is_multiple_of(inner * along) {
                for g in groups.iter_mut() {
                    if g.sb > 0.0 {
                        total += g.kl();
                    }
                    *g = Group::EMPTY;
                }
            }
        }
        total / b.len() as f64
    }

    #[test]
    fn kl_matches_the_exact_recurrence() {
        // The bound: `kl_bound` (f32 lanes; see `KlGroups`).
        let mut rng = Rng(7);
        let shapes: [(Vec<u64>, bool); 7] = [
            (vec![1, 64, 4100], false), // 64 channels of 4100 groups: the tiled path
            (vec![3, 5, 777], false),   // several slabs, tiles with a remainder
            (vec![2, 6, 3, 4], true),   // Fortran order
            (vec![9, 1000], false),     // softmax along the last dim
            (vec![5000], false),        // one group
            (vec![2, 3, 1], false),     // one group per slab
            (vec![4, 2, 600], false),   // two channels: tiled
        ];
        let mut worst = 0f64;
        for (shape, fortran) in shapes {
            let n: u64 = shape.iter().product();
            for kind in 0..6 {
                let b: Vec<f32> = (0..n)
                    .map(|_| match kind {
                        1 => (rng.unit() - 0.5) * 200.0, // e^−x down to underflow
                        2 => (rng.unit() * 30.0).exp() * 1e-6,
                        _ => (rng.unit() - 0.5) * 8.0,
                    })
                    .collect();
                let a: Vec<f32> = b
                    .iter()
                    .map(|&x| match kind {
                        3 => x + 0.6,                      // a shift: the softmax is the same, KL 0
                        4 => x + (rng.unit() - 0.5) * 6.0, // |b − a| up to 3
                        5 => (x * 10.0).round_ties_even().clamp(-25.0, 25.0) / 10.0, // clipped
                        _ => (x * 20.0).round_ties_even().clamp(-128.0, 127.0) / 20.0,
                    })
                    .collect();
                let want = kl_reference(&shape, fortran, &b, &a);
                // Fed whole, in ragged chunks, and in chunks of exactly two channels.
                let (_, _, inner) = kl_layout(&shape, fortran);
                for chunk in [
                    n as usize,
                    1 + rng.next() as usize % 5000,
                    2 * inner as usize,
                ] {
                    let mut acc = Accumulator::new(&shape, fortran, None, true);
                    for (x, y) in b.chunks(chunk).zip(a.chunks(chunk)) {
                        acc.update(x, y);
                    }
                    let got = acc.finish().kl;
                    let err = (got - want).abs() / kl_bound(want, &b, &a);
                    assert!(
                        err <= 1.0,
                        "{shape:?} kind {kind} chunk {chunk}: {got:e} vs exact {want:e}"
                    );
                    worst = worst.max(err);
                }
            }
        }
        eprintln!("KL: worst error {worst:.3} of the bound");
    }

    #[test]
    fn kl_with_non_finite_values_is_what_it_was() {
        // A run holding NaN or ±∞ takes the exact recurrence: the outcome (NaN, ∞, or a group
        // left out) is the same as before; the other runs stay within the stated bound.
        let shape = [1u64, 8, 300];
        let mut outcomes = std::collections::BTreeSet::new();
        for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for (side, at) in [(0, 5usize), (1, 5), (1, 0), (0, 2399), (1, 1200)] {
                let mut b: Vec<f32> = (0..2400).map(|i| ((i * 7 % 13) as f32) * 0.1).collect();
                let mut a: Vec<f32> = b.iter().map(|x| (x * 4.0).round() / 4.0).collect();
                if side == 0 {
                    b[at] = special;
                } else {
                    a[at] = special;
                }
                let want = kl_reference(&shape, false, &b, &a);
                let got = compare_slices(&b, &a, &shape, None).kl;
                let what = |v: f64| {
                    if v.is_nan() {
                        "NaN".to_string()
                    } else if v.is_infinite() {
                        format!("{v}")
                    } else {
                        "finite".to_string()
                    }
                };
                assert_eq!(what(got), what(want), "{special} on side {side} at {at}");
                if want.is_finite() {
                    assert!(
                        (got - want).abs() <= kl_bound(want, &b, &a),
                        "{special} on side {side} at {at}: {got:e} vs {want:e}"
                    );
                }
                outcomes.insert(what(want));
            }
        }
        assert!(
            outcomes.len() >= 2,
            "the cases reach different outcomes: {outcomes:?}"
        );
    }

    /// A [`RangeReader`] over two slices in memory.
    fn slices<'a>(
        b: &'a [f32],
        a: &'a [f32],
    ) -> impl FnMut(u64, usize, &mut Vec<f32>, &mut Vec<f32>) -> Result<(), String> + 'a {
        move |start, len, ob, oa| {
            let r = start as usize..start as usize + len;
            ob.clear();
            oa.clear();
            ob.extend_from_slice(&b[r.clone()]);
            oa.extend_from_slice(&a[r]);
            Ok(())
        }
    }

    #[test]
    fn windowed_kl_equals_the_single_pass() {
        for (shape, fortran) in [
            (vec![2u64, 4, 5, 3], false),
            (vec![3, 7], false),
            (vec![2, 3, 4], true),
            (vec![11], false),
        ] {
            let n: u64 = shape.iter().product();
            let b: Vec<f32> = (0..n).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.3).collect();
            let a: Vec<f32> = b
                .iter()
                .enumerate()
                .map(|(i, x)| x + ((i % 5) as f32 - 2.0) * 0.05)
                .collect();
            let mut acc = Accumulator::new(&shape, fortran, None, true);
            acc.update(&b, &a);
            let single = acc.finish().kl;
            let windowed = kl_windowed_with(&shape, fortran, 2, &mut slices(&b, &a)).expect("kl");
            assert!(
                (single - windowed).abs() <= 1e-12 * single.abs().max(1e-12),
                "{shape:?}: {single} vs {windowed}"
            );
        }
    }

    #[test]
    fn a_softmax_axis_of_one_element_has_kl_exactly_zero_on_every_path() {
        // Both softmaxes of a one-element group are exactly 1: KL is 0 whatever the values (the
        // recurrence alone gives 6.1e-12 for 0.5 vs 0.53), on the single pass, the windowed one and
        // a part's runs; a NaN still makes it NaN.
        for shape in [
            vec![1u64, 1],
            vec![7, 1],
            vec![2, 1, 5],
            vec![1],
            vec![3, 1, 1, 4],
        ] {
            let n: u64 = shape.iter().product();
            let b: Vec<f32> = (0..n).map(|i| 0.5 + (i as f32 * 1.7).sin() * 3.0).collect();
            let a: Vec<f32> = b
                .iter()
                .enumerate()
                .map(|(i, x)| x + 0.03 + (i % 3) as f32 * 5.0)
                .collect();
            let (_, along, inner) = kl_layout(&shape, false);
            assert_eq!(along, 1, "{shape:?}");
            let mut acc = Accumulator::new(&shape, false, None, true);
            acc.update(&b, &a);
            assert_eq!(acc.finish().kl.to_bits(), 0f64.to_bits(), "{shape:?}");
            let windowed = kl_windowed_with(&shape, false, 2, &mut slices(&b, &a)).expect("kl");
            assert_eq!(windowed.to_bits(), 0f64.to_bits(), "{shape:?}");
            let mut runs = KlRuns::new(inner as usize, along);
            let mut total = 0.0;
            for (bs, as_) in b.chunks(inner as usize).zip(a.chunks(inner as usize)) {
                runs.push_rows(bs, as_, 1, inner as usize);
                total += runs.take(inner as usize);
            }
            assert_eq!(total.to_bits(), 0f64.to_bits(), "{shape:?}");
            let mut with_nan = a.clone();
            with_nan[0] = f32::NAN;
            let mut acc = Accumulator::new(&shape, false, None, true);
            acc.update(&b, &with_nan);
            assert!(acc.finish().kl.is_nan(), "{shape:?}");
        }
        // A longer axis is not touched: [1, 2] with different sides has KL > 0.
        let mut acc = Accumulator::new(&[1, 2], false, None, true);
        acc.update(&[0.5, 1.5], &[0.53, 1.2]);
        assert!(acc.finish().kl > 0.0);
    }

    #[test]
    fn split_adds_up_when_the_quantized_side_is_the_own_quantization() {
        let s = 0.1f64;
        let b: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.0371).collect();
        let q = QuantSpec::int8(s);
        let a: Vec<f32> = b
            .iter()
            .map(|&x| {
                ((x * (1.0 / s as f32))
                    .round_ties_even()
                    .clamp(-128.0, 127.0))
                    * s as f32
            })
            .collect();
        let m = compare_slices(&b, &a, &[1000], Some(q));
        let sp = m.error_split.expect("split");
        let total = m.mse * 1000.0;
        assert!(
            (sp.clip + sp.round - total).abs() / total < 1e-5,
            "{sp:?} vs {total}"
        );
        assert!(sp.inherited < 1e-6 * total);
        assert!(sp.clipped_fraction > 0.3, "values beyond ±12.8 are clipped");
    }
}

/// Benchmark helpers: the arrays every contender uses (`b[i]` float, `a` its int8 fake-quant at 0.02),
/// and the kernels timed on them.
pub mod bench {
    use super::{Accumulator, Kernel, QuantSpec};

    pub fn arrays(n: usize) -> (Vec<f32>, Vec<f32>) {
        let b: Vec<f32> = (0..n)
            .map(|i| ((i % 9973) as f32 * 0.001).sin() * 3.0 + ((i / 4096) % 7) as f32 * 0.1)
            .collect();
        let a = b
            .iter()
            .map(|x| (x * (1.0 / 0.02f32)).round_ties_even().clamp(-128.0, 127.0) * 0.02)
            .collect();
        (b, a)
    }

    /// All metrics except KL, with the error split (one pass), on the kernel this CPU picks.
    pub fn metrics_no_kl(b: &[f32], a: &[f32]) -> f64 {
        metrics_no_kl_on(b, a, Kernel::detect())
    }

    /// The same on a given copy of the kernel.
    pub fn metrics_no_kl_on(b: &[f32], a: &[f32], kernel: Kernel) -> f64 {
        let mut acc = Accumulator::new(
            &[b.len() as u64],
            false,
            if std::env::var_os("NOSPLIT").is_some() {
                None
            } else {
                Some(QuantSpec::int8(0.02))
            },
            false,
        )
        .with_kernel(kernel);
        for (x, y) in b.chunks(1 << 18).zip(a.chunks(1 << 18)) {
            acc.update(x, y);
        }
        acc.finish().cosine
    }

    /// KL alone (softmax along dim 1 of [1, 64, n/64]).
    pub fn kl_only(b: &[f32], a: &[f32]) -> f64 {
        let shape = [1u64, 64, (b.len() / 64) as u64];
        let mut kl = super::Kl::new(&shape, false);
        kl.push(&b[..shape[2] as usize * 64], &a[..shape[2] as usize * 64]);
        kl.flush();
        kl.total
    }

    /// Bandwidth baseline: a plain sum over the same bytes (both arrays).
    pub fn plain_sum(b: &[f32], a: &[f32]) -> f64 {
        let mut s = [0f32; 8];
        for (x, y) in b.chunks_exact(8).zip(a.chunks_exact(8)) {
            for k in 0..8 {
                s[k] += x[k] + y[k];
            }
        }
        s.iter().map(|&v| v as f64).sum()
    }
}
