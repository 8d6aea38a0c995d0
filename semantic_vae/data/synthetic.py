"""Procedural CelebAMask-HQ-style face label maps (19 classes, ids as in `semantic_vae.labels`).

Drawing model
-------------
Every mask has its own random stream, ``np.random.default_rng([seed, index])`` (400 uniform numbers drawn
in one call), so a mask depends on nothing but (seed, index, size). A face is sketched in a canonical
256x256 frame *aligned as CelebA-HQ is*: the crops are aligned on the eyes and the mouth, so the eye
centres stay within about a pixel of (97, 122) and (159, 122) while the outline, hair, neck and clothes
move. The person's left (l_eye, l_brow, l_ear) is on the image right, as in the real masks.

Every part is a closed uniform cubic B-spline through a few control points (4 polygon vertices per
span; a control repeated two or three times makes a corner, as at the corners of the eyes and lips and
the tips of hair locks), so outlines are smooth at any size:

* face: an outline with cheekbones, a jaw and a rounded chin; a nose with a bridge, a tip and two
  alae with nostril notches; almond eyes with a fuller upper lid; brows that arch and taper to a tail;
  an upper lip with a cupid's bow, a fuller lower lip and, for an open mouth, the inner mouth between
  them; ears that lean out at the top, narrow to a lobe and often have their top or back rim under
  the hair;
* hair: a crown between round and boxy with lumps (and for curly hair a ragged edge), short (ending
  above the chin, ears free), medium (to the shoulders) or long (past the picture, in two curtains
  over the shoulders, one sometimes tucked behind); a hairline that is parted (centre or side), a
  fringe of pointed locks, swept over one brow, or combed back; flyaway strands; sometimes a lock
  over one eye; the hair behind the head and shoulders is painted first;
* body (its own frame, which follows the turn and rolls up to ~6 deg about the chin): a neck as wide
  as the jaw, clothes whose shoulders may drop out of the picture on either side, a neckline;
* accessories: eyeglasses (lenses, bridge, arms; a third are dark and hide the eyes and brows), a hat
  over the hair, earrings (drops or hoops) hanging from visible ears, a necklace under the clothes.

The head turns (yaw) like a sphere: points on the face move by x cos + (z + depth - R) sin, where z is
the sphere's depth and `depth` what stands proud of it (the nose tip most, the lips a little), and the
whole is shifted so that the eyes stay centred; points of the outline (face sides, hair, ears, hat)
move against the turn and the near side widens. The far ear hides from sin(yaw) > 0.12 and the far
eye behind the nose from 0.3. The head rolls by at most ~1 deg (the crops are aligned on the eyes).

Painting order (later overwrites earlier; the official merge order where parts overlap, except that a
visible ear goes over the hair tucked behind it): hair behind, neck, necklace, clothes, skin, nose,
eyeglasses, eyes, brows, mouth, lips, hair in front (with strands and lock), ears, hat, earrings.

Calibration
-----------
Numbers taken from the 21 real label maps of ``/work/shared/data/celebamask_hq_samples`` resized to 256
(per-class statistics only: presence counts, bounding-box and centroid means and spreads, row widths;
`semantic-vae data compare` prints most of them), tuned until the generated masks show the same
values; the README's dataset rates where 21 masks are too few. In canonical 256 px:

* eye centres y 122.1 +- 0.8, x 97.0 / 159.4 +- 2; eye boxes 23 x 10, area 147 +- 47 (openness);
* brow boxes y 100.5-114.8, x 139.6-183.8 (l_brow), area 335 +- 150 (thickness);
* nose y 118.7 +- 2.6 to 171.0 +- 3.2, width 38 +- 3.7; widths at 25/50/80/95% of its height 19/25/38/25;
* upper lip y 182.0-190.6, lower lip 187.4-203.0, width 53 +- 4; open mouth in 9 of 21, y 187-195;
* skin top 49 +- 14, chin 236 +- 5.5, sides 61 +- 10 / 197 +- 12; skin widths at y = 120, 150, 175,
  190, 210, 230: 128, 132, 126, 117, 91, 48;
* turn: the face outline's centre minus the eye midpoint is within +-6 px in 14 of 21, beyond 20 px
  in 3 (at most 34); the eye line's roll has a spread of 0.9 deg;
* ears in 11 of 21 each, y 120 +- 16 to 165 +- 7.5, 20 wide, area 515 +- 310; visible sides by hair
  length: 12 of 12 short, 5 of 8 medium, 5 of 22 long;
* hair ends past the picture in 11 of 21, at y 190-215 in 4, at 149-170 in 6; top 1.8 +- 5.7, sides
  24 +- 28 / 238 +- 18; pixels per row at y = 10, 40, 70, 100: 122, 161, 104, 87;
* neck top 191 +- 16, width ~100 at y = 215, area 3060 +- 730;
* clothes in 15 of 21 (5 of 11 with long hair, 10 of 10 otherwise), top 207 +- 22, centroid y 0.94,
  height 0.19 +- 0.09 and width 0.60 +- 0.32 of the side (5 of 15 on one side only);
* eyes missing in 2 of 21 (dark glasses, a strong turn), brows in 2 (dark glasses, hair);
* rare parts: eyeglasses 1 in 20 and hats 1 in 30 (README, dataset-wide); earrings in 2 of 21, both
  on one side only (worn mostly with long hair here); a necklace in 1 of 21 at 512 px and none at 256
  (thin chains, mostly under the neck and clothes in the official merge order): 2% here.

Exactness: coordinates go through + - * / and sqrt only (IEEE-exact everywhere; the unit circle is
rounded to 2^-20 once, the spline weights are polynomials of t = j/4 over 6), are scaled by size/256
and rounded to 1/16 px, and are filled by ``cv2.fillPoly`` with ``LINE_8`` (integer scan conversion,
no anti-aliasing). The same (seed, index, size) gives the same array in any process on any machine,
and every size draws the same layout.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

GENERATOR_VERSION = "2"
HELDOUT_START = 10_000_000  # masks from this index on are in no training split (caches hold indices 0..count-1)

_SHIFT = 4  # fillPoly fixed-point bits: vertices in 1/16 px
_DRAWS = 400  # uniform numbers drawn per mask, in one call (a mask uses at most ~190)
_SPAN = 4  # polygon vertices per spline span

# -- the spline engine ------------------------------------------------------------------------
# Closed uniform cubic B-splines: the vertex at t = j/4 of span i is sum_d w_d(t) P[i - 1 + d].
# t is exact in binary, so the weights are the same on every machine.
_T = np.arange(_SPAN, dtype=np.float64) / _SPAN
_WEIGHTS = [
    w.reshape(1, _SPAN, 1)
    for w in (
        (1.0 - _T) * (1.0 - _T) * (1.0 - _T) / 6.0,
        (3.0 * _T * _T * _T - 6.0 * _T * _T + 4.0) / 6.0,
        (-3.0 * _T * _T * _T + 3.0 * _T * _T + 3.0 * _T + 1.0) / 6.0,
        _T * _T * _T / 6.0,
    )
]
_NEIGHBOURS: dict[int, np.ndarray] = {}


def _neighbours(k: int) -> np.ndarray:
    """(4, k): the controls each span of a closed k-control spline reads."""
    table = _NEIGHBOURS.get(k)
    if table is None:
        table = _NEIGHBOURS[k] = np.stack([(np.arange(k) + d) % k for d in (-1, 0, 1, 2)])
    return table


class _Pose:
    """The head's turn (yaw) and the two frames: canonical 256 units -> 1/16 px at the output size."""

    def __init__(self, mx: float, s: float, radius: float, eye_dx: float) -> None:
        self.mx, self.s, self.radius = mx, s, radius
        self.c = math.sqrt(1.0 - s * s)
        self.shift0 = (math.sqrt(radius * radius - eye_dx * eye_dx) - radius) * s  # keeps the eyes centred
        self.near, self.far = 1.0 + 0.45 * abs(s), 1.0 - 0.1 * abs(s)
        self.head = self.body = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    def turn(self, x: np.ndarray, front: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """x after the turn: on the face (front = 1) points move with a sphere, `depth` px proud of it;
        on the outline (front = 0) they move against the turn and the near side widens."""
        xr = x - self.mx
        z = np.sqrt(np.maximum(self.radius * self.radius - xr * xr, 0.0))
        on_face = xr * self.c + (z + depth - self.radius) * self.s
        outline = xr * np.where(xr * self.s < 0.0, self.near, self.far) - self.radius * self.s
        return (self.mx - self.shift0) + outline + (on_face - outline) * front


def _affine(
    size: int, scale: float, sin_roll: float, dx: float, dy: float, pivot: tuple[float, float]
) -> tuple[float, ...]:
    """Canonical -> 1/16 px: rotate and scale about `pivot`, shift, then fit to `size`."""
    k = size / 256.0 * (1 << _SHIFT)
    cos_roll = math.sqrt(1.0 - sin_roll * sin_roll)
    a, b, c, d = scale * cos_roll, -scale * sin_roll, scale * sin_roll, scale * cos_roll
    px, py = pivot
    return (k * a, k * b, k * (px + dx - a * px - b * py), k * c, k * d, k * (py + dy - c * px - d * py))


class _Sketch:
    """Closed spline outlines in painting order, with their controls before the turn."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, bool, list[tuple[float, float]], float | list[float], float | list[float]]] = []

    def add(
        self,
        label: int,
        points: list[tuple[float, float]],
        front: float | list[float] = 1.0,
        depth: float | list[float] = 0.0,
        body: bool = False,
        first: bool = False,
    ) -> None:
        """`front`: 1 on the face surface, 0 on the head's outline (per part or per point); `depth`: px in
        front of the head's sphere; `body`: in the body frame, which does not turn (the body parts are added
        one after the other); `first`: paint before everything."""
        part = (label, body, points, front, depth)
        if first:
            self.parts.insert(0, part)
        else:
            self.parts.append(part)

    def render(self, size: int, pose: _Pose) -> np.ndarray:
        parts = self.parts
        counts = [len(p[2]) for p in parts]
        xy = np.array(
            list(itertools.chain.from_iterable(itertools.chain.from_iterable(p[2] for p in parts))), np.float64
        )
        front: list[float] = []
        depth: list[float] = []
        for (_, _, _, f, d), k in zip(parts, counts):
            front.extend(f if isinstance(f, list) else [f] * k)
            depth.extend(d if isinstance(d, list) else [d] * k)
        x, y = xy[0::2], xy[1::2]
        xt = pose.turn(x, np.array(front), np.array(depth))
        h, b = pose.head, pose.body
        controls = np.empty((len(x), 2))  # affine maps commute with splines: transform the controls
        controls[:, 0] = h[0] * xt + h[1] * y + h[2]
        controls[:, 1] = h[3] * xt + h[4] * y + h[5]
        starts = list(itertools.accumulate(counts, initial=0))
        body = [i for i, p in enumerate(parts) if p[1]]  # one run of parts (see `add`)
        if body:
            lo, hi = starts[body[0]], starts[body[-1] + 1]
            bx, by = x[lo:hi], y[lo:hi]
            controls[lo:hi, 0] = b[0] * bx + b[1] * by + b[2]
            controls[lo:hi, 1] = b[3] * bx + b[4] * by + b[5]
        index = np.concatenate([_neighbours(k) for k in counts], axis=1) + np.repeat(starts[:-1], counts)
        q = controls[index]  # (4, N, 2)
        w0, w1, w2, w3 = _WEIGHTS
        vertices = q[0][:, None] * w0 + q[1][:, None] * w1 + q[2][:, None] * w2 + q[3][:, None] * w3  # (N, 4, 2)
        pixels = np.rint(vertices.reshape(-1, 2)).astype(np.int32)
        canvas = np.zeros((size, size), np.uint8)
        for (label, *_), start, end in zip(parts, starts, starts[1:]):
            cv2.fillPoly(canvas, [pixels[start * _SPAN : end * _SPAN]], label, cv2.LINE_8, _SHIFT)
        return canvas


class _Random:
    """The mask's uniform numbers, drawn in one call and handed out in order."""

    __slots__ = ("i", "values")

    def __init__(self, seed: int, index: int) -> None:
        self.values = np.random.default_rng([seed, index]).random(_DRAWS).tolist()
        self.i = 0

    def __call__(self, a: float = 0.0, b: float = 1.0) -> float:
        v = self.values[self.i]
        self.i += 1
        return a + (b - a) * v

    def chance(self, p: float) -> bool:
        return self() < p

    def sign(self) -> float:
        return 1.0 if self() < 0.5 else -1.0


def _mirror(right: list[tuple[float, float]], cx: float) -> list[tuple[float, float]]:
    """Right half (top to bottom) -> a closed outline symmetric about x = cx."""
    return right + [(2.0 * cx - x, y) for x, y in reversed(right)]


def _sweep(right: list[tuple[float, float, float]], cx: float) -> tuple[list[tuple[float, float]], list[float]]:
    """(dx, y, front) of the right half from the top centre down to the bottom centre -> closed outline, fronts."""
    points = [(cx + dx, y) for dx, y, _ in right] + [(cx - dx, y) for dx, y, _ in reversed(right[1:])]
    fronts = [b for _, _, b in right] + [b for _, _, b in reversed(right[1:])]
    return points, fronts


# -- the face ---------------------------------------------------------------------------------
_ANGLES = np.linspace(0.0, 2.0 * np.pi, 40, endpoint=False)
# Unit circle from +x, going down first (screen y points down); rounded so that a last-bit
# difference in a platform's cos/sin cannot move a vertex.
_CIRCLE = [tuple(p) for p in (np.round(np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], 1) * 2**20) / 2**20).tolist()]
_HAIR_ARC = [_CIRCLE[j % 40] for j in range(20, 41)]  # left -> top -> right, 21 directions
_HAIR_BOX = [
    (0.5 * (x + math.copysign(math.sqrt(abs(x)), x)), 0.5 * (y + math.copysign(math.sqrt(abs(y)), y)))
    for x, y in _HAIR_ARC
]
_HOOP = [_CIRCLE[j] for j in range(34, 40)] + [_CIRCLE[j] for j in range(0, 27)]  # a ring open at the top
_STYLES = ("long", "medium", "short")
_HAIRLINES = ("parted", "fringe", "swept", "back")


class _Face:
    """The random layout of one face in the canonical (aligned) 256 frame."""

    def __init__(self, r: _Random) -> None:
        self.r = r
        # Alignment: CelebA-HQ crops are aligned on the eyes and the mouth, so the inner face barely moves.
        # Eye centroids of the 21 samples (256 px): y 122.1 +- 0.8, x 97.0 +- 2.4 and 159.4 +- 1.9.
        self.mx = 128.2 + r(-1.2, 1.2)
        self.eye_y = 122.2 + r(-1.3, 1.3)
        self.eye_dx = 31.2 + r(-2.4, 2.4)
        # sin(yaw): the samples' outline centre minus eye midpoint is within 6 px in 14 of 21, past 20 px in 3
        # (34 at most, which a head radius of ~75 px gives at sin 0.45).
        t = r(-1.0, 1.0)
        self.s = 0.36 * t * t * t + 0.06 * r(-1.0, 1.0)
        self.W = r(64.0, 74.0)  # half-width at the cheekbones: skin widths 128-132 px at y = 120-150
        self.R = 1.12 * self.W  # radius of the head
        ey = self.eye_y
        self.nose_top = ey - r(-1.5, 5.0)  # nose box y 118.7 +- 2.6 to 171.0 +- 3.2
        self.nose_len = r(44.0, 52.0)
        self.nose_bottom = self.nose_top + self.nose_len
        self.mouth_y = self.nose_bottom + r(19.5, 24.0)  # upper lip y 182.0-190.6, lower lip 187.4-203.0
        self.chin = self.mouth_y + r(40.0, 52.0)  # skin bottom 236 +- 5.5
        self.top = ey - r(88.0, 100.0)  # the skull, under the hair
        self.jaw = self.W * r(0.80, 0.93)  # skin widths 117, 91, 72, 48 px at y = 190, 210, 220, 230
        self.chin_w = r(15.0, 27.0)
        self.brow_y = ey - r(10.0, 16.0)  # brow box y 100.5 +- 2.7 to 114.8 +- 4
        # hair bottom in the samples: past the picture in 11 of 21, at y 190-215 in 4, at 149-170 in 6
        h = r()
        self.style = _STYLES[0 if h < 0.52 else (1 if h < 0.71 else 2)]
        self.hair_end = {"long": r(262.0, 320.0), "medium": r(182.0, 228.0), "short": r(138.0, 168.0)}[self.style]
        self.neck_w = r(46.0, 60.0)  # neck width ~100 px at y = 215, area 3060 +- 730 px
        self.ear_sides: tuple[float, ...] = ()

    def hides(self, side: float) -> bool:
        """Whether the ear on this image side (+1 right, -1 left) has turned away."""
        return side * self.s > 0.12


def _body(sk: _Sketch, f: _Face) -> None:
    """Neck, a necklace under the clothes, clothes with a neckline: the body frame, which follows the pose."""
    r, mx, nw, chin = f.r, f.mx, f.neck_w, f.chin
    flare = r(0.0, 18.0)
    right = [
        (mx + nw + 4, f.eye_y + 40),
        (mx + nw + 6, f.mouth_y + 8),
        (mx + nw, chin - 15),
        (mx + nw, chin + 10),
        (mx + nw + flare * 0.5, 245.0),
        (mx + nw + flare, 262.0),
        (mx + nw + flare + 20, 320.0),
    ]
    sk.add(17, _mirror(right, mx), body=True)
    if r.chance(0.02):  # under the clothes where they overlap, as the official merge order has it
        y0, sag, th = chin + r(-6.0, 16.0), r(6.0, 26.0), r(0.6, 1.2)
        curve = [
            (mx + nw * 0.98 * u, y0 + sag * (1.0 - u * u))
            for u in (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
        ]
        sk.add(16, [(x, y - th) for x, y in curve] + [(x, y + th) for x, y in reversed(curve)], body=True)
    if r.chance(0.5 if f.style == "long" else 0.92):  # clothes in 5 of 11 samples with long hair, 10 of 10 others
        v, round_ = r(238.0, 300.0), r(0.0, 1.0)
        points = [(mx, v)]
        away = r.sign() if r() < 0.35 else 0.0  # a shoulder turned away: clothes on one side only (5 of 15)
        for side in (1.0, -1.0):
            q = r()
            drop = 160.0 if side == away else 90.0 * q * q  # shoulders lower or out of the picture
            ns = chin + r(-58.0, -12.0) + (drop if side == away else 0.3 * drop)
            half = [
                (mx + side * nw * (0.45 + 0.4 * round_), v - 4.0 - 0.3 * (v - ns) * round_),
                (mx + side * nw * 0.88, ns + 8),
                (mx + side * (nw + 6), ns),
                (mx + side * (nw + 42), ns + r(-4.0, 14.0) + drop),
                (mx + side * 150, r(185.0, 280.0) + drop),
                (mx + side * 150, 330.0 + drop),
            ]
            points += half if side > 0 else half[::-1]
        sk.add(18, points, body=True)


_EAR = [(-0.08, 0.45), (0.1, 0.95), (0.3, 1.0), (0.5, 0.85), (0.7, 0.6), (0.88, 0.5), (1.0, 0.3)]  # (down, out)


def _ear_sides(f: _Face) -> tuple[float, ...]:
    """The image sides (+1 right: l_ear, -1 left: r_ear) whose ear shows: not turned away, not under long hair
    (which covers both, or leaves one tucked behind an ear)."""
    r = f.r
    k, one = r(), r.sign()
    # visible ear sides in the samples: long hair 5 of 22, medium 5 of 8 (turned faces), short 12 of 12
    shown = {"long": (0.55, 0.85), "medium": (0.05, 0.3), "short": (0.0, 0.0)}[f.style]
    return tuple(s for s in (1.0, -1.0) if not f.hides(s) and k >= shown[0] and (k >= shown[1] or s == one))


def _ears(sk: _Sketch, f: _Face) -> dict[int, tuple[float, float]]:
    """Ears on the sides of the face, painted over the hair (tucked behind them), the top often under it,
    the top leaning out; returns the lobes."""
    r, mx, W = f.r, f.mx, f.W
    # ear boxes in the samples: y 120 +- 16 to 165 +- 7.5, 20 px wide, area 515 +- 310 px
    top, length, out, lean = f.eye_y + r(-16.0, 8.0), r(46.0, 60.0), r(10.0, 17.0), r(1.0, 6.0)
    q, p = r(), r()
    hidden = 0.45 * q * q if f.style != "short" else 0.0  # the share of the ear's height under the hair
    out *= 1.0 - 0.6 * p * p  # and of its back rim
    lobes = {}
    for label, side in ((8, 1.0), (9, -1.0)):
        if side not in f.ear_sides:
            continue
        e = out * (1.0 + (0.6 * abs(f.s) if side * f.s < 0 else 0.0))
        base = mx + side * 0.985 * W  # the inner edge follows the cheek
        rim = [(e * w + lean * (1.0 - v), length * max(v, hidden)) for v, w in _EAR]  # the top stands out
        inner = [
            (lean * 0.1 - 0.5, 0.95 * length),
            (lean * 0.2 - 1.5, 0.75 * length),
            (lean * 0.4 - 1.5, length * max(0.4, hidden + 0.05)),
        ]
        local = [(lean * 0.5 - 1.5, length * max(0.05, hidden) + 2.0)] + rim + inner
        sk.add(label, [(base + side * dx, top + dy) for dx, dy in local], front=0.0)
        lobes[label] = (base + side * 0.45 * e, top + 0.9 * length)
    return lobes


def _skin(sk: _Sketch, f: _Face) -> None:
    ey, W, top, chin, wc = f.eye_y, f.W, f.top, f.chin, f.chin_w
    right = [
        (0.0, top - 2, 0.0),
        (0.45 * W, top + 2, 0.0),
        (0.8 * W, top + 16, 0.0),
        (0.98 * W, ey - 50, 0.0),
        (1.03 * W, ey - 10, 0.0),
        (1.02 * W, ey + 28, 0.0),
        (0.97 * W, ey + 50, 0.2),
        (f.jaw, f.mouth_y + 6, 0.5),
        (wc + 12, chin - 8, 0.8),
        (0.45 * wc, chin + 1.5, 1.0),
    ]
    points, fronts = _sweep(right, f.mx)
    sk.add(1, points, front=fronts)


def _nose(sk: _Sketch, f: _Face) -> None:
    """Bridge, tip and nostrils (alae); the tip stands proud of the face, so it moves most in a turn."""
    r, mx = f.r, f.mx
    # nose width 38 +- 3.7 px in the samples; widths 19/25/38/25 px at 25/50/80/95% of its height
    b, w, tip, nostril = r(7.5, 11.0), r(16.0, 21.5), r(12.0, 20.0), r(0.0, 0.07)
    right = [
        (0.9 * b, -0.02),
        (0.9 * b, -0.02),
        (b, 0.3),
        (1.1 * b, 0.52),
        (0.5 * (b + w), 0.68),
        (0.98 * w, 0.8),
        (1.06 * w, 0.92),
        (0.85 * w, 1.03),
        (0.52 * w, 0.95 - nostril),
        (0.22 * w, 1.05),
    ]
    shape = right + [(-dx, fy) for dx, fy in reversed(right)]
    top, length = f.nose_top, f.nose_len
    sk.add(2, [(mx + dx, top + length * fy) for dx, fy in shape], depth=[tip * fy * fy for _, fy in shape])


_EYE = [
    (-1.02, 0.12),
    (-1.02, 0.12),
    (-0.7, -0.95),
    (-0.1, -1.35),
    (0.55, -1.1),
    (1.05, -0.05),
    (1.05, -0.05),
    (0.55, 0.75),
    (-0.15, 0.85),
    (-0.7, 0.6),
]
_LENS = [
    (0.9, -1.0),
    (1.05, -0.7),
    (1.05, 0.35),
    (0.8, 0.95),
    (0.3, 1.1),
    (-0.3, 1.1),
    (-0.8, 0.95),
    (-1.05, 0.35),
    (-1.05, -0.7),
    (-0.9, -1.0),
    (0.0, -1.05),
]


def _eyes(sk: _Sketch, f: _Face) -> None:
    """Eyeglasses, almond eyes and tapering brows; dark glasses hide the eyes and the brows."""
    r, mx, ey = f.r, f.mx, f.eye_y
    glasses = r.chance(0.05)  # 1 face in 20 (README, dataset-wide); 1 of the 21 samples
    sunglasses = glasses and r.chance(0.35)
    ew = r(9.5, 12.5)  # eye boxes 23 x 10 px in the samples, area 147 +- 47 px
    eh = ew * r(0.26, 0.48)  # openness
    tilt = r(-1.0, 2.0)
    # l_brow box x 139.6 +- 7 to 183.8 +- 5 in the samples, width 0.168 +- 0.052 of the side, area 335 +- 150 px
    inner, length, thick, taper, arch = r(8.0, 19.0), r(34.0, 55.0), r(5.5, 13.0), r(0.2, 0.6), r(2.0, 7.0)
    if glasses:
        lw, lh, ly = r(21.0, 28.0) + 3.0 * sunglasses, r(14.0, 20.0) + 5.0 * sunglasses, ey + r(0.0, 4.0)
        for side in (1.0, -1.0):
            cx = mx + side * f.eye_dx
            sk.add(3, [(cx + side * u * lw, ly + v * lh) for u, v in _LENS])
            x0, x1, y = cx + side * (lw - 2), mx + side * (f.W - 4), ly - lh * 0.6
            sk.add(3, [(x0, y - 1.5), (x1, y - 0.5), (x1, y + 2.5), (x0, y + 2.0)])
        y, bx = ly - lh * r(0.3, 0.7), f.eye_dx - lw + 3
        sk.add(
            3,
            [
                (mx - bx, y - 1.5),
                (mx, y - 2.5),
                (mx + bx, y - 1.5),
                (mx + bx, y + 1.8),
                (mx, y + 0.8),
                (mx - bx, y + 1.8),
            ],
        )
    if sunglasses:
        return
    for label, side in ((4, 1.0), (5, -1.0)):
        cx, cy = mx + side * f.eye_dx, ey + r(-0.8, 0.8)
        if side * f.s > 0.3:  # turned away behind the nose
            continue
        sk.add(label, [(cx + side * u * ew, cy + v * eh - 0.5 * tilt * u) for u, v in _EYE])
    for label, side in ((6, 1.0), (7, -1.0)):
        x0, y0 = mx + side * inner, f.brow_y + r(-1.0, 1.0)
        points = []
        for t, off in (
            (-0.03, 0.0),
            (0.0, -0.55),
            (0.3, -0.55),
            (0.6, -0.55),
            (0.85, -0.5),
            (1.02, 0.1),
            (1.02, 0.1),
            (0.8, 0.5),
            (0.55, 0.55),
            (0.25, 0.55),
            (0.0, 0.55),
        ):
            th = thick * (1.0 - (1.0 - taper) * t * t)
            yc = y0 - arch * 4.0 * t * (1.0 - t) * (1.25 - 0.5 * t) + 3.0 * t * t
            points.append((x0 + side * length * t, yc + off * th))
        sk.add(label, points)


def _lips(sk: _Sketch, f: _Face) -> None:
    """Upper lip with a cupid's bow, lower lip, and the inner mouth between them when open."""
    r, mx, y0 = f.r, f.mx, f.mouth_y
    # lips 53 +- 4 px wide, upper 270 +- 62 px, lower 420 +- 112 px in the samples; open in 9 of 21
    hw, smile, tu, tl, bow = r(22.0, 30.5), r(-1.5, 4.0), r(5.0, 8.0), r(8.5, 13.5), r(0.35, 0.6)
    g = r(2.5, 6.5) if r.chance(0.45) else 0.0  # half the opening
    yc = y0 - smile
    e = 8.0  # the lips stand in front of the head's sphere
    if g > 0:
        mouth = [
            (0.92, yc),
            (0.92, yc),
            (0.5, y0 - g - 1.5),
            (0.0, y0 - g - 2.0),
            (-0.5, y0 - g - 1.5),
            (-0.92, yc),
            (-0.92, yc),
            (-0.5, y0 + g + 1.5),
            (0.0, y0 + g + 2.0),
            (0.5, y0 + g + 1.5),
        ]
        sk.add(10, [(mx + u * hw, y) for u, y in mouth], depth=e)
    up = y0 - g
    upper = [
        (1.0, yc),
        (1.0, yc),
        (0.7, up - 0.45 * tu - 0.6 * smile),
        (0.35, up - 0.95 * tu),
        (0.16, up - 1.08 * tu),
        (0.0, up - tu * (1.0 - bow)),
        (-0.16, up - 1.08 * tu),
        (-0.35, up - 0.95 * tu),
        (-0.7, up - 0.45 * tu - 0.6 * smile),
        (-1.0, yc),
        (-1.0, yc),
        (-0.55, up + 1.2 - 0.5 * smile),
        (0.0, up + 1.6),
        (0.55, up + 1.2 - 0.5 * smile),
    ]
    sk.add(11, [(mx + u * hw, y) for u, y in upper], depth=e)
    lo = y0 + g
    lower = [
        (0.97, yc + 0.5),
        (0.97, yc + 0.5),
        (0.55, lo - 0.5 * smile),
        (0.0, lo),
        (-0.55, lo - 0.5 * smile),
        (-0.97, yc + 0.5),
        (-0.97, yc + 0.5),
        (-0.62, lo + 0.55 * tl - 0.3 * smile),
        (-0.22, lo + 1.1 * tl),
        (0.22, lo + 1.1 * tl),
        (0.62, lo + 0.55 * tl - 0.3 * smile),
    ]
    sk.add(12, [(mx + u * hw, y) for u, y in lower], depth=e)


def _hairline(f: _Face, temple: float, temple_y: float) -> tuple[list[tuple[float, float]], float]:
    """The front edge of the hair across the forehead, left temple to right temple, and its height."""
    r, mx = f.r, f.mx
    k = r()
    kind = _HAIRLINES[0 if k < 0.4 else (1 if k < 0.52 else (2 if k < 0.72 else 3))]
    us = (-0.82, -0.5, -0.18, 0.18, 0.5, 0.82)
    if kind == "fringe":  # bangs: a low edge of a few pointed locks
        y = f.brow_y - r(8.0, 30.0)
        n = int(r(3.0, 6.999))
        points = []
        for j in range(n):
            tip = (mx + temple * (-0.85 + 1.7 * (j + r(0.3, 0.7)) / n), y + r(1.0, 8.0))
            points += [tip, tip]
            if j < n - 1:
                points.append((mx + temple * (-0.85 + 1.7 * (j + 1) / n), y - r(1.0, 6.0)))
        return points, y
    if kind == "swept":  # high on the parting's side, low over one brow on the other
        d = r.sign()
        hi, lo = r(38.0, 60.0), f.brow_y - r(-12.0, 20.0)
        points = []
        for u in us:
            t = (u * d + 0.82) / 1.64
            y = hi + (lo - hi) * t * t * (3.0 - 2.0 * t)
            points.append((mx + temple * u, y + (r(2.0, 6.0) if t > 0.5 else 0.0)))
        return points, hi
    y = r(38.0, 62.0) if kind == "parted" else r(30.0, 52.0)
    points = [(mx + temple * u, y + (temple_y - y) * a) for u, a in zip(us, (0.35, 0.06, 0.0, 0.0, 0.06, 0.35))]
    if kind == "back":  # combed back: receding temples, sometimes a widow's peak
        points[1] = (points[1][0], points[1][1] + r(2.0, 12.0))
        points[4] = (points[4][0], points[4][1] + r(2.0, 12.0))
        points[2:4] = [(mx - 6.0, y), (mx, y + r(-2.0, 6.0)), (mx + 6.0, y)]
        return points, y
    px, notch = mx + f.W * r(-0.45, 0.45), (0.0, y - r(5.0, 14.0))  # a parting, centred or to one side
    points = [p for p in points if abs(p[0] - px) > 14.0]
    at = sum(1 for p in points if p[0] < px)
    points[at:at] = [(px - 11.0, y + 2.0), (px, notch[1]), (px, notch[1]), (px + 11.0, y + 2.0)]
    return points, y


def _hair(sk: _Sketch, f: _Face) -> float:
    """Hair: the mass behind the head and shoulders (painted first), and in front the crown, the sides or
    curtains over the shoulders, the hairline; sometimes flyaway strands or a lock over one eye.
    Returns the hairline's height (for a hat)."""
    r, mx, ey, W, style = f.r, f.mx, f.eye_y, f.W, f.style
    cy = ey + 4.0
    # hair in the samples: top 1.8 +- 5.7, sides 24 +- 28 and 238 +- 18 px; 122, 161 px per row at y = 10, 40
    A = W + (r(4.0, 16.0) if style == "short" else r(20.0, 62.0))  # half-width at the ears
    crown = f.top - r(20.0, 60.0)
    B = cy - crown
    wave = r(0.01, 0.08)  # lumps of hair along the outline
    curl = r(0.0, 0.06) if r() < 0.45 else 0.0  # and, for curly hair, a ragged edge
    lean = r(-0.14, 0.14)
    shift = r(-12.0, 12.0) * (0.25 if style == "short" else 1.0)  # more hair on one side
    box = r(0.2, 1.0)  # 0: round crown, 1: boxy
    tucked = r.sign() if style == "long" and r() < 0.3 else 0.0  # one side behind the shoulder
    tucked_end = r(190.0, 235.0)
    arc = []
    for j in range(len(_HAIR_ARC)):
        (cx_, cy_), (bx_, by_) = _HAIR_ARC[j], _HAIR_BOX[j]
        ux, uy = cx_ + (bx_ - cx_) * box, cy_ + (by_ - cy_) * box
        rad = 1.0 + wave * r(0.3, 1.0) * (1.0 if j % 4 < 2 else -1.0) + curl * r(-1.0, 1.0)
        arc.append((mx + shift + A * ux * rad * (1.0 + lean * ux), cy + B * uy * rad))
    temple_y = ey - r(28.0, 48.0)  # skin top 49 +- 14 px in the samples, 77 px wide at y = 60
    temple = W - r(0.0, 8.0)
    sides = []
    for side in (1.0, -1.0):
        if style == "short":
            outer = [(mx + side * (W + r(1.0, 5.0)), f.hair_end)]
            inner = [(mx + side * (W - 3.0), f.hair_end - 4.0), (mx + side * (W - 4.0), ey)]
        else:
            end = tucked_end if side == tucked else f.hair_end
            L = A + (r(-10.0, 30.0) if style == "long" else r(-10.0, 15.0))
            mid1, mid2 = cy + 0.35 * (end - cy), cy + 0.7 * (end - cy)
            outer = [
                (mx + shift + side * (A + (L - A) * 0.4) * (1.0 + wave * r(-0.5, 0.5)), mid1),
                (mx + shift + side * (A + (L - A) * 0.8), mid2),
                (mx + shift + side * L, end),
            ]
            cover = r(-8.0, 6.0) if side not in f.ear_sides else -r(2.0, 6.0)  # tucked behind a visible ear
            gap = r(-3.0, 3.0) if r() < 0.75 else r(18.0, 40.0)
            for t, tip in ((0.3, True), (0.55, False), (0.8, True)):  # pointed ends of locks
                p = (mx + side * (L + (f.neck_w + gap - L) * t), end + (r(4.0, 14.0) if tip else -r(1.0, 6.0)))
                outer += [p, p, p] if tip else [p]
            if end > f.chin + 5.0:
                inner = [
                    (mx + side * (f.neck_w + gap), end - 6.0),
                    (mx + side * (f.neck_w + r(0.0, 8.0)), f.chin + 8.0),
                    (mx + side * (f.jaw - cover), f.mouth_y),
                ]
            else:
                inner = [(mx + side * (f.jaw - cover + 6.0), min(end - 6.0, f.mouth_y + 10.0))]
            inner.append((mx + side * (W - cover), ey + 22.0))
        sides.append((outer, inner))
    (r_out, r_in), (l_out, l_in) = sides
    if style != "short":
        back = (
            [(mx + shift + A, cy)]
            + r_out[:3]
            + [(mx, f.hair_end + 6.0)]
            + l_out[2::-1]
            + [(mx + shift - A, cy), (mx, ey - 40.0)]
        )
        sk.add(13, back, front=0.0, first=True)
    line, height = _hairline(f, temple, temple_y)
    # right outer end -> up the right side -> over the crown (arc right to left) -> down the left side,
    # up the left inner side to the temple, across the hairline, down the right inner side.
    outline = r_out[::-1] + arc[::-1] + l_out + l_in + [(mx - temple, temple_y)]
    n = len(outline)
    outline += line + [(mx + temple, temple_y)] + r_in[::-1]
    sk.add(13, outline, front=[0.0] * n + [1.0] * len(line) + [0.0] * (len(r_in) + 1))
    for _ in range(int(r(0.0, 1.0) * r(0.0, 3.0))):  # flyaway strands on the crown
        j = int(r(2.0, 18.999))
        ux, uy = _HAIR_ARC[j]
        bx, by = arc[j]
        length, w, bend = r(5.0, 14.0), r(2.0, 4.5), r(6.0, 14.0) * r.sign()
        tx, ty = -uy, ux
        mid = (bx + ux * length * 0.5 + tx * bend * 0.5, by + uy * length * 0.5 + ty * bend * 0.5)
        tip = (bx + ux * length + tx * bend, by + uy * length + ty * bend)
        strand = [
            (bx - ux * 4 - tx * w, by - uy * 4 - ty * w),
            (mid[0] - tx * w * 0.4, mid[1] - ty * w * 0.4),
            tip,
            tip,
            tip,
            (mid[0] + tx * w * 0.4, mid[1] + ty * w * 0.4),
            (bx - ux * 4 + tx * w, by - uy * 4 + ty * w),
        ]
        sk.add(13, strand, front=0.0)
    if r.chance(0.1):  # a lock falling from the parting over one brow and eye to the side of the face
        d = r.sign()
        p0 = (mx + d * r(-10.0, 15.0), height - 6.0)
        p1 = (mx + d * r(20.0, 40.0), ey - r(18.0, 32.0))
        p2 = (mx + d * (W + r(-6.0, 4.0)), ey + r(-5.0, 35.0))
        w0 = r(14.0, 26.0)
        left, right = [], []
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            a, b, c = (1 - t) * (1 - t), 2 * (1 - t) * t, t * t
            x, y = a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]
            tx = 2 * (1 - t) * (p1[0] - p0[0]) + 2 * t * (p2[0] - p1[0])
            ty = 2 * (1 - t) * (p1[1] - p0[1]) + 2 * t * (p2[1] - p1[1])
            half = w0 * (1.0 - 0.6 * t) / math.sqrt(tx * tx + ty * ty)
            left.append((x - ty * half, y + tx * half))
            right.append((x + ty * half, y - tx * half))
        sk.add(13, left + right[::-1])
    return height


def _accessories(sk: _Sketch, f: _Face, hairline: float, lobes: dict[int, tuple[float, float]]) -> None:
    """A hat over the hair, earrings hanging from visible ears."""
    r, mx = f.r, f.mx
    if r.chance(1 / 30):  # hats: 1 in 30 (README, dataset-wide); none in the 21 samples
        brim = min(hairline + r(0.0, 18.0), f.brow_y - 8.0)
        wide, tall = f.W + r(14.0, 30.0), r(90.0, 130.0)
        down = r(4.0, 22.0)  # the brim comes down over the temples
        right = [
            (0.0, brim + 3.0),
            (0.6 * wide, brim + 2.0 + 0.4 * down),
            (wide, brim + down),
            (wide * 1.05, brim - 0.4 * tall),
            (wide * 0.8, brim - 0.85 * tall),
            (0.0, brim - tall),
        ]
        sk.add(14, [(mx + dx, y) for dx, y in right] + [(mx - dx, y) for dx, y in reversed(right[1:-1])], front=0.0)
        if r.chance(0.5):
            bw, bh = wide + r(8.0, 35.0), r(3.0, 8.0)
            sk.add(14, [(mx + bw * ux, brim + bh * uy) for ux, uy in _CIRCLE[::4]], front=0.0)
    # earrings in 2 of the 21 samples, both on one side only: worn mostly with long hair (which hides an ear)
    if lobes and r.chance({"long": 0.4, "medium": 0.1, "short": 0.02}[f.style]):
        hoop = r.chance(0.25)
        for x, y in lobes.values():
            if hoop:
                rad, th = r(4.0, 9.0), r(1.0, 1.8)
                outer = [(x + (rad + th) * ux, y + rad + (rad + th) * uy) for ux, uy in _HOOP]
                inner = [(x + (rad - th) * ux, y + rad + (rad - th) * uy) for ux, uy in reversed(_HOOP)]
                sk.add(15, outer + inner, front=0.0)
            else:
                d, w = r(14.0, 34.0), r(2.5, 5.0)
                drop = [
                    (x, y - 2.0),
                    (x + w * 0.6, y + d * 0.35),
                    (x + w, y + d * 0.8),
                    (x, y + d * 1.1),
                    (x - w, y + d * 0.8),
                    (x - w * 0.6, y + d * 0.35),
                ]
                sk.add(15, drop, front=0.0)


def generate_mask(seed: int, index: int, size: int = 256) -> np.ndarray:
    """The (size, size) uint8 label map number `index` of the stream `seed` (ids 0..18)."""
    r = _Random(seed, index)
    f = _Face(r)
    sk = _Sketch()
    _body(sk, f)
    _skin(sk, f)
    _nose(sk, f)
    _eyes(sk, f)
    _lips(sk, f)
    f.ear_sides = _ear_sides(f)
    hairline = _hair(sk, f)
    lobes = _ears(sk, f)
    _accessories(sk, f, hairline, lobes)
    pose = _Pose(f.mx, f.s, f.R, f.eye_dx)
    pose.head = _affine(size, 1.0, r(-0.02, 0.02), r(-1.0, 1.0), r(-1.0, 1.0), (f.mx, f.eye_y))
    pose.body = _affine(size, 1.0, r(-0.1, 0.1), -0.9 * f.R * f.s + r(-14.0, 14.0), r(-3.0, 6.0), (f.mx, f.chin))
    return sk.render(size, pose)


def _generate_range(seed: int, start: int, count: int, size: int) -> np.ndarray:
    out = np.empty((count, size, size), np.uint8)
    for i in range(count):
        out[i] = generate_mask(seed, start + i, size)
    return out


def generate_masks(seed: int, start: int, count: int, size: int = 256, workers: int = 1) -> np.ndarray:
    """(count, size, size) uint8: mask i is generate_mask(seed, start + i, size), for any `workers`.

    workers > 1 splits the range over a spawn-context process pool (the caller's main module must
    be import-safe, as for any spawned pool); the result is identical to workers = 1.
    """
    if workers <= 1 or count < 2:
        return _generate_range(seed, start, count, size)
    chunks = np.array_split(np.arange(start, start + count), min(workers * 4, count))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = pool.map(
            _generate_range,
            [seed] * len(chunks),
            [int(c[0]) for c in chunks],
            [len(c) for c in chunks],
            [size] * len(chunks),
        )
        return np.concatenate(list(parts))


def heldout_masks(count: int, size: int = 256, seed: int = 0) -> np.ndarray:
    """(count, size, size) synthetic masks that no cache of stream `seed` trains on (from HELDOUT_START)."""
    return generate_masks(seed, HELDOUT_START, count, size)


def generation_rate(size: int = 256, count: int = 200) -> float:
    """Masks per second on one process."""
    generate_mask(0, 0, size)  # warm up
    begin = time.perf_counter()
    _generate_range(0, 0, count, size)
    return count / (time.perf_counter() - begin)
