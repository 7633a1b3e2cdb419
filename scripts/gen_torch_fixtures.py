#!/usr/bin/env python3
"""Files written by real `torch.save` (torch 2.x, CPU), and metrics computed by torch itself with
Horizon's `_func_map` definitions (horizon-formats.md §3.4), to check QuantLens's pickle reader and
metrics against the reference implementation.

Writes tests/fixtures/tensors/torch_real/{float.pt, quant.pt, views.pt, expected.json}.
Run from the repository root: python3 scripts/gen_torch_fixtures.py (needs torch).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_check  # noqa: E402  (`--check`: regenerate elsewhere and compare)

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "tensors", "torch_real")
OUT = fixture_check.out_dir(DEFAULT_OUT)
os.makedirs(OUT, exist_ok=True)
g = torch.Generator().manual_seed(20261125)
x = torch.randn(2, 3, 4, 5, generator=g) * 2.0
w = torch.randn(8, 3, 3, 3, generator=g)
s = 0.05

float_obj = {
    "act": x,
    "conv.weight": torch.nn.Parameter(w),
    "half": x.half(),
    "bf16": x.bfloat16(),
    "f64": x.double(),
    "nested": {"list": [x[0].clone(), x[1].clone()], "tuple": (torch.arange(6, dtype=torch.int64).reshape(2, 3),)},
    "mask": x > 0,
    "u8": torch.arange(10, dtype=torch.uint8),
    "i16": torch.arange(-5, 5, dtype=torch.int16),
    "i32": torch.arange(-5, 5, dtype=torch.int32),
}
torch.save(float_obj, os.path.join(OUT, "float.pt"))

q_act = torch.quantize_per_tensor(x, s, 0, torch.qint8)
scales = torch.tensor([0.02, 0.03, 0.05, 0.01, 0.04, 0.02, 0.06, 0.05], dtype=torch.float64)
q_w = torch.quantize_per_channel(w, scales, torch.zeros(8, dtype=torch.int64), 0, torch.qint8)
q_u8 = torch.quantize_per_tensor(x, 0.04, 128, torch.quint8)
torch.save({"act": q_act, "conv.weight": q_w, "u8act": q_u8}, os.path.join(OUT, "quant.pt"))
# Views: a transposed tensor (Fortran-contiguous storage) and a sliced, non-contiguous one.
m = torch.randn(6, 4, generator=g)
torch.save({"transposed": m.t(), "sliced": m[:, ::2]}, os.path.join(OUT, "views.pt"))


def horizon_metrics(b, a):
    b, a = b.float(), a.float()
    dim = 1 if b.dim() > 2 else -1
    out = {
        "cosine": torch.nn.CosineSimilarity(dim=0)(b.flatten(), a.flatten()).item(),
        "mse": torch.nn.MSELoss()(b, a).item(),
        "l1": torch.nn.L1Loss()(b, a).item(),
        "kl": torch.nn.KLDivLoss()(torch.log_softmax(a.double(), dim), torch.softmax(b.double(), dim)).item(),
        "sqnr_db": (20 * torch.log10(torch.norm(b) / torch.norm(b - a))).item(),
        "atol": torch.abs(b - a).max().item(),
        "rtol": torch.abs(torch.nan_to_num((b - a) / b, 0)).max().item(),
        "base_min": b.min().item(), "base_max": b.max().item(), "base_mean": b.mean().item(), "base_var": b.var().item(),
        "analy_min": a.min().item(), "analy_max": a.max().item(), "analy_mean": a.mean().item(), "analy_var": a.var().item(),
    }
    return out


fq = torch.fake_quantize_per_tensor_affine(x, s, 0, -128, 127)
expected = {
    "act": {"scale": s, **horizon_metrics(x, q_act.dequantize()),
            # torch's own fake quantization of the float tensor: the "own rounding" of the error split.
            "fake_quant_energy": float(((fq - x) ** 2).sum().item()),
            "dequant_sum": float(q_act.dequantize().double().sum().item())},
    "conv.weight": {"dequant_sum": float(q_w.dequantize().double().sum().item()), **horizon_metrics(w, q_w.dequantize())},
    "u8act": {"dequant_sum": float(q_u8.dequantize().double().sum().item())},
    "sums": {k: float(v.double().sum().item()) for k, v in
             [("half", float_obj["half"]), ("bf16", float_obj["bf16"]), ("f64", float_obj["f64"]), ("mask", float_obj["mask"]),
              ("u8", float_obj["u8"]), ("i16", float_obj["i16"]), ("i32", float_obj["i32"]), ("nested.list.1", float_obj["nested"]["list"][1]),
              ("nested.tuple.0", float_obj["nested"]["tuple"][0]), ("transposed", m.t()), ("act", x)]},
    "transposed_first_row": m.t()[0].tolist(),
    "_provenance": {"torch": torch.__version__, "script": "scripts/gen_torch_fixtures.py"},
}
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print(sorted(os.listdir(OUT)), [os.path.getsize(os.path.join(OUT, n)) for n in sorted(os.listdir(OUT))])
fixture_check.finish(DEFAULT_OUT)
