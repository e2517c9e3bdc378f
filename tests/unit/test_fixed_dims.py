"""A dynamic dim ExecuTorch fixes after export: to_edge's IR check takes len() of the
first output of an op returning a list of tensors (chunk, split), and torch records that
as a guard fixing a dim that leads it (here the batch) to the example's size. The
partition's signature then has that size while the exporter still writes the dim as a
symbol; lowering used to fail ("TensorRT cannot lower partition ... ExecuTorch has no
kernel for its ops as they are"). Now the engine takes the fixed size, with one warning
saying so and how to keep the dim dynamic (checked to work below).
"""

from __future__ import annotations

import torch
from executorch.exir import EdgeCompileConfig
from torch.export import Dim

from harness import logged_warnings, lower


class GatedMLP(torch.nn.Module):
    """Linear, chunk into value and gate, Linear: a gated MLP block."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.up, self.down = torch.nn.Linear(16, 64), torch.nn.Linear(32, 8)

    def forward(self, x):
        value, gate = self.up(x).chunk(2, dim=1)
        return self.down(value * torch.sigmoid(gate))


def _lower(compile_config=None):
    x = torch.randn(4, 16)
    with logged_warnings() as warnings:
        lowered = lower(
            GatedMLP(), (x,), dynamic_shapes=({0: Dim("batch", min=1, max=8)},), compile_config=compile_config
        )
    (delegate,) = lowered.delegates
    batch = delegate.blob.info.inputs[0].dims[0]
    return lowered, warnings, (batch.min, batch.max)


def test_a_dim_to_edge_fixes_lowers_at_that_size_with_one_warning():
    lowered, warnings, batch = _lower()
    assert lowered.remaining_ops() == []
    assert batch == (4, 4)
    fixed = [w for w in warnings if "was fixed to 4 after export" in w]
    assert len(fixed) == 1, warnings
    assert "'batch' (declared 1..8)" in fixed[0]
    assert "_check_ir_validity=False" in fixed[0]
    (part,) = lowered.partitions
    assert part.verified


def test_the_warnings_way_keeps_the_dim_dynamic():
    lowered, warnings, batch = _lower(EdgeCompileConfig(_check_ir_validity=False))
    assert lowered.remaining_ops() == []
    assert batch == (1, 8)
    assert not [w for w in warnings if "after export" in w]
    (part,) = lowered.partitions
    assert part.verified
