"""`radseg train click|propagation|body`: train a model on ../shared/data (needs the `train` extra).

click: robot-in-the-loop training of the click model (the bundled model's runs, see sdk/models/click/MODEL_CARD.md):
    radseg train click --data ../shared/data --out runs/click --minutes 78
    radseg train click --out runs/click --minutes 90 --resume                       # continue to a 90-minute total
    radseg train click --init sdk/models/click --out runs/ft --lr 5e-4 --minutes 90  # fine-tune the bundled model
    radseg train click --init runs/click/final.pt --out runs/ft --lr 1e-3 --minutes 90  # fine-tune a checkpoint
    radseg train click --init sdk/models/click --out runs/ft --group-weights btcv=0.5  # half of each batch BTCV

propagation: segment a slice from its neighbour's mask (BTCV CT, CHAOS T2 MR, MSD hippocampus MR):
    radseg train propagation --data ../shared/data --out runs/propagation --minutes 60
    radseg train propagation --out runs/propagation --minutes 90 --resume           # continue to a 90-minute total
    radseg train propagation --datasets chaos --steps 300 --out runs/prop-chaos      # CHAOS only, 300 steps
    radseg train propagation --init runs/propagation/final.pt --out runs/prop-ft --lr 5e-4 --minutes 30
    radseg export runs/propagation/final.pt --out models/propagation                 # an ONNX model folder, for
    radseg segment --series ct/ --click 40,210,150 --name liver --propagate --propagation-model models/propagation \\
        --out out/
body: the body-outline U-Net on an accepted set (`radseg annotate`, or the scripted rater:
    python -m radseg.training.body.accept --out runs/body_set):
    radseg train body --dataset runs/body_set --out runs/body --minutes 30
    radseg train body --dataset runs/body_set --out runs/body --minutes 45 --resume  # continue to 45 minutes
Checkpoints (OUT/last.pt every --ckpt-every minutes, OUT/final.pt at the end) hold everything to resume; --minutes
and --steps count over all resumes of a run folder.
"""
from __future__ import annotations

import shlex
import sys

DEFAULT_DATA = "../shared/data"

#: Per task: the defaults of the flags whose default differs (None in the parser).
TASK_DEFAULTS = {
    "click": {"out": "runs/click", "minutes": 30.0, "val_every": 8.0, "size": 96, "width": 16, "batch": 16,
              "lr": 2e-3},
    "propagation": {"out": "runs/propagation", "minutes": 60.0, "val_every": 10.0, "size": 96, "width": 16,
                    "batch": 16, "lr": 2e-3},
    "body": {"out": "runs/body", "minutes": 30.0, "size": 256, "width": 8, "batch": 12, "lr": 3e-3},
}
#: --datasets of the propagation task -> the folder each needs under --data.
PROPAGATION_DATASETS = {"btcv": "btcv_sabs_ct", "chaos": "chaos_t2_mri", "hippocampus": "msd_hippocampus"}


def register(sub) -> None:
    import argparse

    from radseg.cli._common import positive_float, positive_int

    p = sub.add_parser("train", help="train a click, propagation or body model; checkpoints are resumable",
                       description=__doc__.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=["click", "propagation", "body"], help="which model to train")
    p.add_argument("--dataset", default=None, metavar="FOLDER",
                   help="body: the accepted set to train on (a `radseg annotate` dataset folder)")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder holding btcv_sabs_ct/, chaos_t2_mri/ (and "
                                                        "msd_hippocampus/ for propagation)")
    p.add_argument("--out", default=None, help="run folder: checkpoints and manifest (runs/click, runs/propagation)")
    p.add_argument("--minutes", type=positive_float, default=None,
                   help="wall-clock budget in minutes, over all resumes (click 30, propagation 60)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="train this many steps (over all resumes) instead of --minutes")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt when it exists")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start from this checkpoint's weights with a fresh optimizer and schedule (fine-tuning); "
                        "for click an exported model folder (e.g. sdk/models/click) works too, with BatchNorm frozen")
    p.add_argument("--freeze-bn", action="store_true", default=None,
                   help="click: keep BatchNorm in eval mode (running statistics) throughout; on by itself for "
                        "--init FOLDER")
    p.add_argument("--size", type=int, default=None, help="working resolution S, a multiple of 16 (96; body 256)")
    p.add_argument("--width", type=positive_int, default=None,
                   help="U-Net width: channels of the first block (16; body 8)")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size (16; body 12)")
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate (2e-3; body 3e-3)")
    p.add_argument("--max-corrections", type=int, default=None, help="click: most robot corrections per batch (5)")
    p.add_argument("--bce-weight", type=float, default=0.5, help="weight of BCE added to the soft Dice loss (0.5)")
    p.add_argument("--datasets", default=None, metavar="NAMES",
                   help="which data sets to train on, comma-separated. click: from btcv, chaos, totalseg, "
                        "hippocampus, la_heart, pyradiomics, body (all); propagation: from btcv, chaos, "
                        "hippocampus (all three)")
    p.add_argument("--group-weights", default=None, metavar="NAME=W,...",
                   help="click: share of each batch per data set, e.g. btcv=0.45,chaos=0.2; sets not named keep "
                        "their defaults (radseg.training.data.anatomy.GROUP_WEIGHTS); the shares are renormalised")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default=None,
                   help="click: precision of the forward passes (auto: bfloat16 autocast where the CPU runs it "
                        "natively, else fp32; weights and optimiser stay fp32)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (1: on a shared 2-core machine one thread measured faster than two)")
    p.add_argument("--val-every", type=positive_float, default=None,
                   help="minutes between validation runs (click 8, propagation 10)")
    p.add_argument("--ckpt-every", type=positive_float, default=4.0, help="minutes between checkpoints (4)")
    p.add_argument("--prev-mask", action="store_true",
                   help="click: give the network the mask before each click as a 4th input (a corrective click "
                        "refines it); with --init from a 3-input model the new input starts with zero weights")
    p.add_argument("--seed", type=int, default=4242, help="random seed (4242, the paper's)")
    p.set_defaults(func=run)


def parse_datasets(text, known=None) -> tuple:
    """"btcv,chaos" -> ("btcv", "chaos"); UsageError naming --datasets for an empty list or a name not in `known`
    ({name: folder}; default the propagation task's)."""
    from radseg.errors import UsageError

    known = PROPAGATION_DATASETS if known is None else known
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        what = f"unknown data set(s) {', '.join(map(repr, unknown))}" if unknown else "no data set named"
        raise UsageError(f"--datasets {text!r}: {what}",
                         f"choose from {', '.join(known)}, separated by commas")
    return tuple(dict.fromkeys(names))


def parse_group_weights(text, datasets) -> dict:
    """"btcv=0.45,chaos=0.2" -> anatomy.GROUP_WEIGHTS with those two replaced, for the sets in `datasets` (the
    sampler renormalises). UsageError naming --group-weights for a malformed item, an unknown or unchosen set, or a
    weight that is not a positive number."""
    from radseg.errors import UsageError
    from radseg.training.data.anatomy import GROUP_WEIGHTS, group_of

    weights = dict(GROUP_WEIGHTS)
    for item in (t.strip() for t in str(text).split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip().lower()
        try:
            w = float(value)
        except ValueError:  # also an item without "=" (value "")
            w = float("nan")
        if not 0 < w < float("inf"):
            raise UsageError(f"--group-weights {text!r}: {item!r} is not NAME=WEIGHT with a positive weight",
                             "e.g. --group-weights btcv=0.45,chaos=0.2")
        if name not in datasets:
            raise UsageError(f"--group-weights {text!r}: {name!r} is not one of the chosen data sets",
                             f"choose from {', '.join(datasets)}")
        for g in group_of(name):  # totalseg covers its CT and MR groups; both take the weight given
            weights[g] = w
    return weights


def _check_folders(data, datasets, known) -> None:
    """InputError naming the folders under --data that the chosen data sets need and that are missing."""
    import pathlib

    from radseg.errors import InputError

    missing = [f"{folder}/" for name, folder in known.items()
               if name in datasets and not (pathlib.Path(data) / folder).is_dir()]
    if missing:
        raise InputError(f"--data {data}: has no {', '.join(missing)}",
                         "give the shared data folder with --data, or leave those data sets out of --datasets")


def _defaults(args) -> None:
    for key, value in TASK_DEFAULTS[args.task].items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def _command() -> str:
    return "radseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""


def run(args) -> int:
    from radseg.errors import UsageError

    _defaults(args)
    if not (args.size >= 16 and args.size % 16 == 0):
        raise UsageError(f"--size {args.size}: must be a positive multiple of 16", "e.g. --size 96")
    if args.task == "body":
        return run_body(args)
    if args.dataset is not None:
        raise UsageError("--dataset is for the body task", f"leave it out of `radseg train {args.task}`")
    if args.task == "propagation":
        for flag, value in (("--max-corrections", args.max_corrections), ("--freeze-bn", args.freeze_bn),
                            ("--precision", args.precision), ("--group-weights", args.group_weights)):
            if value is not None:
                raise UsageError(f"{flag} is for the click task", "leave it out of `radseg train propagation`")
        return run_propagation(args)
    return run_click(args)


def run_click(args) -> int:
    from radseg.cli._common import input_path, output_dir
    from radseg.errors import InputError, UsageError

    max_corrections = 5 if args.max_corrections is None else args.max_corrections
    if max_corrections < 0:
        raise UsageError(f"--max-corrections {max_corrections}: must be 0 or more")
    input_path(args.data, "--data", kind="folder")
    from radseg.training.data.anatomy import CLICK_DATASETS

    datasets = parse_datasets(args.datasets, CLICK_DATASETS) if args.datasets is not None else tuple(CLICK_DATASETS)
    _check_folders(args.data, datasets, CLICK_DATASETS)
    group_weights = parse_group_weights(args.group_weights, datasets) if args.group_weights is not None else None
    output_dir(args.out)
    from radseg.training.click.train import TrainConfig, train

    cfg = TrainConfig(data=args.data, out=args.out, minutes=args.minutes, steps=args.steps, size=args.size,
                      width=args.width, batch=args.batch, lr=args.lr, max_corrections=max_corrections,
                      bce_weight=args.bce_weight, threads=args.threads, val_every_min=args.val_every,
                      ckpt_every_min=args.ckpt_every, seed=args.seed, resume=args.resume, init=args.init,
                      freeze_bn=args.freeze_bn, prev_mask=args.prev_mask, datasets=datasets,
                      precision=args.precision or "auto", group_weights=group_weights)
    if args.init:  # a missing or foreign checkpoint: a one-line error before the data is loaded
        from radseg.training.click.train import load_checkpoint

        try:
            init = load_checkpoint(args.init)
        except (FileNotFoundError, ValueError) as exc:
            raise InputError(f"--init {args.init}: {exc}") from exc
        if int(init["manifest"].get("in_channels", 3)) == 4 and not cfg.prev_mask:
            # a model that already takes the mask before the click keeps that input: dropping it is no fine-tune
            cfg.prev_mask = True
            print(f"--init {args.init} takes the mask before the click as a 4th input: training with --prev-mask",
                  flush=True)
    train(cfg, log=lambda msg: print(msg, flush=True), command=_command())
    return 0


def _check_propagation_init(args) -> None:
    """--init must be a propagation checkpoint (.pt) of this run's --width and --size: one-line errors before the
    data is loaded."""
    import pathlib

    from radseg.errors import InputError, UsageError

    path = pathlib.Path(args.init)
    if path.is_dir():
        raise UsageError(f"--init {args.init}: is a folder",
                         "give a .pt checkpoint written by `radseg train propagation` (e.g. runs/propagation/"
                         "final.pt); fine-tuning from an exported folder needs frozen BatchNorm, which the "
                         "propagation trainer does not offer")
    from radseg.manifest import ModelManifest
    from radseg.training.click.train import load_checkpoint

    try:
        ckpt = load_checkpoint(path)
        manifest = ModelManifest.from_dict(ckpt["manifest"], source=f"{args.init} manifest")
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"--init {args.init}: {exc}") from exc
    if manifest.task != "propagation":
        raise InputError(f"--init {args.init}: is a {manifest.task} checkpoint",
                         "give a checkpoint written by `radseg train propagation`")
    width, size = int(manifest.model.get("width", 16)), int(manifest.input_size)
    if (width, size) != (args.width, args.size):
        raise UsageError(f"--init {args.init}: width {width} / size {size} differ from this run's --width "
                         f"{args.width} / --size {args.size}", f"pass --width {width} --size {size}")


def run_propagation(args) -> int:
    import pathlib

    from radseg.cli._common import input_path, output_dir
    from radseg.errors import InputError

    datasets = parse_datasets(args.datasets) if args.datasets is not None else tuple(PROPAGATION_DATASETS)
    input_path(args.data, "--data", kind="folder")
    _check_folders(args.data, datasets, PROPAGATION_DATASETS)
    if args.init:
        _check_propagation_init(args)
    output_dir(args.out)
    from radseg.training.propagation.train import PropagationTrainConfig, train

    cfg = PropagationTrainConfig(data=args.data, out=args.out, minutes=args.minutes, steps=args.steps,
                                 size=args.size, width=args.width, batch=args.batch, lr=args.lr,
                                 bce_weight=args.bce_weight, threads=args.threads, val_every_min=args.val_every,
                                 ckpt_every_min=args.ckpt_every, seed=args.seed, resume=args.resume,
                                 init=args.init, datasets=datasets)
    try:
        train(cfg, log=lambda msg: print(msg, flush=True), command=_command())
    except ValueError as exc:
        if "no training cases found" in str(exc) or "holds no cases" in str(exc):
            raise InputError(f"--data {args.data}: no training cases for --datasets {','.join(datasets)}",
                             "give the shared data folder with --data") from exc
        raise
    return 0


def run_body(args) -> int:
    import pathlib

    from radseg.cli._common import input_path, output_dir
    from radseg.errors import InputError, UsageError

    for flag, value in (("--steps", args.steps), ("--init", args.init), ("--max-corrections", args.max_corrections),
                        ("--freeze-bn", args.freeze_bn), ("--datasets", args.datasets), ("--precision", args.precision),
                        ("--group-weights", args.group_weights), ("--val-every", args.val_every)):
        if value is not None:
            raise UsageError(f"{flag} is not for the body task", "leave it out of `radseg train body`")
    if args.dataset is None:
        raise UsageError("the body task needs --dataset FOLDER",
                         "make one with `radseg annotate` or `python -m radseg.training.body.accept --out FOLDER`")
    input_path(args.dataset, "--dataset", kind="folder")
    if not (pathlib.Path(args.dataset) / "decisions.jsonl").is_file():
        raise InputError(f"--dataset {args.dataset}: no decisions.jsonl, so not an annotation dataset",
                         "make one with `radseg annotate` or `python -m radseg.training.body.accept`")
    out = output_dir(args.out)
    resume = ""
    if args.resume and (out / "last.pt").is_file():
        resume = str(out / "last.pt")
    from radseg.training.body.train import BodyTrainConfig, train

    cfg = BodyTrainConfig(dataset=args.dataset, out=str(out), size=args.size, width=args.width, batch=args.batch,
                          minutes=args.minutes, lr=args.lr, threads=args.threads, seed=args.seed, resume=resume,
                          ckpt_every_min=args.ckpt_every)
    try:
        path = train(cfg, log=lambda msg: print(msg, flush=True))
    except ValueError as exc:
        raise InputError(f"--dataset {args.dataset}: {exc}", "rate some candidates first") from exc
    print(f"wrote {path}")
    return 0
