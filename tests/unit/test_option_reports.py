"""Options that match nothing say so (partitioner/reports.py): an exclude_ops entry no op
of the program matches, naming what the program computes it as and the name that would
work; a min_block_size above every region TensorRT takes; a verify_input_ranges name
the program does not have. One warning each."""

from __future__ import annotations


import torch

from harness import logged_warnings, lower

F = torch.nn.functional


class Attention(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.qkv = torch.nn.Linear(16, 48)

    def forward(self, x):
        q, k, v = self.qkv(x).view(1, 8, 3, 2, 8).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v).sum(1)


_X = (torch.randn(1, 8, 16),)


def test_excluding_softmax_of_an_sdpa_warns_with_the_name_that_works():
    with logged_warnings() as logged:
        low = lower(Attention(), _X, exclude_ops=["softmax"])
    about = [m for m in logged if "exclude_ops" in m]
    assert len(about) == 1, logged
    (msg,) = about
    assert "'aten.softmax'" in msg and "excludes nothing" in msg
    assert "aten.scaled_dot_product_attention" in msg and "exclude_ops=['aten._softmax']" in msg
    assert "aten._softmax.default" in low.delegated_ops["forward"]  # it really excluded nothing
    # the name the warning gives works, and draws no warning
    with logged_warnings() as logged:
        low = lower(Attention(), _X, exclude_ops=["aten._softmax"])
    assert not [m for m in logged if "exclude_ops" in m], logged
    assert "aten._softmax.default" in low.remaining_ops()
    assert "aten._softmax.default" not in low.delegated_ops["forward"]


def test_excluding_an_op_the_program_lacks_warns_once():
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh())
    with logged_warnings() as logged:
        lower(mlp, (torch.randn(2, 8),), exclude_ops=["relu", "tanh"])
    about = [m for m in logged if "exclude_ops" in m]
    assert len(about) == 1 and "'aten.relu'" in about[0] and "holds no op of that name" in about[0], logged


def test_min_block_size_above_every_region_warns_naming_the_value():
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    with logged_warnings() as logged:
        low = lower(mlp, (torch.randn(2, 8),), min_block_size=50)
    assert low.delegates == []
    about = [m for m in logged if "min_block_size" in m]
    assert len(about) == 1, logged
    assert "min_block_size=50" in about[0] and "holds 3 compute op(s)" in about[0]


def test_verify_range_of_an_unknown_input_warns():
    class Scale(torch.nn.Module):
        def forward(self, x):
            return x * 2

    with logged_warnings() as logged:
        lower(Scale(), (torch.randn(4),), verify_input_ranges={"tokens": (0, 9)})
    about = [m for m in logged if "verify_input_ranges" in m]
    assert len(about) == 1 and "'tokens'" in about[0] and "'x'" in about[0], logged
