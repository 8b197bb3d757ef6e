"""`radseg segment`: click on a structure in a CT/MR slice and write its mask and an overlay.

    radseg segment --demo --out out/                         # a real CT slice, a default click
    radseg segment --image slice.dcm --click 120,88 --click 140,90,- --out out/

Writes mask.npy (bool [rows, cols]), mask.png, overlay.png and result.json (clicks, backend, timings, and Dice
against the reference when the demo slice has one).
"""
from __future__ import annotations

import json
import pathlib
import sys
import time

DEMO_DICOM = "CT_small.dcm"
#: pydicom's CT_small.dcm (128 x 128, 0.66 mm): a thoracic vertebra; the default click is in its body.
DEMO_DICOM_CLICK = (22, 59, True)
DEMO_STRUCTURE = "spleen"


def register(sub) -> None:
    p = sub.add_parser("segment", help="segment a structure on a 2D slice with clicks; write mask and overlay PNG",
                       description="Click-model segmentation of one 2D slice. Points are (row, col) pixel indices.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="a 2D image: .dcm (DICOM), .npy, or .nii/.nii.gz (with --slice)")
    src.add_argument("--demo", action="store_true",
                     help="a real CT slice: a held-out BTCV patient's spleen from ../shared/data when present, "
                          "else pydicom's bundled CT_small.dcm")
    p.add_argument("--click", action="append", default=[], metavar="ROW,COL[,+|-]",
                   help="a click; '+' (default) = structure, '-' = background; repeat for more clicks")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default="click", help="bundled model name or exported model folder")
    p.add_argument("--modality", default=None, help="CT or MR (default: from the DICOM header, else CT)")
    p.add_argument("--spacing", default=None, metavar="ROW_MM,COL_MM",
                   help="pixel size (default: from the file; 1,1 for .npy)")
    p.add_argument("--slice", type=int, default=None, help="axial slice index of a NIfTI volume (default: middle)")
    p.add_argument("--data", default=None, help="shared data folder for --demo (default: $RADSEG_DATA or ../shared/data)")
    p.add_argument("--backend", default=None, help="backend name (default: automatic)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the backend")
    p.set_defaults(func=run)


def parse_click(text: str):
    """"ROW,COL" or "ROW,COL,+" / "ROW,COL,-" -> (row, col, positive). ValueError with the expected form."""
    parts = [t.strip() for t in str(text).split(",")]
    if len(parts) not in (2, 3):
        raise ValueError(f"--click {text!r}: expected ROW,COL or ROW,COL,+ or ROW,COL,-")
    try:
        row, col = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"--click {text!r}: ROW and COL must be numbers (pixel indices)") from None
    sign = parts[2] if len(parts) == 3 else "+"
    if sign not in ("+", "-", "pos", "neg"):
        raise ValueError(f"--click {text!r}: the third field must be + or -")
    return row, col, sign in ("+", "pos")


def _parse_pair(text: str, name: str):
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{name} {text!r}: expected two numbers separated by a comma") from None
    return a, b


def read_image(path, slice_index=None):
    """-> (image float32 [rows, cols], spacing (row_mm, col_mm) or None, modality or None, description)."""
    import numpy as np

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--image {path}: no such file")
    name = path.name.lower()
    if name.endswith(".npy"):
        a = np.load(path, allow_pickle=False)
        if a.ndim == 3 and slice_index is not None:
            a = a[slice_index]
        return np.asarray(a, np.float32), None, None, f"{path.name}"
    if name.endswith((".nii", ".nii.gz")):
        from radseg.training.data.volumes import load_display

        vol, spacing = load_display(path, dtype=np.float32)
        k = vol.shape[0] // 2 if slice_index is None else int(slice_index)
        if not 0 <= k < vol.shape[0]:
            raise ValueError(f"--slice {k}: the volume has {vol.shape[0]} axial slices")
        return vol[k], (spacing[1], spacing[2]), None, f"{path.name} axial slice {k}"
    import pydicom  # .dcm, or any file pydicom can read

    ds = pydicom.dcmread(str(path))
    a = ds.pixel_array.astype(np.float32)
    if a.ndim == 3:
        k = a.shape[0] // 2 if slice_index is None else int(slice_index)
        a = a[k]
    a = a * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    spacing = tuple(float(v) for v in ds.PixelSpacing) if "PixelSpacing" in ds else None
    modality = str(getattr(ds, "Modality", "") or "") or None
    return a, spacing, modality, f"{path.name} (DICOM)"


def demo_image(data=None):
    """-> (image HU, spacing, "CT", description, default click, reference mask or None)."""
    import numpy as np

    try:
        from radseg.eval.datasets import find_data_root

        root = find_data_root(data)
        if not (root / "btcv_sabs_ct").is_dir():
            raise FileNotFoundError(root / "btcv_sabs_ct")
        from radseg.training.data import btcv
        from radseg.training.data.split import BTCV_VALIDATION
        from radseg.click.robot import deterministic_click
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        why = f"missing module {exc.name}" if isinstance(exc, ModuleNotFoundError) else "no ../shared/data"
        print(f"radseg segment --demo: {why}; using pydicom's bundled {DEMO_DICOM}", file=sys.stderr)
        return _demo_dicom()
    patient = BTCV_VALIDATION[0]
    vol = btcv.load(root, patient)
    label = {v: k for k, v in btcv.LABELS.items()}[DEMO_STRUCTURE]
    k = int(np.argmax((vol.labels == label).sum(axis=(1, 2))))  # the slice where the structure is largest
    ref = vol.labels[k] == label
    click = deterministic_click(ref, np.zeros_like(ref))  # the deepest point of the structure
    desc = f"BTCV {patient} (held out of training) axial slice {k}, {DEMO_STRUCTURE}, from {root}"
    return vol.image[k], vol.slice_spacing(), "CT", desc, click, ref


def _demo_dicom():
    from pydicom.data import get_testdata_file

    path = get_testdata_file(DEMO_DICOM)
    image, spacing, modality, _ = read_image(path)
    return image, spacing, modality or "CT", f"pydicom's bundled {DEMO_DICOM} (a thoracic vertebra)", DEMO_DICOM_CLICK, None


def run(args) -> int:
    import numpy as np

    import radseg
    from radseg._png import overlay, to_uint8, write_png

    try:
        clicks = [parse_click(c) for c in args.click]
        spacing_arg = _parse_pair(args.spacing, "--spacing") if args.spacing else None
    except ValueError as exc:
        print(f"radseg segment: {exc}", file=sys.stderr)
        return 2
    ref = None
    try:
        if args.demo:
            image, spacing, modality, desc, default_click, ref = demo_image(args.data)
            clicks = clicks or [tuple(default_click)]
        else:
            image, spacing, modality, desc = read_image(args.image, args.slice)
    except (FileNotFoundError, ValueError) as exc:
        print(f"radseg segment: {exc}", file=sys.stderr)
        return 2
    if not clicks:
        print("radseg segment: give at least one --click ROW,COL (or use --demo)", file=sys.stderr)
        return 2
    spacing = spacing_arg or spacing
    if spacing is None:
        print("radseg segment: no pixel spacing in the file; assuming 1 mm (pass --spacing ROW_MM,COL_MM)",
              file=sys.stderr)
        spacing = (1.0, 1.0)
    modality = (args.modality or modality or "CT").upper()
    t0 = time.perf_counter()
    model = radseg.load(args.model, backend=args.backend, threads=args.threads)
    t1 = time.perf_counter()
    try:
        sess = model.start(image, spacing=spacing, modality=modality)
        t2 = time.perf_counter()
        click_ms = []
        for r, c, positive in clicks:
            tc = time.perf_counter()
            mask = sess.click(r, c, positive=positive)
            click_ms.append(round((time.perf_counter() - tc) * 1e3, 2))
    except (ValueError, TypeError) as exc:
        print(f"radseg segment: {exc}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "mask.npy", mask)
    write_png(out / "mask.png", mask)
    low, high = (-160.0, 240.0) if modality == "CT" else tuple(float(v) for v in np.percentile(image, [0.5, 99.5]))
    write_png(out / "overlay.png", overlay(to_uint8(image, low, high), mask, points=sess.clicks))
    result = {
        "image": desc, "shape": list(mask.shape), "spacing_mm": list(spacing), "modality": modality,
        "clicks": [list(c) for c in sess.clicks], "model": str(model.path), "backend": model.backend,
        "refused": model.refused, "mask_pixels": int(mask.sum()),
        "mask_area_mm2": round(float(mask.sum() * spacing[0] * spacing[1]), 1),
        "load_ms": round((t1 - t0) * 1e3, 1), "start_ms": round((t2 - t1) * 1e3, 2), "click_ms": click_ms,
    }
    if ref is not None:
        from radseg.eval.click import dice_score

        result["reference"] = DEMO_STRUCTURE
        result["dice_vs_reference"] = round(dice_score(mask, ref), 4)
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{desc}\n  model {model.path.name} on {model.backend}; {len(sess.clicks)} click(s) {sess.clicks}")
    print(f"  mask: {result['mask_pixels']} pixels, {result['mask_area_mm2']} mm^2"
          + (f"; Dice against the reference {DEMO_STRUCTURE}: {result['dice_vs_reference']:.3f}" if ref is not None else ""))
    print(f"  start {result['start_ms']} ms, click(s) {click_ms} ms")
    print(f"  wrote {out / 'mask.npy'}, {out / 'mask.png'}, {out / 'overlay.png'}, {out / 'result.json'}")
    return 0
