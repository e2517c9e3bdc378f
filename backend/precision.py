"""The reduced-precision rewrite of an ATen program (fp16/bf16), before ONNX export."""

from __future__ import annotations

from typing import Any

import torch
from torch._guards import detect_fake_mode
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind

from . import quantization
from .aten import fake_prop

PRECISION_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def apply_precision(ep: ExportedProgram, precision: str) -> ExportedProgram:
    """Rewrite an ATen program (in place) so it computes in fp16/bf16 while its inputs
    and outputs keep their dtypes: floating weights are converted, floating inputs are
    cast on entry, outputs cast back on exit, and explicit float32 dtype arguments are
    retargeted. The ONNX model is then strongly typed in the reduced precision, which is
    how TensorRT is asked for it (no builder precision flags)."""
    if precision == "fp32":
        return ep
    dtype = PRECISION_DTYPES[precision]
    gm = ep.graph_module
    graph = gm.graph
    sig = ep.graph_signature
    kinds = {s.arg.name: s for s in sig.input_specs if hasattr(s.arg, "name")}
    fake_mode = detect_fake_mode(
        [n.meta.get("val") for n in graph.nodes if n.op == "placeholder"]
    )

    def is_f32(v: Any) -> bool:
        return isinstance(v, torch.Tensor) and v.dtype == torch.float32

    for node in list(graph.nodes):
        if node.op != "placeholder" or not is_f32(node.meta.get("val")):
            continue
        spec = kinds[node.name]
        if spec.kind == InputKind.USER_INPUT:
            with graph.inserting_after(node):
                cast = graph.call_function(
                    torch.ops.aten._to_copy.default, (node,), {"dtype": dtype}
                )
            node.replace_all_uses_with(cast, delete_user_cb=lambda u: u is not cast)
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            store = ep.constants if spec.kind == InputKind.CONSTANT_TENSOR else ep.state_dict
            if spec.kind == InputKind.BUFFER and not spec.persistent:
                store = ep.constants
            t = store[spec.target]
            store[spec.target] = (
                torch.nn.Parameter(t.detach().to(dtype), requires_grad=False)
                if isinstance(t, torch.nn.Parameter)
                else t.to(dtype)
            )
            with fake_mode:
                node.meta["val"] = node.meta["val"].to(dtype)
    for node in graph.nodes:
        if node.op == "call_function" and node.kwargs.get("dtype") == torch.float32:
            node.kwargs = {**node.kwargs, "dtype": dtype}
    quantization.dequantize_to(graph, dtype)  # a dequantize makes float32 unless told
    output = graph.output_node()
    user_out = {
        i for i, s in enumerate(sig.output_specs) if s.kind == OutputKind.USER_OUTPUT
    }
    new_outs = list(output.args[0])
    for i, out in enumerate(new_outs):
        if i in user_out and isinstance(out, torch.fx.Node) and is_f32(out.meta.get("val")):
            with graph.inserting_before(output):
                new_outs[i] = graph.call_function(
                    torch.ops.aten._to_copy.default, (out,), {"dtype": torch.float32}
                )
            sig.output_specs[i].arg.name = new_outs[i].name
    output.args = (tuple(new_outs),)
    graph.lint()
    gm.recompile()
    fake_prop(gm)
    return ep
