"""The triton backend: the network runs on a remote Triton Inference Server (or any KServe v2 server).

    model = radseg.load("click", backend="triton", url="gpu-box:8000")                    # HTTP/REST
    model = radseg.load("click", backend="triton", url="gpu-box:8001", protocol="grpc")   # gRPC

Only the network runs remotely: intensity normalisation, cropping, click guidance, pasting back and
post-processing stay in the SDK, so `radseg.load` returns the task's normal model object (a `ClickModel` for a
click model) and many viewers can share one GPU server. The server's model is the one `radseg export MODEL
--triton REPO` writes (`radseg.export.triton.write_triton_repository`), by default named ``radseg_<task>``.

Tensors travel as raw little-endian FP32 bytes (binary tensor extension over HTTP, ``raw_input_contents`` over
gRPC), never as JSON numbers, so the logits are bit-identical to what the same ONNX Runtime build computes
locally. `tritonclient` is imported only when a backend is built (SPEC layout rule: ``import radseg`` stays light).
"""
from __future__ import annotations

import os
import threading
from typing import Dict, Mapping, Optional

import numpy as np

from ..errors import UsageError
from .base import BackendUnavailable, ModelFileError, check_feeds

PROTOCOLS = ("http", "grpc")
EXTRA_HINT = "pip install 'radseg[triton]'"


def default_model_name(task: str) -> str:
    """The model name on the server for a manifest's task: ``radseg_click``, ``radseg_propagation``, ``radseg_body``
    (what the repository writer uses unless told otherwise)."""
    return f"radseg_{task}"


def _import_client(protocol: str):
    try:
        if protocol == "grpc":
            import tritonclient.grpc as client
        else:
            import tritonclient.http as client
        from tritonclient.utils import InferenceServerException
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(f"tritonclient[{protocol}] is not installed ({EXTRA_HINT})") from exc
    return client, InferenceServerException


def split_url(url, protocol: str):
    """``"host:port"``, ``"http://host:port"``, ``"https://..."`` or ``"grpc://host:port"`` -> (host:port, ssl).

    tritonclient wants the address without a scheme; a scheme that names the other protocol is a usage error
    (``url="grpc://..."`` with protocol "http" would otherwise fail later with an obscure transport error).
    """
    if not isinstance(url, str) or not url.strip():
        raise BackendUnavailable("the triton backend needs the server's address: radseg.load(MODEL, backend='triton', "
                                 "url='HOST:PORT') (HTTP port 8000, gRPC port 8001 on a default Triton)")
    text = url.strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text, False
    scheme = scheme.lower()
    wants = {"http": "http", "https": "http", "grpc": "grpc", "grpcs": "grpc"}.get(scheme)
    if wants is None:
        raise UsageError(f"triton backend: url {url!r} has an unknown scheme {scheme!r}",
                         "use HOST:PORT, http://HOST:PORT, https://HOST:PORT or grpc://HOST:PORT")
    if wants != protocol:
        raise UsageError(f"triton backend: url {url!r} is a {wants} address but protocol={protocol!r}",
                         f"pass protocol={wants!r}, or the server's {protocol} address")
    if "/" in rest:
        raise UsageError(f"triton backend: url {url!r} has a path", "give only HOST:PORT (the v2 routes are fixed)")
    return rest, scheme in ("https", "grpcs")


class TritonBackend:
    """One model on a KServe v2 inference server (Triton), reached over HTTP or gRPC.

    Args:
        url: the server, ``HOST:PORT`` (optionally with an http://, https:// or grpc:// scheme).
        manifest: the local model's `radseg.manifest.ModelManifest`: the server's model must take
            ``manifest.input_name`` FP32 [N, in_channels, S, S] (any dim may be variable, -1) and give
            ``manifest.output_name`` FP32 [N, 1, S, S].
        protocol: "http" or "grpc".
        model_name: the server's model name (default ``radseg_<task>``); model_version: "" for the server's latest.
        timeout_s: connection and per-request timeout in seconds.

    Raises:
        BackendUnavailable: tritonclient missing, no url, server unreachable / not live / not ready, model not ready.
        ModelFileError: the server's model has other input/output names, datatypes or shapes than the manifest.
        UsageError: a bad protocol, url or timeout.
    """

    def __init__(self, url, manifest, protocol: str = "http", model_name: Optional[str] = None,
                 model_version: str = "", timeout_s: float = 30.0):
        if protocol not in PROTOCOLS:
            raise UsageError(f"triton backend: protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
            raise UsageError(f"triton backend: timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.name = "triton"
        self.refused: Dict[str, str] = {}
        self.protocol, self.timeout_s = protocol, float(timeout_s)
        self.address, self.ssl = split_url(url, protocol)
        self.url = f"{'https' if self.ssl else 'http'}://{self.address}" if protocol == "http" else f"grpc://{self.address}"
        self.model_name = model_name or default_model_name(manifest.task)
        self.model_version = str(model_version or "")
        self._client_mod, self._error = _import_client(protocol)
        self._local = threading.local()  # HTTP: one client per thread (geventhttpclient is not thread-safe)
        self._shared = None              # gRPC: one channel for every thread (grpc channels are thread-safe)
        where = f"model {self.model_name!r} at {self.url}"
        try:
            client = self._client()
            live = client.is_server_live(**self._call_kw())
            ready = live and client.is_server_ready(**self._call_kw())
        except Exception as exc:  # connection refused, DNS, TLS, timeouts: tritonclient and gevent raise their own
            raise BackendUnavailable(f"cannot reach the inference server at {self.url} ({_short(exc)})") from exc
        if not ready:
            raise BackendUnavailable(f"the inference server at {self.url} is {'not ready' if live else 'not live'}")
        try:
            model_ready = client.is_model_ready(self.model_name, self.model_version, **self._call_kw())
        except self._error as exc:  # gRPC answers NOT_FOUND for an unknown model; HTTP answers False
            model_ready, why = False, _short(exc)
        else:
            why = "not loaded or unknown"
        if not model_ready:
            raise BackendUnavailable(f"{where} is not ready ({why}); serve the repository written by "
                                     f"`radseg export MODEL --triton REPO`, or pass model_name=")
        try:
            meta = client.get_model_metadata(self.model_name, self.model_version, **self._call_kw())
        except self._error as exc:
            raise BackendUnavailable(f"{where}: metadata request failed ({_short(exc)})") from exc
        if not isinstance(meta, dict):  # gRPC gives a protobuf message
            from google.protobuf.json_format import MessageToDict

            meta = MessageToDict(meta, preserving_proto_field_name=True)
        self.input_names, self.input_shapes = _check_tensors(meta.get("inputs", []), manifest.input_name,
                                                             [-1, manifest.in_channels, manifest.input_size,
                                                              manifest.input_size], "input", where)
        self.output_names, _ = _check_tensors(meta.get("outputs", []), manifest.output_name,
                                              [-1, 1, manifest.input_size, manifest.input_size], "output", where)
        # built once: the same requested-output list goes with every request (binary: raw FP32 bytes back)
        if protocol == "http":
            self._outputs = [self._client_mod.InferRequestedOutput(n, binary_data=True) for n in self.output_names]
        else:
            self._outputs = [self._client_mod.InferRequestedOutput(n) for n in self.output_names]

    def _call_kw(self) -> dict:
        return {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

    def _client(self):
        """The connection to reuse: per thread for HTTP, one for all threads for gRPC (created on first use)."""
        if self.protocol == "grpc":
            if self._shared is None:
                self._shared = self._client_mod.InferenceServerClient(self.address, ssl=self.ssl)
            return self._shared
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._client_mod.InferenceServerClient(
                self.address, ssl=self.ssl, concurrency=1, connection_timeout=self.timeout_s,
                network_timeout=self.timeout_s)
            self._local.client = client
        return client

    def run(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the remote network. feeds: input name -> array (cast to C-contiguous float32, e.g. [N, 3, S, S]).

        Returns output name -> float32 array as the server computed it (e.g. logits [N, 1, S, S]).

        Raises:
            TypeError / ValueError: bad feeds (see `check_feeds`).
            RuntimeError: the request failed (server error, timeout, lost connection); the message names the URL
                and the model.
        """
        checked = check_feeds(feeds, self.input_names, self.name)
        mod = self._client_mod
        inputs = []
        for name in self.input_names:
            a = checked[name]
            tensor = mod.InferInput(name, list(a.shape), "FP32")
            if self.protocol == "http":
                tensor.set_data_from_numpy(a, binary_data=True)
            else:
                tensor.set_data_from_numpy(a)
            inputs.append(tensor)
        try:
            if self.protocol == "grpc":
                result = self._client().infer(self.model_name, inputs, model_version=self.model_version,
                                              outputs=self._outputs, client_timeout=self.timeout_s)
            else:
                result = self._client().infer(self.model_name, inputs, model_version=self.model_version,
                                              outputs=self._outputs)
        except Exception as exc:
            if self.protocol == "http":
                self._local.client = None  # a broken keep-alive connection: reconnect on the next request
            raise RuntimeError(f"triton backend: inference on model {self.model_name!r} at {self.url} failed "
                               f"({_short(exc)})") from exc
        out = {}
        for name in self.output_names:
            a = result.as_numpy(name)
            if a is None:
                raise RuntimeError(f"triton backend: model {self.model_name!r} at {self.url} returned no {name!r}")
            # np.frombuffer over the response bytes is read-only; local backends hand out writable arrays
            out[name] = a if a.flags.writeable else a.copy()
        return out

    def close(self) -> None:
        """Close the connections this backend opened (in this thread for HTTP)."""
        for client in (getattr(self._local, "client", None), self._shared):
            if client is not None:
                client.close()
        self._local.client, self._shared = None, None

    def __repr__(self) -> str:
        return f"TritonBackend({self.url!r}, model={self.model_name!r}, protocol={self.protocol!r})"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _check_tensors(tensors, wanted: str, shape, kind: str, where: str):
    """Check the server's metadata for `wanted` (FP32, `shape` where the server's dims are not -1).

    Returns (names in the server's order, name -> shape). Raises ModelFileError naming what differs.
    """
    names = tuple(t.get("name") for t in tensors)
    shapes = {t.get("name"): [int(d) for d in t.get("shape", [])] for t in tensors}
    if wanted not in names:
        raise ModelFileError(f"{where} has {kind}s {list(names)}, the local manifest names {kind} {wanted!r}: the "
                             f"server serves another model; re-export the repository from this model folder")
    spec = next(t for t in tensors if t.get("name") == wanted)
    if spec.get("datatype") != "FP32":
        raise ModelFileError(f"{where}: {kind} {wanted!r} is {spec.get('datatype')}, radseg sends and reads FP32")
    served = shapes[wanted]
    ok = len(served) == len(shape) and all(s == -1 or e == -1 or s == e for s, e in zip(served, shape))
    if not ok:
        raise ModelFileError(f"{where}: {kind} {wanted!r} has shape {served}, the local manifest needs "
                             f"{['N' if e == -1 else e for e in shape]} (-1: any): the server serves another "
                             f"export; re-export the repository from this model folder")
    return names, shapes


def triton_factory(model_dir, threads=None, url=None, protocol: str = "http", model_name: Optional[str] = None,
                   model_version: str = "", timeout_s: float = 30.0) -> TritonBackend:
    """`radseg.backends.select` factory: the model folder's manifest, checked against the server's model.

    `threads` is accepted for the factory interface and ignored: the server decides its own threads. Without
    `url` (automatic selection never passes one) it refuses with BackendUnavailable, so it is never chosen
    automatically.
    """
    from ..manifest import ModelManifest

    if url is None:
        raise BackendUnavailable("needs url='HOST:PORT' of a Triton (KServe v2) server; name it explicitly: "
                                 "radseg.load(MODEL, backend='triton', url=...)")
    manifest = ModelManifest.from_json(os.path.join(os.fspath(model_dir), "manifest.json"))
    return TritonBackend(url, manifest, protocol=protocol, model_name=model_name, model_version=model_version,
                         timeout_s=timeout_s)
