"""Training of the propagation model (seed 001): segment slice t from the mask of slice t +/- 1..2.

Each sample: a case of `VolumeBank` (structure, slice t, offset d), its prior (the true mask of slice t + d, or for
a share of the batch the network's own prediction of slice t + d from slice t + 2d, so that it learns to recover
from its own drift), a box around the prior as the SDK draws it (``radseg.propagation.preprocess.prior_box``,
with its margin and centre jittered), the SDK's own crop of slice and prior, then the heavy augmentation of
`augment`. Loss: soft Dice + BCE. Checkpoints (every few minutes, and at the end) hold everything to resume;
their format is the click trainer's, so `radseg export` takes them as they are.
"""
from __future__ import annotations

import dataclasses
import pathlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from radseg.crop import CropBox, logits_to_mask, resample_to_crop
from radseg.manifest import ModelManifest, default_propagation_manifest
from radseg.metrics import dice
from radseg.propagation.preprocess import crop_pair, make_inputs, prior_box

from ..click.model import ClickUNet, count_parameters
from ..click.train import load_checkpoint, predict_logits, save_checkpoint
from ..loop import optimise, set_cosine_lr
from .augment import augment
from .data import VolumeBank

#: MSD hippocampus files with a number below this train; the others are for evaluation.
HIPPOCAMPUS_TRAIN_BELOW = 200


@dataclass
class PropagationTrainConfig:
    data: str = "../shared/data"
    out: str = "runs/propagation"
    minutes: float = 60.0  # wall-clock budget, validation included, summed over resumes
    steps: int | None = None
    size: int = 96
    width: int = 16
    batch: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    bce_weight: float = 0.5
    self_prior_share: float = 0.25  # share of priors that are the network's own prediction of the neighbour
    end_share: float = 0.2  # share of each batch drawn from the structures' end cases (see data.END_SLICES)
    val_per_class: int = 24
    val_every_min: float = 10.0
    ckpt_every_min: float = 4.0
    threads: int = 1
    seed: int = 4242
    resume: bool = False
    init: str | None = None
    log_every: int = 50
    datasets: tuple = ("btcv", "chaos", "hippocampus")


# ---- data --------------------------------------------------------------------------------------------------------
def build_banks(cfg: PropagationTrainConfig, manifest: ModelManifest, log=print) -> tuple[VolumeBank, VolumeBank]:
    """Training and validation banks: BTCV and CHAOS by the click model's patient split (CHAOS spleen never
    trained on), MSD hippocampus by file number."""
    from ..data import btcv, chaos, hippocampus, split

    train, val = VolumeBank(), VolumeBank()
    held = set(split.HELD_OUT_STRUCTURES)
    t0 = time.perf_counter()
    for mod, dataset in ((btcv, "btcv"), (chaos, "chaos"), (hippocampus, "hippocampus")):
        if dataset not in cfg.datasets:
            continue
        for case in mod.cases(cfg.data):
            if dataset == "hippocampus" and int(case.rsplit("_", 1)[1]) >= HIPPOCAMPUS_TRAIN_BELOW:
                continue
            vol = mod.load(cfg.data, case)
            if split.is_validation(dataset, case):
                val.add_volume(vol, manifest, keep_labels=[l for l in vol.label_names if (dataset, l) not in held])
            else:
                train.add_volume(vol, manifest, keep_labels=[l for l in vol.label_names if (dataset, l) not in held])
    train.finalize(), val.finalize()
    if len(train) == 0:
        raise ValueError(f"no training cases found under {cfg.data!r}; pass --data pointing at shared/data")
    log(f"data: {len(train.images)} training volumes / {len(train)} cases in {len(train.class_names)} classes; "
        f"{len(val.images)} validation volumes / {len(val)} cases; loaded in {time.perf_counter() - t0:.0f} s")
    return train, val


def jitter_box(box: CropBox, rng: np.random.Generator) -> CropBox:
    """The box moved by up to 10 % of its side: the structure is not always centred on its neighbour's box."""
    dr, dc = rng.uniform(-0.1, 0.1, 2)
    return dataclasses.replace(box, row0=box.row0 + dr * box.size_rows, col0=box.col0 + dc * box.size_cols)


def own_predictions(model, bank: VolumeBank, cases: np.ndarray, manifest: ModelManifest) -> dict:
    """{case position: the network's mask of slice t + d, predicted from the true mask of slice t + 2d}.

    Only for cases whose slice t + 2d exists and holds the structure; the prediction is pasted onto the image grid
    exactly as the SDK does, so the prior carries the errors a real propagation step makes.
    """
    picks, imgs, priors = [], [], []
    for i, (v, lab, t, d) in enumerate(cases):
        src = t + 2 * d
        if not 0 <= src < bank.labels[v].shape[0]:
            continue
        prior = bank.mask(v, lab, src)
        if not prior.any():
            continue
        picks.append((i, v, t + d))
        imgs.append(bank.images[v][t + d])
        priors.append(prior)
    out = {}
    for (i, v, s), img, prior in zip(picks, imgs, priors):
        x, boxes = make_inputs([img], [prior], bank.spacing[v], manifest)
        logits = predict_logits(model, x)[0]
        mask = logits_to_mask(logits, boxes[0], img.shape)
        # A plausible step (the drift of a working model), not an early network's garbage, which would only teach
        # the network to ignore its prior.
        if mask.any() and dice(mask, bank.mask(*cases[i][:2], s)) >= 0.5:
            out[i] = mask
    return out


def training_batch(bank: VolumeBank, cases: np.ndarray, manifest: ModelManifest, rng: np.random.Generator,
                   model=None, self_share: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x [B, 2, S, S], y [B, 1, S, S]) for `cases` (rows of ``bank.cases``), before augmentation."""
    s = int(manifest.input_size)
    own = {}
    if model is not None and self_share > 0:
        chosen = np.flatnonzero(rng.random(len(cases)) < self_share)
        if chosen.size:
            sub = own_predictions(model, bank, cases[chosen], manifest)
            own = {int(chosen[k]): m for k, m in sub.items()}
    x = np.empty((len(cases), 2, s, s), np.float32)
    y = np.empty((len(cases), 1, s, s), np.float32)
    for i, (v, lab, t, d) in enumerate(cases):
        prior = own.get(i)
        if prior is None:
            prior = bank.mask(v, lab, t + d)
        box = prior_box(prior, bank.spacing[v], manifest, expand=float(rng.uniform(1.4, 2.2)))
        box = jitter_box(box, rng)
        x[i] = crop_pair(bank.images[v][t], prior, box)
        y[i, 0] = resample_to_crop(bank.mask(v, lab, t).astype(np.float32), box) > 0.5
    return torch.from_numpy(x), torch.from_numpy(y)


# ---- validation --------------------------------------------------------------------------------------------------
def evaluate(model, bank: VolumeBank, cases: np.ndarray, manifest: ModelManifest) -> np.ndarray:
    """Dice per case (indices into ``bank.cases``) of one propagation step from the true neighbouring mask, on the
    image grid (no augmentation)."""
    scores = np.zeros(len(cases))
    for i, (v, lab, t, d) in enumerate(bank.cases[cases]):
        prior, gt = bank.mask(v, lab, t + d), bank.mask(v, lab, t)
        x, boxes = make_inputs([bank.images[v][t]], [prior], bank.spacing[v], manifest)
        mask = logits_to_mask(predict_logits(model, x)[0], boxes[0], gt.shape)
        scores[i] = 1.0 if not gt.any() and not mask.any() else dice(mask, gt)
    return scores


def summarize(bank: VolumeBank, cases: np.ndarray, scores: np.ndarray) -> dict:
    per = {}
    for name_idx, name in enumerate(bank.class_names):
        sel = bank.case_class[cases] == name_idx
        if sel.any():
            per[name] = round(float(scores[sel].mean()), 4)
    groups = {}
    for name, v in per.items():
        groups.setdefault(name.split(":")[0], []).append(v)
    return {"per_class": per, **{f"mean_{g}": round(float(np.mean(v)), 4) for g, v in groups.items()}}


# ---- the loop ----------------------------------------------------------------------------------------------------
def _limit_blas(threads: int):
    """numpy's BLAS gets the torch thread count too: the crops are small matrix products, and a second BLAS thread
    spinning beside another process halved this trainer's speed on the 2-core machine (measured: 12 vs 28 samples
    per second). Returns the limiter (``restore_original_limits()`` undoes it), or None without threadpoolctl (the
    cpu extra), where BLAS is left as it is."""
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:
        return None
    return threadpool_limits(int(threads), user_api="blas")



def train(cfg: PropagationTrainConfig, train_bank: VolumeBank | None = None, val_bank: VolumeBank | None = None,
          log=print, command: str | None = None) -> pathlib.Path:
    """Train (or resume) and return the path of ``final.pt``."""
    from radseg._progress import progress

    from ..data import split

    torch.set_num_threads(cfg.threads)
    blas = _limit_blas(cfg.threads)
    out = pathlib.Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = default_propagation_manifest(cfg.size)
    if train_bank is None:
        train_bank, val_bank = build_banks(cfg, manifest, log)
    if len(train_bank) == 0:  # sampling would fail deep inside numpy ("high <= 0")
        raise ValueError("the training bank holds no cases: no structure spans two slices of at least min_area pixels")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = ClickUNet(2, cfg.width).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed, history, seen, init_summary = 0, 0.0, [], 0, None
    last = out / "last.pt"
    if cfg.resume and last.is_file():
        ckpt = load_checkpoint(last)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, elapsed, history, seen = ckpt["step"], ckpt["elapsed_s"], ckpt.get("history", []), ckpt.get("seen", 0)
        init_summary = ckpt.get("init_summary")
        rng.bit_generator.state = ckpt["rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        log(f"resumed from {last} at step {step}, {elapsed / 60:.1f} min")
    elif cfg.init:
        init = load_checkpoint(cfg.init)
        model.load_state_dict(init["model"])
        init_summary = {"path": str(cfg.init), "steps": init.get("step")}
        log(f"initialised from {cfg.init}")
    val_cases = (val_bank.subset_evenly(cfg.val_per_class, np.random.default_rng(0))
                 if val_bank is not None and len(val_bank) else np.zeros(0, np.int64))
    n_params = count_parameters(model)
    log(f"model: U-Net width {cfg.width}, {n_params} parameters, input 2 x {cfg.size} x {cfg.size}; batch "
        f"{cfg.batch}; {len(val_cases)} validation cases")

    def full_manifest() -> ModelManifest:
        return manifest.replace(
            model={"name": "ClickUNet", "width": cfg.width, "parameters": n_params, "depth": 4,
                   "description": "U-Net of seeds 001/003: 4 down, bottleneck, 4 up; input image + prior mask"},
            training={"data": [f"{d}" for d in cfg.datasets], "split": {
                **split.as_dict(), "hippocampus_train_files_below": HIPPOCAMPUS_TRAIN_BELOW},
                "classes": list(train_bank.class_names), "steps": step, "samples_seen": seen,
                "wall_minutes": round(elapsed / 60, 2), "config": dataclasses.asdict(cfg),
                "command": command or "", "validation_history": history,
                **({"initialised_from": init_summary} if init_summary else {})})

    def checkpoint(path):
        save_checkpoint(path, model=model.state_dict(), optimizer=opt.state_dict(), step=step, elapsed_s=elapsed,
                        seen=seen, history=history, rng=rng.bit_generator.state, torch_rng=torch.get_rng_state(),
                        config=dataclasses.asdict(cfg), manifest=full_manifest().to_dict(), init_summary=init_summary)

    def validate():
        if not len(val_cases):
            return
        t = time.perf_counter()
        summary = summarize(val_bank, val_cases, evaluate(model, val_bank, val_cases, manifest))
        entry = {"step": step, "minutes": round(elapsed / 60, 2), "samples": seen,
                 **{k: v for k, v in summary.items() if k.startswith("mean_")}}
        history.append(entry)
        log(f"[val] step {step} ({elapsed / 60:.1f} min): one-step Dice "
            + "; ".join(f"{k[5:]} {v:.3f}" for k, v in entry.items() if k.startswith("mean_"))
            + f"  ({time.perf_counter() - t:.0f} s)")

    budget = cfg.minutes * 60.0
    last_ckpt = last_val = elapsed
    bar = progress(total=cfg.steps if cfg.steps else int(budget), initial=step if cfg.steps else int(elapsed),
                   unit="step" if cfg.steps else "s", desc="train propagation", line_every_s=60)
    losses = []
    model.train()
    while (step < cfg.steps) if cfg.steps else (elapsed < budget):
        t0 = time.perf_counter()
        frac = step / cfg.steps if cfg.steps else elapsed / budget
        lr = set_cosine_lr(opt, cfg.lr, step, frac, cfg.warmup_steps)
        cases = train_bank.sample_balanced(rng, cfg.batch, end_share=cfg.end_share)
        x, y = training_batch(train_bank, train_bank.cases[cases], manifest, rng, model=model if step > 200 else None,
                              self_share=cfg.self_prior_share)
        x, y = augment(x, y, rng)
        losses.append(optimise(model, opt, x.contiguous(memory_format=torch.channels_last), y, cfg.bce_weight))
        step += 1
        seen += len(cases)
        dt = time.perf_counter() - t0
        elapsed += dt
        bar.update(1 if cfg.steps else int(elapsed) - bar.n)
        if step % cfg.log_every == 0:
            log(f"step {step}  loss {np.mean(losses):.4f}  lr {lr:.2e}  {len(cases) / dt:.1f} samples/s  "
                f"{elapsed / 60:.1f} min")
            losses = []
        if elapsed - last_val >= cfg.val_every_min * 60:
            t1 = time.perf_counter()
            validate()
            elapsed += time.perf_counter() - t1
            last_val = elapsed
            model.train()
        if elapsed - last_ckpt >= cfg.ckpt_every_min * 60:
            checkpoint(last)
            last_ckpt = elapsed
    bar.close()
    validate()
    checkpoint(last)
    final = out / "final.pt"
    checkpoint(final)
    full_manifest().to_json(out / "manifest.json")
    log(f"done: step {step}, {seen} samples, {elapsed / 60:.1f} min; wrote {final}")
    if blas is not None:
        blas.restore_original_limits()
    return final
