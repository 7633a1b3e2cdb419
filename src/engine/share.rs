//! View model: the view a link carries in its URL fragment (versioned JSON, deflated, base64url).
//!
//! The fragment never reaches a server. Links written by older versions keep opening; a newer,
//! damaged or hostile fragment is refused with a sentence saying which, and nothing in it is ever
//! run or rendered as markup: it only names a tab, a file by name and row/finding positions.

use super::encode::{base64url_decode, base64url_encode};
use super::intent::Intent;
use super::quant::QDType;
use super::side::Side;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state version this build writes; it reads every version from 1 to this one.
///
/// 1: tab, file, finding, row, grid, mix, pairs. 2: adds `run` (intent, sides, scales, pairs set by
/// hand). A version-1 link reads as a version-2 state with the run as the files give it.
pub const SHARE_VERSION: u32 = 2;
/// The longest fragment accepted, in bytes: far above any view state, so a longer one is hostile.
pub const FRAGMENT_CAP_BYTES: usize = 8 * 1024;
/// The most bytes a fragment may inflate to (a deflate bomb stops here).
const INFLATED_CAP_BYTES: usize = 64 * 1024;
/// The key of the view state in the fragment: `#s=…`.
pub const FRAGMENT_KEY: &str = "s";

/// Which view is open.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TabRef {
    #[default]
    Overview,
    /// A file's view; the file is named in [`ViewState::file`].
    File,
    Tensors,
    Recommend,
    /// The journal of runs (shown without files too).
    Journal,
}

/// The view a link opens: the tab, the file (by name, so it survives another load order) and the
/// selected finding and row. Unknown fields are ignored, missing ones take their defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ViewState {
    pub v: u32,
    #[serde(default)]
    pub tab: TabRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Index of the selected finding in the findings list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<usize>,
    /// Index of the selected row of the file's table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// The layer grid's filters, sort and columns (a file view only).
    #[serde(default, skip_serializing_if = "GridState::is_default")]
    pub grid: GridState,
    /// The mixed-precision view's choices (that view only).
    #[serde(default, skip_serializing_if = "MixState::is_default")]
    pub mix: MixState,
    /// The Tensors view's open pair and sort (that view only).
    #[serde(default, skip_serializing_if = "PairsState::is_default")]
    pub pairs: PairsState,
    /// What the user set about the run: its intent, the sides, scales and pairs chosen by hand
    /// (every view: they change the analysis itself).
    #[serde(default, skip_serializing_if = "RunState::is_default")]
    pub run: RunState,
}

/// The run as the user set it: intent, tensor-file sides, typed scales, hand-made pairs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RunState {
    #[serde(default, skip_serializing_if = "is_unstated")]
    pub intent: Intent,
    /// File name → side chosen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sides: BTreeMap<String, Side>,
    /// Pair or tensor name (`*` for all) → scale (positive, finite) and dtype.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scales: BTreeMap<String, (f64, Option<QDType>)>,
    /// (float, quantized) tensors paired by hand, in the order they were paired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<(String, String)>,
}

fn is_unstated(i: &Intent) -> bool {
    *i == Intent::Unstated
}

impl RunState {
    pub fn is_default(&self) -> bool {
        *self == RunState::default()
    }

    /// Only usable settings: scales that are positive and finite (a link is untrusted input).
    pub fn sanitized(mut self) -> RunState {
        self.scales.retain(|_, (s, _)| s.is_finite() && *s > 0.0);
        self
    }
}

/// The Tensors view's open pair (by position, checked against its name) and the table's sort.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct PairsState {
    /// Position of the open pair in the pairs list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<usize>,
    /// Its tensor name: when the list differs, the pair is found by name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Sort column key and whether it descends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<(String, bool)>,
}

impl PairsState {
    pub fn is_default(&self) -> bool {
        *self == PairsState::default()
    }

    /// The open pair's position among `names`: its own when the name still matches, else the
    /// first pair of that name.
    pub fn resolve<'a>(&self, names: impl Iterator<Item = &'a str> + Clone) -> Option<usize> {
        let at = self.pair?;
        if names.clone().nth(at) == Some(self.name.as_str()) {
            return Some(at);
        }
        names.into_iter().position(|n| n == self.name)
    }
}

/// The mixed-precision view's choices: the run, the sensitive type and the picked ratio step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MixState {
    /// The run whose tables are swept, when several are loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// `activation`, `weight` or `both`; empty for the default (`activation`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sensitive_type: String,
    /// Index of the picked step of the ratio sweep; `None` for the knee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

impl MixState {
    pub fn is_default(&self) -> bool {
        *self == MixState::default()
    }
}

/// How the layer grid is filtered, sorted and which columns it shows; empty means "as opened".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct GridState {
    /// Name or type filter text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dtype: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cause: String,
    /// Finding kind whose rows are shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Sort column key and whether it descends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<(String, bool)>,
    /// Visible column keys, in order; `None` for the default set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Show every row, not only the selected finding's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_rows: bool,
}

impl GridState {
    pub fn is_default(&self) -> bool {
        *self == GridState::default()
    }
}

impl Default for ViewState {
    fn default() -> Self {
        ViewState {
            v: SHARE_VERSION,
            tab: TabRef::Overview,
            file: None,
            finding: None,
            row: None,
            grid: GridState::default(),
            mix: MixState::default(),
            pairs: PairsState::default(),
            run: RunState::default(),
        }
    }
}

/// Why a fragment could not be read, as the sentence the user reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareError {
    /// Longer than [`FRAGMENT_CAP_BYTES`].
    TooLong(usize),
    /// Not base64url, not deflate, too large inflated, or not the state's JSON.
    Damaged(&'static str),
    /// Written by a newer QuantLens.
    Newer(u32),
}

impl std::fmt::Display for ShareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShareError::TooLong(n) => write!(
                f,
                "the link's view state is {n} bytes long, more than the {FRAGMENT_CAP_BYTES} a view needs: it was not read"
            ),
            ShareError::Damaged(why) => {
                write!(f, "the link's view state is damaged ({why}): it was not read")
            }
            ShareError::Newer(v) => write!(
                f,
                "the link was written by a newer QuantLens (view state version {v}; this one reads up to {SHARE_VERSION}): open it with the newer version"
            ),
        }
    }
}

impl std::error::Error for ShareError {}

/// A fragment value as JSON: base64url, inflated within `cap_bytes`, with a `v` from 1 to `newest`;
/// each refusal says why. Shared by view links and digests.
pub fn unpack_versioned(
    value: &str,
    cap_bytes: usize,
    newest: u32,
) -> Result<serde_json::Value, ShareError> {
    let packed = base64url_decode(value).ok_or(ShareError::Damaged("not base64url"))?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, cap_bytes).map_err(
        |e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => {
                ShareError::Damaged("it inflates past its size limit")
            }
            _ => ShareError::Damaged("not deflate data"),
        },
    )?;
    let probe: serde_json::Value =
        serde_json::from_slice(&json).map_err(|_| ShareError::Damaged("not JSON"))?;
    let v = probe
        .get("v")
        .and_then(serde_json::Value::as_u64)
        .ok_or(ShareError::Damaged("no version"))?;
    if v > u64::from(newest) {
        return Err(ShareError::Newer(u32::try_from(v).unwrap_or(u32::MAX)));
    }
    if v == 0 {
        return Err(ShareError::Damaged("version 0"));
    }
    Ok(probe)
}

/// The fragment (without `#`) that opens `state`.
pub fn encode(state: &ViewState) -> String {
    let json = serde_json::to_vec(state).unwrap_or_default();
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    format!("{FRAGMENT_KEY}={}", base64url_encode(&packed))
}

/// The view state in a fragment (with or without `#`); `Ok(None)` when it holds none.
pub fn decode(fragment: &str) -> Result<Option<ViewState>, ShareError> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    if fragment.len() > FRAGMENT_CAP_BYTES {
        return Err(ShareError::TooLong(fragment.len()));
    }
    let Some(value) = fragment
        .split('&')
        .find_map(|kv| kv.strip_prefix(FRAGMENT_KEY)?.strip_prefix('='))
    else {
        return Ok(None);
    };
    let probe = unpack_versioned(value, INFLATED_CAP_BYTES, SHARE_VERSION)?;
    let mut state: ViewState = serde_json::from_value(probe)
        .map_err(|_| ShareError::Damaged("fields of the wrong type"))?;
    // Older versions are subsets of this one: the state read is this version's.
    state.v = SHARE_VERSION;
    state.run = state.run.sanitized();
    Ok(Some(state))
}

/// The loaded file a link's file name means: the same name, else the one that shares the longest
/// tail of path components with it (at least the file name, and only if no other file shares as
/// much), so a link made from a folder drop (`example/x/compare.txt`) finds the file dropped alone
/// (`compare.txt`) or from another folder (`examples/x/compare.txt`).
pub fn resolve_file<'a>(want: &str, names: impl Iterator<Item = &'a str>) -> Option<usize> {
    let names: Vec<&str> = names.collect();
    if let Some(i) = names.iter().position(|n| *n == want) {
        return Some(i);
    }
    let tail = |a: &str, b: &str| {
        a.rsplit('/')
            .zip(b.rsplit('/'))
            .take_while(|(x, y)| x == y)
            .count()
    };
    let scores: Vec<usize> = names.iter().map(|n| tail(n, want)).collect();
    let best = *scores.iter().max()?;
    if best == 0 || scores.iter().filter(|&&s| s == best).count() != 1 {
        return None;
    }
    scores.iter().position(|&s| s == best)
}
