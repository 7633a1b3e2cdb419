//! QuantLens: a quantization-accuracy debugger. The `engine` is pure Rust and computes everything;
//! `protocol` is what crosses the worker boundary; `ui` and `worker` exist only with the `web` feature.

pub mod engine;
pub mod protocol;

#[cfg(feature = "web")]
pub mod journal_store;
#[cfg(feature = "model-web")]
pub mod model_bench;
#[cfg(feature = "model-web")]
pub mod model_worker;
#[cfg(feature = "web")]
pub mod spread;
#[cfg(feature = "web")]
pub mod ui;
#[cfg(feature = "web")]
pub mod worker;
