#!/usr/bin/python3
"""choose_weights.py - the recipe behind the needle detector's evidence weights and
operating point (modules/segment/needle.c: evidence(), ND_Z_OPERATING).

Reads the candidate dumps of build/modules/segment/needle_dev (stderr), scores
every candidate with

  z = w0 (bright - 2) + w1 (contrast - 1) + w2 (0.7 - resid) + w3 ln(support / 60)
      + w4 min(ln(len / (0.15 W)), 1) - w5 max(0, 4.5 - |angle|)

(contrast: above the tissue only for the coarse, thick-probe candidates), picks per
frame the best candidate, and grid-searches the weights on the FIRST file (the
development split) for the most right detections while wrong lines plus detections
on empty frames stay at most 5 % of its frames; the operating point is the evidence
at that limit. The other files are then only reported (right / wrong / false).

    build/modules/segment/needle_dev sim 1 150 2> dev.txt       # development split
    build/modules/segment/needle_dev sim 1001 150 2> report.txt # reported split
    D=../shared/data/needle-us/xgts
    build/modules/segment/needle_dev real $D/sample/needle_14/image $D/sample/needle_14/mask 2> vitro.txt
    /usr/bin/python3 tools/needle/choose_weights.py dev.txt report.txt vitro.txt

A right detection: within 5 deg of the true direction and with the true tip within
radius + 1 mm of the line (simulator; the line is the front wall), or within
5 deg and 10 px of the mask's axis (real frames, spacing 0.1 mm). Needs
python3-numpy (Debian). Single-threaded, ~1 min.
"""
import itertools
import math
import sys

import numpy as np


def parse(path):
    frames, cur = [], None
    for line in open(path):
        t = line.split()
        if line.startswith('FRAME'):
            i = t.index('TRUTH')
            kv = dict(zip(t[1:i:2], t[2:i:2]))
            cur = {'vis': float(kv['vis_mm']), 'sp': float(kv['sp']), 'diam': float(kv['diam']),
                   'w': float(kv['w']),
                   'tx': float(t[i + 1]), 'ty': float(t[i + 2]), 'dx': float(t[i + 3]),
                   'dy': float(t[i + 4]), 'cands': []}
            frames.append(cur)
        elif line.startswith('  cand') and cur is not None:
            c = {'ok': t[2] == 'ok'}
            for k in ['crs', 'ang', 'sup', 'fill', 'res', 'con', 'bri', 'cu', 'len']:
                c[k] = float(t[t.index(k) + 1])
            j = t.index('LINE')
            c['x0'], c['y0'], c['x1'], c['y1'] = map(float, t[j + 1:j + 5])
            cur['cands'].append(c)
    return frames


def right(f, c):
    if f['vis'] <= 0:
        return False
    ux, uy = c['x1'] - c['x0'], c['y1'] - c['y0']
    n = math.hypot(ux, uy)
    if n < 1:
        return False
    ux, uy = ux / n, uy / n
    ang = math.degrees(math.acos(min(1.0, abs(ux * f['dx'] + uy * f['dy']))))
    dist = abs(-(f['tx'] - c['x0']) * uy + (f['ty'] - c['y0']) * ux) * f['sp']
    return ang <= 5 and dist <= 0.5 * f['diam'] + 1.0


def features(c, width):
    con = c['cu'] if c['crs'] > 0.5 else c['con']
    return [c['bri'] - 2.0, con - 1.0, 0.7 - min(c['res'], 3), math.log(max(c['sup'], 1) / 60),
            min(math.log(max(c['len'], 1) / (0.15 * width)), 1.0), -max(0.0, 4.5 - abs(c['ang']))]


def load(path):
    out = []
    for f in parse(path):
        pos, neg = f['vis'] >= 3, f['vis'] <= 0
        if not pos and not neg:
            continue
        ok = [c for c in f['cands'] if c['ok']]
        X = np.array([features(c, f['w']) for c in ok]) if ok else np.zeros((0, 6))
        out.append((pos, X, np.array([right(f, c) for c in ok], bool)))
    return out


def best_z(F, w):
    rows = []
    for pos, X, Y in F:
        if len(X) == 0:
            continue
        z = X @ w
        j = int(np.argmax(z))
        rows.append((z[j], pos and bool(Y[j])))
    return rows


def tally(F, w, thr):
    h = wr = fa = npos = nneg = 0
    for pos, X, Y in F:
        npos += pos
        nneg += not pos
        if len(X) == 0:
            continue
        z = X @ w
        j = int(np.argmax(z))
        if z[j] >= thr:
            if pos and Y[j]:
                h += 1
            elif pos:
                wr += 1
            else:
                fa += 1
    return h, npos, wr, fa, nneg


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    dev = load(sys.argv[1])
    best = None
    grid = itertools.product([0.5, 1, 2], [0, 0.5, 1, 2], [0, 1, 2, 3], [0, 0.5, 1], [0, 1, 2],
                             [0, 1, 2, 4])
    for w in grid:
        w = np.array(w, float)
        rows = sorted(best_z(dev, w), key=lambda r: -r[0])
        err = hits = 0
        thr = None
        for z, ok in rows:
            err += not ok
            hits += ok
            if err > 0.05 * len(dev):
                break
            thr, got = z, hits
        if thr is not None and (best is None or got > best[0]):
            best = (got, w, thr)
    _, w, thr = best
    print('weights (bright, contrast, resid, support, length, angle):', w, 'operating z %.2f' % thr)
    for path in sys.argv[1:]:
        h, npos, wr, fa, nneg = tally(load(path), w, thr)
        print('  %s: right %d/%d, wrong lines %d, detections on empty frames %d/%d'
              % (path, h, npos, wr, fa, nneg))


if __name__ == '__main__':
    main()
