"""The partitioner's hand-off to ``preprocess``, through the partition's own nodes.

The partitioner puts a ``PartitionHandoff`` in the ``node.meta`` of every node it tags
(ExecuTorch copies node meta into the program it cuts out for preprocess, and the
hand-off survives deep copies as itself). It carries the blob the partitioner built
ahead, or the ONNX program it exported of the whole program, and what both were made
for (the CompileSpecs and the partition's nodes); preprocess uses it only for exactly
that partition, once, and otherwise lowers the partition itself (a program lowered
through ``to_backend`` without our partitioner).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, List, Optional

from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind

if TYPE_CHECKING:
    from executorch.exir.backend.backend_details import PreprocessResult
    from executorch.exir.backend.compile_spec_schema import CompileSpec

# node.meta key of a partition's PartitionHandoff.
HANDOFF_META_KEY = "tensorrt_handoff"


def _specs_key(compile_specs: List["CompileSpec"]) -> tuple:
    return tuple((s.key, bytes(s.value)) for s in compile_specs)


def _node_names(ep: ExportedProgram) -> frozenset:
    return frozenset(n.name for n in ep.graph.nodes if n.op == "call_function")


def io_names(ep: ExportedProgram) -> tuple[list[str], list[str]]:
    """The names of a program's user inputs and outputs, in order."""
    sig = ep.graph_signature
    ins = [str(getattr(s.arg, "name", s.arg)) for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
    outs = [str(getattr(s.arg, "name", s.arg)) for s in sig.output_specs if s.kind == OutputKind.USER_OUTPUT]
    return ins, outs


class PartitionHandoff:
    """What the partitioner made for one partition, for ``preprocess`` to take once:
    the blob it built (``result``), or the ONNX program it exported of the whole program
    (``onnx_program``, weights still fake). Lives in the partition's nodes' meta; deep
    copies share it (it is taken, not copied), and neither the .pte nor an ETRecord
    carries its payload."""

    def __init__(
        self,
        compile_specs: List["CompileSpec"],
        nodes: frozenset,
        result: "Optional[PreprocessResult]" = None,
        onnx_program: Any = None,
        onnx_io: Optional[tuple[list[str], list[str]]] = None,
        keep_onnx: bool = False,
    ) -> None:
        self.specs = _specs_key(compile_specs)
        self.nodes = nodes
        self.keep_onnx = keep_onnx
        self._result = result
        self._onnx_program = onnx_program
        self._onnx_io = onnx_io
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> "PartitionHandoff":
        return self

    def __reduce__(self):
        # Pickled (an ETRecord, a saved program): an empty hand-off, never its payload.
        return (_empty_handoff, ())

    def made_for(self, ep: ExportedProgram, compile_specs: List["CompileSpec"]) -> bool:
        return self.specs == _specs_key(compile_specs) and self.nodes == _node_names(ep)

    def take_result(self) -> "Optional[PreprocessResult]":
        with self._lock:
            result, self._result = self._result, None
            return result

    def take_onnx(self, ep: ExportedProgram) -> Any:
        """The handed-off ONNX program if it was made of a program with ``ep``'s nodes,
        user inputs and outputs (in order); else None."""
        with self._lock:
            program, self._onnx_program = self._onnx_program, None
        if program is None or self._onnx_io != io_names(ep) or self.nodes != _node_names(ep):
            return None
        return program


def _empty_handoff() -> PartitionHandoff:
    return PartitionHandoff([], frozenset())


def find_handoff(ep: ExportedProgram) -> Optional[PartitionHandoff]:
    """The one PartitionHandoff the partition's own nodes carry, if any. (A placeholder
    gets the meta of the node outside that feeds it, another partition's hand-off.)"""
    found = {}
    for n in ep.graph.nodes:
        h = n.meta.get(HANDOFF_META_KEY)
        if n.op == "call_function" and isinstance(h, PartitionHandoff) and n.name in h.nodes:
            found[id(h)] = h
    return next(iter(found.values())) if len(found) == 1 else None
