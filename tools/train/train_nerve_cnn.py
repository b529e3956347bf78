#!/usr/bin/python3
"""
train_nerve_cnn.py - trains the crop nerve CNN of modules/segment (nerve_cnn.c)
on nerve-us and nerve-femoral and writes its weights file (nerve_cnn.weights, compiled into the
library by cmake/embed_bytes.cmake).

The idea: the operator points at the nerve to follow (in `cryonav eval nerve
--seeded`, a click on each nerve of the mask in turn: each 8-connected part, at
its own pixel nearest its centroid); a square crop centred there, its side a
fixed fraction of the image (the images carry no pixel spacing, so the crop
follows the image size), is resampled to N x N grey levels (2x2 box then
bilinear, exactly as nerve_cnn.c does), standardised, and given with a second
channel, a Gaussian at the centre (where the operator pointed). A tiny U-Net
(3x3 convolutions, ReLU, 2x2 max pooling, nearest upsampling with additive
skips) outputs a nerve logit per crop pixel; nerve_cnn.c pastes it back
bilinearly and keeps every connected part near the seed.

Recipe ("sn8", shipped since the sixth session, 2026-12-03): "pn1" below plus
the size-normalised crop (--size-norm 8): nerve_cnn.c crops a second time about
the same point with side 8 x the equivalent radius of the first pass's mask, so
the network sees every nerve at about one size (a nerve-us nerve's radius spans
4.7-13.5 cells of the fixed crop, 10th-90th percentile; a zoom of +-25 % without a
pixel size cost the fixed crop ~0.04 Dice). Training: 70 % of the samples at 8 x
the true radius x exp(U(-0.3, 0.3)) (the first pass's error), 30 % at the fixed
share (so the same network makes the first pass). The weights file is then a
CNNERVE2 (K in its header).

Recipe "pn1" (third session): with --per-nerve every
nerve of a mask that holds several (40 of the 204 nerve-us masks: separate nerves
120-430 px apart, e.g. at the axilla) is its own sample, seeded on that nerve,
its target that nerve alone (the other nerves are background: the click
follows one nerve); without it (the earlier recipes) the sample is the whole
mask seeded at its centroid, which on those masks lies in the tissue between
the nerves. BCE + soft Dice on the nerve; a second output learns the vessels
(mask index 2 of nerve-us, weight 0.5; femoral masks label no vessels, so the
term skips femoral images) and is dropped at export; augmentation by seed
shift, crop scale, rotation (+-15 deg), horizontal flip, gamma and grey noise.
--replicas R trains R networks per model from different seeds whose logits
nerve_cnn.c averages (the shipped file: R = 1, which halves the live cost; the
earlier recipes used a pair). With --femoral, each batch of 16 is half nerve-us,
half nerve-femoral (--us-frac), and an epoch has as many batches as nerve-us
alone would give, so nerve-us is not drowned out by the 562 femoral frames;
150 epochs of Adam (one-cycle, max lr 3e-3). Channels per level, crop grid and
crop fraction are options and go into the weights file's header, which
nerve_cnn.c reads.

Data: nerve-us, "usgra-seg dataset by T. M. K., CC-BY 4.0"; nerve-femoral,
"femoral nerve block dataset by S. Gao et al., MIT licence" (read only, never
copied).

Splits (the same as train_nerve_net.py and `cryonav eval nerve`):
  nerve-us (204): fold = index in sorted name order mod 5;
  nerve-femoral (562 = trainset + testset as ONE set, ordered by the number in
  sample_N): fold = rank * 5 // 562 (five blocks of consecutive frames).
Model k (k = 0..4) is trained on every image of both sets outside fold k; fold
4 (both sets) is the recipe-choice (validation) split, folds 0-3 the reported
one; the live model ("all") is trained on all 766 images. Seeds: replica r of
model k uses seed 1000 + 100 r + k (k = 5 for "all"; 6 / 7 for the cross-site
"us" / "fem" models of --folds us / fem); every run is deterministic (fixed
seeds, one torch thread).

The shipped file (recipe "sn8" in docs/validation.md, "Sixth session", on frames cut to
the field of view since the ninth session: --fov-crop) is rebuilt by ONE command
(5 networks, ~6-20 min each on one shared core; with --ckpt DIR each network is
checkpointed and an interrupted run resumes); its live slot is the fold-4 model
(trained on folds 0-3 of both sets, as the finder's live network is):

    nice -n 10 /usr/bin/python3 tools/train/train_nerve_cnn.py \
        --data ../shared/data/nerve-us --femoral ../shared/data/nerve-femoral \
        --per-nerve --replicas 1 --folds 0,1,2,3,4 --live 4 --size-norm 8 --fov-crop --fov-box uncut \
        --out modules/segment/nerve_cnn.weights \
        --vector tests/unit/segment/nerve_cnn_vector.h --ckpt build-train/cnn --tag _sn8fov \
        --refine-out modules/segment/nerve_refine.weights

(--fov-box uncut: the networks were trained on the ninth session's field-of-view box; the C
code's cut has left a scanner's marks out since the eighteenth session, which changes 13 of
the 766 boxes, and a run without it trains other networks. check_rebuild.py retrains the
fold-4 networks and compares them with the shipped files bit for bit.)

(10 networks: the outline's five, then automatic mode's refine network's five,
--refine-out: the same recipe and seeds, its training clicks anywhere within 1.0
equivalent radius of the nerve's middle, on the nerve or beside it: the thirteenth
session's candidate O.)

Trial options (seventh session, none shipped; docs/validation.md): --mirror sets the
weights header's flag that makes nerve_cnn.c average each network with itself on
the mirrored crop; --us-subset F trains on a fixed share of the nerve-us training
images (a learning curve; give --epochs 150 / F to keep the optimiser's steps).

A recipe candidate is judged on fold 4 only: `--folds 4 --candidate-out F`
writes a file with the fold-4 model in every slot, which `cryonav eval nerve
... --model fold --only-folds 4 --cnn-weights F` (and `--method cnn --seeded
--weights F`) scores in C; this script's own fold figures are the crop CNN
alone, per sample (without --per-nerve: at the mask centroid, equal to `eval
nerve --method cnn --seeded --seed-at mask`; with it: per click, where `eval
nerve` averages the clicks of an image first).

Needs Debian's python3-torch, python3-numpy, python3-pil, python3-scipy (training only; the
C build and the tests do not need them): the script installs them with apt-get
when they are missing, under Debian's interpreter (/usr/bin/python3).
"""
import argparse
import os
import re
import subprocess
import sys
import time


def ensure_deps():
    """Training's own Debian packages, installed on first use (never by the README's
    two commands)."""
    need = []
    for mod, pkg in (("torch", "python3-torch"), ("numpy", "python3-numpy"), ("PIL", "python3-pil"),
                     ("scipy", "python3-scipy")):
        try:
            __import__(mod)
        except ImportError:
            need.append(pkg)
    if need and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.path.exists("/usr/bin/python3"):
        # another interpreter (pyenv, a venv) cannot see Debian's python3-* packages
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    if need:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print("installing " + " ".join(need), flush=True)
        subprocess.check_call(sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + need)


ensure_deps()

import numpy as np  # noqa: E402
from us_subset import us_subset  # noqa: E402
from fov import fov_box, fov_box_uncut  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

N = 64            # crop grid (pixels per side)
CROP_FRAC = 0.6   # crop side = CROP_FRAC * min(image width, height)
SEED_SIGMA = 8.0  # seed channel Gaussian sigma, grid pixels
STD_FLOOR = 4.0   # grey-level std floor of the standardisation
KFOLD = 5
CH = (8, 16, 32, 32)
ROT_DEG = 15.0    # augmentation: crop grid rotated by up to +-ROT_DEG (probe tilt)
GAMMA_LOG = 0.25  # augmentation ("base"): grey levels to the power exp(u), u uniform in
                  # +-GAMMA_LOG (0.78-1.28 as shipped; --gamma-log, a seventeenth-session trial)
VESSEL_AUX = 0.5  # weight of an auxiliary vessel output (mask index 2) while training:
                  # vessels are the nerve's usual look-alike, naming them teaches "not nerve"
DICE_W = 1.0      # weight of the soft Dice term next to BCE (the metric is Dice)
LOVASZ_W = 0.0    # weight of a Lovasz hinge term (a convex surrogate of per-image IoU)
CLICK_OFF_NERVE = False  # --click-off-nerve: jittered clicks may fall beside the nerve
CLICK_JITTER = 0.0  # the seed moved to a random point of the nerve up to this many equivalent
                    # radii from its centre pixel (an operator's click is rarely the centre;
                    # `eval nerve --click-off`), on top of the shift below; 0: off (draws no
                    # random numbers, so 0 stays bit-for-bit the shipped recipe)
FOV_CROP = False  # --fov-crop (trial): frames cut to the field of view, as the finder's option
FOV_BOX = fov_box  # --fov-box: marks (fov_box, the live C cut since the eighteenth session) or
                   # uncut (fov_box_uncut, the box the shipped networks were trained on, ninth
                   # session: the shipped files' one command gives it, so it rebuilds them bit for bit)
SIZE_NORM = 0.0   # --size-norm K: the size-normalised crop (recipe "sn8", sixth session). A
                  # second pass re-crops with side K x the nerve's equivalent radius, as
                  # measured on the first pass's mask, so every nerve reaches the network
                  # at about one size (a small nerve is no longer a few cells across, a
                  # zoomed one is undone). Training: 1 - SN_FIXED_P of the samples use
                  # K x the true radius x exp(U(-SN_JIT, SN_JIT)) (the first pass's error),
                  # the rest the fixed share (the first pass). 0: off (draws no random
                  # numbers, so 0 stays bit-for-bit the earlier recipes)
SN_JIT = 0.3
SN_FIXED_P = 0.3
INFER_K = None    # --infer-k: the K written to the header, which nerve_cnn.c crops with (default:
                  # SIZE_NORM, as shipped). Running the K = 8 network at 7 outlined a centred
                  # click better and a click half a radius off worse (docs/validation.md,
                  # "Sixth session"); the option stays for such trials
MIRROR = False    # --mirror: every network also runs on the crop mirrored left-right, its
                  # logits mirrored back and averaged (CNNERVE2 header flag; inference only,
                  # training is unchanged)
SEED_FIRST = False  # --seed-first: the seeded outline blends the finder into the first crop only
                    # (CNNERVE2 header flag; inference only; twelfth session)
SN_SIDE_MIN, SN_SIDE_MAX = 0.2, 1.0  # nerve_cnn.c CNN_SN_SIDE_MIN/MAX x the smaller side
AUG = "base"      # "strong": wider scale/gamma/seed shift plus blur, speckle and a depth
                  # ramp (other scanners' looks); draws extra random numbers, so it is a
                  # different stream from "base", which stays bit-for-bit the shipped recipe


# ------------------------------------------------------------------ data

def load_one(img_path, mask_path, name, set_name, fold):
    g = np.asarray(Image.open(img_path).convert("L"), dtype=np.uint8)
    m = np.asarray(Image.open(mask_path))
    assert m.shape == g.shape, name
    if FOV_CROP:  # trial (--fov-crop): the frame cut to the scanner's field of view (fov.py)
        y0, y1, x0, x1 = FOV_BOX(g)
        g, m = g[y0:y1, x0:x1], m[y0:y1, x0:x1]
    ves = (m == 2).astype(np.float32)
    m = (m == 1).astype(np.float32)
    ys, xs = np.nonzero(m)
    h, w = g.shape
    # the 2x2 box of cn_img_downsample2: (a+b+c+d+2)>>2
    h2, w2 = h // 2, w // 2
    a = g[:2 * h2, :2 * w2].astype(np.int32)
    half = ((a[0::2, 0::2] + a[0::2, 1::2] + a[1::2, 0::2] + a[1::2, 1::2] + 2) >> 2)
    return dict(name=name, set=set_name, fold=fold, g=g, half=half.astype(np.float32), mask=m,
                vessel=ves, cx=xs.mean(), cy=ys.mean(), w=w, h=h)


NERVE_MIN_SHARE = 0.02  # cn_mask_parts_to_click (imaging.h, what `eval nerve --seeded` clicks):
NERVE_MIN_PX = 20       # CN_MASK_CLICK_MIN_SHARE and _MIN_PX; the largest part always


def per_nerve(items):
    """One item per nerve the operator would click (cn_mask_parts_to_click's rule): the
    8-connected parts of the mask; the seed is the part's own pixel nearest its
    centroid and the target that part alone (the other nerves are background:
    the click follows one nerve). Folds stay the image's."""
    from scipy import ndimage
    out = []
    for it in items:
        lab, n = ndimage.label(it["mask"] > 0, structure=np.ones((3, 3)))
        if n <= 1:
            out.append(it)
            continue
        areas = ndimage.sum(np.ones_like(lab), lab, range(1, n + 1))
        total, largest = areas.sum(), int(np.argmax(areas))
        for k in range(n):
            if k != largest and (areas[k] < NERVE_MIN_PX or areas[k] < NERVE_MIN_SHARE * total):
                continue
            ys, xs = np.nonzero(lab == k + 1)
            cx, cy = xs.mean(), ys.mean()
            j = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
            one = dict(it)
            one["mask"] = (lab == k + 1).astype(np.float32)
            one["cx"], one["cy"] = float(xs[j]), float(ys[j])
            out.append(one)
    return out


def load(data, femoral=None):
    """nerve-us (fold = index in sorted name order mod 5) and, when given,
    nerve-femoral (trainset + testset as ONE set ordered by the number in
    sample_N; fold = rank * 5 // 562, five blocks of consecutive frames: the
    folds of train_nerve_net.py and `cryonav eval nerve --folds block`)."""
    names = sorted(f for f in os.listdir(os.path.join(data, "images")) if f.endswith(".png"))
    items = [load_one(os.path.join(data, "images", n), os.path.join(data, "masks", n), n, "us",
                      k % KFOLD) for k, n in enumerate(names)]
    if femoral:
        fem = []
        for sub in ("trainset", "testset"):
            idir = os.path.join(femoral, sub, "images")
            mdir = next(os.path.join(femoral, sub, m) for m in ("masks", "masks_real")
                        if os.path.isdir(os.path.join(femoral, sub, m)))
            for f in os.listdir(idir):
                num = int(re.findall(r"\d+", f)[0])
                fem.append((num, os.path.join(idir, f),
                            os.path.join(mdir, os.path.splitext(f)[0] + ".png")))
        fem.sort()
        items += [load_one(ip, mp, os.path.basename(ip), "fem", r * KFOLD // len(fem))
                  for r, (num, ip, mp) in enumerate(fem)]
    return items


def bilinear(img, x, y):
    """cn_img_sample: clamp to the image, then bilinear (same float arithmetic order)."""
    h, w = img.shape
    x = np.clip(np.nan_to_num(x, nan=0.0), 0, w - 1).astype(np.float32)
    y = np.clip(np.nan_to_num(y, nan=0.0), 0, h - 1).astype(np.float32)
    x0 = x.astype(np.int32)
    y0 = y.astype(np.int32)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = x - x0
    fy = y - y0
    a = img[y0, x0] + fx * (img[y0, x1] - img[y0, x0])
    b = img[y1, x0] + fx * (img[y1, x1] - img[y1, x0])
    return a + fy * (b - a)


def seed_channel():
    c = (N - 1) / 2.0
    j = np.arange(N, dtype=np.float32) - c
    d2 = j[None, :] ** 2 + j[:, None] ** 2
    return np.exp(-d2 / (2 * SEED_SIGMA ** 2)).astype(np.float32)


SEEDCH = seed_channel()


def crop_grid(it, cx, cy, scale=1.0, flip=False, rot=0.0):
    """Full-resolution sample positions of the N x N grid centred on (cx, cy),
    turned by rot radians (augmentation only)."""
    side = it.get("side_px", CROP_FRAC * min(it["w"], it["h"])) * scale
    step = side / N
    j = (np.arange(N, dtype=np.float32) - (N - 1) / 2.0) * step
    ju = j[None, :] + 0 * j[:, None]
    if flip:
        ju = -ju
    jv = j[:, None] + 0 * j[None, :]
    if rot:
        c, s = np.float32(np.cos(rot)), np.float32(np.sin(rot))
        ju, jv = c * ju - s * jv, s * ju + c * jv
    xs = cx + ju
    ys = cy + jv
    return xs.astype(np.float32), ys.astype(np.float32), step


def blur(g, sigma):
    """Separable Gaussian blur of a grid (edge-clamped); augmentation only."""
    r = int(np.ceil(2.5 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    p = np.pad(g, r, mode="edge")
    p = sum(k[i] * p[:, i:i + g.shape[1]] for i in range(2 * r + 1))
    return sum(k[i] * p[i:i + g.shape[0], :] for i in range(2 * r + 1)).astype(np.float32)


def make_input(it, cx, cy, scale=1.0, flip=False, gamma=1.0, noise=0.0, rng=None, rot=0.0,
               strong=None):
    xs, ys, _ = crop_grid(it, cx, cy, scale, flip, rot)
    g = bilinear(it["half"], (xs - 0.5) / 2, (ys - 0.5) / 2)
    if strong is not None:
        ramp, speckle, sig = strong
        g = g * (1 + ramp * np.linspace(-1, 1, N, dtype=np.float32)[:, None])
        if speckle > 0:
            g = g * rng.gamma(1 / speckle ** 2, speckle ** 2, g.shape).astype(np.float32)
        if sig > 0.3:
            g = blur(g, sig)
        g = np.clip(g, 0, 255)
    if gamma != 1.0:
        g = 255.0 * (g / 255.0) ** gamma
    if noise > 0:
        g = g + rng.normal(0, noise, g.shape).astype(np.float32)
    mu = g.mean()
    sd = max(float(g.std()), STD_FLOOR)
    x = np.stack([(g - mu) / sd, SEEDCH]).astype(np.float32)
    t = bilinear(it["mask"], xs, ys)
    if VESSEL_AUX:
        t = np.stack([t, bilinear(it["vessel"], xs, ys)])
    return x, t.astype(np.float32)


# ------------------------------------------------------------------ model

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        c0, c1, c2, c3 = CH
        # every 3x3 convolution is followed by batch normalisation while training;
        # export folds it into the convolution (fused_layers), so C sees plain convs
        conv = lambda a, b: ConvBN(a, b)
        self.e0a, self.e0b = conv(2, c0), conv(c0, c0)
        self.e1a, self.e1b = conv(c0, c1), conv(c1, c1)
        self.e2a, self.e2b = conv(c1, c2), conv(c2, c2)
        self.e3a, self.e3b = conv(c2, c3), conv(c3, c3)
        self.d2 = conv(c3, c1)   # after up(e3) + e2 (c3 == c2)
        self.d1 = conv(c1, c0)   # after up(d2) + e1
        self.d0 = conv(c0, c0)   # after up(d1) + e0
        # the vessel output (VESSEL_AUX) only shapes training; export keeps the nerve's
        self.head = nn.Conv2d(c0, 2 if VESSEL_AUX else 1, 1)

    def fused_layers(self):
        """(weight, bias) per layer in C order, batch norm folded in (eval mode)."""
        out = []
        for l in [self.e0a, self.e0b, self.e1a, self.e1b, self.e2a, self.e2b, self.e3a,
                  self.e3b, self.d2, self.d1, self.d0]:
            out.append(l.fused())
        out.append((self.head.weight.detach()[:1], self.head.bias.detach()[:1]))
        return out

    def forward(self, x):
        r = F.relu
        e0 = r(self.e0b(r(self.e0a(x))))
        e1 = r(self.e1b(r(self.e1a(F.max_pool2d(e0, 2)))))
        e2 = r(self.e2b(r(self.e2a(F.max_pool2d(e1, 2)))))
        e3 = r(self.e3b(r(self.e3a(F.max_pool2d(e2, 2)))))
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        d2 = r(self.d2(up(e3) + e2))
        d1 = r(self.d1(up(d2) + e1))
        d0 = r(self.d0(up(d1) + e0))
        h = self.head(d0)
        return h if (VESSEL_AUX and self.training) else h[:, 0]


class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))

    def fused(self):
        bn = self.bn
        s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        w = self.conv.weight.detach() * s[:, None, None, None]
        b = bn.bias.detach() - bn.running_mean * s
        return w, b


class Plain(nn.Module):
    """The exported network as C runs it: plain convolutions with the folded
    weights (used for the test vector and to check the folding)."""
    def __init__(self, net):
        super().__init__()
        self.ws = net.fused_layers()

    def forward(self, x):
        r = F.relu
        L = [lambda t, k=k: F.conv2d(t, self.ws[k][0], self.ws[k][1], padding=1) for k in range(11)]
        e0 = r(L[1](r(L[0](x))))
        e1 = r(L[3](r(L[2](F.max_pool2d(e0, 2)))))
        e2 = r(L[5](r(L[4](F.max_pool2d(e1, 2)))))
        e3 = r(L[7](r(L[6](F.max_pool2d(e2, 2)))))
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        d2 = r(L[8](up(e3) + e2))
        d1 = r(L[9](up(d2) + e1))
        d0 = r(L[10](up(d1) + e0))
        return F.conv2d(d0, self.ws[11][0], self.ws[11][1])[:, 0]


# ------------------------------------------------------------------ training / scoring

def click_point(it, rng):
    """A click on the nerve: uniform in a disc of CLICK_JITTER equivalent radii
    about its seed pixel, stepped back toward it until on the nerve (as `eval
    nerve --click-off` places its clicks); with CLICK_OFF_NERVE the point is kept
    where it falls, on the nerve or beside it (the finder's part centre can lie
    beside the nerve)."""
    m = it["mask"]
    if "r_eq" not in it:
        it["r_eq"] = float(np.sqrt((m > 0.5).sum() / np.pi))
    r = CLICK_JITTER * it["r_eq"] * np.sqrt(rng.uniform())
    th = rng.uniform(0, 2 * np.pi)
    if CLICK_OFF_NERVE:
        x = min(max(it["cx"] + r * np.cos(th), 0.0), it["w"] - 1.0)
        y = min(max(it["cy"] + r * np.sin(th), 0.0), it["h"] - 1.0)
        return float(x), float(y)
    for f in np.arange(1.0, 0.0, -0.05):
        x, y = int(round(it["cx"] + f * r * np.cos(th))), int(round(it["cy"] + f * r * np.sin(th)))
        if 0 <= x < it["w"] and 0 <= y < it["h"] and m[y, x] > 0.5:
            return float(x), float(y)
    return it["cx"], it["cy"]


def sn_side(it, r, k=None):
    """The second pass's crop side (nerve_cnn.c second_crop): K x the radius, clamped
    (K: the training's SIZE_NORM, or k, the header's)."""
    m = min(it["w"], it["h"])
    return float(np.clip((k or SIZE_NORM) * r, SN_SIDE_MIN * m, SN_SIDE_MAX * m))


def batch(items, idx, rng, augment):
    xs, ts = [], []
    for i in idx:
        it = items[i]
        if augment and AUG == "strong":
            side = CROP_FRAC * min(it["w"], it["h"])
            cx = it["cx"] + rng.uniform(-0.08, 0.08) * side
            cy = it["cy"] + rng.uniform(-0.08, 0.08) * side
            x, t = make_input(it, cx, cy, scale=float(np.exp(rng.uniform(-0.3, 0.3))),
                              flip=bool(rng.integers(2)),
                              gamma=float(np.exp(rng.uniform(-0.4, 0.4))),
                              noise=float(rng.uniform(0, 8)), rng=rng,
                              rot=float(np.radians(rng.uniform(-ROT_DEG, ROT_DEG))),
                              strong=(float(rng.uniform(-0.3, 0.3)),
                                      float(rng.uniform(0, 0.3)) if rng.random() < 0.5 else 0.0,
                                      float(rng.uniform(0, 1.2)) if rng.random() < 0.5 else 0.0))
        elif augment:
            it = dict(it)
            if SIZE_NORM and rng.random() >= SN_FIXED_P:
                r_eq = float(np.sqrt((it["mask"] > 0.5).sum() / np.pi))
                it["side_px"] = sn_side(it, r_eq * float(np.exp(rng.uniform(-SN_JIT, SN_JIT))))
            side = it.get("side_px", CROP_FRAC * min(it["w"], it["h"]))
            cx, cy = click_point(it, rng) if CLICK_JITTER > 0 else (it["cx"], it["cy"])
            cx = cx + rng.uniform(-0.04, 0.04) * side
            cy = cy + rng.uniform(-0.04, 0.04) * side
            x, t = make_input(it, cx, cy, scale=float(np.exp(rng.uniform(-0.2, 0.2))),
                              flip=bool(rng.integers(2)),
                              gamma=float(np.exp(rng.uniform(-GAMMA_LOG, GAMMA_LOG))),
                              noise=float(rng.uniform(0, 6)), rng=rng,
                              rot=float(np.radians(rng.uniform(-ROT_DEG, ROT_DEG))))
        else:
            x, t = make_input(it, it["cx"], it["cy"])
        xs.append(x)
        ts.append(t)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


def lovasz_hinge(logit, t):
    """Per-image Lovasz hinge (Berman et al. 2018) on the target binarised at 0.5:
    the hinge errors sorted in decreasing order, weighted by the steps of the
    Jaccard loss's Lovasz extension, averaged over the batch."""
    out = []
    for lg, tg in zip(logit.flatten(1), (t > 0.5).float().flatten(1)):
        err = 1 - lg * (2 * tg - 1)
        err_s, perm = torch.sort(err, descending=True)
        g = tg[perm]
        inter = g.sum() - g.cumsum(0)
        union = g.sum() + (1 - g).cumsum(0)
        jac = 1 - inter / union
        jac = torch.cat([jac[:1], jac[1:] - jac[:-1]])
        out.append(torch.dot(F.relu(err_s), jac))
    return torch.stack(out).mean()


def loss_fn(logit, t):
    bce = F.binary_cross_entropy_with_logits(logit, t)
    p = torch.sigmoid(logit)
    inter = (p * t).sum(dim=(1, 2))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(1, 2)) + t.sum(dim=(1, 2)) + 1)
    loss = bce + DICE_W * dice.mean()
    return loss + LOVASZ_W * lovasz_hinge(logit, t) if LOVASZ_W else loss


def batches(items, train_idx, rng, bs, us_frac):
    """Index batches of one epoch. nerve-us alone: a permutation in batches of bs.
    With nerve-femoral: as many batches as nerve-us alone would give (an epoch
    keeps its length whatever the femoral set adds), each round(us_frac * bs)
    nerve-us images (walking a permutation, restarted when used up) and the rest
    femoral (likewise): nerve-us keeps its share instead of being drowned by
    562 femoral frames."""
    us = [i for i in train_idx if items[i]["set"] == "us"]
    fem = [i for i in train_idx if items[i]["set"] == "fem"]
    if not fem or not us:  # one set alone (nerve-femoral alone: the cross-site model)
        perm = rng.permutation(train_idx)
        return [perm[b:b + bs] for b in range(0, len(perm), bs)]
    nb = (len(us) + bs - 1) // bs
    ku = int(round(us_frac * bs))
    out, streams = [], {}
    def take(key, pool, k):
        st = streams.setdefault(key, [rng.permutation(pool), 0])
        got = []
        while len(got) < k:
            if st[1] == len(st[0]):
                st[0], st[1] = rng.permutation(pool), 0
            got.append(st[0][st[1]])
            st[1] += 1
        return got
    for _ in range(nb):
        out.append(np.array(take("us", us, ku) + take("fem", fem, bs - ku)))
    return out


def train(items, train_idx, seed, epochs, log, us_frac=1.0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    bs = 16
    n_us = sum(1 for i in train_idx if items[i]["set"] == "us") or len(train_idx)
    steps = epochs * ((n_us + bs - 1) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps,
                                                pct_start=0.15)
    t0 = time.time()
    for ep in range(epochs):
        tot, cnt = 0.0, 0
        for idx in batches(items, train_idx, rng, bs, us_frac):
            x, t = batch(items, idx, rng, True)
            out = net(x)
            if VESSEL_AUX:
                # vessels are labelled in nerve-us only (femoral masks have none,
                # though its frames show the femoral artery): the term skips femoral
                hv = torch.tensor([items[i]["set"] == "us" for i in idx], dtype=torch.float32)
                vb = F.binary_cross_entropy_with_logits(out[:, 1], t[:, 1], reduction="none")
                vb = (vb.mean(dim=(1, 2)) * hv).sum() / hv.sum().clamp(min=1)
                loss = loss_fn(out[:, 0], t[:, 0]) + VESSEL_AUX * vb
            else:
                loss = loss_fn(out, t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            cnt += len(idx)
        if ep % 10 == 9 or ep == epochs - 1:
            log(f"  epoch {ep + 1}/{epochs} loss {tot / cnt:.4f} ({time.time() - t0:.0f} s)")
    return net


def keep_parts(logit, min_part=4):
    """nerve_cnn.c keep_parts(): 8-connected parts of logit > 0 smaller than
    min_part grid pixels get logit -20 (specks); every other part is kept."""
    lg = logit.copy()
    fg = lg > 0
    seen = np.zeros_like(fg)
    for y0, x0 in zip(*np.nonzero(fg)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        part, k = [(y0, x0)], 0
        while k < len(part):
            y, x = part[k]
            k += 1
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    qy, qx = y + dy, x + dx
                    if 0 <= qy < N and 0 <= qx < N and fg[qy, qx] and not seen[qy, qx]:
                        seen[qy, qx] = True
                        part.append((qy, qx))
        if len(part) < min_part:
            for y, x in part:
                lg[y, x] = -20.0
    return lg


def paste_mask(it, logit):
    """Full-image mask: the logit map sampled bilinearly at every pixel of the crop
    (clamped at its border), > 0, then connected parts kept by keep_parts()."""
    h, w = it["h"], it["w"]
    side = it.get("side_px", CROP_FRAC * min(w, h))
    step = side / N
    half = side / 2
    x0, x1 = max(0, int(np.floor(it["cx"] - half))), min(w - 1, int(np.ceil(it["cx"] + half)))
    y0, y1 = max(0, int(np.floor(it["cy"] - half))), min(h - 1, int(np.ceil(it["cy"] + half)))
    xx, yy = np.meshgrid(np.arange(x0, x1 + 1, dtype=np.float32),
                         np.arange(y0, y1 + 1, dtype=np.float32))
    u = (xx - np.float32(it["cx"])) / np.float32(step) + np.float32((N - 1) / 2.0)
    v = (yy - np.float32(it["cy"])) / np.float32(step) + np.float32((N - 1) / 2.0)
    inside = (u > -0.5) & (v > -0.5) & (u < N - 0.5) & (v < N - 0.5)
    val = bilinear(keep_parts(logit.astype(np.float32)), u, v)
    m = np.zeros((h, w), np.uint8)
    m[y0:y1 + 1, x0:x1 + 1] = ((val > 0) & inside).astype(np.uint8)
    return m


def second_pass(items, te, nets, logits, ds, sname, log):
    """Held-out scores of the size-normalised recipe: the first pass (fixed share,
    as given), an oracle second pass (the true radius) and the real one (the first
    mask's radius: what nerve_cnn.c does; a first pass that found nothing stays).
    Returns the real second pass's per-item Dice."""
    log(f"  first pass (fixed share) {sname}: {np.mean(ds):.3f}")
    out = ds
    for mode in ("oracle", "two-pass"):
        sub = []
        for k, i in enumerate(te):
            it = dict(items[i])
            if mode == "oracle":
                r = float(np.sqrt((it["mask"] > 0.5).sum() / np.pi))
            else:
                a = paste_mask(it, logits[k]).sum()
                r = float(np.sqrt(a / np.pi)) if a > 0 else None
            if r is not None:
                it["side_px"] = sn_side(it, r, INFER_K if mode == "two-pass" else None)
            sub.append(it)
        with torch.no_grad():
            x2, _ = batch(sub, range(len(sub)), None, False)
            lg2 = ensemble(nets, x2).numpy()
        d2 = [dice(paste_mask(sub[k], lg2[k]), sub[k]["mask"]) for k in range(len(sub))]
        log(f"  {mode} {sname}: {np.mean(d2):.3f}")
        out = d2
    return out


def ensemble(nets, x):
    """The mean logits of the replicas (each also on the mirrored crop with --mirror), as
    nerve_cnn.c computes them."""
    if MIRROR:
        return sum((net(x) + net(x.flip(3)).flip(2)) / 2 for net in nets) / len(nets)
    return sum(net(x) for net in nets) / len(nets)


def dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * float((a * b).sum()) / s


def export_weights(models, path):
    """models: list of (name, [Net, ...]), folds 0..4 then the live model, each
    with its R replicas. Writes the CNNERVE1 file nerve_cnn.c reads (layout in
    nerve_cnn_internal.h): a 48-byte little-endian header with the crop
    geometry, then every network's folded weights as float32."""
    flats = [torch.cat([torch.cat([w.flatten(), b.flatten()]) for w, b in net.fused_layers()])
             .numpy().astype("<f4") for _, nets in models for net in nets]
    assert all(f.size == flats[0].size for f in flats)
    assert len({len(nets) for _, nets in models}) == 1, "same replica count for every model"
    head = (b"CNNERVE2" if SIZE_NORM else b"CNNERVE1") + \
        np.array([len(flats), flats[0].size, N], "<u4").tobytes() + \
        np.array([CROP_FRAC, SEED_SIGMA, STD_FLOOR], "<f4").tobytes() + np.array(CH, "<u4").tobytes()
    assert SIZE_NORM or not FOV_CROP, "the field-of-view flag needs the CNNERVE2 header (--size-norm)"
    if SIZE_NORM:  # CNNERVE2: the second pass's K, the flags (bit 0: mirror, bit 1: field of
        # view, bit 2: the finder blended into the first crop only), two reserved words
        flags = (1 if MIRROR else 0) | (2 if FOV_CROP else 0) | (4 if SEED_FIRST else 0)
        head += np.array([INFER_K or SIZE_NORM], "<f4").tobytes() + \
            np.array([flags, 0, 0], "<u4").tobytes()
    assert len(head) == (64 if SIZE_NORM else 48)
    with open(path, "wb") as f:
        f.write(head)
        for fl in flats:
            f.write(fl.tobytes())


def write_vector(nets, path, seed):
    """A small input (16 x 16, 2 channels) and the live model's logits (the mean
    over its replicas), for the C test."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, 16, 16, generator=g)
    with torch.no_grad():
        y = sum(Plain(net)(x)[0] for net in nets) / len(nets)
        y2 = sum(net(x)[0] for net in nets) / len(nets)
        if MIRROR:  # what nerve_cnn.c computes with the header's mirror flag
            y = sum((Plain(net)(x)[0] + Plain(net)(x.flip(3))[0].flip(1)) / 2 for net in nets) / len(nets)
            y2 = sum((net(x)[0] + net(x.flip(3))[0].flip(1)) / 2 for net in nets) / len(nets)
        assert float((y - y2).abs().max()) < 1e-3, "batch-norm folding"
    with open(path, "w") as f:
        f.write("/* nerve_cnn_vector.h - test vector for nerve_cnn.c (generated by\n"
                " * tools/train/train_nerve_cnn.py --vector): PyTorch logits of the live model\n"
                " * (the last model in nerve_cnn.weights, mean over its replicas) for a random\n"
                " * 2 x 16 x 16 input. */\n")
        f.write("#define CNN_VEC_N 16\n")
        for nm, arr in (("cnn_vec_in", x.numpy().ravel()), ("cnn_vec_out", y.numpy().ravel())):
            f.write(f"static const float {nm}[{arr.size}] = {{\n")
            for k in range(0, arr.size, 6):
                f.write("    " + ", ".join(f"{float(v):.9g}f" for v in arr[k:k + 6]) + ",\n")
            f.write("};\n")


def train_models(args, items, tag_suffix, log):
    """Trains (or loads from --ckpt) every model of --folds with the recipe's globals as
    set; logs each fold's held-out crop-CNN figures; returns [(name, nets)]."""
    n = len(items)
    models, held = [], {}
    for f in args.folds.split(","):
        if f == "all":
            tr = list(range(n))
        elif f in ("us", "fem"):  # cross-site: one whole set
            tr = [i for i in range(n) if items[i]["set"] == f]
        else:
            tr = [i for i in range(n) if items[i]["fold"] != int(f)]
        tr = us_subset(items, tr, args.us_subset)
        nets = []
        for r in range(args.replicas):
            if args.only_replica is not None and r != args.only_replica:
                continue  # another process trains it (two cores: one replica each)
            tag = (f"_r{r}" if r else "") + tag_suffix
            ck = os.path.join(args.ckpt, f"model_{f}_e{args.epochs}{tag}.pt") if args.ckpt else None
            if ck and os.path.exists(ck):
                net = Net()
                net.load_state_dict(torch.load(ck))
                log(f"fold {f} replica {r}: loaded {ck}")
            else:
                log(f"fold {f} replica {r}: training on {len(tr)} images")
                k = {"all": KFOLD, "us": KFOLD + 1, "fem": KFOLD + 2}.get(f)
                net = train(items, tr, 1000 + 100 * r + (int(f) if k is None else k),
                            args.epochs, log, args.us_frac)
                if ck:
                    torch.save(net.state_dict(), ck)
            net.eval()
            nets.append(net)
        models.append((f if f in ("all", "us", "fem") else f"fold{f}", nets))
        if f not in ("all", "us", "fem"):
            for sname in ("us", "fem"):
                te = [i for i in range(n) if items[i]["fold"] == int(f) and items[i]["set"] == sname]
                if not te:
                    continue
                with torch.no_grad():
                    x, _ = batch(items, te, None, False)
                    logits = ensemble(nets, x).numpy()
                ds = [dice(paste_mask(items[i], logits[k]), items[i]["mask"])
                      for k, i in enumerate(te)]
                if SIZE_NORM:
                    ds = second_pass(items, te, nets, logits, ds, sname, log)
                for k, i in enumerate(te):
                    held[i] = ds[k]
                log(f"fold {f} {sname}: held-out crop CNN alone, "
                    f"{'each nerve seeded on itself, per click' if args.per_nerve else 'seeded at the mask centroid'}: "
                    f"mean dice {np.mean(ds):.3f} median {np.median(ds):.3f} ({len(te)} images)")
    for sname in ("us", "fem"):
        v = np.array([d for i, d in held.items() if items[i]["set"] == sname])
        if v.size:
            log(f"held-out {sname} over {len(v)} images: mean dice {v.mean():.3f} "
                f"median {np.median(v):.3f}")
    return models


def shipped_slots(args, models):
    """The six slots nerve_cnn.c expects: folds 0-4 and the live model (--live 4: the
    fold-4 model again)."""
    names = [m for m, _ in models]
    if args.live == "4" and names == [f"fold{k}" for k in range(KFOLD)]:
        models = models + [("all", models[KFOLD - 1][1])]
    if [m for m, _ in models] != [f"fold{k}" for k in range(KFOLD)] + ["all"]:
        sys.exit("export needs --folds 0,1,2,3,4,all, or 0,1,2,3,4 with --live 4 "
                 "(nerve_cnn.c expects six models)")
    return models


def main():
    global CROP_FRAC, N, SEEDCH, ROT_DEG, GAMMA_LOG, VESSEL_AUX, CH, DICE_W, AUG, LOVASZ_W, SEED_SIGMA, CLICK_JITTER
    global CLICK_OFF_NERVE
    global SIZE_NORM, SN_JIT, SN_FIXED_P, INFER_K, MIRROR, FOV_CROP, FOV_BOX, SEED_FIRST
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="nerve-us folder (images/, masks/)")
    ap.add_argument("--femoral", help="nerve-femoral folder: train on both sets (folds by "
                    "index blocks there)")
    ap.add_argument("--us-frac", type=float, default=0.5, help="share of nerve-us images in "
                    "each batch when --femoral is given")
    ap.add_argument("--out", help="weights file (modules/segment/nerve_cnn.weights)")
    ap.add_argument("--candidate-out", help="a weights file for judging a recipe on fold 4 in "
                    "C: every model slot holds the fold-4 model (never a shipped file)")
    ap.add_argument("--vector", help="C header with a test vector")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--folds", default="0,1,2,3,4,all")
    ap.add_argument("--ckpt", help="folder for per-model checkpoints: a model found there is "
                    "loaded instead of trained (lets two processes train different folds, then "
                    "one run exports them all)")
    ap.add_argument("--no-export", action="store_true", help="train/checkpoint only")
    ap.add_argument("--replicas", type=int, default=2, help="networks per model, trained alike "
                    "with other seeds (replica r: seed 1000 + 100 r + fold) and averaged")
    ap.add_argument("--crop-frac", type=float, default=CROP_FRAC, help="crop side / smaller "
                    "image side (stored in the weights file)")
    ap.add_argument("--grid", type=int, default=N, help="crop grid side (multiple of 8, <= "
                    "CN_NERVE_CNN_NMAX; stored in the weights file)")
    ap.add_argument("--channels", default=",".join(map(str, CH)), help="channels per level, "
                    "four numbers, the third equal to the fourth (stored in the weights file)")
    ap.add_argument("--rot-deg", type=float, default=ROT_DEG, help="rotation augmentation, deg")
    ap.add_argument("--gamma-log", type=float, default=GAMMA_LOG, help="gamma augmentation "
                    "(base): the power exp(u), u uniform in +-this (0 .. 1; the same random "
                    "stream at every value)")
    ap.add_argument("--vessel-aux", type=float, default=VESSEL_AUX, help="weight of the "
                    "auxiliary vessel output while training (0: none)")
    ap.add_argument("--dice-w", type=float, default=DICE_W, help="weight of the soft Dice "
                    "term of the loss (BCE has 1)")
    ap.add_argument("--seed-sigma", type=float, default=SEED_SIGMA, help="seed channel "
                    "Gaussian sigma, grid cells (stored in the weights file)")
    ap.add_argument("--lovasz-w", type=float, default=LOVASZ_W, help="weight of a Lovasz "
                    "hinge term of the loss (0: none)")
    ap.add_argument("--click-off-nerve", action="store_true", help="trial (thirteenth "
                    "session): jittered training clicks are kept where they fall, beside the "
                    "nerve too (else stepped back onto it)")
    ap.add_argument("--click-jitter", type=float, default=CLICK_JITTER, help="training clicks "
                    "anywhere on the nerve up to this many equivalent radii from its centre "
                    "(0: at the centre pixel, the shipped recipe)")
    ap.add_argument("--aug", default=AUG, choices=("base", "strong"), help="augmentation: "
                    "base (the shipped recipe) or strong (wider ranges, blur, speckle, ramp)")
    ap.add_argument("--per-nerve", action="store_true", help="one sample per nerve of a "
                    "multi-nerve mask, seeded on it, the target that nerve alone (eval nerve "
                    "--seed-at nerve); default: the whole mask at its centroid")
    ap.add_argument("--size-norm", type=float, default=SIZE_NORM, help="K: a second pass crops "
                    "K x the first mask's equivalent radius (0: off; the shipped recipe: 8)")
    ap.add_argument("--infer-k", type=float, default=None, help="the K the weights file's "
                    "header gives nerve_cnn.c (default: --size-norm, as shipped)")
    ap.add_argument("--sn-jit", type=float, default=SN_JIT, help="training: the radius's "
                    "error, log-uniform +-this")
    ap.add_argument("--sn-fixed-p", type=float, default=SN_FIXED_P, help="training: share of "
                    "samples at the fixed share (the first pass)")
    ap.add_argument("--us-subset", type=float, default=1.0, help="learning curve: train on "
                    "this share of the nerve-us training images only (femoral all; default 1)")
    ap.add_argument("--fov-box", choices=("marks", "uncut"), default="marks", help="with "
                    "--fov-crop, the field-of-view rule: marks (default) leaves a scanner's text and "
                    "markers out, as the C code cuts since the eighteenth session; uncut is the rule "
                    "the shipped networks were trained with (ninth session), which their one command "
                    "names so that it rebuilds them bit for bit (13 of the 766 frames' boxes differ)")
    ap.add_argument("--fov-crop", action="store_true", help="the shipped recipe (ninth session): cut every frame to the "
                    "scanner's field of view (fov.py) first, in training and in this script's "
                    "evaluation, as train_nerve_net.py --fov-crop; sets the weights file's "
                    "field-of-view flag, so the C code cuts the frames alike")
    ap.add_argument("--mirror", action="store_true", help="inference: each network also runs "
                    "on the mirrored crop and the logits are averaged (a header flag; training "
                    "is unchanged)")
    ap.add_argument("--seed-first", action="store_true", help="inference: the seeded outline "
                    "blends the finder's logits into the first crop only, the size-normalised "
                    "second crop is the network's alone (a header flag; training unchanged)")
    ap.add_argument("--tag", default="", help="checkpoint name suffix for a recipe variant")
    ap.add_argument("--only-replica", type=int, default=None, help="train (or load) replica R "
                    "of each model only, then stop: replicas of one recipe trained side by side "
                    "in separate processes, each with --ckpt; a later run without it loads them all")
    ap.add_argument("--refine-out", help="also train automatic mode's refine network (the same "
                    "recipe, clicks within --refine-jitter radii, beside the nerve too) and write "
                    "its weights file (modules/segment/nerve_refine.weights)")
    ap.add_argument("--refine-jitter", type=float, default=1.0, help="the refine network's "
                    "training clicks: anywhere within this many equivalent radii of the nerve's "
                    "middle")
    ap.add_argument("--refine-on-nerve", action="store_true", help="the refine network's "
                    "clicks stepped back onto the nerve (the thirteenth session's candidate J, "
                    "with --refine-jitter 0.6)")
    ap.add_argument("--live", default="all", choices=("all", "4"), help="the live slot: a "
                    "model trained on every image (all, in --folds), or the fold-4 model again "
                    "(4: trained on folds 0-3 of every set given)")
    args = ap.parse_args()
    ROT_DEG = args.rot_deg
    GAMMA_LOG = args.gamma_log
    if not 0 <= GAMMA_LOG <= 1:
        ap.error(f"--gamma-log {GAMMA_LOG:g}: 0 .. 1")
    VESSEL_AUX = args.vessel_aux
    DICE_W = args.dice_w
    LOVASZ_W = args.lovasz_w
    SEED_SIGMA = args.seed_sigma
    AUG = args.aug
    CLICK_JITTER = args.click_jitter
    CLICK_OFF_NERVE = args.click_off_nerve
    SIZE_NORM, SN_JIT, SN_FIXED_P = args.size_norm, args.sn_jit, args.sn_fixed_p
    if not (SIZE_NORM == 0 or 4 <= SIZE_NORM <= 32):
        ap.error(f"--size-norm {SIZE_NORM:g}: 0 (off), or 4..32 nerve radii")
    INFER_K = args.infer_k
    MIRROR = args.mirror
    SEED_FIRST = args.seed_first
    FOV_CROP = args.fov_crop
    FOV_BOX = fov_box_uncut if args.fov_box == "uncut" else fov_box
    if not 0 < args.us_subset <= 1:
        ap.error(f"--us-subset {args.us_subset:g}: a share in (0, 1]")
    if SEED_FIRST and not SIZE_NORM:
        ap.error("--seed-first needs --size-norm (the flag lives in the CNNERVE2 header)")
    if MIRROR and not SIZE_NORM:
        ap.error("--mirror needs --size-norm (the flag lives in the CNNERVE2 header)")
    if not (INFER_K is None or (SIZE_NORM and 4 <= INFER_K <= 32)):
        ap.error(f"--infer-k {INFER_K:g}: 4..32 nerve radii, and only with --size-norm")
    CROP_FRAC = args.crop_frac
    N = args.grid
    CH = tuple(int(v) for v in args.channels.split(","))
    assert len(CH) == 4 and CH[2] == CH[3], "--channels: four numbers, the last two equal"
    assert all(c % 8 == 0 and 8 <= c <= 128 for c in CH), \
        "--channels: multiples of 8 in 8..128 (nerve_cnn_net.c runs the network through oneDNN's " \
        "blocked layout)"
    SEEDCH = seed_channel()
    torch.set_num_threads(1)
    if args.ckpt:
        os.makedirs(args.ckpt, exist_ok=True)  # else the first checkpoint fails after training
    log = lambda s: (print(s), sys.stdout.flush())
    items = load(args.data, args.femoral)
    if args.per_nerve:
        items = per_nerve(items)
    n = len(items)
    log(f"{n} images; crop {CROP_FRAC} x min side -> {N}x{N}; channels {CH}; "
        f"{sum(p.numel() for p in Net().parameters())} parameters")
    if args.only_replica is not None:
        if not (args.ckpt and 0 <= args.only_replica < args.replicas):
            ap.error(f"--only-replica {args.only_replica}: needs --ckpt and 0 <= R < --replicas")
    models = train_models(args, items, args.tag, log)
    if args.only_replica is not None:
        log(f"replica {args.only_replica} checkpointed in {args.ckpt}; nothing exported")
        return
    if args.candidate_out:
        # fold 4 (recipe choice) or a cross-site model: one model in every slot
        k = 0 if len(models) == 1 else [m for m, _ in models].index("fold4")
        export_weights([models[k]] * (KFOLD + 1), args.candidate_out)
        log(f"wrote {args.candidate_out} (the {models[k][0]} model in every slot: not a "
            f"shipped file)")
    if args.no_export or not args.out:
        return
    export_weights(shipped_slots(args, models), args.out)
    log(f"wrote {args.out}")
    if args.vector:
        write_vector(models[-1][1], args.vector, 7)
        log(f"wrote {args.vector}")
    if args.refine_out:
        # automatic mode's refine network (thirteenth session, candidate O): the same recipe,
        # seeds and folds, its training clicks anywhere within --refine-jitter radii of the
        # nerve's middle, on the nerve or beside it (the finder's points are near a nerve,
        # not on its middle; --refine-on-nerve steps them back onto it: candidate J)
        CLICK_JITTER = args.refine_jitter
        CLICK_OFF_NERVE = not args.refine_on_nerve
        tag = f"{args.tag}_{'cj' if args.refine_on_nerve else 'co'}{round(args.refine_jitter * 10)}"
        log(f"the refine network: clicks within {CLICK_JITTER:g} equivalent radii, "
            f"{'on the nerve' if args.refine_on_nerve else 'on the nerve or beside it'} "
            f"(checkpoint tag {tag})")
        export_weights(shipped_slots(args, train_models(args, items, tag, log)), args.refine_out)
        log(f"wrote {args.refine_out}")


if __name__ == "__main__":
    main()
