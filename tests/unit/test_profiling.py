"""Profiling on the ahead-of-time side: the debug handle map preprocess returns (the
runtime's event names -> the partition's FX nodes), the ETRecord carrying it, and the
``profile`` command reading an ETDump with the Inspector.

tests/unit/data/*.etdp are ETDumps of ``tensorrt_runner --etdump`` on an H200 (test double
engines) running the programs tests/gpu/make_ptes.py writes: zero_copy.pte, and
staged.pte and large.pte with ``--profile-layers``. The lowering here is make_ptes' own, whose .pte is
byte-identical to the one that ran (checked below), so its ETRecord describes that run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch
from executorch.devtools import parse_etrecord
from executorch.exir import to_edge_transform_and_lower
from executorch.exir.lowered_backend_module import get_lowered_submodules

from executorch_tensorrt.backend.provenance import onnx_node_fx_name
from executorch_tensorrt.backend.stats import partition_stats
from executorch_tensorrt.backend.partition_build import ENGINE_EVENTS
from executorch_tensorrt.partitioner import TensorRTPartitioner
from tests.gpu import make_ptes

DATA = Path(__file__).parent / "data"
# sha256 of the .pte files the ETDumps in DATA belong to (make_ptes.py). The ETDumps were
# recorded from the format 1.1 programs; blob format 1.2 (engines in named data, the
# precision enum) changed only the delegates' blobs, and every check below passed against
# these programs with those ETDumps before the digests were updated. Record them again on
# the next GPU run (tests/gpu/run_gpu_tests.sh leaves them in build/gpu/gpu-test-logs).
STAGED_PTE_SHA256 = "3b2d0e6424f62966eff3e75dd0cb6c7a5162da4b9aca59a60cf4d9fbb748acc0"
ZERO_COPY_PTE_SHA256 = "538a750412b1196830c804f56d8507fce66a1c9e62306a5e60573eedd968dc67"
LARGE_PTE_SHA256 = "5b49e237f7ba787cdf83c5c95df8d22b9fadfaf9f42ac49608707dd4c477b837"


class _Split(torch.nn.Module):
    """sin (excluded) in the middle: two TensorRT partitions."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)

    def forward(self, x):
        h = self.a(x).relu()
        return self.b(torch.sin(h)).relu() * 2


def _delegates(edge) -> list:
    """(lowered module, its compute nodes) of every delegate, in graph order."""
    gm = edge.exported_program().graph_module
    out = []
    for _, lowered, _ in get_lowered_submodules(gm):
        nodes = [n for n in lowered.original_module.graph.nodes if n.op == "call_function"]
        out.append((lowered, nodes))
    return out


def _handles(nodes) -> set:
    return {n.meta["debug_handle"] for n in nodes}


def _by_name(nodes) -> dict:
    """Each node by its name and by the names it had in the programs it was made from
    (torch's from_node provenance): a blob built while partitioning, before ExecuTorch's
    last decomposition (partitioner/fallback.py), names the nodes as they were then."""
    out = {}
    for n in nodes:
        src = n.meta.get("from_node")
        while src:
            out.setdefault(src[0].name, n)
            src = src[0].from_node
    out.update({n.name: n for n in nodes})
    return out


def _layer_maps(dmap: dict) -> tuple:
    """A debug handle map as what it maps: the engine events' handles, and the handles its
    layers cover. (Layer names follow the program the engine was built from: built while
    partitioning, before ExecuTorch's last decomposition, a scalar is still an argument
    and not yet a lifted constant with its own ONNX node.)"""
    return {k: dmap[k] for k in ENGINE_EVENTS}, set().union(*(v for k, v in dmap.items() if k not in ENGINE_EVENTS))


@pytest.fixture(scope="module")
def split_lowering():
    ep = torch.export.export(_Split().eval(), (torch.randn(2, 16),))
    part = TensorRTPartitioner(verify=False, exclude_ops=["aten.sin"], keep_onnx=True)
    edge = to_edge_transform_and_lower(ep, partitioner=[part], generate_etrecord=True)
    return edge


def test_each_partition_maps_engine_events_and_onnx_nodes_to_its_own_nodes(split_lowering):
    edge = split_lowering
    delegates = _delegates(edge)
    assert len(delegates) == 2
    onnx_models = {s.name: onnx.load_from_string(s.onnx_model) for s in partition_stats(edge)}
    sin = [n for n in edge.exported_program().graph.nodes if "sin" in str(n.target)]
    assert len(sin) == 1  # left to ExecuTorch
    seen: set = set()
    for lowered, nodes in delegates:
        own = _handles(nodes)
        # every compute node has a handle (ExecuTorch's passes may give a node they
        # insert, such as a dim-order copy, the handle of the node it serves)
        assert own and all(isinstance(n.meta.get("debug_handle"), int) for n in nodes)
        dmap = lowered.meta["debug_handle_map"]
        for event in ENGINE_EVENTS:
            assert set(dmap[event]) == own, (event, dmap)
        for key, handles in dmap.items():
            assert handles and set(handles) <= own, (key, handles, own)
        assert not own & seen  # partitions share no handle
        seen |= own
        # Every other key is an ONNX node of this partition's model, mapped to the FX node
        # the provenance marker names; every compute node is covered by one.
        model = onnx_models[lowered.meta["_delegate_info_meta"].name]
        by_name = _by_name(nodes)
        onnx_nodes = {n.name: n for n in model.graph.node}
        layer_keys = set(dmap) - set(ENGINE_EVENTS)
        assert layer_keys <= set(onnx_nodes)
        covered = set()
        for key in layer_keys:
            fx = by_name[onnx_node_fx_name(onnx_nodes[key])]
            assert dmap[key] == (fx.meta["debug_handle"],), key
            covered.add(fx.meta["debug_handle"])
            if onnx_nodes[key].op_type == "Relu":
                assert "relu" in str(fx.target), (key, fx.target)
        assert covered == own
        relus = [k for k in layer_keys if onnx_nodes[k].op_type == "Relu"]
        assert len(relus) == 1  # one relu per partition
    assert sin[0].meta["debug_handle"] not in seen


def test_etrecord_holds_the_delegate_maps(split_lowering, tmp_path):
    edge = split_lowering
    et = edge.to_executorch()
    path = tmp_path / "split.etrecord"
    et.get_etrecord().save(str(path))
    record = parse_etrecord(str(path))
    maps = [d["delegate_map"] for d in record._delegate_map["forward"].values()]
    expected = [lowered.meta["debug_handle_map"] for lowered, _ in _delegates(edge)]
    assert len(maps) == 2
    # JSON round trip: tuples come back as lists
    assert sorted(map(str, maps)) == sorted(str({k: list(v) for k, v in m.items()}) for m in expected)
    # the handles are those of the edge program the ETRecord keeps
    edge_handles = {
        n.meta.get("debug_handle") for n in record.edge_dialect_program.graph.nodes if n.op == "call_function"
    }
    for m in maps:
        assert set(m["execute"]) <= edge_handles


def test_double_layer_names_map_to_their_ops():
    """The test double names its kernels "<op index>_<kind>"; its builder says which
    ONNX node each came from, so they map like TensorRT's layers."""
    x, y = torch.randn(8, 256), torch.randn(8, 256)
    ep = torch.export.export(make_ptes.TwoEngines(), (x, y))
    part = TensorRTPartitioner(engine_builder="test_double", tag_target_device=False, exclude_ops=["aten.mul.Tensor"])
    edge = to_edge_transform_and_lower(ep, partitioner=[part])
    (first, first_nodes), (second, second_nodes) = _delegates(edge)
    by_target = {str(n.target).split(".")[1]: n.meta["debug_handle"] for n in first_nodes + second_nodes}
    assert first.meta["debug_handle_map"]["0_add"] == (by_target["add"],)
    assert second.meta["debug_handle_map"]["0_relu"] == (by_target["relu"],)
    assert second.meta["debug_handle_map"]["1_sub"] == (by_target["sub"],)
    assert "1_sub" not in first.meta["debug_handle_map"]


def _make_ptes_lowering(tmp_path: Path, name: str) -> Path:
    """make_ptes' program for a case, its .pte checked against the one the ETDump came from."""
    g = torch.Generator().manual_seed(0)
    if name == "large":
        program, sha = make_ptes.lower_large()[0], LARGE_PTE_SHA256
    elif name == "zero_copy":
        args = (torch.randn(4, 1024, generator=g), torch.randn(4, 1024, generator=g))
        program, sha = make_ptes._lower(make_ptes.AddRelu(), args), ZERO_COPY_PTE_SHA256
    else:
        torch.randn(4, 1024, generator=g), torch.randn(4, 1024, generator=g)  # zero_copy's draws
        args = (torch.randn(8, 256, generator=g), torch.randn(8, 256, generator=g))
        program = make_ptes._lower(
            make_ptes.TwoEngines(), args, tag_target_device=False, exclude_ops=["aten.mul.Tensor"]
        )
        sha = STAGED_PTE_SHA256
    assert hashlib.sha256(program.buffer).hexdigest() == sha, (
        f"make_ptes' {name}.pte changed since the ETDumps in {DATA} were recorded: record them again "
        "(tests/gpu/run_gpu_tests.sh leaves them in build/gpu/gpu-test-logs) and update the sha256 here"
    )
    path = tmp_path / f"{name}.etrecord"
    make_ptes.save_etrecord(program, path, example_inputs=name != "large")
    return path


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    return {name: _make_ptes_lowering(out, name) for name in ("zero_copy", "staged", "large")}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "executorch_tensorrt", *args], capture_output=True, text=True, timeout=600)


def _rows(stdout: str) -> list[list[str]]:
    lines = stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["instr", "event", "delegate"], stdout
    return [line.split(None, 3) for line in lines[2:]]


def test_profile_places_the_gpu_runs_layer_events_on_their_ops(records):
    from executorch_tensorrt.profiling import open_inspector, profile_rows

    record = records["staged"]
    rows = profile_rows(open_inspector(str(DATA / "staged_layers.etdp"), str(record)))
    got = [(r.instruction, r.event, r.backend, tuple(o.split(".")[1] for o in r.ops), r.count) for r in rows]
    first = ("add",)
    second = ("relu", "sub")
    assert got == [
        (0, "stage_inputs", "TensorRTBackend", first, 3),
        (0, "execute", "TensorRTBackend", first, 3),
        (0, "stage_outputs", "TensorRTBackend", first, 3),
        (0, "0_add", "TensorRTBackend", first, 3),
        (0, "DELEGATE_CALL", "TensorRTBackend", first, 3),
        (2, "stage_inputs", "TensorRTBackend", second, 3),
        (2, "execute", "TensorRTBackend", second, 3),
        (2, "stage_outputs", "TensorRTBackend", second, 3),
        (2, "0_relu", "TensorRTBackend", ("relu",), 3),
        (2, "1_sub", "TensorRTBackend", ("sub",), 3),
        (2, "DELEGATE_CALL", "TensorRTBackend", second, 3),
    ], got
    for r in rows:
        assert 0 < r.min_ms <= r.avg_ms <= r.max_ms
    # the CLI prints the same rows
    proc = run_cli("profile", "--etdump", str(DATA / "staged_layers.etdp"), "--etrecord", str(record))
    assert proc.returncode == 0, proc.stderr
    printed = _rows(proc.stdout)
    assert [(int(r[0]), r[1], r[2]) for r in printed] == [(g[0], g[1], g[2]) for g in got]
    assert any(r[1] == "1_sub" and r[3].startswith("sub ") for r in printed), proc.stdout


def test_profile_of_a_zero_copy_run_has_no_staging(records):
    from executorch_tensorrt.profiling import open_inspector, profile_rows

    rows = profile_rows(open_inspector(str(DATA / "zero_copy.etdp"), str(records["zero_copy"])))
    assert [r.event for r in rows] == ["execute", "DELEGATE_CALL"]
    ops = {o.split(".")[1] for o in rows[0].ops}
    assert {"add", "relu", "mul", "sub"} <= ops, ops
    # another program's ETRecord: said, not silently shown unmapped
    proc = run_cli("profile", "--etdump", str(DATA / "staged_layers.etdp"), "--etrecord", str(records["zero_copy"]))
    assert proc.returncode == 0 and "map to no op" in proc.stdout, proc.stdout


def test_gpu_checker_maps_events_with_the_etrecord(records):
    """tests/gpu/check_etdump.py --etrecord (run_gpu_tests.sh): passes on the H200's
    ETDump with its program's ETRecord, fails with another program's."""
    from tests.gpu import check_etdump

    assert check_etdump.check_mapping(DATA / "staged_layers.etdp", records["staged"]) == []
    assert check_etdump.check_mapping(DATA / "zero_copy.etdp", records["zero_copy"]) == []
    wrong = check_etdump.check_mapping(DATA / "staged_layers.etdp", records["zero_copy"])
    assert any("'0_add'" in f for f in wrong), wrong



def test_gpu_checker_layer_share():
    """check_etdump.py --min-layer-share: the H200's staged run (two tiny kernels per
    engine, whose layers sum to about two thirds of the engine's time) passes a share
    it meets and fails, naming the engine call, one it does not."""
    from tests.gpu import check_etdump

    path = DATA / "staged_layers.etdp"
    assert check_etdump.check(path, 2, 3, staged=True, layers=True, min_layer_share=0.3) == []
    failures = check_etdump.check(path, 2, 3, staged=True, layers=True, min_layer_share=0.95)
    assert failures and all("below 0.95" in f and "engine call" in f for f in failures), failures
    # the share is a --layers check
    assert check_etdump.main([str(path), "--engines", "2", "--runs", "3", "--staged",
                              "--layers", "--min-layer-share", "0.3"]) == 0
    with pytest.raises(SystemExit):
        check_etdump.main([str(path), "--engines", "2", "--runs", "3", "--staged",
                           "--min-layer-share", "0.3"])


def test_gpu_checker_on_the_large_run(records):
    """The H200's run of make_ptes' large.pte with profile_layers (16M-float tensors, so each
    layer runs tens of microseconds): after the first run its layers account for at least
    80% of each engine call's time, and every layer maps to its op in the Inspector, the
    "muls" layer to the mul and the dim-order copy of its scalar that shares its debug handle."""
    from tests.gpu import check_etdump

    path = DATA / "large_layers.etdp"
    assert check_etdump.check(path, 1, 3, staged=False, layers=True, min_layer_share=0.8) == []
    assert check_etdump.check_mapping(path, records["large"]) == []
    wrong = check_etdump.check_mapping(path, records["staged"])
    assert any("'2_muls'" in f or "'3_sub'" in f for f in wrong), wrong

def _one_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == errors[0], proc.stderr  # nothing else (no flatc output)
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


def test_profile_errors_are_one_line(tmp_path):
    etdump = str(DATA / "zero_copy.etdp")
    not_etdump = tmp_path / "x.etdp"
    not_etdump.write_bytes(b"\x00" * 64)
    not_etrecord = tmp_path / "x.etrecord"
    not_etrecord.write_bytes(b"PK\x03\x04 not a zip")
    _one_error(run_cli("profile", "--etdump", str(tmp_path / "nope"), "--etrecord", etdump), "does not exist", "nope")
    _one_error(run_cli("profile", "--etdump", str(not_etdump), "--etrecord", str(not_etrecord)), "not an ETDump")
    _one_error(run_cli("profile", "--etdump", etdump, "--etrecord", str(not_etrecord)), "not an ETRecord")
    _one_error(run_cli("profile", "--etdump", etdump, "--etrecord", str(tmp_path)), "not a file")


def test_export_etrecord_loads_with_the_delegate_map(tmp_path):
    pte, record = tmp_path / "m.pte", tmp_path / "m.etrecord"
    proc = run_cli("export", "mlp", "-o", str(pte), "--etrecord", str(record))
    assert proc.returncode == 0, proc.stderr
    parsed = parse_etrecord(str(record))
    (entry,) = parsed._delegate_map["forward"].values()
    assert entry["name"] == "TensorRTBackend"
    computes = {
        n.meta["debug_handle"] for n in parsed.edge_dialect_program.graph.nodes if n.op == "call_function"
    }
    dmap = entry["delegate_map"]
    assert set(dmap["execute"]) == computes  # one partition holding every op
    assert set().union(*(dmap[k] for k in dmap if k not in ENGINE_EVENTS)) == computes
    # checked before lowering, like -o
    proc = run_cli("export", "mlp", "-o", str(pte), "--etrecord", str(tmp_path / "missing" / "m.etrecord"))
    _one_error(proc, "does not exist")
    assert "torch.export" not in proc.stdout
    _one_error(run_cli("export", "mlp", "-o", str(pte), "--etrecord", str(pte)), "-o")


def test_preprocess_builds_the_same_map_as_the_partitioner(split_lowering):
    """on_failure='error': preprocess lowers each partition itself (nothing built ahead)."""
    ep = torch.export.export(_Split().eval(), (torch.randn(2, 16),))
    edge = to_edge_transform_and_lower(
        ep, partitioner=[TensorRTPartitioner(verify=False, exclude_ops=["aten.sin"], on_failure="error")]
    )
    assert not any(s.prebuilt for s in partition_stats(edge))
    assert all(s.prebuilt for s in partition_stats(split_lowering))  # built ahead there
    built = [_layer_maps(lowered.meta["debug_handle_map"]) for lowered, _ in _delegates(edge)]
    ahead = [_layer_maps(lowered.meta["debug_handle_map"]) for lowered, _ in _delegates(split_lowering)]
    assert built == ahead and len(built) == 2
