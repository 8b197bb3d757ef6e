"""`radseg train click`: robot-in-the-loop training of the click model (needs the `train` extra).

Examples (the bundled model's runs, see sdk/models/click/MODEL_CARD.md):
    radseg train click --data ../shared/data --out runs/click --minutes 78
    radseg train click --out runs/click --minutes 90 --resume                       # continue to a 90-minute total
    radseg train click --init sdk/models/click --out runs/ft --lr 5e-4 --minutes 90  # fine-tune the bundled model
    radseg train click --init runs/click/final.pt --out runs/ft --lr 1e-3 --minutes 90  # fine-tune a checkpoint
"""
from __future__ import annotations

import shlex
import sys

DEFAULT_DATA = "../shared/data"


def register(sub) -> None:
    from radseg.cli._common import positive_float, positive_int

    p = sub.add_parser("train", help="train a model (click) on ../shared/data; checkpoints are resumable",
                       description=__doc__.split("\n", 1)[1])
    p.add_argument("task", choices=["click"], help="which model to train")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder holding btcv_sabs_ct/ and chaos_t2_mri/")
    p.add_argument("--out", default="runs/click", help="run folder: checkpoints, log, manifest (runs/click)")
    p.add_argument("--minutes", type=positive_float, default=30.0, help="wall-clock budget in minutes, over all resumes (30)")
    p.add_argument("--steps", type=positive_int, default=None, help="train this many steps instead of --minutes")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt when it exists")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start from this checkpoint's weights with a fresh optimizer and schedule (fine-tuning); "
                        "an exported model folder (e.g. sdk/models/click) works too, with BatchNorm frozen")
    p.add_argument("--freeze-bn", action="store_true", default=None,
                   help="keep BatchNorm in eval mode (running statistics) throughout; on by itself for --init FOLDER")
    p.add_argument("--size", type=int, default=96, help="working resolution S, a multiple of 16 (96)")
    p.add_argument("--width", type=positive_int, default=16, help="U-Net width: channels of the first block (16)")
    p.add_argument("--batch", type=positive_int, default=16, help="batch size (16)")
    p.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate (2e-3)")
    p.add_argument("--max-corrections", type=int, default=5, help="most robot corrections per batch (5)")
    p.add_argument("--bce-weight", type=float, default=0.5, help="weight of BCE added to the soft Dice loss (0.5)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (1: on a shared 2-core machine one thread measured faster than two)")
    p.add_argument("--val-every", type=positive_float, default=8.0, help="minutes between validation runs (8)")
    p.add_argument("--ckpt-every", type=positive_float, default=4.0, help="minutes between checkpoints (4)")
    p.add_argument("--seed", type=int, default=4242, help="random seed (4242, the paper's)")
    p.set_defaults(func=run)


def run(args) -> int:
    from radseg.cli._common import input_path, output_dir
    from radseg.errors import InputError, UsageError

    if not (args.size >= 16 and args.size % 16 == 0):
        raise UsageError(f"--size {args.size}: must be a positive multiple of 16", "e.g. --size 96")
    if args.max_corrections < 0:
        raise UsageError(f"--max-corrections {args.max_corrections}: must be 0 or more")
    input_path(args.data, "--data", kind="folder")
    output_dir(args.out)
    from radseg.training.click.train import TrainConfig, train

    cfg = TrainConfig(data=args.data, out=args.out, minutes=args.minutes, steps=args.steps, size=args.size,
                      width=args.width, batch=args.batch, lr=args.lr, max_corrections=args.max_corrections,
                      bce_weight=args.bce_weight, threads=args.threads, val_every_min=args.val_every,
                      ckpt_every_min=args.ckpt_every, seed=args.seed, resume=args.resume, init=args.init,
                      freeze_bn=args.freeze_bn)
    command = "radseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    if args.init:  # a missing or foreign checkpoint: a one-line error before the data is loaded
        from radseg.training.click.train import load_checkpoint

        try:
            load_checkpoint(args.init)
        except (FileNotFoundError, ValueError) as exc:
            raise InputError(f"--init {args.init}: {exc}") from exc
    train(cfg, log=lambda msg: print(msg, flush=True), command=command)
    return 0
