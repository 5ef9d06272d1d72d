"""`resnet_cnn`: a small ResNet-style CNN (stem, two basic blocks, avgpool, linear head).

TorchScript features/traps exercised:
* BatchNorm must be exported in eval mode (pitfall A4): the factory gives every
  BatchNorm random running statistics and affine parameters, so a graph that used
  batch statistics (training mode) instead of the running ones gives clearly wrong
  outputs. `torch.jit.freeze` folds conv+BN into one conv, which changes rounding.
* Residual connections with a strided 1x1 downsample and `AdaptiveAvgPool2d`, so the
  graph must work for any batch size and any spatial size (H, W), e.g. 24 and 40 as
  well as the example 32. Tracing records `x.size()`-free ops only, so it generalises
  here just like scripting.
"""

from __future__ import annotations

import torch
from torch import nn

from tsrt.spec import TensorSpec, Tolerance
from tsrt.zoo.entry import ZooEntry


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.downsample = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.downsample(x))


class ResNetCNN(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
        )
        self.block1 = BasicBlock(8, 8, stride=1)
        self.block2 = BasicBlock(8, 16, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stem(image)
        x = self.block1(x)
        x = self.block2(x)
        x = torch.flatten(self.pool(x), 1)
        return self.head(x)


def make_resnet_cnn() -> ResNetCNN:
    model = ResNetCNN()
    # Non-trivial BatchNorm state: with the default running stats (mean 0, var 1) and
    # affine (1, 0), eval-mode BN is nearly the identity and a training-mode BN (batch
    # statistics) could go unnoticed. Random values make the two clearly different.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return model


ENTRY = ZooEntry(
    name="resnet_cnn",
    factory=make_resnet_cnn,
    inputs=(TensorSpec("image", (2, 3, 32, 32), dynamic_dims=(0, 2, 3)),),
    modes=("trace", "script"),
    # Looser than the default: freezing folds BatchNorm into the conv weights and the
    # conv kernels may pick a different algorithm/accumulation order, so float32
    # results differ from eager by more than the default 1e-5 after 5 conv layers.
    tolerance=Tolerance(atol=1e-4, rtol=1e-3),
    description="Conv-BN-ReLU stem, two residual basic blocks (one strided with a 1x1 "
                "downsample), adaptive avgpool, linear head to 10 classes.",
)
