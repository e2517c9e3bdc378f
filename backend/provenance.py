"""Which edge-program node each ONNX node comes from.

torch.onnx re-decomposes (and so renames) the program it exports, but every node it
creates inherits its source node's nn_module_stack, which the exporter writes into each
ONNX node's name-scope metadata. A marker entry carrying our node name therefore maps
every ONNX node back to the edge node it came from.
"""

from __future__ import annotations

import re
from typing import Optional

import onnx
from torch.export import ExportedProgram

_ORIGIN_PREFIX = "__etrt_origin__"
# node.meta key: the edge node a node made by an ATen rewrite stands for.
ORIGIN_META_KEY = "etrt_origin"
_NAME_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_ORIGIN_RE = re.compile(re.escape(_ORIGIN_PREFIX) + r"(\w+)")


def mark_origins(ep: ExportedProgram) -> None:
    for node in ep.graph.nodes:
        if node.op == "call_function":
            stack = dict(node.meta.get("nn_module_stack") or {})
            origin = node.meta.get(ORIGIN_META_KEY, node.name)
            stack[_ORIGIN_PREFIX + origin] = (_ORIGIN_PREFIX + origin, "origin")
            node.meta["nn_module_stack"] = stack


def onnx_node_fx_name(node: onnx.NodeProto) -> Optional[str]:
    """The (edge program) FX node an ONNX node was translated from, if it was marked."""
    for prop in node.metadata_props:
        if prop.key == _NAME_SCOPES_KEY:
            found = _ORIGIN_RE.findall(prop.value)
            if found:
                return found[-1]
    return None
