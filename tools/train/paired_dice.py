#!/usr/bin/python3
"""
paired_dice.py - how sure is a candidate's gain? Two `cryonav eval nerve` outputs of the
same images (one line per image: "NAME fold F dice D ..."; run without --quiet), the
shipped files' first, a candidate's second: the mean Dice of each, their mean difference
with a 95 % interval from a paired percentile bootstrap over the images (2000 resamples,
seed 1; each image keeps its own pair), and how many images gain or lose more than 0.005.

Why paired: fold 4's 40 nerve-us images give a mean Dice whose own 95 % interval is about
+-0.03 wide (`eval nerve` prints it), yet two candidates scored on the same images differ
image by image far less than images differ from each other; the interval of the
difference is the one a recipe rule's margin should be read against. Like `eval nerve`'s
intervals it treats images as independent.

    cryonav eval nerve ... > shipped.txt;  cryonav eval nerve ... --cnn-weights F > cand.txt
    /usr/bin/python3 tools/train/paired_dice.py shipped.txt cand.txt
"""
import re
import sys

import numpy as np

LINE = re.compile(r"^(\S+) fold (\d+) dice ([0-9.]+|nan)\b")


def read(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                m = LINE.match(line)
                if m:
                    out[m.group(1)] = float(m.group(3))
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"paired_dice: {path}: cannot be read ({e.strerror if isinstance(e, OSError) else e})")
    if not out:
        sys.exit(f"paired_dice: {path}: no per-image lines (\"NAME fold F dice D\"): run "
                 "`cryonav eval nerve` without --quiet")
    return out


def main():
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0)
    if len(sys.argv) != 3:
        sys.exit("usage: paired_dice.py SHIPPED_OUTPUT CANDIDATE_OUTPUT (two `cryonav eval nerve` "
                 "outputs of the same images)")
    a, b = read(sys.argv[1]), read(sys.argv[2])
    names = sorted(set(a) & set(b))
    only = sorted(set(a) ^ set(b))
    if only:
        sys.exit(f"paired_dice: the two runs scored different images ({len(only)} in one only, "
                 f"e.g. {only[0]}): pair runs of the same images")
    x = np.array([a[n] for n in names])
    y = np.array([b[n] for n in names])
    if np.isnan(x).any() or np.isnan(y).any():
        sys.exit("paired_dice: an image without a nerve has no Dice: score images with a nerve")
    d = y - x
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(d), size=(2000, len(d)))
    lo, hi = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
    print(f"images {len(d)}: first {x.mean():.3f}, second {y.mean():.3f}; difference "
          f"{d.mean():+.3f}, 95% interval {lo:+.3f} to {hi:+.3f} (paired bootstrap); "
          f"{int((d > 0.005).sum())} gain, {int((d < -0.005).sum())} lose more than 0.005")


if __name__ == "__main__":
    main()
