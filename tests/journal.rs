//! The journal of runs, the next step on the seed's own runs, and the diff of two real report folders.

mod common;

use common::{path, quantlens, text};
use quantlens::engine::journal::{self, Journal, JournalRun, MetricDef, RunSummary, Stage};
use quantlens::engine::nextstep::{next_steps, RULES};
use quantlens::engine::rundiff::{self, Change, Movement};
use quantlens::engine::session::Session;
use quantlens::engine::tensor::FileSource;
use std::collections::HashMap;

fn seed() -> Journal {
    journal::parse(&text("tests/fixtures/seed/quantlens-journal.json"))
        .expect("seed journal")
        .0
}

/// The seed's runs one at a time: after each, QuantLens names the step the seed took next (each
/// run's note says which, from scripts/gen_seed_journal.py).
#[test]
fn next_step_follows_the_seed() {
    let full = seed();
    assert_eq!(full.runs.len(), 15);
    let mut seen = Vec::new();
    for k in 1..=full.runs.len() {
        let mut j = full.clone();
        j.runs.truncate(k);
        let steps = next_steps(&j, None);
        let want = full.runs[k - 1].note.trim_start_matches("expect: ");
        assert_eq!(
            steps[0].rule,
            want,
            "after run {k} ({}): {:?}",
            full.runs[k - 1].name,
            steps[0]
        );
        assert!(
            steps[0].section.starts_with("Accuracy Tuning"),
            "{:?}",
            steps[0]
        );
        assert!(
            !steps[0].step.contains('{') && !steps[0].why.contains('{'),
            "{:?}",
            steps[0]
        );
        seen.push(want.to_string());
    }
    // The QAT-collapse step cites calibration's share and says the pipeline is the suspect.
    let mut j = full.clone();
    j.runs.truncate(4);
    let s = &next_steps(&j, None)[0];
    assert!(s.why.contains("dynamic · mAP 99.7%"), "{}", s.why);
    assert!(s.step.contains("lr = 0"), "{}", s.step);
    // At 97 % of float the guide's ≥ 95 % rule adds fixed activation scales.
    j.runs.truncate(3);
    assert!(next_steps(&j, None)[0].step.contains("fixed"));
    // Mixed: the ratio is raised along the ladder from the run's own ratio.
    let mut j = full.clone();
    j.runs.truncate(14);
    let mut r = j.runs[13].clone();
    r.id = "x".into();
    r.accuracy[1].value = 20.0;
    j.upsert(r);
    let s = &next_steps(&j, None)[0];
    assert_eq!(s.rule, "raise_ratio");
    assert!(s.step.contains("from 0.5% to 1%"), "{}", s.step);
    // Every rule is reachable from the seed or named by a test below.
    for r in RULES {
        let covered = seen.contains(&r.id.to_string())
            || [
                "float_baseline",
                "enter_accuracy",
                "state_precision",
                "qat_calib_poor",
                "finetune_keeps",
                "int8_met",
                "int8_calib_close",
                "changed_ops_dropped",
                "changed_ops_not_dropped",
            ]
            .contains(&r.id);
        assert!(covered, "rule {} is tested nowhere", r.id);
    }
}

#[test]
fn targets_are_the_seeds() {
    let j = seed();
    let dynamic = &j.metrics[0];
    let stat = &j.metrics[1];
    assert!((j.target(dynamic).unwrap() - 72.864).abs() < 1e-9);
    assert!((j.target(stat).unwrap() - 54.945).abs() < 1e-9);
    let calib = &j.runs[2]; // 73.4 / 54
    assert_eq!(j.met(calib, dynamic), Some(true));
    assert_eq!(j.met(calib, stat), Some(false));
    assert_eq!(calib.kind_label(), "all-int16 calibration");
    assert_eq!(j.runs[13].kind_label(), "int8 + 0.5% int16 calibration");
    // An error metric: lower is better, the target is float × (1 + loss).
    let err = MetricDef {
        branch: "traj".into(),
        metric: "ADE".into(),
        lower_is_better: true,
    };
    let mut j2 = j.clone();
    j2.runs[0].set_value(&err, Some(2.0));
    j2.runs[1].set_value(&err, Some(2.01));
    j2.runs[2].set_value(&err, Some(2.03));
    assert!((j2.target(&err).unwrap() - 2.02).abs() < 1e-12);
    assert_eq!(j2.met(&j2.runs[1], &err), Some(true));
    assert_eq!(j2.met(&j2.runs[2], &err), Some(false));
}

#[test]
fn rules_without_a_seed_run() {
    let mut j = Journal::default();
    assert_eq!(next_steps(&j, None)[0].rule, "float_baseline");
    let def = MetricDef {
        branch: "cls".into(),
        metric: "top1".into(),
        lower_is_better: false,
    };
    j.metrics.push(def.clone());
    let add =
        |j: &mut Journal, stage: Stage, p: quantlens::engine::intent::Intent, v: Option<f64>| {
            let mut r = JournalRun::new(
                j.new_id(j.runs.len() as f64),
                format!("r{}", j.runs.len()),
                0.0,
            );
            r.stage = stage;
            r.precision = p;
            r.set_value(&def, v);
            j.upsert(r);
            next_steps(j, None)[0].rule.clone()
        };
    use quantlens::engine::intent::Intent::*;
    assert_eq!(
        add(&mut j, Stage::Float, Unstated, Some(80.0)),
        "start_int16"
    );
    assert_eq!(
        add(&mut j, Stage::Calibration, AllInt16, None),
        "enter_accuracy"
    );
    j.runs.pop();
    assert_eq!(
        add(&mut j, Stage::Calibration, Unstated, Some(70.0)),
        "state_precision"
    );
    j.runs.pop();
    assert_eq!(
        add(&mut j, Stage::Calibration, AllInt16, Some(60.0)),
        "int16_calib_debug"
    );
    assert_eq!(
        add(&mut j, Stage::Qat, AllInt16, Some(61.0)),
        "qat_calib_poor"
    );
    assert_eq!(
        add(&mut j, Stage::FloatFinetune, Unstated, Some(79.9)),
        "finetune_keeps"
    );
    assert_eq!(
        add(&mut j, Stage::Calibration, AllInt8, Some(75.0)),
        "int8_calib_close"
    );
    assert_eq!(add(&mut j, Stage::Qat, AllInt8, Some(79.5)), "int8_met");
}

/// A session on a real report folder, summarized as the journal keeps it.
fn summary_of(rel: &str) -> RunSummary {
    let mut s = Session::new();
    let mut files = Vec::new();
    collect(&path(rel), &mut files);
    for f in files {
        let name = f.strip_prefix(path("")).unwrap_or(&f).display().to_string();
        s.open(&name, Box::new(FileSource::open(&f).expect("open")));
    }
    s.update(&mut |_, _, _| {});
    let a = &s.analysis;
    rundiff::summarize(&a.files, &a.findings, &a.tensors, None)
}

fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// SQNR per layer read straight from the csv the tool wrote (not through QuantLens's parser).
fn csv_sqnr(rel: &str) -> HashMap<String, f64> {
    let t = text(rel);
    let mut lines = t.lines();
    let head: Vec<&str> = lines.next().expect("header").split(", ").collect();
    let (name, sqnr) = (
        head.iter()
            .position(|h| *h == "mod_name")
            .expect("mod_name"),
        head.iter().position(|h| *h == "SQNR").expect("SQNR"),
    );
    lines
        .map(|l| l.split(", ").collect::<Vec<_>>())
        .map(|c| {
            (
                c[name].to_string(),
                c[sqnr].parse::<f64>().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// int8 (percentile) against int16 (min-max): two real quantizations of the PP-OCRv4 recognizer.
#[test]
fn diff_of_two_real_runs() {
    let a = summary_of("tests/fixtures/real/ort_int8");
    let b = summary_of("tests/fixtures/real/ort_int16");
    let d = rundiff::diff(&a, &b);
    assert_eq!(d.primary, "sqnr_db");
    let sa =
        csv_sqnr("tests/fixtures/real/ort_int8/horizon_quant_analysis/compare_per_layer_out.csv");
    let sb =
        csv_sqnr("tests/fixtures/real/ort_int16/horizon_quant_analysis/compare_per_layer_out.csv");
    assert_eq!(d.layers.len(), sa.len());
    let (mut better, mut worse) = (0, 0);
    for l in &d.layers {
        let (x, y) = (sa[&l.name], sb[&l.name]);
        let want = if x == y { 0.0 } else { y - x };
        let got = l.delta["sqnr_db"].0;
        assert!(
            got == want || (got - want).abs() < 2e-7,
            "{}: {got} vs {want}",
            l.name
        );
        match l.change {
            Change::Improved => better += 1,
            Change::Worse => worse += 1,
            _ => {}
        }
        assert_eq!(
            l.change == Change::Improved,
            want > 2e-7 || (want > 0.0 && l.gain > 0.0)
        );
    }
    let want_better = sa.iter().filter(|(k, v)| sb[*k] > **v).count();
    assert!(
        (better as i64 - want_better as i64).abs() <= 2,
        "{better} vs {want_better}"
    );
    assert!(worse > 0 && better > worse);
    // Sorted by the size of the change.
    assert!(d
        .layers
        .windows(2)
        .all(|w| w[0].gain.abs() >= w[1].gain.abs()));
    // The int8 run's second most sensitive op leaves the top at int16.
    let bn = d
        .sensitivity
        .iter()
        .find(|m| m.name == "p2o.BatchNormalization.0")
        .expect("ranked");
    assert_eq!(
        (bn.rank_a, bn.movement, bn.dropped),
        (Some(2), Movement::LeftTop, Some(true))
    );
    assert!(bn.rank_b.unwrap() > rundiff::TOP);
    // Findings: the int8 run's truncations are gone at int16.
    assert!(d.findings.fixed.iter().any(|f| f.kind == "truncation"));
    assert_eq!(
        d.findings.kept.len() + d.findings.new.len(),
        b.findings.len()
    );
    assert!(d.unmatched.a_only.is_empty() && d.unmatched.b_only.is_empty());

    // Judged by another metric: MSE, lower is better.
    let by = rundiff::diff_by(&a, &b, Some("mse"));
    assert_eq!(by.primary, "mse");
    for l in &by.layers {
        let (x, y) = (l.a["mse"].0, l.b["mse"].0);
        let want = if y < x {
            Change::Improved
        } else if y > x {
            Change::Worse
        } else {
            Change::Same
        };
        assert_eq!(l.change, want, "{}", l.name);
    }
    // A metric the runs do not give falls back to the default.
    assert_eq!(rundiff::diff_by(&a, &b, Some("nope")).primary, "sqnr_db");

    // A run against itself: nothing moves.
    let same = rundiff::diff(&a, &a);
    assert!(same
        .layers
        .iter()
        .all(|l| l.change == Change::Same || l.change == Change::Unknown));
    assert!(same.findings.fixed.is_empty() && same.findings.new.is_empty());
    assert!(same
        .sensitivity
        .iter()
        .all(|m| m.movement == Movement::Same));

    // Renamed and missing layers are listed, not dropped.
    let mut b2 = a.clone();
    b2.layers[0].name = "renamed.layer".into();
    b2.layers.remove(5);
    let d2 = rundiff::diff(&a, &b2);
    assert_eq!(d2.unmatched.b_only, vec!["renamed.layer".to_string()]);
    assert_eq!(d2.unmatched.a_only.len(), 2);
    assert_eq!(d2.layers.len(), a.layers.len() - 2);
    // The one at the same row is taken as renamed; the removed one is missing.
    assert_eq!(d2.unmatched.renamed.len(), 1);
    assert_eq!(
        (
            d2.unmatched.renamed[0].a.as_str(),
            d2.unmatched.renamed[0].b.as_str()
        ),
        (a.layers[0].name.as_str(), "renamed.layer")
    );

    // Renamed layers keep their findings; a missing layer's findings are neither fixed nor kept.
    let rename = |s: &RunSummary, from: &str, to: &str| {
        let mut s = s.clone();
        for l in &mut s.layers {
            if l.name == from {
                l.name = to.into();
            }
        }
        for f in &mut s.findings {
            for l in &mut f.layers {
                if l == from {
                    *l = to.into();
                }
            }
        }
        for t in &mut s.sensitivity {
            for o in &mut t.ops {
                if o.name == from {
                    o.name = to.into();
                }
            }
        }
        s
    };
    let with_finding = a
        .layers
        .iter()
        .find(|l| a.findings.iter().any(|f| f.layers == vec![l.name.clone()]))
        .expect("a layer with a finding")
        .name
        .clone();
    let same = rundiff::diff(&a, &rename(&a, &with_finding, "renamed.x"));
    assert!(
        same.findings.fixed.is_empty() && same.findings.new.is_empty(),
        "{:?}",
        same.findings.fixed
    );
    assert!(same
        .sensitivity
        .iter()
        .all(|m| m.movement == Movement::Same));
    let mut gone = a.clone();
    gone.layers.retain(|l| l.name != with_finding);
    gone.findings.retain(|f| !f.layers.contains(&with_finding));
    let dg = rundiff::diff(&a, &gone);
    assert!(dg.findings.fixed.is_empty(), "{:?}", dg.findings.fixed);
    assert!(!dg.findings.on_missing_layers.is_empty());
}

/// The changed-ops check on real runs: an op changed between int8 and int16 whose sensitivity fell,
/// and one whose sensitivity rose.
#[test]
fn changed_ops_check_on_real_runs() {
    let a = summary_of("tests/fixtures/real/ort_int8");
    let b = summary_of("tests/fixtures/real/ort_int16");
    let d = rundiff::diff(&a, &b);
    let rose = d
        .sensitivity
        .iter()
        .find(|m| m.dropped == Some(false))
        .expect("an op more sensitive at int16")
        .name
        .clone();
    let def = MetricDef {
        branch: "rec".into(),
        metric: "acc".into(),
        lower_is_better: false,
    };
    let mut j = Journal::default();
    for (i, (stage, p, v, s)) in [
        (
            Stage::Float,
            quantlens::engine::intent::Intent::Unstated,
            90.0,
            None,
        ),
        (
            Stage::Calibration,
            quantlens::engine::intent::Intent::AllInt8,
            50.0,
            Some(a.clone()),
        ),
        (
            Stage::Calibration,
            quantlens::engine::intent::Intent::AllInt16,
            89.5,
            Some(b.clone()),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = JournalRun::new(format!("r{i}"), format!("run {i}"), i as f64);
        r.stage = stage;
        r.precision = p;
        r.set_value(&def, Some(v));
        r.summary = s;
        j.upsert(r);
    }
    j.runs[2].changed_ops = vec!["p2o.BatchNormalization.0".into()];
    let steps = next_steps(&j, None);
    // All-int16 meets the target, but all-int8 was already tried and fell short: mixed precision.
    assert_eq!(steps[0].rule, "start_mixed");
    assert!(steps[0].why.contains("run 1"), "{}", steps[0].why);
    assert_eq!(steps[1].rule, "changed_ops_dropped", "{:?}", steps[1]);
    assert!(steps[1].step.contains("p2o.BatchNormalization.0"));
    // An op ranked more sensitive at int16, but whose own error fell (qint8 → qint16, SQNR up):
    // the change took effect.
    j.runs[2].changed_ops = vec!["p2o.BatchNormalization.0".into(), rose.clone()];
    let steps = next_steps(&j, None);
    assert_eq!(steps[1].rule, "changed_ops_dropped", "{:?}", steps[1]);
    // Without the layer comparison to show it, it is flagged.
    j.runs[2].summary.as_mut().expect("kept").layers.clear();
    let steps = next_steps(&j, None);
    assert_eq!(steps[1].rule, "changed_ops_not_dropped");
    assert!(steps[1].step.contains(&rose), "{}", steps[1].step);
    // The failing int8 run's next step cites its own top sensitive ops as evidence.
    j.runs.truncate(2);
    let steps = next_steps(&j, None);
    assert_eq!(steps[0].rule, "start_mixed");
    assert!(steps[0].evidence.iter().any(|e| matches!(e,
        quantlens::engine::nextstep::EvidenceLink::Op { name, rank: 1, .. } if name == &a.sensitivity[0].ops[0].name)));
}

#[test]
fn journal_file_round_trip_merge_and_refusals() {
    let j = seed();
    let (back, notes) = journal::parse(&j.to_json()).expect("round trip");
    assert_eq!(back, j);
    assert!(notes.is_empty());
    // Merge: new ids added, known ids kept unless edited later.
    let mut mine = Journal::default();
    mine.upsert(j.runs[0].clone());
    let mut newer = j.clone();
    newer.runs[1].updated_ms += 1.0;
    newer.runs[1].name = "renamed".into();
    mine.upsert(j.runs[1].clone());
    let c = mine.merge(newer);
    assert_eq!((c.added, c.updated, c.unchanged), (13, 1, 1));
    assert_eq!(mine.runs[1].name, "renamed");
    assert_eq!(c.sentence(), "13 runs added, 1 updated, 1 already there");
    // Refusals say why.
    let e = journal::parse(r#"{"format": "quantlens.journal", "version": 9, "allowed_loss_pct": 1, "metrics": [], "runs": []}"#)
        .unwrap_err();
    assert!(e.contains("version 9"), "{e}");
    let e = journal::parse(
        r#"{"format": "other", "version": 1, "allowed_loss_pct": 1, "metrics": [], "runs": []}"#,
    )
    .unwrap_err();
    assert!(e.contains("not \"quantlens.journal\""), "{e}");
    assert!(journal::parse("{\"format\": \"quantlens.journal\", ").is_err());
    let dup = r#"{"format": "quantlens.journal", "version": 1, "allowed_loss_pct": 250, "metrics": [],
        "runs": [{"id": "a", "name": "x"}, {"id": "a", "name": "y"}, {"id": "", "name": "z"}]}"#;
    let (d, notes) = journal::parse(dup).expect("read with notes");
    let ids: Vec<&str> = d.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "a-2", "run-2"]);
    assert_eq!(d.allowed_loss_pct, 1.0);
    assert_eq!(notes.len(), 2, "{notes:?}");
    // Branch metrics as typed.
    let defs = journal::parse_metric_defs("dynamic mAP, static mAP; traj ADE ↓").expect("defs");
    assert_eq!(defs.len(), 3);
    assert!(defs[2].lower_is_better && defs[2].metric == "ADE");
    assert_eq!(
        journal::metric_defs_text(&defs),
        "dynamic mAP, static mAP, traj ADE ↓"
    );
    assert!(journal::parse_metric_defs("a b, a b")
        .unwrap_err()
        .contains("twice"));
}

/// A dropped journal is recognised by content and read as a document.
#[test]
fn journal_file_is_detected() {
    let (report, _) = quantlens::engine::analyze_text(
        "renamed.txt",
        &text("tests/fixtures/seed/quantlens-journal.json"),
    );
    assert_eq!(
        report.format,
        Some(quantlens::engine::detect::Format::Journal)
    );
    assert_eq!(report.row_count(), 15);
}

#[test]
fn cli_diff_json_shape() {
    let (code, out, err) = quantlens(&[
        "diff",
        "tests/fixtures/real/ort_int8",
        "tests/fixtures/real/ort_int16",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let l = &v["layers"][0];
    for k in ["name", "a", "b", "delta"] {
        assert!(!l[k].is_null(), "layers[0].{k}");
    }
    for m in ["cosine", "sqnr_db", "mse", "max_qscale_diff"] {
        assert!(l["a"][m].is_number(), "{m}");
    }
    let d = l["delta"]["sqnr_db"].as_f64().unwrap();
    let want = l["b"]["sqnr_db"].as_f64().unwrap() - l["a"]["sqnr_db"].as_f64().unwrap();
    assert!((d - want).abs() < 1e-9);
    assert!(v["unmatched"]["a_only"].is_array() && v["unmatched"]["b_only"].is_array());
    for k in ["fixed", "new", "kept"] {
        assert!(v["findings"][k].is_array(), "{k}");
    }
    let s = &v["sensitivity"][0];
    assert!(s["name"].is_string() && s["rank_a"].is_number() && s["rank_b"].is_number());
    // Text: the layers that got worse and improved, and who left the top.
    let (code, out, _) = quantlens(&[
        "diff",
        "tests/fixtures/real/ort_int8",
        "tests/fixtures/real/ort_int16",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("Got worse") && out.contains("Improved") && out.contains("left the top"));
    let (code, out, _) = quantlens(&[
        "diff",
        "tests/fixtures/real/ort_int8",
        "tests/fixtures/real/ort_int16",
        "--by",
        "cosine",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["primary"], "cosine");
    // A journal run without an analysis is refused with a sentence; a missing name lists the runs.
    let (code, _, err) = quantlens(&[
        "diff",
        "tests/fixtures/seed/quantlens-journal.json#float",
        "tests/fixtures/real/ort_int16",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keeps no analysis"), "{err}");
    let (_, _, err) = quantlens(&[
        "diff",
        "tests/fixtures/seed/quantlens-journal.json#nope",
        "tests/fixtures/real/ort_int16",
    ]);
    assert!(err.contains("has no run named \"nope\""), "{err}");
    // A journal without a run named says which runs it has.
    let (code, _, err) = quantlens(&[
        "diff",
        "tests/fixtures/seed/quantlens-journal.json",
        "tests/fixtures/real/ort_int16",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("name one of its runs") && err.contains("all-int16 qat"),
        "{err}"
    );
}

/// A link carries the journal without the runs' analyses; damaged and oversized links are refused
/// with a sentence.
#[test]
fn journal_link_round_trip_and_refusals() {
    use quantlens::engine::journal_view::{decode_journal_link, journal_link};
    let mut j = seed();
    j.runs[2].summary = Some(summary_of("tests/fixtures/real/ort_int8"));
    let frag = journal_link(&j).expect("fits");
    assert!(
        frag.starts_with("j=") && frag.len() < 4096,
        "{} bytes",
        frag.len()
    );
    let back = decode_journal_link(&format!("#s=abc&{frag}"))
        .expect("read")
        .expect("some");
    assert_eq!(back, j.without_summaries());
    assert_eq!(decode_journal_link("#s=abc").expect("none"), None);
    let e = decode_journal_link("#j=!!!").unwrap_err();
    assert!(e.contains("damaged") && e.contains("journal"), "{e}");
    let e = decode_journal_link(&format!("#j={}", "A".repeat(40_000))).unwrap_err();
    assert!(e.contains("more than"), "{e}");
    // A journal too big for a link says to export it instead.
    let mut big = j.clone();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..3000 {
        let mut r = big.runs[1].clone();
        r.id = format!("x{i}");
        // Notes that do not compress: a link cannot carry them all.
        r.note = (0..8)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{x:016x}")
            })
            .collect();
        big.upsert(r);
    }
    match journal_link(&big) {
        Err(e) => assert!(e.contains("export it as a file"), "{e}"),
        Ok(f) => panic!("a {} byte link", f.len()),
    }
}
