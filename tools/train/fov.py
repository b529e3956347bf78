"""
fov.py - the scanner's field of view in a frame: the box of rows and columns in which
at least 2 % of the pixels are brighter than grey 3 (screen margins and letterbox bands
are black; speckle is not). A box under a quarter of the frame's side is not trusted
and the whole frame is kept. Trial option of the training scripts (--fov-crop,
docs/validation.md "Eighth session" item 4): a screen capture's margins show the nerve
smaller than the finder learned it, and cropping to the field of view in training and
inference alike gives every frame the same framing.
"""
import numpy as np

FOV_GREY = 3
FOV_SHARE = 0.02


def fov_box(g):
    """(y0, y1, x0, x1), half-open, of grey image g's field of view."""
    h, w = g.shape
    lit = g > FOV_GREY
    rows = np.nonzero(lit.mean(axis=1) >= FOV_SHARE)[0]
    cols = np.nonzero(lit.mean(axis=0) >= FOV_SHARE)[0]
    if rows.size == 0 or cols.size == 0:
        return 0, h, 0, w
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (y1 - y0) * 4 < h or (x1 - x0) * 4 < w:
        return 0, h, 0, w
    return y0, y1, x0, x1


if __name__ == "__main__":
    # python3 tools/train/fov.py IMAGE...: each image's box as x0 y0 w h (the C test's vector,
    # tests/unit/imaging/test_image_read.c test_fov_box_matches_training)
    import sys
    from PIL import Image
    for path in sys.argv[1:]:
        y0, y1, x0, x1 = fov_box(np.asarray(Image.open(path).convert("L"), dtype=np.uint8))
        print(f"{path} {x0} {y0} {x1 - x0} {y1 - y0}")
