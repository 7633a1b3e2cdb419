//! A link that carries its findings without the files: the findings that matter and the rows they cite, compressed into the fragment under a stated cap, with each file's size and SHA-256 to check a later drop against.

use super::encode::base64url_encode;
use super::findings::Severity;
use super::session::{Analysis, Intent};
use super::share::{unpack_versioned, ShareError};
use super::views::{cell, COMPARE_COLUMNS};
use serde::{Deserialize, Serialize};

/// The `v` this version writes; older ones keep opening.
pub const DIGEST_VERSION: u32 = 1;
/// The fragment key of a digest (`#d=…`).
pub const DIGEST_KEY: &str = "d";
/// Most characters of the `d=…` part of a link: with the view state beside it the whole fragment
/// stays under 8 KiB, which chat clients and browsers keep whole.
pub const DIGEST_CAP_BYTES: usize = 7 * 1024;
const INFLATED_CAP_BYTES: usize = 256 * 1024;
/// Rows cited per finding, layers named per finding, characters per cell.
const ROWS_PER_FINDING: usize = 3;
const LAYERS_PER_FINDING: usize = 6;
const CELL_CHARS: usize = 60;
/// The comparison columns a cited row carries: what the finding is judged on.
const DIGEST_COMPARE_KEYS: &[&str] = &[
    "index",
    "mod_name",
    "quant_dtype",
    "qscale",
    "cause",
    "cosine",
    "sqnr",
    "atol",
    "max_qscale_diff",
    "base_min",
    "base_max",
    "analy_min",
    "analy_max",
];

/// One file the digest was made from: what a later drop is checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestFile {
    pub name: String,
    pub bytes: u64,
    /// SHA-256 (hex) of the whole file; empty when it was not computed.
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub format: String,
}

/// A cited row: its table, file and position, and its cells by header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRow {
    pub file: String,
    pub table: String,
    /// 0-based row in the table; `line` is the line in the file (1-based).
    pub row: usize,
    pub line: usize,
    pub cells: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestFinding {
    pub kind: String,
    pub severity: Severity,
    pub layers: Vec<String>,
    /// Layers concerned beyond the ones named.
    #[serde(default)]
    pub more_layers: usize,
    pub message: String,
    pub fix: String,
    #[serde(default)]
    pub rank_reason: String,
    pub file: String,
    pub rows: Vec<DigestRow>,
}

/// What a digest link carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub v: u32,
    pub intent: Intent,
    pub files: Vec<DigestFile>,
    /// In the Overview's order (most important first).
    pub findings: Vec<DigestFinding>,
    /// Findings of the analysis left out (the cap, or beyond the ones that matter).
    pub omitted: usize,
    /// Findings by severity in the whole analysis: errors, warnings, notes.
    pub counts: [usize; 3],
    /// Files of the analysis left out of `files` (more than a link holds): not checked on a drop.
    #[serde(default)]
    pub files_omitted: usize,
}

/// Hex digits of a file's SHA-256 kept when the full hashes do not fit: 64 bits, enough to
/// tell a different file (the check is against mistakes, not forgery).
const SHORT_SHA_CHARS: usize = 16;

/// Whether a loaded file's SHA-256 (full, hex) is the one a link names (full, or its first
/// [`SHORT_SHA_CHARS`] digits).
fn same_sha(here: &str, link: &str) -> bool {
    link.len() >= SHORT_SHA_CHARS && here.len() >= link.len() && here.starts_with(link)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The digest of an analysis: every file (with its SHA-256 where `sha256` gives one) and as many of
/// the first `max_findings` findings, with their cited rows, as fit in [`DIGEST_CAP_BYTES`] once
/// encoded.
pub fn digest(
    analysis: &Analysis,
    sha256: &dyn Fn(&str) -> Option<String>,
    max_findings: usize,
) -> Digest {
    let files = analysis
        .files
        .iter()
        .map(|f| DigestFile {
            name: f.name.clone(),
            bytes: f.size_bytes,
            sha256: sha256(&f.name).unwrap_or_default(),
            format: f.format_label.clone().unwrap_or_default(),
        })
        .collect();
    let name_of = |i: usize| {
        analysis
            .files
            .get(i)
            .map(|f| f.name.clone())
            .unwrap_or_default()
    };
    let findings: Vec<DigestFinding> = analysis
        .findings
        .iter()
        .take(max_findings)
        .map(|ff| {
            let f = &ff.finding;
            // Rows of the finding's own file first (a comparison finding shows its comparison row).
            let mut evidence: Vec<_> = f.evidence.iter().collect();
            evidence.sort_by_key(|e| e.file.unwrap_or(ff.file) != ff.file);
            let rows = evidence
                .into_iter()
                .filter_map(|e| {
                    let fi = e.file.unwrap_or(ff.file);
                    if let Some(c) = analysis
                        .files
                        .get(fi)?
                        .compare()
                        .filter(|_| e.table == "compare")
                    {
                        let (r, dg) = (c.rows.get(e.row)?, c.diag.get(e.row)?);
                        return Some(DigestRow {
                            file: name_of(fi),
                            table: c.doc.title.clone(),
                            row: e.row,
                            line: e.line,
                            cells: COMPARE_COLUMNS
                                .iter()
                                .filter(|(k, _)| DIGEST_COMPARE_KEYS.contains(k))
                                .map(|(k, label)| {
                                    (label.to_string(), clip(&cell(r, dg, k, e.row), CELL_CHARS))
                                })
                                .filter(|(_, v)| !v.is_empty())
                                .collect(),
                        });
                    }
                    let table = analysis
                        .files
                        .get(fi)?
                        .tables()
                        .into_iter()
                        .find(|t| t.id == e.table)?;
                    let row = table.rows.get(e.row)?;
                    Some(DigestRow {
                        file: name_of(fi),
                        table: table.title.clone(),
                        row: e.row,
                        line: row.line,
                        cells: table
                            .headers
                            .iter()
                            .zip(&row.cells)
                            .filter(|(_, c)| !c.trim().is_empty())
                            .map(|(h, c)| (clip(h, CELL_CHARS), clip(c, CELL_CHARS)))
                            .collect(),
                    })
                })
                .take(ROWS_PER_FINDING)
                .collect();
            DigestFinding {
                kind: f.kind.clone(),
                severity: f.severity,
                layers: f
                    .layers
                    .iter()
                    .take(LAYERS_PER_FINDING)
                    .map(|l| clip(l, 160))
                    .collect(),
                more_layers: f.layers.len().saturating_sub(LAYERS_PER_FINDING),
                message: clip(&f.message, 600),
                fix: clip(&f.fix, 600),
                rank_reason: clip(&f.rank_reason, 160),
                file: name_of(ff.file),
                rows,
            }
        })
        .collect();
    let mut d = Digest {
        v: DIGEST_VERSION,
        intent: analysis.intent,
        files,
        omitted: analysis.findings.len() - findings.len(),
        findings,
        counts: [
            analysis.count(Severity::Error),
            analysis.count(Severity::Warning),
            analysis.count(Severity::Info),
        ],
        files_omitted: 0,
    };
    let all = std::mem::take(&mut d.files);
    fit(all, &mut d);
    d
}

/// Most files a digest tries to name: a file takes at least ~15 encoded bytes (a 16-digit hash
/// does not compress), so no more than ~480 ever fit; trying more only costs encodes of a
/// bigger JSON (the digest is made on the page's thread).
const MAX_FILES_TRIED: usize = 512;

/// Fits the digest under [`DIGEST_CAP_BYTES`], the findings before the files: the whole file list
/// if it fits; else the files' hashes shortened; then the files no finding cites left out, as
/// few as it takes (found by halving); then fewer rows per finding beyond the first few; then
/// fewer findings, each time with as many files as fit again.
fn fit(mut all: Vec<DigestFile>, d: &mut Digest) {
    let fits = |d: &Digest| encode_digest(d).len() <= DIGEST_CAP_BYTES;
    let mut shortened = false;
    loop {
        // Cited files first, each group in the analysis' order; the first `k` of them, back in
        // the analysis' order.
        let cited: Vec<bool> = all
            .iter()
            .map(|f| {
                d.findings
                    .iter()
                    .any(|x| x.file == f.name || x.rows.iter().any(|r| r.file == f.name))
            })
            .collect();
        let n_cited = cited.iter().filter(|&&c| c).count();
        let with = |k: usize| -> Vec<DigestFile> {
            let mut rest = k.saturating_sub(n_cited);
            let mut cited_left = k.min(n_cited);
            all.iter()
                .zip(&cited)
                .filter(|(_, &c)| {
                    let keep = if c { cited_left > 0 } else { rest > 0 };
                    if keep && c {
                        cited_left -= 1;
                    } else if keep {
                        rest -= 1;
                    }
                    keep
                })
                .map(|(f, _)| f.clone())
                .collect()
        };
        // The largest k in [lo, hi] whose first k files fit (`lo` known to fit).
        let most = |d: &mut Digest, mut lo: usize, mut hi: usize| {
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                d.files = with(mid);
                if fits(d) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            lo
        };
        let tried = all.len().min(MAX_FILES_TRIED.max(n_cited));
        d.files = with(tried);
        d.files_omitted = all.len() - tried;
        if tried == all.len() && fits(d) {
            return;
        }
        if !shortened {
            shortened = true;
            for f in &mut all {
                if f.sha256.len() > SHORT_SHA_CHARS {
                    f.sha256.truncate(SHORT_SHA_CHARS);
                }
            }
            continue;
        }
        // With the findings as they are, the cited files and as many others as fit.
        d.files = with(n_cited);
        if fits(d) {
            let k = most(d, n_cited, tried);
            d.files = with(k);
            d.files_omitted = all.len() - k;
            return;
        }
        if let Some(f) = d
            .findings
            .iter_mut()
            .skip(3)
            .rev()
            .find(|f| f.rows.len() > 1)
        {
            f.rows.truncate(1);
            continue;
        }
        if d.findings.pop().is_some() {
            d.omitted += 1;
            continue;
        }
        // No finding left and still too long: only files, as many as fit.
        let k = most(d, 0, tried);
        d.files = with(k);
        d.files_omitted = all.len() - k;
        return;
    }
}

/// `d=…` for a fragment.
pub fn encode_digest(d: &Digest) -> String {
    let json = serde_json::to_vec(d).unwrap_or_default();
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    format!("{DIGEST_KEY}={}", base64url_encode(&packed))
}

/// The digest in a fragment (with or without `#`, beside other keys); `Ok(None)` when it has none.
pub fn decode_digest(fragment: &str) -> Result<Option<Digest>, ShareError> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    let Some(value) = fragment
        .split('&')
        .find_map(|kv| kv.strip_prefix(DIGEST_KEY)?.strip_prefix('='))
    else {
        return Ok(None);
    };
    if value.len() > 2 * DIGEST_CAP_BYTES {
        return Err(ShareError::TooLong(value.len()));
    }
    let probe = unpack_versioned(value, INFLATED_CAP_BYTES, DIGEST_VERSION)?;
    serde_json::from_value(probe)
        .map(Some)
        .map_err(|_| ShareError::Damaged("fields of the wrong type"))
}

/// How a loaded file compares with the digest's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FileCheck {
    /// Same size and SHA-256.
    Same,
    /// Same size; the digest has no hash to compare (or it was not computed here).
    SameSize,
    /// Different: (bytes here, bytes in the link, hashes differ).
    Different { here_bytes: u64, link_bytes: u64 },
    /// In the digest, not loaded.
    Missing,
}

/// Each digest file checked against the loaded ones (`(name, bytes, sha256)`), matched by name,
/// else by the last path segment (a folder dropped under another name): each loaded file stands
/// for one link file, the one with its hash, else its size, else the most path segments in common
/// (`ort_int16/quant.npz` with `b/ort_int16/quant.npz`, not with `ort_int8/quant.npz`). A file
/// matched under another name is named with it: `ort_int16/quant.npz (loaded as x/quant.npz)`.
pub fn check_files(d: &Digest, loaded: &[(String, u64, String)]) -> Vec<(String, FileCheck)> {
    let segs = |s: &str| -> Vec<String> {
        s.split(['/', '\\'])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut used = vec![false; loaded.len()];
    // Exact names first, so that a fallback never takes a file another link file names.
    let mut here: Vec<Option<usize>> = d
        .files
        .iter()
        .map(|f| {
            let i = loaded.iter().position(|(n, _, _)| *n == f.name)?;
            (!used[i]).then(|| {
                used[i] = true;
                i
            })
        })
        .collect();
    for (k, f) in d.files.iter().enumerate() {
        if here[k].is_some() {
            continue;
        }
        let fs = segs(&f.name);
        let common = |n: &str| {
            segs(n)
                .iter()
                .rev()
                .zip(fs.iter().rev())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let best = (0..loaded.len())
            .filter(|&i| !used[i] && common(&loaded[i].0) > 0)
            .max_by_key(|&i| {
                let (_, bytes, sha) = &loaded[i];
                (
                    same_sha(sha, &f.sha256),
                    *bytes == f.bytes,
                    common(&loaded[i].0),
                    std::cmp::Reverse(i),
                )
            });
        if let Some(i) = best {
            used[i] = true;
            here[k] = Some(i);
        }
    }
    d.files
        .iter()
        .zip(here)
        .map(|(f, i)| {
            let check = match i.map(|i| &loaded[i]) {
                None => FileCheck::Missing,
                Some((_, bytes, sha)) => {
                    if *bytes != f.bytes
                        || (!f.sha256.is_empty() && !sha.is_empty() && !same_sha(sha, &f.sha256))
                    {
                        FileCheck::Different {
                            here_bytes: *bytes,
                            link_bytes: f.bytes,
                        }
                    } else if f.sha256.is_empty() || sha.is_empty() {
                        FileCheck::SameSize
                    } else {
                        FileCheck::Same
                    }
                }
            };
            let name = match i.map(|i| &loaded[i].0) {
                Some(n) if *n != f.name && matches!(check, FileCheck::Different { .. }) => {
                    format!("{} (loaded as {n})", f.name)
                }
                _ => f.name.clone(),
            };
            (name, check)
        })
        .collect()
}

/// One sentence on the check, for the banner.
/// Whether every file of the link is the one loaded (same size, and the same SHA-256 where the link
/// has one): the check's sentence is then news, not a warning.
pub fn files_match(checks: &[(String, FileCheck)]) -> bool {
    checks
        .iter()
        .all(|(_, c)| matches!(c, FileCheck::Same | FileCheck::SameSize))
}

pub fn check_sentence(checks: &[(String, FileCheck)], files_omitted: usize) -> String {
    let unchecked = match files_omitted {
        0 => String::new(),
        n => format!(
            " The link names {} of the {} files it was made from (a link holds no more): the other {n} were not checked.",
            checks.len(),
            checks.len().saturating_add(n)
        ),
    };
    check_sentence_of_named(checks) + &unchecked
}

/// [`check_sentence`] of the files the link names.
fn check_sentence_of_named(checks: &[(String, FileCheck)]) -> String {
    let same = checks.iter().filter(|(_, c)| *c == FileCheck::Same).count();
    let size_only = checks
        .iter()
        .filter(|(_, c)| *c == FileCheck::SameSize)
        .count();
    let mut parts = Vec::new();
    for (name, c) in checks {
        match c {
            FileCheck::Different {
                here_bytes,
                link_bytes,
            } if here_bytes == link_bytes => parts.push(format!(
                "{name} differs from the link's (same size, different SHA-256)"
            )),
            FileCheck::Different {
                here_bytes,
                link_bytes,
            } => parts.push(format!(
                "{name} differs from the link's ({here_bytes} bytes here, {link_bytes} in the link)"
            )),
            FileCheck::Missing => parts.push(format!("{name} is not loaded")),
            _ => {}
        }
    }
    if parts.is_empty() {
        let how = if size_only == 0 {
            "size and SHA-256"
        } else {
            "size; some without a hash to compare"
        };
        return format!(
            "These are the link's files: {} of {} match ({how}).",
            same + size_only,
            checks.len()
        );
    }
    format!(
        "Not the link's files: {}. What you see is computed from the files loaded here.",
        parts.join("; ")
    )
}

/// Why a digest could not be read, as the sentence the user reads (the view-state wording of
/// [`ShareError`]'s `Display` does not fit a digest).
pub fn describe_error(e: &ShareError) -> String {
    match e {
        ShareError::TooLong(n) => format!(
            "the findings part of the link is {n} characters long, more than a digest is ({DIGEST_CAP_BYTES} at most): it was not read"
        ),
        ShareError::Damaged(why) => {
            format!("the findings part of the link is damaged ({why}): it was not read")
        }
        ShareError::Newer(v) => format!(
            "the findings were written by a newer QuantLens (digest version {v}; this one reads up to {DIGEST_VERSION}): open the link with the newer version"
        ),
    }
}
