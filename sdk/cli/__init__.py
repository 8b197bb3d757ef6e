"""The `radseg` command: one subcommand per module in this package, and the one error contract they share.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed args and returning an exit code. Subcommand modules import heavy dependencies inside ``func``,
so that ``radseg --help`` stays fast and works without optional extras.

The error contract (`main` applies it to every subcommand; the subcommands only raise): a mistake prints one line
on stderr, ``radseg <command>: error: <what is wrong>; <how to fix it>``, and exits with

    0 done, 1 the work failed (missing or unusable file, corrupt model, refused backend, unwritable output),
    2 usage (unknown flag, malformed or out-of-range value), 3 an optional extra is missing, 130 interrupted.

A traceback is printed only with ``--debug`` (anywhere on the line) or ``RADSEG_DEBUG=1``. Warnings (assumptions
radseg made, see `radseg.RadsegWarning`) print as one line ``radseg <command>: warning: ...``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings

from radseg.errors import (
    EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_MISSING_EXTRA, EXIT_OK, EXIT_USAGE, RadsegError, UsageError, extra_for,
)

# Subcommand modules, in the order `radseg --help` lists them.
SUBCOMMANDS = ["segment", "eval", "train", "export", "bench", "dicom", "annotate", "body", "batch", "serve"]

# Kept for the subcommand modules that import them from here.
EXIT_MISSING_DEPENDENCY = EXIT_MISSING_EXTRA
__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_MISSING_EXTRA", "EXIT_INTERRUPTED"]

EPILOG = """exit codes: 0 done; 1 the work failed (missing or unusable file, corrupt model, refused backend,
unwritable output); 2 usage (unknown flag, malformed value); 3 an optional extra is missing; 130 interrupted.
Errors print one line; add --debug (or set RADSEG_DEBUG=1) for the traceback."""

# A value a user types after a flag that argparse would take for an option: "-5,100", "-.5", "-3".
_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (`UsageError`, formatted by `main`) instead of usage + message.

    Subparsers inherit the class, so every subcommand gets the same behaviour; `set_defaults(func=...)` also
    records the parser's prog ("radseg dicom info") so that `main` can name the command in its messages.
    """

    def error(self, message):
        err = UsageError(message, f"see '{self.prog} --help'")
        err.prog = self.prog  # the (sub)command whose arguments were wrong, for main's message
        raise err

    def set_defaults(self, **kwargs):
        if "func" in kwargs:
            kwargs.setdefault("command_prog", self.prog)
        super().set_defaults(**kwargs)


def build_parser() -> argparse.ArgumentParser:
    from radseg import __version__

    parser = Parser(
        prog="radseg",
        description="Interactive segmentation of CT and MR images: a click model, propagation through a volume, "
                    "the body outline; train, evaluate, export, benchmark; DICOM, DICOM SEG and RTSTRUCT in and out.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"radseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error (also: RADSEG_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"radseg.cli.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("RADSEG_DEBUG", "").strip() not in ("", "0")
    if "--debug" in _before_terminator(argv):
        debug = True
        argv.remove("--debug")
    prog = "radseg"
    try:
        parser = build_parser()
        argv = _join_negative_values(parser, argv)
        args, unknown = parser.parse_known_args(argv)
        prog = getattr(args, "command_prog", None) or (f"radseg {args.command}" if args.command else "radseg")
        if unknown:
            raise UsageError(f"unrecognized arguments: {' '.join(unknown)}", f"see '{prog} --help'")
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(prog)
            return int(args.func(args) or 0)
    except SystemExit as exc:  # --help / --version (argparse exits 0), or a subcommand's own sys.exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_FAILURE)
    except BaseException as exc:  # noqa: BLE001  (the one place every error is turned into a message)
        if debug:
            raise
        prog = getattr(exc, "prog", None) or prog
        code, message = describe_error(exc)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return code


def describe_error(exc: BaseException) -> tuple:
    """-> (exit code, one-line message "what is wrong; how to fix it") for any exception a subcommand raised."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, RadsegError):
        return exc.exit_code, _one_line(str(exc))
    if isinstance(exc, ModuleNotFoundError):
        module = (exc.name or "").split(".")[0] or "?"
        extra = extra_for(module)
        fix = f"install it with: pip install 'radseg[{extra}]'" if extra else f"install it with: pip install {module}"
        return EXIT_MISSING_EXTRA, f"the optional package {module!r} is not installed; {fix}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT_FAILURE, f"{where}{exc.strerror.lower()}; check the path and its permissions"
    if isinstance(exc, (ValueError, TypeError, LookupError, RuntimeError, OSError)):
        return EXIT_FAILURE, _one_line(str(exc) or type(exc).__name__)
    return EXIT_FAILURE, (f"internal error ({type(exc).__name__}: {_one_line(str(exc))}); rerun with --debug and "
                          "report the traceback")


def _one_line(text: str) -> str:
    """Multi-line messages (e.g. a list of series) joined into one line."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip()]
    return " ".join(p if p.endswith((":", ";", ",")) or k == len(parts) - 1 else p + ";" for k, p in enumerate(parts))


def _one_line_warning(prog: str):
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {_one_line(str(message))}", file=sys.stderr if file is None else file)

    return show


def _before_terminator(argv: list) -> list:
    return argv[: argv.index("--")] if "--" in argv else argv


def _value_flags(parser: argparse.ArgumentParser) -> set:
    """Option strings, of the parser and every subparser, that take exactly one value."""
    flags = set()
    for action in parser._actions:  # argparse exposes no public walk over a parser tree
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                flags |= _value_flags(child)
        elif action.option_strings and action.nargs is None and not isinstance(
                action, (argparse._StoreConstAction, argparse._CountAction, argparse._HelpAction,
                         argparse._VersionAction)):
            flags.update(s for s in action.option_strings if s.startswith("--"))
    return flags


def _join_negative_values(parser, argv: list) -> list:
    """``--click -5,100`` -> ``--click=-5,100``: argparse would take a value that begins with a minus (and is not
    a plain number) for an unknown option; users type it after the flag as for any other value."""
    flags = _value_flags(parser)
    out, i = [], 0
    head = _before_terminator(argv)
    while i < len(argv):
        token = argv[i]
        if i < len(head) - 1 and token in flags and _NEGATIVE_VALUE.match(argv[i + 1]):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


if __name__ == "__main__":
    sys.exit(main())
