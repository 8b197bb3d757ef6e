"""A small deterministic candidate generator for the annotation tests (also loadable as
``--candidates tests.annotate._fake:candidates`` with the repository root on PYTHONPATH).

Per image: "T50" (above the median), "T50b" (the same mask again: must be merged), "T75" (above the 75th
percentile), "BOX" (a rectangle in the middle), "M3(1,3,0)" (a name with commas; the same as BOX, merged).
"""
import numpy as np


def candidates(image):
    a = np.asarray(image, dtype=np.float32)
    rows, cols = a.shape
    box = np.zeros(a.shape, bool)
    box[rows // 4: 3 * rows // 4, cols // 4: 3 * cols // 4] = True
    t50 = a > np.median(a)
    return [("T50", t50), ("T50b", t50.copy()), ("T75", a > np.percentile(a, 75)), ("BOX", box),
            ("M3(1,3,0)", box.copy())]
