#!/usr/bin/python3
"""
finder_ensemble.py - the training script's finder-alone figures on fold 4 (the
recipe-choice split) for single finder checkpoints and for the mean of their
logits, as an ensemble of them would see it: the first 2, the first 3, ...

    tools/train/finder_ensemble.py --data ../shared/data CK1.pt CK2.pt CK3.pt

Used in docs/validation.md ("Eighth session", item 3) to measure how far seeds of
one recipe spread and what averaging them gives. The checkpoints must be fold-4
networks of the shipped geometry (train_nerve_net.py's H and channels).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_nerve_net as T  # noqa: E402  (installs its dependencies when missing)
import numpy as np  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder holding nerve-us and nerve-femoral")
    ap.add_argument("--fov-crop", action="store_true", help="cut frames to the field of view "
                    "first (networks trained with train_nerve_net.py --fov-crop)")
    ap.add_argument("checkpoints", nargs="+", help="fold-4 finder checkpoints (.pt)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    T.FOV_CROP = args.fov_crop
    items = T.load_sets(args.data)
    te = T.test_idx(items, "fold4")
    logits = []
    for ck in args.checkpoints:
        net = T.Net()
        net.load_state_dict(torch.load(ck))
        net.eval()
        lg = {i: T.predict(net, items[i]) for i in te}
        logits.append(lg)
        T.summary(T.evaluate(lg, items, te), items, print, os.path.basename(ck))
    for k in range(2, len(logits) + 1):
        avg = {i: np.mean([lg[i] for lg in logits[:k]], axis=0) for i in te}
        T.summary(T.evaluate(avg, items, te), items, print, f"logit mean of the first {k}")


if __name__ == "__main__":
    main()
