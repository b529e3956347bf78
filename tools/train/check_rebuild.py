#!/usr/bin/python3
"""
check_rebuild.py - does the one training command still rebuild the shipped nerve
networks? Retrains the fold-4 network of each shipped file with the options of its
documented one command (the live slot of all three files is the fold-4 model) and
compares it with the file's fold-4 network, bit for bit:

  nerve_cnn.weights     the click's crop CNN, replica 0 (seed 1004)      ~8 min
  nerve_refine.weights  automatic mode's refine network (seed 1004)      ~8 min
  nerve_find.weights    the finder, fold4 slot, member 0 (seed 1004)     ~16-25 min

on one core each (the crop networks run one after the other beside the finder).
Exit 0 when every network is equal, 1 naming those that are not (with the largest
weight difference), 2 on a usage or training error. Training is deterministic on one
machine (fixed seeds, one torch thread): two runs of one command gave the same bits
(twentieth session). Another CPU or PyTorch build may round differently; a difference
then says nothing about the recipe, and the figures in docs/validation.md are the judge.

Why it exists: the eighteenth session changed the field-of-view box (tools/train/fov.py)
without retraining, so the documented commands trained other networks than the shipped
ones until they named the box the shipped networks saw (--fov-box uncut, twentieth
session). Nothing in the test suite can see that (the README's commands never install
PyTorch), so this is the check to run after changing anything the training reads.

    /usr/bin/python3 tools/train/check_rebuild.py [--work DIR] [--only cnn,refine,find]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"  # Debian's: the training packages are installed for it


def crop_nets(path):
    """CNNERVE1/2: networks x weights, float32 after a 48/64-byte header."""
    b = open(path, "rb").read()
    if b[:7] != b"CNNERVE":
        fail(f"{path}: not a crop CNN weights file")
    n, per = (int(v) for v in np.frombuffer(b[8:16], "<u4"))
    head = 64 if b[:8] == b"CNNERVE2" else 48
    return np.frombuffer(b[head:head + 4 * n * per], "<f4").reshape(n, per)


def find_nets(path):
    """CNNFIND1: (slots x members) x weights after a 96-byte header (nerve_net.h)."""
    b = open(path, "rb").read()
    if b[:8] != b"CNNFIND1":
        fail(f"{path}: not a finder weights file")
    slots, per = (int(v) for v in np.frombuffer(b[8:16], "<u4"))
    members = int(np.frombuffer(b[88:92], "<u4")[0]) or 1
    w = np.frombuffer(b[96:96 + 4 * slots * members * per], "<f4")
    return w.reshape(slots, members, per)


def fail(msg):
    """A usage or training error: exit 2 (1 means a network differs)."""
    print(f"check_rebuild: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cmd, log):
    print("  " + " ".join(cmd), flush=True)
    with open(log, "w") as f:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if rc:
        fail(f"training failed (exit {rc}); its output: {log}")


def compare(name, shipped, rebuilt):
    if shipped.shape != rebuilt.shape:
        print(f"{name}: DIFFERENT shape {rebuilt.shape} against the shipped {shipped.shape}")
        return False
    if np.array_equal(shipped, rebuilt):
        print(f"{name}: equal, bit for bit ({shipped.size} weights)")
        return True
    print(f"{name}: DIFFERENT, largest weight difference {np.abs(shipped - rebuilt).max():.3g} "
          f"(largest weight {np.abs(shipped).max():.3g})")
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--work", help="folder for checkpoints and logs (default: a new temporary one)")
    ap.add_argument("--only", default="cnn,refine,find", help="which files to check")
    args = ap.parse_args()
    want = set(args.only.split(","))
    if not want or want - {"cnn", "refine", "find"}:
        ap.error(f"--only {args.only}: a comma-separated subset of cnn,refine,find")
    for sub in ("nerve-us/images", "nerve-us/masks", "nerve-femoral/trainset/images"):
        if not os.path.isdir(os.path.join(args.data, sub)):
            fail(f"--data {args.data}: no {sub} folder (the shared data: ../shared/data)")
    work = args.work or tempfile.mkdtemp(prefix="cn_check_rebuild_")
    os.makedirs(work, exist_ok=True)
    us, fem = os.path.join(args.data, "nerve-us"), os.path.join(args.data, "nerve-femoral")
    seg = os.path.join(ROOT, "modules", "segment")
    # the one commands' options (train_nerve_cnn.py and train_nerve_net.py headers)
    cnn = [PY, os.path.join(HERE, "train_nerve_cnn.py"), "--data", us, "--femoral", fem,
           "--per-nerve", "--replicas", "1", "--folds", "4", "--size-norm", "8", "--fov-crop",
           "--fov-box", "uncut", "--ckpt", work]
    jobs = []
    if "find" in want:  # the longest: started first, beside the crop networks
        cmd = [PY, os.path.join(HERE, "train_nerve_net.py"), "--data", args.data, "--models",
               "fold4", "--seeds", "1000", "--fov-crop", "--fov-box", "uncut", "--tag", "_fov",
               "--ckpt", work, "--candidate-out", os.path.join(work, "find.weights")]
        print("  " + " ".join(cmd), flush=True)
        jobs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=open(os.path.join(work, "find.log"), "w"),
                                     stderr=subprocess.STDOUT))
    if "cnn" in want:
        run(cnn + ["--tag", "_sn8fov", "--candidate-out", os.path.join(work, "cnn.weights")],
            os.path.join(work, "cnn.log"))
    if "refine" in want:
        run(cnn + ["--tag", "_sn8fov_co10", "--click-jitter", "1.0", "--click-off-nerve",
                   "--candidate-out", os.path.join(work, "refine.weights")],
            os.path.join(work, "refine.log"))
    for j in jobs:
        if j.wait():
            fail(f"the finder's training failed (exit {j.returncode}); its output: "
                 f"{os.path.join(work, 'find.log')}")
    ok = True
    if "cnn" in want:  # slot 4 = fold 4 (the live slot 5 is the same network)
        ok &= compare("nerve_cnn.weights fold 4", crop_nets(os.path.join(seg, "nerve_cnn.weights"))[4],
                      crop_nets(os.path.join(work, "cnn.weights"))[0])
    if "refine" in want:
        ok &= compare("nerve_refine.weights fold 4",
                      crop_nets(os.path.join(seg, "nerve_refine.weights"))[4],
                      crop_nets(os.path.join(work, "refine.weights"))[0])
    if "find" in want:
        ok &= compare("nerve_find.weights fold4 member 0",
                      find_nets(os.path.join(seg, "nerve_find.weights"))[4, 0],
                      find_nets(os.path.join(work, "find.weights"))[0, 0])
    print(f"checkpoints and logs in {work}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
