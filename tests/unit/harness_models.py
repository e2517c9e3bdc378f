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


def two_outputs():
    """Two outputs of different magnitudes (the summary gives each its own scale)."""

    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            h = self.fc(x)
            return h.tanh(), h * 100

    return Two().eval(), (torch.randn(4, 8),)
