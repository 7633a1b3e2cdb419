//! Bounded memory: comparing a pair of large dumps streams them, whatever their size. A counting
//! allocator records the peak heap while two virtual `.npy` files (bytes generated on demand, never
//! held) are compared. QUANTLENS_MEM_TEST_MIB sets each side's size (default 32 MiB; the benchmark
//! runs 2 GiB in release mode).

mod common;

use quantlens::engine::pairs;
use quantlens::engine::tensor::{self, ByteSource};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CUR.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CUR.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A float32 `.npy` of the given shape whose elements are computed from their index on demand.
struct Virtual {
    header: Vec<u8>,
    numel: u64,
    quantized: bool,
}

impl Virtual {
    fn new(shape: &[u64], quantized: bool) -> Virtual {
        Virtual {
            header: common::npy_f32_header(shape),
            numel: shape.iter().product(),
            quantized,
        }
    }
    fn value(&self, i: u64) -> f32 {
        let x = ((i % 9973) as f32 * 0.001).sin() * 3.0 + ((i / 4096) % 7) as f32 * 0.1;
        if self.quantized {
            (x / 0.02).round_ties_even().clamp(-128.0, 127.0) * 0.02
        } else {
            x
        }
    }
}

impl ByteSource for Virtual {
    fn size(&self) -> u64 {
        self.header.len() as u64 + self.numel * 4
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let h = self.header.len() as u64;
        for (k, b) in buf.iter_mut().enumerate() {
            let pos = offset + k as u64;
            *b = if pos < h {
                self.header[pos as usize]
            } else {
                let i = (pos - h) / 4;
                self.value(i).to_le_bytes()[((pos - h) % 4) as usize]
            };
        }
        Ok(())
    }
}

#[test]
fn comparing_large_dumps_keeps_memory_bounded() {
    let mib: u64 = std::env::var("QUANTLENS_MEM_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    // [1, 8, H, 2048] float32: more softmax groups (H·2048) than the single pass keeps, so KL is windowed.
    let h = (mib << 20) / 4 / 8 / 2048;
    let shape = [1u64, 8, h, 2048];
    let mut f = Virtual::new(&shape, false);
    let mut q = Virtual::new(&shape, true);
    let fe = tensor::list_tensors("f.npy", &mut f).expect("float")[0].clone();
    let qe = tensor::list_tensors("q.npy", &mut q).expect("quant")[0].clone();
    let before = CUR.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let m = pairs::compare_pair(
        &mut f,
        &fe,
        &mut q,
        &qe,
        Some(0.02),
        Some("int8"),
        0,
        &mut |_| {},
    )
    .expect("compare");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let data = (mib << 20) as usize * 2;
    eprintln!(
        "compared 2 × {mib} MiB: peak heap {:.1} MiB (KL {:.3e}, cosine {:.6})",
        peak as f64 / (1 << 20) as f64,
        m.kl,
        m.cosine
    );
    assert!(m.cosine > 0.99 && m.kl.is_finite() && m.kl >= 0.0);
    assert!(m.error_split.is_some());
    // Streaming: the peak is a few slices and the KL window, not the data.
    assert!(
        peak < 80 << 20,
        "peak heap {peak} bytes for {data} bytes of data"
    );
    assert!(
        peak < data / 2,
        "peak heap {peak} bytes is not below one side's size {}",
        data / 2
    );
}
