"""The HTTP server of `radseg serve`: the viewer page, its session API, and MONAI Label's endpoints.

    models = Models(click, propagation, body)            # ThreadAwareModel's over one Slots, or plain models
    app = create_app(Datastore("data/"), models, slots=Slots(2), out_dir="data/labels", token=None)

    GET  /                                the viewer page (`radseg/serve/static/`)
    /api/...                              the viewer's editing sessions (`radseg.serve.session_api`)
    GET  /info/                           MONAI Label: name, version, labels, models (type "deepgrow")
    GET  /datastore/?output=all           MONAI Label: the images by id (`Datastore.listing`)
    POST /infer/{model}?image=ID[&output=image|json|all]
         multipart form field "params": JSON {"foreground": [[x, y, z], ...], "background": [...]}
         (plus MONAI Label's "result_extension" .nii.gz | .nii | .nrrd, "result_dtype" uint8 | uint16,
         "result_compress"); output=image: the label file; json: the result params; all (default, as MONAI
         Label): multipart with both (field "params", and the file as field "image"), which
         `monailabel.client` and OHIF's plugin read

Requests above `max_request_bytes` get 413; with a `token`, every request but the page's own files needs
``Authorization: Bearer TOKEN`` (401 otherwise; the page takes the token from its address, ``/#token=...``, which
browsers do not send to the server). At most `slots.n` inferences run at once. Logs name image ids, models and
the first characters of session ids only: never patient names or IDs.
"""
from __future__ import annotations

import json
import logging
import pathlib
import time

# At module level: FastAPI reads the handlers' annotations (strings here) from this module's globals.
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

log = logging.getLogger("radseg.serve")
STATIC = pathlib.Path(__file__).with_name("static")


class Guard:
    """ASGI middleware: the bearer token and the request size limit, before any handler runs. (A plain ASGI
    wrapper, not Starlette's BaseHTTPMiddleware: that one costs about a millisecond a request and hides client
    disconnects from the handlers.)"""

    def __init__(self, app, token, max_request_bytes: int):
        self.app, self.token, self.max_bytes = app, token, int(max_request_bytes)
        self.expected = f"Bearer {token}".encode() if token is not None else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        path = scope.get("path", "")
        public = path == "/" or path.startswith("/static/") or path == "/favicon.ico"
        if self.expected is not None and not public and headers.get(b"authorization") != self.expected:
            return await _refuse(send, 401, "a bearer token is required (Authorization: Bearer TOKEN)")
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await _refuse(send, 413, f"request body over {self.max_bytes} bytes")
        if length is None and headers.get(b"transfer-encoding"):
            return await _refuse(send, 411, "send a Content-Length (chunked request bodies are not accepted)")
        return await self.app(scope, receive, send)


async def _refuse(send, status: int, detail: str):
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(datastore, models, slots=None, out_dir=None, token=None, max_request_bytes: int = 1 << 20,
               session_ttl_s: float = 1800.0, max_sessions: int = 32):
    """The ASGI app; see the module docstring. `models`: a `radseg.serve.editing.Models`; `out_dir`: where saved
    SEG files go (None: a `labels` folder in the datastore's folder)."""
    import radseg

    from .infer import LABEL_FORMATS, MODELS, InferError, infer_label, label_bytes, label_format
    from .scheduling import Slots
    from .session_api import build_router
    from .sessions import SessionStore

    slots = slots or Slots(1)
    if out_dir is None:
        if datastore.folder is None:
            raise ValueError("out_dir is needed for a DICOMweb datastore")
        out_dir = datastore.folder / "labels"
    app = FastAPI(title="radseg", version=radseg.__version__, docs_url=None, redoc_url=None)
    store = SessionStore(ttl_s=session_ttl_s, max_sessions=max_sessions)
    app.state.sessions = store
    app.include_router(build_router(datastore, store, models, slots, out_dir, datastore.dicomweb))
    infer_models = {k: v for k, v in MODELS.items() if k != "radseg_propagation" or models.propagation is not None}

    @app.get("/")
    def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}")
    def static(name: str):
        path = STATIC / name
        # Only the page's own files: a name, never a path (no "..", no subfolders).
        if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
            return JSONResponse({"detail": f"no file {name!r}"}, 404)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    @app.get("/info/")
    def info():
        return {"name": "radseg", "version": radseg.__version__, "description": "radseg interactive segmentation",
                "labels": ["structure"], "models": infer_models, "trainers": {}, "strategies": {}, "scoring": {},
                "datastore": {"total": len(datastore.images), "completed": 0}}

    @app.get("/datastore/")
    def datastore_listing(output: str = "stats"):
        listing = datastore.listing()
        return listing if output == "all" else {"total": listing["total"], "completed": 0}

    @app.post("/infer/{model}")
    async def infer(model: str, request: Request, image: str = "", output: str = "all"):
        if model not in infer_models:
            return JSONResponse({"detail": f"unknown model {model!r}; known: {', '.join(infer_models)}"}, 404)
        if image not in datastore:
            return JSONResponse({"detail": f"unknown image id {image!r}; GET /datastore/?output=all lists them"},
                                404)
        if output not in ("image", "json", "all"):
            return JSONResponse({"detail": f"output must be image, json or all, got {output!r}"}, 422)
        form = await request.form()
        try:
            params = json.loads(form.get("params") or "{}")
        except ValueError:
            return JSONResponse({"detail": "the form field 'params' is not JSON"}, 422)
        if not isinstance(params, dict):
            return JSONResponse({"detail": "the form field 'params' must be a JSON object"}, 422)
        from starlette.concurrency import run_in_threadpool

        try:
            ext, dtype, compress = label_format(params)
        except InferError as exc:
            return JSONResponse({"detail": str(exc)}, 422)

        t = time.perf_counter()
        try:  # off the event loop: other requests (info, listings) are answered meanwhile
            vol = await run_in_threadpool(datastore.volume, image)  # reading a series holds no inference slot
            answer = await slots.run(infer_label, model, vol, params, models.click, models.propagation)
        except InferError as exc:
            return JSONResponse({"detail": str(exc)}, 422)
        result = dict(answer.info, latency_ms=round((time.perf_counter() - t) * 1e3, 1))
        log.debug("infer %s on %s: %d voxels in %.0f ms", model, image, result["voxels"], result["latency_ms"])
        if output == "json":
            return result
        body = await run_in_threadpool(label_bytes, vol, answer.label(), ext, dtype, compress)
        name = "label" + ext
        if output == "image":
            return Response(body, media_type=LABEL_FORMATS[ext],
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return _multipart(result, body, name, LABEL_FORMATS[ext])

    return Guard(app, token, max_request_bytes)


def _multipart(result: dict, body: bytes, filename: str, media_type: str):
    """MONAI Label's answer to output=all: a form with the result params (field "params", JSON) and the label
    file (field "image", as MONAI Label names it)."""
    boundary = "radseg-" + format(time.time_ns(), "x")
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"params\"\r\n"
             f"Content-Type: application/json\r\n\r\n{json.dumps(result)}\r\n".encode(),
             f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\n"
             f"Content-Type: {media_type}\r\n\r\n".encode(), body, f"\r\n--{boundary}--\r\n".encode()]
    return Response(b"".join(parts), media_type=f"multipart/form-data; boundary={boundary}")
