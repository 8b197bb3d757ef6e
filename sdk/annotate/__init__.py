"""Binary-choice annotation (seed 000, sec. 3.2-3.3): candidates shown one at a time, ``y`` keeps, anything else
discards; the kept (image, mask) pairs are the body model's training set.

    store = radseg.annotate.AnnotationStore("dataset/")                  # decisions.jsonl + accepted/*.npz
    items = radseg.annotate.load_items(["ct.nii.gz"])                    # 2D slices
    work = radseg.annotate.build_queue(items, store, radseg.body.candidates, seed=0)   # undecided pairs
    radseg.annotate.run_window(radseg.annotate.Session(work, store))     # or run_terminal(session, "pic.png")
    for image, mask, meta in radseg.annotate.read_accepted("dataset/"): ...   # the trainer's view

A scripted rater writes the same dataset with ``store.record(item_key, candidate_key, accepted, seconds, image,
mask, meta)``. The command line is ``radseg annotate SOURCE... --out DATASET``.
"""
from .queue import (
    Item, Pair, WorkQueue, build_queue, candidate_pairs, image_key, load_items, mask_key, split_names,
)
from .render import render, scale_gray, status_lines
from .session import Session
from .store import AnnotationStore, DatasetLockedError, read_accepted

__all__ = ["AnnotationStore", "DatasetLockedError", "read_accepted", "Item", "Pair", "WorkQueue", "build_queue",
           "candidate_pairs", "image_key", "load_items", "mask_key", "split_names", "render", "scale_gray",
           "status_lines", "Session", "run_window", "run_terminal"]


def run_window(session, **kwargs):
    """See `radseg.annotate.window.run_window` (imports tkinter only when called)."""
    from .window import run_window as run

    return run(session, **kwargs)


def run_terminal(session, picture_path, **kwargs):
    """See `radseg.annotate.terminal.run_terminal`."""
    from .terminal import run_terminal as run

    return run(session, picture_path, **kwargs)
