#!/usr/bin/env python3
"""find_duplicates.py - image pairs of a nerve set that are (nearly) the same picture.

A held-out figure is only held out if no training image is the test image's twin.
Every image is made grey, resized to 48 x 48 (bilinear), standardised, and every pair
correlated; pairs above --min (default 0.95) are listed with the fold each falls in
under `cryonav eval nerve --folds mod` (index in sorted name order, mod 5).

    /usr/bin/python3 tools/train/find_duplicates.py ../shared/data/nerve-us/images

With --masks DIR each listed pair of one size also gets the Dice of its two nerve masks
(DIR/<name>.png; index/value 1 or > 127 = nerve, as `cryonav eval nerve`): where the
examiner drew one view twice, how far the two drawings agree.

Needs Debian's python3-numpy and python3-pil, installed with apt-get when missing,
under Debian's interpreter (/usr/bin/python3).
"""
import argparse
import os
import subprocess
import sys


def ensure_deps():
    need = []
    for mod, pkg in (("numpy", "python3-numpy"), ("PIL", "python3-pil")):
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", help="a folder of images")
    ap.add_argument("--min", type=float, default=0.95, help="correlation to list a pair")
    ap.add_argument("--masks", help="folder of the nerve masks: print each pair's mask Dice")
    a = ap.parse_args()
    names = sorted(f for f in os.listdir(a.images)
                   if f.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")))
    if len(names) < 2:
        sys.exit(f"find_duplicates: {a.images}: fewer than two images")
    rows = []
    for n in names:
        g = np.asarray(Image.open(os.path.join(a.images, n)).convert("L").resize((48, 48), Image.BILINEAR),
                       dtype=np.float64).ravel()
        g = (g - g.mean()) / (g.std() + 1e-9)
        rows.append(g / np.sqrt(g.size))
    c = np.array(rows) @ np.array(rows).T
    pairs = [(c[i, j], i, j) for i in range(len(names)) for j in range(i + 1, len(names))
             if c[i, j] > a.min]
    pairs.sort(reverse=True)
    for r, i, j in pairs:
        extra = ""
        if a.masks:
            m = []
            for k in (i, j):
                path = os.path.join(a.masks, os.path.splitext(names[k])[0] + ".png")
                try:
                    v = np.asarray(Image.open(path))
                except OSError as e:
                    sys.exit(f"find_duplicates: {path}: cannot read the mask ({e})")
                m.append((v == 1) | (v > 127))
            if m[0].shape == m[1].shape and m[0].any() and m[1].any():
                extra = f" masks dice {2 * (m[0] & m[1]).sum() / (m[0].sum() + m[1].sum()):.3f}"
            else:
                extra = " masks of other sizes or empty"
        print(f"{r:.4f} {names[i]} {names[j]} folds {i % 5} {j % 5}{extra}")
    cross = sum(1 for _, i, j in pairs if i % 5 != j % 5)
    print(f"{len(pairs)} pairs above {a.min} among {len(names)} images ({len(names) * (len(names) - 1) // 2} "
          f"pairs); {cross} across folds")


if __name__ == "__main__":
    main()
