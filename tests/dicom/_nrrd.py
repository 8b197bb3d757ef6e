"""A minimal NRRD reader for the dcmqi reference label maps (independent of radseg's own readers).

Supports what those files use: 3D, types short/ushort/uchar/int, raw or gzip encoding, little endian,
'space: left-posterior-superior' with space directions and origin.
"""
from __future__ import annotations

import gzip
import re

import numpy as np

_TYPES = {"short": "<i2", "ushort": "<u2", "unsigned short": "<u2", "uchar": "u1", "unsigned char": "u1",
          "int": "<i4", "uint": "<u4", "float": "<f4"}


def read_nrrd(path):
    """Returns (data indexed [i, j, k] with i fastest in the file, 4x4 affine index -> LPS mm)."""
    with open(path, "rb") as f:
        raw = f.read()
    head, _, body = raw.partition(b"\n\n")
    fields = {}
    for line in head.decode("ascii").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip().lstrip("=").strip()
    assert fields["space"] == "left-posterior-superior", fields["space"]
    sizes = [int(s) for s in fields["sizes"].split()]
    if fields["encoding"] == "gzip":
        body = gzip.decompress(body)
    data = np.frombuffer(body, dtype=_TYPES[fields["type"]]).reshape(sizes[::-1]).transpose(2, 1, 0)
    vecs = [[float(x) for x in v.split(",")] for v in re.findall(r"\(([^)]*)\)", fields["space directions"])]
    origin = [float(x) for x in re.findall(r"\(([^)]*)\)", fields["space origin"])[0].split(",")]
    affine = np.eye(4)
    affine[:3, :3] = np.array(vecs).T
    affine[:3, 3] = origin
    return data, affine
