"""TensorRT delegate options: declared, validated and converted to/from CompileSpecs here only.

Both the partitioner (which hands them to the backend as CompileSpecs) and the backend
(which reads them back in ``preprocess``) use :class:`TensorRTOptions`; nothing else
parses option strings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from executorch_tensorrt.serialization import blob as wire

from .engine import registered_engine_builders
from .profile_spec import normalize_profiles

if TYPE_CHECKING:  # ExecuTorch is imported only where specs are made (this module stays light)
    from executorch.exir.backend.compile_spec_schema import CompileSpec

# ExecuTorch's key for device-aware memory planning (executorch.exir.passes.
# propagate_device_pass.TARGET_DEVICE_COMPILE_SPEC_KEY; tests/unit/test_options.py checks
# they agree).
TARGET_DEVICE_COMPILE_SPEC_KEY = "target_device"
# The delegate's backend id: TensorRTBackend's class name, which the C++ runtime registers
# under too (tests/unit/test_options.py checks they agree).
BACKEND_ID = "TensorRTBackend"

OPTION_KEY_PREFIX = "tensorrt."

# The options a blob records take their values from the wire codes that carry them.
PRECISIONS = tuple(wire.PRECISIONS)
CUDA_GRAPH_STRATEGIES = tuple(wire.CUDA_GRAPH_STRATEGIES)
KERNEL_SPECIALIZATIONS = tuple(wire.KERNEL_SPECIALIZATIONS)
# prebuilt: an engine; portable: the ONNX model + build settings, built on the target at
# first load; both: an engine and the ONNX fallback.
ENGINE_MODES = tuple(wire.ENGINE_MODES)
# How payloads are stored: 'auto' compresses where that saves enough (blob.compress).
COMPRESSIONS = (*wire.COMPRESSIONS, "auto")
# Compute capabilities a TensorRT-RTX engine can be built for ahead of time.
COMPUTE_CAPABILITIES = ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1")
# What a partition TensorRT's builder (or verification) refuses does: fall back to
# ExecuTorch (narrowed to the failing nodes where they are known) or fail the export.
ON_FAILURE = ("fallback", "error")


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    text = str(value).strip().lower() if value is not None else ""
    if text not in allowed:
        raise ValueError(
            f"Invalid value {value!r} for option '{name}': allowed values are "
            + ", ".join(repr(a) for a in allowed)
        )
    return text


def _int(name: str, value: Any, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Option '{name}' must be an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"Option '{name}' must be {bounds}, got {value}")
    return value


def _tolerance(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"Option '{name}' must be a non-negative number or None, got {value!r}")
    return float(value)


def _input_ranges(value: Any) -> tuple:
    """verify_input_ranges as sorted (name, lo, hi) triples, from {name: (lo, hi)} or
    [(name, lo, hi), ...] (how it comes back from a CompileSpec)."""
    what = "Option 'verify_input_ranges' must map input names to (lo, hi) number pairs, e.g. {'tokens': (0, 999)}"
    if isinstance(value, dict):
        items = [(k, *v) if isinstance(v, (list, tuple)) else (k, v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [tuple(v) if isinstance(v, (list, tuple)) else (v,) for v in value]
    else:
        raise ValueError(f"{what}; got {value!r}")
    out = {}
    for item in items:
        if len(item) != 3 or not isinstance(item[0], str) or not item[0]:
            raise ValueError(f"{what}; got {value!r}")
        name, lo, hi = item
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"{what}; input {name!r} has {lo!r}, {hi!r}")
        if lo > hi:
            raise ValueError(f"Option 'verify_input_ranges': input {name!r} has lo {lo!r} above hi {hi!r}")
        out[name] = (name, lo, hi)
    return tuple(out[k] for k in sorted(out))


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"Option '{name}' must be True or False, got {value!r}")
    return value


def op_name(op: Any) -> str:
    """Canonical text for an operator: 'aten.add.Tensor' for aten.add.Tensor, edge ops and
    strings alike (a leading 'torch.ops.' is dropped, a missing overload means 'default')."""
    if not isinstance(op, str):
        import torch

        if not isinstance(op, torch._ops.OpOverload):
            op = getattr(op, "_op", op)  # EdgeOpOverload wraps the ATen OpOverload
        schema = getattr(op, "_schema", None)
        overload = getattr(op, "_overloadname", None)
        if schema is None or overload is None:
            raise ValueError(f"Cannot name operator {op!r}: pass an OpOverload or a string")
        ns, base = schema.name.split("::", 1)  # 'aten::add'
        return f"{ns}.{base}.{overload}"
    text = op.strip()
    if text.startswith("torch.ops."):
        text = text[len("torch.ops.") :]
    text = text.replace("::", ".")
    if text.count(".") == 1:
        text += ".default"
    return text


def _op_table() -> dict[str, set[str]]:
    """{'ns.name': overload names} of every operator schema torch knows."""
    global _OPS
    if _OPS is None:
        import torch

        table: dict[str, set[str]] = {}
        for schema in torch._C._jit_get_all_schemas():
            ns, _, base = schema.name.partition("::")
            table.setdefault(f"{ns}.{base}", set()).add(schema.overload_name or "default")
        _OPS = table
    return _OPS


_OPS: Optional[dict[str, set[str]]] = None


def _overloads_of(packet: str) -> Optional[set[str]]:
    found = _op_table().get(packet)
    if found is not None:
        return found
    import torch  # ops registered from Python (dim_order_ops, ...) have no JIT schema entry

    ns, _, base = packet.partition(".")
    try:
        return set(getattr(getattr(torch.ops, ns), base).overloads())
    except (AttributeError, RuntimeError):
        return None


def exclude_op_name(op: Any) -> str:
    """An exclude_ops entry as 'ns.name' (every overload) or 'ns.name.overload'.

    Accepts an OpOverload or OpOverloadPacket, 'aten.relu', 'aten.linear.default',
    'torch.ops.aten.relu', 'aten::relu' and a bare 'relu' (an ATen op). An unknown name is
    a ValueError naming the closest known ones."""
    if not isinstance(op, str):
        packet_name = getattr(op, "_qualified_op_name", None)  # OpOverloadPacket
        if isinstance(packet_name, str) and not hasattr(op, "_overloadname"):
            return packet_name.replace("::", ".")
        return op_name(op)
    text = op.strip()
    if text.startswith("torch.ops."):
        text = text[len("torch.ops.") :]
    parts = text.replace("::", ".").split(".")
    if len(parts) == 1:
        parts = ["aten"] + parts
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"exclude_ops: cannot read {op!r} as an operator name such as 'aten.relu' or 'aten.linear.default'")
    packet = ".".join(parts[:2])
    overloads = _overloads_of(packet)
    if overloads is None:
        import difflib

        close = difflib.get_close_matches(packet, _op_table().keys(), n=3, cutoff=0.75)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"exclude_ops: unknown operator {op!r}{hint}")
    if len(parts) == 3 and parts[2] not in overloads:
        raise ValueError(
            f"exclude_ops: operator {packet!r} has no overload {parts[2]!r}; its overloads are "
            + ", ".join(repr(o) for o in sorted(overloads))
        )
    return ".".join(parts)


# Options added after the first release whose default changes nothing: a CompileSpec only
# when set, so a program lowered with default options keeps its bytes (tests/unit/data
# holds profiles recorded from such programs). Read back, a missing option is its default.
_WRITTEN_WHEN_SET = frozenset({"verify_input_ranges"})


def exclude_matches(entry: str, op: Any) -> bool:
    """Does the exclude_ops entry ``entry`` ('ns.name' or 'ns.name.overload') name ``op``
    (an OpOverload, edge op, or its name)?"""
    try:
        name = op_name(op)
    except ValueError:
        return False
    return name == entry or name.rsplit(".", 1)[0] == entry


@dataclass(frozen=True)
class TensorRTOptions:
    """Every option of the TensorRT delegate.

    Args:
        min_block_size: smallest number of compute ops a TensorRT partition may hold;
            smaller candidate partitions run on ExecuTorch's kernels (ops that only
            reshape or alias a tensor are not counted). Applies to every partition: a
            high-level op kept whole for TensorRT (linear, layer_norm, ...) in a dropped
            partition is decomposed for ExecuTorch.
        exclude_ops: operators forced to stay outside TensorRT: 'aten.linear' or 'linear'
            (every overload), 'aten.add.Tensor' (one overload), or the OpOverload itself.
            An op is excluded before decomposition: an excluded linear runs on ExecuTorch
            as its decomposition, none of it in TensorRT. Unknown names are refused.
        on_failure: 'fallback' (default): a partition TensorRT's builder or verification
            refuses is narrowed (the nodes the failure names go to ExecuTorch, the rest is
            partitioned and built again, a few rounds at most) or left to ExecuTorch whole,
            with one warning per fallback; 'error': the export fails instead.
        precision: 'fp32', 'fp16' or 'bf16'. The network is strongly typed: fp16/bf16
            convert the partition's floating-point weights and compute to that type while
            its inputs and outputs keep the program's dtypes.
        device_id: CUDA device the engines are built for and run on.
        tag_target_device: tag partitions with ``target_device=cuda:<device_id>`` so
            ExecuTorch's device-aware memory planning keeps delegate I/O on the GPU.
        workspace_size: builder workspace memory pool limit in bytes (None: TensorRT's).
        optimization_level: builder optimization level 0..5 (None: TensorRT's default).
        compute_capabilities: TensorRT-RTX ahead-of-time targets such as ('8.6', '12.0');
            empty: the builder's default.
        cuda_graph_strategy: TensorRT-RTX native CUDA graphs: 'disabled' or
            'whole_graph_capture'.
        kernel_specialization: TensorRT-RTX dynamic-shapes kernel specialization:
            'lazy', 'eager' or 'none'.
        runtime_cache_path: TensorRT-RTX runtime cache file on the target (None: none).
        verify: run the ONNX model TensorRT parsed with onnxruntime against the partition
            executed eagerly, on inputs that exercise it, and fail lowering on a mismatch.
            On by default: it runs each partition on the CPU twice (eagerly and in
            onnxruntime), measured by bench/aot.py at 2-14% of the lowering time of resnet50,
            mobilenet_v3_small and vit_b_16 on an idle 2-core machine.
        verify_input_ranges: value ranges of the program's inputs for verification, by
            input name (the forward argument's name): ``{"tokens": (0, 31999)}``; a
            partition input that is one of them is drawn from [lo, hi] (integers
            inclusive). Other inputs: floats standard normal; integers the graph uses as
            indices spread over the indexed dim; other integers over [-8, 8] (no zero
            where the graph divides by them), redrawn within [1, 8] when the partition
            fails eagerly on them; bools both ways. A name the program does not have is
            reported.
        verify_rtol, verify_atol: the tolerances of that comparison: an element passes when
            |got - expected| <= verify_atol * scale + verify_rtol * |expected|, scale being
            the output's largest |expected| (None: the defaults for the precision, see
            backend/verify.py TOLERANCES). A test suite with its own tolerances
            (ExecuTorch's backend suite) passes them here.
        verify_lsb: for a partition that quantizes activations, an output element also
            passes within this many quantization steps of its output (None: 1; see
            backend/quant_verify.py, which also checks every quantized tensor code for
            code).
        engine_builder: which engine builder turns ONNX into engine bytes ('tensorrt';
            tests register a test double).
        engine_mode: 'prebuilt' (an engine), 'portable' (the ONNX model TensorRT parsed
            and its build settings, no engine: the target builds and caches the engine at
            first load with its own TensorRT; support decisions are still made at export
            with the TensorRT installed there, and the target's parser may accept less),
            or 'both' (an engine plus the ONNX fallback for targets it does not fit).
        profiles: optimization profiles per engine, keyed by the user's Dim names, e.g.
            [{'seq': 1}, {'seq': (1, 64)}] (see backend/profile_spec.py); empty: one
            profile, the export's ranges. Each call runs on the first profile holding its
            shapes.
        compression: how engines and ONNX models are stored: 'auto' (zlib where it saves
            at least 20%: an engine whose TensorRT-RTX kernel sources are a large share), 'zlib', or
            'stored'. Compressed ones are inflated at load.
        external_data: None (payloads in the .pte) or a name: engines and ONNX models go
            to ``<name>.ptd`` (ExecuTorch's external data, written by the program
            manager's ``write_tensor_data_to_file``), loaded with the .pte.
        share_engines: let partitions of several methods (or one) that compute the same
            function on the same weights run one engine: a partition whose shapes one of
            another's profiles holds, and which that partition's ONNX model computes on
            its own inputs (checked with onnxruntime as ``verify`` checks, whatever
            ``verify`` says), references that engine instead of its own (stored once,
            loaded once per process).
    """

    min_block_size: int = 1
    exclude_ops: frozenset = field(default_factory=frozenset)
    precision: str = "fp32"
    device_id: int = 0
    tag_target_device: bool = True
    workspace_size: Optional[int] = None
    optimization_level: Optional[int] = None
    compute_capabilities: tuple = ()
    cuda_graph_strategy: str = "disabled"
    kernel_specialization: str = "lazy"
    runtime_cache_path: Optional[str] = None
    verify: bool = True
    verify_rtol: Optional[float] = None
    verify_atol: Optional[float] = None
    verify_lsb: Optional[float] = None
    verify_input_ranges: tuple = ()
    engine_builder: str = "tensorrt"
    engine_mode: str = "prebuilt"
    on_failure: str = "fallback"
    profiles: tuple = ()
    compression: str = "auto"
    external_data: Optional[str] = None
    share_engines: bool = True

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        s("min_block_size", _int("min_block_size", self.min_block_size, 1))
        ops = self.exclude_ops
        if isinstance(ops, (str, bytes)) or not isinstance(ops, Iterable):
            ops = [ops]
        s("exclude_ops", frozenset(exclude_op_name(o) for o in ops))
        s("precision", _choice("precision", self.precision, PRECISIONS))
        s("device_id", _int("device_id", self.device_id, 0))
        s("tag_target_device", _bool("tag_target_device", self.tag_target_device))
        if self.workspace_size is not None:
            _int("workspace_size", self.workspace_size, 1)
        if self.optimization_level is not None:
            _int("optimization_level", self.optimization_level, 0, 5)
        caps = self.compute_capabilities
        if isinstance(caps, str):
            caps = [caps]
        s(
            "compute_capabilities",
            tuple(_choice("compute_capabilities", c, COMPUTE_CAPABILITIES) for c in caps),
        )
        s(
            "cuda_graph_strategy",
            _choice("cuda_graph_strategy", self.cuda_graph_strategy, CUDA_GRAPH_STRATEGIES),
        )
        s(
            "kernel_specialization",
            _choice("kernel_specialization", self.kernel_specialization, KERNEL_SPECIALIZATIONS),
        )
        if self.runtime_cache_path is not None and (
            not isinstance(self.runtime_cache_path, str) or not self.runtime_cache_path
        ):
            raise ValueError(
                f"Option 'runtime_cache_path' must be a non-empty string or None, "
                f"got {self.runtime_cache_path!r}"
            )
        s("verify", _bool("verify", self.verify))
        for tol in ("verify_rtol", "verify_atol", "verify_lsb"):
            if getattr(self, tol) is not None:
                s(tol, _tolerance(tol, getattr(self, tol)))
        s("verify_input_ranges", _input_ranges(self.verify_input_ranges))
        s("engine_builder", _choice("engine_builder", self.engine_builder, registered_engine_builders()))
        s("engine_mode", _choice("engine_mode", self.engine_mode, ENGINE_MODES))
        s("on_failure", _choice("on_failure", self.on_failure, ON_FAILURE))
        s("profiles", normalize_profiles(self.profiles))
        s("compression", _choice("compression", self.compression, COMPRESSIONS))
        if self.external_data is not None and (
            not isinstance(self.external_data, str)
            or not self.external_data
            or any(c in self.external_data for c in "/\\\0")
        ):
            raise ValueError(
                f"Option 'external_data' must be None or a file name without a directory "
                f"(the .ptd is '<name>.ptd'), got {self.external_data!r}"
            )
        s("share_engines", _bool("share_engines", self.share_engines))

    def excludes(self, op: Any) -> bool:
        """Is ``op`` (an OpOverload, edge op, or its name) excluded by exclude_ops?"""
        return any(exclude_matches(entry, op) for entry in self.exclude_ops)

    def input_range(self, name: str) -> Optional[tuple]:
        """(lo, hi) for the program input ``name`` from verify_input_ranges, else None."""
        return next(((lo, hi) for n, lo, hi in self.verify_input_ranges if n == name), None)

    @classmethod
    def create(cls, **kwargs: Any) -> "TensorRTOptions":
        """Like the constructor, but an unknown option name is a ValueError listing the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(
                f"Unknown TensorRT option(s) {', '.join(unknown)}: known options are "
                + ", ".join(sorted(known))
            )
        return cls(**kwargs)

    @property
    def target_device(self) -> str:
        return f"cuda:{self.device_id}"

    def to_compile_specs(self) -> list["CompileSpec"]:
        from executorch.exir.backend.compile_spec_schema import CompileSpec

        specs = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _WRITTEN_WHEN_SET and value == f.default:
                continue
            if isinstance(value, (frozenset, tuple)):
                value = sorted(value) if isinstance(value, frozenset) else list(value)
            specs.append(CompileSpec(OPTION_KEY_PREFIX + f.name, json.dumps(value).encode()))
        if self.tag_target_device:
            specs.append(CompileSpec(TARGET_DEVICE_COMPILE_SPEC_KEY, self.target_device.encode()))
        return specs

    @classmethod
    def from_compile_specs(cls, specs: Iterable["CompileSpec"]) -> "TensorRTOptions":
        """The options the specs hold (option keys and target_device only; a partition's
        own specs are read by partition_spec.PartitionSpec, which calls this)."""
        values: dict[str, Any] = {}
        target_device = None
        for spec in specs:
            raw = bytes(spec.value)
            if spec.key == TARGET_DEVICE_COMPILE_SPEC_KEY:
                target_device = raw.decode()
                continue
            if not spec.key.startswith(OPTION_KEY_PREFIX):
                raise ValueError(f"Unknown CompileSpec key {spec.key!r} for TensorRTBackend")
            try:
                values[spec.key[len(OPTION_KEY_PREFIX) :]] = json.loads(raw.decode())
            except ValueError as e:
                raise ValueError(f"CompileSpec {spec.key!r} holds malformed JSON: {raw!r}") from e
        if "compute_capabilities" in values:
            values["compute_capabilities"] = tuple(values["compute_capabilities"])
        options = cls.create(**values)
        if target_device is not None and target_device != options.target_device:
            raise ValueError(
                f"CompileSpec target_device={target_device!r} disagrees with "
                f"device_id={options.device_id}"
            )
        return options
