"""The click model's network: the U-Net of seed 003 (Sakinis et al., Fig. 2).

Four down blocks, a bottleneck and four up blocks; every block is two (3x3 conv, BatchNorm, ReLU) with padding;
2x2 max pooling down, 2x2 stride-2 transposed convolutions up, skip connections by concatenation; a 1x1 conv to one
logit channel. Channel widths are width * (1, 2, 4, 8, 16).

Input [N, 3, H, W] float32 (image, foreground guidance, background guidance), H and W multiples of 16;
output [N, 1, H, W] logits (foreground where > 0).
"""
from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class ClickUNet(nn.Module):
    """U-Net with `width` channels in the first block (the paper's architecture; width is ours to choose)."""

    depth = 4

    def __init__(self, in_channels: int = 3, width: int = 16, freeze_bn: bool = False):
        super().__init__()
        if not (isinstance(width, int) and width >= 1):
            raise ValueError(f"width must be a positive integer, got {width!r}")
        ch = [width * 2 ** i for i in range(self.depth + 1)]
        self.in_channels, self.width = in_channels, width
        #: Keep every BatchNorm in eval mode (running statistics, no updates) even in train(): for fine-tuning a
        #: network whose statistics were folded away (`radseg.training.click.from_onnx`) or with tiny batches.
        self.freeze_bn = bool(freeze_bn)
        self.down = nn.ModuleList([_block(in_channels if i == 0 else ch[i - 1], ch[i]) for i in range(self.depth)])
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _block(ch[-2], ch[-1])
        self.upconv = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2)
                                     for i in reversed(range(self.depth))])
        self.up = nn.ModuleList([_block(2 * ch[i], ch[i]) for i in reversed(range(self.depth))])
        self.head = nn.Conv2d(ch[0], 1, 1)

    def train(self, mode: bool = True) -> "ClickUNet":
        super().train(mode)
        if mode and self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(skips)):
            x = block(torch.cat([upconv(x), skip], dim=1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
