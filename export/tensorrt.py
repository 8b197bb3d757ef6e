"""Exported model folder -> TensorRT engine ``model.plan``, validated against ONNX Runtime on real inputs.

NOT YET VERIFIED ON HARDWARE. No machine this project is built and tested on has TensorRT or an NVIDIA GPU.
`build_engine` is written against the documented TensorRT 10 Python API (``Builder``, ``create_network(0)`` --
networks are always explicit-batch in TensorRT 10 --, ``OnnxParser``, ``IBuilderConfig`` with a workspace pool
limit, one optimisation profile, a timing cache, ``build_serialized_network``) and has never run. What runs
without TensorRT is tested: the profile shapes (`profile_shapes`), the manifest record (`engine_metadata`), the
comparison and its verdict (`compare_logits`, `judge_validation`), the validation on real inputs with any runner
(`validate_engine`), the INT8 prerequisites (`check_qdq_graph`) and every refusal before TensorRT is needed.

What a build writes into OUT: model.plan, model.timing_cache (reused by the next build on the same machine),
manifest.json with ``engines.tensorrt`` = {file, precision, tensorrt_version, gpu_name, compute_capability,
onnx_file, onnx_sha256, plan_sha256, profile, workspace_mb, timing_cache, built_at, built_by, validation}, and,
when OUT is another folder, copies of model.onnx (and model.int8.onnx) so that OUT is a complete model folder.
The plan is written only after it passed validation.

Precisions: fp32 is IEEE fp32 (TF32 is turned off, so it is the reference engine); ``fp16`` lets TensorRT pick
fp16 kernels; ``int8`` builds from ``model.int8.onnx``, a graph with symmetric signed INT8 QuantizeLinear /
DequantizeLinear nodes (explicit quantization: TensorRT has no calibration step here), written by
`radseg export MODEL --int8`.
"""
from __future__ import annotations

import datetime
import os
import pathlib
import shutil
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from radseg.errors import MissingExtraError, RadsegError, UsageError

from .onnx_export import ExportError, keep_model_card, real_inputs

#: (opt, max) batch of the engine profile per task: opt is how the SDK calls the network (a click: one crop;
#: propagation: one batch of two, up and down; body: `BodyModel.segment(batch=8)`), max leaves room for callers
#: that batch more. Larger batches still run: the backend splits them.
TASK_BATCH = {"click": (1, 4), "propagation": (2, 8), "body": (8, 16)}
DEFAULT_BATCH = (1, 8)
#: Starting tolerances per precision (not measured on hardware yet): max abs logit difference vs ONNX Runtime
#: fp32, and the lowest per-input Dice of the masks (logits > 0).
DEFAULT_TOLERANCE = {"fp32": 1e-2, "fp16": 0.25, "int8": 2.0, "int8+fp16": 2.0}
DEFAULT_MIN_DICE = {"fp32": 0.995, "fp16": 0.98, "int8": 0.9, "int8+fp16": 0.9}
INT8_ONNX = "model.int8.onnx"
TIMING_CACHE = "model.timing_cache"


class EngineBuildError(ExportError):
    """The engine could not be built, or was built but failed validation (it is then not written)."""


class TensorRTMissing(MissingExtraError):
    """tensorrt or cuda-python is not installed (exit 3 on the command line)."""

    def __init__(self, module: str, detail: str = ""):
        RadsegError.__init__(self, f"{module} is not installed{f' ({detail})' if detail else ''}; building a "
                                   "TensorRT engine needs TensorRT 10+, cuda-python and an NVIDIA GPU",
                             "install them on the GPU machine: pip install tensorrt cuda-python")
        self.name, self.extra = module, None


def profile_shapes(manifest, max_batch: Optional[int] = None) -> Dict[str, Tuple[tuple, tuple, tuple]]:
    """{input name: (min, opt, max)} shapes [N, C, S, S] of the engine's one optimisation profile.

    C = manifest.in_channels and S = manifest.input_size are fixed (the SDK always feeds S x S crops: kernels tuned
    for one size are the fastest); N runs from 1 to the task's max batch (`TASK_BATCH`, or `max_batch`).
    """
    opt, top = TASK_BATCH.get(manifest.task, DEFAULT_BATCH)
    if max_batch is not None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < opt:
            raise UsageError(f"max_batch must be a whole number >= {opt} (the {manifest.task} model's usual batch), "
                             f"got {max_batch!r}")
        top = max_batch
    c, s = int(manifest.in_channels), int(manifest.input_size)
    return {manifest.input_name: ((1, c, s, s), (opt, c, s, s), (top, c, s, s))}


def precision_of(fp16: bool, int8: bool) -> str:
    return ("int8+fp16" if fp16 else "int8") if int8 else ("fp16" if fp16 else "fp32")


def engine_metadata(running: dict, precision: str, profile: dict, onnx_file: str, onnx_sha256: str,
                    workspace_mb: int, timing_cache: Optional[str] = TIMING_CACHE, built_at: Optional[str] = None,
                    plan_file: str = "model.plan") -> dict:
    """The manifest's ``engines.tensorrt`` entry (JSON-ready) for an engine built on `running`.

    running: {"tensorrt_version", "gpu_name", "compute_capability"} (`radseg.backends.tensorrt.running_info`);
    profile: `profile_shapes`' dict; built_at: ISO 8601 UTC (default: now).
    """
    from radseg import __version__
    from radseg.backends.tensorrt import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    missing = [k for k in ("tensorrt_version", "gpu_name", "compute_capability") if not running.get(k)]
    if missing:
        raise ValueError(f"running machine description lacks {missing}")
    return {
        "file": plan_file, "precision": precision, "tensorrt_version": str(running["tensorrt_version"]),
        "gpu_name": str(running["gpu_name"]), "compute_capability": str(running["compute_capability"]),
        "onnx_file": onnx_file, "onnx_sha256": onnx_sha256,
        "profile": {n: {"min": list(a), "opt": list(b), "max": list(c)} for n, (a, b, c) in profile.items()},
        "workspace_mb": int(workspace_mb), "timing_cache": timing_cache,
        "built_at": built_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "built_by": f"radseg {__version__}",
    }


def compare_logits(reference: np.ndarray, got: np.ndarray) -> dict:
    """Max abs difference and per-input Dice of the masks (logits > 0) of two [N, 1, H, W] logit arrays."""
    from radseg.metrics import dice

    reference, got = np.asarray(reference, np.float32), np.asarray(got, np.float32)
    if reference.shape != got.shape:
        raise EngineBuildError(f"the engine's output shape {list(got.shape)} differs from ONNX Runtime's "
                               f"{list(reference.shape)}")
    if not np.isfinite(got).all():
        return {"max_abs_logit_diff": float("inf"), "mask_dice_min": 0.0, "mask_dice_mean": 0.0}
    dices = [dice(got[i] > 0, reference[i] > 0) for i in range(got.shape[0])]
    return {"max_abs_logit_diff": float(np.abs(got - reference).max()), "mask_dice_min": float(min(dices)),
            "mask_dice_mean": float(np.mean(dices))}


def judge_validation(report: dict, precision: str, tolerance: Optional[float] = None,
                     min_dice: Optional[float] = None) -> dict:
    """`report` with the tolerances applied, or EngineBuildError saying which one was exceeded."""
    tol = DEFAULT_TOLERANCE[precision] if tolerance is None else float(tolerance)
    floor = DEFAULT_MIN_DICE[precision] if min_dice is None else float(min_dice)
    out = {**report, "tolerance": tol, "min_dice": floor}
    diff, worst = report["max_abs_logit_diff"], report["mask_dice_min"]
    if not diff <= tol or not worst >= floor:
        raise EngineBuildError(
            f"the {precision} TensorRT engine disagrees with ONNX Runtime on real inputs: max abs logit difference "
            f"{diff:.3g} (tolerance {tol:g}), lowest mask Dice {worst:.4f} (at least {floor:g}); the engine was not "
            "written. Build without --fp16 / --int8, or loosen --trt-tolerance / --trt-min-dice if the masks suit you")
    return out


def validate_engine(run_engine: Callable, model_dir, manifest, precision: str, data="../shared/data",
                    tolerance: Optional[float] = None, min_dice: Optional[float] = None, n: int = 8) -> dict:
    """Compare `run_engine` (feeds -> outputs, e.g. `TensorRTBackend.run`) with ONNX Runtime CPU on model.onnx.

    Inputs: `real_inputs` (the SDK's own preprocessing of real CT slices), run as one batch of `n` (split by the
    backend when above the profile's max) and as a batch of one. Returns the judged report; EngineBuildError over
    a tolerance.
    """
    from radseg.backends.onnxruntime import OnnxRuntimeBackend

    reference = OnnxRuntimeBackend(pathlib.Path(model_dir) / "model.onnx", device="cpu")
    xs, source = real_inputs(manifest, data, n=n)
    worst = None
    for batch in (xs, xs[:1]):
        feeds = {manifest.input_name: np.ascontiguousarray(batch)}
        r = compare_logits(reference.run(feeds)[manifest.output_name], run_engine(feeds)[manifest.output_name])
        if worst is None:
            worst = r
        else:
            worst = {"max_abs_logit_diff": max(worst["max_abs_logit_diff"], r["max_abs_logit_diff"]),
                     "mask_dice_min": min(worst["mask_dice_min"], r["mask_dice_min"]),
                     "mask_dice_mean": worst["mask_dice_mean"]}
    report = {**worst, "reference": "onnxruntime-cpu on model.onnx (fp32)", "source": source,
              "inputs": f"{len(xs)} at {xs.shape[-1]}x{xs.shape[-1]}, as batches of {len(xs)} and 1"}
    return judge_validation(report, precision, tolerance, min_dice)


def check_qdq_graph(path) -> Optional[str]:
    """Why the ONNX file `path` is not a graph TensorRT can build an INT8 engine from, or None.

    TensorRT's explicit quantization takes QuantizeLinear / DequantizeLinear pairs with signed INT8 zero points
    equal to 0 (symmetric); ONNX Runtime's default uint8 activations are refused.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name: t for t in model.graph.initializer}
    qdq = [nd for nd in model.graph.node if nd.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        return f"{path} has no QuantizeLinear / DequantizeLinear nodes (it is not a QDQ-quantised graph)"
    bad = {}  # zero-point dtype (or "nonzero int8") -> first node
    for nd in qdq:
        if len(nd.input) < 3 or not nd.input[2] or nd.input[2] not in inits:
            continue  # no zero point, or a computed one: TensorRT's parser will judge it
        arr = numpy_helper.to_array(inits[nd.input[2]])
        if arr.dtype != np.int8:
            bad.setdefault(str(arr.dtype), nd.name or nd.op_type)
        elif np.any(arr != 0):
            bad.setdefault("nonzero int8", nd.name or nd.op_type)
    if bad:
        found = ", ".join(f"{kind} zero points (e.g. {node})" for kind, node in bad.items())
        return (f"{path} has {found}; TensorRT builds INT8 engines only from symmetric signed INT8 Q/DQ (int8 zero "
                "points of 0, float biases): re-quantise with signed symmetric activations and weights (ONNX Runtime: "
                "activation_type=QInt8, weight_type=QInt8, symmetric activations) and biases left in float")
    return None


def _trt_and_machine(device: int):
    """(tensorrt module, running_info dict); TensorRTMissing / EngineBuildError say what is missing."""
    from radseg.backends.base import BackendUnavailable
    from radseg.backends.tensorrt import MIN_TENSORRT_MAJOR, _import_cudart, _import_trt, _version_tuple, running_info

    for module, importer in (("tensorrt", _import_trt), ("cuda-python", _import_cudart)):
        try:
            importer()
        except BackendUnavailable as exc:
            raise TensorRTMissing(module, str(exc.__cause__ or "")) from exc
    import tensorrt as trt

    version = _version_tuple(trt.__version__)
    if version is None or version[0] < MIN_TENSORRT_MAJOR:
        raise EngineBuildError(f"TensorRT {trt.__version__} is installed; radseg builds engines with TensorRT "
                               f"{MIN_TENSORRT_MAJOR} or later (pip install 'tensorrt>={MIN_TENSORRT_MAJOR}')")
    try:
        return trt, running_info(device)
    except BackendUnavailable as exc:
        raise EngineBuildError(f"cannot query the GPU: {exc}") from exc


def _build_plan(trt, onnx_path, profile, precision: str, workspace_mb: int, cache_path) -> bytes:
    """The serialized engine. UNVERIFIED ON HARDWARE (TensorRT 10 Python API as documented)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch always; the EXPLICIT_BATCH flag is ignored
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT's ONNX parser refused {onnx_path}: {errors or 'no detail'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means IEEE fp32: the reference engine
    for flag in (["FP16"] if "fp16" in precision else []) + (["INT8"] if "int8" in precision else []):
        if not hasattr(trt.BuilderFlag, flag):
            raise EngineBuildError(f"this TensorRT ({trt.__version__}) has no BuilderFlag.{flag}; build the fp32 "
                                   "engine, or use TensorRT 10")
        config.set_flag(getattr(trt.BuilderFlag, flag))
    opt_profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile.items():
        opt_profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(opt_profile)
    cache_path = pathlib.Path(cache_path)
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    if not config.set_timing_cache(cache, False):  # a cache of another TensorRT / GPU: start an empty one
        config.set_timing_cache(config.create_timing_cache(b""), False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"TensorRT could not build an engine from {onnx_path} (its log above says why)")
    with open(cache_path, "wb") as f:
        f.write(memoryview(config.get_timing_cache().serialize()))
    return bytes(memoryview(plan))


def build_engine(model_dir, out_dir=None, fp16: bool = False, int8: bool = False, timing_cache=None,
                 workspace_mb: int = 2048, max_batch: Optional[int] = None, data="../shared/data",
                 tolerance: Optional[float] = None, min_dice: Optional[float] = None, device: int = 0) -> dict:
    """Build, validate and record a TensorRT engine for the model folder `model_dir` (or a bundled model name).

    Writes out_dir (default: model_dir)/model.plan and the manifest entry described in the module docstring;
    returns a report dict (paths, precision, machine, validation). Raises: EngineBuildError (an ExportError:
    missing model.onnx / model.int8.onnx, parse or build failure, validation over a tolerance), TensorRTMissing
    (a ModuleNotFoundError) when tensorrt or cuda-python is missing. UNVERIFIED ON HARDWARE past the refusals.
    """
    from radseg.backends.base import sha256_file
    from radseg.backends.tensorrt import PLAN_FILE, TensorRTBackend
    from radseg.load import resolve_model_dir
    from radseg.manifest import ModelManifest

    src = resolve_model_dir(model_dir)
    out = pathlib.Path(out_dir) if out_dir is not None else src
    manifest = ModelManifest.from_json(src / "manifest.json")
    precision = precision_of(fp16, int8)
    onnx_name = INT8_ONNX if int8 else "model.onnx"
    if int8 and not (src / INT8_ONNX).is_file():
        raise EngineBuildError(f"an INT8 engine is built from {src / INT8_ONNX}, a QDQ-quantised graph, and there is "
                               f"none: run `radseg export {model_dir} --int8 --out {src}` first, then add --tensorrt")
    if not (src / "model.onnx").is_file():
        raise EngineBuildError(f"{src / 'model.onnx'} is missing; export the model first "
                               "(`radseg export CHECKPOINT --out DIR`)")
    if int8:
        why = check_qdq_graph(src / INT8_ONNX)
        if why:
            raise EngineBuildError(why)
    if not (isinstance(workspace_mb, int) and workspace_mb >= 64):
        raise UsageError(f"workspace_mb must be a whole number >= 64, got {workspace_mb!r}")
    profile = profile_shapes(manifest, max_batch)
    trt, running = _trt_and_machine(device)
    out.mkdir(parents=True, exist_ok=True)
    cache_path = pathlib.Path(timing_cache) if timing_cache is not None else out / TIMING_CACHE
    plan = _build_plan(trt, src / onnx_name, profile, precision, workspace_mb, cache_path)
    tmp = out / f".{PLAN_FILE}.building"
    tmp.write_bytes(plan)
    try:
        backend = TensorRTBackend(tmp, device=device)
        try:
            validation = validate_engine(backend.run, src, manifest, precision, data, tolerance, min_dice)
        finally:
            backend.close()
    except BaseException:
        tmp.unlink(missing_ok=True)  # an engine that failed validation must not be left where it would load
        raise
    if out.resolve() != src.resolve():
        for name in {"model.onnx", onnx_name}:
            shutil.copy2(src / name, out / name)
        keep_model_card(src, out)
    os.replace(tmp, out / PLAN_FILE)
    entry = engine_metadata(running, precision, profile, onnx_name, sha256_file(src / onnx_name), workspace_mb,
                            timing_cache=cache_path.name if cache_path.parent.resolve() == out.resolve()
                            else str(cache_path))
    entry.update(plan_sha256=sha256_file(out / PLAN_FILE), validation=validation)
    engines = {**manifest.extra.get("engines", {}), "tensorrt": entry}
    manifest_path = manifest.replace(extra={**manifest.extra, "engines": engines}).to_json(out / "manifest.json")
    return {"plan": str(out / PLAN_FILE), "manifest": str(manifest_path), "precision": precision,
            "plan_mb": (out / PLAN_FILE).stat().st_size / 2 ** 20, **running, "validation": validation}


# ---- command line: `radseg export MODEL --tensorrt [--fp16] [--int8]` (wired in by radseg.cli.export) ----------
def add_cli_arguments(p) -> None:
    """Add the TensorRT flags to the `radseg export` parser (`--int8` is the quantised export's own flag)."""
    g = p.add_argument_group("TensorRT (NOT YET VERIFIED ON HARDWARE: written against the TensorRT 10 API)")
    g.add_argument("--tensorrt", action="store_true",
                   help="build DIR/model.plan from the model folder MODEL (or a bundled name) with TensorRT 10+ "
                        "on this machine's GPU, validated against ONNX Runtime on real inputs")
    g.add_argument("--fp16", action="store_true", help="with --tensorrt: allow fp16 kernels")
    g.add_argument("--max-batch", type=int, default=None, metavar="N",
                   help="with --tensorrt: largest batch of the optimisation profile (click 4, propagation 8, body 16)")
    g.add_argument("--workspace-mb", type=int, default=2048, metavar="MB",
                   help="with --tensorrt: TensorRT's workspace memory limit (2048)")
    g.add_argument("--timing-cache", default=None, metavar="FILE",
                   help="with --tensorrt: timing cache to read and update (default DIR/model.timing_cache)")
    g.add_argument("--trt-tolerance", type=float, default=None, metavar="X",
                   help="with --tensorrt: max abs logit difference vs ONNX Runtime (fp32 1e-2, fp16 0.25, int8 2)")
    g.add_argument("--trt-min-dice", type=float, default=None, metavar="D",
                   help="with --tensorrt: lowest mask Dice vs ONNX Runtime (fp32 0.995, fp16 0.98, int8 0.9)")


def cli_run(args) -> int:
    """`radseg export MODEL --tensorrt ...`: build, validate and record the engine; prints two lines."""
    from radseg.cli._common import output_dir

    if not args.tensorrt:
        raise UsageError("--fp16 / --max-batch / --trt-* need --tensorrt", "add --tensorrt (or leave them out)")
    if pathlib.Path(args.checkpoint).is_file() and pathlib.Path(args.checkpoint).suffix not in (".onnx", ".json"):
        raise UsageError(f"--tensorrt builds from an exported model folder, and {args.checkpoint} is a file",
                         f"export it first (`radseg export {args.checkpoint} --out DIR`), then "
                         "`radseg export DIR --tensorrt --out DIR`")
    if args.crop or args.postprocess or args.stopping or args.metrics:
        raise UsageError("--tensorrt builds from the folder's model.onnx as it is; --crop / --postprocess / "
                         "--stopping / --metrics belong to the ONNX export", "re-export with them first, then "
                         "run --tensorrt on the new folder")
    output_dir(args.out)
    report = build_engine(args.checkpoint, args.out, fp16=args.fp16, int8=bool(getattr(args, "int8", False)),
                          timing_cache=args.timing_cache, workspace_mb=args.workspace_mb, max_batch=args.max_batch,
                          data=args.data, tolerance=args.trt_tolerance, min_dice=args.trt_min_dice)
    v = report["validation"]
    print(f"wrote {report['plan']} ({report['plan_mb']:.2f} MB, {report['precision']}, TensorRT "
          f"{report['tensorrt_version']} on {report['gpu_name']}, compute capability {report['compute_capability']}) "
          f"and {report['manifest']}")
    print(f"validated against {v['reference']} on real inputs ({v['inputs']}; {v['source']}): max abs logit "
          f"difference {v['max_abs_logit_diff']:.2e} (tolerance {v['tolerance']:g}), lowest mask Dice "
          f"{v['mask_dice_min']:.4f} (at least {v['min_dice']:g})")
    return 0
