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


def resolve_precision(name: str) -> str:
    """"bf16" or "fp32" for a --precision value: "auto" is bf16 where the CPU runs bfloat16 natively (AVX-512
    BF16 or AMX: oneDNN's check), else fp32. ValueError for another name."""
    if name not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {name!r}")
    if name != "auto":
        return name
    try:
        return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
    except (AttributeError, RuntimeError):
        return "fp32"


def autocast(precision: str):
    """The forward passes' context: bfloat16 autocast on the CPU for "bf16" (weights, gradients and the optimiser
    stay float32; measured 2.1x faster no-grad passes and 1.6x faster updates than fp32 on one AVX-512 BF16
    thread), a no-op for "fp32"."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def optimise(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
             bce_weight: float, precision: str = "fp32") -> float:
    """One update on the batch (x [N, C, S, S], y [N, 1, S, S] in {0, 1}); returns the loss. The loss is taken in
    float32 whatever the forward pass's `precision`."""
    from .click.train import soft_dice_loss

    with autocast(precision):
        logits = model(x)
    logits = logits.float()
    loss = soft_dice_loss(logits, y)
    if bce_weight:
        loss = loss + bce_weight * F.binary_cross_entropy_with_logits(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())
