#!/usr/bin/env python3
"""alter_seq.py - a real needle sequence as another scanner or insertion would show it.

Every frame of FOLDER/image and its mask in FOLDER/mask (paired by stem; a mask is the
needle where it is > 127) is changed by one LOOK and written to OUT/image and OUT/mask
as PNG, for `cryonav eval needle` (docs/validation.md, "Sixteenth session: the shipped
files on altered images"). Nothing here tunes anything: it says where a scanner the
team has not seen could cost. Looks (KIND:VALUE):

  mirror:1     left-right (the needle enters from the other side)
  rot:DEG      turned DEG degrees counter-clockwise about the centre (black corners)
  scale:F      resized by F (pixels 1/F as large)
  aspect:F     F times wider (pixels that are not square; give eval --spacing-mm S/F,S)
  gamma:G      grey levels to the power G (G > 1: darker mid-greys)
  gain:F       grey levels times F
  pad:PX       a black border of PX (left and right 2 PX)
  fan:DEG      black outside a sector of half-angle DEG (a curvilinear probe's view)
  speckle:S    multiplicative per-pixel noise of relative spread S (seed 1)

    /usr/bin/python3 tools/needle/alter_seq.py ../shared/data/needle-us/xgts/tissue/needle_34 /tmp/n34_rot rot:25
    cryonav eval needle /tmp/n34_rot/image /tmp/n34_rot/mask

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

LOOKS = {"mirror": (1, 1), "rot": (-60, 60), "scale": (0.25, 4), "aspect": (0.5, 2),
         "gamma": (0.3, 3), "gain": (0.1, 3), "pad": (0, 400), "fan": (10, 80),
         "speckle": (0.01, 1)}


def alter(kind, v, a, m, rng):
    """The grey frame a and its 0/255 mask m (uint8 arrays) as the look shows them."""
    h, w = a.shape
    if kind == "mirror":
        return a[:, ::-1], m[:, ::-1]
    if kind == "rot":
        return (np.asarray(Image.fromarray(a).rotate(v, Image.BILINEAR)),
                np.asarray(Image.fromarray(m).rotate(v, Image.NEAREST)))
    if kind in ("scale", "aspect"):
        W, H = int(round(w * v)), int(round(h * (v if kind == "scale" else 1)))
        return (np.asarray(Image.fromarray(a).resize((W, H), Image.BILINEAR)),
                np.asarray(Image.fromarray(m).resize((W, H), Image.NEAREST)))
    if kind == "pad":
        p = int(v)
        return np.pad(a, ((p, p), (2 * p, 2 * p))), np.pad(m, ((p, p), (2 * p, 2 * p)))
    if kind == "fan":
        # apex above the top centre, the sector reaching both sides 90 % of the way down
        cy = -(w / 2) / np.tan(np.radians(v)) + 0.9 * h
        yy, xx = np.mgrid[0:h, 0:w]
        inside = (np.abs(np.degrees(np.arctan2(xx - w / 2, yy - cy))) <= v) & (yy > cy)
        return np.where(inside, a, 0).astype(np.uint8), np.where(inside, m, 0).astype(np.uint8)
    f = a.astype(np.float32)
    if kind == "gamma":
        f = 255.0 * (f / 255.0) ** v
    elif kind == "gain":
        f = f * v
    elif kind == "speckle":
        f = f * rng.gamma(1 / v ** 2, v ** 2, f.shape)
    return np.clip(f, 0, 255).astype(np.uint8), m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seq", help="a folder with image/ and mask/ (paired by stem)")
    ap.add_argument("out", help="folder to write image/ and mask/ into")
    ap.add_argument("look", help="KIND:VALUE, one of " + ", ".join(LOOKS))
    a = ap.parse_args()
    kind, _, val = a.look.partition(":")
    if kind not in LOOKS:
        sys.exit(f"alter_seq: {a.look}: unknown look (one of {', '.join(LOOKS)}, as KIND:VALUE)")
    try:
        v = float(val)
    except ValueError:
        sys.exit(f"alter_seq: {a.look}: the value is not a number")
    lo, hi = LOOKS[kind]
    if not lo <= v <= hi:
        sys.exit(f"alter_seq: {a.look}: {kind} out of range ({lo:g}..{hi:g})")
    idir, mdir = os.path.join(a.seq, "image"), os.path.join(a.seq, "mask")
    try:
        masks = {os.path.splitext(n)[0]: n for n in os.listdir(mdir)}
        frames = sorted(os.listdir(idir))
    except OSError as e:
        sys.exit(f"alter_seq: {a.seq}: {e.strerror} (it needs image/ and mask/)")
    for sub in ("image", "mask"):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
    rng = np.random.default_rng(1)
    written = 0
    for n in frames:
        stem = os.path.splitext(n)[0]
        if stem not in masks:
            sys.exit(f"alter_seq: {os.path.join(idir, n)}: no mask named {stem}.* in {mdir}")
        im = np.asarray(Image.open(os.path.join(idir, n)).convert("L"))
        mk = (np.asarray(Image.open(os.path.join(mdir, masks[stem])).convert("L")) > 127)
        b, c = alter(kind, v, im, (mk * 255).astype(np.uint8), rng)
        Image.fromarray(np.ascontiguousarray(b)).save(os.path.join(a.out, "image", stem + ".png"))
        Image.fromarray(np.ascontiguousarray(c)).save(os.path.join(a.out, "mask", stem + ".png"))
        written += 1
    print(f"{written} frames of {a.seq} as {a.look} into {a.out}")


if __name__ == "__main__":
    main()
