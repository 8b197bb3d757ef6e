"""First checks of the exact EDT against scipy (the full suite grows beside it)."""
import numpy as np
import pytest
from scipy import ndimage

import radseg


@pytest.mark.parametrize("shape,spacing", [((40, 37), None), ((40, 37), (0.7, 1.9)), ((9, 21, 17), (3.0, 0.8, 0.8))])
def test_matches_scipy_on_random_masks(shape, spacing):
    rng = np.random.default_rng(0)
    mask = rng.random(shape) > 0.15
    ours = radseg.geometry.distance_transform(mask, spacing=spacing)
    ref = ndimage.distance_transform_edt(mask, sampling=spacing)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
