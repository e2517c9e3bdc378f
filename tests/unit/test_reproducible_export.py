"""A .pte is the same bytes wherever it is exported, and names no folder of the machine that
exported it: the ONNX model a portable or both-mode blob carries keeps no source locations
(backend/onnx_export.py ``strip_source_locations``).

The same model file, in two folders of different depth, is imported from each and lowered in
both engine modes that carry an ONNX model (with the TensorRT test double, whose engines are
deterministic; a real TensorRT build picks tactics by timing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import onnx
import pytest
import torch

import tests.trt_double.builder  # noqa: F401  registers engine_builder="test_double"
from executorch.exir import to_edge_transform_and_lower
from executorch_tensorrt.backend.onnx_export import SOURCE_LOCATION_KEYS, strip_source_locations
from executorch_tensorrt.partitioner import TensorRTPartitioner
from executorch_tensorrt.pte import read_delegates

MODEL = '''
import torch


class Net(torch.nn.Module):
    def forward(self, x, y):
        return torch.relu(x + y) * 2 - x
'''


def _import_from(folder: Path):
    folder.mkdir(parents=True)
    path = folder / "user_model.py"
    path.write_text(MODEL)
    spec = importlib.util.spec_from_file_location("user_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export(module, mode: str) -> bytes:
    args = (torch.ones(2, 4), torch.arange(8.0).reshape(2, 4))
    ep = torch.export.export(module.Net(), args)
    partitioner = TensorRTPartitioner(engine_builder="test_double", engine_mode=mode)
    return bytes(to_edge_transform_and_lower(ep, partitioner=[partitioner]).to_executorch().buffer)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("reproducible")
    folders = (base / "home" / "alice" / "project", base / "srv" / "build")
    out = {}
    for i, folder in enumerate(folders):
        module = _import_from(folder)
        for mode in ("portable", "both"):
            out[(i, mode)] = _export(module, mode)
        sys.modules.pop("user_model", None)
    return folders, out


@pytest.mark.parametrize("mode", ["portable", "both"])
def test_same_bytes_from_two_folders_and_no_folder_named(exports, mode):
    folders, out = exports
    first, second = out[(0, mode)], out[(1, mode)]
    for data in (first, second):
        for folder in folders:
            assert str(folder).encode() not in data, f"{mode}: the .pte names {folder}"
        assert b'File "' not in data and b"user_model.py" not in data
    assert first == second
    # It is the ONNX model that could have carried them, and it is there.
    blobs = [d.blob for d in read_delegates(first)]
    assert blobs and all(b.onnx is not None for b in blobs)
    model = onnx.load_from_string(bytes(blobs[0].onnx))
    assert model.graph.node
    for node in model.graph.node:
        assert not {p.key for p in node.metadata_props} & SOURCE_LOCATION_KEYS
        # The stored payload keeps no node metadata at all (backend/payloads.py); what
        # profiling and error messages map layers back by on the device is the node's name.
        assert node.name.startswith("node_"), node.name


def test_strip_source_locations_reaches_subgraphs_functions_and_doc_strings():
    def node(name):
        n = onnx.helper.make_node("Relu", ["x"], ["y"], name=name, doc_string='File "/home/u/m.py", line 3, in f')
        for key in ("pkg.torch.onnx.stack_trace", "pkg.torch.onnx.name_scopes"):
            entry = n.metadata_props.add()
            entry.key, entry.value = key, 'File "/home/u/m.py", line 3' if "stack" in key else "['', 'relu']"
        return n

    body = onnx.helper.make_graph([node("inner")], "body", [], [])
    outer = node("outer")
    outer.attribute.append(onnx.helper.make_attribute("then_branch", body))
    graph = onnx.helper.make_graph([outer], "g", [], [])
    model = onnx.helper.make_model(graph)
    model.functions.append(onnx.helper.make_function("d", "f", ["x"], ["y"], [node("in_function")], []))
    strip_source_locations(model)
    data = model.SerializeToString()
    assert b"/home/u/m.py" not in data
    assert data.count(b"pkg.torch.onnx.name_scopes") == 3
