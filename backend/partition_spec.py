"""One partition's CompileSpecs, decoded once: the delegate options and what the
partitioner records of the partition (its name, its dynamic dims' declared ranges and
the user's names for them, the ops it holds).

The partitioner makes a ``PartitionSpec`` per partition and hands it to ExecuTorch as
CompileSpecs (``compile_specs()``); ``preprocess`` reads them back with
``PartitionSpec.from_compile_specs`` and passes the object on. Nothing else decodes
CompileSpecs; a new per-partition value is one more field here. Imports nothing heavy
(``inspect`` reads specs without torch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .options import OPTION_KEY_PREFIX, TARGET_DEVICE_COMPILE_SPEC_KEY, TensorRTOptions

if TYPE_CHECKING:
    from executorch.exir.backend.compile_spec_schema import CompileSpec

# The partition's name (messages, the blob).
PARTITION_NAME_KEY = "tensorrt_partition_name"
# The dynamic dims' ranges as the user declared them ({symbol: [min, max]}). ExecuTorch's
# re-decomposition narrows a declared min of 1 to 2 (torch's 0/1 specialization); the
# profile must still accept what the user declared.
DIM_RANGES_KEY = "tensorrt_dim_ranges"
# {symbol: the user's name for it} (the torch.export.Dim name, or the input dim it came
# from), so messages and `inspect` speak the user's names.
DIM_NAMES_KEY = "tensorrt_dim_names"
# {op name: count} of the compute ops the partition holds, so a .pte says how many ops
# run inside TensorRT.
PARTITION_OPS_KEY = "tensorrt_partition_ops"

# The per-partition keys whose values are JSON.
_JSON_KEYS = (DIM_RANGES_KEY, DIM_NAMES_KEY, PARTITION_OPS_KEY)
PARTITION_KEYS = (PARTITION_NAME_KEY, *_JSON_KEYS)


@dataclass(frozen=True)
class PartitionSpec:
    """Everything ``preprocess`` is told about one partition."""

    options: TensorRTOptions = field(default_factory=TensorRTOptions)
    name: str = "partition"
    dim_ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    dim_names: Mapping[str, str] = field(default_factory=dict)
    ops: Mapping[str, int] = field(default_factory=dict)

    def compile_specs(self, option_specs: "list[CompileSpec] | None" = None) -> "list[CompileSpec]":
        """The CompileSpecs carrying this spec (``option_specs``: the options' own,
        when already made)."""
        from executorch.exir.backend.compile_spec_schema import CompileSpec

        return [
            *(option_specs if option_specs is not None else self.options.to_compile_specs()),
            CompileSpec(PARTITION_NAME_KEY, self.name.encode()),
            CompileSpec(DIM_RANGES_KEY, json.dumps(dict(self.dim_ranges), sort_keys=True).encode()),
            CompileSpec(DIM_NAMES_KEY, json.dumps(dict(self.dim_names), sort_keys=True).encode()),
            CompileSpec(PARTITION_OPS_KEY, json.dumps(dict(sorted(self.ops.items()))).encode()),
        ]

    @classmethod
    def from_compile_specs(cls, specs: Iterable["CompileSpec"]) -> "PartitionSpec":
        """Decodes a partition's CompileSpecs. Options are validated as TensorRTOptions;
        a key this backend does not know is a ValueError naming it."""
        option_specs, own = [], {}
        for spec in specs:
            raw = bytes(spec.value)
            if spec.key == PARTITION_NAME_KEY:
                own[spec.key] = raw.decode()
            elif spec.key in _JSON_KEYS:
                try:
                    own[spec.key] = json.loads(raw.decode())
                except ValueError as e:
                    raise ValueError(f"CompileSpec {spec.key!r} holds malformed JSON: {raw!r}") from e
            else:
                option_specs.append(spec)
        try:
            return cls(
                options=TensorRTOptions.from_compile_specs(option_specs),
                name=own.get(PARTITION_NAME_KEY) or "partition",
                dim_ranges={str(k): (int(v[0]), int(v[1])) for k, v in (own.get(DIM_RANGES_KEY) or {}).items()},
                dim_names={str(k): str(v) for k, v in (own.get(DIM_NAMES_KEY) or {}).items()},
                ops={str(k): int(v) for k, v in (own.get(PARTITION_OPS_KEY) or {}).items()},
            )
        except (AttributeError, TypeError, IndexError) as e:
            raise ValueError(f"a TensorRT partition's CompileSpecs hold values of the wrong shape: {e}") from e


def spec_value(key: str, raw: bytes) -> Any:
    """A CompileSpec's value as data: options and the partitioner's JSON specs decoded,
    anything else (target_device, the partition name) as text."""
    text = bytes(raw).decode(errors="replace")
    if key.startswith(OPTION_KEY_PREFIX) or key in _JSON_KEYS:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


__all__ = [
    "DIM_NAMES_KEY",
    "DIM_RANGES_KEY",
    "PARTITION_KEYS",
    "PARTITION_NAME_KEY",
    "PARTITION_OPS_KEY",
    "PartitionSpec",
    "TARGET_DEVICE_COMPILE_SPEC_KEY",
    "spec_value",
]
