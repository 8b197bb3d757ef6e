"""The HTTP server of `radseg serve`: MONAI Label's endpoints over radseg's click and propagation models.

    app = create_app(Datastore("data/"), click_model, propagation_model, token=None)

    GET  /info/                           name, version, labels, models (type "deepgrow"), datastore size
    GET  /datastore/?output=all           the images by id (`Datastore.listing`)
    POST /infer/{model}?image=ID[&output=image|json|all]
         multipart form field "params": JSON {"foreground": [[x, y, z], ...], "background": [...]}
         output=image: the label as .nii.gz; json: the result params; all (default, as MONAI Label): multipart
         with both (field "params" and a file "label.nii.gz"), which `monailabel.client` reads

Requests above `max_request_bytes` get 413; with a `token`, every request needs ``Authorization: Bearer TOKEN``
(401 otherwise). At most `concurrency` inferences run at once. Logs name image ids and models only.
"""
from __future__ import annotations

import json
import logging
import threading
import time

# At module level: FastAPI reads the handlers' annotations (strings here) from this module's globals.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

log = logging.getLogger("radseg.serve")


def create_app(datastore, click_model, propagation_model=None, token=None, max_request_bytes: int = 1 << 20,
               concurrency: int = 1, shared_models=None):
    import radseg

    from .infer import MODELS, InferError, infer_label, nifti_bytes

    app = FastAPI(title="radseg", version=radseg.__version__)
    models = {k: v for k, v in MODELS.items() if k != "radseg_propagation" or propagation_model is not None}
    # At most `concurrency` inferences at once (the rest queue): more than the cores, each with its own ONNX
    # Runtime threads, only fight over them (16 clients: 60 requests/s unbounded against 82 with one at a time).
    # A request alone uses `click_model` / `propagation_model` (all threads: the lowest latency); one that runs
    # beside others uses `shared_models` = (click, propagation) on one thread each, when given.
    slots = threading.BoundedSemaphore(max(1, int(concurrency)))
    busy = {"n": 0}
    busy_lock = threading.Lock()

    def models_for_now():
        with busy_lock:
            alone = busy["n"] == 0
            busy["n"] += 1
        if alone or shared_models is None:
            return click_model, propagation_model
        return shared_models

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"detail": "a bearer token is required (Authorization: Bearer TOKEN)"}, 401)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_request_bytes):
            return JSONResponse({"detail": f"request body over {max_request_bytes} bytes"}, 413)
        return await call_next(request)

    @app.get("/info/")
    def info():
        return {"name": "radseg", "version": radseg.__version__, "description": "radseg interactive segmentation",
                "labels": ["structure"], "models": models, "trainers": {}, "strategies": {}, "scoring": {},
                "datastore": {"total": len(datastore.images), "completed": 0}}

    @app.get("/datastore/")
    def datastore_listing(output: str = "stats"):
        listing = datastore.listing()
        return listing if output == "all" else {"total": listing["total"], "completed": 0}

    @app.post("/infer/{model}")
    async def infer(model: str, request: Request, image: str = "", output: str = "all"):
        if model not in models:
            return JSONResponse({"detail": f"unknown model {model!r}; known: {', '.join(models)}"}, 404)
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

        def compute():  # ONNX Runtime sessions and the BLAS cap are thread-safe: `concurrency` side by side
            vol = datastore.volume(image)
            with slots:
                click, propagation = models_for_now()
                try:
                    return vol, infer_label(model, vol, params, click, propagation)
                finally:
                    with busy_lock:
                        busy["n"] -= 1

        t = time.perf_counter()
        try:  # off the event loop: other requests (info, listings) are answered meanwhile
            vol, answer = await run_in_threadpool(compute)
        except InferError as exc:
            return JSONResponse({"detail": str(exc)}, 422)
        result = dict(answer.info, latency_ms=round((time.perf_counter() - t) * 1e3, 1))
        log.info("infer %s on %s: %d voxels in %.0f ms", model, image, result["voxels"], result["latency_ms"])
        if output == "json":
            return result
        body = await run_in_threadpool(nifti_bytes, vol, answer.label())
        if output == "image":
            return Response(body, media_type="application/gzip",
                            headers={"Content-Disposition": 'attachment; filename="label.nii.gz"'})
        return _multipart(result, body)

    def _multipart(result: dict, body: bytes):
        boundary = "radseg-" + format(time.time_ns(), "x")
        parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"params\"\r\n"
                 f"Content-Type: application/json\r\n\r\n{json.dumps(result)}\r\n".encode(),
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"label\"; filename=\"label.nii.gz\"\r\n"
                 "Content-Type: application/gzip\r\n\r\n".encode(), body, f"\r\n--{boundary}--\r\n".encode()]
        return Response(b"".join(parts), media_type=f"multipart/form-data; boundary={boundary}")

    return app
