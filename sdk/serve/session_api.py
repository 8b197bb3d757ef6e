"""The viewer's HTTP API in `radseg serve`: stateful editing sessions over `radseg.serve.editing.Editing`.

    GET    /api/images                              [{"id", "name", "modality"}]
    POST   /api/sessions          {"image": ID}     {"session", "shape", "spacing", "modality", "window", ...}
    GET    /api/sessions/{sid}                      the session's state (`Editing.state`)
    DELETE /api/sessions/{sid}
    GET    /api/sessions/{sid}/slice/{k}            the slice's pixels: int16 little-endian [rows, cols] (HU for CT)
    GET    /api/sessions/{sid}/mask/{layer}/{k}     layer "structure" or "body" of slice k: np.packbits of the bool
                                                    [rows, cols] mask in row-major order (first pixel = high bit)
    POST   /api/sessions/{sid}/click   {"slice", "row", "col", "positive"}  -> {"slice", "mask" (base64 packbits),
                                                                              "area", "clicks", "latency_ms"}
    POST   /api/sessions/{sid}/drag    {"row", "col"}                       -> as click
    POST   /api/sessions/{sid}/undo | /reset
    POST   /api/sessions/{sid}/propagate {"slice"} | /correct {"slice"} | /body   -> {"state", "latency_ms"}
    POST   /api/sessions/{sid}/save    {"to": "file" | "pacs", "name"}      -> {"series_uid", "file", "stored"}
    GET    /api/sessions/{sid}/seg.dcm                                      the SEG saved last

Positions are voxel indices (slice, row, col) of the volume [slices, rows, cols]. Errors: 404 unknown image or
session (expired ones too), 409 an action the state does not allow yet (propagate before a mask), 422 bad values;
each with {"detail": what was wrong and what to do}. A client that disconnects during propagate / correct / body
cancels the work and leaves the session as it was.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

log = logging.getLogger("radseg.serve")


class OpenBody(BaseModel):
    image: str


class ClickBody(BaseModel):
    slice: int
    row: float
    col: float
    positive: bool = True


class DragBody(BaseModel):
    row: float
    col: float


class SliceBody(BaseModel):
    slice: int


class SaveBody(BaseModel):
    to: str = "file"
    name: str = Field("structure", min_length=1, max_length=64)


def default_window(volume) -> dict:
    """{"center", "width"} to show a volume first: soft tissue for CT, the 1st-99th percentile for MR."""
    if (volume.modality or "").upper() == "CT":
        return {"center": 40.0, "width": 400.0}
    a = np.asarray(volume.array)
    lo, hi = np.percentile(a[:: max(1, a.shape[0] // 16)], [1, 99])
    return {"center": float((lo + hi) / 2), "width": float(max(hi - lo, 1.0))}


def pack(mask) -> bytes:
    return np.packbits(np.asarray(mask, bool).ravel()).tobytes()


def build_router(datastore, store, models, slots, out_dir, dicomweb_url=None) -> APIRouter:
    """The routes above over `datastore` (`Datastore`), `store` (`SessionStore`), `models` (`Models`), `slots`
    (`Slots`), saving SEG files under `out_dir` and, when `dicomweb_url` is given, storing them there (STOW-RS)."""
    from .editing import Cancelled, EditError, Editing, StateError
    from .sessions import SessionGone

    router = APIRouter(prefix="/api")

    def fail(exc):
        if isinstance(exc, SessionGone):
            return JSONResponse({"detail": str(exc)}, 404)
        if isinstance(exc, Cancelled):
            return JSONResponse({"detail": str(exc)}, 499)
        return JSONResponse({"detail": str(exc)}, 409 if isinstance(exc, StateError) else 422)

    async def in_session(sid: str, work, request: Request = None):
        """work(editing) on an inference thread (`Slots.run`), the session locked; with `request`, a client that
        disconnects sets the `cancelled` event work receives."""
        cancelled = threading.Event()

        def call():
            with store.use(sid) as entry:
                return work(entry.editing, cancelled) if request is not None else work(entry.editing)

        t = time.perf_counter()
        try:
            if request is None:
                out = await slots.run(call)
            else:
                out = await _watching(slots.run(call), request, cancelled)
        except (SessionGone, EditError, Cancelled) as exc:
            if isinstance(exc, Cancelled):
                log.info("session %s: cancelled (the client went away)", sid[:6])
            return None, fail(exc)
        out["latency_ms"] = round((time.perf_counter() - t) * 1e3, 2)
        return out, None

    @router.get("/images")
    def images():
        return [{"id": k, "name": e["name"], "modality": e["modality"]} for k, e in datastore.images.items()]

    @router.post("/sessions")
    async def open_session(body: OpenBody):
        from starlette.concurrency import run_in_threadpool

        if body.image not in datastore:
            return JSONResponse({"detail": f"unknown image id {body.image!r}; GET /api/images lists them"}, 404)
        try:
            volume = await run_in_threadpool(datastore.volume, body.image)
            editing = Editing(volume, models)
        except EditError as exc:
            return fail(exc)
        except Exception as exc:  # an unreadable series: say so, keep serving the others
            log.warning("image %s could not be read: %s", body.image, type(exc).__name__)
            return JSONResponse({"detail": f"image {body.image!r} could not be read: {exc}"}, 422)
        sid = store.create(body.image, editing)
        log.info("session %s opened on image %s", sid[:6], body.image)
        return {"session": sid, "image": body.image, "shape": list(editing.shape), "spacing": list(editing.spacing),
                "modality": editing.modality, "window": default_window(volume), "warnings": editing.open_warnings,
                "actions": {"propagate": models.propagation is not None, "body": models.body is not None,
                            "save_file": bool(volume.source_headers),
                            "save_pacs": bool(volume.source_headers) and dicomweb_url is not None}}

    @router.get("/sessions/{sid}")
    async def session_state(sid: str):
        out, error = await in_session(sid, lambda e: {"state": e.state()})
        return error or out

    @router.delete("/sessions/{sid}")
    def close_session(sid: str):
        if not store.close(sid):
            return JSONResponse({"detail": f"no session {sid!r}"}, 404)
        return {"closed": sid}

    @router.get("/sessions/{sid}/slice/{k}")
    def slice_pixels(sid: str, k: int):
        try:
            editing = store.get(sid).editing
        except SessionGone as exc:
            return fail(exc)
        if not 0 <= k < editing.shape[0]:
            return JSONResponse({"detail": f"slice {k} is outside 0 .. {editing.shape[0] - 1}"}, 422)
        a = np.clip(np.rint(editing.array[k]), -32768, 32767).astype("<i2")
        return Response(a.tobytes(), media_type="application/octet-stream",
                        headers={"X-Shape": f"{a.shape[0]},{a.shape[1]}", "Cache-Control": "private, max-age=3600"})

    @router.get("/sessions/{sid}/mask/{layer}/{k}")
    def slice_mask(sid: str, layer: str, k: int):
        try:
            editing = store.get(sid).editing
            mask = editing.layer(layer)
        except (SessionGone, EditError) as exc:
            return fail(exc)
        if not 0 <= k < editing.shape[0]:
            return JSONResponse({"detail": f"slice {k} is outside 0 .. {editing.shape[0] - 1}"}, 422)
        if mask is None:
            return Response(status_code=204)
        return Response(pack(mask[k]), media_type="application/octet-stream", headers={"Cache-Control": "no-store"})

    def slice_answer(editing, k: int) -> dict:
        m = editing.structure[k]
        session = editing.click_session(k)
        return {"slice": k, "mask": base64.b64encode(pack(m)).decode(), "area": int(np.count_nonzero(m)),
                "clicks": [[float(r), float(c), bool(p)] for r, c, p in (session.clicks if session else ())],
                "undo": editing.undo_kind(), "warnings": editing.last_warnings}

    # Clicks and drags answer with json.dumps directly: FastAPI's encoder walks the answer item by item, a
    # noticeable share of a few-millisecond click.
    @router.post("/sessions/{sid}/click")
    async def click(sid: str, body: ClickBody):
        def work(e):
            e.click(body.slice, body.row, body.col, body.positive)
            return slice_answer(e, body.slice)

        out, error = await in_session(sid, work)
        return error or Response(json.dumps(out), media_type="application/json")

    @router.post("/sessions/{sid}/drag")
    async def drag(sid: str, body: DragBody):
        def work(e):
            k, _ = e.drag(body.row, body.col)
            return slice_answer(e, k)

        out, error = await in_session(sid, work)
        return error or Response(json.dumps(out), media_type="application/json")

    @router.post("/sessions/{sid}/undo")
    async def undo(sid: str):
        out, error = await in_session(sid, lambda e: {"undone": e.undo(), "state": e.state()})
        return error or out

    @router.post("/sessions/{sid}/reset")
    async def reset(sid: str):
        def work(e):
            e.reset()
            return {"state": e.state()}

        out, error = await in_session(sid, work)
        return error or out

    @router.post("/sessions/{sid}/propagate")
    async def propagate(sid: str, body: SliceBody, request: Request):
        out, error = await in_session(sid, lambda e, c: dict(e.propagate(body.slice, c), state=e.state()), request)
        return error or out

    @router.post("/sessions/{sid}/correct")
    async def correct(sid: str, body: SliceBody, request: Request):
        out, error = await in_session(sid, lambda e, c: dict(e.correct(body.slice, c), state=e.state()), request)
        return error or out

    @router.post("/sessions/{sid}/body")
    async def body_outline(sid: str, request: Request):
        def work(e, cancelled):
            mask = e.body(cancelled)
            ml = float(np.count_nonzero(mask)) * float(np.prod(e.spacing)) / 1000.0
            return {"body_ml": round(ml, 1), "state": e.state()}

        out, error = await in_session(sid, work, request)
        return error or out

    @router.post("/sessions/{sid}/save")
    async def save(sid: str, body: SaveBody):
        from .saving import SaveError, save_seg

        if body.to not in ("file", "pacs"):
            return JSONResponse({"detail": f"to must be file or pacs, got {body.to!r}"}, 422)
        if body.to == "pacs" and dicomweb_url is None:
            return JSONResponse({"detail": "this server reads a folder, not a PACS: save to a file, or start "
                                           "radseg serve with --dicomweb URL"}, 409)

        def work(e):
            entry = store.get(sid)
            out = save_seg(e, body.name, out_dir, entry.image_id, dicomweb_url if body.to == "pacs" else None)
            entry.saved = out.pop("path")
            return out

        try:
            out, error = await in_session(sid, work)
        except SaveError as exc:
            return JSONResponse({"detail": str(exc)}, exc.status)
        if error is None:
            log.info("session %s saved a SEG (%s)", sid[:6], body.to)
        return error or out

    @router.get("/sessions/{sid}/seg.dcm")
    def saved_seg(sid: str):
        try:
            entry = store.get(sid)
        except SessionGone as exc:
            return fail(exc)
        if entry.saved is None:
            return JSONResponse({"detail": "nothing saved yet in this session; POST .../save first"}, 409)
        return FileResponse(entry.saved, media_type="application/dicom", filename="seg.dcm")

    return router


async def _watching(awaitable, request: Request, cancelled: threading.Event):
    """Await `awaitable`, setting `cancelled` as soon as the client of `request` disconnects."""
    task = asyncio.ensure_future(awaitable)
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.1)
        if done:
            return task.result()
        if not cancelled.is_set() and await request.is_disconnected():
            cancelled.set()
