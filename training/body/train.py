"""Train the body network on an accepted set (seed 000): a small U-Net on whole slices at the working size.

    python -m radseg.training.body.train --dataset runs/body_accepted --out runs/body1 --minutes 30

Every accepted (slice, mask) pair goes through the SDK's own preprocessing (`radseg.body.preprocess.make_input`:
per-slice percentile normalisation, resampling into the square working frame) once; training then augments batches
on the fly: random flips, rotation (+/- 25 deg), scale (0.7..1.3), shift, a field of view cut at a random edge
(the body truncated by the scanner's field of view), a couch below the body (`add_distractors`), a dark ring under
the skin (`add_dark_rings`), gamma, contrast, noise and blur. Batches draw CT and MR slices in equal shares; a
slice with several accepted masks (the rater kept more than one variant) gives each in turn. Loss: binary cross-entropy + soft Dice.
Checkpoints (``last.pt``, ``final.pt``) hold the model and the manifest, so `radseg export` reads them.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from radseg.annotate.store import read_accepted
from radseg.body.preprocess import make_input
from radseg.crop import resample_to_crop
from radseg.manifest import ModelManifest, default_body_manifest

from ..click.model import ClickUNet, count_parameters


@dataclass
class BodyTrainConfig:
    dataset: str
    out: str
    size: int = 256
    width: int = 8
    batch: int = 12
    minutes: float = 30.0
    lr: float = 3e-3
    threads: int = 2
    seed: int = 0
    resume: str = ""
    ckpt_every_min: float = 3.0


def load_set(dataset, manifest: ModelManifest) -> dict:
    """The accepted pairs in the working frame: x float32 [N, S, S], y float32 [N, S, S] (0/1), group int [N] (one
    id per source slice), and per pair its split, source and modality."""
    xs, ys, groups, splits, sources, modalities, seen = [], [], [], [], [], [], {}
    for image, mask, meta in read_accepted(dataset):
        x, box = make_input(image, meta.get("modality", "CT"), meta.get("spacing", (1.0, 1.0)), manifest)
        y = resample_to_crop(mask.astype(np.float32), box) > 0.5
        xs.append(x)
        ys.append(y.astype(np.float32))
        groups.append(seen.setdefault(meta["item"], len(seen)))
        splits.append(meta.get("split", "train"))
        sources.append(meta.get("source", ""))
        modalities.append(str(meta.get("modality", "CT")).upper())
    if not xs:
        raise ValueError(f"{dataset}: no accepted pairs to train on")
    return {"x": np.stack(xs), "y": np.stack(ys), "group": np.array(groups), "split": splits, "source": sources,
            "modality": modalities}


def augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random geometry and intensity for a batch x, y [B, 1, S, S] (y 0/1); returns new tensors."""
    b, _, s, _ = x.shape

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    ang = u(-25, 25) * math.pi / 180
    scale = u(0.7, 1.3)
    flip_c = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    flip_r = torch.where(torch.rand(b, generator=gen) < 0.3, -1.0, 1.0)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos * flip_c, -sin, u(-0.15, 0.15)], -1),
                         torch.stack([sin * flip_c * flip_r, cos * flip_r, u(-0.15, 0.15)], -1)], 1)
    grid = F.affine_grid(theta, (b, 1, s, s), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = (F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.5).float()
    # A field of view that cuts the body: beyond a random line near one edge the image is empty (and not body).
    cut = torch.rand(b, generator=gen) < 0.25
    if cut.any():
        pos = (u(0.55, 0.9) * s).long()
        side = torch.randint(0, 4, (b,), generator=gen)
        idx = torch.arange(s)
        for i in torch.nonzero(cut).flatten().tolist():
            keep = idx < pos[i]
            m = keep[:, None].expand(s, s) if side[i] < 2 else keep[None, :].expand(s, s)
            if side[i] % 2:
                m = m.flip(0 if side[i] < 2 else 1)
            x[i, 0] *= m
            y[i, 0] *= m
    add_distractors(x, y, gen)
    add_dark_rings(x, y, gen)
    gamma = torch.exp(u(-0.5, 0.5))[:, None, None, None]
    x = x.clamp(0, 1) ** gamma
    x = x * u(0.7, 1.2)[:, None, None, None] + u(-0.05, 0.05)[:, None, None, None]
    noise = u(0, 0.05)[:, None, None, None]
    x = x + noise * torch.randn(x.shape, generator=gen)
    blur = torch.rand(b, generator=gen) < 0.2
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0]) / 4
        k2 = (k[:, None] * k[None, :])[None, None]
        x[blur] = F.conv2d(x[blur], k2, padding=1)
    return x, y


def add_distractors(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, share: float = 0.3) -> None:
    """In place: on a `share` of the batch, draw a couch -- a gently curved band 1-4 % of the frame thick, solid or a
    shell (bright rims, dark core) -- below the body, across an air gap of 4-12 % of the frame, only where y is 0, so
    the mask is unchanged. The gap matters: a bright band hugging the body looks like skin or a scalp over a dark
    skull, which is body (a first run that drew bands anywhere learned to cut the scalp off)."""
    b, _, s, _ = x.shape
    cols = torch.arange(s, dtype=torch.float32)
    rows = torch.arange(s, dtype=torch.float32)[:, None]
    for i in range(b):
        body_rows = torch.nonzero(y[i, 0].any(1)).flatten()
        if float(torch.rand(1, generator=gen)) >= share or not len(body_rows):
            continue
        gap = (0.04 + 0.08 * float(torch.rand(1, generator=gen))) * s
        thick = 1.0 + float(torch.rand(1, generator=gen)) * 0.04 * s
        r0 = float(body_rows[-1]) + 1 + gap
        if r0 + thick >= s:
            continue
        bend = (float(torch.rand(1, generator=gen)) - 0.5) * 2.0 / s
        width = (0.5 + 0.5 * float(torch.rand(1, generator=gen))) * s
        c0 = float(torch.rand(1, generator=gen)) * (s - width)
        centre = rows - (r0 - bend * (cols - c0 - width / 2) ** 2)
        band = (centre >= 0) & (centre < thick) & (cols >= c0) & (cols < c0 + width)
        if float(torch.rand(1, generator=gen)) < 0.5 and thick > 4:  # a shell: bright rims, dark core
            band &= (centre < 1.5) | (centre >= thick - 1.5)
        value = 0.15 + 0.6 * float(torch.rand(1, generator=gen))
        paint = band & (y[i, 0] < 0.5)
        x[i, 0][paint] = torch.maximum(x[i, 0][paint], torch.tensor(value))


def add_dark_rings(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, share: float = 0.3) -> None:
    """In place: on a `share` of the batch, darken a ring inside the body a little below its edge (2-5 % of the
    frame deep, 1-3 % wide) while the mask stays: a bright skin or scalp over dark tissue -- fat-suppressed
    subcutaneous fat in MR, the skull in T1 -- is still body, though in CT such a bright rim over air is not."""
    b, _, s, _ = x.shape

    def erode(m, r):
        return -F.max_pool2d(-m, 2 * r + 1, stride=1, padding=r)

    for i in range(b):
        if float(torch.rand(1, generator=gen)) >= share or not bool(y[i].any()):
            continue
        d1 = max(1, int((0.02 + 0.03 * float(torch.rand(1, generator=gen))) * s))
        d2 = d1 + max(1, int((0.01 + 0.02 * float(torch.rand(1, generator=gen))) * s))
        outer, inner = erode(y[i:i + 1], d1), erode(y[i:i + 1], d2)
        ring = (outer - inner)[0, 0] > 0.5
        x[i, 0][ring] *= 0.3 * float(torch.rand(1, generator=gen))


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, y)
    p = torch.sigmoid(logits)
    inter = (p * y).sum((1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum((1, 2, 3)) + y.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


def dice_scores(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 16):
            p = model(torch.from_numpy(x[i:i + 16, None])) > 0
            t = torch.from_numpy(y[i:i + 16, None]) > 0.5
            inter = (p & t).sum((1, 2, 3)).float()
            out.append(((2 * inter + 1e-6) / (p.sum((1, 2, 3)) + t.sum((1, 2, 3)) + 1e-6)).numpy())
    model.train()
    return np.concatenate(out) if out else np.zeros(0)


def save(path: pathlib.Path, model, manifest: ModelManifest, **state) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "manifest": manifest.to_dict(), **state}, tmp)
    tmp.replace(path)


def train(cfg: BodyTrainConfig, log=print) -> pathlib.Path:
    """Train for cfg.minutes of wall time (or resume from cfg.resume); returns the path of ``final.pt``."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = pathlib.Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = default_body_manifest(cfg.size, model={
        "name": "ClickUNet", "width": cfg.width, "depth": 4,
        "description": "U-Net, 4 down, bottleneck, 4 up; one input channel (the slice)"})
    data = load_set(cfg.dataset, manifest)
    train_idx = np.array([i for i, s in enumerate(data["split"]) if s == "train"])
    val_idx = np.array([i for i, s in enumerate(data["split"]) if s != "train"], dtype=int)
    groups = data["group"][train_idx]
    uniq = np.unique(groups)
    # CT and MR slices in equal shares (CT slices outnumber MR ones in the accepted set), then slices uniformly
    modality_of = {g: data["modality"][i] for g, i in zip(groups, train_idx)}
    by_modality = {m: np.array([g for g in uniq if modality_of[g] == m]) for m in sorted(set(modality_of.values()))}
    log(f"{len(train_idx)} training pairs on {len(uniq)} slices, {len(val_idx)} validation pairs")
    model = ClickUNet(in_channels=1, width=cfg.width)
    step, elapsed = 0, 0.0
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    if cfg.resume:
        ck = torch.load(cfg.resume, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        if "optimizer" in ck:
            opt.load_state_dict(ck["optimizer"])
        step, elapsed = int(ck.get("step", 0)), float(ck.get("elapsed", 0.0))
    gen = torch.Generator().manual_seed(cfg.seed + step)
    rng = np.random.default_rng(cfg.seed + step)
    x_all, y_all = torch.from_numpy(data["x"][:, None]), torch.from_numpy(data["y"][:, None])
    budget = cfg.minutes * 60
    t0, last_ck, losses = time.time() - elapsed, time.time(), []
    model.train()
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        # slices uniformly, then one of each slice's accepted masks
        mods = list(by_modality)
        pick = [rng.choice(by_modality[mods[rng.integers(len(mods))]]) for _ in range(cfg.batch)]
        idx = [rng.choice(train_idx[groups == g]) for g in pick]
        xb, yb = augment(x_all[idx].clone(), y_all[idx].clone(), gen)
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 25 == 0:
            msg = f"step {step} {time.time() - t0:.0f}s loss {np.mean(losses[-25:]):.4f}"
            if step % 100 == 0 and len(val_idx):
                d = dice_scores(model, data["x"][val_idx], data["y"][val_idx])
                msg += f" val dice mean {d.mean():.4f} min {d.min():.4f}"
            log(msg)
        if time.time() - last_ck > cfg.ckpt_every_min * 60:
            save(out / "last.pt", model, manifest, optimizer=opt.state_dict(), step=step, elapsed=time.time() - t0)
            last_ck = time.time()
    params = count_parameters(model)
    manifest = manifest.replace(
        model={**manifest.model, "parameters": params},
        training={"data": sorted(set(data["source"][i] for i in train_idx)), "config": asdict(cfg), "steps": step,
                  "wall_minutes": round((time.time() - t0) / 60, 1), "pairs": int(len(train_idx)),
                  "slices": int(len(uniq)),
                  "command": f"python -m radseg.training.body.train --dataset {cfg.dataset} --out {cfg.out} "
                             f"--minutes {cfg.minutes:g}"})
    save(out / "last.pt", model, manifest, optimizer=opt.state_dict(), step=step, elapsed=time.time() - t0)
    save(out / "final.pt", model.eval(), manifest, step=step)
    return out / "final.pt"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for f in BodyTrainConfig.__dataclass_fields__.values():
        flag = "--" + f.name.replace("_", "-")
        if f.name in ("dataset", "out"):
            p.add_argument(flag, required=True)
        else:
            p.add_argument(flag, type=type(f.default), default=f.default)
    a = p.parse_args(argv)
    cfg = BodyTrainConfig(**{k.replace("-", "_"): v for k, v in vars(a).items()})
    print(train(cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
