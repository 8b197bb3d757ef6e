"""An exported model folder -> a Triton Inference Server model repository (`radseg export MODEL --triton REPO`).

    REPO/<name>/config.pbtxt             platform onnxruntime_onnx, dynamic batching, instance groups
    REPO/<name>/1/model.onnx             the model folder's ONNX graph, as it is
    REPO/<name>/radseg_manifest.json     the radseg manifest beside it (what the SDK's pre/post-processing reads)
    REPO/<name>_trt/...                  the same for the TensorRT engine, when the folder has model.plan

``<name>`` defaults to ``radseg_<task>`` (`radseg.backends.triton.default_model_name`), the name the triton
backend asks the server for. Clients: ``radseg.load(MODEL, backend="triton", url=...)``.

config.pbtxt is not templated text: it is a `model_config_pb2.ModelConfig` message (the protobuf that
`tritonclient` ships, Triton's own model_config.proto) printed with `google.protobuf.text_format`, so every field
name, enum and type is valid by construction. tritonclient is imported lazily; without it the writer refuses with
a one-line reason naming the extra.

Tensor dims come from the manifest: input [C, S, S] and output [1, S, S] FP32, the batch dim left out (Triton
prepends it when max_batch_size > 0). The SDK always feeds S x S crops, so fixed dims let Triton reject a wrong
shape before the graph sees it.
"""
from __future__ import annotations

import os
import pathlib
import shutil
from typing import Optional, Sequence

ONNX_PLATFORM = "onnxruntime_onnx"
PLAN_PLATFORM = "tensorrt_plan"
CONFIG_FILE = "config.pbtxt"
MANIFEST_COPY = "radseg_manifest.json"

#: How the SDK calls each task's network (a click: one crop; propagation: up and down in one batch of two; body:
#: `BodyModel.segment(batch=8)`) and the default max_batch_size, room for several viewers' requests in one pass.
TASK_BATCH = {"click": (1, 8), "propagation": (2, 8), "body": (8, 16)}
DEFAULT_BATCH = (1, 8)
KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU"}


class TritonExportError(RuntimeError):
    """The repository could not be written as asked (the message says why and what to do)."""


def _import_config():
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ModuleNotFoundError as exc:
        from radseg.errors import MissingExtraError

        raise MissingExtraError("tritonclient", "triton") from exc
    return model_config_pb2, text_format


def preferred_batch_sizes(task: str, max_batch_size: int) -> list:
    """The task's typical batch and its doublings up to max_batch_size: click [1, 2, 4, 8], propagation [2, 4, 8],
    body [8, 16]. The typical batch dispatches at once (no waiting for company); the doublings are the sizes
    concurrent viewers' requests are merged into."""
    typical = min(TASK_BATCH.get(task, DEFAULT_BATCH)[0], max_batch_size)
    sizes, b = [], max(1, typical)
    while b <= max_batch_size:
        sizes.append(b)
        b *= 2
    return sizes


def model_config(manifest, name: str, platform: str, max_batch_size: int, instances: int, kind: str,
                 gpus: Optional[Sequence[int]], max_queue_delay_us: int, filename: str,
                 preferred: Optional[Sequence[int]] = None):
    """The `ModelConfig` message for one model of the repository (see the module docstring for the fields)."""
    pb, _ = _import_config()
    cfg = pb.ModelConfig(name=name, platform=platform, max_batch_size=max_batch_size, default_model_filename=filename)
    s, c = int(manifest.input_size), int(manifest.in_channels)
    batch = [] if max_batch_size > 0 else [-1]  # without batching the batch axis is an ordinary, variable dim
    cfg.input.add(name=manifest.input_name, data_type=pb.TYPE_FP32, dims=batch + [c, s, s])
    cfg.output.add(name=manifest.output_name, data_type=pb.TYPE_FP32, dims=batch + [1, s, s])
    if max_batch_size > 0:
        sizes = list(preferred) if preferred is not None else preferred_batch_sizes(manifest.task, max_batch_size)
        cfg.dynamic_batching.preferred_batch_size.extend(sizes)
        # short: an interactive click must not wait for company longer than a fraction of its own pass
        cfg.dynamic_batching.max_queue_delay_microseconds = int(max_queue_delay_us)
    group = cfg.instance_group.add(count=int(instances), kind=getattr(pb.ModelInstanceGroup, KINDS[kind]))
    if gpus:
        group.gpus.extend(int(g) for g in gpus)
    return cfg


def _check_int(value, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        from radseg.errors import UsageError

        raise UsageError(f"{what} must be a whole number >= {low}, got {value!r}")
    return value


def _write_model(repo: pathlib.Path, cfg, text_format, files: dict, manifest_path: pathlib.Path) -> pathlib.Path:
    """REPO/<cfg.name>/{config.pbtxt, 1/<files>, radseg_manifest.json}; returns the model folder."""
    folder = repo / cfg.name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    for target, source in files.items():
        shutil.copyfile(source, folder / "1" / target)
    shutil.copyfile(manifest_path, folder / MANIFEST_COPY)
    (folder / CONFIG_FILE).write_text(text_format.MessageToString(cfg))
    return folder


def write_triton_repository(model_dir, repo, name: Optional[str] = None, max_batch_size: Optional[int] = None,
                            instances: int = 1, kind: str = "gpu", gpus: Optional[Sequence[int]] = None,
                            max_queue_delay_us: int = 100, preferred: Optional[Sequence[int]] = None,
                            tensorrt: Optional[bool] = None, overwrite: bool = False) -> dict:
    """Write a Triton model repository for one exported model folder.

    Args:
        model_dir: a bundled model name ("click") or an exported model folder (model.onnx + manifest.json).
        repo: the repository folder (created; other models already in it are left alone).
        name: the model's name on the server (default ``radseg_<task>``); the TensorRT model is ``<name>_trt``.
        max_batch_size: largest batch Triton forms (default per task: click 8, propagation 8, body 16; 0 turns
            batching off). For the TensorRT model it is capped at the engine profile's max batch.
        instances / kind / gpus: the instance group: `instances` copies on "gpu" (default) or "cpu", optionally
            pinned to the listed GPU ids.
        max_queue_delay_us: how long the dynamic batcher waits to fill a preferred batch (microseconds).
        preferred: preferred batch sizes (default `preferred_batch_sizes`).
        tensorrt: also write ``<name>_trt`` from model.plan: None (default) when the folder has one, True to
            require it, False to skip it.
        overwrite: replace existing ``REPO/<name>`` folders (otherwise they are an error).

    Returns:
        {"repo": str, "models": [{"name", "platform", "folder", "config"}], "manifest": str}

    Raises:
        MissingExtraError (a ModuleNotFoundError): tritonclient is not installed (the `triton` extra).
        UsageError (a ValueError): bad numbers or kind, an existing model folder without overwrite, tensorrt=True
            without model.plan.
        FileNotFoundError / ValueError: not a model folder, or a broken manifest.
    """
    from radseg.errors import UsageError
    from radseg.load import MANIFEST_FILE, resolve_model_dir
    from radseg.manifest import ModelManifest

    from radseg.backends.triton import default_model_name

    _pb, text_format = _import_config()
    folder = resolve_model_dir(model_dir)
    manifest_path = folder / MANIFEST_FILE
    manifest = ModelManifest.from_json(manifest_path)
    onnx_path = folder / "model.onnx"
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path} is missing; export the model first (`radseg export CHECKPOINT --out DIR`)")
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    typical, top = TASK_BATCH.get(manifest.task, DEFAULT_BATCH)
    max_batch_size = _check_int(top if max_batch_size is None else max_batch_size, "max_batch_size", 0)
    if 0 < max_batch_size < typical:
        raise UsageError(f"max_batch_size {max_batch_size} is below the {manifest.task} model's usual batch "
                         f"{typical}: every call would be split; use >= {typical}, or 0 for no batching")
    _check_int(instances, "instances", 1)
    _check_int(max_queue_delay_us, "max_queue_delay_us", 0)
    name = name or default_model_name(manifest.task)
    if not isinstance(name, str) or not name or "/" in name or os.sep in name or name.startswith("."):
        raise UsageError(f"name must be a plain folder name, got {name!r}")

    engine = (manifest.extra.get("engines") or {}).get("tensorrt") or {}
    plan_path = folder / str(engine.get("file") or "model.plan")
    if tensorrt and not plan_path.is_file():
        raise UsageError(f"{plan_path} is missing", f"build it with `radseg export {folder} --tensorrt --out {folder}`")
    with_plan = plan_path.is_file() if tensorrt is None else bool(tensorrt)

    repo = pathlib.Path(repo)
    names = [name] + ([f"{name}_trt"] if with_plan else [])
    for n in names:
        if (repo / n).exists():
            if not overwrite:
                raise UsageError(f"{repo / n} already exists", "pass overwrite=True (--overwrite) to replace it")
            shutil.rmtree(repo / n)
    repo.mkdir(parents=True, exist_ok=True)

    models = []
    cfg = model_config(manifest, name, ONNX_PLATFORM, max_batch_size, instances, kind, gpus, max_queue_delay_us,
                       "model.onnx", preferred)
    out = _write_model(repo, cfg, text_format, {"model.onnx": onnx_path}, manifest_path)
    models.append({"name": name, "platform": ONNX_PLATFORM, "folder": str(out), "config": str(out / CONFIG_FILE)})
    if with_plan:
        # an engine takes batches only up to its optimisation profile's max: a larger max_batch_size makes
        # Triton refuse to load the model, so cap it at what the manifest records the engine was built for
        profile_max = ((engine.get("profile") or {}).get(manifest.input_name) or {}).get("max") or [None]
        plan_batch = max_batch_size if profile_max[0] is None else min(max_batch_size, int(profile_max[0]))
        trt_kind = "gpu"  # a TensorRT engine runs on the GPU it was built for, whatever kind the ONNX model uses
        cfg = model_config(manifest, f"{name}_trt", PLAN_PLATFORM, plan_batch, instances, trt_kind, gpus,
                           max_queue_delay_us, "model.plan",
                           [p for p in (preferred or []) if p <= plan_batch] if preferred is not None else None)
        out = _write_model(repo, cfg, text_format, {"model.plan": plan_path}, manifest_path)
        models.append({"name": f"{name}_trt", "platform": PLAN_PLATFORM, "folder": str(out),
                       "config": str(out / CONFIG_FILE)})
    return {"repo": str(repo), "models": models, "manifest": str(manifest_path)}


def print_summary(report: dict) -> None:
    """One line per model written (what the command line prints)."""
    for m in report["models"]:
        print(f"wrote {m['folder']} ({m['platform']}): serve with `tritonserver --model-repository "
              f"{report['repo']}`, use with radseg.load(MODEL, backend='triton', url=..., model_name={m['name']!r})")


def add_cli_arguments(p) -> None:
    """`radseg export MODEL --triton REPO [...]`: the flags, added to the export subcommand's parser."""
    g = p.add_argument_group("Triton model repository (MODEL: a bundled name or an exported model folder)")
    g.add_argument("--triton", metavar="REPO", default=None,
                   help="write a Triton model repository for MODEL into REPO (no --out needed)")
    g.add_argument("--triton-name", default=None, help="model name on the server (default radseg_<task>)")
    g.add_argument("--triton-max-batch", type=int, default=None,
                   help="max_batch_size (default: click 8, propagation 8, body 16; 0: no batching)")
    g.add_argument("--triton-instances", type=int, default=1, help="instances of the model (1)")
    g.add_argument("--triton-kind", choices=sorted(KINDS), default="gpu", help="instance kind (gpu)")
    g.add_argument("--triton-overwrite", action="store_true", help="replace REPO/<name> when it exists")


def cli_run(args) -> int:
    """The command line's `--triton` path: write the repository, print one line per model."""
    from radseg.errors import InputError

    try:
        report = write_triton_repository(args.checkpoint, args.triton, name=args.triton_name,
                                         max_batch_size=args.triton_max_batch, instances=args.triton_instances,
                                         kind=args.triton_kind, overwrite=args.triton_overwrite)
    except FileNotFoundError as exc:
        raise InputError(str(exc), "give a bundled model name or a folder written by `radseg export CHECKPOINT "
                                   "--out DIR`") from exc
    print_summary(report)
    return 0
