"""`radseg bench`: time radseg's native geometry against the libraries a user would otherwise pick."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark native geometry and metrics against scipy, OpenCV, edt, MONAI, ...")
    p.add_argument("--repeat", type=int, default=7, help="timed repetitions per case (median reported)")
    p.set_defaults(func=run)


def run(args) -> int:
    raise NotImplementedError("the benchmark lands with the foundation issue")
