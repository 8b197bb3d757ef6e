"""The paper's U-Net: shapes, widths, parameter count."""
import pytest
import torch

from radseg.training.click.model import ClickUNet, count_parameters


def test_shapes_and_width():
    m = ClickUNet(3, 4).eval()
    with torch.no_grad():
        for shape in ((2, 3, 32, 32), (1, 3, 48, 64)):
            assert m(torch.zeros(shape)).shape == (shape[0], 1) + shape[2:]
    assert [b[0].out_channels for b in m.down] == [4, 8, 16, 32] and m.bottleneck[0].out_channels == 64


def test_parameter_count_of_the_default_width():
    # 4 down + bottleneck + 4 up blocks of 2x(conv3x3 no bias + BN), 4 transposed convs, 1x1 head; widths 16..256.
    w = [16, 32, 64, 128, 256]
    conv = lambda i, o: 9 * i * o + 2 * o  # conv + BN affine
    down = conv(3, 16) + conv(16, 16) + sum(conv(w[i - 1], w[i]) + conv(w[i], w[i]) for i in range(1, 5))
    up = sum(4 * w[i + 1] * w[i] + w[i] + conv(2 * w[i], w[i]) + conv(w[i], w[i]) for i in range(4))
    assert count_parameters(ClickUNet(3, 16)) == down + up + 16 + 1


def test_bad_width():
    with pytest.raises(ValueError, match="width"):
        ClickUNet(3, 0)
