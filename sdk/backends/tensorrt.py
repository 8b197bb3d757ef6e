"""TensorRT backend: a serialized engine (``model.plan``) built by `radseg export MODEL --tensorrt`.

NOT YET VERIFIED ON HARDWARE. No machine this project is built and tested on has TensorRT or an NVIDIA GPU:
the code that touches TensorRT or CUDA (`running_info`, `TensorRTBackend`) is written against the documented
TensorRT 10 Python API (named tensors: ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``) and
cuda-python's runtime bindings, and has never run. What runs without them is tested: the metadata checks
(`check_engine_metadata`), the input-shape checks, the batch split, and every refusal of `tensorrt_factory`.
``benchmarks/gpu_tensorrt.py`` is the check a user with a GPU runs.

Device memory: cuda-python (``pip install cuda-python``; module ``cuda.bindings.runtime``, or the older
``cuda.cudart``), chosen over torch because it is a small wheel and a CUDA build of torch is not. Both it and
``tensorrt`` are imported inside functions, so ``import radseg`` never loads them.

Refusals: every reason this backend cannot run here (TensorRT or cuda-python missing, no GPU, no engine, an engine
built with another TensorRT version or on another GPU, a model.onnx changed since the engine was built) is a
`BackendUnavailable`, never a `ModelFileError`: the folder's model.onnx may be fine, and automatic selection
should go on to ONNX Runtime. Each message says how to rebuild the engine.
"""
from __future__ import annotations

import json
import os
import pathlib
import threading
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from .base import BackendUnavailable, check_feeds, sha256_file

PLAN_FILE = "model.plan"
MANIFEST_FILE = "manifest.json"
#: The precisions `radseg export --tensorrt` builds (int8 needs the QDQ graph model.int8.onnx).
PRECISIONS = ("fp32", "fp16", "int8", "int8+fp16")
#: Fields every manifest engines.tensorrt entry must hold for the backend to trust the engine.
REQUIRED_FIELDS = ("file", "tensorrt_version", "gpu_name", "compute_capability", "precision")
MIN_TENSORRT_MAJOR = 10  # the named-tensor API (execute_async_v3); TensorRT 8's bindings API is not supported


def rebuild_hint(model_dir=None, precision: Optional[str] = None) -> str:
    """How to rebuild the engine, as one clause: "rebuild it on this machine with `radseg export ...`"."""
    flags = {"fp16": " --fp16", "int8": " --int8", "int8+fp16": " --int8 --fp16"}.get(precision or "", "")
    model = os.fspath(model_dir) if model_dir is not None else "MODEL"
    out = os.fspath(model_dir) if model_dir is not None else "DIR"
    return f"rebuild it on this machine with `radseg export {model} --tensorrt{flags} --out {out}`"


def _version_tuple(version) -> Optional[Tuple[int, int, int]]:
    """"10.3.0" / "10.3.0.26" / "10.3" -> (10, 3, 0); None when it does not start with a number."""
    parts = str(version).strip().split(".")
    nums = []
    for p in parts[:3]:
        digits = "".join(ch for ch in p if ch.isdigit()) if p[:1].isdigit() else ""
        if not digits:
            break
        nums.append(int(digits))
    if not nums:
        return None
    return tuple((nums + [0, 0])[:3])


def check_engine_metadata(recorded, running: Mapping, model_dir=None) -> Optional[str]:
    """Why the engine described by `recorded` cannot run on the machine described by `running`, or None.

    Args:
        recorded: the manifest's ``engines.tensorrt`` entry (a dict written by `radseg.export.tensorrt`).
        running: {"tensorrt_version": "10.3.0", "gpu_name": "NVIDIA L4", "compute_capability": "8.9"} of this
            machine, optionally "onnx_sha256" of the folder's ONNX file the engine was built from.
        model_dir: named in the rebuild command of the message.

    A TensorRT plan runs only on the TensorRT version that built it (major.minor.patch) and is tuned for one GPU
    model, so a different version, compute capability or GPU name is refused; so is an entry missing a field.
    """
    precision = recorded.get("precision") if isinstance(recorded, Mapping) else None
    hint = rebuild_hint(model_dir, precision if precision in PRECISIONS else None)
    if not isinstance(recorded, Mapping):
        return f"the manifest's engines.tensorrt entry is not an object ({type(recorded).__name__}); {hint}"
    missing = [k for k in REQUIRED_FIELDS if recorded.get(k) in (None, "")]
    if missing:
        return (f"the manifest's engines.tensorrt entry lacks {', '.join(missing)} (the engine's build is not "
                f"recorded, so it cannot be checked against this machine); {hint}")
    if precision not in PRECISIONS:
        return f"the engine's recorded precision {precision!r} is not one of {list(PRECISIONS)}; {hint}"
    built, here = _version_tuple(recorded["tensorrt_version"]), _version_tuple(running["tensorrt_version"])
    if here is None or here[0] < MIN_TENSORRT_MAJOR:
        return (f"TensorRT {running['tensorrt_version']} is installed; radseg's engine backend needs TensorRT "
                f"{MIN_TENSORRT_MAJOR} or later (pip install 'tensorrt>={MIN_TENSORRT_MAJOR}')")
    if built is None or built != here:
        return (f"{recorded['file']} was built with TensorRT {recorded['tensorrt_version']} and this machine runs "
                f"TensorRT {running['tensorrt_version']}; an engine runs only on the TensorRT version that built "
                f"it: {hint}")
    if str(recorded["compute_capability"]) != str(running["compute_capability"]):
        return (f"{recorded['file']} was built for a GPU of compute capability {recorded['compute_capability']} "
                f"({recorded['gpu_name']}) and this GPU is {running['gpu_name']} (compute capability "
                f"{running['compute_capability']}); {hint}")
    if str(recorded["gpu_name"]).strip() != str(running["gpu_name"]).strip():
        return (f"{recorded['file']} was built and tuned on {recorded['gpu_name']} and this GPU is "
                f"{running['gpu_name']}; engines are tuned for one GPU model: {hint}")
    want, have = recorded.get("onnx_sha256"), running.get("onnx_sha256")
    if want and have and want != have:
        return (f"{recorded.get('onnx_file', 'model.onnx')} has changed since {recorded['file']} was built from "
                f"it (sha256 differs), so the engine holds other weights; {hint}")
    return None


def check_input_shape(shape, lo, hi, name: str) -> Optional[str]:
    """Why `shape` (any batch) falls outside the engine profile's [lo, hi] in a non-batch axis, or None.

    shape, lo, hi: [N, C, H, W] tuples; the batch axis is not checked (`batch_chunks` splits large batches).
    """
    shape, lo, hi = tuple(int(v) for v in shape), tuple(lo), tuple(hi)
    if len(shape) != len(lo):
        return f"input {name!r} must have {len(lo)} axes [N, C, H, W], got shape {list(shape)}"
    for axis in range(1, len(shape)):
        if not lo[axis] <= shape[axis] <= hi[axis]:
            return (f"input {name!r} has shape {list(shape)} but the engine's optimisation profile takes "
                    f"{list(lo)} to {list(hi)} (axis {axis}); feed the manifest's input_size, or rebuild the engine")
    return None


def batch_chunks(n: int, max_batch: int) -> List[Tuple[int, int]]:
    """[(start, stop), ...] covering range(n) in pieces of at most `max_batch` (the profile's largest batch)."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    return [(s, min(s + max_batch, n)) for s in range(0, n, max_batch)]


def _import_trt():
    try:
        import tensorrt
    except ImportError as exc:  # ModuleNotFoundError, or a wheel whose CUDA libraries are missing
        raise BackendUnavailable(f"TensorRT is not installed ({exc}); install it on a machine with an NVIDIA GPU "
                                 "(pip install tensorrt cuda-python)") from exc
    return tensorrt


def _import_cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python 12.6 and later
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError as exc:
            raise BackendUnavailable(f"cuda-python is not installed ({exc}); the TensorRT backend allocates GPU "
                                     "memory with it (pip install cuda-python)") from exc
    return cudart


def _cuda(cudart, result, what: str):
    """Unpack a cuda-python call's (err, *values); BackendUnavailable naming `what` when err is not success."""
    err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    if err != cudart.cudaError_t.cudaSuccess:
        name = cudart.cudaGetErrorString(err)[1] if hasattr(cudart, "cudaGetErrorString") else err
        raise BackendUnavailable(f"CUDA call {what} failed: {name!r}")
    return values[0] if len(values) == 1 else values


def running_info(device: int = 0) -> Dict[str, str]:
    """This machine's {"tensorrt_version", "gpu_name", "compute_capability"} (e.g. "9.0") for GPU `device`.

    UNVERIFIED on hardware (needs tensorrt and cuda-python). BackendUnavailable when either is missing or there is
    no CUDA device.
    """
    trt, cudart = _import_trt(), _import_cudart()
    count = _cuda(cudart, cudart.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if int(count) <= int(device):
        raise BackendUnavailable(f"no CUDA device {device} (this machine has {count}); TensorRT needs an NVIDIA GPU")
    props = _cuda(cudart, cudart.cudaGetDeviceProperties(int(device)), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return {"tensorrt_version": str(trt.__version__), "gpu_name": name.split("\x00")[0].strip(),
            "compute_capability": f"{props.major}.{props.minor}"}


class TensorRTBackend:
    """One deserialized TensorRT engine on one GPU, one execution context and one CUDA stream.

    UNVERIFIED ON HARDWARE: written against the TensorRT 10 Python API and cuda-python; never run here.

    Args:
        plan_path: the serialized engine (model.plan).
        device: CUDA device ordinal.

    run(feeds): feeds map every input name to float32 [N, C, H, W]; returns every output by name as float32
    [N, 1, H, W] (fresh arrays). Device buffers are allocated once per tensor and reused; they grow (freed and
    reallocated) only when a larger shape arrives, so steady-state calls allocate nothing on the GPU. A batch
    larger than the profile's maximum is run in pieces. Calls are serialised by a lock: one execution context
    cannot run two requests at once.
    """

    def __init__(self, plan_path, device: int = 0):
        self.name = "tensorrt"
        self.refused: Dict[str, str] = {}
        self.plan_path = os.fspath(plan_path)
        trt, self._cudart = _import_trt(), _import_cudart()
        cudart = self._cudart
        _cuda(cudart, cudart.cudaSetDevice(int(device)), "cudaSetDevice")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(pathlib.Path(self.plan_path).read_bytes())
        if self.engine is None:  # TensorRT logs why (version or GPU mismatch, corrupt file) and returns None
            raise BackendUnavailable(f"TensorRT could not deserialize {self.plan_path}; {rebuild_hint()}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = tuple(n for n in names if is_input[n])
        self.output_names = tuple(n for n in names if not is_input[n])
        self._dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        # Profile 0 (the only one radseg builds): min / opt / max shapes per input.
        self.profile = {n: tuple(tuple(s) for s in self.engine.get_tensor_profile_shape(n, 0))
                        for n in self.input_names}
        self.max_batch = min(p[2][0] for p in self.profile.values())
        self._stream = _cuda(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._buffers: Dict[str, Tuple[int, int]] = {}  # tensor name -> (device pointer, capacity in bytes)
        self._shapes: Dict[str, tuple] = {}  # input shapes last set on the context (set_input_shape is not free)
        self._lock = threading.Lock()

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if nbytes > cap:
            if ptr:
                _cuda(self._cudart, self._cudart.cudaFree(ptr), "cudaFree")
            ptr = int(_cuda(self._cudart, self._cudart.cudaMalloc(nbytes), "cudaMalloc"))
            self._buffers[name] = (ptr, nbytes)
            self.context.set_tensor_address(name, ptr)
        return ptr

    def _run_chunk(self, chunk: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        cudart, h2d = self._cudart, self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        for name, x in chunk.items():
            if self._shapes.get(name) != x.shape:
                if not self.context.set_input_shape(name, x.shape):
                    raise ValueError(f"tensorrt.run: the engine refused input {name!r} of shape {list(x.shape)}")
                self._shapes[name] = x.shape
            ptr = self._buffer(name, x.nbytes)
            _cuda(cudart, cudart.cudaMemcpyAsync(ptr, x.ctypes.data, x.nbytes, h2d, self._stream), "cudaMemcpyAsync")
        outs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            outs[name] = np.empty(shape, dtype=self._dtypes[name])
            self._buffer(name, outs[name].nbytes)
        # Addresses are set when a buffer is (re)allocated; execute_async_v3 reads them from the context.
        if not self.context.execute_async_v3(int(self._stream)):  # TensorRT takes the stream as an integer handle
            raise RuntimeError("tensorrt.run: execute_async_v3 failed (TensorRT logged the reason)")
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name, out in outs.items():
            _cuda(cudart, cudart.cudaMemcpyAsync(out.ctypes.data, self._buffers[name][0], out.nbytes, d2h,
                                                 self._stream), "cudaMemcpyAsync")
        _cuda(cudart, cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        return {n: o.astype(np.float32, copy=False) for n, o in outs.items()}

    def run(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the engine. feeds: input name -> array (cast to float32). Returns output name -> float32 array."""
        checked = check_feeds(feeds, self.input_names, self.name)
        for name, x in checked.items():
            why = check_input_shape(x.shape, self.profile[name][0], self.profile[name][2], name)
            if why:
                raise ValueError(f"tensorrt.run: {why}")
        n = next(iter(checked.values())).shape[0]
        if any(x.shape[0] != n for x in checked.values()):
            raise ValueError("tensorrt.run: every input must have the same batch size")
        with self._lock:
            parts = [self._run_chunk({k: np.ascontiguousarray(v[a:b], dtype=self._dtypes[k])
                                      for k, v in checked.items()}) for a, b in batch_chunks(n, self.max_batch)]
        return {k: parts[0][k] if len(parts) == 1 else np.concatenate([p[k] for p in parts]) for k in self.output_names}

    def close(self) -> None:
        """Free the device buffers and the stream (also done when the backend is garbage-collected)."""
        cudart = getattr(self, "_cudart", None)
        if cudart is None:
            return
        for ptr, _ in getattr(self, "_buffers", {}).values():
            cudart.cudaFree(ptr)
        self._buffers = {}
        if getattr(self, "_stream", None) is not None:
            cudart.cudaStreamDestroy(self._stream)
            self._stream = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the CUDA bindings may already be gone
            pass

    def __repr__(self) -> str:
        return f"TensorRTBackend({self.plan_path!r}, max_batch={getattr(self, 'max_batch', None)})"


def engine_entry(model_dir) -> dict:
    """The manifest's engines.tensorrt entry of `model_dir`; BackendUnavailable when there is none."""
    path = pathlib.Path(model_dir) / MANIFEST_FILE
    try:
        entry = json.loads(path.read_text()).get("engines", {}).get("tensorrt")
    except (OSError, ValueError, AttributeError) as exc:
        raise BackendUnavailable(f"cannot read the engine record in {path} ({exc}); {rebuild_hint(model_dir)}") from exc
    if entry is None:
        raise BackendUnavailable(f"{path} records no TensorRT engine (engines.tensorrt); {rebuild_hint(model_dir)}")
    return entry


def tensorrt_factory(model_dir, threads=None, device: int = 0) -> TensorRTBackend:
    """The `select_backend` factory: model_dir/model.plan on GPU `device`, after every check that can refuse it.

    `threads` is accepted for the factory signature and unused (the engine runs on the GPU). Checks in order, each
    a BackendUnavailable: model.plan present; the manifest records the engine; tensorrt and cuda-python import; a
    GPU is there; the recorded TensorRT version, compute capability, GPU name and model.onnx hash match this
    machine (`check_engine_metadata`); the engine deserializes (UNVERIFIED on hardware).
    """
    folder = pathlib.Path(os.fspath(model_dir))
    plan = folder / PLAN_FILE
    if not plan.is_file():
        raise BackendUnavailable(f"no TensorRT engine {plan}; build one with `radseg export {folder} --tensorrt "
                                 f"--out {folder}` on a machine with TensorRT and an NVIDIA GPU")
    entry = engine_entry(folder)
    running = dict(running_info(device))
    onnx_file = folder / str(entry.get("onnx_file", "model.onnx")) if isinstance(entry, Mapping) else None
    if onnx_file is not None and onnx_file.is_file() and entry.get("onnx_sha256"):
        running["onnx_sha256"] = sha256_file(onnx_file)
    why = check_engine_metadata(entry, running, model_dir=folder)
    if why:
        raise BackendUnavailable(why)
    return TensorRTBackend(plan, device=device)
