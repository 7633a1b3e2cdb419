//! Image sample inputs against an independent reference (`scripts/gen_image_fixtures.py`: PIL
//! decodes, numpy resizes bilinearly with half-pixel centres): PNG exactly (to float rounding), JPEG
//! within the decoders' rounding (the tolerance is in `reference.json`); damaged images named.
#![cfg(feature = "model")]

mod common;

use quantlens::engine::preprocess::{decode, image_tensor, split_images, Layout, Preprocess};
use serde_json::Value;

#[test]
fn images_give_the_reference_tensors() {
    let r: Value =
        serde_json::from_str(&common::text("tests/fixtures/image/reference.json")).expect("json");
    let tol8 = r["jpeg_tolerance_8bit"].as_f64().expect("tolerance");
    let cases = r["cases"].as_array().expect("cases");
    assert!(cases.len() >= 6);
    for c in cases {
        let file = c["file"].as_str().expect("file");
        let bytes = common::bytes(&format!("tests/fixtures/image/{file}"));
        let img = decode(file, &bytes).expect("decodes");
        let p = &c["preprocess"];
        let f3 = |k: &str| -> [f32; 3] {
            let v: Vec<f32> = p[k]
                .as_array()
                .expect("triple")
                .iter()
                .map(|x| x.as_f64().expect("num") as f32)
                .collect();
            [v[0], v[1], v[2]]
        };
        let layout = Layout::parse(p["layout"].as_str().expect("layout")).expect("layout");
        let pp = Preprocess {
            size: None,
            bgr: p["bgr"].as_bool().expect("bgr"),
            scale: p["scale"].as_f64().expect("scale") as f32,
            mean: f3("mean"),
            std: f3("std"),
            layout: Some(layout),
            pad: p["pad"].as_bool().expect("pad"),
        };
        let size = c["size"].as_array().expect("size");
        let hw = (
            size[0].as_u64().expect("h") as usize,
            size[1].as_u64().expect("w") as usize,
        );
        let (shape, got) = image_tensor(&img, hw, 3, layout, &pp);
        let want_shape: Vec<usize> = c["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_u64().expect("dim") as usize)
            .collect();
        assert_eq!(shape, want_shape, "{file}");
        let want: Vec<f64> = c["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|v| v.as_f64().expect("num"))
            .collect();
        // Compare in 8-bit units: |Δ| · std / scale.
        let min_std = pp.std.iter().fold(f32::MAX, |a, b| a.min(*b)) as f64;
        let unit = min_std / pp.scale as f64;
        let (mut worst, mut sum) = (0f64, 0f64);
        for (g, w) in got.iter().zip(&want) {
            let d = (*g as f64 - w).abs() * unit;
            worst = worst.max(d);
            sum += d;
        }
        let mean = sum / want.len() as f64;
        if file.ends_with(".jpg") {
            assert!(
                worst <= tol8 && mean <= 1.5,
                "{file}: max |Δ| {worst:.2}/255, mean {mean:.3}/255"
            );
        } else {
            assert!(worst < 1e-3, "{file}: max |Δ| {worst}/255");
        }
        eprintln!(
            "{file} {:?}: max |Δ| {worst:.3}/255, mean {mean:.4}/255",
            hw
        );
    }
}

#[test]
fn a_damaged_or_foreign_file_is_named() {
    let broken = common::bytes("tests/fixtures/image/broken.png");
    let e = decode("broken.png", &broken).unwrap_err();
    assert!(
        e.starts_with("broken.png: a PNG image QuantLens cannot read"),
        "{e}"
    );
    let mut jpg = common::bytes("tests/fixtures/image/text1.jpg");
    jpg.truncate(jpg.len() / 2);
    let e = decode("half.jpg", &jpg).unwrap_err();
    assert!(e.starts_with("half.jpg: a JPEG image"), "{e}");
    assert!(decode("x.png", b"not an image").is_err());
    let files = vec![
        ("broken.png".to_string(), broken),
        (
            "renamed.bin".to_string(),
            common::bytes("tests/fixtures/image/small.png"),
        ),
        (
            "s.npz".to_string(),
            common::bytes("tests/fixtures/model/cls_sample0.npz"),
        ),
    ];
    let (images, bad, rest) = split_images(files);
    assert_eq!(images.len(), 1, "found by content, whatever the name");
    assert_eq!(images[0].1.width, 13);
    assert_eq!(bad.len(), 1);
    assert_eq!(rest.len(), 1);
}

#[test]
fn the_session_calls_a_dropped_image_a_sample_input_whatever_its_name() {
    use quantlens::engine::detect::{detect, Detection, IMAGE_SAMPLE, SNIFF_BYTES};
    use quantlens::engine::textenc::decode_head;
    for (file, size) in [
        ("text0.png", " 200×52"),
        ("text1.jpg", ""),
        ("broken.png", " 200×52"),
        ("small_rgba16.png", " 9×5"),
    ] {
        let bytes = common::bytes(&format!("tests/fixtures/image/{file}"));
        let (_, head) = decode_head(&bytes[..bytes.len().min(SNIFF_BYTES)]);
        let Detection::Rejected(why) = detect("renamed", &head, bytes.len() as u64) else {
            panic!("{file}: not rejected as a report");
        };
        assert!(why.contains(IMAGE_SAMPLE), "{file}: {why}");
        assert!(why.contains(&format!("image{size}:")), "{file}: {why}");
    }
}
