#!/usr/bin/env python3
"""Generate QuantLens's model-check fixtures with the real `tabulate` package, the way
horizon_plugin_pytorch's `check_qat_model` writes them (see ../shared/reference/horizon-formats.md §1).

Every file states its provenance in tests/fixtures/PROVENANCE.md. Run from the repository root:

    python3 scripts/gen_fixtures.py          # rewrite all fixtures
    python3 scripts/gen_fixtures.py --check  # fail if a committed fixture differs from what this writes

Requires `tabulate==0.9.0` (scripts/setup.sh installs it). No torch needed: torch dtypes, fx nodes and
observers are emulated by objects whose repr is exactly what torch prints.
"""
import math
import os
import sys
from collections import OrderedDict

from tabulate import tabulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "horizon")


class TorchDtype:
    """Prints like `torch.float32` (unquoted inside list reprs, as torch.dtype does)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "torch." + self.name

    __str__ = __repr__


F32 = TorchDtype("float32")
F16 = TorchDtype("float16")
# Horizon's QuantDType values are str subclasses: they print quoted inside lists.
QINT8, QINT16, QINT32 = "qint8", "qint16", "qint32"


class Node:
    """An fx Node: repr is its name."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


P = "horizon_plugin_pytorch.nn.qat."
T = {
    "QuantStub": P + "stubs.QuantStub",
    "DeQuantStub": P + "stubs.DeQuantStub",
    "Conv2d": P + "conv2d.Conv2d",
    "ConvReLU2d": P + "conv2d.ConvReLU2d",
    "ConvAddReLU2d": P + "conv2d.ConvAddReLU2d",
    "GELU": P + "gelu.GELU",
    "FloatFunctional": P + "functional_modules.FloatFunctional",
    "BatchNorm2d": P + "batchnorm.BatchNorm2d",
    "Linear": P + "linear.Linear",
    "LinearReLU": P + "linear.LinearReLU",
    "LinearAdd": P + "linear.LinearAdd",
    "SegmentLUT": P + "segment_lut.SegmentLUT",
    "Dropout": "torch.nn.modules.dropout.Dropout",
    "ConvTranspose2d": P + "conv_transpose2d.ConvTranspose2d",
    "ReLU": P + "relu.ReLU",
}


def cls(short):
    return "<class '%s'>" % T[short]


def dtype_stats(calls, which):
    """Rows of the dtype statistics table: each call adds +1 per *distinct* dtype (first-seen order)."""
    dtype_list, per_type = [], OrderedDict()
    for c in calls:
        seen = []
        for d in c[which]:
            if repr(d) not in [repr(s) for s in seen]:
                seen.append(d)
        for d in c["in"] + c["out"]:
            if repr(d) not in [repr(x) for x in dtype_list]:
                dtype_list.append(d)
        row = per_type.setdefault(c["type"], {})
        for d in seen:
            row[repr(d)] = row.get(repr(d), 0) + 1
    return dtype_list, per_type


def stats_table(dtype_list, per_type):
    headers = ["module type"] + [str(d) for d in dtype_list]
    rows = []
    totals = [0] * len(dtype_list)
    for t, counts in per_type.items():
        r = [cls(t)] + [counts.get(repr(d), 0) for d in dtype_list]
        totals = [a + b for a, b in zip(totals, r[1:])]
        rows.append(r)
    rows.append(["total"] + totals)
    return tabulate(rows, headers=headers, tablefmt="psql")


def write_check(path, *, fusable=None, unused=None, shared=None, called=None, calls=(),
                weights=None, unusual=None, graph=None, stats=None, observer_col=True,
                list_dtypes=True, extra_sections=None):
    """The S11 write sequence (§1.2), with the newer variants as options."""
    out = []
    if fusable is not None:
        if not fusable:
            out.append("All fusable modules are fused in model!\n")
        else:
            out.append("Fusable modules are listed below:\n")
            for group in fusable:
                out.append(tabulate(group + [["", ""]], headers=["name", "type"]) + "\n")
    if called is not None:
        out.append("\n\nEach module called times:\n" + tabulate(called, headers=["name", "called times"]))
    elif unused is None and shared is None:
        out.append("All modules in the model run exactly once.\n")
    else:
        if unused:
            out.append("\n\nModules below are not used:\n" + tabulate(unused, headers=["name", "called times"]))
        if shared:
            out.append("\n\nModules below are used multi times:\n" + tabulate(shared, headers=["name", "called times"]))
    if stats is None:
        din, tin = dtype_stats(calls, "in")
        dout, tout = dtype_stats(calls, "out")
        # Both tables share the dtype list of all dtypes seen (first-seen order).
        dall = din + [d for d in dout if repr(d) not in [repr(x) for x in din]]
        stats = (stats_table(dall, tin), stats_table(dall, tout))
    out.append("\n\ninput dtype statistics:\n" + stats[0])
    out.append("\n\noutput dtype statistics:\n" + stats[1])
    rows = []
    for c in calls:
        fmt = (lambda l: str(l)) if list_dtypes else (lambda l: str(l[0]) if len(l) == 1 else str(l))
        r = [c["name"], cls(c["type"]), fmt(c["in"]), fmt(c["out"]), c.get("ch_axis", -1)]
        if observer_col:
            r.append(c.get("observer", "MinMaxObserver"))
        rows.append(r)
    headers = ("Module Name", "Module Type", "Input dtype", "out dtype", "ch_axis") + (("observer",) if observer_col else ())
    out.append("\n\nEach layer out qconfig:\n" + tabulate(rows, headers=headers, tablefmt="psql"))
    if weights:
        wh = ("Module Name", "Module Type", "weight dtype", "ch_axis") + (("observer",) if observer_col else ())
        out.append("\n\nWeight qconfig:\n" + tabulate(weights, headers=wh, tablefmt="psql"))
    if unusual:
        out.append("\n\nPlease check if these OPs qconfigs are expected..\n"
                   + tabulate(unusual, headers=("Module Name", "Module Type", "Msg"), tablefmt="psql"))
    for title, table in (extra_sections or []):
        out.append("\n\n%s\n%s" % (title, table))
    if graph:
        out.append("\n\nGraph:\n%s\n" % tabulate(graph, headers=["opcode", "name", "target", "args", "kwargs"]))
    text = "".join(out)
    return path, text


def call(name, t, i, o, **kw):
    d = {"name": name, "type": t, "in": i, "out": o}
    d.update(kw)
    return d


# --- 1. S11 full (old plugin: all sections incl. Graph in the same file) -----------------------------
def s11_full():
    calls = [
        call("quant", "QuantStub", [F32], [QINT8]),
        call("conv0", "Conv2d", [QINT8], [QINT8]),
        call("shared_conv", "Conv2d", [QINT8], [QINT8]),
        call("add0[add]", "FloatFunctional", [QINT8, QINT8], [QINT8]),
        call("shared_conv(1)", "Conv2d", [QINT8], [QINT8]),
        call("mask_mul[mul]", "FloatFunctional", [QINT8, F32], [QINT8]),
        call("head.fc", "Linear", [QINT8], [QINT32]),
        call("head.act", "ReLU", [QINT32], [QINT32], ch_axis="qconfig = None", observer=None),
        call("cls_dequant", "DeQuantStub", [QINT8], [F32], ch_axis="qconfig = None", observer=None),
        call("box_dequant", "DeQuantStub", [QINT32], [F32], ch_axis="qconfig = None", observer=None),
    ]
    fusable = [
        [["conv0", cls("Conv2d")], ["add0", cls("FloatFunctional")]],
        [["shared_conv(shared)", cls("Conv2d")], ["relu1", "<class 'torch.nn.modules.activation.ReLU'>"]],
    ]
    graph = [
        ["placeholder", "input_0", "input_0", (), {}],
        ["call_module", "quant", "quant", (Node("input_0"),), {}],
        ["call_module", "conv0", "conv0", (Node("quant"),), {}],
        ["call_module", "shared_conv", "shared_conv", (Node("quant"),), {}],
        ["call_method", "add", "add", (Node("add0"), Node("conv0"), Node("shared_conv")), {}],
        ["call_module", "head_fc", "head.fc", (Node("add"),), {}],
        ["call_module", "head_act", "head.act", (Node("head_fc"),), {}],
        ["call_module", "cls_dequant", "cls_dequant", (Node("add"),), {}],
        ["call_module", "box_dequant", "box_dequant", (Node("head_act"),), {}],
        ["output", "output", "output", ((Node("cls_dequant"), Node("box_dequant")),), {}],
    ]
    return write_check(
        os.path.join(FIX, "s11-full", "model_check_result.txt"),
        fusable=fusable,
        unused=[["aux_head.fc", 0]],
        shared=[["shared_conv", 2]],
        calls=calls,
        weights=[["conv0", cls("Conv2d"), QINT8, 0, "MinMaxObserver"],
                 ["shared_conv", cls("Conv2d"), QINT8, 0, "MinMaxObserver"],
                 ["head.fc", cls("Linear"), QINT16, 0, "MinMaxObserver"]],
        unusual=[["head.fc", cls("Linear"), "qint16 weight!"],
                 ["mask_mul[mul]", cls("FloatFunctional"),
                  "Mixed input dtype ['qint8', torch.float32] and output dtype ['qint8']"]],
        graph=graph,
    )


# --- 2. J6 S13 sample (newer: graph in fx_graph.txt, run-once, fused) -------------------------------
def j6_s13(annotated):
    calls = [
        call("quant", "QuantStub", [F32], [QINT8]),
        call("conv", "Conv2d", [QINT8], [QINT8]),
        call("quant_grid", "QuantStub", [F32], [QINT16]),
        call("add2[add]", "FloatFunctional", [QINT8, QINT8], [QINT8]),
        call("add1[add]", "FloatFunctional", [QINT8, QINT8], [QINT8]),
        call("dequant", "DeQuantStub", [QINT8], [F32], ch_axis="qconfig = None", observer=None),
        call("dequant(1)", "DeQuantStub", [QINT8], [F32], ch_axis="qconfig = None", observer=None),
    ]
    path, text = write_check(
        os.path.join(FIX, "j6-s13", "model_check_result%s.txt" % ("_annotated" if annotated else "")),
        fusable=[],
        calls=calls,
        weights=[["conv", cls("Conv2d"), QINT8, 0, "MinMaxObserver"]],
        unusual=[["quant_grid", cls("QuantStub"), "Fixed input scale 3.35693359375e-05"]],
    )
    if annotated:
        # The documentation's author added '#' comment lines and an unexplained compute-type line.
        text = ("# 检查fuse问题\n" + text.replace("All modules in the model run",
                                                   "# 检查共享问题\nAll modules in the model run", 1)
                + "\n\n# 异常计算类型\nconv            float32*int8\n")
    return path, text


# --- 3. OE 3.x variant: called-times, observer reprs, FakeCast/fp16, an unknown extra section ----------
def oe3_variant():
    fixed = "FixedScaleObserver(scale=tensor([3.0518e-05], device='cuda:0'),zero_point=tensor([0], device='cuda:0'))"
    calls = [
        call("quant", "QuantStub", [F32], [QINT16], observer=fixed),
        call("mod1.0", "Conv2d", [QINT16], [QINT8], observer="MinMaxObserver(averaging_constant=0.01)"),
        call("mod2.1.attn.q", "Conv2d", [QINT8], [QINT16], observer="MinMaxObserver(averaging_constant=0.01)"),
        call("mod2.1.FFN.out_conv.1.0", "Conv2d", [QINT16], [QINT16], observer="MinMaxObserver(averaging_constant=0)"),
        call("bev_fusion.fuse_block._generated_add_2[add]", "FloatFunctional", [F16, F32], [F16],
             ch_axis="FakeCast(dtype=torch.float16, min_val=-0.0009765625, max_val=0.0009765625)", observer=None),
        call("bev_fusion.proj", "Linear", [F32], [QINT8], observer="MinMaxObserver(averaging_constant=0.01)"),
        call("head.dequant", "DeQuantStub", [QINT16], [F32], ch_axis="qconfig = None", observer=None),
    ]
    called = [["quant", 1], ["mod1.0", 1], ["mod2.1.attn.q", 1], ["mod2.1.FFN.out_conv.1.0", 1],
              ["bev_fusion.fuse_block._generated_add_2", 1], ["bev_fusion.proj", 1], ["head.dequant", 1],
              ["head.pos_embed.sin", 3], ["head.pos_embed.cos", 3], ["aux.fc", 0]]
    extra = [("Abnormal compute dtype:",
              tabulate([["mod1.0", "float32*int8"]], headers=["Module Name", "compute"], tablefmt="psql"))]
    return write_check(
        os.path.join(FIX, "oe3-variant", "model_check_result.txt"),
        fusable=[[["mod1.0(shared)", cls("Conv2d")], ["mod1.1", cls("ReLU")]]],
        called=called,
        calls=calls,
        weights=[["mod1.0", cls("Conv2d"), QINT8, 0, "MinMaxObserver(averaging_constant=0.01)"]],
        extra_sections=extra,
    )


# --- 4. X3 plugin 1.x `qconfig_info.txt` (5 columns, bare dtypes) -----------------------------------
def x3_qconfig_info():
    rows = [
        ["quantx", cls("QuantStub"), "torch.float32", "qint8", -1],
        ["convmod1.add", cls("ConvAddReLU2d"), "['qint8', 'qint8']", "qint8", -1],
        ["convmod2.relu_mod", "<class 'horizon_plugin_pytorch.nn.qat.relu.ReLU'>", "qint8", "qint8", "qconfig = None"],
        ["shared_conv(1)", cls("Conv2d"), "qint8", "qint8", -1],
        ["sub[sub]", cls("FloatFunctional"), "['qint8', 'qint8']", "qint16", -1],
    ]
    text = ("Each layer out qconfig:\n"
            + tabulate(rows, headers=("Module Name", "Module Type", "Input dtype", "out dtype", "ch_axis"), tablefmt="psql")
            + "\n\nWeight qconfig:\n"
            + tabulate([["convmod1.add", cls("ConvAddReLU2d"), QINT16, 0]],
                       headers=("Module Name", "Module Type", "weight dtype", "ch_axis"), tablefmt="psql")
            + "\n\nPlease check if these OPs qconfigs are expected..\n"
            + tabulate([["convmod1.add", cls("ConvAddReLU2d"), "qint16 weight!!!"],
                        ["sub[sub]", cls("FloatFunctional"), "input dtype ['qint8', 'qint8'] is not same with out dtype qint16"],
                        ["sub[sub]", cls("FloatFunctional"), "Fixed scale 3.0517578125e-05"]],
                       headers=("Module Name", "Module Type", "Msg"), tablefmt="psql") + "\n")
    return os.path.join(FIX, "x3-plugin1", "qconfig_info.txt"), text


# --- 5. The bundled example: a full-size file derived from the seed's BEV case ----------------------
# The seed prints the dtype statistics of the real model (2,304 calls). The example reproduces those
# statistics exactly, with a per-layer table whose rows add up to them and names from the seed's model.
SEED_IN = OrderedDict([
    ("QuantStub", {F32: 290, QINT8: 15}),
    ("ConvReLU2d", {QINT8: 6}),
    ("Conv2d", {QINT8: 228}),
    ("GELU", {QINT8: 63}),
    ("FloatFunctional", {F32: 3, QINT8: 425, QINT16: 725, QINT32: 140}),
    ("BatchNorm2d", {QINT8: 9}),
    ("Linear", {F32: 5, QINT8: 117, QINT16: 9, QINT32: 72}),
    ("SegmentLUT", {QINT8: 64, QINT16: 125}),
    ("Dropout", {QINT8: 53}),
    ("LinearReLU", {F32: 1, QINT8: 17, QINT32: 28}),
    ("ConvTranspose2d", {QINT8: 1}),
    ("ReLU", {QINT8: 8, QINT32: 56}),
    ("LinearAdd", {QINT8: 4, QINT32: 4}),
    ("DeQuantStub", {QINT8: 8, QINT32: 4}),
])
SEED_OUT = OrderedDict([
    ("QuantStub", {QINT8: 123, QINT16: 182}),
    ("ConvReLU2d", {QINT8: 6}),
    ("Conv2d", {QINT8: 228}),
    ("GELU", {QINT8: 63}),
    ("FloatFunctional", {QINT8: 341, QINT16: 716, QINT32: 64}),
    ("BatchNorm2d", {QINT8: 9}),
    ("Linear", {QINT8: 85, QINT16: 18, QINT32: 100}),
    ("SegmentLUT", {QINT8: 55, QINT16: 134}),
    ("Dropout", {QINT8: 53}),
    ("LinearReLU", {QINT8: 18, QINT32: 28}),
    ("ConvTranspose2d", {QINT8: 1}),
    ("ReLU", {QINT8: 8, QINT32: 56}),
    ("LinearAdd", {QINT8: 4}),
    ("DeQuantStub", {F32: 12}),
])
ORDER = [F32, QINT8, QINT16, QINT32]


def spread(counts, n):
    """Per-call dtype sets whose per-dtype call counts equal `counts` (each count <= n, sum >= n)."""
    sets = [[] for _ in range(n)]
    pos = 0
    for d in ORDER:
        c = counts.get(d, 0)
        for k in range(c):
            sets[(pos + k) % n].append(d)
        pos += c
    assert all(sets), "every call needs an input"
    return sets


def flat(counts, n):
    out = []
    for d in ORDER:
        out += [d] * counts.get(d, 0)
    assert len(out) == n
    return out


def example_names():
    """Deterministic module names per type, from the seed's model (BevFormer-style, 6 cameras)."""
    names = {t: [] for t in SEED_IN}
    vt = "model.view_transformation"
    mh = "model.map_head.sparse_head"
    oh = "model.obstacle_head"
    # The seed's own rows first, so they appear with their real names.
    names["QuantStub"] += [vt + ".transformer.layers.0.quant", oh + ".decoder.layers.0.cross_attn.quant_normalizer",
                           vt + ".ref_point_quant"]
    names["QuantStub"] += [mh + ".decoder.gen_sineembed_for_position.dim_t_quant"] + \
                          [mh + ".decoder.gen_sineembed_for_position.dim_t_quant(%d)" % k for k in range(1, 4)]
    for l in range(6):
        for q in ["value_quant", "offset_quant", "weight_quant", "ref_quant", "pos_quant", "mask_quant",
                  "query_pos_quant"]:
            names["QuantStub"].append("%s.transformer.layers.%d.cross_attn.%s" % (vt, l, q))
    for cam in range(6):
        for lvl in range(4):
            names["QuantStub"].append("%s.cams_embeds_quant.%d.%d" % (vt, cam, lvl))
            names["QuantStub"].append("model.backbone.img_quant.%d.%d" % (cam, lvl))
    k = 0
    while len(names["QuantStub"]) < 305:
        names["QuantStub"].append("%s.decoder.layers.%d.attn.anchor_quant_%d" % (oh, k % 6, k // 6))
        k += 1
    # Convolutions: backbone + FPN + input projections (the seed's unfused conv+add groups).
    for cam in range(6):
        names["Conv2d"].append("%s.input_proj.%d.0" % (vt, cam))
    for stage in range(4):
        for block in range(6):
            for c in range(3):
                names["Conv2d"].append("model.backbone.stage%d.%d.conv%d" % (stage, block, c))
    k = 0
    while len(names["Conv2d"]) < 228:
        names["Conv2d"].append("model.neck.fpn_convs.%d.conv_%d" % (k % 4, k // 4))
        k += 1
    names["ConvReLU2d"] = ["model.backbone.stem.%d" % i for i in range(6)]
    names["BatchNorm2d"] = ["model.neck.bn.%d" % i for i in range(9)]
    names["ConvTranspose2d"] = [mh + ".seg_upsample.0"]
    names["GELU"] = ["%s.transformer.layers.%d.ffn.act.%d" % (vt, i % 6, i // 6) for i in range(63)]
    names["Dropout"] = ["%s.transformer.layers.%d.dropout%d" % (vt, i % 6, i // 6) for i in range(53)]
    # Linear layers: the seed's reg_branches.0.0 first (qint32 output), heads and transformer layers.
    names["Linear"] = [oh + ".reg_branches.0.0"]
    for i in range(6):
        names["Linear"] += ["%s.pts_branches.%d.6" % (mh, i), "%s.reference_points.%d" % (mh, i)]
    k = 0
    while len(names["Linear"]) < 203:
        names["Linear"].append("%s.decoder.layers.%d.%s" % (oh if k % 2 else mh, k % 6,
                               ["linear1", "linear2", "value_proj", "output_proj", "sampling_offsets",
                                "attention_weights", "q_proj", "k_proj"][(k // 6) % 8] + ("" if k < 48 else "_%d" % (k // 48))))
        k += 1
    names["LinearReLU"] = ["%s.reg_branches.%d.%d" % (oh, i % 6, 1 + i // 6) for i in range(46)]
    names["LinearAdd"] = ["%s.decoder.reg_branch_output_add%d" % (mh, i) for i in range(4)]
    names["ReLU"] = ["%s.cls_branches.%d.relu%d" % (oh, i % 8, i // 8) for i in range(64)]
    # Shared sine embedding (8 calls per module; the seed's "Each module called times" excerpt).
    se = mh + ".decoder.gen_sineembed_for_position"
    for base in ["div.mul", "stack", "mul"]:
        names["FloatFunctional"] += ["%s.%s" % (se, base)] + ["%s.%s(%d)" % (se, base, k) for k in range(1, 8)]
    names["FloatFunctional"] += ["%s.cat" % se] + ["%s.cat(%d)" % (se, k) for k in range(1, 4)]
    for cam in range(6):
        names["FloatFunctional"].append("%s._generated_add_%d[add]" % (vt, 2 * cam))
    k = 0
    while len(names["FloatFunctional"]) < 1121:
        layer, j = k % 6, k // 6
        part = ["cross_attn", "self_attn", "ffn", "norm"][j % 4]
        op = ["add", "mul", "cat", "sum"][(j // 4) % 4]
        names["FloatFunctional"].append("model.%s.decoder.layers.%d.%s.%s_%d[%s]" % (
            ["view_transformation.transformer", "map_head.sparse_head", "obstacle_head"][k % 3], layer, part, op, j // 16, op))
        k += 1
    for base in ["div.reciprocal", "sin_model.sin", "cos_model.cos"]:
        names["SegmentLUT"] += ["%s.%s" % (se, base)] + ["%s.%s(%d)" % (se, base, k) for k in range(1, 8)]
    names["SegmentLUT"].append(mh + ".sigmoid")
    k = 0
    while len(names["SegmentLUT"]) < 189:
        names["SegmentLUT"].append("model.%s.decoder.layers.%d.softmax.lut_%d" % (
            ["view_transformation.transformer", "map_head.sparse_head", "obstacle_head"][k % 3], k % 6, k // 6))
        k += 1
    names["DeQuantStub"] = [oh + ".reg_out_dequant0"] + ["%s.cls_out_dequant%d" % (mh, i) for i in range(4)] + \
                           ["%s.pts_out_dequant%d" % (mh, i) for i in range(3)] + \
                           ["%s.reg_out_dequant%d" % (oh, i) for i in range(1, 5)]
    return names


def seed_example():
    names = example_names()
    calls = []
    for t in SEED_IN:
        n = sum(SEED_OUT[t].values())
        ins = spread(SEED_IN[t], n)
        outs = flat(SEED_OUT[t], n)
        assert len(names[t]) >= n, (t, len(names[t]), n)
        for i in range(n):
            o = outs[i]
            kw = {"observer": "MixObserver"}
            if t == "DeQuantStub":
                kw = {"ch_axis": "qconfig = None", "observer": None}
            calls.append(call(names[t][i], t, ins[i], [o], **kw))
    # The seed's own per-layer rows: reg_branches.0.0 (Linear) is qint8 → qint32; reg_out_dequant0 has a
    # qint8 input. Move them to their seed values (spread() put other dtypes there) keeping the counts.
    def fix(name, ins, outs):
        i = next(k for k, c in enumerate(calls) if c["name"] == name)
        j = next(k for k, c in enumerate(calls)
                 if c["type"] == calls[i]["type"] and k != i and repr(c["in"]) == repr(ins) and repr(c["out"]) == repr(outs))
        calls[i]["in"], calls[j]["in"] = calls[j]["in"], calls[i]["in"]
        calls[i]["out"], calls[j]["out"] = calls[j]["out"], calls[i]["out"]
    fix(next(c["name"] for c in calls if c["name"].endswith("reg_branches.0.0")), [QINT8], [QINT32])
    fix(next(c["name"] for c in calls if c["name"].endswith("reg_out_dequant0")), [QINT8], [F32])
    # Interleave into a plausible call order: by model part, then as generated.
    part = lambda c: (0 if "backbone" in c["name"] else 1 if "neck" in c["name"] else
                      2 if "view_transformation" in c["name"] else 3 if "map_head" in c["name"] else 4)
    calls.sort(key=part)
    fusable = [[["model.view_transformation.input_proj.%d.0" % cam, cls("Conv2d")],
                ["model.view_transformation._generated_add_%d" % (2 * cam), cls("FloatFunctional")]]
               for cam in range(6)]
    counts = OrderedDict()
    for c in calls:
        base = c["name"].split("[")[0]
        base = base.rsplit("(", 1)[0] if base.endswith(")") else base
        counts[base] = counts.get(base, 0) + 1
    counts[ "model.obstacle_head.aux_cls_branch.0"] = 0
    called = [[k, v] for k, v in counts.items()]
    weights = [[c["name"], cls(c["type"]), QINT8, 0, "MinMaxObserver"]
               for c in calls if c["type"] in ("Conv2d", "ConvReLU2d", "Linear", "LinearReLU", "LinearAdd", "ConvTranspose2d")
               and "(" not in c["name"]]
    unusual = [[c["name"], cls("LinearAdd"), "Mixed input dtype %s and output dtype %s" % (c["in"], c["out"])]
               for c in calls if c["type"] == "LinearAdd"]
    path, text = write_check(os.path.join(ROOT, "www", "examples", "model_check_result.txt"),
                             fusable=fusable, called=called, calls=calls, weights=weights, unusual=unusual)
    # Guard: the statistics must be the seed's, number for number.
    din, tin = dtype_stats(calls, "in")
    for t, counts_ in SEED_IN.items():
        assert {k: v for k, v in tin[t].items()} == {repr(k): v for k, v in counts_.items()}, t
    return path, text


# --- 6. QuantAnalysis reports ----------------------------------------------------------------------
QA_HEADERS_24 = ["mod_name", "base_op_type", "analy_op_type", "shape", "quant_dtype", "qscale", "Cosine", "MSE",
                 "L1", "KL", "SQNR", "Atol", "Rtol", "base_model_min", "analy_model_min", "base_model_max",
                 "analy_model_max", "base_model_mean", "analy_model_mean", "base_model_var", "analy_model_var",
                 "max_atol_diff", "max_qscale_diff"]
QA_HEADERS_17 = ["mod_name", "base_op_type", "analy_op_type", "shape", "quant_dtype", "qscale", "Cosine", "L1",
                 "Atol", "max_qscale_diff", "base_model_min", "analy_model_min", "base_model_max", "analy_model_max",
                 "base_model_mean", "analy_model_mean"]
F32MAX = 3.4028234663852886e38


class Size:
    """torch.Size repr."""

    def __init__(self, dims):
        self.dims = dims

    def __str__(self):
        return "torch.Size([%s])" % ", ".join(str(d) for d in self.dims)


def compare_txt(rows, headers, index):
    table = [[r.get(h) for h in headers] for r in rows]
    return tabulate(table, headers=[""] + headers if False else headers, tablefmt="psql", floatfmt=".7f",
                    showindex=index)


def compare_csv(rows, headers):
    """`", ".join(keys)` header; shape commas become '*'; None and floats via str()."""
    out = [", ".join(headers) + "\n"]
    for r in rows:
        cells = []
        for h in headers:
            v = r.get(h)
            cells.append(str(v).replace(",", "*") if h == "shape" else str(v))
        out.append(", ".join(cells) + "\n")
    return "".join(out)


def s13_compare_rows():
    """The J6 current-format sample of §3.3.2 (17 columns, fused conv row, empty mod_name rows)."""
    P = "horizon_plugin_pytorch."
    def row(name, bt, at, shape, dt, qs, cos, l1, atol, mqd, bmin, amin, bmax, amax, bmean, amean):
        return dict(zip(QA_HEADERS_17, [name, bt, at, Size(shape) if shape else None, dt, qs, cos, l1, atol, mqd,
                                        bmin, amin, bmax, amax, bmean, amean]))
    return [
        row("quant", P + "quantization.stubs.QuantStub", P + "nn.qat.stubs.QuantStub", [18, 3, 17, 7], "qint8", 0.0078425, 0.9999925, 0.0019682, 0.0039212, 0.4999948, -0.9998152, -0.9959978, 0.9999191, 0.9959978, 0.0060736, 0.0060765),
        row("conv", "torch.nn.modules.conv.Conv2d", P + "nn.qat.conv2d.Conv2d", None, "qint8", 0.0082740, None, None, None, None, -1.0464442, -1.0507929, 0.6825767, 0.6950126, -0.0927172, -0.0872770),
        row("bn", "torch.nn.modules.batchnorm.BatchNorm2d", "torch.nn.modules.linear.Identity", [18, 3, 17, 7], "qint8", 0.0082740, 0.9999726, 0.0023596, 0.0088963, 1.0752156, -1.0548558, -1.0507929, 0.6918184, 0.6950126, -0.0872810, -0.0872770),
        row("quant_grid", P + "quantization.stubs.QuantStub", P + "nn.qat.stubs.QuantStub", [18, 8, 5, 2], "qint16", 0.0000336, 1.0000000, 0.0000084, 0.0000168, 0.5007102, -0.9984837, -0.9984863, 0.9958880, 0.9959015, -0.0134041, -0.0134042),
        row("", P + "nn.grid_sample.autocasted_grid_sample_outer", P + "nn.grid_sample.autocasted_grid_sample_outer", [18, 3, 8, 5], "qint8", 0.0082740, 0.9999570, 0.0024030, 0.0093807, 1.1337616, -0.9268014, -0.9266835, 0.5589110, 0.5543553, -0.0883798, -0.0883245),
        row("grid_sample", P + "nn.grid_sample.warp", P + "nn.grid_sample.warp", [18, 3, 8, 5], "qint8", 0.0082740, 0.9999532, 0.0024225, 0.0088696, 1.0719883, -0.8721045, -0.8687658, 0.5592290, 0.5626293, -0.0791863, -0.0791657),
        row("", "torch.Tensor.topk", "torch.Tensor.topk", [18, 3, 17, 5], "qint8", 0.0082740, 0.9999592, 0.0023580, 0.0088128, 1.0651248, -0.9006146, -0.9018617, 0.6918184, 0.6950126, 0.0219691, 0.0216529),
        row("add2", P + "nn.quantized.functional_modules.FloatFunctional.add", P + "nn.qat.functional_modules.FloatFunctional.add", [18, 3, 8, 5], "qint8", 0.0126543, 0.9999536, 0.0044265, 0.0178684, 1.4120450, -1.6115571, -1.6070950, 1.0174880, 1.0123433, -0.1675661, -0.1672710),
        row("dequant", "torch.ao.quantization.stubs.DeQuantStub", P + "nn.qat.stubs.DeQuantStub", [18, 3, 8, 5], "torch.float32", None, 0.9999536, 0.0044265, 0.0178684, None, -1.6115571, -1.6070950, 1.0174880, 1.0123433, -0.1675661, -0.1672710),
    ], [0, 1, 2, 3, 4, 5, 6, 7, 9]


SEED_ROWS = {
    791: ["model.view_transformation.transformer.layers.0.quant", "horizon_plugin_pytorch.quantization.stubs.QuantStub", "horizon_plugin_pytorch.nn.qat.stubs.QuantStub", Size([1, 1875, 24, 2]), "qint8", 0.7764707, 0.9999968, 0.1134158, 0.3205845, 0.0000081, 46.6785774, 0.3882294, 1.0000000, -99.0000000, -98.6117706, 0.9999269, 0.7764707, -53.0977783, -52.8312225, 2459.8188477, 2446.8227539, 0.3882294, 0.4999923],
    883: ["model.obstacle_head.decoder.layers.0.cross_attn.quant_normalizer", "horizon_plugin_pytorch.quantization.stubs.QuantStub", "horizon_plugin_pytorch.nn.qat.stubs.QuantStub", Size([1, 7500, 8, 32]), "qint8", 0.0522360, 0.3601017, 0.9630868, 0.6762735, 0.0000729, -0.6995326, 12.4819937, 601413.5625000, -9.2183294, -6.5295014, 10.2716885, 6.6339736, -0.0177280, -0.0255637, 0.8194664, 0.6810485, 12.4819937, 238.9537970],
    # 1227/1520: the seed prints only dtype, scale and min/max; the metrics are consistent fill-ins.
    1227: ["model.map_head.sparse_head.decoder.gen_sineembed_for_position.div", "horizon_plugin_pytorch.nn.div.Div", "horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional.mul", Size([1, 1600, 128]), "qint8", 0.0446799, 0.9999901, 0.0001667, 0.0111661, 0.0000002, 48.3187654, 0.0227816, 1.0000000, 0.0002146, 0.0000000, 4.5935526, 4.5567998, 0.3710255, 0.3710114, 0.6251247, 0.6250910, 0.0227816, 0.5098844],
    1296: ["model.map_head.sparse_head.decoder.gen_sineembed_for_position0.dim_t_quant", "torch.ao.quantization.stubs.QuantStub", "horizon_plugin_pytorch.nn.qat.stubs.QuantStub", Size([128]), "qint16", 0.2642754, 0.9999999, 0.0058058, 0.0670551, 0.0000000, 89.0683746, 0.1328125, 0.0845878, 1.0000000, 1.0571015, 8659.6435547, 8659.5107422, 1009.3834229, 1009.3997803, 3694867.5000000, 3694819.5000000, 0.1328125, 0.5025535],
    1520: ["model.map_head.sparse_head.decoder.gen_sineembed_for_position.div", "horizon_plugin_pytorch.nn.div.Div", "horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional.mul", Size([1, 1600, 128]), "qint8", 0.0446799, 0.9961840, 0.0052613, 0.0304578, 0.0000031, 21.9842133, 0.5640953, 1.0000000, 0.0000000, 0.0000000, 6.2831225, 5.7190272, 0.5193374, 0.5124407, 1.3152611, 1.2770032, 0.5640953, 12.6252573],
}


class Rng:
    """Small deterministic LCG (the fixture must not depend on Python's random implementation)."""

    def __init__(self, seed):
        self.x = seed

    def u(self, a=0.0, b=1.0):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return a + (b - a) * ((self.x >> 11) / float(1 << 53))


def not_round(v):
    """Nudge a value away from round numbers so synthetic stubs do not look physically bounded."""
    a = abs(v)
    for n in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if n * 0.97 <= a <= n * 1.001:
            return v * 0.93
    return v


def synth_row(rng, name, bt, at, shape, dtype="qint16", amp=None, mqd=None, cos=None):
    amp = amp if amp is not None else rng.u(0.7, 28.0)
    bmin = not_round(-amp * rng.u(0.55, 1.0))
    bmax = not_round(amp * rng.u(0.55, 1.0))
    qmax = 32767 if dtype == "qint16" else 127
    qs = max(abs(bmin), abs(bmax)) * rng.u(1.0, 1.04) / qmax
    mqd = mqd if mqd is not None else rng.u(0.46, 1.35)
    atol = mqd * qs
    mean = amp * rng.u(-0.08, 0.08)
    var = (amp / 2.6) ** 2
    mse = (qs ** 2) / 12.0 * (mqd / 0.5) ** 2 * rng.u(0.7, 1.0)
    if cos is None:
        cos = 1.0 - mse / (2.0 * (var + mean * mean))
    else:
        mse = 2.0 * (1.0 - cos) * (var + mean * mean)
    sqnr = 10.0 * math.log10((var + mean * mean) / mse)
    return dict(zip(QA_HEADERS_24, [name, bt, at, Size(shape), dtype, qs, cos, mse, math.sqrt(mse) * 0.8,
                                    rng.u(1e-8, 1e-6), sqnr, atol, rng.u(0.02, 4.0), bmin,
                                    max(bmin + rng.u(-0.4, 0.4) * qs, -qmax * qs), bmax,
                                    min(bmax + rng.u(-0.4, 0.4) * qs, qmax * qs), mean, mean + rng.u(-1, 1) * qs * 0.05,
                                    var, var * (1 + rng.u(-1e-4, 1e-4)), atol, mqd]))


def qa_example_rows():
    """~1,540 rows in call order with the seed's rows at their real indices."""
    rng = Rng(20261125)
    P = "horizon_plugin_pytorch.nn.qat."
    ops = [("Conv2d", "torch.nn.modules.conv.Conv2d", P + "conv2d.Conv2d", [1, 256, 64, 176]),
           ("Linear", "torch.nn.modules.linear.Linear", P + "linear.Linear", [1, 7500, 256]),
           ("add", "horizon_plugin_pytorch.nn.quantized.functional_modules.FloatFunctional.add", P + "functional_modules.FloatFunctional.add", [1, 7500, 256]),
           ("mul", "horizon_plugin_pytorch.nn.quantized.functional_modules.FloatFunctional.mul", P + "functional_modules.FloatFunctional.mul", [1, 7500, 8, 32]),
           ("GELU", "torch.nn.modules.activation.GELU", P + "gelu.GELU", [1, 7500, 1024]),
           ("softmax", "torch.nn.modules.activation.Softmax", P + "segment_lut.SegmentLUT", [1, 7500, 8, 16]),
           ("LayerNorm", "torch.nn.modules.normalization.LayerNorm", "horizon_plugin_pytorch.nn.layer_norm.LayerNorm", [1, 7500, 256])]
    parts = ["model.backbone.stage%d.%d", "model.view_transformation.transformer.layers.%d.%d",
             "model.map_head.sparse_head.decoder.layers.%d.%d", "model.obstacle_head.decoder.layers.%d.%d"]
    rows = []
    for i in range(1541):
        if i in SEED_ROWS:
            rows.append(dict(zip(QA_HEADERS_24, SEED_ROWS[i])))
            continue
        part = parts[min(3, i * 4 // 1541)] % (i % 6, i // 6 % 7)
        kind, bt, at, shape = ops[(i * 7 + i // 5) % len(ops)]
        name = "%s.%s_%d" % (part, kind.lower(), i % 11)
        cos = None
        mqd = None
        if 884 <= i <= 897:
            # Downstream of the clipped quant_normalizer: error inherited, slowly diluted.
            cos = 0.36 + (i - 884) * 0.045
            mqd = 180.0 - (i - 884) * 11.0
            name = "model.obstacle_head.decoder.layers.0.cross_attn.%s" % ["sampling_offsets", "attention_weights", "softmax", "value_proj", "mul_0", "sum_0", "output_proj", "add_0", "dropout", "norm", "ffn.linear1", "ffn.act", "ffn.linear2", "ffn.add"][i - 884]
        elif 1521 <= i <= 1524:
            cos = 0.9962 + (i - 1521) * 0.0008
            mqd = 9.0 - (i - 1521) * 1.5
            name = "model.map_head.sparse_head.decoder.gen_sineembed_for_position.%s" % ["sin_model.sin", "cos_model.cos", "stack", "cat"][i - 1521]
        if i > 5 and i % 97 == 0:
            # A fused conv: blank shape and metrics, min/max/mean kept.
            r = synth_row(rng, name.replace(kind.lower(), "conv"), ops[0][1], ops[0][2], ops[0][3])
            for k in ("shape", "Cosine", "MSE", "L1", "KL", "SQNR", "Atol", "Rtol", "max_atol_diff", "max_qscale_diff"):
                r[k] = None
            rows.append(r)
            continue
        if i % 89 == 0:
            r = synth_row(rng, "", "torch.Tensor.topk", "torch.Tensor.topk", [1, 900], cos=cos, mqd=mqd)
            rows.append(r)
            continue
        r = synth_row(rng, name, bt, at, shape, cos=cos, mqd=mqd)
        if i == 412:
            r["Rtol"] = F32MAX  # a zero in the baseline: nan_to_num(inf) = float32 max, as real files show
        rows.append(r)
    # Outputs: dequant rows, float32, no scale.
    for k in range(3):
        rows.append(dict(zip(QA_HEADERS_24, ["model.map_head.sparse_head.pts_out_dequant%d" % k, "torch.ao.quantization.stubs.DeQuantStub",
                                             P + "stubs.DeQuantStub", Size([1, 100, 20, 2]), "torch.float32", None, 0.9999132, 0.0000412,
                                             0.0051, 0.0000001, 40.61, 0.0212, 0.41, -0.9987, -0.9991, 0.9996, 0.9993, 0.012, 0.012,
                                             0.34, 0.3399, 0.0212, None])))
    return rows


def advisor_rows(rows):
    """The advisor's rules (§3.5) applied to compare rows, messages verbatim."""
    out = []
    for r in rows:
        at = r.get("analy_op_type") or ""
        if at.endswith("QuantStub") and r.get("base_model_min") is not None:
            msg, adv = "", ""
            if r["base_model_min"] >= 0 or r["base_model_max"] <= 0:
                msg, adv = "Asymmetric about 0. ", "Do symmetric normalization about 0. "
            if r["base_model_max"] - r["base_model_min"] >= 128 and r["quant_dtype"] == "qint8":
                msg, adv = msg + "Large input range.", adv + "Maybe use int16 quantization."
            if msg:
                out.append([r["mod_name"], at, msg, adv])
    for r in rows:
        if r.get("Cosine") is None or r.get("base_model_min") is None:
            continue
        stats = [r["base_model_min"], r["base_model_max"], r["analy_model_min"], r["analy_model_max"]]
        dmax = max(abs(v) for v in stats)
        at = r["analy_op_type"]
        if dmax > 128 and r["quant_dtype"] == "qint8":
            out.append([r["mod_name"], at, "Data range %s maybe too large for int8 quantization." % (2 * dmax), "Please try qint16 quantization."])
        if dmax > 32768:
            out.append([r["mod_name"], at, "Total data range %s maybe too large for quantization." % (2 * dmax), "Please change model structure or limit this output range"])
        qs = r.get("qscale")
        if qs and r["quant_dtype"] not in ("qint32", "torch.float32"):
            qmin, qmax = (-128, 127) if r["quant_dtype"] == "qint8" else (-32768, 32767)
            if qmin * qs - r["analy_model_min"] > qs or r["analy_model_max"] - qmax * qs > qs:
                out.append([r["mod_name"], at, "Current scale does not cover the data range", "Please check whether fake quant enabled."])
    return out


def sensitivity_rows(rows, top, rng, tail_zero=True):
    """Every quantized op as an activation row, plus weight rows for conv/linear; sorted by L1."""
    seen, out = set(), []
    for r in rows:
        n = r["mod_name"]
        if not n or n in seen or r["quant_dtype"] not in ("qint8", "qint16"):
            continue
        seen.add(n)
        op_type = "<class '%s'>" % r["analy_op_type"].replace(".add", "").replace(".mul", "")
        flops = 0
        if "Conv2d" in op_type or "Linear" in op_type:
            flops = int(rng.u(1e6, 3e8))
        out.append([n, "activation", op_type, None, r["quant_dtype"], flops])
        if flops:
            out.append([n, "weight", op_type, None, "qint8", flops])
    total = sum(x[5] for x in out if x[1] == "activation") or 1
    named = dict(top)
    k = 0
    for x in out:
        if (x[0], x[1]) in named:
            x[3] = named[(x[0], x[1])]
        else:
            k += 1
            x[3] = 0.04 * math.exp(-k / 55.0) * rng.u(0.5, 1.0) if tail_zero else 0.02 + 0.01 * rng.u()
    out.sort(key=lambda x: -x[3])
    return [[a, b, c, float("%.6g" % d), e, "%d(%.2f%%)" % (f, 100.0 * f / total) if f else "0(0%)"] for a, b, c, d, e, f in out]


def sens_txt(rows, metric="L1", cols=6):
    headers = ["op_name", "sensitive_type", "op_type", metric, "quant_dtype", "flops"][:cols]
    return tabulate([r[:cols] for r in rows], headers=headers) + "\n"


def relu_cut_rows():
    """Clipped conv rows read by a ReLU (the Conv → ReLU of any backbone): one cut on both sides
    (the cut below the ReLU zeroes anyway, the cut above is real), one cut below only (harmless),
    and the same both-sided cut read by an add (all of it real). Scale 0.01: int8 represents
    [-1.28, 1.27]."""
    P = "horizon_plugin_pytorch."
    conv = ("torch.nn.modules.conv.Conv2d", P + "nn.qat.conv2d.Conv2d")
    relu = ("torch.nn.modules.activation.ReLU", P + "nn.qat.relu.ReLU")
    add = (P + "nn.quantized.functional_modules.FloatFunctional.add", P + "nn.qat.functional_modules.FloatFunctional.add")
    def row(name, ops, bmin, amin, bmax, amax, cos, mqd):
        return dict(zip(QA_HEADERS_17, [name, ops[0], ops[1], Size([1, 16, 20, 20]), "qint8", 0.01, cos, 0.02, 0.05, mqd,
                                        bmin, amin, bmax, amax, 0.1, 0.09]))
    return [
        row("quant", (P + "quantization.stubs.QuantStub", P + "nn.qat.stubs.QuantStub"), -0.9998, -0.99, 0.9991, 0.99, 0.9999925, 0.4999948),
        row("conv_both", conv, -3.0, -1.28, 1.5, 1.27, 0.995, 172.0),
        row("relu_both", relu, 0.0, 0.0, 1.5, 1.27, 0.998, 23.0),
        row("conv_low", conv, -2.0, -1.28, 1.0, 1.0, 0.996, 72.0),
        row("relu_low", relu, 0.0, 0.0, 1.0, 1.0, 0.9999, 0.5),
        row("conv_plain", conv, -3.0, -1.28, 1.5, 1.27, 0.995, 172.0),
        row("add_plain", add, -1.2, -1.2, 1.2, 1.2, 0.995, 100.0),
    ]


def qa_outputs():
    outs = []
    ex = os.path.join(ROOT, "www", "examples", "horizon_quant_analysis")
    rows = qa_example_rows()
    outs.append((os.path.join(ex, "compare_per_layer_out.txt"), compare_txt(rows, QA_HEADERS_24, True) + "\n"))
    outs.append((os.path.join(ex, "abnormal_layer_advisor.txt"),
                 tabulate(advisor_rows(rows), headers=["mod_name", "op_type", "abnormal_info", "advice"], tablefmt="psql") + "\n"))
    top = [(("model.view_transformation.transformer.layers.0.quant", "activation"), 0.580483),
           (("model.obstacle_head.decoder.layers.0.cross_attn.quant_normalizer", "activation"), 0.130977),
           (("model.map_head.sparse_head.decoder.gen_sineembed_for_position0.dim_t_quant", "activation"), 0.0822130),
           (("model.map_head.sparse_head.decoder.gen_sineembed_for_position.div", "activation"), 0.0451126)]
    outs.append((os.path.join(ex, "output_0_L1_sensitive_ops.txt"), sens_txt(sensitivity_rows(rows, top, Rng(7)))))
    # Small fixtures: the S13 current format (txt + csv twin), sensitivity variants, a bad tail.
    fx = os.path.join(FIX, "qa-small")
    s13, idx = s13_compare_rows()
    outs.append((os.path.join(fx, "compare_per_layer_out.txt"), compare_txt(s13, QA_HEADERS_17, idx) + "\n"))
    outs.append((os.path.join(fx, "compare_per_layer_out.csv"), compare_csv(s13, QA_HEADERS_17)))
    relu_rows = relu_cut_rows()
    outs.append((os.path.join(FIX, "relu-cut", "compare_per_layer_out.txt"), compare_txt(relu_rows, QA_HEADERS_17, True) + "\n"))
    seed_rows = [dict(zip(QA_HEADERS_24, SEED_ROWS[i])) for i in sorted(SEED_ROWS)]
    outs.append((os.path.join(FIX, "qa-seed", "compare_per_layer_out.txt"), compare_txt(seed_rows, QA_HEADERS_24, sorted(SEED_ROWS)) + "\n"))
    outs.append((os.path.join(FIX, "qa-seed", "compare_per_layer_out.csv"), compare_csv(seed_rows, QA_HEADERS_24)))
    s13_sens = [["add2", "activation", "<class 'horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional'>", 0.00364654, "qint8", "0(0%)"],
                ["conv", "activation", "<class 'horizon_plugin_pytorch.nn.qat.conv2d.Conv2d'>", 0.00266579, "qint8", "36720(100.00%)"],
                ["bn", "activation", "<class 'horizon_plugin_pytorch.nn.qat.batchnorm.BatchNorm2d'>", 0.00253051, "qint8", "0(0%)"],
                ["conv", "weight", "<class 'horizon_plugin_pytorch.nn.qat.conv2d.Conv2d'>", 0.00116543, "qint8", "36720(100.00%)"],
                ["quant", "activation", "<class 'horizon_plugin_pytorch.nn.qat.stubs.QuantStub'>", 0.00103114, "qint8", "0(0%)"],
                ["quant_grid", "activation", "<class 'horizon_plugin_pytorch.nn.qat.stubs.QuantStub'>", 3.56923e-05, "qint16", "0(0%)"],
                ["add1", "activation", "<class 'horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional'>", 0, "qint8", "0(0%)"]]
    outs.append((os.path.join(fx, "output_0_L1_sensitive_ops.txt"), sens_txt(s13_sens)))
    outs.append((os.path.join(fx, "output_0_Cosine_sensitive_ops.txt"),
                 sens_txt([[a, b, c, 1 - d, e, f] for a, b, c, d, e, f in reversed(s13_sens)][::-1], "Cosine", 5)))
    outs.append((os.path.join(fx, "output_boxes_MSE_sensitive_ops.txt"), sens_txt([r[:4] for r in s13_sens], "MSE", 4)))
    bad = sensitivity_rows(rows[:400], [], Rng(3), tail_zero=False)
    outs.append((os.path.join(fx, "output_bad_tail_L1_sensitive_ops.txt"), sens_txt(bad)))
    stat_rows = [[0, "horizon_plugin_pytorch.nn.qat.stubs.QuantStub", "quantx", "input", "torch.float32", None, -0.9993581, 0.9997096, 0.0119124, 0.3349643, Size([6, 3, 8, 15])],
                 [0, "horizon_plugin_pytorch.nn.qat.stubs.QuantStub", "quantx", "output", "qint8", 0.0078409, -0.9957892, 0.9957892, 0.0118629, 0.3349107, Size([6, 3, 8, 15])],
                 [2, "horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional.add", "add", "input_0", "qint8", 0.0078409, -0.9957892, 0.9957892, 0.0118629, 0.3349107, Size([6, 3, 8, 15])],
                 [3, "horizon_plugin_pytorch.nn.qat.conv2d.Conv2d", "conv", "weight", "torch.float32", None, -0.4921377, 0.5123628, 0.1102852, 0.1120881, Size([3, 3, 1, 1])],
                 [3, "horizon_plugin_pytorch.nn.qat.conv2d.Conv2d", "conv", "bias", "torch.float32", None, -0.5682725, 0.4857830, -0.0925686, 0.2856607, Size([3])],
                 [5, "torch.Tensor.detach", "", "input", "torch.float32", None, -1.6893446, 1.6761466, 0.0963149, 0.5368329, Size([6, 3, 8, 15])]]
    outs.append((os.path.join(fx, "analysis_model", "statistic.txt"),
                 tabulate(stat_rows, headers=["Index", "Op Name", "Mod Name", "Attr", "Dtype", "Scale", "Min", "Max", "Mean", "Var", "Shape"],
                          tablefmt="psql", floatfmt=".7f", numalign="left") + "\n"))
    outs.append((os.path.join(fx, "abnormal_layer_advisor.txt"),
                 tabulate([["quant_in", "horizon_plugin_pytorch.nn.qat.stubs.QuantStub", "Asymmetric about 0. Large input range.", "Do symmetric normalization about 0. Maybe use int16 quantization."],
                           ["head.out", "horizon_plugin_pytorch.nn.qat.stubs.DeQuantStub", "Model outputs are not in high precision. ", "If they come from conv/linear, it is recommended to config `activation=None` to allow high precision out."],
                           ["head.reg", "horizon_plugin_pytorch.nn.qat.linear.Linear", "Total data range 130925.09375 maybe too large for quantization.", "Please change model structure or limit this output range"],
                           ["head.cls", "horizon_plugin_pytorch.nn.qat.linear.Linear", "inf/nan output, check if expected."]],
                          headers=["mod_name", "op_type", "abnormal_info", "advice"], tablefmt="psql") + "\n"))
    bc = ("The bad case input index of each output:\n"
          + tabulate([["0", 12, 3, 3, 12, 12], ["1", 7, 7, 7, 7, 7]], headers=["Name/Index", "Cosine", "MSE", "L1", "KL", "SQNR"], numalign="left")
          + "\n\nThe metric results of each badcase:\n"
          + tabulate([["0", 0.9812, 0.0031, 0.0412, 0.00021, 17.3], ["1", 0.9977, 0.0004, 0.0101, 0.00002, 26.4]], headers=["Name/Index", "Cosine", "MSE", "L1", "KL", "SQNR"], numalign="left")
          + "\n\nThe bad case input index of the worst output:\n"
          + tabulate([["Cosine", 12], ["MSE", 3], ["L1", 3], ["KL", 12], ["SQNR", 12]], headers=["metric", "dataloader index"], numalign="left") + "\n")
    outs.append((os.path.join(fx, "badcase.txt"), bc))
    sim = ("-" * 63 + "\nNote:\n* Suffix '(I)' means this layer is Identity in one model\n* Suffix '(I vs I)' means this layer is Identity in both models\n"
           "* Suffix '(i)'(i >= 1) means this op is shared i times\n" + "-" * 63 + "\n"
           + tabulate([[0, "quant_stubx", "<class 'horizon_plugin_pytorch.nn.qat.stubs.QuantStub'>", 1.0, 0.0115294, 0.0, 0, 0],
                       [4, "cat_op(1)", "<class 'horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional'>", 0.999998, 0.016749, 0.0334979, 2, 0],
                       [18, "dequant_stub", "<class 'horizon_plugin_pytorch.nn.qat.stubs.DeQuantStub'>", 1.0, None, 0.0, 0, 0]],
                      headers=["Index", "Module Name", "Module Type", "Similarity", "qscale", "Acc Error\n(float atol)", "Acc Error\n(N out_qscale)", "Op Error with Same\nInput (N out_qscale)"],
                      tablefmt="psql", floatfmt=("g", "g", "g", ".7f", ".7f", ".7f", "g", "g"), numalign="left") + "\n")
    outs.append((os.path.join(fx, "similarity.txt"), sim))
    return outs


def main():
    check = "--check" in sys.argv
    outputs = [s11_full(), j6_s13(False), j6_s13(True), oe3_variant(), x3_qconfig_info(), seed_example()] + qa_outputs()
    bad = []
    for path, text in outputs:
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    bad.append(path)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print("wrote", os.path.relpath(path, ROOT), "(%d bytes)" % len(text.encode()))
    if bad:
        sys.exit("fixtures differ from the generator: " + ", ".join(bad))


if __name__ == "__main__":
    main()
