//! Helpers shared by the integration tests: fixture paths and text, the CLI runner, and a session
//! opened on files as a user drops them.
#![allow(dead_code)]

use quantlens::engine::session::Session;
use quantlens::engine::tensor::FileSource;
use std::path::{Path, PathBuf};

/// The package root (fixtures are named relative to it).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn path(rel: &str) -> PathBuf {
    root().join(rel)
}

/// A fixture's text.
pub fn text(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A fixture's bytes.
pub fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Run the CLI from the package root: (exit code, stdout, stderr).
pub fn quantlens(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantlens"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run quantlens");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A session with these files, each under `base`, named as a folder drop names them (the path
/// below `base`), then paired, compared and diagnosed.
pub fn session_in(base: &str, rel: &[&str]) -> Session {
    let mut s = Session::new();
    for r in rel {
        let src = FileSource::open(&path(base).join(r)).unwrap_or_else(|e| panic!("{r}: {e}"));
        s.open(r, Box::new(src));
    }
    s.update(&mut |_, _, _| {});
    s
}

/// Run the CLI from the package root, keeping the raw output.
pub fn quantlens_output(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_quantlens"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run quantlens")
}

/// The header of a C-order little-endian float32 `.npy` (version 1) of `shape`.
pub fn npy_f32_header(shape: &[u64]) -> Vec<u8> {
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    quantlens::engine::encode::npy("<f4", false, &shape, &[])
}

/// A C-order float32 `.npy` of `shape` holding `data`.
pub fn npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    quantlens::engine::encode::npy("<f4", false, shape, &bytes)
}

/// Fails, showing the whole text, unless `text` holds `part`.
#[track_caller]
#[allow(dead_code)]
pub fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "no {part:?} in:\n{text}");
}
