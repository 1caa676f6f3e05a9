"""Spiking VGG-16 for ANN-to-SNN conversion (MST §4.3, Table 3; QCFS-paper layout).

Each conv is followed by BN and a QCFS site (activation + Random Spike Mask). RSM masks the input
spikes of every convolution (MST: "a masking ratio to each convolution layer"), so the sites that
feed the classifier's linear layers have no mask. Pooling is average
pooling (linear, so it converts exactly) placed *before* the activation of the last conv of each
stage, so that every conv after the first receives binary spikes. Pools use ``ceil_mode`` so that
28-px MNIST still reduces cleanly (28→14→7→4→2→1). Classifier: two hidden linears with QCFS sites,
4096·``width`` wide, for inputs up to 64 px (a 1×1 map of 512·width features); ImageNet-style
(7×7 adaptive pool) above.
"""
from __future__ import annotations

import torch
from torch import nn

from spikemask.models._registry import register_model
from spikemask.models.base import SpikingClassifier
from spikemask.models.layers import init_weights, qcfs_site, scaled
from spikemask.snn.functional import seq_forward

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(SpikingClassifier):
    """VGG with conv–BN–(pool)–site stages and a 3-layer classifier; input ``[T, B, C, H, W]``."""

    def __init__(self, cfg: list, num_classes: int, in_channels: int, img_size: int, width: float,
                 levels: int, threshold: float, mask_ratio: float) -> None:
        super().__init__(num_classes, in_channels, img_size)
        layers: list[nn.Module] = []
        cin = in_channels
        last_conv = max(i for i, v in enumerate(cfg) if v != "M")
        for i, v in enumerate(cfg):
            if v == "M":
                continue
            cout = scaled(v, width)
            layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)]
            if i + 1 < len(cfg) and cfg[i + 1] == "M":
                layers.append(nn.AvgPool2d(2, 2, ceil_mode=True))
            layers.append(qcfs_site(levels, threshold, None if i == last_conv else mask_ratio))
            cin = cout
        self.features = nn.Sequential(*layers)
        spatial = 1 if img_size <= 64 else 7
        self.pool = nn.AdaptiveAvgPool2d(spatial)
        hidden = scaled(4096, width)
        self.classifier = nn.Sequential(
            nn.Linear(cin * spatial * spatial, hidden), qcfs_site(levels, threshold, None),
            nn.Linear(hidden, hidden), qcfs_site(levels, threshold, None),
            nn.Linear(hidden, num_classes))
        init_weights(self)

    def mask_placements(self) -> dict[str, list[str]]:
        """Named RSM placements (MST Table 3): ``'conv'`` masks the input spikes of every conv after the
        first ("a masking ratio to each convolution layer"); ``'block'`` only the input of each stage
        after the first (the sites that follow a pooling layer), one mask per stage ("applied to ... each block")."""
        names = [n for n, _ in self.features.named_children()]
        layers = list(self.features)
        stage_inputs = [f"features.{names[i + 1]}.mask" for i, m in enumerate(layers[:-1])
                        if isinstance(m, nn.AvgPool2d) and getattr(layers[i + 1], "mask", None) is not None]
        return {"conv": ["*"], "block": stage_inputs}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` → pooled features ``[T, B, D]`` (T folded into the batch)."""
        return seq_forward(lambda z: torch.flatten(self.pool(self.features(z)), 1), x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``[T, B, D]`` → logits ``[T, B, num_classes]`` (the classifier has spike sites too)."""
        return seq_forward(self.classifier, features)


@register_model
def vgg16(*, num_classes: int = 10, in_channels: int = 3, img_size: int = 32, width: float = 1.0,
          levels: int = 16, threshold: float = 2.0, mask_ratio: float = 0.0) -> VGG:
    """VGG-16 (13 conv + 3 linear layers); ``width`` scales every layer's channel count."""
    return VGG(VGG16_CFG, num_classes, in_channels, img_size, width, levels, threshold, mask_ratio)
