#!/bin/sh
# make_fixtures.sh - rebuilds the BMP, CMYK JPEG, multi-page TIFF, GIF and NIfTI files
# test_image_read.c and test_image_damaged.c read, as the tools in use write them. BMP: python3-pil (1-bit, 8-bit palette, 32-bit RGBA, a label mask) and
# ImageMagick 6 (its default V4/V5 headers, RGB565, ARGB4444, 4-bit palette, RLE8, OS/2
# core header). Each BMP's *.ref.png is the same file decoded by gdk-pixbuf, a second
# decoder, as RGB (alpha dropped), and checked against python3-pil's decoding, a third,
# where PIL reads the file (it does not read ARGB4444): the test wants CryoNav's reading
# to match it. Not run by the tests (they read the committed files); needs imagemagick,
# python3-pil, libgdk-pixbuf-2.0-dev and a C compiler.
set -eu
cd "$(dirname "$0")"
/usr/bin/python3 - <<'PY'
import numpy as np
from PIL import Image
w, h = 37, 23                       # odd sizes: every row is padded
x, y = np.meshgrid(np.arange(w), np.arange(h))
rgb = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), ((x // 4 + y // 4) % 2) * 200 + 20], -1)
rgb[2:6, 3:9] = (255, 0, 0); rgb[8:12, 3:9] = (0, 255, 0); rgb[14:18, 3:9] = (0, 0, 255)
src = Image.fromarray(rgb.astype(np.uint8), 'RGB')
src.save('source.png')
src.convert('1').save('pil_1bit.bmp')
src.convert('RGBA').save('pil_rgba32.bmp')
src.convert('P', palette=Image.ADAPTIVE, colors=64).save('pil_pal8.bmp')
lab = np.zeros((h, w), np.uint8); lab[4:10, 5:15] = 1; lab[12:20, 20:30] = 2
m = Image.fromarray(lab, 'P'); m.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
m.save('pil_label8.bmp')             # nerve-us style: index 1 nerve, 2 vessel, colour palette
# CMYK JPEG: a grey frame-like pattern (bands, a dark round "nerve", speckle), 64 x 48
rng = np.random.default_rng(7)
gx, gy = np.meshgrid(np.arange(64), np.arange(48))
g = 40 + 120 * np.exp(-((gy - 14) / 5.0) ** 2) + 60 * (gx / 63.0)
g[(gx - 40) ** 2 + (gy - 30) ** 2 < 80] = 25
g = np.clip(g * rng.gamma(4.0, 0.25, g.shape), 0, 255).astype(np.uint8)
grey = Image.fromarray(g, 'L')
grey.save('cmyk.ref.png')
grey.convert('CMYK').save('pil_cmyk.jpg', quality=95)   # an Adobe marker, inks inverted
# stacks: three pages of a 40 x 30 grey pattern, each brighter, as an ImageJ-like
# multi-page TIFF (PIL) and, below, ImageMagick's; each page also as stack_N.ref.png
pages = []
for k in range(3):
    a = ((gx[:30, :40] * 3 + gy[:30, :40] * 2 + 40 * k) % 256).astype(np.uint8)
    a[5 + 5 * k:12 + 5 * k, 10:20] = 255
    pages.append(Image.fromarray(a, 'L'))
    pages[-1].save(f'stack_{k + 1}.ref.png')
pages[0].save('pil_stack.tif', save_all=True, append_images=pages[1:])
# damaged TIFFs ITK 5.2 reads past its buffers (test_image_damaged): a stack whose third
# page claims a width of 5 (ITK copies page 1's 40 samples a row out of a 5-byte
# buffer), and a frame whose DateTime tag is 5 bytes, not 20 (ITK copies 20)
import struct
from PIL import TiffImagePlugin
d = bytearray(open('pil_stack.tif', 'rb').read())
off, page = struct.unpack('<I', d[4:8])[0], 0
while off:
    n = struct.unpack('<H', d[off:off + 2])[0]
    for i in range(n):
        e = off + 2 + 12 * i
        tag, typ = struct.unpack('<HH', d[e:e + 4])
        if page == 2 and tag == 256:
            d[e + 8:e + 12] = struct.pack('<I', 5) if typ == 4 else struct.pack('<HH', 5, 0)
    off, page = struct.unpack('<I', d[off + 2 + 12 * n:off + 6 + 12 * n])[0], page + 1
open('bad_narrow_page.tif', 'wb').write(bytes(d))
ifd = TiffImagePlugin.ImageFileDirectory_v2()
ifd[306] = '2026'
pages[0].save('bad_short_datetime.tif', tiffinfo=ifd)
# NIfTI (the reader's own decoder; no tool here writes it, so by its header's layout):
# the three pages as a 12-bit stack in 16 bits, gzip-compressed, and page 1 as
# big-endian signed 16 with a scale (scl_slope 0.5)
import gzip, struct
def nifti(path, arr, dtype_code, bitpix, fmt, slope=0.0, big=False):
    e = '>' if big else '<'
    hdr = bytearray(352)
    struct.pack_into(e + 'i', hdr, 0, 348)
    dims = [arr.ndim] + list(arr.shape[::-1]) + [1] * (7 - arr.ndim)
    struct.pack_into(e + '8h', hdr, 40, *dims)
    struct.pack_into(e + 'hh', hdr, 70, dtype_code, bitpix)
    struct.pack_into(e + '8f', hdr, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into(e + 'fff', hdr, 108, 352, slope, 0)
    hdr[123] = 2
    hdr[344:348] = b'n+1\0'
    data = arr.astype(e + fmt).tobytes()
    (gzip.open if path.endswith('.gz') else open)(path, 'wb').write(bytes(hdr) + data)
cine = np.stack([np.array(p_, np.uint16) * 16 for p_ in pages])
nifti('py_cine.nii.gz', cine, 512, 16, 'u2')
nifti('py_be16.nii', np.array(pages[0], np.int16) * 2, 4, 16, 'i2', slope=0.5, big=True)
PY
convert stack_1.ref.png stack_2.ref.png stack_3.ref.png -compress lzw im_stack.tif
convert cmyk.ref.png -colorspace CMYK -quality 95 im_cmyk.jpg
convert source.png -type TrueColor im_v5_24.bmp
convert source.png -alpha set -type TrueColorAlpha im_v5_32a.bmp
convert source.png -type TrueColor -define bmp:subtype=RGB565 im_565.bmp
convert source.png -alpha set -type TrueColorAlpha -define bmp:subtype=ARGB4444 im_4444.bmp
convert source.png -colors 16 -type Palette BMP3:im_pal4.bmp
convert source.png -colors 200 -type Palette -compress RLE BMP3:im_rle8.bmp
convert source.png -colors 200 -type Palette im_v5_rle8.bmp
convert source.png -type TrueColor BMP2:im_core24.bmp
# GIF (image_read_gif.c): a three-frame animation and an interlaced colour frame; TIFF
# kinds for image_read_tiff.c's damage screen: tiles, planes
convert -delay 5 -loop 0 stack_1.ref.png stack_2.ref.png stack_3.ref.png im_cine.gif
convert source.png -interlace GIF im_interlaced.gif
convert stack_1.ref.png -define tiff:tile-geometry=16x16 -compress zip im_tiled.tif
convert source.png -interlace plane im_planar.tif
rm source.png
tmp=$(mktemp -d)
cat > "$tmp/ref.c" <<'C'
#include <gdk-pixbuf/gdk-pixbuf.h>
int main(int argc, char **argv) {
  GError *e = NULL;
  GdkPixbuf *p = gdk_pixbuf_new_from_file(argv[1], &e);
  if (!p) return 1;
  int w = gdk_pixbuf_get_width(p), h = gdk_pixbuf_get_height(p), n = gdk_pixbuf_get_n_channels(p);
  GdkPixbuf *q = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, w, h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        gdk_pixbuf_get_pixels(q)[y * gdk_pixbuf_get_rowstride(q) + 3 * x + c] =
            gdk_pixbuf_read_pixels(p)[y * gdk_pixbuf_get_rowstride(p) + n * x + c];
  return gdk_pixbuf_save(q, argv[2], "png", &e, NULL) ? 0 : 1;
}
C
cc "$tmp/ref.c" -o "$tmp/ref" $(pkg-config --cflags --libs gdk-pixbuf-2.0)
for f in *.bmp; do
  "$tmp/ref" "$f" "${f%.bmp}.ref.png"
  /usr/bin/python3 - "$f" "${f%.bmp}.ref.png" <<'PY'
import sys, numpy as np
from PIL import Image
ref = np.asarray(Image.open(sys.argv[2]).convert('RGB'), int)
try:
    pil = np.asarray(Image.open(sys.argv[1]).convert('RGB'), int)
    print(sys.argv[1], 'gdk-pixbuf vs PIL: largest difference', np.abs(pil - ref).max())
except OSError as e:
    print(sys.argv[1], 'PIL cannot read it:', e)
PY
done
rm -rf "$tmp"
file *.bmp *.jpg *.tif
