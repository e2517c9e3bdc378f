"""How a partition's payloads (its engine, its ONNX model) are stored: in ExecuTorch's
named data, keyed by content, compressed where that pays.

Every blob ``preprocess`` writes (format 1.2) keeps its engine and ONNX model in the
program's named data (``PreprocessResult.data_store_output``, ExecuTorch's
NamedDataStore): in the .pte's named-data segment, or with the ``external_data`` option in
a ``.ptd`` file beside it. Keys are derived from the stored bytes
(serialization/blob.py payload_key), so delegates holding the same payload -- methods or
partitions sharing an engine (engine_sharing.py) -- hold one copy: the NamedDataStore
merges equal keys with equal bytes.
"""

from __future__ import annotations

from typing import Optional

import onnx
from executorch.exir._serialize._named_data_store import NamedDataStore, NamedDataStoreOutput

from executorch_tensorrt.serialization import blob as blob_mod

# Named data is aligned as the blob aligns its payloads: TensorRT reads an engine in place.
PAYLOAD_ALIGNMENT = blob_mod.ENGINE_ALIGNMENT


def onnx_payload_bytes(model: onnx.ModelProto) -> bytes:
    """The model as stored and built from: without the exporter's per-node and per-value
    metadata (stack traces, module hierarchies, name scopes: 0.78 MB of ExecuTorch's
    15 MB tiny Llama, which TensorRT neither reads nor keeps). Provenance and debug maps
    are read from the in-memory model before this. Model-level metadata stays."""
    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    for node in stripped.graph.node:
        del node.metadata_props[:]
    for value in (*stripped.graph.value_info, *stripped.graph.input, *stripped.graph.output):
        del value.metadata_props[:]
    for init in stripped.graph.initializer:
        del init.metadata_props[:]
    return stripped.SerializeToString()


def named_data_output(named: dict, external_data: Optional[str]) -> Optional[NamedDataStoreOutput]:
    """A NamedDataStoreOutput holding ``named`` ({key: stored bytes}), in the .pte or,
    with ``external_data``, in ``<external_data>.ptd``."""
    if not named:
        return None
    store = NamedDataStore()
    for key, data in named.items():
        store.add_named_data(key, bytes(data), PAYLOAD_ALIGNMENT, external_tag=external_data)
    return store.get_named_data_store_output()


def pack_blob(
    info: blob_mod.BlobInfo,
    engine: "bytes | memoryview",
    onnx_bytes: Optional[bytes],
    compression: str,
    external_data: Optional[str],
) -> tuple[bytes, Optional[NamedDataStoreOutput], dict]:
    """(blob bytes, named data output, {key: stored bytes}) for a partition."""
    packed = blob_mod.pack(info, engine, onnx_bytes, compression=compression, named=True)
    return packed.blob, named_data_output(packed.named_data, external_data), packed.named_data


def stored_bytes(named: dict) -> int:
    return sum(len(v) for v in named.values())
