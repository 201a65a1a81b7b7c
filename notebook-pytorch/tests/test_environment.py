"""The PyTorch lab's environment: torch runs a forward/backward pass on this machine."""

import flipkart_torch
import torch


def test_package_imports() -> None:
    assert flipkart_torch.__doc__


def test_torch_forward_backward_on_cpu() -> None:
    layer = torch.nn.Linear(4, 2)
    loss = layer(torch.ones(3, 4)).sum()
    loss.backward()
    assert layer.weight.grad is not None
    assert layer.weight.grad.shape == (2, 4)
