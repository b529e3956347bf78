"""nerve_strips.py - the one rule for a nerve-free strip of a nerve image, shared by
train_nerve_net.py (its negatives and recipe-choice false finds) and strip_set.py
(the strips `cryonav eval nerve` counts false finds on). numpy only."""
import numpy as np


def strip_cols(nerve):
    """Columns [x0, x1) of the widest full-height strip of the image beside the
    nerve (the mask's columns plus a tenth of the width kept out); None when
    narrower than 40 % of the image or 16 pixels, or when the mask is empty."""
    w = nerve.shape[1]
    xs = np.nonzero(nerve.any(axis=0))[0]
    if xs.size == 0:
        return None
    m = int(0.1 * w)
    left, right = max(0, xs.min() - m), min(w, xs.max() + 1 + m)
    x0, x1 = (0, left) if left >= w - right else (right, w)
    if x1 - x0 < 0.4 * w or x1 - x0 < 16:
        return None
    return x0, x1
