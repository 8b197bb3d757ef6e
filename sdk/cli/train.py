"""`radseg train click`: robot-in-the-loop training of the click model (needs the `train` extra).

Example (the bundled model's run, see sdk/models/click/MODEL_CARD.md):
    radseg train click --data ../shared/data --out runs/click --minutes 50
    radseg train click --out runs/click --minutes 60 --resume      # continue to a 60-minute total
    radseg train click --out runs/click_ft --init runs/click/final.pt --lr 1e-3 --minutes 90   # fine-tune
    radseg train click --out runs/click_ft --init sdk/models/click --lr 5e-4 --minutes 90     # from an export
"""
from __future__ import annotations

import shlex
import sys


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model (click) on ../shared/data; checkpoints are resumable",
                       description=__doc__.split("\n", 1)[1])
    p.add_argument("task", choices=["click"], help="which model to train")
    p.add_argument("--data", default="../shared/data", help="folder holding btcv_sabs_ct/ and chaos_t2_mri/")
    p.add_argument("--out", default="runs/click", help="run folder: checkpoints, log, manifest (runs/click)")
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget in minutes, over all resumes (30)")
    p.add_argument("--steps", type=int, default=None, help="train this many steps instead of --minutes")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt when it exists")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start from this checkpoint's weights with a fresh optimizer and schedule (fine-tuning); "
                        "an exported model folder (e.g. sdk/models/click) works too, with BatchNorm frozen")
    p.add_argument("--freeze-bn", action="store_true", default=None,
                   help="keep BatchNorm in eval mode (running statistics) throughout; on by itself for --init FOLDER")
    p.add_argument("--size", type=int, default=96, help="working resolution S, a multiple of 16 (96)")
    p.add_argument("--width", type=int, default=16, help="U-Net width: channels of the first block (16)")
    p.add_argument("--batch", type=int, default=16, help="batch size (16)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (2e-3)")
    p.add_argument("--max-corrections", type=int, default=5, help="most robot corrections per batch (5)")
    p.add_argument("--bce-weight", type=float, default=0.5, help="weight of BCE added to the soft Dice loss (0.5)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1: on a shared 2-core machine one thread measured faster than two)")
    p.add_argument("--val-every", type=float, default=8.0, help="minutes between validation runs (8)")
    p.add_argument("--ckpt-every", type=float, default=4.0, help="minutes between checkpoints (4)")
    p.add_argument("--seed", type=int, default=4242, help="random seed (4242, the paper's)")
    p.set_defaults(func=run)


def run(args) -> int:
    from radseg.cli import EXIT_USAGE

    for name, ok, what in (("--size", args.size >= 16 and args.size % 16 == 0, "a positive multiple of 16"),
                           ("--width", args.width >= 1, "at least 1"), ("--batch", args.batch >= 1, "at least 1"),
                           ("--minutes", args.minutes > 0, "positive"),
                           ("--steps", args.steps is None or args.steps >= 1, "at least 1"),
                           ("--max-corrections", args.max_corrections >= 0, "0 or more")):
        if not ok:
            print(f"radseg train: {name} must be {what}", file=sys.stderr)
            return EXIT_USAGE
    from radseg.training.click.train import TrainConfig, train

    cfg = TrainConfig(data=args.data, out=args.out, minutes=args.minutes, steps=args.steps, size=args.size,
                      width=args.width, batch=args.batch, lr=args.lr, max_corrections=args.max_corrections,
                      bce_weight=args.bce_weight, threads=args.threads, val_every_min=args.val_every,
                      ckpt_every_min=args.ckpt_every, seed=args.seed, resume=args.resume, init=args.init,
                      freeze_bn=args.freeze_bn)
    command = "radseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    if args.init:  # a missing or foreign checkpoint: a one-line error before the data is loaded
        from radseg.cli import EXIT_FAILURE
        from radseg.training.click.train import load_checkpoint

        try:
            load_checkpoint(args.init)
        except (FileNotFoundError, ValueError) as exc:
            print(f"radseg train: --init: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    train(cfg, log=lambda msg: print(msg, flush=True), command=command)
    return 0
