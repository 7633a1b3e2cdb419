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

/// The run each file belongs to: the first folder under the folders all files share (`ort_int8` for
/// `…/ort_int8/quant.npz` beside `…/ort_int16/quant.npz`), or `""` when the files are not in
/// separate folders. Two runs loaded together are kept apart by it: scales, pairs and sensitivity
/// ranks are taken within a run.
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
    // A journal (dropped beside the runs, or inside a report) belongs to no run and shapes none.
    let journal = |f: &FileReport| f.format == Some(Format::Journal);
    // Folders every file shares (not the file name itself).
    let common = parts
        .iter()
        .zip(files)
        .filter(|(_, f)| !journal(f))
        .map(|(p, _)| p.len().saturating_sub(1))
        .min()
        .map(|max| {
            let kept: Vec<&Vec<&str>> = parts
                .iter()
                .zip(files)
                .filter(|(_, f)| !journal(f))
                .map(|(p, _)| p)
                .collect();
            (0..max)
                .take_while(|&k| kept.iter().all(|p| p[k] == kept[0][k]))
                .count()
        })
        .unwrap_or(0);
    // The toolchains' own subfolders are parts of one run, never runs.
    const OWN: &[&str] = &[
        "horizon_quant_analysis",
        "baseline_model",
        "analysis_model",
        "op_infos",
        "float",
        "quant",
    ];
    let firsts: Vec<Option<&str>> = parts
        .iter()
        .zip(files)
        .map(|(p, f)| (!journal(f) && p.len() >= common + 2).then(|| p[common]))
        .map(|f| f.filter(|f| !OWN.contains(f)))
        .collect();
    let mut distinct: Vec<&str> = firsts.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    // The model runner's inputs beside the runs it wrote (the float model, its samples) belong
    // to no run; any other file beside the folders (a run's own model check) makes them one run.
    let runner_input = |f: &FileReport| {
        matches!(
            f.format,
            Some(Format::OnnxModel) | Some(Format::Tensors) | Some(Format::Journal)
        ) || f
            .error
            .as_deref()
            .is_some_and(|e| e.contains(super::detect::IMAGE_SAMPLE))
    };
    let beside = firsts
        .iter()
        .zip(files)
        .any(|(k, f)| k.is_none() && !runner_input(f));
    if beside || distinct.len() < 2 {
        return vec![String::new(); files.len()];
    }
    firsts.iter().map(|f| f.unwrap_or("").to_string()).collect()
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
