"""Model factories for `python -m executorch_tensorrt export package.module:factory` tests."""

import torch


def tanh_mlp():
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))
    return model, (torch.randn(2, 6),)


class _Doubler(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x) * 2


def unbounded_batch():
    """A dynamic batch declared with no upper bound (TensorRT needs one)."""
    from torch.export import Dim

    return _Doubler(), (torch.randn(4, 8),), ({0: Dim("batch")},)


class _Identity(torch.nn.Module):
    def forward(self, x):
        return x


def identity():
    """Nothing to compute: nothing to delegate."""
    return _Identity(), (torch.randn(4, 8),)
