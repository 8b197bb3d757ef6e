"""The pieces of one training step that every radseg trainer shares: the learning-rate schedule and the update.

Both trainers (click, propagation) use a linear warm-up then cosine decay over the run (by steps, or by the
fraction of the wall-clock budget used), and the loss soft Dice + `bce_weight` x BCE on [N, 1, S, S] logits.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def set_cosine_lr(opt: torch.optim.Optimizer, peak: float, step: int, frac: float, warmup_steps: int) -> float:
    """Set every parameter group's lr to peak * warm-up(step) * cosine(frac), frac in [0, 1]; returns the lr."""
    lr = peak * min(1.0, (step + 1) / warmup_steps) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def optimise(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
             bce_weight: float) -> float:
    """One update on the batch (x [N, C, S, S], y [N, 1, S, S] in {0, 1}); returns the loss."""
    from .click.train import soft_dice_loss

    logits = model(x)
    loss = soft_dice_loss(logits, y)
    if bce_weight:
        loss = loss + bce_weight * F.binary_cross_entropy_with_logits(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())
