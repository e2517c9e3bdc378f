"""Reading an ExecuTorch program (.pte) for what `inspect` shows: its methods, their
delegates (backend id, compile specs, the delegate's bytes), the kernels they call,
their named mutable buffers, and the program's named data (read_named_data).

Read with flatc's Python for ExecuTorch's own schema (program_generated/, made by
scripts/generate_program_schema.sh from the executorch wheel's program.fbs): no torch,
no ExecuTorch Python (whose deserializer starts flatc), so reading a .pte takes a
fraction of a second. Delegate data stored in segments is read at the segment base
offset the extended header gives.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from executorch_tensorrt.serialization.program_generated.DataLocation import DataLocation
from executorch_tensorrt.serialization.program_generated.InstructionArguments import InstructionArguments
from executorch_tensorrt.serialization.program_generated.KernelCall import KernelCall
from executorch_tensorrt.serialization.program_generated.KernelTypes import KernelTypes
from executorch_tensorrt.serialization.program_generated.Program import Program
from executorch_tensorrt.serialization.program_generated.ScalarType import ScalarType
from executorch_tensorrt.serialization.program_generated.Tensor import Tensor

# ExecuTorch's extended header, after the flatbuffer's root offset and identifier: magic,
# its length, the program's size, the offset of the first segment (all little-endian).
_EXTENDED_HEADER = struct.Struct("<4sIQQ")
_EXTENDED_MAGIC = b"eh00"
_SCALAR_NAMES = {v: k.lower() for k, v in vars(ScalarType).items() if not k.startswith("_")}


@dataclass
class PteDelegate:
    index: int  # within its method
    backend_id: str
    compile_specs: dict  # key -> raw bytes
    data: bytes


@dataclass
class PteMethod:
    name: str
    delegates: list = field(default_factory=list)  # of PteDelegate
    kernel_calls: list = field(default_factory=list)  # op name per KernelCall ('aten.mul.out')
    mutable_buffers: list = field(default_factory=list)  # {"name", "dtype", "sizes"}


def _text(b) -> str:
    return b.decode(errors="replace") if b else ""


def _bytes(table, vtable_slot: int) -> bytes:
    """A [ubyte] field of a flatbuffers table as bytes, sliced out of the buffer."""
    o = table._tab.Offset(vtable_slot)
    if not o:
        return b""
    start = table._tab.Vector(o)
    return bytes(table._tab.Bytes[start : start + table._tab.VectorLen(o)])


def _union(table, cls):
    """A union member (a flatbuffers Table) read as the type its tag names."""
    member = cls()
    member.Init(table.Bytes, table.Pos)
    return member


def _segment_base(data: bytes) -> int:
    if len(data) < 8 or data[4:6] != b"ET":
        raise ValueError("not an ExecuTorch .pte file (no 'ET..' flatbuffer identifier)")
    if len(data) >= 8 + _EXTENDED_HEADER.size:
        magic, _, _, base = _EXTENDED_HEADER.unpack_from(data, 8)
        if magic == _EXTENDED_MAGIC:
            return base
    return 0


def _segment(data: bytes, program, segment_base: int, index: int, what: str) -> bytes:
    if not 0 <= index < program.SegmentsLength():
        raise ValueError(f"malformed .pte file: {what} names segment {index} of {program.SegmentsLength()}")
    seg = program.Segments(index)
    start = segment_base + seg.Offset()
    if start + seg.Size() > len(data):
        raise ValueError(f"malformed .pte file: {what}'s segment runs past the file's end")
    return bytes(data[start : start + seg.Size()])


def read_program(data: bytes) -> list[PteMethod]:
    """Every method of a .pte; a ValueError saying what is wrong for bytes that are not
    one (or are cut short)."""
    segment_base = _segment_base(data)
    try:
        return _read(data, segment_base)
    except (IndexError, KeyError, TypeError, AttributeError, struct.error) as e:
        raise ValueError(f"malformed .pte file: {type(e).__name__}: {e}") from e


def read_named_data(data: bytes) -> dict[str, bytes]:
    """The named data the .pte itself holds ({key: bytes}; what ExecuTorch's
    NamedDataStore put in its segments); a ValueError as read_program's."""
    segment_base = _segment_base(data)
    try:
        program = Program.GetRootAs(data, 0)
        out = {}
        for i in range(program.NamedDataLength()):
            entry = program.NamedData(i)
            key = _text(entry.Key())
            out[key] = _segment(data, program, segment_base, entry.SegmentIndex(), f"named data {key!r}")
        return out
    except (IndexError, KeyError, TypeError, AttributeError, struct.error) as e:
        raise ValueError(f"malformed .pte file: {type(e).__name__}: {e}") from e


def _read(data: bytes, segment_base: int) -> list[PteMethod]:
    program = Program.GetRootAs(data, 0)
    inline = [_bytes(program.BackendDelegateData(i), 4) for i in range(program.BackendDelegateDataLength())]
    methods = []
    for p in range(program.ExecutionPlanLength()):
        plan = program.ExecutionPlan(p)
        method = PteMethod(_text(plan.Name()))
        for i in range(plan.DelegatesLength()):
            d = plan.Delegates(i)
            ref = d.Processed()
            if ref.Location() == DataLocation.INLINE:
                blob = inline[ref.Index()]
            elif ref.Location() == DataLocation.SEGMENT:
                blob = _segment(data, program, segment_base, ref.Index(), f"{method.name} delegate {i}")
            else:
                raise ValueError(f"{method.name} delegate {i}: unexpected data location {ref.Location()}")
            specs = {}
            for j in range(d.CompileSpecsLength()):
                c = d.CompileSpecs(j)
                specs[_text(c.Key())] = _bytes(c, 6)
            method.delegates.append(PteDelegate(i, _text(d.Id()), specs, blob))
        ops = []
        for k in range(plan.OperatorsLength()):
            op = plan.Operators(k)
            overload = _text(op.Overload())
            ops.append(_text(op.Name()).replace("::", ".") + (f".{overload}" if overload else ""))
        for c in range(plan.ChainsLength()):
            chain = plan.Chains(c)
            for k in range(chain.InstructionsLength()):
                ins = chain.Instructions(k)
                if ins.InstrArgsType() != InstructionArguments.KernelCall:
                    continue
                method.kernel_calls.append(ops[_union(ins.InstrArgs(), KernelCall).OpIndex()])
        for v in range(plan.ValuesLength()):
            value = plan.Values(v)
            if value.ValType() != KernelTypes.Tensor:
                continue
            t = _union(value.Val(), Tensor)
            extra = t.ExtraTensorInfo()
            name = _text(extra.FullyQualifiedName()) if extra is not None else ""
            if name:
                method.mutable_buffers.append(
                    {
                        "name": name,
                        "dtype": _SCALAR_NAMES.get(t.ScalarType(), str(t.ScalarType())),
                        "sizes": [t.Sizes(j) for j in range(t.SizesLength())],
                    }
                )
        methods.append(method)
    return methods
