#!/usr/bin/python3
"""
train_nerve_cnn.py - trains the seeded nerve CNN of modules/segment (nerve_cnn.c)
on nerve-us and writes its weights file (nerve_cnn.weights, compiled into the
library by cmake/embed_bytes.cmake).

The idea: the operator's point (in `cryonav eval nerve --seeded`, the centroid
of the true mask) centres a square crop whose side is a fixed fraction of the
image (the images carry no pixel spacing, so the crop follows the image size);
the crop is resampled to N x N grey levels (2x2 box then bilinear, exactly as
nerve_cnn.c does), standardised, and given with a second channel, a Gaussian at
the centre (where the operator pointed). A tiny U-Net (3x3 convolutions, ReLU,
2x2 max pooling, nearest upsampling with additive skips) outputs a nerve logit
per crop pixel; nerve_cnn.c pastes it back bilinearly and keeps every connected
part near the seed (multi-part nerves are common).

Recipe: BCE + soft Dice on the nerve; a second output learns the vessels (mask
index 2, weight 0.5) and is dropped at export; augmentation by seed shift, crop
scale, rotation (+-15 deg), horizontal flip, gamma and grey noise; each model is
R = 2 networks trained alike from different seeds whose logits nerve_cnn.c
averages (an ensemble: less seed-to-seed variance).

Split: 5-fold by file index (fold = index in sorted name order mod 5), the same
folds as `cryonav eval nerve --kfold 5`. One model per fold is trained on the
other four folds; the live model ("all") is trained on all 204 images. Every
run is deterministic (fixed seeds, one thread).

Needs Debian's python3-torch, python3-numpy, python3-pil (training only; the
C build and the tests do not need them). Use Debian's interpreter
(/usr/bin/python3) if another python3 comes first on PATH. About 3-5 minutes per
network single-threaded (150 epochs), 12 networks; two processes can share the
work through --ckpt, e.g. `--folds 0,1,2 --ckpt D --no-export` and `--folds
3,4,all --ckpt D --no-export`, then the command below with `--ckpt D` only loads
and exports:

    /usr/bin/python3 tools/train/train_nerve_cnn.py --data ../shared/data/nerve-us \
        --out modules/segment/nerve_cnn.weights \
        --vector tests/unit/segment/nerve_cnn_vector.h
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

N = 64            # crop grid (pixels per side)
CROP_FRAC = 0.6   # crop side = CROP_FRAC * min(image width, height)
SEED_SIGMA = 8.0  # seed channel Gaussian sigma, grid pixels
STD_FLOOR = 4.0   # grey-level std floor of the standardisation
KFOLD = 5
CH = (8, 16, 32, 32)
ROT_DEG = 15.0    # augmentation: crop grid rotated by up to +-ROT_DEG (probe tilt)
VESSEL_AUX = 0.5  # weight of an auxiliary vessel output (mask index 2) while training:
                  # vessels are the nerve's usual look-alike, naming them teaches "not nerve"


# ------------------------------------------------------------------ data

def load(data):
    names = sorted(f for f in os.listdir(os.path.join(data, "images")) if f.endswith(".png"))
    items = []
    for n in names:
        g = np.asarray(Image.open(os.path.join(data, "images", n)).convert("L"), dtype=np.uint8)
        m = np.asarray(Image.open(os.path.join(data, "masks", n)))
        assert m.shape == g.shape, n
        ves = (m == 2).astype(np.float32)
        m = (m == 1).astype(np.float32)
        ys, xs = np.nonzero(m)
        h, w = g.shape
        # the 2x2 box of cn_img_downsample2: (a+b+c+d+2)>>2
        h2, w2 = h // 2, w // 2
        a = g[:2 * h2, :2 * w2].astype(np.int32)
        half = ((a[0::2, 0::2] + a[0::2, 1::2] + a[1::2, 0::2] + a[1::2, 1::2] + 2) >> 2)
        items.append(dict(name=n, g=g, half=half.astype(np.float32), mask=m, vessel=ves,
                          cx=xs.mean(), cy=ys.mean(), w=w, h=h))
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
    side = CROP_FRAC * min(it["w"], it["h"]) * scale
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


def make_input(it, cx, cy, scale=1.0, flip=False, gamma=1.0, noise=0.0, rng=None, rot=0.0):
    xs, ys, _ = crop_grid(it, cx, cy, scale, flip, rot)
    g = bilinear(it["half"], (xs - 0.5) / 2, (ys - 0.5) / 2)
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

def batch(items, idx, rng, augment):
    xs, ts = [], []
    for i in idx:
        it = items[i]
        if augment:
            side = CROP_FRAC * min(it["w"], it["h"])
            cx = it["cx"] + rng.uniform(-0.04, 0.04) * side
            cy = it["cy"] + rng.uniform(-0.04, 0.04) * side
            x, t = make_input(it, cx, cy, scale=float(np.exp(rng.uniform(-0.2, 0.2))),
                              flip=bool(rng.integers(2)),
                              gamma=float(np.exp(rng.uniform(-0.25, 0.25))),
                              noise=float(rng.uniform(0, 6)), rng=rng,
                              rot=float(np.radians(rng.uniform(-ROT_DEG, ROT_DEG))))
        else:
            x, t = make_input(it, it["cx"], it["cy"])
        xs.append(x)
        ts.append(t)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


def loss_fn(logit, t):
    bce = F.binary_cross_entropy_with_logits(logit, t)
    p = torch.sigmoid(logit)
    inter = (p * t).sum(dim=(1, 2))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(1, 2)) + t.sum(dim=(1, 2)) + 1)
    return bce + dice.mean()


def train(items, train_idx, seed, epochs, log):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    bs = 16
    steps = epochs * ((len(train_idx) + bs - 1) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps,
                                                pct_start=0.15)
    t0 = time.time()
    for ep in range(epochs):
        perm = rng.permutation(train_idx)
        tot = 0.0
        for b in range(0, len(perm), bs):
            x, t = batch(items, perm[b:b + bs], rng, True)
            out = net(x)
            if VESSEL_AUX:
                loss = loss_fn(out[:, 0], t[:, 0]) + VESSEL_AUX * \
                    F.binary_cross_entropy_with_logits(out[:, 1], t[:, 1])
            else:
                loss = loss_fn(out, t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(perm[b:b + bs])
        if ep % 10 == 9 or ep == epochs - 1:
            log(f"  epoch {ep + 1}/{epochs} loss {tot / len(perm):.4f} ({time.time() - t0:.0f} s)")
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
    side = CROP_FRAC * min(w, h)
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
    head = b"CNNERVE1" + np.array([len(flats), flats[0].size, N], "<u4").tobytes() + \
        np.array([CROP_FRAC, SEED_SIGMA, STD_FLOOR], "<f4").tobytes() + np.array(CH, "<u4").tobytes()
    assert len(head) == 48
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


def main():
    global CROP_FRAC, N, SEEDCH, ROT_DEG, VESSEL_AUX
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="weights file (modules/segment/nerve_cnn.weights)")
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
    ap.add_argument("--rot-deg", type=float, default=ROT_DEG, help="rotation augmentation, deg")
    ap.add_argument("--vessel-aux", type=float, default=VESSEL_AUX, help="weight of the "
                    "auxiliary vessel output while training (0: none)")
    ap.add_argument("--tag", default="", help="checkpoint name suffix for a recipe variant")
    args = ap.parse_args()
    ROT_DEG = args.rot_deg
    VESSEL_AUX = args.vessel_aux
    CROP_FRAC = args.crop_frac
    N = args.grid
    SEEDCH = seed_channel()
    torch.set_num_threads(1)
    log = lambda s: (print(s), sys.stdout.flush())
    items = load(args.data)
    n = len(items)
    log(f"{n} images; crop {CROP_FRAC} x min side -> {N}x{N}; "
        f"{sum(p.numel() for p in Net().parameters())} parameters")
    models, held = [], {}
    for f in args.folds.split(","):
        if f == "all":
            tr = list(range(n))
        else:
            tr = [i for i in range(n) if i % KFOLD != int(f)]
        nets = []
        for r in range(args.replicas):
            tag = (f"_r{r}" if r else "") + args.tag
            ck = os.path.join(args.ckpt, f"model_{f}_e{args.epochs}{tag}.pt") if args.ckpt else None
            if ck and os.path.exists(ck):
                net = Net()
                net.load_state_dict(torch.load(ck))
                log(f"fold {f} replica {r}: loaded {ck}")
            else:
                log(f"fold {f} replica {r}: training on {len(tr)} images")
                net = train(items, tr, 1000 + 100 * r + (KFOLD if f == "all" else int(f)),
                            args.epochs, log)
                if ck:
                    torch.save(net.state_dict(), ck)
            net.eval()
            nets.append(net)
        models.append(("all" if f == "all" else f"fold{f}", nets))
        if f != "all":
            te = [i for i in range(n) if i % KFOLD == int(f)]
            with torch.no_grad():
                x, _ = batch(items, te, None, False)
                logits = (sum(net(x) for net in nets) / len(nets)).numpy()
            ds = [dice(paste_mask(items[i], logits[k]), items[i]["mask"]) for k, i in enumerate(te)]
            for k, i in enumerate(te):
                held[i] = ds[k]
            log(f"fold {f}: held-out mean dice {np.mean(ds):.3f} median {np.median(ds):.3f}")
    if held:
        v = np.array(list(held.values()))
        log(f"held-out over {len(v)} images: mean dice {v.mean():.3f} median {np.median(v):.3f}")
    if args.no_export:
        return
    if [m for m, _ in models] != [f"fold{k}" for k in range(KFOLD)] + ["all"]:
        sys.exit("export needs --folds 0,1,2,3,4,all (nerve_cnn.c expects six models)")
    export_weights(models, args.out)
    log(f"wrote {args.out}")
    if args.vector:
        write_vector(models[-1][1], args.vector, 7)
        log(f"wrote {args.vector}")


if __name__ == "__main__":
    main()
