#!/usr/bin/env python3
"""zoom_set.py - a nerve set as another scanner's depth or zoom would show it.

Each image and its mask are resized about their centre by a factor (image
bilinear, mask nearest-neighbour, so its indices survive) and cut or padded with
black back to their own size; the pixel size is not known to the reader, as with
a frame whose spacing nobody recorded. Only the images of one fold (index in
sorted name order mod 5, as `cryonav eval nerve --folds mod`) are written, so the
network that did not see that fold can score them (`--model 4` for fold 4):

    /usr/bin/python3 tools/train/zoom_set.py ../shared/data/nerve-us /tmp/zoom0.6 0.6
    cryonav eval nerve /tmp/zoom0.6/images /tmp/zoom0.6/masks --model 4 --seeded

With --look KIND the image also takes another scanner's look (seventh session; the
masks are unchanged but for --look aspect): gamma:G (grey levels to the power G),
gain:F, blur:SIGMA (Gaussian, pixels), speckle:S (multiplicative gamma noise of
relative spread S, seed 7), ramp:A (depth gain from 1 + A at the top to 1 - A at
the bottom), jpeg:Q (JPEG quality Q), aspect:F (width x F, the mask too:
non-square pixels the reader does not know about), canvas:F (the image pasted a third of
the way across a black canvas F times its width and height, the mask with it: a screen
capture's margins), mirror:1 (left-right, the mask too; sixteenth session) and screen:F
(the same canvas with a scanner's white text at the top left
and a depth scale beside the image; eighth session). Zoom 1 with a look changes the
look alone:

    /usr/bin/python3 tools/train/zoom_set.py ../shared/data/nerve-us /tmp/g16 1 --look gamma:1.6

With --radius-mm R the images are MetaImage files carrying a pixel size (the probe's
known pixel size, as live: the unzoomed image's nerve of radius R at the finder's median
size, divided by the zoom), so the finder and the crop CNN can undo the zoom; with
--look aspect:F as well, the pixel's width is stated F times smaller (pixels that are not
square, and the file says so; sixteenth session).

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

from PIL import Image, ImageFilter  # noqa: E402

LOOKS = {"gamma": (0.3, 3.0), "gain": (0.1, 3.0), "blur": (0.1, 10.0), "speckle": (0.01, 1.0),
         "ramp": (0.0, 0.9), "jpeg": (5, 95), "aspect": (0.5, 2.0), "canvas": (1.0, 3.0),
         "screen": (1.0, 3.0), "mirror": (1.0, 1.0)}


def parse_look(text):
    """KIND:VALUE of LOOKS, or exit naming the problem."""
    kind, _, val = (text or "").partition(":")
    if kind not in LOOKS:
        sys.exit(f"zoom_set: --look {text}: unknown kind (one of {', '.join(LOOKS)}, as KIND:VALUE)")
    try:
        v = float(val)
    except ValueError:
        sys.exit(f"zoom_set: --look {text}: the value is not a number")
    lo, hi = LOOKS[kind]
    if not lo <= v <= hi:
        sys.exit(f"zoom_set: --look {text}: {kind} out of range ({lo:g}..{hi:g})")
    return kind, v


def apply_look(look, im, m):
    """The grey image (and, for aspect, the mask) as the look shows them."""
    import numpy as np
    kind, v = look
    if kind == "mirror":
        return im.transpose(Image.FLIP_LEFT_RIGHT), m.transpose(Image.FLIP_LEFT_RIGHT)
    if kind == "aspect":
        w, h = im.size
        W = max(1, int(round(w * v)))
        return im.resize((W, h), Image.BILINEAR), m.resize((W, h), Image.NEAREST)
    if kind in ("canvas", "screen"):
        from PIL import ImageDraw
        w, h = im.size
        W, H = int(round(w * v)), int(round(h * v))
        ox, oy = (W - w) // 3, (H - h) // 2
        ci, cm = Image.new("L", (W, H), 0), Image.new(m.mode, (W, H), 0)
        if m.mode == "P":
            cm.putpalette(m.getpalette())
        ci.paste(im, (ox, oy))
        cm.paste(m, (ox, oy))
        if kind == "screen":
            d = ImageDraw.Draw(ci)
            d.text((10, 10), "L12-5  12MHz  DR 60  G 52  D 4.0cm", fill=255)
            d.text((10, 30), "MI 0.8  TIs 0.2  FPS 28", fill=230)
            for t in range(0, h, max(1, h // 10)):
                d.line([(ox + w + 8, oy + t), (ox + w + 18, oy + t)], fill=255, width=2)
        return ci, cm
    if kind == "blur":
        return im.filter(ImageFilter.GaussianBlur(v)), m
    if kind == "jpeg":
        import io
        b = io.BytesIO()
        im.save(b, "JPEG", quality=int(v))
        return Image.open(io.BytesIO(b.getvalue())).convert("L"), m
    a = np.asarray(im, dtype=np.float32)
    if kind == "gamma":
        a = 255.0 * (a / 255.0) ** v
    elif kind == "gain":
        a = a * v
    elif kind == "speckle":
        a = a * np.random.default_rng(7).gamma(1 / v ** 2, v ** 2, a.shape)
    elif kind == "ramp":
        a = a * np.linspace(1 + v, 1 - v, a.shape[0], dtype=np.float32)[:, None]
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="a folder with images/ and masks/ (same names)")
    ap.add_argument("out", help="folder to write images/ and masks/ into")
    ap.add_argument("zoom", type=float, help="scale factor (0.2..5)")
    ap.add_argument("--fold", type=int, default=4, help="fold written (index mod 5)")
    ap.add_argument("--look", help="another scanner's look too: gamma:G, gain:F, blur:SIGMA, "
                    "speckle:S, ramp:A, jpeg:Q or aspect:F (the module's docstring)")
    ap.add_argument("--radius-mm", type=float, default=0.0, help="write the images as MetaImage "
                    "with a pixel size: the one at which a nerve of this radius shows at the "
                    "finder's median nerve size on the unzoomed image, divided by the zoom (the "
                    "probe's pixel size known, as live); 0: PNG, no pixel size")
    ap.add_argument("--finder-weights", default=os.path.join(os.path.dirname(__file__), "..", "..",
                    "modules", "segment", "nerve_find.weights"), help="for --radius-mm: its "
                    "header's grid rows and median nerve radius in cells")
    a = ap.parse_args()
    rows = r_cells = None
    if a.radius_mm < 0 or a.radius_mm > 50:
        sys.exit(f"zoom_set: --radius-mm {a.radius_mm} out of range (0: none, up to 50 mm)")
    if a.radius_mm > 0:
        import struct
        try:
            with open(a.finder_weights, "rb") as f:
                head = f.read(64)
        except OSError as e:
            sys.exit(f"zoom_set: {a.finder_weights}: cannot read the finder's weights ({e.strerror})")
        if len(head) < 64:
            sys.exit(f"zoom_set: {a.finder_weights}: too short for a finder weights header")
        rows, r_cells = struct.unpack("<I", head[16:20])[0], struct.unpack("<f", head[60:64])[0]
        if not (16 <= rows <= 512 and 0 < r_cells < rows):
            sys.exit(f"zoom_set: {a.finder_weights}: not a finder weights file (rows {rows}, "
                     f"median nerve radius {r_cells} cells)")
    look = parse_look(a.look) if a.look is not None else None
    if not 0.2 <= a.zoom <= 5:
        sys.exit(f"zoom_set: zoom {a.zoom} out of range (0.2..5)")
    names = sorted(os.listdir(os.path.join(a.data, "images")))
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
    written = 0
    for i, n in enumerate(names):
        if i % 5 != a.fold:
            continue
        im = Image.open(os.path.join(a.data, "images", n)).convert("L")
        m = Image.open(os.path.join(a.data, "masks", os.path.splitext(n)[0] + ".png"))
        if look:
            im, m = apply_look(look, im, m)
        w, h = im.size
        W, H = int(round(w * a.zoom)), int(round(h * a.zoom))
        ci, cm = Image.new("L", (w, h), 0), Image.new(m.mode, (w, h), 0)
        if m.mode == "P":
            cm.putpalette(m.getpalette())
        ox, oy = (w - W) // 2, (h - H) // 2
        ci.paste(im.resize((W, H), Image.BILINEAR), (ox, oy))
        cm.paste(m.resize((W, H), Image.NEAREST), (ox, oy))
        if a.radius_mm > 0:
            sp = a.radius_mm / (r_cells * h / rows) / a.zoom
            # with --look aspect:F the pixels are F times narrower, and the file says so
            spx = sp / look[1] if look and look[0] == "aspect" else sp
            base = os.path.splitext(n)[0]
            with open(os.path.join(a.out, "images", base + ".mha"), "wb") as f:
                f.write((f"ObjectType = Image\nNDims = 2\nDimSize = {w} {h}\n"
                         f"ElementSpacing = {spx:.6f} {sp:.6f}\nElementType = MET_UCHAR\n"
                         f"ElementDataFile = LOCAL\n").encode() + ci.tobytes())
        else:
            ci.save(os.path.join(a.out, "images", n))
        cm.save(os.path.join(a.out, "masks", os.path.splitext(n)[0] + ".png"))
        written += 1
    print(f"{written} images of fold {a.fold} zoomed x{a.zoom}{' with look ' + a.look if look else ''} "
          f"into {a.out}")


if __name__ == "__main__":
    main()
