"""
fov.py - the scanner's field of view in a frame: the box of rows and columns in which
at least 2 % of the pixels are brighter than grey 3 (screen margins and letterbox bands
are black; speckle is not), once the frame's marks are taken out: small lit parts (on
4 x 4 blocks, 8-connected; under 1/20 of the largest part) holding a pixel of grey 96
or more, i.e. a scanner's text, depth scale and markers (eighteenth session; before,
they widened the box: 6 of nerve-us's frames carry a marker 60-70 px left of the image).
A box under a quarter of the frame's side is not trusted and the whole frame is kept.
Trial option of the training scripts (--fov-crop,
docs/validation.md "Eighth session" item 4): a screen capture's margins show the nerve
smaller than the finder learned it, and cropping to the field of view in training and
inference alike gives every frame the same framing.
"""
import numpy as np

FOV_GREY = 3
FOV_SHARE = 0.02
FOV_BLOCK = 4          # lit parts are found on blocks of 4 x 4 pixels, 8-connected
FOV_PART_RATIO = 20    # a part under 1/20 of the largest part's blocks is small
FOV_MARK_GREY = 96     # a small part with a pixel this bright is a mark, not the image


def _marks(g, lit):
    """lit without the pixels of its marks: small lit parts (on 4 x 4 blocks, 8-connected)
    that hold a pixel of grey >= FOV_MARK_GREY. A scanner's text, its depth scale and
    markers are such parts; the image is one large part, and deep dark tissue's sparse
    speckle is dim."""
    from scipy import ndimage
    B = FOV_BLOCK
    h, w = g.shape
    H, W = (h + B - 1) // B * B, (w + B - 1) // B * B
    gp = np.zeros((H, W), dtype=np.uint8)
    gp[:h, :w] = g
    lp = np.zeros((H, W), dtype=bool)
    lp[:h, :w] = lit
    blit = lp.reshape(H // B, B, W // B, B).any(axis=(1, 3))
    bmax = (gp * lp).reshape(H // B, B, W // B, B).max(axis=(1, 3))
    lab, n = ndimage.label(blit, structure=np.ones((3, 3), dtype=int))
    if n < 2:
        return lit
    area = np.bincount(lab.ravel(), minlength=n + 1)
    area[0] = 0
    pmax = np.zeros(n + 1, dtype=np.int32)
    np.maximum.at(pmax, lab.ravel(), bmax.ravel().astype(np.int32))
    mark = (area * FOV_PART_RATIO < area.max()) & (pmax >= FOV_MARK_GREY)
    mark[0] = False
    if not mark.any():
        return lit
    mb = np.repeat(np.repeat(mark[lab], B, axis=0), B, axis=1)[:h, :w]
    return lit & ~mb


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
    # the same rule on the frame without its marks
    lit2 = _marks(g, lit)
    rows = np.nonzero(lit2.mean(axis=1) >= FOV_SHARE)[0]
    cols = np.nonzero(lit2.mean(axis=0) >= FOV_SHARE)[0]
    if rows.size == 0 or cols.size == 0:
        return y0, y1, x0, x1
    c = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (c[1] - c[0]) * 4 < h or (c[3] - c[2]) * 4 < w:
        return y0, y1, x0, x1
    return c


def fov_box_uncut(g):
    """The box before the parts rule (the ninth to seventeenth sessions' training)."""
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
    if sys.argv[1:2] == ["--changed"]:
        # python3 tools/train/fov.py --changed IMAGE...: the images whose box the parts rule
        # changes, with both boxes, and the count
        n = 0
        for path in sys.argv[2:]:
            g = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
            a, b = fov_box_uncut(g), fov_box(g)
            if a != b:
                n += 1
                print(f"{path} uncut y0 y1 x0 x1 {a} cut {b}")
        print(f"{n} of {len(sys.argv) - 2} boxes changed")
        sys.exit(0)
    for path in sys.argv[1:]:
        y0, y1, x0, x1 = fov_box(np.asarray(Image.open(path).convert("L"), dtype=np.uint8))
        print(f"{path} {x0} {y0} {x1 - x0} {y1 - y0}")
