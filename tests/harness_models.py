"""Model factories for `python -m executorch_tensorrt export package.module:factory` tests."""

import torch


def tanh_mlp():
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))
    return model, (torch.randn(2, 6),)
