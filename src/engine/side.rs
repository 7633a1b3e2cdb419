//! Vocabulary: which side of a float-vs-quantized comparison a tensor file is on.

use serde::{Deserialize, Serialize};

/// Which side of the comparison a tensor file is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Float,
    Quant,
}
