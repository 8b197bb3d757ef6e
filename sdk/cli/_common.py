"""What several subcommands do the same way: argument types, loading a model, making an output folder.

Each helper raises the typed errors of `radseg.errors` with messages that speak the command line (flags, not
Python keywords); `radseg.cli.main` prints them as one line with the documented exit code.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import pathlib

from radseg.errors import InputError, MissingExtraError, OutputError, RadsegError, UsageError


# ---------------------------------------------------------------------------------------------- argument types
def whole_number(minimum: int):
    """argparse type factory: an integer >= `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, got {value}")
        return value

    return parse


#: argparse type: an integer >= 1.
positive_int = whole_number(1)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def number_list(text: str, flag: str, count: int, positive: bool = False) -> tuple:
    """"1.5,2" -> (1.5, 2.0): `count` finite numbers separated by commas; UsageError naming `flag` otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise UsageError(f"{flag} {text!r}: expected {count} numbers separated by commas")
    if positive and not all(v > 0 for v in values):
        raise UsageError(f"{flag} {text!r}: every value must be positive")
    return values


def requires_action(parser: argparse.ArgumentParser, what: str = "an action"):
    """A `func` for a parser with sub-actions, for when none was given: a UsageError listing them."""

    def func(args):
        names = []
        for action in parser._actions:  # argparse exposes no public list of a parser's subcommands
            if isinstance(action, argparse._SubParsersAction):
                names += list(action.choices)
        raise UsageError(f"choose {what}: {', '.join(names)}", f"see '{parser.prog} --help'")

    return func


# ---------------------------------------------------------------------------------------------- models
def load_model(model: str, backend=None, threads=None, flag: str = "--model"):
    """`radseg.load(model, backend, threads)`, with its failures said in terms of --model / --backend."""
    import radseg
    from radseg.backends import BackendRefusedError, UnknownBackendError
    from radseg.load import ModelNotFoundError

    try:
        return radseg.load(model, backend=backend, threads=threads)
    except ModelNotFoundError as exc:
        raise InputError(f"{flag} {model}: neither a bundled model ({', '.join(exc.bundled) or 'none'}) nor a model "
                         "folder", f"give {flag} a bundled name or a folder written by `radseg export CHECKPOINT "
                                   "--out DIR`") from exc
    except UnknownBackendError as exc:
        raise UsageError(f"--backend {backend}: unknown backend",
                         f"choose one of {', '.join(exc.names)}, or leave out --backend to choose automatically") from exc
    except BackendRefusedError as exc:
        if backend is None and importlib.util.find_spec("onnxruntime") is None:
            raise MissingExtraError("onnxruntime", "cpu") from exc
        why = "; ".join(f"{n}: {r}" for n, r in exc.reasons.items())
        if backend is not None:
            raise RadsegError(f"--backend {backend} cannot run here ({why})",
                              "leave out --backend to use the best backend that works here") from exc
        raise RadsegError(f"no backend can run {flag} {model} ({why})", "install the cpu extra: pip install "
                                                                         "'radseg[cpu]'") from exc
    except ModuleNotFoundError:
        raise
    except (FileNotFoundError, ValueError) as exc:
        text = str(exc)
        text = text[len("load: "):] if text.startswith("load: ") else text
        raise InputError(f"{flag} {model}: {text}") from exc
    except TypeError as exc:  # a wrong threads type cannot come from argparse; anything else is a model problem
        raise InputError(f"{flag} {model}: {exc}") from exc


# ---------------------------------------------------------------------------------------------- outputs
def output_dir(path, flag: str = "--out") -> pathlib.Path:
    """Create the folder `path` (and its parents) and check it is writable; OutputError naming `flag` otherwise."""
    folder = pathlib.Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{flag} {path}: is a file, not a folder", f"give a folder path to {flag}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{flag} {path}: cannot create the folder ({exc.strerror or exc})",
                          f"give {flag} a folder you can write to") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: the folder is not writable", f"give {flag} a folder you can write to")
    return folder


def output_file(path, flag: str, suffixes=()) -> pathlib.Path:
    """Check that the file `path` can be written (its folder exists or can be made; the suffix is allowed)."""
    target = pathlib.Path(path)
    if suffixes and not str(target).lower().endswith(tuple(suffixes)):
        raise UsageError(f"{flag} {path}: unsupported file name", f"end it in {' or '.join(suffixes)}")
    if target.is_dir():
        raise OutputError(f"{flag} {path}: is a folder", f"give {flag} a file name")
    output_dir(target.parent if str(target.parent) else ".", flag=f"{flag} folder")
    return target


def input_path(path, flag: str, kind: str = "file") -> pathlib.Path:
    """An existing file (kind "file"), folder ("folder") or either ("path"); InputError naming `flag` otherwise."""
    p = pathlib.Path(path)
    if not p.exists():
        raise InputError(f"{flag} {path}: no such {kind}", "check the path")
    if kind == "file" and not p.is_file():
        raise InputError(f"{flag} {path}: is a folder, not a file", f"give {flag} a file")
    if kind == "folder" and not p.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a folder", f"give {flag} a folder")
    return p
