"""The propagation model's online augmentation (seed 001, section 2.3.2), on batches of S x S crops in torch.

* Image, prior and target together: rotation +/- 180 deg, scale +/- 20 %, left/right and up/down flips. So heavy
  that the image alone no longer says which structure is wanted: the network must lean on the prior.
* Image alone: contrast and brightness.
* Prior alone: the paper's best perturbation (rotation +/- 1 deg, scale +/- 10 %, about the crop centre), plus the
  errors a real prior carries in use: eroded or dilated by a pixel or two, shifted by a few pixels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _affine(n: int, rot_deg: np.ndarray, scale: np.ndarray, flip_r: np.ndarray, flip_c: np.ndarray,
            shift: np.ndarray | None = None) -> torch.Tensor:
    """[n, 2, 3] sampling matrices for F.affine_grid (output -> input coordinates, normalised [-1, 1])."""
    th = np.radians(rot_deg)
    cos, sin = np.cos(th) / scale, np.sin(th) / scale
    fx, fy = np.where(flip_c, -1.0, 1.0), np.where(flip_r, -1.0, 1.0)  # rotation @ scale @ diag(fx, fy)
    m = np.zeros((n, 2, 3), np.float32)
    m[:, 0, 0], m[:, 0, 1] = cos * fx, -sin * fy
    m[:, 1, 0], m[:, 1, 1] = sin * fx, cos * fy
    if shift is not None:
        m[:, :, 2] = shift
    return torch.from_numpy(m)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator, heavy: bool = True,
            prior_rot_deg: float = 1.0, prior_scale: float = 0.10, prior_morph_p: float = 0.35,
            prior_shift_px: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch: x [B, 2, S, S] (image, prior), y [B, 1, S, S] target in {0, 1}; returns new tensors."""
    b, _, s, _ = x.shape
    if heavy:
        theta = _affine(b, rng.uniform(-180, 180, b), rng.uniform(0.8, 1.2, b), rng.random(b) < 0.5,
                        rng.random(b) < 0.5)
        both = _warp(torch.cat([x, y], 1), theta)
        x, y = both[:, :2].contiguous(), (both[:, 2:] > 0.5).float()
        contrast = torch.from_numpy(rng.uniform(0.7, 1.3, (b, 1, 1)).astype(np.float32))
        bright = torch.from_numpy(rng.uniform(-0.1, 0.1, (b, 1, 1)).astype(np.float32))
        img = x[:, 0]
        mean = img.mean(dim=(1, 2), keepdim=True)
        x = torch.stack([(img - mean) * contrast + mean + bright, x[:, 1]], 1)
    prior = x[:, 1:2]
    shift = rng.uniform(-1, 1, (b, 2)) * (2.0 * prior_shift_px / s) * (rng.random((b, 1)) < 0.3)
    theta = _affine(b, rng.uniform(-prior_rot_deg, prior_rot_deg, b), rng.uniform(1 - prior_scale, 1 + prior_scale, b),
                    np.zeros(b, bool), np.zeros(b, bool), shift.astype(np.float32))
    prior = _warp(prior, theta)
    morph = rng.random(b)
    k = int(rng.integers(1, 3)) * 2 + 1  # a 3x3 or 5x5 neighbourhood: one or two pixels
    grow = F.max_pool2d(prior, k, stride=1, padding=k // 2)
    shrink = -F.max_pool2d(-prior, k, stride=1, padding=k // 2)
    sel_grow = torch.from_numpy(morph < prior_morph_p / 2).view(b, 1, 1, 1)
    sel_shrink = torch.from_numpy((morph >= prior_morph_p / 2) & (morph < prior_morph_p)).view(b, 1, 1, 1)
    prior = torch.where(sel_grow, grow, torch.where(sel_shrink, shrink, prior))
    return torch.cat([x[:, :1], prior.clamp(0, 1)], 1), y

