"""`radseg segment`: click on a structure in a CT/MR slice, or segment structures through a whole volume.

2D, one slice (writes mask.npy, mask.png, overlay.png, result.json):
    radseg segment --demo --out out/                         # a real CT slice, a default click
    radseg segment --image slice.dcm --click 120,88 --click 140,90,- --out out/

3D, a DICOM series or a NIfTI volume (writes seg.dcm, labels.nii.gz, montage.png, result.json):
    radseg segment --series ct/ --body --out out/           # the body outline: also rtstruct.dcm and body.ply
    radseg segment --series ct/ --click 40,210,150 --click 40,236,170,- --name liver --propagate \\
        --propagation-model models/propagation --out out/
    radseg segment --series ct.nii.gz --prompts prompts.json --propagate --propagation-model models/propagation \\
        --out out/

The 3D workflow is `radseg.workflow.segment_volume` (Python); this command reads the input, writes the files and
says what went wrong in terms of its flags.
"""
from __future__ import annotations

import json
import pathlib
import time

DEMO_DICOM = "CT_small.dcm"
#: pydicom's CT_small.dcm (128 x 128, 0.66 mm): a thoracic vertebra; the default click is in its body.
DEMO_DICOM_CLICK = (22, 59, True)
DEMO_STRUCTURE = "spleen"

DESCRIPTION = """\
Click-model segmentation of one 2D slice (--image, --demo), or of structures through a volume (--series).

2D: points are ROW,COL pixel indices of the slice.
3D (--series DIR_OR_NIFTI): points are SLICE,ROW,COL voxel indices of the volume as radseg reads it
([slices, rows, cols]; `radseg dicom info DIR` shows the shape; for a NIfTI file SLICE,ROW,COL is its voxel
(k, j, i)). All clicks of a structure must be on one slice, its seed slice: the click model (--model) segments
that slice from them, and with --propagate the propagation model (--propagation-model) carries the mask up and
down the volume until the structure vanishes, leaks, or the volume ends. Without --propagate only the seed
slice's mask goes into the outputs. One structure: --click (repeated) and --name; several: --prompts FILE.
A value that begins with a minus works as typed (--click -5,100 is refused as outside the image, not as an
unknown flag).

--prompts FILE is a JSON list with one object per structure, in label order:
  [
    {"name": "liver",  "clicks": [[40, 210, 150, true], [40, 236, 170, false]]},
    {"name": "spleen", "clicks": [[52, 190, 330]]}
  ]
  "clicks" are [SLICE, ROW, COL] or [SLICE, ROW, COL, POSITIVE] (true or "+": on the structure, the default;
  false or "-": background), all on one slice, at least one positive. Names must differ; names such as "liver",
  "spleen", "kidney_left" get anatomy codes in seg.dcm.

3D outputs in --out:
  seg.dcm        DICOM SEG of the structures, referencing the series (DICOM input only; anonymised series
                 without UIDs need --fill-missing-uids)
  labels.nii.gz  label map on the input grid: 0 background, structure k = k (order of --prompts); where two
                 structures overlap the later one holds the voxel; a NIfTI input keeps its affine
  montage.png    the slices holding a structure (every n-th when there are many, up to 24), CT window W400/L40
                 (MR: 0.5-99.5 percentiles), each structure outlined in its colour, clicks on their slice
  result.json    input, per structure: name, label, clicks, seed slice, slices [first, last], volume in mL,
                 where and why propagation stopped (up / down), timings in ms; models and backends

Body outline (--series DIR_OR_NIFTI --body): the body model (--body-model) outlines the body on every slice, no
clicks needed. Writes seg.dcm (segment "body") and rtstruct.dcm (ROI "BODY", type EXTERNAL; holes as separate
contours) for DICOM input, body.ply (the outline points of every slice in patient coordinates, LPS mm, binary
PLY), labels.nii.gz (1 = body), montage.png and result.json (volume in mL, slices, timings).
"""


def register(sub) -> None:
    import argparse

    from radseg.cli._common import positive_int

    p = sub.add_parser("segment", help="segment a structure on a 2D slice with clicks, structures through a "
                                       "DICOM series or NIfTI volume, or the body outline (--body)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="a 2D image: .dcm (DICOM), .npy, or .nii/.nii.gz (with --slice)")
    src.add_argument("--demo", action="store_true",
                     help="a real CT slice: a held-out BTCV patient's spleen from the shared data folder when "
                          "found, else pydicom's bundled CT_small.dcm")
    src.add_argument("--series", metavar="DIR_OR_NIFTI",
                     help="a volume: a DICOM folder (searched recursively) or file, or a .nii/.nii.gz file")
    p.add_argument("--click", action="append", default=[], metavar="[SLICE,]ROW,COL[,+|-]",
                   help="a click; '+' (default) = structure, '-' = background; repeat for more clicks. ROW,COL "
                        "for --image/--demo, SLICE,ROW,COL for --series")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--model", default="click", help="the click model: bundled name or exported model folder (click)")
    p.add_argument("--modality", default=None, type=str.upper, choices=["CT", "MR"],
                   help="CT or MR (default: from the DICOM header, else CT with a warning)")
    p.add_argument("--spacing", default=None, metavar="ROW_MM,COL_MM",
                   help="pixel size for --image (default: from the file; 1,1 with a warning for .npy)")
    p.add_argument("--slice", type=int, default=None, help="slice index of a 3D .npy or NIfTI --image (default: middle)")
    p.add_argument("--data", default=None,
                   help="shared data folder for --demo (default: $RADSEG_DATA or ../shared/data; a folder given "
                        "here must exist)")
    p.add_argument("--backend", default=None, help="backend name (default: the best that works here)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the backend")
    vol = p.add_argument_group("volumes (--series)")
    vol.add_argument("--name", default=None, help="the structure's name with --click (default: structure)")
    vol.add_argument("--prompts", default=None, metavar="FILE",
                     help="several structures: a JSON file (format above) instead of --click / --name")
    vol.add_argument("--propagate", action="store_true",
                     help="carry each seed slice's mask through the volume with the propagation model")
    vol.add_argument("--propagation-model", default=None, metavar="NAME_OR_FOLDER",
                     help="the propagation model: bundled name or exported model folder (propagation)")
    vol.add_argument("--body", action="store_true",
                     help="outline the body on every slice with the body model: seg.dcm and rtstruct.dcm (DICOM "
                          "input), body.ply, labels.nii.gz, montage.png, result.json")
    vol.add_argument("--body-model", default="body", metavar="NAME_OR_FOLDER",
                     help="the body model with --body: bundled name or exported model folder (default: body)")
    vol.add_argument("--series-uid", default=None, metavar="UID",
                     help="SeriesInstanceUID when the folder holds several series (`radseg dicom info DIR` lists them)")
    vol.add_argument("--fill-missing-uids", action="store_true",
                     help="generate the UIDs an anonymised series lacks so that seg.dcm can reference it (warned "
                          "about, and recorded in result.json)")
    p.set_defaults(func=run)


def parse_click(text: str):
    """"ROW,COL" or "ROW,COL,+" / "ROW,COL,-" -> (row, col, positive). UsageError (a ValueError) otherwise."""
    from radseg.errors import UsageError

    parts = [t.strip() for t in str(text).split(",")]
    if len(parts) not in (2, 3):
        raise UsageError(f"--click {text!r}: expected ROW,COL or ROW,COL,+ or ROW,COL,-")
    try:
        row, col = float(parts[0]), float(parts[1])
    except ValueError:
        raise UsageError(f"--click {text!r}: ROW and COL must be numbers (pixel indices)") from None
    sign = parts[2] if len(parts) == 3 else "+"
    if sign not in ("+", "-", "pos", "neg"):
        raise UsageError(f"--click {text!r}: the third field must be + or -")
    return row, col, sign in ("+", "pos")


def read_image(path, slice_index=None):
    """-> (image float32 [rows, cols], spacing (row_mm, col_mm) or None, modality or None, description).

    Raises InputError (missing, unreadable or wrong kind of file) and UsageError (--slice out of range).
    """
    import numpy as np

    from radseg.cli._common import input_path
    from radseg.errors import InputError

    path = input_path(path, "--image")
    name = path.name.lower()
    if name.endswith(".npy"):
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"--image {path}: not a readable .npy array ({exc})", "save it with numpy.save") from None
        if a.ndim == 3:
            k = _slice_index(slice_index, a.shape[0])
            return np.asarray(a[k], np.float32), None, None, f"{path.name} slice {k}"
        if a.ndim != 2:
            raise InputError(f"--image {path}: the array has shape {a.shape}", "give a 2D [rows, cols] slice or "
                                                                             "a 3D [slices, rows, cols] volume")
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise InputError(f"--image {path}: the array has dtype {a.dtype}", "give a real-valued image")
        return np.asarray(a, np.float32), None, None, f"{path.name}"
    if name.endswith((".nii", ".nii.gz")):
        from radseg.training.data.volumes import load_display

        try:
            vol, spacing = load_display(path, dtype=np.float32)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"--image {path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
        k = _slice_index(slice_index, vol.shape[0])
        return vol[k], (spacing[1], spacing[2]), None, f"{path.name} axial slice {k}"
    return _read_dicom_slice(path, slice_index)


def _slice_index(slice_index, count: int) -> int:
    from radseg.errors import UsageError

    k = count // 2 if slice_index is None else int(slice_index)
    if not 0 <= k < count:
        raise UsageError(f"--slice {k}: the volume has {count} slices", f"give --slice between 0 and {count - 1}")
    return k


def _read_dicom_slice(path, slice_index):
    import numpy as np
    import pydicom

    from radseg.errors import InputError

    try:
        ds = pydicom.dcmread(str(path))
    except pydicom.errors.InvalidDicomError:
        raise InputError(f"--image {path}: not a DICOM, .npy or NIfTI file",
                         "give a .dcm, .npy, .nii or .nii.gz image") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"--image {path}: unreadable DICOM file, perhaps truncated ({type(exc).__name__})") from None
    if "PixelData" not in ds:
        raise InputError(f"--image {path}: a DICOM file without pixel data (Modality {ds.get('Modality', '?')})",
                         "give an image file")
    try:
        a = ds.pixel_array.astype(np.float32)
    except Exception as exc:  # pydicom raises many types for corrupt or unsupported pixel data
        raise InputError(f"--image {path}: cannot decode its pixel data ({type(exc).__name__}: {exc})",
                         "install the decoders with pip install 'radseg[dicom]', or convert the file") from None
    if a.ndim == 3:
        k = _slice_index(slice_index, a.shape[0])
        a = a[k]
    a = a * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    spacing = tuple(float(v) for v in ds.PixelSpacing) if "PixelSpacing" in ds else None
    modality = str(getattr(ds, "Modality", "") or "") or None
    return a, spacing, modality, f"{path.name} (DICOM)"


def demo_image(data=None):
    """-> (image HU, spacing, "CT", description, default click, reference mask or None).

    `data` given: that folder must exist and hold btcv_sabs_ct/ (InputError naming it otherwise). Not given: the
    shared data folder when found, else pydicom's bundled CT slice, with a warning that says why.
    """
    import warnings

    import numpy as np

    from radseg.errors import InputError, RadsegWarning
    from radseg.eval.datasets import find_data_root

    if data is not None:
        root = pathlib.Path(data).expanduser()
        if not root.is_dir():
            raise InputError(f"--data {data}: no such folder", "give the shared data folder, or leave out --data")
        if not (root / "btcv_sabs_ct").is_dir():
            raise InputError(f"--data {data}: has no btcv_sabs_ct/ folder",
                             "give the shared data folder, or leave out --data for pydicom's bundled CT slice")
    else:
        try:
            root = find_data_root(None)
            if not (root / "btcv_sabs_ct").is_dir():
                raise FileNotFoundError(root / "btcv_sabs_ct")
        except FileNotFoundError:
            warnings.warn(f"no shared data folder found (set RADSEG_DATA or pass --data); using pydicom's bundled "
                          f"{DEMO_DICOM}", RadsegWarning)
            return _demo_dicom()
    try:
        from radseg.click.robot import deterministic_click
        from radseg.training.data import btcv
        from radseg.training.data.split import BTCV_VALIDATION
    except ModuleNotFoundError as exc:  # nibabel (dicom extra) reads the BTCV volumes
        if data is not None:
            raise
        warnings.warn(f"the demo's BTCV slice needs {exc.name!r} (pip install 'radseg[dicom]'); using pydicom's "
                      f"bundled {DEMO_DICOM}", RadsegWarning)
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


#: Overlays of images smaller than this (pixels, longer side) are enlarged by a whole factor, so a 128 x 128 slice
#: is not a thumbnail; mask.png and mask.npy stay on the image's own grid.
OVERLAY_MIN_SIDE = 512


def run(args) -> int:
    """`radseg segment`: the 2D mode for --image / --demo, the 3D workflow for --series."""
    from radseg.errors import UsageError

    if args.series is not None and args.body:
        from radseg.cli._segment_body import run_body_volume

        return run_body_volume(args)
    if args.series is not None:
        from radseg.cli._segment_volume import run_volume

        return run_volume(args)
    for flag, value in (("--name", args.name), ("--prompts", args.prompts), ("--propagate", args.propagate),
                        ("--propagation-model", args.propagation_model), ("--series-uid", args.series_uid),
                        ("--fill-missing-uids", args.fill_missing_uids), ("--body", args.body)):
        if value:
            raise UsageError(f"{flag} is for volumes", "give the volume with --series DIR_OR_NIFTI (--image and "
                                                       "--demo segment one 2D slice)")
    return run_slice(args)


def run_slice(args) -> int:
    import numpy as np

    from radseg._atomic import write_atomic
    from radseg._png import encode_png, overlay, to_uint8
    from radseg.cli._common import load_model, number_list, output_dir
    from radseg.errors import UsageError

    clicks = [parse_click(c) for c in args.click]
    spacing_arg = number_list(args.spacing, "--spacing", 2, positive=True) if args.spacing else None
    ref = None
    if args.demo:
        image, spacing, modality, desc, default_click, ref = demo_image(args.data)
        clicks = clicks or [tuple(default_click)]
    else:
        image, spacing, modality, desc = read_image(args.image, args.slice)
    if not clicks:
        raise UsageError("no click given", "add --click ROW,COL (or use --demo)")
    spacing = spacing_arg or spacing  # None: the session assumes 1 mm and warns
    modality = args.modality or (modality.upper() if modality else None)  # None: the session assumes CT and warns
    out = output_dir(args.out)
    t0 = time.perf_counter()
    model = load_model(args.model, backend=args.backend, threads=args.threads)
    t1 = time.perf_counter()
    try:
        sess = model.start(image, spacing=spacing, modality=modality)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"the image cannot be segmented: {exc}") from exc
    t2 = time.perf_counter()
    click_ms = []
    for r, c, positive in clicks:
        tc = time.perf_counter()
        try:
            mask = sess.click(r, c, positive=positive)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--click {r:g},{c:g}: {exc}") from exc
        click_ms.append(round((time.perf_counter() - tc) * 1e3, 2))
    spacing, modality = sess.spacing, sess.modality.upper()
    low, high = (-160.0, 240.0) if modality == "CT" else tuple(float(v) for v in np.percentile(image, [0.5, 99.5]))
    picture = overlay(to_uint8(image, low, high), mask, points=sess.clicks, min_side=OVERLAY_MIN_SIDE)
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
    # Each file appears whole or not at all (written beside its name, then renamed).
    write_atomic(out / "mask.npy", lambda tmp: np.save(tmp, mask), suffix=".npy")
    write_atomic(out / "mask.png", lambda tmp: pathlib.Path(tmp).write_bytes(encode_png(mask)))
    write_atomic(out / "overlay.png", lambda tmp: pathlib.Path(tmp).write_bytes(encode_png(picture)))
    write_atomic(out / "result.json", lambda tmp: pathlib.Path(tmp).write_text(json.dumps(result, indent=1) + "\n"))
    print(f"{desc}\n  model {model.path.name} on {model.backend}; {len(sess.clicks)} click(s) {sess.clicks}")
    print(f"  mask: {result['mask_pixels']} pixels, {result['mask_area_mm2']} mm^2"
          + (f"; Dice against the reference {DEMO_STRUCTURE}: {result['dice_vs_reference']:.3f}" if ref is not None else ""))
    print(f"  start {result['start_ms']} ms, click(s) {click_ms} ms")
    print(f"  wrote {out / 'mask.npy'}, {out / 'mask.png'}, {out / 'overlay.png'}, {out / 'result.json'}")
    return 0
