"""Writes the fuzzer's seed corpus: real delegate blobs from the AOT side.

    python tests/fuzz/make_seeds.py OUT_DIR [--lower]

* Blobs written by serialization/blob.py ``serialize`` (the production writer): static and
  dynamic dims, several I/O tensors and dtypes, both flavors, runtime settings with and
  without a runtime cache path, compute capabilities, and the 1.1 engine modes
  (``both`` carries an ONNX payload after the engine).
* With ``--lower``: the delegate blobs of a tiny model lowered through the real flow
  (``to_edge_transform_and_lower`` with ``TensorRTPartitioner(engine_builder="test_double")``),
  i.e. exactly the bytes a .pte carries. Skipped, with a message, when the AOT stack
  cannot be imported.

Nothing here is committed: run_fuzz.sh regenerates the seeds for every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import torch  # noqa: E402

from executorch_tensorrt.serialization import blob  # noqa: E402
from executorch_tensorrt.serialization.blob import Flavor  # noqa: E402

PROGRAM = b"trt_double 1\ninput x 2\ninput y 2\nop add 0 1\nop relu 2\noutput out 3\n"


def _t(name, dtype, *dims):
    return blob.TensorInfo(name, dtype, tuple(blob.Dim(*d) if isinstance(d, tuple) else blob.Dim(d, d, d) for d in dims))


def serialized_seeds() -> dict:
    base = dict(flavor=Flavor.RTX, trt_version="test-double", device_id=0, partition_name="forward/partition_0")
    seeds = {}
    seeds["static_2in"] = blob.serialize(
        blob.BlobInfo(
            inputs=(_t("x", torch.float32, 2, 3), _t("y", torch.float32, 2, 3)),
            outputs=(_t("out", torch.float32, 2, 3),),
            **base,
        ),
        PROGRAM,
    )
    seeds["dynamic_mixed_dtypes"] = blob.serialize(
        blob.BlobInfo(
            inputs=(
                _t("a", torch.float16, (1, 4, 16), 3, (0, 8, 64)),
                _t("b", torch.int64, 5),
                _t("c", torch.bool),
            ),
            outputs=(_t("o1", torch.bfloat16, (1, 4, 16), 3), _t("o2", torch.int32, 1, 1, 1, 1, 1, 1, 1, 1)),
            compute_capabilities=((8, 0), (8, 6), (12, 0)),
            precision="fp16",
            settings=blob.RuntimeSettings("whole_graph_capture", "eager", "/tmp/etrt_cache.bin"),
            **base,
        ),
        b"\x00\x01engine bytes\xff" * 7,
    )
    seeds["standard_flavor_device1"] = blob.serialize(
        blob.BlobInfo(
            flavor=Flavor.STANDARD,
            trt_version="10.13.0.35",
            device_id=1,
            inputs=(_t("input_0", torch.uint8, 1, 224, 224, 3),),
            outputs=(_t("output_0", torch.float64, 1, 1000),),
            partition_name="",
            settings=blob.RuntimeSettings("disabled", "none", None),
        ),
        bytes(range(256)) * 2,
    )
    seeds["no_io"] = blob.serialize(blob.BlobInfo(inputs=(), outputs=(), **base), b"E")
    seeds["both_with_onnx"] = blob.serialize(
        blob.BlobInfo(
            inputs=(_t("x", torch.float32, (1, 2, 4)),),
            outputs=(_t("y", torch.float32, (1, 2, 4)),),
            engine_mode="both",
            build_settings=blob.BuildSettings(workspace_size=1 << 20, optimization_level=3, strongly_typed=False),
            **base,
        ),
        PROGRAM,
        onnx=b"\x08\x07fake onnx model bytes",
    )
    seeds["portable_no_engine"] = blob.serialize(
        blob.BlobInfo(
            inputs=(_t("x", torch.int8, 4),),
            outputs=(_t("y", torch.int8, 4),),
            engine_mode="portable",
            **base,
        ),
        b"",
        onnx=b"onnx",
    )
    # Format 1.2: optimization profiles, and a compressed engine inside the blob (the
    # reader inflates it; named-data payloads are checked by key only).
    two_profiles = blob.BlobInfo(
        inputs=(_t("x", torch.float32, (1, 1, 64), 16),),
        outputs=(_t("y", torch.float32, (1, 1, 64), 16),),
        profiles=(((blob.Dim(1, 1, 1), blob.Dim(16, 16, 16)),), ((blob.Dim(1, 8, 64), blob.Dim(16, 16, 16)),)),
        precision="bf16",
        **base,
    )
    seeds["profiles_zlib_inline"] = blob.pack(two_profiles, PROGRAM * 40, compression="zlib", named=False).blob
    seeds["profiles_named_engine"] = blob.pack(two_profiles, PROGRAM * 40, compression="zlib").blob
    v2 = blob.BlobInfo(inputs=(_t("x", torch.int16, 2),), outputs=(_t("y", torch.int16, 2),), format_major=2, format_minor=0, **base)
    seeds["format_2_0"] = blob.serialize(v2, PROGRAM)
    return seeds


def lowered_seeds() -> dict:
    import tests.trt_double.builder  # noqa: F401  registers engine_builder="test_double"
    from executorch.exir import to_edge_transform_and_lower
    from executorch.exir.lowered_backend_module import LoweredBackendModule

    from executorch_tensorrt.partitioner import TensorRTPartitioner

    class Tiny(torch.nn.Module):
        def forward(self, x, y):
            return torch.relu(x + y) * 2 - x

    seeds = {}
    x = torch.randn(2, 8)
    batch = torch.export.Dim("b", min=1, max=16)
    for name, dyn in (("lowered_static", None), ("lowered_dynamic", {"x": {0: batch}, "y": {0: batch}})):
        ep = torch.export.export(Tiny(), (x, x.clone()), dynamic_shapes=dyn)
        edge = to_edge_transform_and_lower(ep, partitioner=[TensorRTPartitioner(engine_builder="test_double")])
        gm = edge.exported_program().graph_module
        for i, (_, mod) in enumerate(gm.named_children()):
            if isinstance(mod, LoweredBackendModule) and mod.backend_id == "TensorRTBackend":
                seeds[f"{name}_{i}"] = bytes(mod.processed_bytes)
    return seeds


def main(argv) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = serialized_seeds()
    if "--lower" in argv:
        try:
            seeds.update(lowered_seeds())
        except Exception as e:  # noqa: BLE001 - the lowering stack is optional here
            print(f"make_seeds: skipping lowered seeds: {type(e).__name__}: {e}")
    for name, data in seeds.items():
        # Each must be a blob the reader accepts (or, for format 2.0, refuses as newer).
        try:
            blob.deserialize(data)
        except blob.BlobFormatError as e:
            if not name.startswith("format_2"):
                raise
            print(f"make_seeds: {name}: refused as expected: {e}")
        (out / f"{name}.blob").write_bytes(data)
    print(f"make_seeds: wrote {len(seeds)} seed(s) to {out}: " + ", ".join(f"{k} ({len(v)} B)" for k, v in seeds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
