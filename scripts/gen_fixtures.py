#!/usr/bin/env python3
"""Generate QuantLens's model-check fixtures with the real `tabulate` package, the way
horizon_plugin_pytorch's `check_qat_model` writes them (see ../shared/reference/horizon-formats.md §1).

Every file states its provenance in tests/fixtures/PROVENANCE.md. Run from the repository root:

    python3 scripts/gen_fixtures.py          # rewrite all fixtures
    python3 scripts/gen_fixtures.py --check  # fail if a committed fixture differs from what this writes

Requires `tabulate==0.9.0` (scripts/setup.sh installs it). No torch needed: torch dtypes, fx nodes and
observers are emulated by objects whose repr is exactly what torch prints.
"""
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


def main():
    check = "--check" in sys.argv
    outputs = [s11_full(), j6_s13(False), j6_s13(True), oe3_variant(), x3_qconfig_info(), seed_example()]
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
