//! Regression tests for what fuzzing found (RELIABILITY.md lists each): the input that once
//! panicked, hung or allocated by a claimed size, and what it gets now.

use quantlens::engine::detect::{container, Container};
use quantlens::engine::tensor::{self, safetensors};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, remembering the largest single allocation: a claimed size that reaches
/// an allocation shows here even where the OS would hand out the (untouched) pages.
struct Largest;
static LARGEST: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LARGEST.fetch_max(n, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static ALLOC: Largest = Largest;

/// No test here allocates more than this honestly (the biggest is a 10 MB tensor).
const HONEST_BYTES: usize = 256 << 20;

fn assert_no_claimed_allocation() {
    let n = LARGEST.load(Ordering::Relaxed);
    assert!(
        n <= HONEST_BYTES,
        "an allocation of {n} bytes: sized by a claim, not by the file"
    );
}

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

/// Sizes a header claims are checked against the file before anything of that size is allocated:
/// an npy v2 header length of 4 GiB (was allocated, then the read failed), a torch `data.pkl`
/// longer than the archive (already refused; kept here), a scale tensor claiming 2^40 values.
#[test]
fn claimed_sizes_are_checked_before_allocating() {
    // npy v2 header claiming 0xFFFFFFF0 bytes, in a 64-byte file.
    let mut npy = b"\x93NUMPY\x02\x00".to_vec();
    npy.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    npy.extend_from_slice(&[b' '; 52]);
    let e = tensor::list_tensors("x.npy", &mut npy).expect_err("refused");
    assert_eq!(e.to_string(), "the .npy header is truncated");
    // A torch archive whose data.pkl claims 200 MB (under the pickle cap, over the file).
    let files = vec![("archive/data.pkl".to_string(), b"\x80\x02}q\x00.".to_vec())];
    let mut zip = quantlens::engine::encode::zip_stored(&files).expect("zip");
    let cd = zip
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("central directory");
    zip[cd + 20..cd + 24].copy_from_slice(&200_000_000u32.to_le_bytes());
    let e = tensor::list_tensors("x.pt", &mut zip).expect_err("refused");
    assert_eq!(e.to_string(), "archive/data.pkl: the member is truncated");
    // A per-channel scale tensor claiming 2^40 elements: read_all reserves by the claim no more.
    let entry = tensor::TensorEntry {
        name: "s".into(),
        elem: tensor::ElemType::F32,
        shape: vec![1 << 40],
        big_endian: false,
        fortran: false,
        data: tensor::DataRef::Raw { offset: 0, len: 16 },
        scale: None,
        quant: None,
    };
    let mut four = vec![0u8; 16];
    assert!(tensor::read_all(&mut four, &entry).is_err());
    assert_no_claimed_allocation();
}

/// No HTML is ever built from strings in the page: no `innerHTML`, `outerHTML`,
/// `insertAdjacentHTML`, `document.write`, `eval` or `new Function` in the UI's Rust (web-sys
/// names them `set_inner_html`, …) or the page's own scripts. Names, paths, cells and links are
/// rendered as text nodes by Yew.
#[test]
fn no_html_from_strings_anywhere_in_the_page() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let banned = [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "set_inner_html",
        "set_outer_html",
        "insert_adjacent_html",
        "new Function",
        "eval(",
    ];
    let mut files = Vec::new();
    let mut stack = vec![
        root.join("src/ui"),
        root.join("www"),
        root.join("src/worker.rs"),
        root.join("src/bin"),
        root.join("index.html"),
        root.join("scripts/sw_template.js"),
    ];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("dir").flatten() {
                stack.push(e.path());
            }
        } else if p
            .extension()
            .is_some_and(|x| x == "rs" || x == "js" || x == "html" || x == "mjs")
        {
            files.push(p);
        }
    }
    assert!(files.len() > 10, "{} files scanned", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for b in banned {
            assert!(
                !text.contains(b),
                "{} uses {b}: build DOM nodes, never HTML from strings",
                f.display()
            );
        }
    }
}

/// A pickle nesting a million lists (2 MB): built, walked and dropped without deep recursion.
#[test]
fn deeply_nested_pickle() {
    let n = 1_000_000;
    let mut pkl = b"\x80\x02".to_vec();
    pkl.extend(std::iter::repeat_n(b']', n));
    pkl.extend(std::iter::repeat_n(b'a', n - 1));
    pkl.push(b'.');
    let files = vec![("archive/data.pkl".to_string(), pkl)];
    let mut zip = quantlens::engine::encode::zip_stored(&files).expect("zip");
    let e = tensor::list_tensors("x.pt", &mut zip).expect_err("no tensor");
    assert!(e.to_string().contains("no tensor found"), "{e}");
}

/// A pickle whose value nests a million levels of lists, dicts and tuples (600,000 opened from
/// the outside, 400,000 tuples wrapped around them) and then fails on an opcode that has popped
/// it (`tail`): every error path must drop the value without recursion. Run on a thread with a
/// 256 KiB stack, so a recursive drop (about a hundred bytes of stack per level) cannot pass.
fn deep_pickle_then(tail: &[u8]) -> Vec<u8> {
    let (opened, wrapped) = (600_000, 400_000);
    let mut pkl = b"\x80\x02".to_vec();
    // Outside in: a list, then a dict with its key 1, alternately (at most 900,000 on the stack).
    for level in 0..opened {
        pkl.extend_from_slice(if level % 2 == 0 { b"]" } else { b"}K\x01" });
    }
    pkl.push(b'N');
    for level in (0..opened).rev() {
        pkl.push(if level % 2 == 0 { b'a' } else { b's' });
    }
    // Inside out: TUPLE1 around the top, the stack stays one deep.
    pkl.extend(std::iter::repeat_n(0x85u8, wrapped));
    pkl.extend_from_slice(tail);
    pkl
}

#[test]
fn deeply_nested_pickle_errors_drop_without_recursion() {
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "STACK_GLOBAL pops it",
            deep_pickle_then(b"\x93"),
            "pickle: stack underflow",
        ),
        (
            "STACK_GLOBAL refuses it",
            [b"N".as_slice(), &deep_pickle_then(b"\x93")[2..]].concat(),
            "pickle: STACK_GLOBAL needs two strings",
        ),
        (
            "APPEND of it onto a non-list",
            [b"\x80\x02N".as_slice(), &deep_pickle_then(b"a")[2..]].concat(),
            "pickle: APPEND on a non-list",
        ),
        (
            "a bad opcode, then truncated",
            deep_pickle_then(b"\xff"),
            "pickle: unsupported opcode 0xff",
        ),
    ];
    for (what, pkl, want) in cases {
        let files = vec![("archive/data.pkl".to_string(), pkl)];
        let mut zip = quantlens::engine::encode::zip_stored(&files).expect("zip");
        let got = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                tensor::list_tensors("x.pt", &mut zip)
                    .expect_err("refused")
                    .to_string()
            })
            .expect("thread")
            .join()
            .unwrap_or_else(|_| panic!("{what}: panicked"));
        assert_eq!(got, want, "{what}");
    }
}

/// A 300-byte pickle whose memo references double a list 40 times (2^40 objects if every
/// reference were copied): refused within a bounded budget, not expanded.
#[test]
fn pickle_memo_reference_bomb() {
    let mut pkl = b"\x80\x02]q\x00".to_vec();
    for k in 0u8..40 {
        pkl.extend_from_slice(&[b'(', b'h', k, b'h', k, b'l', b'q', k + 1]);
    }
    pkl.push(b'.');
    let files = vec![("archive/data.pkl".to_string(), pkl)];
    let mut zip = quantlens::engine::encode::zip_stored(&files).expect("zip");
    let e = tensor::list_tensors("x.pt", &mut zip).expect_err("refused");
    assert!(e.to_string().contains("pickle"), "{e}");
    assert_no_claimed_allocation();
}

/// BINUNICODE8 with a length near usize::MAX: `i + n` overflowed in the pickle reader (found by
/// the tensor_torch fuzzer).
#[test]
fn pickle_length_near_usize_max() {
    let mut pkl = b"\x80\x04\x8d".to_vec();
    pkl.extend_from_slice(&u64::MAX.to_le_bytes());
    pkl.extend_from_slice(b"abc.");
    let files = vec![("archive/data.pkl".to_string(), pkl)];
    let mut zip = quantlens::engine::encode::zip_stored(&files).expect("zip");
    let e = tensor::list_tensors("x.pt", &mut zip).expect_err("refused");
    assert_eq!(e.to_string(), "pickle: truncated");
}

/// Protobuf: a length-delimited field.
fn pb(num: u64, payload: &[u8]) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    varint(num << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A node (NodeProto) with inputs, outputs and attributes.
fn pb_node(inputs: &[&str], outputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
    pb_op_node("Relu", inputs, outputs, attrs)
}

/// A graph's node (field 1) of operator `op`.
fn pb_op_node(op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut n = Vec::new();
    inputs.iter().for_each(|i| n.extend(pb(1, i.as_bytes())));
    outputs.iter().for_each(|o| n.extend(pb(2, o.as_bytes())));
    n.extend(pb(3, b"node0"));
    n.extend(pb(4, op.as_bytes()));
    attrs.iter().for_each(|a| n.extend(pb(5, a)));
    pb(1, &n)
}

/// A graph's input (11) or output (12) ValueInfoProto.
fn pb_value(field: u64, name: &str) -> Vec<u8> {
    pb(field, &pb(1, name.as_bytes()))
}

/// tract-onnx 0.23.9 panicked (`outlets_by_name[&*output.name]`) on a graph output that no node,
/// input or initializer makes (found by the onnx_model fuzzer, kept in
/// fuzz/regressions/onnx_model/): the model runner now refuses such a file with a sentence
/// before tract sees it. Checked here without tract; `cargo test --features model --test
/// fuzz_corpus` also replays the input through tract.
#[test]
fn onnx_graph_output_made_by_nothing() {
    use quantlens::engine::onnx_graph::check_for_tract;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/onnx_model");
    let crash = std::fs::read(dir.join("graph-output-not-produced")).expect("the fuzzer's input");
    let e = check_for_tract(&crash).expect_err("refused");
    assert!(
        e.to_string().starts_with("the model's output '")
            && e.to_string()
                .contains("' is produced by no node, graph input or initializer"),
        "{e}"
    );
    // Every real model passes (the runner's, the scale fixtures, the broken corpus's readable ones).
    for f in [
        "tests/fixtures/model/ppocr_cls.onnx",
        "tests/fixtures/model/unsupported_op.onnx",
        "tests/fixtures/scales/ppocr_cls_qdq_int8.onnx",
        "tests/fixtures/scales/handmade_qdq.onnx",
        "tests/fixtures/broken/onnx_unknown_op.onnx",
        "tests/fixtures/broken/onnx_external_data.onnx",
        "tests/fixtures/broken/onnx_truncated.onnx",
    ] {
        let bytes =
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap();
        assert!(check_for_tract(&bytes).is_ok(), "{f}");
    }
    // Hand-made graphs: an output made by a node, an input or an initializer passes; the graph
    // field may come in several occurrences (merged, as protobuf decoders do).
    let node = pb_node(&["x"], &["y"], &[]);
    let init = pb(5, &pb(8, b"w"));
    let ok = |g: Vec<u8>| check_for_tract(&pb(7, &g));
    assert!(ok([node.clone(), pb_value(11, "x"), pb_value(12, "y")].concat()).is_ok());
    assert!(ok([pb_value(11, "x"), pb_value(12, "x")].concat()).is_ok());
    assert!(ok([init.clone(), pb_value(12, "w")].concat()).is_ok());
    let split = [pb(7, &node), pb(7, &pb_value(12, "y"))].concat();
    assert!(check_for_tract(&split).is_ok());
    assert_eq!(
        ok([node.clone(), pb_value(12, "z")].concat()).unwrap_err().to_string(),
        "the model's output 'z' is produced by no node, graph input or initializer: the ONNX file is broken (hand-edited or cut?), and the model runner cannot load it"
    );
    // An empty optional output name makes nothing.
    assert!(ok([pb_node(&["x"], &[""], &[]), pb_value(12, "")].concat()).is_err());
    // A subgraph (an If's then_branch, attribute field g) is checked too, by its own values.
    let body_bad = [pb_node(&["x"], &["t"], &[]), pb_value(12, "u")].concat();
    let body_ok = [pb_node(&["x"], &["t"], &[]), pb_value(12, "t")].concat();
    let with_body = |b: &[u8]| {
        let attr = [pb(1, b"then_branch"), pb(6, b)].concat();
        ok([pb_node(&["x"], &["y"], &[attr]), pb_value(12, "y")].concat())
    };
    assert!(with_body(&body_ok).is_ok());
    assert_eq!(
        with_body(&body_bad).unwrap_err().to_string(),
        "the output 'u' of a subgraph of node 'node0' is produced by no node, graph input or initializer: the ONNX file is broken (hand-edited or cut?), and the model runner cannot load it"
    );
    // Not protobuf at all: left to the loader's own reason.
    assert!(check_for_tract(b"not a model").is_ok());
}

/// A group (protobuf wire types 3 … 4) before the graph: prost, tract's decoder, skips it and
/// reads on, where the walker stopped at it and passed the file, whose graph output was made by
/// nothing, to tract, which panicked (found by the onnx_model fuzzer after 9.4 million executions,
/// kept in fuzz/regressions/onnx_model/). The walker now skips groups as prost does.
#[test]
fn onnx_group_before_the_graph_is_skipped_as_prost_skips_it() {
    use quantlens::engine::onnx_graph::check_for_tract;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/onnx_model");
    let crash = std::fs::read(dir.join("group-hides-the-graph")).expect("the fuzzer's input");
    let e = check_for_tract(&crash).expect_err("refused").to_string();
    assert!(
        e.starts_with("the model's output 'y' is produced by no node"),
        "{e}"
    );
    let bad_graph = pb(7, &pb_value(12, "z"));
    // Field 12 as a group holding a varint, a fixed32, a string and a nested group (field 3).
    let group = [
        vec![(12 << 3) | 3, 0x08, 0x01, 0x0d, 1, 2, 3, 4],
        pb(2, b"abc"),
        vec![(3 << 3) | 3, 0x08, 0x05, (3 << 3) | 4],
        vec![(12 << 3) | 4],
    ]
    .concat();
    let e = check_for_tract(&[group.clone(), bad_graph.clone()].concat()).expect_err("refused");
    assert!(e.to_string().contains("'z' is produced by no node"), "{e}");
    // A group that does not close (it takes the graph in), or closes with another field's end
    // tag, is not protobuf that prost reads: left to the loader's own reason, as before.
    assert!(
        check_for_tract(&[vec![(12 << 3) | 3, 0x08, 0x01], bad_graph.clone()].concat()).is_ok()
    );
    let crossed = [vec![(12 << 3) | 3, (13 << 3) | 4], bad_graph.clone()].concat();
    assert!(check_for_tract(&crossed).is_ok());
}

/// tract-onnx 0.23.9 panicked (`gelu_contrib.rs:88`, `inputs[0]`) on a com.microsoft BiasGelu node
/// with no input (found by the onnx_model fuzzer, kept in fuzz/regressions/onnx_model/): tract's
/// op builders index inputs without counting them, so every node is checked against its
/// operator's fewest inputs (onnx and onnxruntime schemas, scripts/gen_onnx_arity.py) first.
#[test]
fn onnx_node_with_too_few_inputs() {
    use quantlens::engine::onnx_graph::check_for_tract;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/onnx_model");
    let crash = std::fs::read(dir.join("gelu-too-few-inputs")).expect("the fuzzer's input");
    let e = check_for_tract(&crash).expect_err("refused").to_string();
    assert!(
        e.contains("(BiasGelu) has no input, and BiasGelu takes at least 2"),
        "{e}"
    );
    let graph = |node: Vec<u8>| check_for_tract(&pb(7, &[node, pb_value(12, "y")].concat()));
    // Add takes two; one is refused, with the node's name and the counts.
    assert_eq!(
        graph(pb_op_node("Add", &["a"], &["y"], &[])).unwrap_err().to_string(),
        "node 'node0' (Add) has 1 input, and Add takes at least 2: the ONNX file is broken (hand-edited or cut?), and the model runner cannot load it"
    );
    assert!(graph(pb_op_node("Add", &["a", "b"], &["y"], &[])).is_ok());
    // An empty name is an absent input (as tract reads it): it does not count.
    assert!(graph(pb_op_node("Add", &["a", ""], &["y"], &[])).is_err());
    // Optional inputs may be absent (Clip: min and max; Resize: roi and scales).
    assert!(graph(pb_op_node("Clip", &["a"], &["y"], &[])).is_ok());
    assert!(graph(pb_op_node("Resize", &["a", "", "", "s"], &["y"], &[])).is_ok());
    // QDQ: QuantizeLinear takes x and a scale (the zero point is optional).
    assert!(graph(pb_op_node("QuantizeLinear", &["a", "s"], &["y"], &[])).is_ok());
    assert!(graph(pb_op_node("QuantizeLinear", &["a"], &["y"], &[])).is_err());
    // An op no schema knows (a custom domain's) is left to the loader; so are ops of no input.
    assert!(graph(pb_op_node("MyCustomOp", &[], &["y"], &[])).is_ok());
    assert!(graph(pb_op_node("Constant", &[], &["y"], &[])).is_ok());
    // In a subgraph too (an If's then_branch).
    let body = [pb_op_node("Mul", &["x"], &["t"], &[]), pb_value(12, "t")].concat();
    let attr = [pb(1, b"then_branch"), pb(6, &body)].concat();
    assert!(graph(pb_op_node("If", &["c"], &["y"], &[attr])).is_err());
}
