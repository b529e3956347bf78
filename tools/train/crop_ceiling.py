#!/usr/bin/env python3
"""crop_ceiling.py - the best Dice the seeded crop CNN's geometry allows.

The crop CNN (modules/segment/nerve_cnn.c) sees each nerve through a grid of
N x N cells (default 64) over a square of side crop-frac x the image's smaller
side, centred on the click, and its logits are pasted back bilinearly. So even a
network that knew the truth exactly would lose the detail finer than a cell.
This script measures that loss: for every nerve of every mask (the parts
`cryonav eval nerve --seeded` clicks: 8-connected, >= 2 % of the mask and >= 20 px,
clicked at the part's centroid), the true part is sampled at the cell centres
(+-0.5 as a logit), pasted back the way the C code does, and scored against the
part. The mean over parts is the ceiling of the seeded outline for that grid.

    /usr/bin/python3 tools/train/crop_ceiling.py ../shared/data/nerve-us
    /usr/bin/python3 tools/train/crop_ceiling.py ../shared/data/nerve-us --crop-frac 0.3

It answered one question in the fourth session (docs/validation.md): is the 64 x 64
grid over 0.6 of the image what keeps nerve-us seeded below 0.80? (No: 0.974.)

Needs Debian's python3-numpy, python3-pil and python3-scipy, installed with
apt-get when missing, under Debian's interpreter (/usr/bin/python3).
"""
import argparse
import os
import subprocess
import sys


def ensure_deps():
    need = []
    for mod, pkg in (("numpy", "python3-numpy"), ("PIL", "python3-pil"), ("scipy", "python3-scipy")):
        try:
            __import__(mod)
        except ImportError:
            need.append(pkg)
    if need and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    if need:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.check_call(sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + need)


ensure_deps()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402


def bilinear(a, xs, ys):
    h, w = a.shape
    xs = np.clip(xs, 0, w - 1)
    ys = np.clip(ys, 0, h - 1)
    x0 = np.minimum(np.floor(xs).astype(int), max(w - 2, 0))
    y0 = np.minimum(np.floor(ys).astype(int), max(h - 2, 0))
    fx, fy = xs - x0, ys - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    return (a[y0, x0] * (1 - fx) * (1 - fy) + a[y0, x1] * fx * (1 - fy) +
            a[y1, x0] * (1 - fx) * fy + a[y1, x1] * fx * fy)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="a folder with masks/ (index 1 or > 127 = nerve)")
    ap.add_argument("--crop-frac", type=float, default=0.6, help="crop side / smaller side")
    ap.add_argument("--grid", type=int, default=64, help="cells per crop side")
    a = ap.parse_args()
    mdir = os.path.join(a.data, "masks")
    names = sorted(f for f in os.listdir(mdir) if f.lower().endswith(".png"))
    if not names:
        sys.exit(f"crop_ceiling: {mdir}: no PNG masks")
    N, c0, scores = a.grid, (a.grid - 1) / 2.0, []
    for nm in names:
        m = np.array(Image.open(os.path.join(mdir, nm)))
        if m.ndim == 3:
            m = m[..., 0]
        nerve = (m == 1) | (m > 127)
        lab, n = ndimage.label(nerve, structure=np.ones((3, 3)))
        total = int(nerve.sum())
        h, w = nerve.shape
        yy, xx = np.mgrid[0:h, 0:w]
        for k in range(1, n + 1):
            part = lab == k
            if part.sum() < max(20, 0.02 * total):
                continue
            ys, xs = np.nonzero(part)
            cx, cy = xs.mean(), ys.mean()
            step = a.crop_frac * min(w, h) / N
            g = (np.arange(N) - c0) * step
            gx, gy = np.meshgrid(cx + g, cy + g)
            logit = bilinear(part.astype(float), gx, gy) - 0.5
            u, v = (xx - cx) / step + c0, (yy - cy) / step + c0
            inside = (u > -0.5) & (u < N - 0.5) & (v > -0.5) & (v < N - 0.5)
            found = (bilinear(logit, u, v) > 0) & inside
            scores.append(2.0 * (found & part).sum() / (found.sum() + part.sum()))
    s = np.array(scores)
    print(f"{len(s)} nerves in {len(names)} masks; crop {a.crop_frac} x smaller side on a {N} grid: "
          f"ceiling mean dice {s.mean():.3f}, 10th percentile {np.percentile(s, 10):.3f}, "
          f"worst {s.min():.3f}")


if __name__ == "__main__":
    main()
