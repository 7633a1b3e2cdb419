//! Vocabulary: what the user says a run is meant to be (the seed's all-int16 → all-int8 → mixed).

use serde::{Deserialize, Serialize};

/// What the user says this run is meant to be (the seed: "all-int16 first, then all-int8, then mixed").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Not stated: no dtype expectation is checked.
    #[default]
    Unstated,
    AllInt8,
    AllInt16,
    Mixed,
}

impl Intent {
    pub fn parse(s: &str) -> Option<Intent> {
        match s.to_ascii_lowercase().as_str() {
            "int8" | "all-int8" | "all_int8" => Some(Intent::AllInt8),
            "int16" | "all-int16" | "all_int16" => Some(Intent::AllInt16),
            "mixed" => Some(Intent::Mixed),
            "" | "unstated" | "none" => Some(Intent::Unstated),
            _ => None,
        }
    }
}
