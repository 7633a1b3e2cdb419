//! Pure analysis engine: parsers, findings and the analysis session. No web crates; tested natively.

pub mod bundle;
pub mod cause;
pub mod cells;
pub mod compare;
pub mod detect;
pub mod diagnose_check;
pub mod diagnose_report;
pub mod digest;
pub mod doc;
pub mod document;
pub mod encode;
pub mod error;
pub mod export;
pub mod findings;
pub mod intent;
pub mod journal;
pub mod journal_view;
pub mod math;
pub mod metrics;
#[cfg(feature = "model")]
pub mod model;
pub mod model_check;
pub mod nextstep;
pub mod num;
pub mod onnx_graph;
pub mod pairs;
pub mod preprocess;
pub mod quant;
pub mod recommend;
pub mod rundiff;
pub mod scales;
pub mod sensitivity;
pub mod session;
pub mod share;
pub mod side;
pub mod sweep;
pub mod tabdoc;
pub mod table;
pub mod tensor;
pub mod textenc;
pub mod triage;
pub mod views;
pub mod whatif;

pub use findings::{Finding, Severity};
pub use session::{analyze_source, analyze_text, Analysis, FileReport};
