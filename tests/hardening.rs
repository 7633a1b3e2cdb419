//! Regression tests for what fuzzing found (RELIABILITY.md lists each): the input that once
//! panicked, hung or allocated by a claimed size, and what it gets now.

use quantlens::engine::detect::{container, Container};
use quantlens::engine::tensor::{self, safetensors};

/// A safetensors header length near u64::MAX: `n + 8` overflowed (a panic with overflow checks,
/// a wrap-around into "fits" without them) in the magic-byte check every file goes through.
#[test]
fn safetensors_header_length_near_u64_max() {
    let mut b = vec![0xffu8; 8];
    b.extend_from_slice(b"{\"x\":1}");
    assert!(!safetensors::looks_like(&b, b.len() as u64));
    assert_eq!(container(&b, b.len() as u64), None);
    let mut src: &[u8] = &b;
    let e = safetensors::list(&mut src).expect_err("refused");
    assert!(
        e.to_string().contains("header length is implausible"),
        "{e}"
    );
    // The fuzzer's own input, through the app's path.
    let crash = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/tensor_safetensors/header-length-overflow"
    ))
    .expect("regression input");
    let r =
        quantlens::engine::session::read_source("x.safetensors", crash.len() as u64, &crash[..]);
    assert!(r.error.is_some());
}

/// Shapes and offsets whose products pass u64: refused, not wrapped into a match.
#[test]
fn safetensors_shape_product_overflow() {
    let header =
        br#"{"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    assert_eq!(container(&b, b.len() as u64), Some(Container::Safetensors));
    let e = tensor::list_tensors("x.safetensors", &mut b).expect_err("refused");
    assert!(e.to_string().contains("data_offsets do not match"), "{e}");
}

/// A deflated member that inflates past one read slice (np.savez_compressed of 10 MB): the
/// streaming inflater dropped what a slice inflated beyond the caller's chunk, and a first call
/// with `MZFlush::Finish` failed the stream on the next one ("corrupt deflate data (Data)"), so
/// such dumps could not be compared at all. Every value must come back, in order.
#[test]
fn big_deflated_member_reads_whole() {
    let mut b = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/broken/npz_big_member_ok.npz"
    ))
    .expect("fixture");
    assert!(b.len() < 200_000, "a few KB on disk");
    let e = tensor::list_tensors("x.npz", &mut b).expect("listed")[0].clone();
    assert_eq!(e.numel(), 2_500_000);
    for chunk in [1000usize, 4096, 1 << 16, 1 << 20] {
        let mut r = tensor::ElemReader::new(&mut b, &e);
        let (mut out, mut n) = (Vec::new(), 0usize);
        while r.next_chunk(&mut out, chunk).expect("inflates") > 0 {
            for (k, &v) in out.iter().enumerate() {
                assert_eq!(
                    v,
                    ((n + k) % 1000) as f32,
                    "element {} (chunk {chunk})",
                    n + k
                );
            }
            n += out.len();
        }
        assert_eq!(n, 2_500_000, "chunk {chunk}");
    }
}
