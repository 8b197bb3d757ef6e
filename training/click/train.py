"""Robot-in-the-loop training of the click model (seed 003), on the CPU.

Every step: draw a batch of (slice, structure) cases, each data group its share (`anatomy.GROUP_WEIGHTS`: BTCV,
CHAOS, TotalSegmentator CT / MR, MSD hippocampus, left atrium, tumours, body outlines), split evenly over its
classes; place the first click with the paper's random robot; draw t corrective clicks for the whole batch (P(t) falling linearly with t, t = 0..max_corrections), each
from a no-grad forward pass of the current network through the SDK's own preprocessing (crop around clicks and
current mask, zoom to S x S, paste back on the image grid) and the robot's next click on the full image; then one
training step on the final inputs, with a jittered crop box, flips and an intensity jitter. Forward passes run in
bfloat16 autocast where the CPU has it (`--precision`), with numpy's BLAS capped to the torch threads. Loss: the paper's mean
over the batch of (1 - soft Dice), plus `bce_weight` x binary cross-entropy. AdamW, linear warm-up then cosine
decay over the wall-clock budget (`minutes`) or over `steps` when given.

Checkpoints (``last.pt``, ``final.pt``) hold model, optimizer, step, elapsed time, RNG state, the config and the
manifest; ``resume=True`` continues from ``out/last.pt``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from radseg.click.postprocess import apply_manifest
from radseg.click.preprocess import crop_box, logits_to_mask, make_input, refine_box, resample_to_crop, CropBox
from radseg.click.robot import deterministic_click, first_click, next_click
from radseg.manifest import ModelManifest, default_click_manifest
from radseg.metrics import dice

from ..data.slices import SliceBank
from .model import ClickUNet, count_parameters


@dataclass
class TrainConfig:
    data: str = "../shared/data"
    out: str = "runs/click"
    minutes: float = 30.0  # wall-clock budget, validation included, summed over resumes
    steps: int | None = None  # stop (and schedule) by steps instead, when given
    size: int = 96
    width: int = 16
    batch: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    max_corrections: int = 5
    bce_weight: float = 0.5
    first_click_soft: float = 0.3  # share of first clicks drawn with temperature 3 (off-centre clicks)
    min_area: int = 4  # training cases need at least this many pixels of the structure
    val_per_class: int = 16
    val_every_min: float = 8.0
    ckpt_every_min: float = 4.0
    threads: int = 1  # on the shared 2-core machine one thread measured 5x faster than two (OpenMP contention)
    channels_last: bool = True  # measured faster on the CPU for these narrow convolutions
    seed: int = 4242  # the paper's seed
    resume: bool = False
    init: str | None = None  # start from this checkpoint's (or exported model folder's) weights: fine-tuning
    freeze_bn: bool | None = None  # BatchNorm in eval mode throughout; None: on when `init` is a model folder
    log_every: int = 25
    prev_mask: bool = False  # a 4th input channel with the mask before the click (started at zero from --init)
    datasets: tuple = ("btcv", "chaos", "totalseg", "hippocampus", "la_heart", "pyradiomics", "body")
    group_weights: dict | None = None  # share of each batch per data group; None: anatomy.GROUP_WEIGHTS
    precision: str = "auto"  # "bf16": bfloat16 autocast for every pass; "fp32"; "auto": bf16 where the CPU has it


# ---- data --------------------------------------------------------------------------------------------------------
def build_banks(cfg: TrainConfig, manifest: ModelManifest, log=print) -> tuple[SliceBank, SliceBank]:
    """Training and validation SliceBanks from the data sets `cfg.datasets` under `cfg.data`, split by patient
    (`radseg.training.data.anatomy`: which patients validate, which structure types never train)."""
    from ..data import anatomy

    train, val = SliceBank(), SliceBank()
    t0 = time.perf_counter()
    try:
        for vol, part in anatomy.volumes(cfg.data, tuple(cfg.datasets)):
            if part == "validation":
                val.add_volume(vol, manifest, min_area=1)
            else:
                train.add_volume(vol, manifest, min_area=cfg.min_area)
    except FileNotFoundError as exc:
        raise ValueError(f"{exc}; pass --data pointing at shared/data, or leave the set out of --datasets") from None
    train.finalize(), val.finalize()
    if len(train) == 0:
        raise ValueError(f"no training cases found under {cfg.data!r}; pass --data pointing at shared/data "
                         f"(with btcv_sabs_ct/ and chaos_t2_mri/)")
    groups = sorted({n.split(":")[0] for n in train.class_names})
    log(f"data: {len(train.images)} training slices / {len(train)} cases in {len(train.class_names)} classes "
        f"({', '.join(groups)}); {len(val.images)} validation slices / {len(val)} cases; loaded in "
        f"{time.perf_counter() - t0:.0f} s")
    return train, val


DATA_DESCRIPTIONS = {
    "btcv": "btcv_sabs_ct (CT, 13 organs, expert)", "chaos": "chaos_t2_mri (MR T2-SPIR, liver and kidneys, expert)",
    "totalseg": "totalseg (2 CT, 1 MR; TotalSegmentator model labels, its unseen structure types left out)",
    "hippocampus": "msd_hippocampus (T1 MR, anterior / posterior hippocampus, files below 200)",
    "la_heart": "la_heart_mri (LGE-MR left atrium, 6 of 8 patients)",
    "pyradiomics": "pyradiomics (brain and breast MR tumours)",
    "body": "body_refs (body / head outlines: RTSTRUCT BODY on CT, head masks on MR)"}


def click_split(datasets) -> dict:
    """What the click model's extra data sets keep out, for the manifest's split (besides `split.as_dict`)."""
    from radseg.eval.datasets import TOTALSEG_UNSEEN

    from ..data import anatomy, split

    out = {"datasets": list(datasets)}
    if "la_heart" in datasets:
        out["la_heart_validation_patients"] = list(split.LA_VALIDATION)
    if "hippocampus" in datasets:
        out["hippocampus_train_files_below"] = anatomy.HIPPOCAMPUS_TRAIN_BELOW
    if "totalseg" in datasets:
        out["totalseg_unseen_families"] = {m: sorted(v) for m, v in TOTALSEG_UNSEEN.items()}
        out["totalseg_note"] = ("TotalSegmentator structures of these families (and their left / right mirrors; on MR "
                                "also the spleen) never train; the rest of its labels do")
    return out


# ---- simulation --------------------------------------------------------------------------------------------------
def predict_logits(model: torch.nn.Module, xs: np.ndarray, chunk: int = 64, precision: str = "fp32") -> np.ndarray:
    """Eval-mode, no-grad logits [N, S, S] float32 for inputs [N, C, S, S]. The simulation may run its passes in
    "bf16" (half their cost; a robot's click hardly depends on a logit's last bits); validation runs fp32, as the
    SDK does."""
    from ..loop import autocast

    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad(), autocast(precision):
        for i in range(0, len(xs), chunk):
            x = torch.from_numpy(xs[i:i + chunk]).contiguous(memory_format=torch.channels_last)
            out.append(model(x)[:, 0].float().contiguous().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0,) + xs.shape[2:], np.float32)


def correction_count(rng: np.random.Generator, k_max: int) -> int:
    """t in 0..k_max with P(t) proportional to k_max + 1 - t (falls linearly with t)."""
    w = np.arange(k_max + 1, 0, -1, dtype=np.float64)
    return int(rng.choice(k_max + 1, p=w / w.sum()))


def predict_masks(model, state, manifest, boxes=None, precision: str = "fp32") -> tuple[list, list]:
    """One no-grad pass for each case of `state`: (bool masks on the image grid, CropBoxes used).

    Boxes default to ``crop_box`` around the case's clicks and current mask ("pred"), as the SDK's next click would.
    """
    xs, used = [], []
    for i, s in enumerate(state):
        x, box = make_input(s["img"], s["clicks"], s["pred"], s["sp"], manifest,
                            box=None if boxes is None else boxes[i])
        xs.append(x[0])
        used.append(box)
    logits = predict_logits(model, np.stack(xs), precision=precision)
    return [logits_to_mask(lg, box, s["gt"].shape) for s, lg, box in zip(state, logits, used)], used


def sdk_masks(model, state, manifest, precision: str = "fp32") -> list:
    """The masks the SDK's `click` would return for each case's clicks: one pass in the box around the clicks and
    current mask, for cases at their first click (no "pred" yet) the second pass of `refine_box` when the
    manifest enables it, then the manifest's post-processing (`radseg.click.postprocess`)."""
    masks, boxes = predict_masks(model, state, manifest, precision=precision)
    if manifest.crop.get("refine_first_click", False):
        again = [(i, refine_box(s["gt"].shape, s["clicks"], masks[i], s["sp"], manifest, boxes[i]))
                 for i, s in enumerate(state) if s["pred"] is None]
        again = [(i, b) for i, b in again if b is not None]
        if again:
            redo, _ = predict_masks(model, [state[i] for i, _ in again], manifest, [b for _, b in again],
                                     precision=precision)
            for (i, _), m in zip(again, redo):
                masks[i] = m
    if manifest.postprocess:
        masks = [apply_manifest(m, s["clicks"], s["sp"], manifest.postprocess) for m, s in zip(masks, state)]
    return masks


def refined_boxes(model, state, manifest, precision: str = "fp32") -> list:
    """For one-click cases without a mask: the SDK's first-click second-pass box (`refine_box`) or None."""
    masks, boxes = predict_masks(model, state, manifest, precision=precision)
    return [refine_box(s["gt"].shape, s["clicks"], m, s["sp"], manifest, b)
            for s, m, b in zip(state, masks, boxes)]


def simulate(model, bank: SliceBank, cases, manifest, rng, n_corrections: int, soft_share: float,
             refine_share: float = 0.5, precision: str = "fp32"):
    """Clicks and current masks after the first click and `n_corrections` robot corrections, per case.

    Each pass is what the SDK would run, including the first click's second pass (`refine_box`) when the manifest
    enables it. A case still at its first click gets, with probability `refine_share`, the refined box as its
    training box ("box"), so the network learns both of the first click's passes.
    """
    state = []
    for c in cases:
        gt = bank.gt(c)
        t = 3.0 if rng.random() < soft_share else 1.0
        state.append({"gt": gt, "img": bank.images[bank.cases[c][0]], "sp": bank.spacing[bank.cases[c][0]],
                      "clicks": [first_click(gt, rng, temperature=t)], "pred": None, "box": None})
    for _ in range(n_corrections):
        for s, m in zip(state, sdk_masks(model, state, manifest, precision)):
            s["pred"] = m
            click = next_click(s["gt"], s["pred"], rng)
            if click is not None:
                s["clicks"].append(click)
    if manifest.crop.get("refine_first_click", False):
        firsts = [s for s in state if s["pred"] is None and rng.random() < refine_share]
        if firsts:
            for s, b in zip(firsts, refined_boxes(model, firsts, manifest, precision)):
                s["box"] = b
    return state


def jitter_box(box: CropBox, rng: np.random.Generator) -> CropBox:
    """Scale the box by 0.8..1.25 (log-uniform) and shift its centre by up to 8 % of its side."""
    f = math.exp(rng.uniform(math.log(0.8), math.log(1.25)))
    sr, sc = box.size_rows * f, box.size_cols * f
    cr = box.row0 + box.size_rows / 2 + rng.uniform(-0.08, 0.08) * sr
    cc = box.col0 + box.size_cols / 2 + rng.uniform(-0.08, 0.08) * sc
    return CropBox(cr - sr / 2, cc - sc / 2, sr, sc, box.out_size)


def training_batch(state, manifest, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """Final inputs [N, 3, S, S] and binary targets [N, 1, S, S], with box jitter, flips and intensity jitter."""
    xs, ys = [], []
    for s in state:
        box = s.get("box") or crop_box(s["gt"].shape, s["clicks"], s["pred"], s["sp"], manifest)
        box = jitter_box(box, rng)
        x, _ = make_input(s["img"], s["clicks"], s["pred"], s["sp"], manifest, box=box)
        y = resample_to_crop(s["gt"].astype(np.float32), box) >= 0.5
        x = x[0]
        x[0] = np.clip(x[0] * rng.uniform(0.9, 1.1) + rng.uniform(-0.05, 0.05), 0.0, 1.0)
        if rng.random() < 0.5:
            x, y = x[:, :, ::-1], y[:, ::-1]
        if rng.random() < 0.2:
            x, y = x[:, ::-1, :], y[::-1, :]
        xs.append(np.ascontiguousarray(x))
        ys.append(np.ascontiguousarray(y)[None])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys).astype(np.float32))


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """The paper's loss: mean over the batch of 1 - 2 sum(g p) / (sum(g^2) + sum(p^2)), p = sigmoid(logits)."""
    p = torch.sigmoid(logits).flatten(1)
    g = target.flatten(1)
    dice = (2 * (g * p).sum(1) + eps) / ((g * g).sum(1) + (p * p).sum(1) + eps)
    return (1 - dice).mean()


# ---- validation --------------------------------------------------------------------------------------------------
def evaluate(model, bank: SliceBank, cases, manifest, n_clicks: int = 3) -> np.ndarray:
    """Dice on the image grid after 1..n_clicks deterministic clicks, [len(cases), n_clicks], with the SDK's passes
    (the first click's second pass included when the manifest enables it)."""
    state = [{"gt": bank.gt(c), "img": bank.images[bank.cases[c][0]], "sp": bank.spacing[bank.cases[c][0]],
              "clicks": [], "pred": None} for c in cases]
    out = np.zeros((len(cases), n_clicks))
    for k in range(n_clicks):
        live = []
        for i, s in enumerate(state):
            click = deterministic_click(s["gt"], s["pred"] if s["pred"] is not None else np.zeros_like(s["gt"]))
            if click is not None:
                s["clicks"].append(click)
                live.append(i)
        if live:
            for i, m in zip(live, sdk_masks(model, [state[i] for i in live], manifest)):
                state[i]["pred"] = m
        out[:, k] = [dice(s["pred"], s["gt"]) if s["pred"] is not None else 0.0 for s in state]
    return out


def summarize(bank: SliceBank, cases, scores: np.ndarray) -> dict:
    """Mean Dice per class (averaged over its cases), then the mean over classes, per click count."""
    cls = bank.case_class[cases]
    per = {bank.class_names[c]: scores[cls == c].mean(0).round(4).tolist() for c in np.unique(cls)}
    groups = {}
    for name, v in per.items():
        groups.setdefault(name.split(":")[0], []).append(v)
    return {"per_class": per, **{f"mean_{g}": np.mean(v, 0).round(4).tolist() for g, v in groups.items()}}


# ---- checkpoints -------------------------------------------------------------------------------------------------
def save_checkpoint(path: pathlib.Path, **state) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> dict:
    """A checkpoint dict from a ``.pt`` file, or rebuilt from an exported model folder (``model.onnx`` +
    ``manifest.json``; its BatchNorms are folded, see `from_onnx`). FileNotFoundError / ValueError say what is
    wrong."""
    path = pathlib.Path(path)
    if path.is_dir():
        from .from_onnx import checkpoint_from_folder

        return checkpoint_from_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{path}: not a readable radseg checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "manifest" not in ckpt:
        raise ValueError(f"{path}: not a radseg checkpoint (needs 'model' and 'manifest' entries)")
    return ckpt


def model_from_checkpoint(ckpt: dict) -> tuple[ClickUNet, ModelManifest]:
    manifest = ModelManifest.from_dict(ckpt["manifest"], source="checkpoint manifest")
    model = ClickUNet(manifest.in_channels, int(manifest.model.get("width", 16)))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:  # torch lists every mismatched tensor: say the gist in one line
        first = str(exc).split(";")[0].split("\n")[-1].strip()[:240]
        raise ValueError(f"the checkpoint's weights do not fit the network its manifest describes (in_channels "
                         f"{manifest.in_channels}, width {manifest.model.get('width', 16)}): {first}") from None
    return model.eval(), manifest


def widen_inputs(init_state: dict, target_state: dict) -> dict:
    """`init_state` fitted to `target_state`: a first convolution with more input channels than the initial one
    gets zero weights for the new channels (a 3-channel model grown a previous-mask channel starts out as the same
    network: the new input has no effect until training gives it one). Other mismatches are left for
    `load_state_dict` to report."""
    out = dict(init_state)
    for key, w in init_state.items():
        t = target_state.get(key)
        if t is not None and w.ndim == 4 and t.ndim == 4 and w.shape[0] == t.shape[0] and w.shape[2:] == t.shape[2:] \
                and w.shape[1] < t.shape[1]:
            grown = torch.zeros_like(t)
            grown[:, : w.shape[1]] = w
            out[key] = grown
    return out


# ---- the loop ----------------------------------------------------------------------------------------------------
def train(cfg: TrainConfig, train_bank: SliceBank | None = None, val_bank: SliceBank | None = None,
          log=print, command: str | None = None) -> pathlib.Path:
    """Train (or resume) and return the path of ``final.pt``.

    numpy's BLAS is capped at `cfg.threads` for the run, as torch is: its idle workers otherwise spin on the other
    core (measured on the 2-core machine: a run alone 54 -> 58-70 samples/s, two runs side by side 5-11 -> about 89
    samples/s each)."""
    from radseg._blas import blas_limiter

    with blas_limiter(cfg.threads)():
        return _train(cfg, train_bank, val_bank, log, command)


def _train(cfg: TrainConfig, train_bank, val_bank, log, command) -> pathlib.Path:
    from radseg._progress import progress

    from ..data.anatomy import GROUP_WEIGHTS
    from ..loop import optimise, resolve_precision, set_cosine_lr

    torch.set_num_threads(cfg.threads)
    precision = resolve_precision(cfg.precision)
    weights = GROUP_WEIGHTS if cfg.group_weights is None else cfg.group_weights
    out = pathlib.Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = default_click_manifest(cfg.size)
    if cfg.prev_mask:
        manifest = manifest.replace(in_channels=4)
    if train_bank is None:
        train_bank, val_bank = build_banks(cfg, manifest, log)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    freeze_bn = cfg.freeze_bn if cfg.freeze_bn is not None else bool(cfg.init and pathlib.Path(cfg.init).is_dir())
    model = ClickUNet(manifest.in_channels, cfg.width, freeze_bn=freeze_bn)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed, history, seen = 0, 0.0, [], 0
    init_summary = None  # what a fine-tuned model started from, recorded in its manifest
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
    elif cfg.resume:
        log(f"no checkpoint at {last}; starting fresh")
    if cfg.init and step == 0:
        init = load_checkpoint(cfg.init)
        init_manifest = ModelManifest.from_dict(init["manifest"], source=f"{cfg.init} manifest")
        if int(init_manifest.model.get("width", 16)) != cfg.width or init_manifest.input_size != cfg.size:
            raise ValueError(f"--init {cfg.init}: width {init_manifest.model.get('width')} / size "
                             f"{init_manifest.input_size} differ from this run's {cfg.width} / {cfg.size}")
        model.load_state_dict(widen_inputs(init["model"], model.state_dict()))
        t = init_manifest.training
        init_summary = {"path": str(cfg.init), "steps": t.get("steps"), "samples_seen": t.get("samples_seen"),
                        "wall_minutes": t.get("wall_minutes"), "command": t.get("command"),
                        "initialised_from": t.get("initialised_from")}
        log(f"initialised from {cfg.init} (its step {init.get('step')}, {(init.get('elapsed_s') or 0) / 60:.1f} min)"
            + ("; BatchNorm frozen" if freeze_bn else ""))
    from ..data import split

    val_cases = val_bank.subset_evenly(cfg.val_per_class, np.random.default_rng(0)) if val_bank is not None and len(
        val_bank) else np.zeros(0, np.int64)
    n_params = count_parameters(model)
    log(f"model: ClickUNet width {cfg.width}, {n_params} parameters; input {cfg.size}x{cfg.size}; batch {cfg.batch}; "
        f"{len(val_cases)} validation cases; {precision} passes")

    def full_manifest() -> ModelManifest:
        return manifest.replace(
            model={"name": "ClickUNet", "width": cfg.width, "parameters": n_params, "depth": 4,
                   "description": "U-Net of seed 003: 4 down, bottleneck, 4 up; 2x(conv3x3-BN-ReLU) blocks"},
            training={"data": [DATA_DESCRIPTIONS[d] for d in cfg.datasets],
                      "split": {**split.as_dict(), **click_split(cfg.datasets)}, "precision": precision,
                      "group_weights": weights, "classes": list(train_bank.class_names), "steps": step, "samples_seen": seen,
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
        scores = evaluate(model, val_bank, val_cases, manifest, n_clicks=3)
        summary = summarize(val_bank, val_cases, scores)
        entry = {"step": step, "minutes": round(elapsed / 60, 2), "samples": seen,
                 **{k: v for k, v in summary.items() if k.startswith("mean_")}}
        history.append(entry)
        log(f"[val] step {step} ({elapsed / 60:.1f} min, {seen} samples): "
            + "; ".join(f"{k[5:]} Dice@1/2/3 = {'/'.join(f'{x:.3f}' for x in v)}" for k, v in entry.items()
                        if k.startswith("mean_"))
            + f"  ({time.perf_counter() - t:.0f} s)")
        (out / "val_history.json").write_text(json.dumps({"history": history, "last_per_class": summary["per_class"]},
                                                         indent=1))

    budget = cfg.minutes * 60.0
    last_ckpt = last_val = elapsed
    bar = progress(total=cfg.steps if cfg.steps else int(budget), initial=step if cfg.steps else int(elapsed),
                   unit="step" if cfg.steps else "s", desc="train click", line_every_s=60)
    losses = []
    model.train()
    while (step < cfg.steps) if cfg.steps else (elapsed < budget):
        t0 = time.perf_counter()
        frac = step / cfg.steps if cfg.steps else elapsed / budget
        lr = set_cosine_lr(opt, cfg.lr, step, frac, cfg.warmup_steps)
        cases = train_bank.sample_balanced(rng, cfg.batch, weights)
        state = simulate(model, train_bank, cases, manifest, rng, correction_count(rng, cfg.max_corrections),
                         cfg.first_click_soft, precision=precision)
        x, y = training_batch(state, manifest, rng)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        losses.append(optimise(model, opt, x, y, cfg.bce_weight, precision))
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
    return final
