"""The INT8 variant of a model on ONNX Runtime's CPU provider (`model.int8.onnx`, written by `radseg export MODEL
--int8`), and when automatic selection may take it.

Named (``backend="onnxruntime-cpu-int8"``) it runs whenever the file is there and matches the manifest's record.
Chosen automatically only when the manifest's ``variants.int8`` says it was validated (its masks agree with fp32
on held-out inputs and it measured faster) and this CPU has the int8 instructions it was measured with (VNNI and
the like: without them ONNX Runtime's int8 kernels can be slower than fp32).
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import List, Optional

from .base import BackendUnavailable, ModelFileError

INT8_FILE = "model.int8.onnx"
NAME = "onnxruntime-cpu-int8"


def cpu_isa() -> List[str]:
    """The int8 dot-product instruction sets of this CPU ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp" on
    ARM), read from /proc/cpuinfo; [] when there are none or it cannot be read."""
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return sorted(f for f in ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp") if f in flags)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` says."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def automatic_refusal(entry: Optional[dict], isa: List[str]) -> Optional[str]:
    """Why automatic selection must not take the int8 variant described by `entry` (the manifest's
    ``variants["int8"]``) on a CPU with instruction sets `isa`; None when it may."""
    if not entry:
        return "no int8 variant in the manifest (write one with `radseg export MODEL --out DIR --int8`)"
    if not entry.get("validated"):
        agree = entry.get("agreement", {})
        return (f"the int8 variant was not validated (mask Dice vs fp32 {agree.get('mask_dice_mean', '?')}, "
                f"speed-up {entry.get('speed', {}).get('speedup', '?')}); name it to use it anyway")
    measured = set(entry.get("speed", {}).get("isa") or [])
    if not measured:
        return "the int8 variant's speed was measured on a CPU without int8 dot-product instructions"
    if not measured & set(isa):
        return (f"this CPU lacks the int8 instructions the speed-up was measured with ({', '.join(sorted(measured))}"
                f"); here it would not be faster")
    return None


def int8_factory(model_dir, threads=None, automatic: bool = False):
    """An ONNX Runtime CPU backend on `model_dir`/model.int8.onnx named "onnxruntime-cpu-int8"."""
    from .onnxruntime import OnnxRuntimeBackend

    folder = os.fspath(model_dir)
    path = os.path.join(folder, INT8_FILE)
    try:
        manifest = json.loads(pathlib.Path(folder, "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    entry = (manifest.get("variants") or {}).get("int8")
    if not os.path.isfile(path):
        raise BackendUnavailable(f"no {INT8_FILE} in {folder} (write one with `radseg export MODEL --out DIR --int8`)")
    if entry is None:
        raise BackendUnavailable(f"{INT8_FILE} is not recorded in the manifest's variants; re-run "
                                 "`radseg export MODEL --out DIR --int8`")
    if automatic:
        reason = automatic_refusal(entry, cpu_isa())
        if reason:
            raise BackendUnavailable(reason)
    if entry.get("file", INT8_FILE) != INT8_FILE:
        raise ModelFileError(f"the manifest's int8 variant names {entry.get('file')!r}, expected {INT8_FILE}")
    backend = OnnxRuntimeBackend(path, device="cpu", threads=threads)
    backend.name = NAME
    return backend
