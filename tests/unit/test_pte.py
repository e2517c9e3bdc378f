"""Reading TensorRT delegates back out of a .pte file (executorch_tensorrt/pte.py): the
delegates with their compile specs and blobs, the ops inside and outside TensorRT, the
inspect JSON, and clear errors for a file that is not a .pte or is cut short."""

from __future__ import annotations

import pytest
import torch
from executorch.exir import to_edge_transform_and_lower
from torch.export import Dim

from executorch_tensorrt.backend.partition_spec import PARTITION_NAME_KEY, PARTITION_OPS_KEY
from executorch_tensorrt.partitioner import TensorRTPartitioner
from executorch_tensorrt.pte import inspect_json, method_ops, methods, read_delegates


class XorInTheMiddle(torch.nn.Module):
    """Two TensorRT partitions around a bitwise_xor (which TensorRT has no layer for)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.a(x))
        z = torch.bitwise_xor((y * 10).to(torch.int32), 3).to(torch.float32)
        return self.b(z) + 1


@pytest.fixture(scope="module")
def pte() -> bytes:
    batch = Dim("batch", min=1, max=8)
    with torch.no_grad():
        ep = torch.export.export(XorInTheMiddle().eval(), (torch.randn(4, 8),), dynamic_shapes=({0: batch},))
    return to_edge_transform_and_lower(ep, partitioner=[TensorRTPartitioner()]).to_executorch().buffer


def test_read_delegates_gives_each_partition_with_specs_and_blob(pte):
    delegates = read_delegates(pte)
    assert [(d.method, d.index, d.backend_id) for d in delegates] == [
        ("forward", 0, "TensorRTBackend"),
        ("forward", 1, "TensorRTBackend"),
    ]
    first, second = delegates
    for d in delegates:
        # The engine is in the program's named data (blob format 1.2), read back inflated.
        p = d.blob.engine_payload
        assert p.key is not None and p.key.startswith("TensorRTBackend/engine/")
        assert d.size < p.stored_size <= p.size == len(d.blob.engine) > 0
        assert d.compile_specs[PARTITION_NAME_KEY] == d.blob.info.partition_name
    # the first partition takes the user's [batch, 8] input; the second ends in [batch, 4]
    (x,) = first.blob.info.inputs
    assert x.dtype == torch.float32
    assert (x.dims[0].min, x.dims[0].opt, x.dims[0].max) == (1, 4, 8)
    assert (x.dims[1].min, x.dims[1].max) == (8, 8)
    (out,) = second.blob.info.outputs
    assert (out.dims[0].min, out.dims[0].max, out.dims[1].opt) == (1, 8, 4)
    # spec values are decoded: the recorded ops are a dict, not JSON text
    ops = second.spec_values[PARTITION_OPS_KEY]
    assert isinstance(ops, dict) and ops.get("aten.add.Tensor") == 1, ops


def test_method_ops_splits_inside_and_outside_tensorrt(pte):
    assert methods(pte) == ["forward"]
    ops = method_ops(pte)["forward"]
    assert ops.outside == {"aten.bitwise_xor.Scalar_out": 1}
    assert ops.in_tensorrt == {
        "aten.linear.default": 2,
        "aten.relu.default": 1,
        "aten.mul.Tensor": 1,
        "aten.add.Tensor": 1,
        "dim_order_ops._to_dim_order_copy.default": 4,
    }
    assert ops.other_delegates == 0 and ops.unrecorded == 0


def test_inspect_json_reports_dims_by_the_users_names(pte):
    report = inspect_json(pte)
    assert report["pte_bytes"] == len(pte)
    forward = report["methods"]["forward"]
    assert len(forward["delegates"]) == 2
    first = forward["delegates"][0]
    assert first["dynamic_dims"] == {"batch": {"min": 1, "max": 8}}, first["dynamic_dims"]
    assert first["blob"]["inputs"][0]["static_dims"] == [None, 8]
    assert first["blob"]["engine_bytes"] > 0
    assert forward["ops_in_tensorrt"] == sum(d["ops"] for d in forward["delegates"])
    assert forward["ops_outside_tensorrt"] >= 1
    assert report["mutable_buffers"] == {"forward": []}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not an ExecuTorch .pte file"),
        (b"PK\x03\x04 this is a zip file, not a program", "not an ExecuTorch .pte file"),
    ],
)
def test_not_a_pte_is_a_clear_error(data, message):
    for read in (read_delegates, methods, method_ops, inspect_json):
        with pytest.raises(ValueError, match=message):
            read(data)


def test_truncated_pte_is_a_clear_error(pte):
    cut = pte[: len(pte) // 3]
    with pytest.raises(ValueError, match=r"^malformed \.pte file"):
        read_delegates(cut)


def test_reader_agrees_with_executorchs_deserializer(pte):
    """The flatbuffers reader (no torch) gives what ExecuTorch's own deserializer gives:
    every delegate's bytes (stored in segments) and compile specs, and the kernel calls."""
    from executorch.exir._serialize._program import deserialize_pte_binary
    from executorch.exir.schema import KernelCall

    from executorch_tensorrt.serialization.program import read_program

    program = deserialize_pte_binary(pte).program
    (method,) = read_program(pte)
    (plan,) = program.execution_plan
    assert method.name == plan.name and len(method.delegates) == len(plan.delegates) == 2
    for ours, theirs in zip(method.delegates, plan.delegates):
        assert ours.backend_id == theirs.id
        assert ours.data == bytes(program.backend_delegate_data[theirs.processed.index].data)
        assert ours.compile_specs == {c.key: bytes(c.value) for c in theirs.compile_specs}
    names = [o.name.replace("::", ".") + (f".{o.overload}" if o.overload else "") for o in plan.operators]
    calls = [names[i.instr_args.op_index] for c in plan.chains for i in c.instructions if isinstance(i.instr_args, KernelCall)]
    assert method.kernel_calls == calls and "aten.bitwise_xor.Scalar_out" in calls


def test_mutable_buffers_are_read_with_their_names():
    from executorch.exir import ExecutorchBackendConfig

    class Counter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("total", torch.zeros(3))

        def forward(self, x):
            self.total.add_(x)
            return self.total * 2

    ep = torch.export.export(Counter(), (torch.ones(3),))
    edge = to_edge_transform_and_lower(ep, partitioner=[TensorRTPartitioner()])
    data = edge.to_executorch(ExecutorchBackendConfig(emit_mutable_buffer_names=True)).buffer
    assert inspect_json(data)["mutable_buffers"]["forward"] == [{"name": "total", "dtype": "float", "sizes": [3]}]


@pytest.mark.skipif(__import__("shutil").which("flatc") is None, reason="flatc not installed (apt-get install flatbuffers-compiler)")
def test_program_reader_code_matches_executorchs_schema(tmp_path):
    import filecmp
    import os
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run(["bash", os.path.join(root, "scripts/generate_program_schema.sh"), str(tmp_path)], check=True)
    committed = os.path.join(root, "serialization", "program_generated")
    made = sorted(os.listdir(tmp_path))
    assert made == sorted(f for f in os.listdir(committed) if f.endswith(".py"))
    _, mismatch, errors = filecmp.cmpfiles(tmp_path, committed, made, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
