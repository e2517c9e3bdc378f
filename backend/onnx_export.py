"""torch.onnx's dynamo exporter and onnxscript's optimizer, as lowering uses them.

The only module that touches torch.onnx's private internals (and onnxscript's): the
exporter core with its operator registry built once, a hook skipping a redundant
re-decomposition, the tensor type of ONNX initializers, onnxscript's default rewrite
rules. Each is listed in ``INTERNALS`` (``missing_internals()`` names those a torch
update moved; a test asserts there are none). Written for the torch versions in
``TESTED_TORCH``: on another one, a warning is logged once and each internal is used
where it still exists; a speed-up whose hook is gone is skipped, while one the export
cannot do without (the initializer tensor type) fails with a LoweringError naming it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import re
import threading
import warnings
from typing import Any, Callable, Optional

import onnx
import torch

from . import quantized_onnx
from .aten import is_fake
from .errors import LoweringError, first_line, root_cause

log = logging.getLogger(__name__)

TESTED_TORCH = ((2, 14),)

# (module, attribute path) of every private name used below.
INTERNALS = (
    ("torch.onnx._constants", "ONNX_DEFAULT_OPSET"),
    ("torch.onnx._internal.exporter._constants", "TORCHLIB_OPSET"),
    ("torch.onnx._internal.exporter._core", "export"),
    ("torch.onnx._internal.exporter._core", "TorchTensor"),
    ("torch.onnx._internal.exporter._registration", "ONNXRegistry.from_torchlib"),
    ("torch.onnx._internal.exporter._decomp", "create_onnx_friendly_decomposition_table"),
    ("torch.onnx._internal.exporter._decomp", "get_onnx_implemented_overloads"),
    ("torch.onnx._internal.exporter._fx_passes", "decompose_with_registry"),
    ("onnxscript.rewriter", "_DEFAULT_REWRITE_RULES"),
    ("onnxscript.rewriter.rules.common._basic_rules", "slice_split_rule"),
)


def _lookup(module: str, path: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def missing_internals() -> list[str]:
    """'module.attribute' for each entry of INTERNALS the installed torch/onnxscript lack."""
    missing = []
    for module, path in INTERNALS:
        try:
            _lookup(module, path)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{path}")
    return missing


def torch_version_tested(version: str = torch.__version__) -> bool:
    try:
        major, minor = (int(p) for p in version.split("+")[0].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) in TESTED_TORCH


@functools.lru_cache(maxsize=1)
def _check_torch_version() -> None:
    if not torch_version_tested():
        tested = ", ".join(f"{a}.{b}" for a, b in TESTED_TORCH)
        missing = missing_internals()
        log.warning(
            "torch %s: the ONNX export uses torch.onnx internals written for torch %s%s",
            torch.__version__, tested,
            f"; missing here: {', '.join(missing)}" if missing else " (all present here)",
        )


def _torch_tensor() -> type:
    """The exporter's initializer tensor type (an onnx_ir tensor over a torch tensor)."""
    try:
        from torch.onnx._internal.exporter._core import TorchTensor

        return TorchTensor
    except ImportError as e:
        raise LoweringError(
            f"torch {torch.__version__} has no torch.onnx._internal.exporter._core.TorchTensor, "
            f"which the ONNX export needs; use torch {TESTED_TORCH[-1][0]}.{TESTED_TORCH[-1][1]}"
        ) from e


# Loggers of the exporter and optimizer we call: they log warnings about graphs they
# handle fine (missing nn_module_stack metadata, constant folding skipped for an op),
# dozens per large model. Raised to ERROR only while we call them.
_QUIET_LOGGERS = ("torch.onnx", "onnxscript")


@contextlib.contextmanager
def quiet():
    """torch.onnx prints progress to stdout and warns a lot; keep our CLI's output ours."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.ERROR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export(aten_ep: torch.export.ExportedProgram):
    """The exporter's ONNXProgram of an ATen program, not yet optimized; its initializers
    may still be the program's FakeTensors (the partitioner sees a program with fake
    weights)."""
    _check_torch_version()
    try:
        with quiet(), _skip_redundant_decomposition():
            core = _exporter_core()
            if core is None:
                return torch.onnx.export(aten_ep, dynamo=True, optimize=False, verbose=False)
            export_fn, registry, opset = core
            _register_quantized(registry)
            # Blocked and INT4 dequantization need a newer opset than the default.
            opset = max(opset, quantized_onnx.required_opset(aten_ep.graph_module))
            return export_fn(aten_ep, registry=registry, optimize=False, verbose=False, opset_version=opset)
    except Exception as e:
        raise LoweringError(f"torch.onnx.export failed: {root_cause(e)}") from e


@functools.lru_cache(maxsize=1)
def _exporter_core():
    """(export, registry, opset) for torch.onnx's dynamo exporter, with its operator
    registry built once per process. torch.onnx.export rebuilds that registry on every call
    (about 1.5 s: it compiles every torchlib function's source); the partitioner and the
    backend export once per program and partition, so it would dominate lowering small
    programs. Same exporter, same defaults as torch.onnx.export(dynamo=True). None where
    the exporter's internals are not as expected (then torch.onnx.export is used)."""
    try:
        from torch.onnx import _constants as onnx_constants
        from torch.onnx._internal.exporter import _constants, _core, _registration

        opset = onnx_constants.ONNX_DEFAULT_OPSET
        registry = _registration.ONNXRegistry.from_torchlib(opset_version=max(opset, _constants.TORCHLIB_OPSET))
        return _core.export, registry, opset
    except Exception as e:  # noqa: BLE001 - fall back to the public API
        log.info("torch.onnx exporter internals unavailable (%s); using torch.onnx.export", e)
        return None


_REGISTERED: set = set()


def _register_quantized(registry) -> None:
    """The translations of quantization ops (backend/quantized_onnx.py) ahead of
    torchlib's, for each op loaded by now (torchao registers its ops when imported, maybe
    after the registry was built)."""
    for target, fn in quantized_onnx.translations().items():
        if target not in _REGISTERED:
            registry.register_op(target, fn)
            _REGISTERED.add(target)


_DECOMP_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _onnx_decomposition_table() -> dict:
    core = _exporter_core()
    if core is None:
        return {}
    from torch.onnx._internal.exporter import _decomp

    return _decomp.create_onnx_friendly_decomposition_table(set(_decomp.get_onnx_implemented_overloads(core[1])))


@contextlib.contextmanager
def _skip_redundant_decomposition():
    """torch.onnx.export re-traces the whole program through run_decompositions even when
    no op in it needs decomposing (about 2 s of a ResNet-50's 4.5 s export on a 2-core
    machine). Our programs come from ExecuTorch's edge dialect, already decomposed to core
    ATen, so the re-trace is skipped when no node has an entry in the exporter's own
    decomposition table; otherwise the exporter decomposes as usual. Where the hook is
    gone, the export runs unchanged."""
    try:
        from torch.onnx._internal.exporter import _fx_passes as fx_passes
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(fx_passes, "decompose_with_registry", None)
    if original is None:  # pragma: no cover
        yield
        return

    def decompose_if_needed(exported_program, registry):
        table = _onnx_decomposition_table()
        needs = not table or any(
            n.op == "call_function" and n.target in table for n in exported_program.graph.nodes
        )
        return original(exported_program, registry) if needs else exported_program

    with _DECOMP_LOCK:
        fx_passes.decompose_with_registry = decompose_if_needed
        try:
            yield
        finally:
            fx_passes.decompose_with_registry = original


def finish(program, weights: Optional[dict] = None) -> onnx.ModelProto:
    """Put real weights into ``program``'s initializers (converted to the dtype the
    initializer has, e.g. after apply_precision), optimize (unless ``optimize`` already
    did), serialize, settle its quantized weights (quantized_onnx.settle), and drop source
    locations (``strip_source_locations``). The program is modified in place."""
    torch_tensor = _torch_tensor()
    weights = weights or {}
    for name, value in program.model.graph.initializers.items():
        current = getattr(value.const_value, "raw", None)
        if not isinstance(current, torch.Tensor):
            continue
        real = weights.get(name)
        if isinstance(real, torch.Tensor) and not is_fake(real):
            value.const_value = torch_tensor(real.detach().to(current.dtype), name)
        elif is_fake(current):
            raise LoweringError(f"no real value for ONNX initializer {name!r}")
    optimize(program)
    return strip_source_locations(quantized_onnx.settle(program.model_proto))


def pin_fixed_dims(program, aten_ep: torch.export.ExportedProgram) -> None:
    """Give the graph's inputs and outputs the numbers the program's ShapeEnv has fixed
    symbolic dims to, in place. A guard can turn a dynamic dim into a constant after the
    program was traced (ExecuTorch's edge verifier does, for a split's outputs: see
    partitioner/reports.py); its tensors keep the symbol, which the exporter writes as a
    dynamic dim, while the partition's signature (and the engine's optimization profile)
    has the constant."""
    vals = {n.name: n.meta.get("val") for n in aten_ep.graph.nodes if n.op == "placeholder"}
    for n in aten_ep.graph.nodes:
        if n.op == "output":
            for arg in torch.utils._pytree.tree_leaves(n.args[0]):
                if isinstance(arg, torch.fx.Node):
                    vals[arg.name] = arg.meta.get("val")
    for value in list(program.model.graph.inputs) + list(program.model.graph.outputs):
        val = vals.get(value.name)
        if not isinstance(val, torch.Tensor) or value.shape is None or len(value.shape) != val.dim():
            continue
        dims = list(value.shape)
        fixed = [d.node.maybe_as_int() if isinstance(d, torch.SymInt) else None for d in val.shape]
        if any(f is not None and not isinstance(dims[i], int) for i, f in enumerate(fixed)):
            value.shape = type(value.shape)([f if f is not None else d for d, f in zip(dims, fixed)])


# Node metadata in which the exporter records where the exporting code lives: each
# node's Python stack ('File "/home/<user>/project/model.py", line 6, in forward').
# Nothing downstream reads it (verification and profiling go by node name and the
# provenance marker in the name scopes), and in a blob it would give the exporting
# machine's folders away and make a .pte depend on where it was exported.
SOURCE_LOCATION_KEYS = frozenset({"pkg.torch.onnx.stack_trace"})
_SOURCE_LOCATION_RE = re.compile(r'File "[^"]*", line \d+')


def strip_source_locations(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` without source locations, in place: the SOURCE_LOCATION_KEYS metadata of
    every node (in the graph, its subgraphs and the model's functions), and node doc
    strings that hold a Python stack. Returns ``model``."""

    def nodes(container):  # a GraphProto or a FunctionProto
        for node in container.node:
            yield node
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    yield from nodes(sub)

    for node in [n for c in (model.graph, *model.functions) for n in nodes(c)]:
        kept = [p for p in node.metadata_props if p.key not in SOURCE_LOCATION_KEYS]
        if len(kept) != len(node.metadata_props):
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
        if _SOURCE_LOCATION_RE.search(node.doc_string):
            node.doc_string = ""
    return model


_OPTIMIZED = "_etrt_optimized"


def optimize(program) -> None:
    """The exporter's ONNX optimizer (constant folding, onnxscript's rewrite rules), run
    with the program's weights hidden: each initializer holding one of the program's
    tensors is a graph input while it runs. So the optimized graph does not depend on
    weight values: the partitioner asks TensorRT about the graph the engine is built
    from (a zero bias is not folded away in one and kept in the other), the partitioner's
    optimized program is handed to the backend as it is, and nothing computes on
    hundreds of MB of weights in numpy. Folding weights (BatchNormalization into Conv,
    Transposes of constants) is left to TensorRT's builder. Idempotent."""
    if getattr(program, _OPTIMIZED, False):
        return
    graph = program.model.graph
    hidden = {
        name: (value, value.const_value)
        for name, value in graph.initializers.items()
        if isinstance(getattr(value.const_value, "raw", None), torch.Tensor)
    }
    for name, (value, _) in hidden.items():
        graph.initializers.pop(name)
        value.const_value = None
        graph.inputs.append(value)
    try:
        with quiet(), _rewrite_rules_for(program):
            program.optimize()
    except Exception as e:
        raise LoweringError(f"ONNX optimization failed: {type(e).__name__}: {first_line(e)}") from e
    finally:
        for name, (value, const) in hidden.items():
            if value in graph.inputs:
                graph.inputs.remove(value)
            value.const_value = const
            if value.uses() or value.is_graph_output():
                graph.register_initializer(value)
    setattr(program, _OPTIMIZED, True)


_REWRITE_LOCK = threading.Lock()


@contextlib.contextmanager
def _rewrite_rules_for(program):
    """The exporter's default onnxscript rewrite rules, less the two-Slice split rule when
    the model has no Slice node: no other rule makes one, so it cannot apply, and matching
    it is most of the rewriter's time on a ViT-B/16. (BatchNormalization->Conv folding,
    which would promote bf16 kernels to fp32 in numpy, cannot apply either: ``optimize``
    hides the weights.)"""
    try:
        from onnxscript import rewriter
        from onnxscript.rewriter.rules.common._basic_rules import slice_split_rule as slice_rule

        saved = rewriter._DEFAULT_REWRITE_RULES
    except (ImportError, AttributeError):  # pragma: no cover - the optimizer's own rules
        yield
        return
    model = program.model
    graphs = [model.graph, *model.functions.values()]
    if any(n.op_type == "Slice" for g in graphs for n in g.all_nodes()):
        yield
        return
    with _REWRITE_LOCK:
        rewriter._DEFAULT_REWRITE_RULES = tuple(r for r in saved if r is not slice_rule)
        try:
            yield
        finally:
            rewriter._DEFAULT_REWRITE_RULES = saved


@contextlib.contextmanager
def initializers_as(program, stand_in: Callable[[str, Any], Any]):
    """Within the block, each initializer of ``program`` holding a torch tensor has the
    value ``stand_in(name, its value)`` instead (None: kept as it is); restored after."""
    graph = program.model.graph
    saved = {}
    for name, value in graph.initializers.items():
        const = value.const_value
        if not isinstance(getattr(const, "raw", None), torch.Tensor):
            continue
        replacement = stand_in(name, const)
        if replacement is not None:
            saved[name] = const
            value.const_value = replacement
    try:
        yield
    finally:
        for name, const in saved.items():
            graph.initializers[name].const_value = const


def model_proto_with_zero_fakes(program) -> onnx.ModelProto:
    """The ModelProto of an ONNX program whose initializers may be FakeTensors, with
    zeros in their place (ones for quantization scales), leaving ``program`` itself
    untouched."""
    torch_tensor = _torch_tensor()
    scales = quantized_onnx.positive_initializers(program.model.graph)

    def zeros(name: str, const: Any) -> Any:
        raw = const.raw
        fill = torch.ones if name in scales else torch.zeros  # a quantization scale must be positive
        return torch_tensor(fill(raw.shape, dtype=raw.dtype), name) if is_fake(raw) else None

    with initializers_as(program, zeros):
        return program.model_proto
