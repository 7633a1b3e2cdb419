//! The parsed documents every importer produces, one per input file, and a finding with the file it
//! came from: the shapes the analysis reads and the session keeps.

use super::compare::CompareTable;
use super::detect::Format;
use super::doc::{DocTable, Note};
use super::findings::Finding;
use super::model_check::ModelCheck;
use super::sensitivity::SensitivityTable;
use serde::{Deserialize, Serialize};

/// A parsed document of a supported format. Adjacently tagged (`{"format": …, "doc": …}`): read
/// tag first, it is read straight, where an internally tagged enum is buffered whole first (that
/// took 40 ms of the UI thread for a folder of 768 dumps). It crosses only the worker boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", content = "doc", rename_all = "snake_case")]
pub enum Document {
    ModelCheck(ModelCheck),
    Compare(CompareTable),
    Sensitivity(SensitivityTable),
    /// Advisor, statistic, badcase and similarity files: their tables, shown as written.
    Tables {
        tables: Vec<DocTable>,
    },
    /// Scales by tensor name (a `scales.json`, an ONNX QDQ model): used for tensor pairs.
    Scales(super::scales::ScaleSet),
    /// The model runner's simulated mixed-precision sweep, and its points as a table.
    Sweep {
        sweep: super::sweep::SweepSet,
        doc: DocTable,
    },
    /// A journal of tuning runs (exported, or inside a shared report).
    Journal {
        journal: super::journal::Journal,
    },
    /// A tensor dump (.npy, .npz, .safetensors): its tensors, and which side of the comparison it is on.
    Tensors {
        entries: Vec<super::tensor::TensorEntry>,
        side: Option<super::side::Side>,
    },
}

/// One input file and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub name: String,
    pub size_bytes: u64,
    pub format: Option<Format>,
    pub format_label: Option<String>,
    /// Why the file could not be read, in plain words (None when it was read).
    pub error: Option<String>,
    pub document: Option<Document>,
    pub notes: Vec<Note>,
}

impl FileReport {
    /// The parsed tables of this file, in file order (empty when the file was not read).
    pub fn tables(&self) -> Vec<&DocTable> {
        match &self.document {
            Some(Document::ModelCheck(mc)) => mc.tables.iter().collect(),
            Some(Document::Compare(c)) => vec![&c.doc],
            Some(Document::Sensitivity(s)) => vec![&s.doc],
            Some(Document::Tables { tables }) => tables.iter().collect(),
            Some(Document::Sweep { doc, .. }) => vec![doc],
            Some(Document::Tensors { .. })
            | Some(Document::Scales(_))
            | Some(Document::Journal { .. })
            | None => Vec::new(),
        }
    }

    /// Rows read from the file (all tables).
    pub fn row_count(&self) -> usize {
        match &self.document {
            Some(Document::Compare(c)) => c.rows.len(),
            Some(Document::Scales(s)) => s.entries.len(),
            Some(Document::Sweep { sweep, .. }) => sweep.points.len(),
            Some(Document::Journal { journal }) => journal.runs.len(),
            _ => self.tables().iter().map(|t| t.rows.len()).sum(),
        }
    }

    /// The model runner's simulated mixed-precision sweep, when this file is one.
    pub fn sweep(&self) -> Option<&super::sweep::SweepSet> {
        match &self.document {
            Some(Document::Sweep { sweep, .. }) => Some(sweep),
            _ => None,
        }
    }

    pub fn compare(&self) -> Option<&CompareTable> {
        match &self.document {
            Some(Document::Compare(c)) => Some(c),
            _ => None,
        }
    }

    pub fn sensitivity(&self) -> Option<&SensitivityTable> {
        match &self.document {
            Some(Document::Sensitivity(s)) => Some(s),
            _ => None,
        }
    }
}

/// A finding together with the file it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFinding {
    pub file: usize,
    #[serde(flatten)]
    pub finding: Finding,
}

/// The layer tables a run holds twice, as `compare_per_layer_out.txt` and `.csv` (QuantAnalysis
/// writes both): `(txt, csv)` file indices, each txt with the first csv of its run. The txt is the
/// one diagnosed and shown (it takes the csv's exact qscales); the csv adds nothing else.
pub fn compare_twins(files: &[FileReport]) -> Vec<(usize, usize)> {
    let runs = run_keys(files);
    let is = |f: &FileReport, src: &str| f.compare().is_some_and(|t| t.source == src);
    (0..files.len())
        .filter(|&i| is(&files[i], "txt"))
        .filter_map(|i| {
            (0..files.len())
                .find(|&j| is(&files[j], "csv") && runs[j] == runs[i])
                .map(|j| (i, j))
        })
        .collect()
}

/// The run each file belongs to: the folder that separates it from the other runs, below the
/// folders all files share (`ort_int8` for `…/ort_int8/quant.npz` beside `…/ort_int16/quant.npz`),
/// or `""` when the files are not in separate folders. Runs nest: a folder whose subfolders are
/// runs of their own (`exp1/int8 run/`, `exp1/int16 run/` beside `exp2/`) gives them keys joined by
/// `/` (`exp1/int8 run`), and files beside those subfolders (a float dump they share) the folder's
/// key (`exp1`). Two runs loaded together are kept apart by it: scales, pairs and sensitivity ranks
/// are taken within a run.
pub fn run_keys(files: &[FileReport]) -> Vec<String> {
    let parts: Vec<Vec<&str>> = files
        .iter()
        .map(|f| {
            f.name
                .split(['/', '\\'])
                .filter(|p| !p.is_empty())
                .collect()
        })
        .collect();
    let mut keys = vec![String::new(); files.len()];
    let group: Vec<usize> = (0..files.len()).collect();
    split_runs(files, &parts, &group, 0, "", &mut keys);
    keys
}

/// The toolchains' own subfolders are parts of one run, never runs.
const OWN_FOLDERS: &[&str] = &[
    "horizon_quant_analysis",
    "baseline_model",
    "analysis_model",
    "op_infos",
    "float",
    "quant",
];

/// [`run_keys`] for the files of `group`, which share their first `depth` folders and the run key
/// `key`: their folder at `depth` makes runs when at least two are found and no file other than a
/// run's shared input (a float dump, a model, a sample, a journal) lies beside them.
fn split_runs(
    files: &[FileReport],
    parts: &[Vec<&str>],
    group: &[usize],
    depth: usize,
    key: &str,
    keys: &mut [String],
) {
    let journal = |i: usize| files[i].format == Some(Format::Journal);
    let folder = |i: usize| -> Option<&str> {
        let p = &parts[i];
        (!journal(i) && p.len() >= depth + 2).then(|| p[depth])
    };
    // The model runner's inputs beside the runs it wrote (the float model, its samples), and a
    // float dump the runs share, belong to no run; any other file beside the folders (a run's
    // own model check) makes them one run.
    let shared_input = |f: &FileReport| {
        matches!(
            f.format,
            Some(Format::OnnxModel) | Some(Format::Tensors) | Some(Format::Journal)
        ) || f
            .error
            .as_deref()
            .is_some_and(|e| e.contains(super::detect::IMAGE_SAMPLE))
    };
    for &i in group {
        keys[i] = if journal(i) {
            String::new()
        } else {
            key.to_string()
        };
    }
    let mut runs: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    let mut beside = false;
    for &i in group {
        match folder(i) {
            Some(d) if !OWN_FOLDERS.contains(&d) => runs.entry(d).or_default().push(i),
            // A file at this level, or in a toolchain's own folder at this level.
            _ => beside |= !shared_input(&files[i]),
        }
    }
    if beside {
        return;
    }
    match runs.len() {
        // The folder every file (but the shared inputs) is in: look one level down.
        1 => split_runs(files, parts, group, depth + 1, key, keys),
        0 => {}
        _ => {
            for (run, sub) in runs {
                let sub_key = if key.is_empty() {
                    run.to_string()
                } else {
                    format!("{key}/{run}")
                };
                split_runs(files, parts, &sub, depth + 1, &sub_key, keys);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> FileReport {
        FileReport {
            name: name.into(),
            size_bytes: 0,
            format: None,
            format_label: None,
            error: None,
            document: None,
            notes: Vec::new(),
        }
    }

    #[test]
    fn runs_are_the_first_folder_below_the_shared_ones() {
        let files = [
            f("/data/exp/ort_int8/quant.npz"),
            f("/data/exp/ort_int8/horizon_quant_analysis/c.txt"),
            f("/data/exp/ort_int16/quant.npz"),
        ];
        assert_eq!(run_keys(&files), ["ort_int8", "ort_int8", "ort_int16"]);
        // A journal beside them (a report carries one at its root) changes no run.
        let mut with_journal = files.to_vec();
        let mut j = f("quantlens-journal.json");
        j.format = Some(Format::Journal);
        with_journal.push(j);
        assert_eq!(
            run_keys(&with_journal),
            ["ort_int8", "ort_int8", "ort_int16", ""]
        );
        assert_eq!(run_keys(&[f("a.txt"), f("b.txt")]), ["", ""]);
        assert_eq!(run_keys(&[f("x/a.txt"), f("x/b.txt")]), ["", ""]);
        assert_eq!(run_keys(&[f("x/a.txt")]), [""]);
        // One run with its tool's subfolder, beside a file at its top: one run.
        assert_eq!(
            run_keys(&[
                f("example/model_check_result.txt"),
                f("example/horizon_quant_analysis/c.txt")
            ]),
            ["", ""]
        );
        assert_eq!(
            run_keys(&[
                f("ort_int8/quant.npz"),
                f("ort_int8/horizon_quant_analysis/c.txt")
            ]),
            ["", ""]
        );
    }

    #[test]
    fn runs_nest_when_a_folder_of_runs_is_added_beside_another() {
        let tensors = |n: &str| FileReport {
            format: Some(Format::Tensors),
            ..f(n)
        };
        // One experiment folder: its float dump is shared, its two runs apart.
        let exp1 = [
            tensors("exp1/fp32 dumps/float.npz"),
            tensors("exp1/int8 run/quant.npz"),
            f("exp1/int8 run/scales.json"),
            tensors("exp1/int16 run/quant.npz"),
        ];
        assert_eq!(
            run_keys(&exp1),
            ["fp32 dumps", "int8 run", "int8 run", "int16 run"]
        );
        // A second folder dropped on top: the first one's runs stay apart, under its name.
        let mut both = exp1.to_vec();
        both.extend([
            tensors("exp2/float.npz"),
            tensors("exp2/int8 run/quant.npz"),
            tensors("exp2/int16 run/quant.npz"),
            f("exp2/model_check_result.txt"),
        ]);
        assert_eq!(
            run_keys(&both),
            [
                "exp1/fp32 dumps",
                "exp1/int8 run",
                "exp1/int8 run",
                "exp1/int16 run",
                "exp2",
                "exp2",
                "exp2",
                "exp2"
            ]
        );
        // A float dump beside the runs takes the folder's key; a model beside one folder of runs
        // does not hide them.
        let shared = [
            tensors("exp3/float.npz"),
            tensors("exp3/a/quant.npz"),
            tensors("exp3/b/quant.npz"),
        ];
        assert_eq!(run_keys(&shared), ["", "a", "b"]);
        let model = FileReport {
            format: Some(Format::OnnxModel),
            ..f("m.onnx")
        };
        let mut with_model = vec![model];
        with_model.extend(shared);
        assert_eq!(run_keys(&with_model), ["", "", "a", "b"]);
        let mut nested = with_model.clone();
        nested.push(tensors("exp4/a/quant.npz"));
        nested.push(tensors("exp4/b/quant.npz"));
        assert_eq!(
            run_keys(&nested),
            ["", "exp3", "exp3/a", "exp3/b", "exp4/a", "exp4/b"]
        );
    }

    #[test]
    fn the_model_runners_inputs_beside_its_runs_belong_to_no_run() {
        let model = FileReport {
            format: Some(Format::OnnxModel),
            ..f("ppocr_cls.onnx")
        };
        let sample = FileReport {
            format: Some(Format::Tensors),
            ..f("cls_sample0.npz")
        };
        let image = FileReport {
            error: Some(format!("crop.png: {}", crate::engine::detect::IMAGE_SAMPLE)),
            ..f("crop.png")
        };
        let files = [
            model,
            sample,
            image,
            f("ppocr_cls_int8_run/output_x_L1_sensitive_ops.txt"),
            f("ppocr_cls_int16_run/output_x_L1_sensitive_ops.txt"),
        ];
        assert_eq!(
            run_keys(&files),
            ["", "", "", "ppocr_cls_int8_run", "ppocr_cls_int16_run"]
        );
        // A report beside the folders still makes them one run.
        assert_eq!(
            run_keys(&[f("model_check_result.txt"), f("a/c.txt"), f("b/c.txt")]),
            ["", "", ""]
        );
    }
}
