//! Scale sources (src/engine/scales.rs): every Q/DQ scale of a real QDQ model (PP-OCR's classifier
//! quantized by ONNX Runtime's `quantize_static`, per-channel weights) and of a hand-made model
//! (Constant nodes, com.microsoft, int16/uint16/uint8, float16 scale, per-axis, a subgraph) against
//! what the `onnx` Python package reads (scripts/gen_scale_fixtures.py), to 1e-7 relative; scales.json;
//! sniffing; and hostile or broken files, which must give a clear error, never a panic.

mod common;

use quantlens::engine::quant::QDType;
use quantlens::engine::scales::{
    looks_like_onnx, looks_like_scales_json, read_onnx_scales, read_scales_json, ScaleEntry,
    ScaleSet,
};
use quantlens::engine::tensor::{ByteSource, FileSource};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn expected() -> Value {
    serde_json::from_slice(&bytes("scales/expected.json")).expect("expected.json")
}

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-7 * want.abs();
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

fn exact<'a>(set: &'a ScaleSet, name: &str) -> &'a ScaleEntry {
    set.entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no entry named `{name}`"))
}

fn dtype(s: &str) -> Option<QDType> {
    match s {
        "int8" => Some(QDType::Int8),
        "uint8" => Some(QDType::Uint8),
        "int16" => Some(QDType::Int16),
        "int4" => Some(QDType::Int4),
        "uint16" => Some(QDType::Uint16),
        _ => None,
    }
}

/// Every record of expected.json for `model` is found, under every name, with its parameters.
fn check_against_onnx(model: &str, set: &ScaleSet) -> usize {
    let exp = expected();
    let recs = exp[model].as_array().expect("records");
    assert!(!recs.is_empty());
    let mut checked = 0;
    for r in recs {
        let names: Vec<&str> = r["names"]
            .as_array()
            .expect("names")
            .iter()
            .map(|v| v.as_str().expect("name"))
            .collect();
        for name in &names {
            let e = exact(set, name);
            let what = format!("{model} `{name}`");
            assert_eq!(e.dtype, dtype(r["dtype"].as_str().unwrap_or("")), "{what}");
            assert_eq!(e.weight, r["weight"].as_bool().expect("weight"), "{what}");
            if let Some(s) = r["scale"].as_f64() {
                assert!(!e.is_per_channel(), "{what}");
                close(e.scale, s, &what);
                assert_eq!(Some(e.zero_point), r["zero_point"].as_i64(), "{what}");
            } else {
                let cs: Vec<f64> = r["channel_scales"]
                    .as_array()
                    .expect("channel scales")
                    .iter()
                    .map(|v| v.as_f64().expect("f64"))
                    .collect();
                let cz: Vec<i64> = r["channel_zero_points"]
                    .as_array()
                    .expect("channel zps")
                    .iter()
                    .map(|v| v.as_i64().expect("i64"))
                    .collect();
                assert_eq!(e.channel_scales.len(), cs.len(), "{what}");
                for (i, (g, w)) in e.channel_scales.iter().zip(&cs).enumerate() {
                    close(*g, *w, &format!("{what}[{i}]"));
                }
                assert_eq!(e.channel_zero_points, cz, "{what}");
                assert_eq!(e.axis, r["axis"].as_i64(), "{what}");
                let max = cs.iter().cloned().fold(0.0, f64::max);
                close(e.scale, max, &what);
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn real_qdq_model_every_scale_as_onnx_reads_it() {
    let mut b = bytes("scales/ppocr_cls_qdq_int8.onnx");
    let set = read_onnx_scales(&mut b).expect("read");
    assert_eq!(set.source, "ONNX QDQ model");
    let n = check_against_onnx("ppocr_cls_qdq_int8.onnx", &set);
    assert!(n > 500, "{n} names checked");
    // Activations: under the float name and the names ORT gives the Q and DQ outputs.
    let exp = expected();
    let acts: Vec<&Value> = exp["ppocr_cls_qdq_int8.onnx"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["op"] == "QuantizeLinear")
        .collect();
    assert!(acts.len() > 100, "{} activations", acts.len());
    for r in &acts {
        let x = r["names"][0].as_str().expect("x");
        let s = r["scale"].as_f64().expect("scale");
        for name in [
            x.to_string(),
            format!("{x}_QuantizeLinear_Output"),
            format!("{x}_DequantizeLinear_Output"),
        ] {
            close(set.get(&name).expect("found").scale, s, &name);
            close(set.as_map()[&name], s, &name);
        }
    }
    // Weights: per-channel, also under the float weight name (ORT stores `<name>_quantized`).
    let w = set
        .get("conv1_weights")
        .expect("a weight under its float name");
    assert!(w.weight && w.is_per_channel() && w.axis == Some(0));
    assert_eq!(w.dtype, Some(QDType::Int8));
    let dq = exact(&set, "conv1_weights_DequantizeLinear_Output");
    assert_eq!((&dq.channel_scales, dq.axis), (&w.channel_scales, w.axis));
    assert!(set.notes[0].starts_with("218 QuantizeLinear and 361 DequantizeLinear nodes"));
}

#[test]
fn real_model_through_a_file_source() {
    let mut f = FileSource::open(&path("scales/ppocr_cls_qdq_int8.onnx")).expect("open");
    let set = read_onnx_scales(&mut f).expect("read");
    check_against_onnx("ppocr_cls_qdq_int8.onnx", &set);
}

#[test]
fn handmade_model_constants_domains_dtypes_per_axis_subgraph() {
    let mut b = bytes("scales/handmade_qdq.onnx");
    let set = read_onnx_scales(&mut b).expect("read");
    check_against_onnx("handmade_qdq.onnx", &set);
    // uint16 is ONNX Runtime's QUInt16 grid (it once had no QuantLens grid, and was said so).
    assert!(
        !set.notes.iter().any(|n| n.contains("does not have")),
        "{:?}",
        set.notes
    );
    assert_eq!(exact(&set, "c_dq").dtype, Some(QDType::Uint16));
    assert_eq!(exact(&set, "e_dq").axis, Some(1));
    assert_eq!(exact(&set, "g_dq").scale, 0.5);
}

#[test]
fn sniffing() {
    let head = |rel: &str, n: usize| {
        let b = bytes(rel);
        b[..b.len().min(n)].to_vec()
    };
    for model in ["scales/ppocr_cls_qdq_int8.onnx", "scales/handmade_qdq.onnx"] {
        assert!(looks_like_onnx(&head(model, 64)), "{model}");
        assert!(!looks_like_scales_json(&head(model, 512)), "{model}");
    }
    for json in ["scales/scales_flat.json", "scales/scales_nested.json"] {
        for n in [64, 512, 1 << 20] {
            assert!(looks_like_scales_json(&head(json, n)), "{json} ({n} bytes)");
        }
        assert!(!looks_like_onnx(&head(json, 64)), "{json}");
    }
    for other in [
        "tensors/single_float.npy",
        "tensors/int8_quant.npy",
        "tensors/ppocr_cls_float.npz",
        "tensors/evil.pt",
        "horizon/s11-full/model_check_result.txt",
        "scales/expected.json",
        "tensors/expected.json",
    ] {
        if !path(other).exists() {
            continue;
        }
        assert!(!looks_like_onnx(&head(other, 64)), "{other}");
        assert!(!looks_like_scales_json(&head(other, 512)), "{other}");
        assert!(!looks_like_scales_json(&head(other, 1 << 20)), "{other}");
    }
    assert!(!looks_like_onnx(b""));
    assert!(!looks_like_scales_json(b""));
    assert!(!looks_like_scales_json(b"{\"a\": [0.1, 0.2]}"));
}

#[test]
fn scales_json_examples() {
    let exp = expected();
    let recs = exp["ppocr_cls_qdq_int8.onnx"].as_array().expect("records");
    let by_x = |x: &str| {
        recs.iter()
            .find(|r| r["op"] == "QuantizeLinear" && r["names"][0] == x)
            .expect("record")
    };
    let flat =
        read_scales_json(&String::from_utf8(bytes("scales/scales_flat.json")).expect("utf-8"))
            .expect("flat");
    let nested =
        read_scales_json(&String::from_utf8(bytes("scales/scales_nested.json")).expect("utf-8"))
            .expect("nested");
    assert_eq!(flat.source, "scales.json");
    assert_eq!(flat.entries.len(), 6);
    assert_eq!(nested.entries.len(), 6);
    for e in &flat.entries {
        let r = by_x(&e.name);
        close(e.scale, r["scale"].as_f64().expect("scale"), &e.name);
        assert_eq!((e.zero_point, e.dtype), (0, None));
        // A dump named the way ORT names it finds the scale.
        assert_eq!(
            flat.get(&format!("{}_DequantizeLinear_Output", e.name)),
            Some(e)
        );
    }
    for e in &nested.entries {
        let r = by_x(&e.name);
        close(e.scale, r["scale"].as_f64().expect("scale"), &e.name);
        assert_eq!(Some(e.zero_point), r["zero_point"].as_i64());
        assert_eq!(e.dtype, Some(QDType::Int8));
    }
    let pc = read_scales_json(
        r#"{"w": {"scale": [0.1, 0.3, 0.2], "zero_point": [0, 1, 2], "axis": 0, "dtype": "int8"}, "a": {"scale": 0.5, "zero_point": 128, "dtype": "uint8"}}"#,
    )
    .expect("per-channel");
    let w = pc.get("w").expect("w");
    assert_eq!((w.scale, w.zero_point, w.axis), (0.3, 1, Some(0)));
    assert_eq!(w.channel_scales, vec![0.1, 0.3, 0.2]);
    assert_eq!(w.channel_zero_points, vec![0, 1, 2]);
    assert_eq!(
        pc.get("a").map(|e| (e.zero_point, e.dtype)),
        Some((128, Some(QDType::Uint8)))
    );
    let wrapped = read_scales_json(r#"{"version": 1, "scales": {"a": 0.5}}"#).expect("wrapped");
    assert_eq!(wrapped.as_map().get("a"), Some(&0.5));
}

#[test]
fn scales_json_errors() {
    let cases: &[(&str, &str)] = &[
        (r#"{"conv1": -0.5}"#, "`conv1`: the scale must be a positive finite number, not -0.5"),
        (r#"{"ok": 0.1, "conv1": 0}"#, "`conv1`: the scale must be a positive finite number, not 0"),
        (r#"{"a": {"scale": 0.0}}"#, "`a`: the scale must be a positive finite number, not 0"),
        (r#"{"w": {"scale": [0.1, -1]}}"#, "`w[1]`: the scale must be a positive finite number, not -1"),
        (r#"{"a": {"scale": "0.1"}}"#, "`a`: the scale must be a number, not a string"),
        (r#"{"a": "0.1"}"#, "`a`: expected a scale (a number) or an object with a \"scale\", not a string"),
        (r#"{"a": null}"#, "`a`: expected a scale (a number) or an object with a \"scale\", not null"),
        (r#"{"a": [0.1, 0.2]}"#, "`a`: a list, not a scale (per-channel scales are written {\"scale\": [...], \"axis\": 0}; a [min, max] range is not a scale)"),
        (r#"{"a": {"zero_point": 3}}"#, "`a`: an object without a \"scale\" (write {\"scale\": 0.0123})"),
        (r#"{"a": {"scale": 0.1, "dtype": "fp8"}}"#, "`a`: unknown dtype \"fp8\" (QuantLens knows int4, int8, int16, uint8 and uint16)"),
        (r#"{"a": {"scale": 0.1, "zero_point": 300, "dtype": "int8"}}"#, "`a`: the zero point 300 is outside int8's range [-128, 127]"),
        (r#"{"a": {"scale": 0.1, "zero_point": 0.5}}"#, "`a`: the zero point must be an integer, not 0.5"),
        (r#"{"w": {"scale": [0.1, 0.2], "zero_point": [0]}}"#, "`w`: 1 zero points for 2 scales"),
        ("[0.1, 0.2]", "a scales file must be a JSON object mapping tensor names to scales, like {\"conv1\": 0.0123}; this one holds a list"),
        ("0.1", "a scales file must be a JSON object mapping tensor names to scales, like {\"conv1\": 0.0123}; this one holds a number"),
        ("{}", "the scales file holds no scales (an empty object)"),
        (r#"{"scales": {}}"#, "the scales file holds no scales (an empty object)"),
    ];
    for (text, want) in cases {
        assert_eq!(read_scales_json(text).expect_err(text), *want, "{text}");
    }
    for text in ["{\"a\": ", "", "{\"a\": 1e999}", "{\"a\": NaN}"] {
        let e = read_scales_json(text).expect_err(text);
        assert!(e.to_string().starts_with("not valid JSON: "), "{text}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-encoded protobuf for the hostile and broken files.

fn vint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn int(num: u64, v: u64) -> Vec<u8> {
    let mut o = Vec::new();
    vint(num << 3, &mut o);
    vint(v, &mut o);
    o
}

fn field(num: u64, payload: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    vint(num << 3 | 2, &mut o);
    vint(payload.len() as u64, &mut o);
    o.extend_from_slice(payload);
    o
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn tensor_f32(name: &str, v: f32) -> Vec<u8> {
    cat(&[
        int(2, 1),
        field(8, name.as_bytes()),
        field(9, &v.to_le_bytes()),
    ])
}

fn tensor_i8(name: &str, v: i8) -> Vec<u8> {
    cat(&[int(2, 3), field(8, name.as_bytes()), field(9, &[v as u8])])
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], name: &str, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = inputs.iter().map(|s| field(1, s.as_bytes())).collect();
    parts.extend(outputs.iter().map(|s| field(2, s.as_bytes())));
    parts.push(field(3, name.as_bytes()));
    parts.push(field(4, op.as_bytes()));
    parts.extend(attrs.iter().map(|a| field(5, a)));
    cat(&parts)
}

fn qdq_nodes() -> Vec<u8> {
    cat(&[
        field(
            1,
            &node("QuantizeLinear", &["x", "s", "z"], &["xq"], "q", &[]),
        ),
        field(
            1,
            &node("DequantizeLinear", &["xq", "s", "z"], &["xdq"], "dq", &[]),
        ),
    ])
}

fn model(graph: &[u8]) -> Vec<u8> {
    cat(&[int(1, 8), field(7, graph)])
}

fn tiny() -> Vec<u8> {
    model(&cat(&[
        qdq_nodes(),
        field(5, &tensor_f32("s", 0.5)),
        field(5, &tensor_i8("z", -2)),
    ]))
}

#[test]
fn tiny_model_reads() {
    let mut b = tiny();
    assert!(looks_like_onnx(&b));
    let set = read_onnx_scales(&mut b).expect("tiny");
    for name in ["x", "xq", "xdq"] {
        let e = set.get(name).expect(name);
        assert_eq!(
            (e.scale, e.zero_point, e.dtype),
            (0.5, -2, Some(QDType::Int8))
        );
    }
}

#[test]
fn truncated_models() {
    let full = tiny();
    let mut b = full[..full.len() - 5].to_vec();
    let glen = full.len() - 4; // 08 08 3a <1-byte length>
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("truncated").to_string(),
        format!(
            "the ONNX file is truncated: the field at byte 2 is {glen} bytes long, but the file ends at byte {}",
            full.len() - 5
        )
    );
    let real = bytes("scales/ppocr_cls_qdq_int8.onnx");
    for cut in [10, 100, 1000, real.len() / 2, real.len() - 1] {
        let mut b = real[..cut].to_vec();
        let e = read_onnx_scales(&mut b).expect_err("truncated");
        assert!(
            e.to_string().starts_with("the ONNX file is truncated: "),
            "{cut}: {e}"
        );
    }
    let mut empty: Vec<u8> = Vec::new();
    assert_eq!(
        read_onnx_scales(&mut empty).expect_err("empty"),
        "the file is empty"
    );
}

#[test]
fn field_length_past_its_parent() {
    let good = field(
        1,
        &node("QuantizeLinear", &["x", "s", "z"], &["xq"], "q", &[]),
    );
    let mut bad = vec![0x0a];
    vint(100, &mut bad);
    bad.extend_from_slice(b"abc");
    let graph = cat(&[good.clone(), bad]);
    let mut b = model(&graph);
    let graph_start = b.len() - graph.len();
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("overrun").to_string(),
        format!(
            "corrupt ONNX file: the field at byte {} is 100 bytes long, past the end of its enclosing message (byte {})",
            graph_start + good.len(),
            b.len()
        )
    );
}

fn nested(levels: usize) -> Vec<u8> {
    let mut g = cat(&[
        qdq_nodes(),
        field(5, &tensor_f32("s", 0.25)),
        field(5, &tensor_i8("z", 0)),
    ]);
    for _ in 0..levels {
        let attr = cat(&[field(1, b"then_branch"), int(20, 5), field(6, &g)]);
        g = field(1, &node("If", &["cond"], &["out"], "if", &[attr]));
    }
    model(&g)
}

#[test]
fn deep_nesting() {
    // 16 levels of If bodies are read (the Q/DQ at the bottom is found) ...
    let mut ok = nested(16);
    let set = read_onnx_scales(&mut ok).expect("16 levels");
    assert_eq!(set.get("xdq").map(|e| e.scale), Some(0.25));
    // ... deeper is refused, as is a hostile 5000.
    for levels in [17, 5000] {
        let mut b = nested(levels);
        assert_eq!(
            read_onnx_scales(&mut b).expect_err("deep"),
            "the ONNX model nests subgraphs (If/Loop/Scan bodies) more than 16 levels deep: not read (a broken or hostile file?)"
        );
    }
}

#[test]
fn external_data_scale() {
    let ext = |name: &str| {
        cat(&[
            int(2, 1),
            field(8, name.as_bytes()),
            field(
                13,
                &cat(&[field(1, b"location"), field(2, b"model.onnx.data")]),
            ),
            field(13, &cat(&[field(1, b"offset"), field(2, b"0")])),
            int(14, 1),
        ])
    };
    let mut b = model(&cat(&[
        qdq_nodes(),
        field(5, &ext("s")),
        field(5, &tensor_i8("z", 0)),
    ]));
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("external"),
        "the model's scales are stored outside the .onnx file, in external data (`model.onnx.data`), which QuantLens does not read: re-save the model with small tensors inside it (onnx.save(model, path, save_as_external_data=True, size_threshold=1024) keeps scales and zero points in the .onnx file)"
    );
    // A weight in external data is no obstacle (only scales are read); another node's external
    // scale is a note.
    let mut b = model(&cat(&[
        qdq_nodes(),
        field(
            1,
            &node("DequantizeLinear", &["w", "ws"], &["wdq"], "dqw", &[]),
        ),
        field(5, &tensor_f32("s", 0.5)),
        field(5, &tensor_i8("z", 0)),
        field(5, &ext("ws")),
        field(5, &ext("w")),
    ]));
    let set = read_onnx_scales(&mut b).expect("partly external");
    assert_eq!(set.get("xdq").map(|e| e.scale), Some(0.5));
    assert!(set.get("wdq").is_none());
    assert!(
        set.notes
            .iter()
            .any(|n| n.starts_with("1 Q/DQ nodes skipped: their scales are stored outside")),
        "{:?}",
        set.notes
    );
}

#[test]
fn other_broken_models() {
    let not_onnx = "not an ONNX model: QuantLens reads scales from QDQ-quantized .onnx models and from scales.json files";
    for junk in [
        &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..],
        b"hello, world\n",
        b"{\"a\": 0.5}",
        b"\x93NUMPY\x01\x00v\x00",
    ] {
        let mut b = junk.to_vec();
        assert_eq!(read_onnx_scales(&mut b).expect_err("junk"), not_onnx);
    }
    let mut float_model = model(&field(1, &node("Conv", &["x", "w"], &["y"], "conv", &[])));
    assert_eq!(
        read_onnx_scales(&mut float_model).expect_err("float"),
        "the ONNX model has no QuantizeLinear or DequantizeLinear nodes: it is not a QDQ-quantized model"
    );
    let mut qop = model(&field(1, &node("QLinearConv", &["x"], &["y"], "c", &[])));
    assert!(read_onnx_scales(&mut qop)
        .expect_err("qop")
        .to_string()
        .starts_with("the ONNX model is in QOperator format (1 QLinear… nodes)"));
    let mut no_graph = int(1, 8);
    no_graph.extend(field(2, b"pytorch"));
    assert_eq!(
        read_onnx_scales(&mut no_graph).expect_err("no graph"),
        "the ONNX model has no graph"
    );
    let mut runtime_scale = model(&qdq_nodes());
    assert_eq!(
        read_onnx_scales(&mut runtime_scale).expect_err("no constants"),
        "no scale of the model could be read: QuantizeLinear `q`: its scale `s` is not a constant of the model (an initializer or a Constant node): skipped"
    );
    let mut negative = model(&cat(&[
        qdq_nodes(),
        field(5, &tensor_f32("s", -0.5)),
        field(5, &tensor_i8("z", 0)),
    ]));
    assert_eq!(
        read_onnx_scales(&mut negative).expect_err("negative"),
        "no scale of the model could be read: QuantizeLinear `q`: its scale `s` is -0.5, not a positive finite number: skipped"
    );
    let mut short_raw = model(&cat(&[
        qdq_nodes(),
        field(5, &cat(&[int(2, 1), field(8, b"s"), field(9, &[0, 0])])),
    ]));
    assert_eq!(
        read_onnx_scales(&mut short_raw).expect_err("short raw"),
        "no scale of the model could be read: QuantizeLinear `q`: its scale `s`: its raw data holds 2 bytes, its shape needs 4: skipped"
    );
    // A scale claiming 2^62 elements: refused without allocating.
    let mut huge = model(&cat(&[
        qdq_nodes(),
        field(
            5,
            &cat(&[
                int(1, 1 << 62),
                int(2, 1),
                field(8, b"s"),
                field(9, &[0; 4]),
            ]),
        ),
    ]));
    assert_eq!(
        read_onnx_scales(&mut huge).expect_err("huge"),
        "no scale of the model could be read: QuantizeLinear `q`: its scale `s`: it holds more than 1048576 values: skipped"
    );
    // A 10-byte length varint (2^64 − 1) and a malformed 11-byte varint.
    let mut b = vec![0x08, 0x07, 0x3a];
    b.extend([0xff; 9]);
    b.push(0x01);
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("huge length"),
        "the ONNX file is truncated: the field at byte 2 is 18446744073709551615 bytes long, but the file ends at byte 13"
    );
    let mut b = vec![0x08, 0x07, 0x12, 0x01, b'a', 0x28];
    b.extend([0xff; 11]);
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("malformed"),
        "corrupt ONNX file: a malformed number at byte 6"
    );
    // A wire type ONNX never uses (a group), inside the graph: skipped as prost (tract's decoder)
    // skips it, so the graph is read on; one that never closes is corrupt.
    let mut b = model(&[0x0b, 0x0c]);
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("group"),
        "the ONNX model has no QuantizeLinear or DequantizeLinear nodes: it is not a QDQ-quantized model"
    );
    let mut b = model(&[0x0b, 0x08, 0x01]);
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("open group"),
        "corrupt ONNX file: the group of field 1 at byte 4 has no end"
    );
    // A name of 100 kB.
    let long = "n".repeat(100_000);
    let mut b = model(&field(
        1,
        &node("QuantizeLinear", &[&long, "s"], &["y"], "q", &[]),
    ));
    let e = read_onnx_scales(&mut b).expect_err("long name");
    assert!(
        e.to_string()
            .starts_with("corrupt ONNX file: a name of 100000 bytes at byte "),
        "{e}"
    );
}

/// A source of `head`, then `gap` zero bytes, then `tail`, counting what is read.
struct Sparse {
    head: Vec<u8>,
    gap: u64,
    tail: Vec<u8>,
    read: u64,
}

impl ByteSource for Sparse {
    fn size(&self) -> u64 {
        self.head.len() as u64 + self.gap + self.tail.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset + buf.len() as u64 > self.size() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "past the end",
            ));
        }
        self.read += buf.len() as u64;
        let h = self.head.len() as u64;
        for (i, b) in buf.iter_mut().enumerate() {
            let p = offset + i as u64;
            *b = if p < h {
                self.head[p as usize]
            } else if p < h + self.gap {
                0
            } else {
                self.tail[(p - h - self.gap) as usize]
            };
        }
        Ok(())
    }
}

#[test]
fn big_weights_are_skipped_not_read() {
    // A 4 GiB weight initializer between the nodes and the scales: only headers are read.
    let gap: u64 = 4 << 30;
    let mut w_head = cat(&[int(1, gap / 4), int(2, 1), field(8, b"w")]);
    w_head.push(9 << 3 | 2);
    vint(gap, &mut w_head);
    let ws = cat(&[
        int(1, 2),
        int(2, 1),
        field(8, b"ws"),
        field(9, &[0.5f32.to_le_bytes(), 0.25f32.to_le_bytes()].concat()),
    ]);
    let tail_graph = cat(&[
        field(5, &tensor_f32("s", 0.125)),
        field(5, &tensor_i8("z", 3)),
        field(5, &ws),
    ]);
    let nodes = cat(&[
        qdq_nodes(),
        field(
            1,
            &node(
                "DequantizeLinear",
                &["w", "ws"],
                &["w_dq"],
                "dqw",
                &[cat(&[field(1, b"axis"), int(3, 0), int(20, 2)])],
            ),
        ),
    ]);
    let w_len = w_head.len() as u64 + gap;
    let mut w_field = vec![5 << 3 | 2];
    vint(w_len, &mut w_field);
    let graph_len = nodes.len() as u64 + w_field.len() as u64 + w_len + tail_graph.len() as u64;
    let mut head = int(1, 8);
    head.push(7 << 3 | 2);
    vint(graph_len, &mut head);
    head.extend(nodes);
    head.extend(w_field);
    head.extend(w_head);
    let mut src = Sparse {
        head,
        gap,
        tail: tail_graph,
        read: 0,
    };
    let set = read_onnx_scales(&mut src).expect("big model");
    assert_eq!(
        set.get("xdq").map(|e| (e.scale, e.zero_point)),
        Some((0.125, 3))
    );
    let w = set.get("w").expect("weight");
    assert!(w.weight);
    assert_eq!(w.channel_scales, vec![0.5, 0.25]);
    assert_eq!(w.axis, Some(0));
    assert_eq!(
        w.dtype, None,
        "no zero point and an untyped weight: no dtype"
    );
    assert!(
        src.read < 1 << 20,
        "{} bytes read of a 4 GiB file",
        src.read
    );
}

/// A small deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_models_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let bases = [tiny(), nested(3), bytes("scales/handmade_qdq.onnx")];
    for base in &bases {
        for _ in 0..3000 {
            let mut b = base.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() % b.len() as u64) as usize;
                match rng.next() % 4 {
                    0 => b[i] = rng.next() as u8,
                    1 => b[i] ^= 0x80,
                    2 => b.truncate(i.max(1)),
                    _ => b.insert(i, rng.next() as u8),
                }
            }
            let _ = read_onnx_scales(&mut b);
        }
    }
    // The real model, mutated in its graph (the first 40 kB hold the nodes).
    let real = bytes("scales/ppocr_cls_qdq_int8.onnx");
    for _ in 0..60 {
        let mut b = real.clone();
        for _ in 0..8 {
            let i = (rng.next() % 40_000) as usize;
            b[i] = rng.next() as u8;
        }
        let _ = read_onnx_scales(&mut b);
    }
}

#[test]
fn constant_value_floats_int4_and_too_many_dims() {
    let floats: Vec<u8> = [0.125f32, 0.25]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let constant = node(
        "Constant",
        &[],
        &["s"],
        "c",
        &[cat(&[
            field(1, b"value_floats"),
            field(7, &floats),
            int(20, 6),
        ])],
    );
    let axis = cat(&[field(1, b"axis"), int(3, 0), int(20, 2)]);
    // int4 zero points 1 and -2, packed low nibble first.
    let z = cat(&[int(1, 2), int(2, 22), field(8, b"z"), field(9, &[0xe1])]);
    let mut b = model(&cat(&[
        field(1, &constant),
        field(
            1,
            &node("QuantizeLinear", &["x", "s", "z"], &["xq"], "q", &[axis]),
        ),
        field(5, &z),
    ]));
    let set = read_onnx_scales(&mut b).expect("value_floats");
    let e = set.get("x").expect("x");
    assert_eq!(e.channel_scales, vec![0.125, 0.25]);
    assert_eq!(e.channel_zero_points, vec![1, -2]);
    assert_eq!(
        (e.scale, e.zero_point, e.axis, e.dtype),
        (0.25, -2, Some(0), Some(QDType::Int4))
    );
    // A scale with 65 dimensions.
    let dims: Vec<u8> = (0..65).flat_map(|_| int(1, 1)).collect();
    let mut b = model(&cat(&[
        qdq_nodes(),
        field(
            5,
            &cat(&[dims, int(2, 1), field(8, b"s"), field(9, &[0; 4])]),
        ),
    ]));
    assert_eq!(
        read_onnx_scales(&mut b).expect_err("dims"),
        "no scale of the model could be read: QuantizeLinear `q`: its scale `s`: it holds more than 1048576 values or 64 dimensions: skipped"
    );
}

/// Counts what is read.
struct Counting {
    bytes: Vec<u8>,
    calls: usize,
    read: u64,
}

impl ByteSource for Counting {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.calls += 1;
        self.read += buf.len() as u64;
        self.bytes.as_slice().read_at(offset, buf)
    }
}

#[test]
fn real_model_costs_few_reads() {
    let mut src = Counting {
        bytes: bytes("scales/ppocr_cls_qdq_int8.onnx"),
        calls: 0,
        read: 0,
    };
    read_onnx_scales(&mut src).expect("read");
    let size = src.bytes.len() as u64;
    eprintln!("{} reads, {} of {size} bytes", src.calls, src.read);
    // A small file is read whole, once (after the 64-byte sniff).
    assert!(src.read <= size + 64, "{} bytes read", src.read);
    // Grown past 4 MiB (a 5 MB doc_string appended, still a valid ModelProto), it is read in
    // windows: the same scales, a fraction of the bytes.
    let mut big = Counting {
        bytes: [src.bytes.clone(), field(6, &vec![b' '; 5 << 20])].concat(),
        calls: 0,
        read: 0,
    };
    let set = read_onnx_scales(&mut big).expect("read");
    check_against_onnx("ppocr_cls_qdq_int8.onnx", &set);
    eprintln!(
        "{} reads, {} of {} bytes",
        big.calls,
        big.read,
        big.bytes.len()
    );
    // Two passes over the graph's headers (here nearly all of the model: its weights are small).
    assert!(big.read < 4 * size, "{} bytes read", big.read);
}

/// A float ONNX model (no Q/DQ node) dropped with the rest is not a broken scale source: the
/// session takes it as a model the runner can run, with no error.
#[test]
fn a_float_model_is_a_model_to_run_not_a_broken_scale_source() {
    let s = common::session_in(
        "tests/fixtures/model",
        &["ppocr_cls.onnx", "cls_sample0.npz"],
    );
    let f = &s.analysis.files[0];
    assert_eq!(f.format, Some(quantlens::engine::detect::Format::OnnxModel));
    assert_eq!(f.error, None);
    assert!(
        f.notes[0].text.contains("the model runner"),
        "{:?}",
        f.notes
    );
}

#[test]
fn unpaired_weights_of_a_loaded_qdq_model_are_counted_as_weights() {
    // A dump of the quantized model's outputs holds its weights' DequantizeLinear outputs too;
    // the float dump (activations) has nothing to pair them with. With the model loaded, the
    // Overview says how many of the unpaired ones are its weights.
    let model = bytes("scales/ppocr_cls_qdq_int8.onnx");
    let set = read_onnx_scales(&mut model.clone()).expect("model");
    let weight = set
        .entries
        .iter()
        .find(|e| e.weight)
        .expect("a weight")
        .name
        .clone();
    let act = set
        .entries
        .iter()
        .find(|e| !e.weight)
        .expect("an activation")
        .name
        .clone();
    let v = [0.5f32, -0.25, 1.0, 0.0];
    let mut s = quantlens::engine::session::Session::new();
    s.open("model.onnx", Box::new(model));
    s.open(
        &format!("fp32/{act}.npy"),
        Box::new(common::npy_f32(&[4], &v)),
    );
    s.open(
        &format!("int8/{act}.npy"),
        Box::new(common::npy_f32(&[4], &v)),
    );
    let w = format!("int8/{weight}.npy");
    s.open(&w, Box::new(common::npy_f32(&[4], &v)));
    s.open("int8/stray.npy", Box::new(common::npy_f32(&[4], &v)));
    s.update(&mut |_, _, _| {});
    let a = &s.analysis;
    assert_eq!(a.tensors.pairs.len(), 1, "{:?}", a.tensors);
    assert_eq!(
        a.tensors.unpaired_quant.len(),
        2,
        "{:?}",
        a.tensors.unpaired_quant
    );
    assert_eq!(a.unpaired_weights(), 1, "{weight}");
}

/// The activations only a Clip reads after their QuantizeLinear → DequantizeLinear, and its
/// bounds, as `scripts/gen_clamp_fixtures.py` works them out with the `onnx` package: a real ORT
/// QDQ model of PP-OCR's classifier at opset 13 (its hardswish Add → Clip(0, 6)), the opset-11 one
/// (no Clip), and hand-made cases (bounds as a Constant; a second reader, different bounds, the
/// activation read elsewhere, a graph output, no max, a max that is not a constant).
#[test]
fn clamps_after_quantization_as_onnx_reads_them() {
    let want: Value = serde_json::from_slice(&bytes("scales/clamps.json")).expect("clamps.json");
    let want = want.as_object().expect("object");
    assert_eq!(want.len(), 3);
    for (model, names) in want {
        let mut b = bytes(&format!("scales/{model}"));
        let set = read_onnx_scales(&mut b).expect("read");
        let got: std::collections::BTreeMap<String, [f64; 2]> = set
            .entries
            .iter()
            .filter_map(|e| e.clamp_after.map(|c| (e.name.clone(), c)))
            .collect();
        let want: std::collections::BTreeMap<String, [f64; 2]> = names
            .as_object()
            .expect("names")
            .iter()
            .map(|(k, v)| {
                let v = v.as_array().expect("pair");
                (
                    k.clone(),
                    [v[0].as_f64().expect("lo"), v[1].as_f64().expect("hi")],
                )
            })
            .collect();
        assert_eq!(got, want, "{model}");
        let said = set.notes.iter().any(|n| n.contains("feed only a Clip"));
        assert_eq!(said, !want.is_empty(), "{model}: {:?}", set.notes);
    }
}
