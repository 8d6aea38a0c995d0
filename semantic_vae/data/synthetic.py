"""Procedural CelebAMask-HQ-style face label maps (19 classes, ids as in `semantic_vae.labels`).

Drawing model
-------------
Every mask has its own random stream, ``np.random.default_rng([seed, index])``, so a mask
depends on nothing but (seed, index, size). A face is sketched as polygons in a canonical
256x256 frame (face centre near (128, 140), eyes near y = 122, chin near y = 232, the person's
left (l_eye, l_brow, l_ear) on the image right, as in the real masks). Each polygon carries a
label and a frame:

* the *head* frame rolls (about +-15 deg around a point on the neck), scales and shifts;
* the *body* frame (neck, necklace, cloth) follows with a quarter of the roll.

Inner features (eyes, brows, nose, lips, glasses) are first pushed sideways by a cylinder-like
yaw (centre points move most, the far side compresses) and the far ear is hidden.

Polygons are painted in this order, later ones overwriting earlier ones like the official merge
(nose < eye_g < eyes < brows < mouth < lips, hair over skin, hat and earrings on top):
neck, cloth, necklace, back hair, ears, skin, nose, eyeglasses, eyes, brows, mouth, lips, front
hair (cap, fringe, a lock over one eye), hat, earrings. The mouth class (10) is drawn only for an
open mouth, between the lips.

Exactness: coordinates go through + - * / and sqrt only (IEEE-exact everywhere; the unit circle
is rounded to 2^-20 once), are scaled by size/256 and rounded to 1/16 px, and are filled by
``cv2.fillPoly`` with ``LINE_8`` (integer scan conversion, no anti-aliasing). The same
(seed, index, size) gives the same array in any process on any machine.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

GENERATOR_VERSION = "1"
HELDOUT_START = 10_000_000  # masks from this index on are in no training split (caches hold indices 0..count-1)

_SHIFT = 4  # fillPoly fixed-point bits: vertices in 1/16 px
_PIVOT = (128.0, 215.0)  # the head rolls and the picture scales about this neck point
_FAR = 330.0  # y below the image bottom, for shapes that run off the picture

_ANGLES = np.linspace(0.0, 2.0 * np.pi, 40, endpoint=False)
# Unit circle from +x, going down first (screen y points down); rounded so that a last-bit
# difference in a platform's cos/sin cannot move a vertex.
_CIRCLE = np.round(np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1) * 2**20) / 2**20
_SQUIRCLE = (_CIRCLE + np.sign(_CIRCLE) * np.sqrt(np.abs(_CIRCLE))) / 2.0  # a rounded square
_UPPER_ARC = np.concatenate([_CIRCLE[20:], _CIRCLE[:1]])  # left -> top -> right
_LOWER_ARC = _CIRCLE[:21]  # right -> bottom -> left
_T9 = np.linspace(0.0, 1.0, 9)
_LIP_X = np.linspace(-1.0, 1.0, 15)
_HAIRLINE_X = np.linspace(1.0, -1.0, 13)  # right -> left
_HAIRLINE_X4 = _HAIRLINE_X * _HAIRLINE_X * _HAIRLINE_X * _HAIRLINE_X  # flat forehead, steep temples
_NECKLACE_X = np.linspace(-1.0, 1.0, 9)
_HAIR_STYLES = ("long", "medium", "short", "bald")
_HAIR_STYLE_CDF = (0.5, 0.7, 0.96)
_JAGS = np.where(np.arange(13) % 2 == 0, 1.0, -1.0)


def _points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([x, y], axis=1)


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return _CIRCLE * np.array([rx, ry]) + np.array([cx, cy])


def _band(centre: np.ndarray, half_thickness: np.ndarray | float) -> np.ndarray:
    """A thick, roughly horizontal curve: the centre line raised, then back along it lowered."""
    x, y = centre[:, 0], centre[:, 1]
    return np.concatenate([_points(x, y - half_thickness), _points(x, y + half_thickness)[::-1]])


class _Sketch:
    """Labelled polygons in the canonical frame, in painting order."""

    def __init__(self) -> None:
        self.polygons: list[tuple[int, bool, np.ndarray]] = []  # (label, in body frame, (N, 2))

    def add(self, label: int, points: np.ndarray, body: bool = False) -> None:
        self.polygons.append((label, body, points))

    def render(self, size: int, head: tuple[float, ...], body: tuple[float, ...]) -> np.ndarray:
        """Paint onto a (size, size) canvas; `head`/`body` are 2x3 affines (canonical -> 1/16 px)."""
        points = np.concatenate([p for _, _, p in self.polygons])
        in_body = np.concatenate([np.full(len(p), b) for _, b, p in self.polygons])
        m = np.where(in_body[:, None], np.array(body), np.array(head))  # (N, 6)
        x, y = points[:, 0], points[:, 1]
        pixels = np.empty((len(points), 2), np.int32)
        pixels[:, 0] = np.rint(m[:, 0] * x + m[:, 1] * y + m[:, 2])
        pixels[:, 1] = np.rint(m[:, 3] * x + m[:, 4] * y + m[:, 5])
        canvas = np.zeros((size, size), np.uint8)
        start = 0
        for label, _, p in self.polygons:
            cv2.fillPoly(canvas, [pixels[start : start + len(p)]], label, cv2.LINE_8, _SHIFT)
            start += len(p)
        return canvas


def _affine(size: int, scale: float, sin_roll: float, dx: float, dy: float) -> tuple[float, ...]:
    """Canonical -> 1/16 px: rotate and scale about _PIVOT, shift, then fit to `size`."""
    k = size / 256.0 * (1 << _SHIFT)
    cos_roll = math.sqrt(1.0 - sin_roll * sin_roll)
    a, b, c, d = scale * cos_roll, -scale * sin_roll, scale * sin_roll, scale * cos_roll
    px, py = _PIVOT
    return (k * a, k * b, k * (px + dx - a * px - b * py), k * c, k * d, k * (py + dy - c * px - d * py))


class _Yaw:
    """Sideways turn of the inner features, as points on a cylinder of radius R about the face axis.

    x -> x cos + (sqrt(R^2 - x^2) + extra depth) sin, pulled back by 0.35 R sin so that the
    features shift by about 0.65 R sin (up to ~16 px) rather than running off the face.
    """

    def __init__(self, cx: float, radius: float, sin_yaw: float) -> None:
        self.cx, self.radius, self.sin = cx, radius, sin_yaw
        self.cos = math.sqrt(1.0 - sin_yaw * sin_yaw)

    def __call__(self, points: np.ndarray, extra_depth: np.ndarray | float = 0.0) -> np.ndarray:
        x = points[:, 0] - self.cx
        depth = np.sqrt(np.maximum(self.radius * self.radius - x * x, 0.0)) + extra_depth
        return _points(self.cx + x * self.cos + depth * self.sin - self.radius * self.sin * 0.35, points[:, 1])


def _face_outline(
    cx: float, cy: float, rx: float, ry_top: float, ry_bottom: float, jaw: float, square: float
) -> np.ndarray:
    u, v = _CIRCLE[:, 0], _CIRCLE[:, 1]
    below = np.maximum(v, 0.0) * np.maximum(v, 0.0)
    taper = 1.0 - jaw * ((1.0 - square) * below + square * below * below)
    return _points(cx + rx * u * taper, cy + v * np.where(v > 0, ry_bottom, ry_top))


def _eye(cx: float, cy: float, half_w: float, half_h: float, outward: float, droop: float) -> np.ndarray:
    u, v = _CIRCLE[:, 0] * outward, _CIRCLE[:, 1]  # u > 0 towards the outer corner
    return _points(cx + half_w * _CIRCLE[:, 0], cy + half_h * v * (1.0 - 0.3 * u) + droop * u * u)


def _brow(
    inner_x: float, outer_x: float, y: float, arch: float, tilt: float, thick_in: float, thick_out: float
) -> np.ndarray:
    t = _T9
    centre = _points(inner_x + (outer_x - inner_x) * t, y - arch * 4.0 * t * (1.0 - t) * (1.3 - 0.6 * t) + tilt * t)
    return _band(centre, (thick_in + (thick_out - thick_in) * t) / 2.0)


def _nose(cx: float, top: float, bottom: float, bridge: float, wing: float, tip: float) -> np.ndarray:
    t = _T9
    half = bridge + (wing - bridge) * t * t
    y = top + (bottom - tip - top) * t
    right, left = _points(cx + half, y), _points(cx - half, y)[::-1]
    cap = _LOWER_ARC * np.array([wing, tip]) + np.array([cx, bottom - tip])
    return np.concatenate([right, cap, left])


def _lips(
    cx: float, y: float, half_w: float, upper: float, lower: float, smile: float, bow: float, gap: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Upper lip, lower lip and (when `gap` > 0) the open mouth between them."""
    x = _LIP_X
    xs = cx + half_w * x
    line = y - smile * x * x
    fullness = np.sqrt(1.0 - x * x)
    half_gap = gap * (1.0 - x * x) / 2.0
    upper_in, lower_in = line - half_gap, line + half_gap
    upper_out = upper_in - upper * fullness * (1.0 - bow / (1.0 + 20.0 * x * x))
    lower_out = lower_in + lower * fullness * (1.0 - 0.25 * x * x)
    u_lip = np.concatenate([_points(xs, upper_out), _points(xs, upper_in)[::-1]])
    l_lip = np.concatenate([_points(xs, lower_in), _points(xs, lower_out)[::-1]])
    mouth = np.concatenate([_points(xs, upper_in), _points(xs, lower_in)[::-1]]) if gap > 0 else None
    return u_lip, l_lip, mouth


def _lens(cx: float, cy: float, half_w: float, half_h: float) -> np.ndarray:
    return _SQUIRCLE * np.array([half_w, half_h]) + np.array([cx, cy])


def _lock(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], width: float) -> np.ndarray:
    """A lock of hair: a quadratic curve, widest in the middle, as a closed polygon."""
    t = _T9[:, None]
    a, b, c = np.array(p0), np.array(p1), np.array(p2)
    centre = (1 - t) * (1 - t) * a + 2 * (1 - t) * t * b + t * t * c
    tangent = 2 * (1 - t) * (b - a) + 2 * t * (c - b)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.sqrt((tangent * tangent).sum(1, keepdims=True))
    half = width / 2.0 * np.sqrt(4.0 * _T9 * (1.0 - _T9) * 0.85 + 0.15)[:, None]
    return np.concatenate([centre + normal * half, (centre - normal * half)[::-1]])


@dataclass
class _Face:
    """The random layout of one face, in canonical coordinates."""

    rng: np.random.Generator
    cx: float = 128.0
    cy: float = 140.0

    def __post_init__(self) -> None:
        u = self.rng.uniform
        self.rx, self.ry_top, self.ry_bottom = u(62, 73), u(92, 104), u(86, 97)
        self.chin = self.cy + self.ry_bottom
        self.yaw = _Yaw(self.cx, self.rx * 1.2, u(-0.3, 0.3))
        self.eye_y, self.eye_dx = self.cy - u(14, 22), u(27, 34)
        self.neck_w = u(32, 42)
        self.hair_style = _HAIR_STYLES[int(np.searchsorted(_HAIR_STYLE_CDF, u(), side="right"))]
        self.hair_w, self.hair_h = self.rx + u(12, 44), self.ry_top + u(15, 55)
        self.ear_y, self.ear_w, self.ear_h, self.ear_out = self.eye_y + u(8, 20), u(8, 12), u(16, 24), u(7, 12)

    def hides(self, side: float) -> bool:
        """Whether the ear on this image side (+1 right, -1 left) has turned away."""
        return side * self.yaw.sin > 0.12

    def hair_arc(self) -> np.ndarray:
        return _UPPER_ARC * np.array([self.hair_w, self.hair_h]) + np.array([self.cx, self.cy])


def _draw_body(s: _Sketch, f: _Face) -> None:
    """Neck, cloth with a neckline, sometimes a necklace (all in the body frame)."""
    u, cx, w = f.rng.uniform, f.cx, f.neck_w
    top, flare = f.cy + f.ry_bottom * 0.3, u(5, 30)
    s.add(17, np.array([[cx - w, top], [cx + w, top], [cx + w + flare, _FAR], [cx - w - flare, _FAR]]), body=True)
    if u() < 0.62:
        line_y, v_depth, shoulder, side = f.chin + u(-6, 16), u(0, 30), u(8, 40), w + u(4, 20)
        outline = [[cx - 220, line_y + shoulder], [cx - side, line_y], [cx, line_y + v_depth], [cx + side, line_y], [cx + 220, line_y + shoulder], [cx + 220, _FAR], [cx - 220, _FAR]]  # fmt: skip
        s.add(18, np.array(outline), body=True)
    if u() < 0.08:
        sag, y = u(8, 22), f.chin - u(2, 10)
        s.add(
            16,
            _band(_points(cx + w * 1.02 * _NECKLACE_X, y + sag * (1.0 - _NECKLACE_X * _NECKLACE_X)), u(0.6, 1.3)),
            body=True,
        )


def _draw_back_hair(s: _Sketch, f: _Face) -> None:
    """Hair behind the head; long and medium hair fall past the face and leave the neck free."""
    u, cx, cy = f.rng.uniform, f.cx, f.cy
    if f.hair_style in ("long", "medium"):
        end_y = u(235, _FAR) if f.hair_style == "long" else u(180, 235)
        out = f.hair_w + (u(15, 55) if f.hair_style == "long" else u(0, 15))
        mid = (f.hair_w + out) / 2.0
        gap_w, gap_top = f.neck_w + u(0, 22), cy + f.ry_bottom * 0.5
        fall = [[cx + mid, cy + 50], [cx + out, end_y], [cx + gap_w, end_y], [cx + gap_w, gap_top], [cx - gap_w, gap_top], [cx - gap_w, end_y], [cx - out, end_y], [cx - mid, cy + 50]]  # fmt: skip
        s.add(13, np.concatenate([f.hair_arc(), fall]))
    elif f.hair_style == "short":
        s.add(
            13,
            np.concatenate(
                [f.hair_arc(), [[cx + f.hair_w * 0.97, cy + u(0, 20)], [cx - f.hair_w * 0.97, cy + u(0, 20)]]]
            ),
        )
    else:  # bald: a thin rim of hair round the top of the head
        scalp = _UPPER_ARC * np.array([f.rx + u(1, 4), f.ry_top + u(1, 6)]) + np.array([cx, cy - u(2, 10)])
        s.add(13, np.concatenate([scalp, [[cx + f.rx, cy + u(-25, 0)], [cx - f.rx, cy + u(-25, 0)]]]))


def _draw_head(s: _Sketch, f: _Face) -> None:
    """Ears, skin, then nose, eyeglasses, eyes, brows, mouth and lips in id order, turned by the yaw."""
    u, cx, eye_y, eye_dx, yaw = f.rng.uniform, f.cx, f.eye_y, f.eye_dx, f.yaw
    if f.hair_style in ("short", "bald") or u() < 0.35:  # long hair mostly covers the ears
        for label, side in ((8, 1.0), (9, -1.0)):
            if not f.hides(side):
                s.add(label, _ellipse(cx + side * (f.rx + f.ear_out - 2.0), f.ear_y, f.ear_w, f.ear_h))
    s.add(1, _face_outline(cx, f.cy, f.rx, f.ry_top, f.ry_bottom, u(0.15, 0.5), u(0.0, 1.0)))

    nose_top, nose_bottom = eye_y - u(0, 6), eye_y + u(40, 54)
    nose = _nose(cx, nose_top, nose_bottom, u(6, 11), u(13, 19), u(5, 9))
    tip_depth = np.clip((nose[:, 1] - nose_top) / (nose_bottom - nose_top), 0.0, 1.0) * u(4, 12)
    s.add(2, yaw(nose, tip_depth))  # the tip sticks out, so it moves further than the bridge

    glasses = u() < 0.1
    sunglasses = glasses and u() < 0.4  # dark lenses hide the eyes and brows
    if glasses:
        lens_w, lens_h, lens_y = u(21, 28) + 3 * sunglasses, u(16, 22) + 3 * sunglasses, eye_y + u(1, 6)
        for side in (1.0, -1.0):
            s.add(3, yaw(_lens(cx + side * eye_dx, lens_y, lens_w, lens_h)))
            x0, x1, y = cx + side * (eye_dx + lens_w - 2), cx + side * (f.rx + 3), lens_y - lens_h * 0.55
            s.add(3, yaw(np.array([[x0, y - 1.8], [x1, y + 1.0], [x1, y + 4.5], [x0, y + 1.8]])))  # arm
        y = lens_y - lens_h * u(0.2, 0.6)
        s.add(
            3, yaw(np.array([[cx - eye_dx, y - 2], [cx + eye_dx, y - 2], [cx + eye_dx, y + 2], [cx - eye_dx, y + 2]]))
        )  # bridge
    eye_w, eye_h, droop = u(7.5, 11.5), u(2.6, 4.6), u(-1.5, 1.5)
    brow_y, brow_in, brow_len = eye_y - u(13, 21), u(6, 14), u(32, 46)
    arch, tilt, thick_in, thick_out = u(1, 6), u(-5, 3), u(6, 10), u(3, 5.5)
    if not sunglasses:
        for label, side in ((4, 1.0), (5, -1.0)):  # l_eye is on the image right
            eye = _eye(cx + side * eye_dx, eye_y + u(-1, 1), eye_w * u(0.92, 1.08), eye_h * u(0.9, 1.1), side, droop)
            s.add(label, yaw(eye))
        for label, side in ((6, 1.0), (7, -1.0)):
            inner = cx + side * brow_in
            s.add(label, yaw(_brow(inner, inner + side * brow_len, brow_y + u(-1, 1), arch, tilt, thick_in, thick_out)))

    gap = u(4, 15) if u() < 0.5 else 0.0
    u_lip, l_lip, mouth = _lips(
        cx, nose_bottom + u(11, 20), u(19, 30), u(4.5, 8.5), u(6.5, 12), u(-2, 4), u(0, 0.35), gap
    )
    if mouth is not None:
        s.add(10, yaw(mouth))
    s.add(11, yaw(u_lip))
    s.add(12, yaw(l_lip))


def _draw_front_hair(s: _Sketch, f: _Face) -> None:
    """The cap down to a hairline (jagged for a fringe), sometimes a lock over one eye."""
    if f.hair_style == "bald":
        return
    u, cx = f.rng.uniform, f.cx
    fringe = u() < 0.25
    hairline = f.eye_y - u(16, 27) if fringe else f.cy - f.ry_top + u(14, 40)
    temple_x, temple_y = f.rx * u(0.75, 0.97), max(hairline + u(4, 20), f.eye_y - u(4, 22))
    side_y = f.eye_y + (u(-8, 25) if f.hair_style == "short" else u(25, 95))
    line_y = hairline + (temple_y - hairline) * _HAIRLINE_X4 + (_JAGS * u(1, 6) if fringe else 0.0)
    line = _points(cx + temple_x * _HAIRLINE_X, line_y)
    s.add(13, np.concatenate([f.hair_arc(), [[cx + f.hair_w, side_y]], line, [[cx - f.hair_w, side_y]]]))
    if u() < 0.1:
        side = 1.0 if u() < 0.5 else -1.0
        start = (cx + side * u(-15, 10), f.cy - f.ry_top + 5)
        bend = (cx + side * (f.eye_dx - u(0, 10)), f.eye_y - u(20, 30))
        end = (cx + side * (f.rx + u(0, 10)), f.eye_y + u(12, 30))
        s.add(13, _lock(start, bend, end, u(28, 42)))


def _draw_accessories(s: _Sketch, f: _Face) -> None:
    """A hat over the hair, earrings on top of everything."""
    u, cx = f.rng.uniform, f.cx
    if u() < 1 / 30:
        brim_y = f.cy - f.ry_top + u(25, 50)
        dome = _ellipse(cx, brim_y, f.hair_w + u(0, 8), brim_y - f.cy + f.hair_h + u(0, 12))
        dome[:, 1] = np.minimum(dome[:, 1], brim_y)
        s.add(14, dome)
        s.add(14, _ellipse(cx + u(-6, 6), brim_y, f.rx + u(12, 40), u(4, 10)))
    if u() < 0.17:
        drop_w, drop_h = u(2.5, 5), u(3.5, 8)
        for side in (1.0, -1.0):
            if not f.hides(side):
                s.add(15, _ellipse(cx + side * (f.rx + f.ear_out - 3), f.ear_y + f.ear_h + drop_h - 2, drop_w, drop_h))


def generate_mask(seed: int, index: int, size: int = 256) -> np.ndarray:
    """The (size, size) uint8 label map number `index` of the stream `seed` (ids 0..18)."""
    face = _Face(np.random.default_rng([seed, index]))
    sketch = _Sketch()
    for draw in (_draw_body, _draw_back_hair, _draw_head, _draw_front_hair, _draw_accessories):
        draw(sketch, face)
    u = face.rng.uniform
    scale, sin_roll, dx, dy = u(0.95, 1.2), u(-0.26, 0.26), u(-10, 10), u(-8, 8)
    head = _affine(size, scale, sin_roll, dx, dy)
    body = _affine(size, scale, sin_roll * 0.25, dx, dy)  # the shoulders follow a quarter of the roll
    return sketch.render(size, head, body)


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
