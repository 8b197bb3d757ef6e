"""Benchmark inputs: organ masks from real CT labels (BTCV) when they are present, synthetic organ-like masks otherwise.

Every mask here is a C-contiguous ``bool`` array in the SDK's axis order: 2D [rows, cols], 3D [slices, rows, cols],
with spacing in mm in the same order. Each :class:`MaskSource` says where its masks came from, so that a table
can never pass synthetic numbers off as real ones.

Real data: ``btcv_sabs_ct/labels/sabs_*.nii.gz`` under the shared data folder (``../shared/data`` beside the
repository; see that folder's SOURCE.txt). The NIfTI volumes are stored [x, y, z] = 257x257xZ with 1.04-1.71 mm
in-plane and 2.5-5 mm slices; they are transposed to [z, y, x] = [slices, rows, cols] and resized with
nearest-neighbour interpolation (``scipy.ndimage.zoom(order=0)``), the spacing scaled to match.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

# BTCV label ids (SOURCE.txt): 1 spleen, 2 right kidney, 3 left kidney, 6 liver, ...
LIVER = 6
BTCV_LABELS = "btcv_sabs_ct/labels"
DEFAULT_CASE = "sabs_00"


@dataclasses.dataclass(frozen=True)
class MaskSource:
    """A labelled 3D volume [slices, rows, cols] with its spacing (mm) and a human-readable origin."""

    labels: np.ndarray
    spacing: tuple[float, float, float]
    description: str
    synthetic: bool

    def organ(self, label: int | None) -> np.ndarray:
        """bool [slices, rows, cols]: one label, or the union of all organs when `label` is None."""
        return self.labels > 0 if label is None else self.labels == label


def find_shared_data(explicit: str | os.PathLike | None = None) -> pathlib.Path | None:
    """The shared data folder: `explicit` if given, else $RADSEG_SHARED_DATA or ``shared/data`` beside the cwd or
    the repository. Returns None when none of them holds the BTCV labels (a fresh machine: the benchmark then uses
    synthetic masks).
    """
    if explicit is not None:
        path = pathlib.Path(explicit)
        return path if (path / BTCV_LABELS).is_dir() else None
    candidates = []
    if os.environ.get("RADSEG_SHARED_DATA"):
        candidates.append(pathlib.Path(os.environ["RADSEG_SHARED_DATA"]))
    here = pathlib.Path(__file__).resolve()
    for base in (pathlib.Path.cwd(), *here.parents[:3]):
        candidates += [base / "shared" / "data", base.parent / "shared" / "data"]
    for path in candidates:
        if (path / BTCV_LABELS).is_dir():
            return path
    return None


def load_btcv(data_root: pathlib.Path, case: str = DEFAULT_CASE) -> MaskSource:
    """Load one BTCV label volume as uint8 [slices, rows, cols] with spacing (slice, row, col) in mm."""
    import nibabel as nib

    path = pathlib.Path(data_root) / BTCV_LABELS / f"{case}.nii.gz"
    if not path.is_file():
        raise ValueError(f"BTCV case {case!r} not found: {path} does not exist (cases are named sabs_00 .. sabs_29)")
    image = nib.load(str(path))
    xyz = np.asarray(image.dataobj).astype(np.uint8)
    zooms = [float(z) for z in image.header.get_zooms()[:3]]
    labels = np.ascontiguousarray(np.transpose(xyz, (2, 1, 0)))  # [x, y, z] -> [z, y, x] = [slices, rows, cols]
    spacing = (zooms[2], zooms[1], zooms[0])
    return MaskSource(labels, spacing, f"BTCV {case} (real CT labels, {path})", synthetic=False)


def synthetic_source(shape=(96, 257, 257), spacing=(3.0, 1.17, 1.17), seed: int = 0) -> MaskSource:
    """Synthetic abdomen-like labels (NOT real data): smooth ellipsoidal 'organs' with wavy surfaces and small voids.

    Label 6 is a large liver-like blob (right upper quadrant), labels 1-3 smaller spleen/kidney-like blobs, and a
    few small void pockets are cut into label 6 so hole filling has work to do. Deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    z, y, x = (np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij", sparse=True)
    labels = np.zeros(shape, np.uint8)
    organs = [(LIVER, (0.1, -0.1, -0.3), (0.6, 0.45, 0.35)), (1, (0.15, -0.05, 0.45), (0.35, 0.18, 0.12)),
              (2, (-0.2, 0.3, -0.3), (0.3, 0.12, 0.09)), (3, (-0.15, 0.3, 0.35), (0.3, 0.12, 0.09))]
    for label, centre, radii in organs:
        phase = rng.uniform(0, 2 * np.pi, 3)
        wobble = 1.0 + 0.08 * np.sin(5 * xx + phase[0]) * np.sin(4 * yy + phase[1]) + 0.05 * np.sin(7 * zz + phase[2])
        r2 = sum(((c - o) / r) ** 2 for c, o, r in zip((zz, yy, xx), centre, radii))
        labels[r2 <= wobble ** 2] = label
    for _ in range(6):  # small voids inside the liver-like organ
        c = np.array([0.1, -0.1, -0.3]) + rng.uniform(-0.2, 0.2, 3)
        r2 = sum(((a - o) / 0.04) ** 2 for a, o in zip((zz, yy, xx), c))
        labels[(r2 <= 1.0) & (labels == LIVER)] = 0
    return MaskSource(labels, tuple(float(s) for s in spacing),
                      f"SYNTHETIC organ-like masks (not real data), shape {shape}", synthetic=True)


def get_source(data_root=None, case: str = DEFAULT_CASE) -> MaskSource:
    """Real BTCV labels when the shared data folder is found, else :func:`synthetic_source`."""
    root = find_shared_data(data_root)
    if root is None:
        if data_root is not None:
            raise ValueError(f"data folder {data_root} holds no {BTCV_LABELS}/ (pass the folder that contains it)")
        source = synthetic_source()
        return dataclasses.replace(source, description=source.description + f"; no {BTCV_LABELS}/ found (--data)")
    return load_btcv(root, case)


def resize_nearest(mask: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resize of a bool/uint8 array to `shape` (scipy.ndimage.zoom, order=0); returns bool."""
    from scipy import ndimage

    factors = [t / s for t, s in zip(shape, mask.shape)]
    out = ndimage.zoom(mask.astype(np.uint8), factors, order=0, grid_mode=True, mode="nearest")
    if out.shape != tuple(shape):  # zoom rounds the output size; pad/crop the last voxel if needed
        out = np.pad(out, [(0, max(0, t - s)) for t, s in zip(shape, out.shape)], mode="edge")
        out = out[tuple(slice(0, t) for t in shape)]
    return np.ascontiguousarray(out != 0)


def scaled_spacing(spacing, old_shape, new_shape) -> tuple[float, ...]:
    """Spacing (mm) after resizing `old_shape` to `new_shape` so that the physical extent is kept."""
    return tuple(float(s) * o / n for s, o, n in zip(spacing, old_shape, new_shape))


def busiest_slice(mask3d: np.ndarray) -> int:
    """Index of the slice [rows, cols] with the most foreground."""
    return int(np.argmax(mask3d.reshape(mask3d.shape[0], -1).sum(axis=1)))


def mask_2d(source: MaskSource, size: int, label: int | None = None):
    """A [size, size] bool organ slice (the busiest slice of `label`) and its in-plane spacing (row, col) in mm."""
    organ = source.organ(label)
    k = busiest_slice(organ)
    out = resize_nearest(organ[k], (size, size))
    return out, scaled_spacing(source.spacing[1:], organ.shape[1:], out.shape), f"slice {k}"


def mask_3d(source: MaskSource, shape, label: int | None = None):
    """A bool [slices, rows, cols] organ volume resized to `shape`, and its spacing in mm."""
    organ = source.organ(label)
    return resize_nearest(organ, shape), scaled_spacing(source.spacing, organ.shape, shape)


def perturbed_prediction(ref: np.ndarray, spacing, grow_mm: float = 2.0, shift_vox=None) -> np.ndarray:
    """A realistic 'prediction' for surface metrics: `ref` grown by `grow_mm` (ellipsoidal, anisotropic) and shifted.

    The shift defaults to (1, 2, -3) voxels in 3D / (3, -2) pixels in 2D, so that both directed distances are
    non-trivial and the Hausdorff distance is set by a few far points, as with a real model's errors.
    """
    from scipy import ndimage

    shift_vox = shift_vox or ((3, -2) if ref.ndim == 2 else (1, 2, -3))
    radius = [max(0, int(round(grow_mm / s))) for s in spacing]
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
    ball = sum((g * s) ** 2 for g, s in zip(grids, spacing)) <= grow_mm ** 2 + 1e-9
    grown = ndimage.binary_dilation(ref, structure=ball)
    out = np.zeros_like(grown)
    src = tuple(slice(max(0, -d), n - max(0, d)) for d, n in zip(shift_vox, ref.shape))
    dst = tuple(slice(max(0, d), n - max(0, -d)) for d, n in zip(shift_vox, ref.shape))
    out[dst] = grown[src]
    return np.ascontiguousarray(out)
