"""The `radseg` command: one subcommand per module in this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed args and returning an exit code. Subcommand modules import heavy dependencies inside ``func``,
so that ``radseg --help`` stays fast and works without optional extras.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order `radseg --help` lists them.
SUBCOMMANDS = ["bench", "eval", "train", "export", "segment", "dicom"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_MISSING_DEPENDENCY = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    from radseg import __version__

    parser = argparse.ArgumentParser(
        prog="radseg",
        description="Interactive segmentation of CT and MR images: click, propagate, outline; train, evaluate, export.",
    )
    parser.add_argument("--version", action="version", version=f"radseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"radseg.cli.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:
        # An optional extra is missing: say which, and how to get it.
        print(f"radseg {args.command}: missing optional package {exc.name!r}. {_install_hint(exc.name)}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    except KeyboardInterrupt:
        return 130


_EXTRAS = {
    "onnxruntime": "cpu", "torch": "train", "onnx": "train", "pydicom": "dicom", "highdicom": "dicom",
    "nibabel": "dicom", "dicomweb_client": "dicom", "tensorrt": "gpu", "matplotlib": "train", "tqdm": "train",
}


def _install_hint(module: str | None) -> str:
    extra = _EXTRAS.get((module or "").split(".")[0])
    return f"Install it with: pip install 'radseg[{extra}]'" if extra else f"Install it with: pip install {module}"


if __name__ == "__main__":
    sys.exit(main())
