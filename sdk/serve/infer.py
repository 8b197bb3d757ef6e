"""What `POST /infer/{model}` computes: MONAI Label DeepGrow-style clicks in, a label volume out.

Points arrive as MONAI Label sends them: lists of [x, y, z] voxel indices of the image as it is stored in NIfTI
(x = column, y = row, z = slice: `radseg.dicom.to_nifti` writes the volume [slices, rows, cols] transposed so).

    radseg_click         the clicks of one slice (the slice of the first foreground point; points on other
                         slices are ignored and counted) -> that slice's mask, a label volume with only it set
    radseg_propagation   the same slice's mask, propagated through the volume by the propagation model

The label volume is [slices, rows, cols] (1 = structure) on the image's grid, returned as NIfTI (.nii.gz by
default) or NRRD, uint8 or uint16, as the request's params ask (`label_format`: OHIF's plugin asks for an
uncompressed uint16 .nrrd, 3D Slicer's for .nii.gz).
"""
from __future__ import annotations

import numpy as np

MODELS = {
    "radseg_click": {"type": "deepgrow", "dimension": 2, "labels": {"structure": 1},
                     "description": "radseg click model: foreground / background clicks on one slice -> its mask"},
    "radseg_propagation": {"type": "deepgrow", "dimension": 3, "labels": {"structure": 1},
                           "description": "radseg click model on one slice, then the propagation model through "
                                          "the volume"},
}


class InferError(ValueError):
    """A request that cannot be answered (bad points, unknown model); the message says why."""


def parse_points(points, shape, name: str) -> list[tuple[int, int, int]]:
    """[[x, y, z], ...] -> [(slice, row, col)], checked against `shape` [slices, rows, cols]."""
    if points is None:
        return []
    if not isinstance(points, (list, tuple)):
        raise InferError(f"{name} must be a list of [x, y, z] points, got {type(points).__name__}")
    out = []
    for p in points:
        if not isinstance(p, (list, tuple)) or len(p) != 3 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in p):
            raise InferError(f"{name}: each point must be [x, y, z] numbers, got {p!r}")
        x, y, z = (int(round(float(v))) for v in p)
        if not (0 <= z < shape[0] and 0 <= y < shape[1] and 0 <= x < shape[2]):
            raise InferError(f"{name}: point {list(p)} is outside the image (x < {shape[2]}, y < {shape[1]}, "
                             f"z < {shape[0]})")
        out.append((z, y, x))
    return out


def slice_clicks(volume, foreground, background):
    """(slice index, [(row, col, positive)], points ignored) for the slice of the first foreground point."""
    shape = np.asarray(volume.array).shape
    fg = parse_points(foreground, shape, "foreground")
    bg = parse_points(background, shape, "background")
    if not fg:
        raise InferError("foreground: at least one [x, y, z] point is needed")
    k = fg[0][0]
    clicks = [(r, c, True) for s, r, c in fg if s == k] + [(r, c, False) for s, r, c in bg if s == k]
    ignored = len(fg) + len(bg) - len(clicks)
    return k, clicks, ignored


def click_mask(click_model, volume, k: int, clicks) -> np.ndarray:
    """The click model's mask of slice `k` for `clicks` [(row, col, positive)]: bool [rows, cols]."""
    sp = tuple(float(v) for v in volume.spacing[1:])
    session = click_model.start(np.asarray(volume.array)[k], spacing=sp, modality=volume.modality or "CT")
    mask = None
    for r, c, positive in clicks:
        mask = session.click(r, c, positive=positive)
    return np.asarray(mask, bool)


class Inference:
    """The answer to one request: `info` (result params) and `label()`, the label volume, made only when asked
    (a JSON answer never allocates it)."""

    def __init__(self, shape, k: int, mask2d, mask3d, info: dict):
        self.shape, self.k, self.mask2d, self.mask3d, self.info = shape, k, mask2d, mask3d, info

    def label(self) -> np.ndarray:
        """uint8 [slices, rows, cols], 1 = structure."""
        if self.mask3d is not None:
            return self.mask3d.astype(np.uint8)
        label = np.zeros(self.shape, np.uint8)
        label[self.k][self.mask2d] = 1
        return label


def infer_label(model_name: str, volume, params: dict, click_model, propagation_model=None) -> Inference:
    """The `Inference` of `model_name` (see `MODELS`) for the clicks in `params` on `volume`."""
    if model_name not in MODELS:
        raise InferError(f"unknown model {model_name!r}; known: {', '.join(MODELS)}")
    k, clicks, ignored = slice_clicks(volume, params.get("foreground"), params.get("background"))
    mask2d = click_mask(click_model, volume, k, clicks)
    shape = np.asarray(volume.array).shape
    mask3d = None
    if model_name == "radseg_propagation":
        if propagation_model is None:
            raise InferError("the propagation model is not loaded on this server")
        mask3d = np.zeros(shape, bool)
        if mask2d.any():
            run = propagation_model.start(np.asarray(volume.array), spacing=volume.spacing,
                                          modality=volume.modality or "CT")
            mask3d = np.asarray(run.propagate(k, mask2d), bool)
    voxels = int(mask3d.sum()) if mask3d is not None else int(mask2d.sum())
    info = {"slice": k, "clicks": len(clicks), "ignored_points": ignored, "voxels": voxels,
            "label_names": {"structure": 1}}
    return Inference(shape, k, mask2d, mask3d, info)


#: What MONAI Label's clients may ask for in params: "result_extension" -> (media type, NRRD or not).
LABEL_FORMATS = {".nii.gz": "application/gzip", ".nii": "application/octet-stream", ".nrrd": "application/octet-stream",
                 ".seg.nrrd": "application/octet-stream"}
LABEL_DTYPES = ("uint8", "uint16")


def label_format(params: dict) -> tuple[str, str, bool]:
    """(extension, dtype, compress) from a request's params, as MONAI Label reads them: "result_extension"
    (default .nii.gz; OHIF's plugin asks for .nrrd), "result_dtype" (uint8 default, or uint16, which OHIF asks
    for) and "result_compress" (gzip inside an NRRD file; default true)."""
    ext = str(params.get("result_extension") or ".nii.gz").lower()
    if not ext.startswith("."):
        ext = "." + ext
    if ext not in LABEL_FORMATS:
        raise InferError(f"result_extension {ext!r} is not supported; use one of {', '.join(LABEL_FORMATS)}")
    dtype = str(params.get("result_dtype") or "uint8").lower()
    if dtype not in LABEL_DTYPES:
        raise InferError(f"result_dtype {dtype!r} is not supported; use uint8 or uint16")
    compress = params.get("result_compress", True)
    if not isinstance(compress, bool):
        raise InferError(f"result_compress must be true or false, got {compress!r}")
    return ext, dtype, compress


def label_bytes(volume, label, ext: str = ".nii.gz", dtype: str = "uint8", compress: bool = True) -> bytes:
    """`label` ([slices, rows, cols]) on `volume`'s grid as the bytes of a `ext` file (see `label_format`)."""
    import gzip

    data = np.asarray(label).astype(dtype)
    if ext.endswith(".nrrd"):
        return nrrd_bytes(volume, data, compress)
    from radseg.dicom import to_nifti

    raw = to_nifti(volume, data).to_bytes()
    return gzip.compress(raw, compresslevel=1) if ext == ".nii.gz" else raw


def nrrd_bytes(volume, data: np.ndarray, compress: bool) -> bytes:
    """An NRRD file (version 4) of `data` [slices, rows, cols] in the patient frame (LPS), as 3D Slicer and OHIF
    read it: axes fastest first (column, row, slice), each axis's step in millimetres along its LPS direction."""
    import gzip

    d = np.asarray(volume.direction, np.float64)
    sp = [float(v) for v in volume.spacing]
    axes = [d[:, 2] * sp[2], d[:, 1] * sp[1], d[:, 0] * sp[0]]  # column, row, slice
    vec = lambda v: "(" + ",".join(f"{float(x):.10g}" for x in v) + ")"  # noqa: E731
    kind = {"uint8": "uint8", "uint16": "uint16"}[data.dtype.name]
    header = ["NRRD0004", f"type: {kind}", "dimension: 3", "space: left-posterior-superior",
              f"sizes: {data.shape[2]} {data.shape[1]} {data.shape[0]}",
              "space directions: " + " ".join(vec(a) for a in axes), "kinds: domain domain domain",
              "endian: little", f"encoding: {'gzip' if compress else 'raw'}",
              f"space origin: {vec(np.asarray(volume.origin, np.float64))}"]
    body = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
    if compress:
        body = gzip.compress(body, compresslevel=1)
    return ("\n".join(header) + "\n\n").encode("ascii") + body
