#!/usr/bin/python3
"""
train_nerve_net.py - trains the full-frame nerve finder of modules/segment
(nerve_find.c) on nerve-us and nerve-femoral and writes the weights file the C
code loads (modules/segment/nerve_find.weights, embedded at build time).

One command rebuilds the shipped file (since the tenth session every slot is an
ensemble of three networks, seed bases 1000 / 2000 / 3000, whose logits the C code
averages: 21 trainings, five fold networks of 60 epochs, ~17-24 min each on one
shared core, and two cross-site networks of 30, per seed; the live slot is the
fold4 ensemble, see MODEL_EPOCHS / LIVE_FROM; checkpoints in build-train/, so an
interrupted run resumes, and separate invocations with --models may run side by
side). Since the ninth session every frame is cut to the scanner's field of view
first (--fov-crop, fov.py; the file's flag makes the C code cut alike), and the
checkpoints carry the tag _fov (_fov_s2000, _fov_s3000 for the other seeds):

    tools/train/train_nerve_net.py --data ../shared/data --fov-crop --fov-box uncut --tag _fov \
        --seeds 1000,2000,3000 --out modules/segment/nerve_find.weights \
        --vector tests/unit/segment/nerve_find_vector.h

(--fov-box uncut: the box the shipped networks were trained on, before the eighteenth
session's rule left a scanner's marks out of it; check_rebuild.py retrains the fold-4
network of seed base 1000 and compares it with the shipped file bit for bit.)

Data (../shared/data, read only): nerve-us, "usgra-seg dataset by T. M. K., CC-BY 4.0", and
nerve-femoral, "femoral nerve block dataset by S. Gao et al., MIT licence".

The idea: the whole frame, reduced to a grid of H rows (H = 96: the image's
height maps to H cells, its width keeps the pixel aspect, rounded to a multiple
of 16; each cell is the mean of the pixels it covers, as nerve_find.c computes
it), standardised, goes through a small U-Net (five levels, 3x3 convolutions +
ReLU, 2x2 max pooling, nearest upsampling with additive skips; batch norm is
folded into the convolutions at export) that gives a nerve logit per cell. The
C code pastes the logits back bilinearly and keeps the connected parts (see
nerve_find.c); this script measures exactly that.

Scanner robustness comes from augmentation, drawn per sample: scale x0.7-1.45,
aspect x0.8-1.25, rotation +-12 deg, horizontal flip, random crop/placement in
the training window, gain x0.6-1.6, gamma 0.65-1.5, a depth ramp (TGC) of
+-35 %, multiplicative speckle, Gaussian blur up to 1.2 cells, additive noise,
and black bands at the top/bottom (letterboxing as some scanners export).
Loss: BCE + soft Dice on the nerve and 0.5 x BCE on a second output learning the
vessels (nerve-us mask index 2; nerve-femoral has no vessel labels, so that term
is masked out for its images); the vessel output is dropped at export.

Splits (fixed, by file index, written in docs/validation.md):
  nerve-us (204): fold = index in sorted name order mod 5.
  nerve-femoral (562 = trainset + testset as ONE set, ordered by the number in
  sample_N): fold = rank * 5 // 562 (five blocks of consecutive frames, since
  neighbouring frames are near-duplicates).
Models (networks in the weights file, in this order):
  fold0 .. fold3  trained on every image of both sets except that fold: the
                  REPORTED held-out figures are these folds' images;
  fold4           the same for fold 4: the RECIPE-CHOICE (validation) split,
                  on which candidates were compared; its figure is not reported
                  as the held-out result;
  us              trained on all of nerve-us (cross-site: tested on femoral);
  fem             trained on all of nerve-femoral (cross-site: tested on nerve-us);
  live            the slot the product runs: the fold4 network (LIVE_FROM), trained on
                  every image outside the recipe-choice split.
Seeds: network k uses seed BASE + k (k in the order above) for each seed base of
--seeds (default: --seed-base, 1000); data order and augmentation come from numpy's
default_rng(seed). One torch thread: on the
shared 2-core machine (load ~10) a training step took 0.25 s of CPU with one
thread and 1.8 s with two (OpenMP threads spinning at barriers), 3x the wall
time too. Run under `nice -n 10`.

Needs Debian's python3-torch, python3-numpy, python3-pil, python3-scipy: this
script installs them with apt-get when they are missing (the C build and the tests never need
them).
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
        # another interpreter (pyenv, a venv) cannot see Debian's python3-* packages:
        # run under Debian's own, where apt installs them
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    if need:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print("installing " + " ".join(need), flush=True)
        subprocess.check_call(sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + need)


ensure_deps()

import numpy as np  # noqa: E402
from us_subset import us_subset  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nerve_strips  # noqa: E402
from fov import fov_box, fov_box_uncut  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

H = 96                 # grid rows (the frame's height maps to H cells)
CH = (8, 24, 48, 64, 96)  # channels per U-Net level
STD_FLOOR = 4.0        # grey-level std floor of the standardisation
WIN_W = 128            # training window width (cells); height is H
KFOLD = 5
VESSEL_AUX = 0.5
US_SHARE = 0.5         # share of training samples from nerve-us
NEG_SHARE = 0.0        # share of training samples that are a training image's nerve-free
                       # strip (negative_crop) with an empty target: a femoral frame is
                       # narrower than the training window, so without them the finder never
                       # sees that site without its nerve (0: off, draws no random numbers)
GAMMA_RANGE = (0.65, 1.5)   # training grey-level gamma, drawn log-uniform; ASPECT_RANGE the
ASPECT_RANGE = (0.8, 1.25)  # pixel aspect (width stretch). Wider (0.5-2.0, 0.7-1.43) was tried
                            # in the seventh session and lost on every count (docs/validation.md)
MIN_PART = 3           # grid cells: smaller parts are specks (nerve_find.c)
MODEL_NAMES = ["fold0", "fold1", "fold2", "fold3", "fold4", "us", "fem", "live"]
# The recipe as shipped (docs/validation.md says why): the fold networks train 60 epochs;
# the two cross-site networks 30 (their figures are reported, never used by the product,
# and the shared machine had the time for 30); the live slot holds the fold4 network
# (trained on folds 0-3 of both sets, i.e. everything but the recipe-choice split). A
# ninth network trained on all 766 images (--live-from all, seed 1007) was tried in the
# seventh session and not adopted: it scored no higher on its own training images than
# fold4 on images a fifth of which it never saw (docs/validation.md). --us-subset F
# trains on a fixed share of the nerve-us training images (a learning curve).
MODEL_EPOCHS = {"us": 30, "fem": 30}
DEFAULT_EPOCHS = 60
LIVE_FROM = "fold4"


# ------------------------------------------------------------------ data

def grid_width(w, h):
    """Grid columns for a w x h image: the pixel aspect kept, a multiple of 16."""
    return max(16, int(round(w * H / h / 16.0)) * 16)


def area_resample(img, gh, gw):
    """Mean of the pixels each cell covers: cell i spans [i*w//gw, (i+1)*w//gw)
    (at least one pixel), exactly as nerve_find.c does with an integral image."""
    h, w = img.shape
    ii = np.zeros((h + 1, w + 1), np.float64)
    ii[1:, 1:] = np.cumsum(np.cumsum(img.astype(np.float64), 0), 1)
    xs = np.arange(gw + 1) * w // gw
    ys = np.arange(gh + 1) * h // gh
    x0, x1 = xs[:-1], np.maximum(xs[1:], xs[:-1] + 1)
    y0, y1 = ys[:-1], np.maximum(ys[1:], ys[:-1] + 1)
    s = ii[y1][:, x1] - ii[y0][:, x1] - ii[y1][:, x0] + ii[y0][:, x0]
    return (s / ((y1 - y0)[:, None] * (x1 - x0)[None, :])).astype(np.float32)


def luma(path):
    """Grey as ITU-R 601 luma (PIL "L"), what the C reader gives for colour images."""
    return np.asarray(Image.open(path).convert("L"), dtype=np.uint8)


FOV_CROP = False  # --fov-crop
FOV_BOX = fov_box  # --fov-box: marks (fov_box, the live C cut since the eighteenth session) or
                   # uncut (fov_box_uncut, the box the shipped networks were trained on, ninth
                   # session: the shipped files' one command gives it, so it rebuilds them bit for bit)


def load_sets(root):
    items = []
    d = os.path.join(root, "nerve-us")
    names = sorted(f for f in os.listdir(os.path.join(d, "images")) if f.lower().endswith(".png"))
    for k, n in enumerate(names):
        m = np.asarray(Image.open(os.path.join(d, "masks", n)))
        items.append(dict(set="us", name=n, fold=k % KFOLD, img=os.path.join(d, "images", n),
                          nerve=(m == 1), vessel=(m == 2), has_vessel=True))
    d = os.path.join(root, "nerve-femoral")
    fem = []
    for sub in ("trainset", "testset"):
        idir = os.path.join(d, sub, "images")
        mdir = next(os.path.join(d, sub, m) for m in ("masks", "masks_real")
                    if os.path.isdir(os.path.join(d, sub, m)))
        for f in os.listdir(idir):
            num = int(re.findall(r"\d+", f)[0])
            fem.append((num, os.path.join(idir, f), os.path.join(mdir, os.path.splitext(f)[0] + ".png")))
    fem.sort()
    for r, (num, ip, mp) in enumerate(fem):
        m = np.asarray(Image.open(mp))
        items.append(dict(set="fem", name=os.path.basename(ip), fold=r * KFOLD // len(fem), img=ip,
                          nerve=(m == 1), vessel=np.zeros_like(m, bool), has_vessel=False))
    for it in items:
        g = luma(it["img"])
        assert g.shape == it["nerve"].shape, it["img"]
        if FOV_CROP:  # trial (--fov-crop): the frame cut to the scanner's field of view
            y0, y1, x0, x1 = FOV_BOX(g)
            g = g[y0:y1, x0:x1]
            it["nerve"], it["vessel"] = it["nerve"][y0:y1, x0:x1], it["vessel"][y0:y1, x0:x1]
        it["grey"] = g
        h, w = g.shape
        it["h"], it["w"] = h, w
        # training source: the image area-resampled to 2H rows (bilinear sampling
        # from it at scale 1 averages about two source cells per grid cell)
        sh = 2 * H
        sw = max(16, int(round(w * sh / h)))
        it["src"] = np.stack([area_resample(g, sh, sw) / 255.0,
                              area_resample(it["nerve"].astype(np.float32), sh, sw),
                              area_resample(it["vessel"].astype(np.float32), sh, sw)])
        it["src_t"] = torch.from_numpy(it["src"])[None]
        # evaluation input: exactly the C grid
        gw = grid_width(w, h)
        it["grid"] = area_resample(g, H, gw)
        # a nerve-free training view: the widest strip beside the nerve (NEG_SHARE)
        x01 = strip_cols(it)
        it["neg"] = None
        if x01 is not None:
            x0, x1 = x01
            nw = max(16, int(round((x1 - x0) * sh / h)))
            it["neg"] = dict(w=x1 - x0, h=h, has_vessel=it["has_vessel"], src_t=torch.from_numpy(
                np.stack([area_resample(g[:, x0:x1], sh, nw) / 255.0,
                          np.zeros((sh, nw), np.float32),
                          area_resample(it["vessel"][:, x0:x1].astype(np.float32), sh, nw)]))[None])
    return items


def standardise(g):
    mu = g.mean()
    sd = max(float(g.std()), STD_FLOOR)
    return (g - mu) / sd


# ------------------------------------------------------------------ augmentation

def make_batch(items, idx, rng, views=None):
    """Augmented H x WIN_W windows: affine sampling (bilinear) on the 2H-row
    area-resampled source, then intensity changes. views[k], when given and not
    None, replaces items[idx[k]] (a nerve-free strip of it). Returns input
    (B,1,H,W), targets (B,2,H,W), vessel weight (B)."""
    B = len(idx)
    views = [(views[k] if views and views[k] is not None else items[i]) for k, i in enumerate(idx)]
    outs = []
    for it in views:
        # the image's height spans H cells at scale 1; s > 1 zooms in
        s = float(np.exp(rng.uniform(np.log(0.7), np.log(1.45))))
        asp = float(np.exp(rng.uniform(np.log(ASPECT_RANGE[0]), np.log(ASPECT_RANGE[1]))))
        rot = float(np.radians(rng.uniform(-12, 12)))
        flip = bool(rng.integers(2))
        # image extent in grid cells at this scale
        ih, iw = H * s, grid_width(it["w"], it["h"]) * s * asp
        # where the window sits on the image (cells), random within the slack
        ox = rng.uniform(min(0, iw - WIN_W), max(0, iw - WIN_W))
        oy = rng.uniform(min(0, ih - H), max(0, ih - H))
        # affine from the window's normalised [-1, 1] coordinates to the image's,
        # rotating about the window centre (cells are square at aspect 1)
        c, sn = np.cos(rot), np.sin(rot)
        a = np.array([[c * (WIN_W / 2.0) / (iw / 2.0), -sn * (H / 2.0) / (iw / 2.0),
                       (WIN_W / 2.0 + ox) / (iw / 2.0) - 1.0],
                      [sn * (WIN_W / 2.0) / (ih / 2.0), c * (H / 2.0) / (ih / 2.0),
                       (H / 2.0 + oy) / (ih / 2.0) - 1.0]])
        if flip:
            a[0, :] = -a[0, :]
        theta = torch.tensor(a[None], dtype=torch.float32)
        grid = F.affine_grid(theta, (1, 3, H, WIN_W), align_corners=False)
        outs.append(F.grid_sample(it["src_t"], grid, mode="bilinear", padding_mode="zeros",
                                  align_corners=False))
    out = torch.cat(outs)
    # cells outside the image: black, no nerve (zeros padding)
    g = out[:, :1]
    t = out[:, 1:].clamp(0, 1)
    # intensity augmentation, vectorised over the batch
    def u(lo, hi):
        return torch.tensor(rng.uniform(lo, hi, B), dtype=torch.float32).view(B, 1, 1, 1)
    gen = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    gain = torch.exp(u(np.log(0.6), np.log(1.6)))
    gamma = torch.exp(u(np.log(GAMMA_RANGE[0]), np.log(GAMMA_RANGE[1])))
    depth = torch.linspace(-1.0, 1.0, H).view(1, 1, H, 1)
    x = g.clamp(0, 1) ** gamma * gain * (1.0 + u(-0.35, 0.35) * depth)
    # multiplicative speckle (half the samples), strength 0.05-0.35
    sp = u(0.05, 0.35) * torch.tensor(rng.random(B) < 0.5, dtype=torch.float32).view(B, 1, 1, 1)
    x = x * (1 + sp * torch.randn(x.shape, generator=gen)).clamp(0.2, 3)
    # Gaussian blur (40 % of the samples), sigma 0.3-1.2 cells, separable, per sample
    sig = u(0.3, 1.2).view(B) * torch.tensor(rng.random(B) < 0.4, dtype=torch.float32) + 1e-3
    r = 3
    k1 = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32)[None, :] ** 2 / (2 * sig[:, None] ** 2))
    k1 = k1 / k1.sum(dim=1, keepdim=True)
    xx = F.pad(x.view(1, B, H, WIN_W), (r, r, r, r), mode="replicate")
    xx = F.conv2d(xx, k1.view(B, 1, 1, -1), groups=B)
    xx = F.conv2d(xx, k1.view(B, 1, -1, 1), groups=B)
    x = xx.view(B, 1, H, WIN_W)
    x = x + u(0, 0.04) * torch.randn(x.shape, generator=gen)
    # letterbox bands (a quarter of the samples)
    for k in range(B):
        if rng.random() < 0.25:
            top, bot = int(rng.integers(0, H // 6)), int(rng.integers(0, H // 6))
            x[k, :, :top] = 0
            t[k, :, :top] = 0
            if bot:
                x[k, :, H - bot:] = 0
                t[k, :, H - bot:] = 0
    g = x.clamp(0, 1) * 255.0
    # per-sample standardisation over the window (C: over the whole grid)
    mu = g.mean(dim=(2, 3), keepdim=True)
    sd = g.std(dim=(2, 3), keepdim=True).clamp(min=STD_FLOOR)
    g = (g - mu) / sd
    vw = torch.tensor([1.0 if it["has_vessel"] else 0.0 for it in views])
    return g, t, vw


# ------------------------------------------------------------------ model

class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))

    def fused(self):
        bn = self.bn
        s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        return self.conv.weight.detach() * s[:, None, None, None], bn.bias.detach() - bn.running_mean * s


def layer_table(ch):
    """(cin, cout) of every 3x3 layer in C order (nerve_find.c builds the same):
    encoder level l: two convs to ch[l] (the deepest level's second conv returns
    to ch[L-2] channels so it can be added to the skip above); decoder level
    l = L-2..1: one conv ch[l] -> ch[l-1] after up + skip; level 0: ch[0] -> ch[0]."""
    L = len(ch)
    t = [(1, ch[0]), (ch[0], ch[0])]
    for l in range(1, L - 1):
        t += [(ch[l - 1], ch[l]), (ch[l], ch[l])]
    t += [(ch[L - 2], ch[L - 1]), (ch[L - 1], ch[L - 2])]
    for l in range(L - 2, 0, -1):
        t.append((ch[l], ch[l - 1]))
    t.append((ch[0], ch[0]))
    return t


class Net(nn.Module):
    def __init__(self, ch=None):
        super().__init__()
        ch = tuple(ch or CH)  # the module's CH at construction (--channels sets it)
        self.ch = ch
        self.layers = nn.ModuleList([ConvBN(a, b) for a, b in layer_table(ch)])
        self.head = nn.Conv2d(ch[0], 2, 1)

    def forward(self, x, both=False):
        L = len(self.ch)
        ly = iter(self.layers)
        skips = []
        for l in range(L):
            if l:
                x = F.max_pool2d(x, 2)
            x = next(ly)(x)
            x = next(ly)(x)
            if l < L - 1:
                skips.append(x)
        for l in range(L - 2, -1, -1):
            x = F.interpolate(x, scale_factor=2, mode="nearest") + skips[l]
            x = next(ly)(x)
        h = self.head(x)
        return h if both else h[:, 0]

    def fused_layers(self):
        return [l.fused() for l in self.layers] + \
            [(self.head.weight.detach()[:1], self.head.bias.detach()[:1])]


def plain_forward(ws, ch, x):
    """The exported network as C runs it (folded weights, plain convolutions)."""
    L = len(ch)
    k = 0
    skips = []
    for l in range(L):
        if l:
            x = F.max_pool2d(x, 2)
        for _ in range(2):
            x = F.relu(F.conv2d(x, ws[k][0], ws[k][1], padding=1))
            k += 1
        if l < L - 1:
            skips.append(x)
    for l in range(L - 2, -1, -1):
        x = F.interpolate(x, scale_factor=2, mode="nearest") + skips[l]
        x = F.relu(F.conv2d(x, ws[k][0], ws[k][1], padding=1))
        k += 1
    return F.conv2d(x, ws[k][0], ws[k][1])[:, 0]


# ------------------------------------------------------------------ training

def loss_fn(out, t, vw):
    lg = out[:, 0]
    tn = t[:, 0]
    bce = F.binary_cross_entropy_with_logits(lg, tn)
    p = torch.sigmoid(lg)
    inter = (p * tn).sum(dim=(1, 2))
    den = p.sum(dim=(1, 2)) + tn.sum(dim=(1, 2))
    dice = 1 - (2 * inter + 1) / (den + 1)
    loss = bce + dice.mean()
    if VESSEL_AUX and float(vw.sum()) > 0:
        bv = F.binary_cross_entropy_with_logits(out[:, 1], t[:, 1], reduction="none").mean(dim=(1, 2))
        loss = loss + VESSEL_AUX * (bv * vw).sum() / vw.sum()
    return loss


def load_neg_views(paths, log):
    """Real views without a nerve (nerve_free_views.py), one list of training views per
    source, each frame area-resampled like an image of the sets, target empty."""
    from nerve_free_views import read_source
    sh = 2 * H
    sources = []
    for p in paths:
        name, frames = read_source(p)
        views = []
        for g in frames:
            h, w = g.shape
            sw = max(16, int(round(w * sh / h)))
            views.append(dict(w=w, h=h, has_vessel=False, src_t=torch.from_numpy(np.stack([
                area_resample(g, sh, sw) / 255.0, np.zeros((sh, sw), np.float32),
                np.zeros((sh, sw), np.float32)]))[None]))
        sources.append(views)
        log(f"views without a nerve: {p}: {len(views)} frames")
    return sources


def train(items, tr, seed, epochs, log, steps_per_epoch=32, bs=16, lr=3e-3, us_share=0.5,
          neg_share=0.0, neg_sets=("us", "fem"), neg_views=None, neg_view_share=0.0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Net()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    # a fixed share of the samples from each data set (nerve-femoral's 562 frames
    # come from a few videos: per frame they carry less variety than nerve-us's 204,
    # five regions of one scanner)
    by_set = {}
    for i in tr:
        by_set.setdefault(items[i]["set"], []).append(i)
    sets = sorted(by_set)
    neg_by_set = {st: [i for i in by_set[st] if items[i]["neg"] is not None] for st in sets}
    share = [us_share if st == "us" else 1.0 - us_share for st in sets]
    share = np.array(share) / sum(share)
    t0 = time.time()
    net.train()
    for ep in range(epochs):
        tot = 0.0
        for st in range(steps_per_epoch):
            idx, views = [], []
            for _ in range(bs):
                lst = by_set[sets[int(rng.choice(len(sets), p=share))]]
                idx.append(lst[int(rng.integers(len(lst)))])
                views.append(None)
                if neg_share > 0 and items[idx[-1]]["set"] in neg_sets and rng.random() < neg_share:
                    # a nerve-free strip of a training image of the same set
                    negs = neg_by_set[items[idx[-1]]["set"]]
                    if negs:
                        j = negs[int(rng.integers(len(negs)))]
                        idx[-1], views[-1] = j, items[j]["neg"]
                elif neg_views and rng.random() < neg_view_share:
                    # a whole frame of a real view without a nerve: source, then frame
                    src = neg_views[int(rng.integers(len(neg_views)))]
                    views[-1] = src[int(rng.integers(len(src)))]
            x, t, vw = make_batch(items, idx, rng, views)
            out = net(x, both=True)
            loss = loss_fn(out, t, vw)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss)
        if ep % 5 == 4 or ep == epochs - 1:
            log(f"  epoch {ep + 1}/{epochs} loss {tot / steps_per_epoch:.4f} ({time.time() - t0:.0f} s)")
    net.eval()
    return net


# ------------------------------------------------------------------ inference as C does it

def find_parts(logit):
    """8-connected parts of logit > 0 (labels in raster order of their first cell,
    as nerve_find.c scans), specks of fewer than MIN_PART cells dropped."""
    p = 1 / (1 + np.exp(-logit.astype(np.float64)))
    lab, n = ndimage.label(logit > 0, structure=np.ones((3, 3), int))
    parts = []
    for k in range(1, n + 1):
        m = lab == k
        area = int(m.sum())
        if area < MIN_PART:
            continue
        parts.append(dict(m=m, mass=float(p[m].sum()), peak=float(p[m].max())))
    return parts


def select(logit, post, seed=None, parts=None):
    """The parts nerve_find.c keeps. post: dict(cluster (cells), found_p, seed_dist).
    Automatic: the part with the largest probability mass, plus the parts within
    `cluster` cells of it. Seeded (seed in grid cells): the part nearest the seed
    (within post['seed_dist'] cells), plus its cluster. Returns (keep mask on the
    grid, confidence = the chosen part's peak probability, found)."""
    if parts is None:
        parts = find_parts(logit)
    if not parts:
        return np.zeros_like(logit, bool), 0.0, False
    if seed is None:
        best = max(parts, key=lambda q: q["mass"])  # the first of equals, as in C
    else:
        sx, sy = seed
        gy, gx = np.mgrid[0:logit.shape[0], 0:logit.shape[1]]
        d2 = (gx - sx) ** 2 + (gy - sy) ** 2
        dd = [float(np.sqrt(d2[q["m"]].min())) for q in parts]
        k = int(np.argmin(dd))
        if dd[k] > post["seed_dist"]:
            return np.zeros_like(logit, bool), 0.0, False
        best = parts[k]
    if best["peak"] < post["found_p"]:
        return np.zeros_like(logit, bool), best["peak"], False
    keep = best["m"].copy()
    if post["cluster"] > 0 and len(parts) > 1:
        dist = ndimage.distance_transform_edt(~best["m"])
        for q in parts:
            if q is not best and dist[q["m"]].min() <= post["cluster"]:
                keep |= q["m"]
    return keep, best["peak"], True


def paste(logit, keep, w, h):
    """Full-resolution mask: the kept cells' logits (others -20) sampled
    bilinearly at every pixel centre, > 0."""
    gh, gw = logit.shape
    lg = np.where(keep, logit, -20.0).astype(np.float32)
    u = ((np.arange(w, dtype=np.float32) + 0.5) * gw / w - 0.5).clip(0, gw - 1)
    v = ((np.arange(h, dtype=np.float32) + 0.5) * gh / h - 0.5).clip(0, gh - 1)
    u0 = np.minimum(u.astype(np.int32), gw - 2)
    v0 = np.minimum(v.astype(np.int32), gh - 2)
    fu, fv = u - u0, v - v0
    a = lg[v0][:, u0] + fu[None, :] * (lg[v0][:, u0 + 1] - lg[v0][:, u0])
    b = lg[v0 + 1][:, u0] + fu[None, :] * (lg[v0 + 1][:, u0 + 1] - lg[v0 + 1][:, u0])
    return (a + fv[:, None] * (b - a)) > 0


def dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * float((a & b).sum()) / s


def predict(net, it):
    """The network's logits for an item; for a list of networks (an ensemble, the
    weights file's members) the mean of their logits, as nerve_net.c averages them."""
    x = torch.from_numpy(standardise(it["grid"]))[None, None]
    with torch.no_grad():
        if isinstance(net, (list, tuple)):
            return np.mean([m(x)[0].numpy() for m in net], axis=0)
        return net(x)[0].numpy()


def score(logit, it, post, seeded=False, parts=None):
    gh, gw = logit.shape
    seed = None
    if seeded:
        ys, xs = np.nonzero(it["nerve"])
        # the operator's point: the mask centroid, in grid cells
        seed = ((xs.mean() + 0.5) * gw / it["w"] - 0.5, (ys.mean() + 0.5) * gh / it["h"] - 0.5)
    keep, conf, found = select(logit, post, seed, parts)
    m = paste(logit, keep, it["w"], it["h"]) if found else np.zeros((it["h"], it["w"]), bool)
    d = dice(m, it["nerve"])
    det = found and bool((m & it["nerve"]).any())
    return d, det, conf


# post-processing and blending, chosen on the validation split (fold 4; see choose_post and
# docs/validation.md): keep only the chosen part, found at peak >= 0.5, the point picks a part
# within 16 cells; the seeded outline blends the finder's logits at 0.3 into the crop CNN's,
# the automatic outline is refined by the crop CNN at the part's centre with a 0.5 blend
POST = dict(cluster=0, found_p=0.5, seed_dist=16, seed_blend=0.3, auto_blend=0.5)


def strip_cols(it):
    """The nerve-free strip of an item (nerve_strips.py, the rule strip_set.py uses too)."""
    return nerve_strips.strip_cols(it["nerve"])


def negative_crop(it):
    """The strip of strip_cols as an image without a nerve, on the C grid; None
    when there is none."""
    x01 = strip_cols(it)
    if x01 is None:
        return None
    x0, x1 = x01
    h = it["h"]
    g = it["grey"][:, x0:x1]
    gw = grid_width(x1 - x0, h)
    return area_resample(g, H, gw)


def choose_post(net, items, idx, log):
    """Post-processing chosen on the validation split only (fold 4): for each
    candidate (cluster distance, found threshold, seed distance) the automatic
    Dice and detection on its images, the seeded Dice, and the false finds on
    nerve-free strips of the same images (negative_crop). Rule: among candidates
    with detection >= 90 % and false finds <= 10 %, the best mean of the automatic
    and the seeded Dice."""
    logits = {i: predict(net, items[i]) for i in idx}
    parts = {i: find_parts(logits[i]) for i in idx}
    negs = []
    for i in idx:
        g = negative_crop(items[i])
        if g is not None:
            lg = predict(net, {"grid": g})
            negs.append((lg, find_parts(lg)))
    rows = []
    for cluster in (0, 4, 8, 12, 20):
        for found_p in (0.5, 0.6, 0.7, 0.8, 0.9):
            for seed_dist in (4, 8, 16):
                post = dict(cluster=cluster, found_p=found_p, seed_dist=seed_dist)
                res = evaluate(logits, items, idx, post, parts)
                ad = np.mean([res[i][0][0] for i in idx])
                det = np.mean([res[i][0][1] for i in idx])
                sd = np.mean([res[i][1][0] for i in idx])
                ff = np.mean([select(lg, post, parts=pn)[2] for lg, pn in negs]) if negs else 0.0
                rows.append((post, ad, det, sd, ff))
    ok = [r for r in rows if r[2] >= 0.9 and r[4] <= 0.10] or rows
    best = max(ok, key=lambda r: r[1] + r[3])
    for post, ad, det, sd, ff in rows:
        mark = " <- chosen" if post == best[0] else ""
        log(f"  cluster {post['cluster']:2d} found_p {post['found_p']:.1f} seed_dist "
            f"{post['seed_dist']:2d}: auto dice {ad:.3f} detection {100 * det:.1f}% seeded dice "
            f"{sd:.3f} false finds {100 * ff:.1f}% of {len(negs)}{mark}")
    return best[0]


def evaluate(net_or_logits, items, idx, post=POST, parts=None):
    res = {}
    for i in idx:
        lg = net_or_logits[i] if isinstance(net_or_logits, dict) else predict(net_or_logits, items[i])
        pt = parts[i] if parts else find_parts(lg)
        a = score(lg, items[i], post, parts=pt)
        s = score(lg, items[i], post, seeded=True, parts=pt)
        res[i] = (a, s)
    return res


def summary(res, items, log, label):
    for st in ("us", "fem"):
        ks = [i for i in res if items[i]["set"] == st]
        if not ks:
            continue
        ad = np.array([res[i][0][0] for i in ks])
        det = np.mean([res[i][0][1] for i in ks])
        sd = np.array([res[i][1][0] for i in ks])
        log(f"{label} {st} n={len(ks)}: auto mean dice {ad.mean():.3f} median {np.median(ad):.3f} "
            f"detection {100 * det:.1f}% | seeded mean dice {sd.mean():.3f}")


# ------------------------------------------------------------------ export

MAGIC = b"CNNFIND1"


def nerve_radius_cells(items):
    """Median equivalent radius (sqrt(area / pi)) of the nerve masks on the C grid
    of each image (scale 1): nerve_find.c sizes the grid of a frame with a known
    pixel size so that the configured nerve radius spans this many cells."""
    r = []
    for it in items:
        gh, gw = it["grid"].shape
        r.append(np.sqrt(it["nerve"].sum() * gh * gw / (it["h"] * it["w"]) / np.pi))
    return float(np.median(r))


def export(nets, path, r_cells, post):
    """nets: per slot, a list of networks (its ensemble's members; every slot the
    same count). Layout (little-endian; nerve_net.h describes it for the C side):
      0 char[8] "CNNFIND1"
      8 u32 networks (fold0..fold4, us, fem, live)
     12 u32 weights per network
     16 u32 grid rows H
     20 u32 levels L
     24 u32[8] channels per level (unused entries 0)
     56 f32 std floor
     60 f32 median nerve radius of the training masks, grid cells
     64 f32 found threshold (peak probability)
     68 f32 cluster distance (cells)
     72 f32 seed distance (cells)
     76 f32 weight of the finder's logits in the seeded outline (nerve_cnn.c blend)
     80 f32 automatic outline: < 0 the finder's part; else the crop CNN at its centre with the
        finder's logits blended at this weight
     84 u32 flags: bit 0 the frames were cut to the field of view (--fov-crop)
     88 u32 members: networks per slot, whose logits the C code averages (1: none)
     92 u32 reserved (0)
     96 f32 weights: per slot, per member, per layer (layer_table order, then the 1x1
        head) [out][in][3][3] then bias[out]."""
    members = len(nets[0])
    assert all(len(m) == members for m in nets) and 1 <= members <= 8
    flats = []
    for slot in nets:
        for net in slot:
            f = torch.cat([torch.cat([w.flatten(), b.flatten()]) for w, b in net.fused_layers()])
            flats.append(f.numpy().astype("<f4"))
    assert all(f.size == flats[0].size for f in flats)
    ch = list(CH) + [0] * (8 - len(CH))
    head = MAGIC + np.array([len(nets), flats[0].size, H, len(CH)] + ch, "<u4").tobytes() + \
        np.array([STD_FLOOR, r_cells, post["found_p"], post["cluster"], post["seed_dist"],
                  post["seed_blend"], post["auto_blend"]], "<f4").tobytes() + \
        np.array([1 if FOV_CROP else 0, members, 0], "<u4").tobytes()
    assert len(head) == 96
    with open(path, "wb") as f:
        f.write(head)
        for fl in flats:
            f.write(fl.tobytes())


def write_vector(nets, path, seed=7):
    """A random 1 x 32 x 48 input and the live slot's logits (its members' mean), for
    the C test."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 1, 32, 48, generator=g)
    ys = []
    with torch.no_grad():
        for net in nets:
            y = plain_forward(net.fused_layers(), CH, x)[0]
            y2 = net(x)[0]
            assert float((y - y2).abs().max()) < 1e-3, "batch-norm folding"
            ys.append(y)
    y = torch.stack(ys).mean(0)
    with open(path, "w") as f:
        f.write("/* nerve_find_vector.h - test vector for nerve_find.c (generated by\n"
                " * tools/train/train_nerve_net.py --vector): PyTorch logits of the live\n"
                f" * slot ({len(nets)} networks' mean) for a random 1 x 32 x 48 input. */\n")
        f.write("#define FIND_VEC_H 32\n#define FIND_VEC_W 48\n")
        for nm, arr in (("find_vec_in", x.numpy().ravel()), ("find_vec_out", y.numpy().ravel())):
            f.write(f"static const float {nm}[{arr.size}] = {{\n")
            for k in range(0, arr.size, 6):
                f.write("    " + ", ".join(f"{float(v):.9g}f" for v in arr[k:k + 6]) + ",\n")
            f.write("};\n")


# ------------------------------------------------------------------ main

def train_idx(items, name):
    if name.startswith("fold"):
        k = int(name[4:])
        return [i for i, it in enumerate(items) if it["fold"] != k]
    if name in ("us", "fem"):
        return [i for i, it in enumerate(items) if it["set"] == name]
    return list(range(len(items)))


def test_idx(items, name):
    if name.startswith("fold"):
        k = int(name[4:])
        return [i for i, it in enumerate(items) if it["fold"] == k]
    if name == "us":
        return [i for i, it in enumerate(items) if it["set"] == "fem"]
    if name == "fem":
        return [i for i, it in enumerate(items) if it["set"] == "us"]
    return []


def main():
    global H, CH, WIN_W, LIVE_FROM, GAMMA_RANGE, ASPECT_RANGE, FOV_CROP, FOV_BOX
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder holding nerve-us and nerve-femoral")
    ap.add_argument("--out", help="weights file to write (modules/segment/nerve_find.weights)")
    ap.add_argument("--vector", help="C header with a test vector of the live network")
    ap.add_argument("--candidate-out", help="a weights file with the first of --models in every "
                    "slot (a recipe candidate for `cryonav eval nerve --weights`; not a product "
                    "file)")
    ap.add_argument("--models", default=",".join(MODEL_NAMES), help="which networks to train")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of 32 batches of 16 for "
                    "every network (default: the shipped recipe, MODEL_EPOCHS)")
    ap.add_argument("--ckpt", default="build-train", help="folder for per-network checkpoints "
                    "(a network found there is loaded, not retrained)")
    ap.add_argument("--tag", default="", help="checkpoint name suffix for a recipe variant")
    ap.add_argument("--grid-rows", type=int, default=H)
    ap.add_argument("--us-share", type=float, default=US_SHARE, help="share of the training "
                    "samples drawn from nerve-us (the rest from nerve-femoral)")
    ap.add_argument("--neg-share", type=float, default=NEG_SHARE, help="share of the training "
                    "samples that are a nerve-free strip of a training image, target empty")
    ap.add_argument("--neg-sets", default="us,fem", help="sets whose samples --neg-share "
                    "applies to (fem: only nerve-femoral, whose frames are narrower than the "
                    "training window; nerve-us's wide frames already give nerve-free windows)")
    ap.add_argument("--neg-views", default="", help="comma-separated sources of real views "
                    "without a nerve (MetaImage sequence files or image folders, "
                    "nerve_free_views.py) whose frames become empty-target samples")
    ap.add_argument("--neg-view-share", type=float, default=0.1, help="share of the training "
                    "samples drawn from --neg-views (source uniform, then frame)")
    ap.add_argument("--fov-box", choices=("marks", "uncut"), default="marks", help="with "
                    "--fov-crop, the field-of-view rule: marks (default) leaves a scanner's text and "
                    "markers out, as the C code cuts since the eighteenth session; uncut is the rule "
                    "the shipped networks were trained with (ninth session), which their one command "
                    "names so that it rebuilds them bit for bit (13 of the 766 frames' boxes differ)")
    ap.add_argument("--fov-crop", action="store_true", help="the shipped recipe (ninth session): cut every frame to the "
                    "scanner's field of view (fov.py) before anything else, in training and "
                    "in this script's evaluation; sets the weights file's field-of-view flag, so "
                    "the C code cuts the frames alike")
    ap.add_argument("--seed-base", type=int, default=1000, help="network k's seed is this + k "
                    "(1000: the shipped networks; another base measures seed-to-seed spread)")
    ap.add_argument("--seeds", default="", help="an ensemble per slot: comma-separated seed "
                    "bases, one network each (checkpoint tag TAG for base 1000, TAG_sBASE for "
                    "the others), whose logits are averaged in evaluation and in C (the file's "
                    "members)")
    ap.add_argument("--channels", default=",".join(map(str, CH)))
    ap.add_argument("--choose-post", action="store_true", help="print the post-processing "
                    "candidates on the validation split (fold 4, with the fold4 network) and the "
                    "one the rule picks")
    ap.add_argument("--evaluate", action="store_true", help="evaluate networks loaded from "
                    "checkpoints too (a trained one always is)")
    ap.add_argument("--gamma-range", default=",".join(map(str, GAMMA_RANGE)), help="training "
                    "gamma LO,HI (log-uniform; another scanner's mid-grey rendering)")
    ap.add_argument("--aspect-range", default=",".join(map(str, ASPECT_RANGE)), help="training "
                    "pixel aspect LO,HI (log-uniform; pixels of unknown shape)")
    ap.add_argument("--live-from", default=LIVE_FROM, choices=("fold4", "all"), help="the live "
                    "slot: the fold4 network, or one trained on every image of both sets")
    ap.add_argument("--us-subset", type=float, default=1.0, help="learning curve: train on "
                    "this share of the nerve-us training images only (femoral all; default 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: on the shared 2-core "
                    "machine two OpenMP threads spun 7x the CPU time per step, measured)")
    args = ap.parse_args()
    if not 0 < args.us_subset <= 1:
        ap.error(f"--us-subset {args.us_subset:g}: a share in (0, 1]")
    LIVE_FROM = None if args.live_from == "all" else args.live_from
    for name in ("gamma_range", "aspect_range"):
        try:
            lo, hi = (float(v) for v in getattr(args, name).split(","))
        except ValueError:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: LO,HI expected")
        if not 0.2 <= lo <= 1.0 <= hi <= 5.0:
            ap.error(f"--{name.replace('_', '-')} {lo:g},{hi:g}: LO in 0.2..1, HI in 1..5")
        if name == "gamma_range":
            GAMMA_RANGE = (lo, hi)
        else:
            ASPECT_RANGE = (lo, hi)
    H = args.grid_rows
    FOV_CROP = args.fov_crop
    FOV_BOX = fov_box_uncut if args.fov_box == "uncut" else fov_box
    CH = tuple(int(c) for c in args.channels.split(","))
    assert H % (1 << (len(CH) - 1)) == 0, "grid rows must be a multiple of 2^(levels-1)"
    torch.set_num_threads(args.threads)
    log = lambda s: (print(s), sys.stdout.flush())
    t0 = time.time()
    items = load_sets(args.data)
    neg_views = load_neg_views([p for p in args.neg_views.split(",") if p], log)
    if neg_views and not 0 < args.neg_view_share < 1:
        ap.error(f"--neg-view-share {args.neg_view_share:g}: a share in (0, 1)")
    log(f"{len(items)} images ({sum(it['set'] == 'us' for it in items)} nerve-us, "
        f"{sum(it['set'] == 'fem' for it in items)} nerve-femoral) loaded in {time.time() - t0:.0f} s; "
        f"grid {H} rows, channels {CH}, {sum(p.numel() for p in Net().parameters())} parameters")
    os.makedirs(args.ckpt, exist_ok=True)
    nets = {}
    names = args.models.split(",")
    if "live" in names and LIVE_FROM:
        names = [n for n in names if n != "live"]
        if LIVE_FROM not in names:
            names.append(LIVE_FROM)
    try:
        bases = [int(v) for v in args.seeds.split(",")] if args.seeds else [args.seed_base]
    except ValueError:
        ap.error(f"--seeds {args.seeds}: comma-separated integers expected")
    if not 1 <= len(bases) <= 8 or len(set(bases)) != len(bases):
        ap.error(f"--seeds {args.seeds}: 1..8 different seed bases")
    for k, name in enumerate(names):
        epochs = args.epochs or MODEL_EPOCHS.get(name, DEFAULT_EPOCHS)
        members, any_trained = [], False
        for base in bases:
            seed = base + MODEL_NAMES.index(name)
            tag = args.tag + (f"_s{base}" if args.seeds and base != 1000 else "")
            ck = os.path.join(args.ckpt, f"find_{name}_h{H}_c{'-'.join(map(str, CH))}_e{epochs}{tag}.pt")
            net = Net()
            trained = False
            if os.path.exists(ck):
                net.load_state_dict(torch.load(ck))
                net.eval()
                log(f"{name}: loaded {ck} (its held-out figures were printed when it was trained; "
                    "--evaluate prints them again)")
            else:
                trained = any_trained = True
                tr = us_subset(items, train_idx(items, name), args.us_subset)
                log(f"{name}: training on {len(tr)} images, seed {seed}")
                net = train(items, tr, seed, epochs, log, us_share=args.us_share,
                            neg_share=args.neg_share, neg_sets=tuple(args.neg_sets.split(",")),
                            neg_views=neg_views, neg_view_share=args.neg_view_share)
                torch.save(net.state_dict(), ck)
            members.append(net)
            te = test_idx(items, name)
            if te and (trained or args.evaluate):
                summary(evaluate(net, items, te), items, log,
                        f"{name} held-out" + (f" (seed base {base})" if len(bases) > 1 else ""))
        nets[name] = members
        if name == LIVE_FROM and "live" in args.models.split(","):
            nets["live"] = members
            log(f"live: the {name} network{'s' if len(members) > 1 else ''} (LIVE_FROM)")
        te = test_idx(items, name)
        if te and len(members) > 1 and (any_trained or args.evaluate):
            summary(evaluate(members, items, te), items, log,
                    f"{name} held-out, the {len(members)} networks' mean logits")
    if args.choose_post:
        if "fold4" not in nets:
            sys.exit("--choose-post needs the fold4 network (--models ...,fold4)")
        log("post-processing on the validation split (fold 4):")
        log(f"chosen: {choose_post(nets['fold4'], items, test_idx(items, 'fold4'), log)}")
    if args.candidate_out:
        net = nets[names[0]]
        export([net] * len(MODEL_NAMES), args.candidate_out, nerve_radius_cells(items), POST)
        log(f"wrote {args.candidate_out} (the {names[0]} network{'s' if len(net) > 1 else ''} in every slot)")
    if args.out:
        missing = [m for m in MODEL_NAMES if m not in nets]
        if missing:
            sys.exit(f"export needs every network ({', '.join(missing)} missing)")
        export([nets[m] for m in MODEL_NAMES], args.out, nerve_radius_cells(items), POST)
        log(f"wrote {args.out}")
    if args.vector and "live" in nets:
        write_vector(nets["live"], args.vector)
        log(f"wrote {args.vector}")


if __name__ == "__main__":
    main()
