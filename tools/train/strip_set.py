#!/usr/bin/env python3
"""strip_set.py - images without a nerve, cut from a nerve set, to count false finds.

Neither real set has frames without a nerve, so `cryonav eval nerve` cannot say how
often automatic mode reports a nerve where there is none. This cuts, from each
image of one fold, the widest full-height strip beside the nerve (the mask's
columns plus a margin of a tenth of the width kept out; none when the strip is
narrower than 40 % of the image), and writes it with an all-zero mask: the same
negatives as train_nerve_net.py's recipe choice (negative_crop). The strips show
the same tissue, vessels and fascia the nerve lies among, so a find on one is a
false find. Only the images of one fold are written (the order and folds of
`eval nerve`: folder pairs merged, natural name order; --folds mod: index mod 5,
block: five index blocks), so the network that did not see that fold can score
them (`--model 4` for fold 4):

    /usr/bin/python3 tools/train/strip_set.py /tmp/strips-us4 --fold 4 --folds mod \\
        ../shared/data/nerve-us/images ../shared/data/nerve-us/masks
    cryonav eval nerve /tmp/strips-us4/images /tmp/strips-us4/masks --model 4

Needs Debian's python3-numpy and python3-pil, installed with apt-get when missing,
under Debian's interpreter (/usr/bin/python3).
"""
import argparse
import os
import re
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nerve_strips  # noqa: E402


def natural_key(name):
    """`eval nerve`'s order: digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def strip_of(grey, nerve):
    """The strip of nerve_strips.strip_cols (train_nerve_net.py's negatives), or None."""
    x01 = nerve_strips.strip_cols(nerve)
    return None if x01 is None else grey[:, x01[0]:x01[1]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="folder to write images/ and masks/ into")
    ap.add_argument("pairs", nargs="+", help="IMAGES MASKS folder pairs (merged, as eval nerve)")
    ap.add_argument("--fold", type=int, default=4, help="fold written (0..4)")
    ap.add_argument("--folds", choices=("mod", "block"), default="mod")
    a = ap.parse_args()
    if len(a.pairs) % 2:
        sys.exit("strip_set: folders come in pairs: IMAGES MASKS")
    items = []
    for idir, mdir in zip(a.pairs[0::2], a.pairs[1::2]):
        for n in os.listdir(idir):
            base = os.path.splitext(n)[0]
            mp = next((os.path.join(mdir, base + e) for e in (".png", ".PNG", ".bmp", ".tif")
                       if os.path.exists(os.path.join(mdir, base + e))), None)
            if mp is None:
                sys.exit(f"strip_set: {os.path.join(idir, n)}: no mask named {base}.* in {mdir}")
            items.append((natural_key(n), n, os.path.join(idir, n), mp))
    items.sort()
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
    written = skipped = 0
    for i, (_, n, ip, mp) in enumerate(items):
        fold = i % 5 if a.folds == "mod" else i * 5 // len(items)
        if fold != a.fold:
            continue
        grey = np.asarray(Image.open(ip).convert("L"))
        m = np.asarray(Image.open(mp))
        nerve = (m == 1) | (m > 127)
        s = strip_of(grey, nerve)
        if s is None:
            skipped += 1
            continue
        base = os.path.splitext(n)[0]
        Image.fromarray(np.ascontiguousarray(s)).save(os.path.join(a.out, "images", base + ".png"))
        Image.fromarray(np.zeros(s.shape, np.uint8)).save(os.path.join(a.out, "masks", base + ".png"))
        written += 1
    print(f"{written} nerve-free strips of fold {a.fold} into {a.out} ({skipped} images had "
          f"no strip wide enough)")


if __name__ == "__main__":
    main()
