"""The work list of an annotation session: every (slice, candidate) pair not yet decided, in a seeded random order.

    items = load_items(["ct.nii.gz", "series_dir/", "slice.npy"])       # [Item]: one per 2D slice
    work = build_queue(items, store, radseg.body.candidates, seed=0)   # WorkQueue of Pair, undecided only
    for pair in work: ...                                              # pair.image, pair.mask, pair.names

Keys: an item is named by a hash of its pixels (``img-<16 hex>``), a candidate by a hash of its mask
(``msk-<16 hex>``), so identical candidates of a slice are shown once (their names joined), the same slice given
twice is annotated once, and a resumed session finds its decisions even when the data moved or the candidate
generator renamed its variants. The order sorts the pairs by a hash of (seed, item, candidate): the same seed gives
the same order on every run, and adding a source slots its pairs in without reshuffling the others.
"""
from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from radseg.errors import InputError

#: A candidate generator: 2D float image [rows, cols] -> [(name, bool mask [rows, cols])].
Generator = Callable[[np.ndarray], Sequence]


@dataclasses.dataclass
class Item:
    """One 2D image to annotate: `image` float32 [rows, cols]; `source` where it came from; `slice` its index in
    that source's volume (None for a 2D source)."""

    key: str
    image: np.ndarray
    source: str
    slice: Optional[int] = None


@dataclasses.dataclass
class Pair:
    """One picture to decide on: an item and one candidate mask (stored bit-packed; `mask` unpacks it)."""

    item: Item
    key: str
    names: tuple
    packed: np.ndarray
    order: str = ""

    @property
    def mask(self) -> np.ndarray:
        """bool [rows, cols]."""
        rows, cols = self.item.image.shape
        return np.unpackbits(self.packed, count=rows * cols).reshape(rows, cols).astype(bool)

    @property
    def name(self) -> str:
        return ",".join(self.names)

    def meta(self) -> dict:
        """What a decision records about the pair besides its keys."""
        return {"names": list(self.names), "source": self.item.source, "slice": self.item.slice}


@dataclasses.dataclass
class WorkQueue:
    """The undecided pairs in session order, and how many pairs exist (`total`) and were decided before."""

    pairs: list
    total: int
    decided_before: int

    def __iter__(self) -> Iterator:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


# ---------------------------------------------------------------------------------------------- keys
def image_key(image: np.ndarray) -> str:
    """``img-<16 hex>``: a hash of the float32 pixels and the shape of `image` [rows, cols]."""
    a = np.ascontiguousarray(image, dtype=np.float32)
    h = hashlib.sha1(repr(a.shape).encode())
    h.update(a.tobytes())
    return "img-" + h.hexdigest()[:16]


def mask_key(mask: np.ndarray) -> str:
    """``msk-<16 hex>``: a hash of the bits and the shape of `mask` bool [rows, cols]."""
    m = np.asarray(mask, dtype=bool)
    h = hashlib.sha1(repr(m.shape).encode())
    h.update(np.packbits(m).tobytes())
    return "msk-" + h.hexdigest()[:16]


def order_key(seed: int, item_key: str, candidate_key: str) -> str:
    """The sort key that places a pair in the session order of `seed`."""
    return hashlib.sha256(f"{int(seed)}\0{item_key}\0{candidate_key}".encode()).hexdigest()


# ---------------------------------------------------------------------------------------------- sources
def load_items(sources: Iterable, every: int = 1) -> list:
    """2D items from `sources`, in order, each slice once (identical pixels are one item).

    Args:
        sources: paths (str / PathLike) to a NIfTI volume (.nii, .nii.gz; axial slices in display orientation),
            a .npy array (2D [rows, cols] or 3D [slices, rows, cols]) or a DICOM series (folder or file, read with
            `radseg.dicom.read_series`, slices along the image normal); or 2D / 3D numpy arrays.
        every: keep every n-th slice of a 3D source (1: all).
    Raises:
        InputError: a source that is missing, unreadable, or not 2D/3D real-valued data (names it).
    """
    if int(every) < 1:
        raise ValueError(f"load_items: every must be >= 1, got {every}")
    items, seen = [], set()
    for number, source in enumerate(sources):
        if isinstance(source, np.ndarray):
            array, label = source, f"array {number}"
        else:
            array, label = _read_source(source), str(source)
        array = _check_array(array, label)
        if array.ndim == 2:
            slices = [(None, array)]
        else:
            slices = [(k, array[k]) for k in range(0, array.shape[0], int(every))]
        for index, image in slices:
            image = np.ascontiguousarray(image, dtype=np.float32)
            key = image_key(image)
            if key not in seen:
                seen.add(key)
                items.append(Item(key, image, label, index))
    return items


def _read_source(source) -> np.ndarray:
    path = pathlib.Path(source)
    kinds = "give a .nii / .nii.gz volume, a .npy array, or a DICOM series folder or file"
    if not path.exists():
        raise InputError(f"{source}: no such file or folder", "check the path")
    name = path.name.lower()
    if name.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{source}: not a readable .npy array ({exc})", "save it with numpy.save") from None
    if name.endswith((".nii", ".nii.gz")):
        from radseg.training.data.volumes import load_display

        try:
            return load_display(path, dtype=np.float32)[0]
        except ModuleNotFoundError:
            raise
        except Exception as exc:  # nibabel's ImageFileError derives from Exception only
            raise InputError(f"{source}: not a readable 3D NIfTI file ({type(exc).__name__}: {exc})", kinds) from None
    import radseg.dicom as rd

    try:
        return rd.read_series(path).array
    except rd.MissingDependencyError:
        raise
    except rd.MultipleSeriesError as exc:
        uids = ", ".join(s["series_uid"] or "(no UID)" for s in exc.series)
        raise InputError(f"{source} holds {len(exc.series)} image series ({uids})",
                         "give each series its own folder") from None
    except rd.DicomError as exc:
        raise InputError(f"{source}: no usable DICOM series ({exc})", kinds) from None


def _check_array(array, label: str) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim not in (2, 3) or 0 in a.shape:
        raise InputError(f"{label}: the array has shape {a.shape}",
                         "give a 2D [rows, cols] slice or a 3D [slices, rows, cols] volume")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating) or a.dtype == bool):
        raise InputError(f"{label}: the array has dtype {a.dtype}", "give real-valued image data")
    return a


# ---------------------------------------------------------------------------------------------- the queue
def candidate_pairs(item: Item, generator: Generator) -> list:
    """The distinct candidates of `item` as Pairs (identical masks merged, names joined in generator order).

    Raises InputError when the generator fails on the slice or returns something that is not
    [(name, mask [rows, cols])] (names the slice).
    """
    where = item.source + ("" if item.slice is None else f" slice {item.slice}")
    try:
        found = list(generator(item.image))
    except Exception as exc:  # the generator is the caller's code
        raise InputError(f"{where}: the candidate generator failed ({type(exc).__name__}: {exc})",
                         "check the image, or rerun with --debug for the traceback") from exc
    by_key: dict = {}
    for entry in found:
        try:
            name, mask = entry
            mask = np.asarray(mask).astype(bool)
        except (TypeError, ValueError):
            raise InputError(f"{where}: the candidate generator returned {type(entry).__name__}, not (name, mask)",
                             "make it return a list of (name, bool mask [rows, cols])") from None
        if mask.shape != item.image.shape:
            raise InputError(f"{where}: candidate {name!r} has shape {mask.shape}, the image {item.image.shape}",
                             "make the generator return masks on the image's own grid")
        key = mask_key(mask)
        names = split_names(name)
        if key in by_key:
            by_key[key].names += tuple(n for n in names if n not in by_key[key].names)
        else:
            by_key[key] = Pair(item, key, tuple(names), np.packbits(mask))
    return list(by_key.values())


def split_names(name) -> list:
    """"M1(2),M3(1,3,0)" -> ["M1(2)", "M3(1,3,0)"]: a merged candidate's names, split at the commas outside
    parentheses."""
    parts, depth, current = [], 0, ""
    for ch in str(name):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth <= 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()] or [str(name)]


def build_queue(items: Sequence, store, generator: Generator, seed: int = 0, limit: Optional[int] = None,
                progress: Optional[Callable[[int, int], None]] = None, workers: int = 1) -> WorkQueue:
    """All (item, candidate) pairs of `items`, ordered by `seed`, without those `store` has decided.

    Args:
        items: `Item`s (see `load_items`).
        store: anything with ``decided(item_key, candidate_key) -> bool`` (an `AnnotationStore`).
        generator: image float32 [rows, cols] -> [(name, bool mask)] (e.g. `radseg.body.candidates`).
        seed: the order; the same seed gives the same order on every run.
        limit: keep only the first `limit` undecided pairs (None: all).
        progress: called as progress(done, total) after each item's candidates.
        workers: threads running the generator on several items at once (radseg's native morphology releases
            the GIL); the result does not depend on it.
    """
    pairs = []

    def collect(done: int, found: list) -> None:
        pairs.extend(found)
        if progress is not None:
            progress(done, len(items))

    if int(workers) > 1 and len(items) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(int(workers)) as pool:
            for done, found in enumerate(pool.map(lambda it: candidate_pairs(it, generator), items), start=1):
                collect(done, found)
    else:
        for done, item in enumerate(items, start=1):
            collect(done, candidate_pairs(item, generator))
    for pair in pairs:
        pair.order = order_key(seed, pair.item.key, pair.key)
    pairs.sort(key=lambda p: p.order)
    todo = [p for p in pairs if not store.decided(p.item.key, p.key)]
    decided_before = len(pairs) - len(todo)
    if limit is not None:
        todo = todo[: max(int(limit), 0)]
    return WorkQueue(todo, total=len(pairs), decided_before=decided_before)
