"""The backend interface: one small protocol that every inference engine implements.

A backend wraps one loaded network and runs it on named float32 arrays. The SDK's sessions call only `run`, so a
new engine plugs in by implementing this protocol and registering a factory with
`radseg.backends.select.register_backend`.
"""
from __future__ import annotations

import hashlib
from typing import Dict, Mapping, Protocol, runtime_checkable

import numpy as np


class BackendUnavailable(RuntimeError):
    """This backend cannot run here (library not installed, no GPU, provider not taken up, no engine file).

    Raised by backend factories; the selector records the message as the refusal reason and tries the next one.
    A *broken model file* is not a refusal: factories raise `ModelFileError` for that, which stops the selection.
    """


class ModelFileError(ValueError):
    """The model file itself is missing, unreadable or corrupt: re-export it (`radseg export CHECKPOINT --out DIR`)."""


@runtime_checkable
class Backend(Protocol):
    """A loaded network, ready to run.

    Attributes:
        name: what actually runs, e.g. "onnxruntime-cpu", "onnxruntime-cuda".
        refused: backends that were tried before this one and refused, name -> reason (empty when this one was
            the first choice or was named by the caller).
        input_names / output_names: the network's tensor names, in the network's order.
    """

    name: str
    refused: Dict[str, str]
    input_names: tuple
    output_names: tuple

    def run(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the network: `feeds` maps every input name to an array; returns every output by name."""
        ...


def check_feeds(feeds: Mapping[str, np.ndarray], input_names: tuple, backend: str) -> Dict[str, np.ndarray]:
    """Validate `feeds` against the network's inputs and return them as C-contiguous float32 arrays.

    Raises:
        TypeError: feeds is not a mapping, or a value is not a numeric array.
        ValueError: a required input is missing or an unknown name is given.
    """
    if not isinstance(feeds, Mapping):
        raise TypeError(f"{backend}.run: feeds must be a dict of input name -> array, got {type(feeds).__name__}")
    missing = [n for n in input_names if n not in feeds]
    unknown = [n for n in feeds if n not in input_names]
    if missing or unknown:
        raise ValueError(
            f"{backend}.run: feeds must name exactly the network inputs {list(input_names)}; "
            f"missing {missing}, unknown {unknown}"
        )
    out = {}
    for name in input_names:
        a = np.asarray(feeds[name])
        if a.dtype == object or not np.issubdtype(a.dtype, np.number):
            raise TypeError(f"{backend}.run: input {name!r} must be a numeric array, got dtype {a.dtype}")
        out[name] = np.ascontiguousarray(a, dtype=np.float32)
    return out


def sha256_file(path) -> str:
    """The hex SHA-256 of a model file (read in 1 MiB blocks), as manifests record engine and variant files."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
