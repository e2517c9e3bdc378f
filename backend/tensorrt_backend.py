"""TensorRTBackend.preprocess: a partition (edge dialect) -> a delegate blob."""

from __future__ import annotations

import copy
import logging
import time
from typing import List

import torch

from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from torch.export import ExportedProgram

from . import blob as blob_mod
from .engine import BuildRequest, BuiltEngine, EngineBuildError, get_engine_builder, requested_compute_capabilities
from .lowering import HANDOFF, LoweringError, compute_nodes, lower_to_onnx, op_names, apply_precision, to_aten
from .options import PARTITION_NAME_KEY, TensorRTOptions, dim_ranges_from_specs, partition_name_from_specs
from .options import dim_names_from_specs
from .profiles import io_infos
from .stats import STATS
from .symbolic_inputs import recompute_size_inputs

log = logging.getLogger(__name__)


class TensorRTBackend(BackendDetails):
    """Lowers one partition: edge dialect -> ATen -> ONNX -> TensorRT engine -> blob.

    The name of this class is the delegate's backend id, which the C++ runtime registers
    under too.
    """

    @classmethod
    def copy_exported_program_for_preprocess(
        cls, edge_program: ExportedProgram, compile_specs: List[CompileSpec]
    ) -> ExportedProgram:
        """The program ExecuTorch isolates for preprocess, sharing its weight tensors:
        preprocess never writes a tensor (to_aten copies the graph, apply_precision makes
        new tensors), and deep-copying every weight of every partition is pure cost."""
        shared = {
            id(t): t
            for store in (edge_program.state_dict, edge_program.constants)
            for t in store.values()
            if isinstance(t, torch.Tensor)
        }
        return copy.deepcopy(edge_program, shared)

    @staticmethod
    def preprocess(edge_program: ExportedProgram, compile_specs: List[CompileSpec]) -> PreprocessResult:
        options = TensorRTOptions.from_compile_specs(compile_specs)
        name = partition_name_from_specs(compile_specs)
        edge_program = recompute_size_inputs(edge_program)  # sizes passed in: from tensor shapes
        ops = op_names(compute_nodes(edge_program.graph_module))
        t0 = time.perf_counter()
        model = HANDOFF.take(edge_program, options.precision)
        aten_ep = None
        if model is None:
            try:
                aten_ep, model = lower_to_onnx(edge_program, options.precision)
            except LoweringError as e:
                raise LoweringError(f"partition {name} (ops: {', '.join(sorted(set(ops)))}): {e}") from e
        onnx_bytes = model.SerializeToString()
        t1 = time.perf_counter()
        in_names = [i.name for i in model.graph.input]
        out_names = [o.name for o in model.graph.output]
        inputs, outputs = io_infos(
            edge_program, in_names, out_names, dim_ranges_from_specs(compile_specs), dim_names_from_specs(compile_specs)
        )
        if options.verify:
            from .verify import verify_partition

            reference = to_aten(edge_program)  # fp32 eager reference, whatever the precision
            tolerances = (options.verify_rtol, options.verify_atol)
            STATS.record_verify(
                name,
                verify_partition(name, reference, model, inputs, options.precision, tolerances, onnx_bytes),
            )
        t2 = time.perf_counter()
        builder = get_engine_builder(options.engine_builder)
        request = BuildRequest(name, onnx_bytes, inputs, outputs, ops, options)
        onnx_payload = None
        if options.engine_mode != "prebuilt":
            # What a target builds from: the model TensorRT parsed here (a builder may
            # annotate it, as the test double does).
            onnx_payload = getattr(builder, "portable_onnx", lambda r: r.onnx_bytes)(request)
        if options.engine_mode == "portable":
            # No engine is built here; the network is still parsed and checked against
            # the signature the blob declares (the build path checks it itself).
            check = getattr(builder, "check_signature", None)
            if check is not None:
                check(request)
            built = BuiltEngine(b"", *builder.identity(), requested_compute_capabilities(options))
        else:
            built = builder.build(request)
        t3 = time.perf_counter()
        info = blob_mod.BlobInfo(
            flavor=built.flavor,
            trt_version=built.version,
            device_id=options.device_id,
            inputs=inputs,
            outputs=outputs,
            compute_capabilities=built.compute_capabilities,
            partition_name=name,
            precision=options.precision,
            settings=blob_mod.RuntimeSettings(
                options.cuda_graph_strategy, options.kernel_specialization, options.runtime_cache_path
            ),
            engine_mode=options.engine_mode,
            build_settings=blob_mod.BuildSettings(options.workspace_size, options.optimization_level),
        )
        data = blob_mod.serialize(info, built.engine, onnx_payload)
        STATS.record_partition(
            name, len(ops), len(built.engine), onnx_s=t1 - t0, verify_s=t2 - t1, build_s=t3 - t2,
            onnx_model=onnx_bytes,
        )
        log.info(
            "partition %s: %d ops -> %d engine bytes%s", name, len(ops), len(built.engine),
            f", {len(onnx_payload)} ONNX bytes ({options.engine_mode})" if onnx_payload else "",
        )
        return PreprocessResult(processed_bytes=data)


__all__ = ["TensorRTBackend", "EngineBuildError", "PARTITION_NAME_KEY", "apply_precision"]
