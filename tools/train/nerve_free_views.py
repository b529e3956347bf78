"""
nerve_free_views.py - real ultrasound views WITHOUT a nerve for training the nerve
finder to say "no nerve" (train_nerve_net.py --neg-views): every frame of a
MetaImage sequence file (PLUS .igs.mha, or .igs.mhd + .raw; raw or zlib, 8-bit,
one component) or every PNG/JPEG/BMP image of a folder, as 8-bit grey arrays.

Why a hand-written MetaImage reader: Debian ships no Python package that reads
MetaImage sequences (no python3-simpleitk / python3-itk in Debian 12), and these
files need only the header's DimSize, ElementType, ElementDataFile and
CompressedData (about 40 lines here). The product itself reads them through
modules/seqio; `cryonav eval nerve --nerve-free FILE|DIR` measures false finds on
the same frames, in the same order.

A source is one path; sources are chosen per split in docs/validation.md (which
ones train and which ones measure), never by frame.
"""
import os
import zlib

import numpy as np
from PIL import Image

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _natural_key(name):
    import re
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_mha_frames(path):
    """Frames of a MetaImage sequence (w x h x n, MET_UCHAR, one component)."""
    with open(path, "rb") as f:
        blob = f.read()
    hdr, pos = {}, 0
    while pos < len(blob):
        end = blob.find(b"\n", pos)
        end = len(blob) if end < 0 else end  # a detached header may end without one
        line = blob[pos:end].decode("latin-1").strip()
        pos = end + 1
        if "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            hdr[k] = v
            if k == "ElementDataFile":
                break
    dims = [int(v) for v in hdr["DimSize"].split()]
    if hdr.get("ElementType") != "MET_UCHAR" or int(hdr.get("ElementNumberOfChannels", 1)) != 1:
        raise ValueError(f"{path}: not 8-bit grey ({hdr.get('ElementType')})")
    w, h = dims[0], dims[1]
    n = dims[2] if len(dims) > 2 else 1
    if hdr["ElementDataFile"] == "LOCAL":
        data = blob[pos:]
    else:
        with open(os.path.join(os.path.dirname(path), hdr["ElementDataFile"]), "rb") as f:
            data = f.read()
    if hdr.get("CompressedData", "False").lower() == "true":
        data = zlib.decompress(data)
    px = np.frombuffer(data[:w * h * n], np.uint8)
    if px.size != w * h * n:
        raise ValueError(f"{path}: {px.size} bytes of pixels, {w * h * n} expected")
    return [px[k * w * h:(k + 1) * w * h].reshape(h, w).copy() for k in range(n)]


def read_source(path):
    """(name, list of grey frames) of one source: a sequence file or an image folder."""
    if os.path.isdir(path):
        names = sorted((f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXT)),
                       key=_natural_key)
        frames = [np.asarray(Image.open(os.path.join(path, f)).convert("L"), np.uint8)
                  for f in names]
    else:
        frames = read_mha_frames(path)
    if not frames:
        raise ValueError(f"{path}: no frames")
    return os.path.basename(path.rstrip("/")), frames


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        name, fr = read_source(p)
        print(f"{name}: {len(fr)} frames {fr[0].shape[1]}x{fr[0].shape[0]} mean {np.mean(fr[0]):.1f}")
