"""Spiking ResNet-18 for ANN-to-SNN conversion (MST §4.3, Table 3).

QCFS (→ IF after conversion) follows every conv+BN; each activation whose spikes reach a conv carries
a Random Spike Mask, so the input spikes of every conv after the first are maskable (the last block's
output feeds only the pooled classifier and has no mask). CIFAR-style stem (3×3 conv, no pooling)
for inputs up to 64 px; ImageNet-style stem (7×7/2 conv, 3×3/2 max-pool) above. The stem max-pool
sits before the activation: QCFS is monotone, so ``maxpool(qcfs(x)) == qcfs(maxpool(x))`` in the ANN,
and after conversion every conv then receives binary spikes.
"""
from __future__ import annotations

import torch
from torch import nn

from spikemask.models._registry import register_model
from spikemask.models.base import SpikingClassifier
from spikemask.models.layers import init_weights, qcfs_site, scaled
from spikemask.snn.functional import seq_forward


class BasicBlock(nn.Module):
    """conv3×3-BN-site, conv3×3-BN (+ shortcut) then site. Input/output ``[N, C, H, W]``."""

    def __init__(self, cin: int, cout: int, stride: int, levels: int, threshold: float, mask_ratio: float,
                 out_mask_ratio: float | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = qcfs_site(levels, threshold, mask_ratio)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act2 = qcfs_site(levels, threshold, out_mask_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(SpikingClassifier):
    """ResNet with basic blocks; ``depths`` blocks per stage, base width 64·``width``; input ``[T, B, C, H, W]``."""

    def __init__(self, depths: list[int], num_classes: int, in_channels: int, img_size: int,
                 width: float, levels: int, threshold: float, mask_ratio: float) -> None:
        super().__init__(num_classes, in_channels, img_size)
        c = [scaled(64 * 2 ** i, width) for i in range(4)]
        if img_size <= 64:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c[0]),
                                      qcfs_site(levels, threshold, mask_ratio))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c[0], 7, 2, 3, bias=False), nn.BatchNorm2d(c[0]),
                                      nn.MaxPool2d(3, 2, 1), qcfs_site(levels, threshold, mask_ratio))
        blocks, cin = [], c[0]
        for i, (cout, n) in enumerate(zip(c, depths)):
            for j in range(n):
                last = i == len(depths) - 1 and j == n - 1
                blocks.append(BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1, levels, threshold, mask_ratio,
                                         None if last else mask_ratio))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def mask_placements(self) -> dict[str, list[str]]:
        """Named RSM placements (MST Table 3): ``'conv'`` masks the input spikes of every conv after the
        first ("a masking ratio to each convolution layer"); ``'block'`` only each residual block's
        input — the stem's site and every block's output site, one mask per block ("applied to ... each block")."""
        stem = f"stem.{len(self.stem) - 1}.mask"
        return {"conv": ["*"], "block": [stem] + [f"layers.{i}.act2.mask" for i, b in enumerate(self.layers)
                                                 if b.act2.mask is not None]}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` → pooled features ``[T, B, D]`` (T folded into the batch)."""
        return seq_forward(lambda z: torch.flatten(self.pool(self.layers(self.stem(z))), 1), x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``[T, B, D]`` → logits ``[T, B, num_classes]``."""
        return self.fc(features)


@register_model
def resnet18(*, num_classes: int = 10, in_channels: int = 3, img_size: int = 32, width: float = 1.0,
             levels: int = 16, threshold: float = 2.0, mask_ratio: float = 0.0) -> ResNet:
    """ResNet-18 (11.2 M parameters at width 1, 10 classes, CIFAR stem)."""
    return ResNet([2, 2, 2, 2], num_classes, in_channels, img_size, width, levels, threshold, mask_ratio)
