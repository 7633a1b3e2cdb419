#!/usr/bin/env python3
"""The seed's runs as a QuantLens journal (tests/fixtures/seed/quantlens-journal.json).

Provenance: every accuracy is transcribed from the tables of
shared/reference/seed-quantization-accuracy-tuning-practice.txt (Horizon's "Quantization Accuracy Tuning
Practice", a BEV model with two output branches, `dynamic` and `static`, target = float x (1 - 1%)),
in the order the seed made the runs. Each run's `expect` is the step the seed took next (the rule
tests/journal.rs checks QuantLens names after that run); `changed_ops` are the ops the seed changed
before that run. Run: python3 scripts/gen_seed_journal.py (writes the file; --check compares).
"""
import json, sys, pathlib

RUNS = [
    # name, stage, precision, ratio, changed ops, dynamic, static, the seed's next step
    ("float", "float", "unstated", None, [], 73.6, 55.5, "start_int16"),
    ("all-int16 calibration", "calibration", "all_int16", None, [], 0, 0, "int16_calib_debug"),
    ("all-int16 calibration, QuantStubs int16 + fixed scale", "calibration", "all_int16", None,
     ["model.view_transformation.transformer.layers.0.quant",
      "model.obstacle_head.decoder.layers.0.cross_attn.quant_normalizer"], 73.4, 54, "int16_calib_close"),
    ("all-int16 qat", "qat", "all_int16", None, [], 0, 0, "qat_pipeline"),
    ("finetune float", "float_finetune", "unstated", None, [], 0, 0, "finetune_loses"),
    ("all-int16 calibration, dim_t split in two groups", "calibration", "all_int16", None,
     ["model.map_head.sparse_head.decoder.gen_sineembed_for_position0.dim_t_quant"], 73.4, 54.7, "int16_calib_close"),
    ("all-int16 qat (lr, wd tuned)", "qat", "all_int16", None, [], 0, 0, "qat_pipeline"),
    ("finetune float, lr = 0", "float_finetune", "unstated", None, [], 0, 0, "finetune_loses"),
    ("all-int16 qat, pipeline aligned", "qat", "all_int16", None, [], 74.1, 55.3, "try_int8"),
    ("all-int8 calibration", "calibration", "all_int8", None, [], 0, 0, "start_mixed"),
    ("all-int8 qat", "qat", "all_int8", None, [], 0, 0, "start_mixed"),
    ("int8 + ref_point_quant int16 calibration", "calibration", "mixed", None,
     ["model.view_transformation.ref_point_quant"], 70.9, 7.5, "raise_ratio"),
    ("int8 + ref_point_quant int16 qat", "qat", "mixed", None, [], 71.3, 27.8, "raise_ratio"),
    ("int8 + sensitivity top 0.5% int16 calibration", "calibration", "mixed", 0.5, [], 71, 53.7, "mixed_calib_close"),
    ("int8 + sensitivity top 0.5% int16 qat", "qat", "mixed", 0.5, [], 73.1, 55.1, "mixed_met"),
]


def journal():
    runs = []
    for i, (name, stage, precision, ratio, changed, dyn, sta, expect) in enumerate(RUNS):
        t = 1700000000000 + i * 86400000  # one run a day
        runs.append({
            "id": f"seed-{i + 1:02d}", "name": name, "created_ms": t, "updated_ms": t,
            "stage": stage, "precision": precision, "int16_ratio_pct": ratio,
            "changed_ops": changed, "note": f"expect: {expect}",
            "accuracy": [{"branch": "dynamic", "metric": "mAP", "value": dyn},
                         {"branch": "static", "metric": "mAP", "value": sta}],
            "files": [], "summary": None,
        })
    return {"format": "quantlens.journal", "version": 1, "allowed_loss_pct": 1.0,
            "metrics": [{"branch": "dynamic", "metric": "mAP", "lower_is_better": False},
                        {"branch": "static", "metric": "mAP", "lower_is_better": False}],
            "runs": runs}


out = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/seed/quantlens-journal.json"
text = json.dumps(journal(), indent=1) + "\n"
if "--check" in sys.argv:
    sys.exit(0 if out.read_text() == text else 1)
out.write_text(text)
