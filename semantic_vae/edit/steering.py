"""Steerable edits: attribute directions in the latent space, and the priors of present and absent parts.

Fitted on a training split (the posterior means mu of its masks and the masks' attributes), stored in the
checkpoint beside the weights (`checkpoint["steering"]`), used by `MaskEditor.apply` for steer, add and remove.

Directions. A part's attribute (`semantic_vae.edit.attributes`, in standard deviations over the split) is steered in
the part's own latents where they encode it (a model trained to draw each part from its own latent), else in the
space of every latent (where the mixer draws a part from the face around it and its own latent moves it little);
`keep` keeps the edit to the part's neighbourhood. In that space (the split's mu of those latents, flattened,
reduced to its principal components) a ridge probe w
predicts the attribute; its R^2 on a held-out fifth says how well the latents encode it. Steering by an amount
a moves the latents by a * v with

    v = S w / (w' S w)                          (free: the other attributes move as they do in the data)
    v = S W' (W S W')^-1 e                      (held: the part's other attributes' probes stay where they were)

where S is the covariance of the latents over the split: the smallest change, in the metric of the data's own
spread, that moves the probe by exactly a, so the latents move along directions the training masks occupy.
The decoder does not follow the probe one to one; `semantic_vae.edit.calibration` measures the change each direction achieves at
+-1 (at twice the model's resolution) on training masks and divides the direction by that gain.

Presence. For a class that some training masks have and others lack (eyeglasses, hats, earrings, the open
mouth, ears, ...), the Gaussian of its mu over the masks that have it (add draws from it) and the mean of its
mu over the masks that lack it (remove sets it there, and the class is left out of the decoder's argmax, so
what was under it is the model's next guess).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from semantic_vae.edit.attributes import AttributeScale, measure_all, part_attributes
from semantic_vae.errors import UserError
from semantic_vae.labels import LabelSet

R2_STEERABLE = 0.3  # a direction is steerable from this held-out R^2 on
R2_HELD = 0.1  # the part's attributes held fixed while one is steered: those the latents encode at all
MIN_SAMPLES = 40  # masks with a finite attribute (or with / without a class) needed to fit one
COMPONENTS = 300  # principal components of the flattened latents the probes work in
RIDGE_GRID = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # ridge penalties tried, times the mean variance
JITTER = 1e-5  # added to covariance diagonals for a Cholesky factor (as the data prior)


@dataclass(frozen=True)
class Direction:
    """How one attribute of one part is steered: the held-out R^2 of its probe, the free and held latent directions
    (L*D,), and the gain they were divided by (the change they achieved per unit asked before calibration)."""

    r2: float
    free: torch.Tensor
    held: torch.Tensor
    gain: float = 1.0

    @property
    def steerable(self) -> bool:
        return self.r2 >= R2_STEERABLE


@dataclass(frozen=True)
class Presence:
    """A class's latent where it is present (mean, Cholesky factor of the covariance) and where it is absent, and
    the direction in every latent towards faces that have it (the probe of its presence), with the push along it
    that `calibration.calibrate_presence` found makes the part appear."""

    present_mean: torch.Tensor  # (D,)
    present_tril: torch.Tensor  # (D, D)
    absent_mean: torch.Tensor  # (D,)
    share: float  # share of the split's masks that have the class
    direction: torch.Tensor | None = None  # (L*D,): one standard deviation of presence
    push: float = 0.0  # standard deviations along `direction` an add moves


@dataclass(frozen=True)
class Steering:
    """Everything steer, add and remove need, fitted on one split of one model's latents."""

    scale: AttributeScale
    directions: dict[str, dict[str, Direction]] = field(default_factory=dict)  # part -> attribute -> direction
    presence: dict[int, Presence] = field(default_factory=dict)  # class id -> its priors
    masks: int = 0  # how many masks the fit saw
    calibrated: bool = False

    # -- lookup ---------------------------------------------------------------------------
    def steerable_count(self, parts: Iterable[str] | None = None) -> int:
        """How many directions of `parts` (default: every part) are steerable (held-out R^2 >= R2_STEERABLE)."""
        chosen = self.directions if parts is None else {p: self.directions[p] for p in parts}
        return sum(d.steerable for attrs in chosen.values() for d in attrs.values())

    def direction(self, part: str, attribute: str) -> Direction:
        """The direction of a part's attribute (the part by its class or group name)."""
        if part not in self.directions:
            known = ", ".join(sorted(self.directions)) or "none"
            raise UserError(f"steer: no directions for part '{part}'; parts with directions: {known}")
        if attribute not in self.directions[part]:
            known = ", ".join(self.directions[part]) or "none (too few masks have it)"
            raise UserError(f"steer: part '{part}' has no attribute '{attribute}' to steer; its attributes: {known}")
        return self.directions[part][attribute]

    def steerable(self, part: str, attribute: str, what: str = "steer") -> Direction:
        """`direction`, refused in one line naming its held-out R^2 when that is below R2_STEERABLE (the direction
        predicts little of the attribute: steering along it moves the part at random). The edit commands and the
        web editor steer only these; the API warns instead (`outcome`)."""
        found = self.direction(part, attribute)
        if not found.steerable:
            others = ", ".join(k for k, d in self.directions[part].items() if d.steerable) or "none"
            raise UserError(
                f"{what}: {part}.{attribute} has a direction of held-out R^2 {found.r2:.2f}, below {R2_STEERABLE}: it "
                f"predicts little of the attribute; the steerable attributes of {part}: {others}"
            )
        return found

    def presence_of(self, class_id: int, class_names: Sequence[str], operation: str) -> Presence:
        """The presence priors of a class; `class_names` (the label set's) name it and those that have priors."""
        if class_id not in self.presence:
            known = ", ".join(class_names[c] for c in sorted(self.presence)) or "none"
            raise UserError(
                f"{operation}: '{class_names[class_id]}' is present in (nearly) all or no training masks, so it has "
                f"no present/absent prior; classes that have one: {known}"
            )
        return self.presence[class_id]

    def normalised(self, values: dict[tuple[str, str], np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        """Raw attribute values (`measure_all`) -> standard deviations of the fitted split, where the scale has them."""
        out = {}
        for (part, name), raw in values.items():
            try:
                out[(part, name)] = np.asarray(self.scale.normalise(part, name, raw))
            except UserError:  # not in the scale, or constant over the split
                continue
        return out

    def r2_table(self) -> dict[str, dict[str, float]]:
        return {part: {name: d.r2 for name, d in attrs.items()} for part, attrs in self.directions.items()}

    # -- stored in a checkpoint -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain types and tensors: what `torch.load(weights_only=True)` reads back."""
        return {
            "format": 2,
            "masks": self.masks,
            "calibrated": self.calibrated,
            "scale": self.scale.to_dict(),
            "directions": {
                part: {name: {"r2": d.r2, "free": d.free, "held": d.held, "gain": d.gain} for name, d in attrs.items()}
                for part, attrs in self.directions.items()
            },
            "presence": {
                str(c): {
                    "present_mean": p.present_mean,
                    "present_tril": p.present_tril,
                    "absent_mean": p.absent_mean,
                    "share": p.share,
                    "direction": p.direction if p.direction is not None else torch.zeros(0),
                    "push": p.push,
                }
                for c, p in self.presence.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "checkpoint") -> Steering:
        if not isinstance(data, dict) or data.get("format") != 2:
            raise UserError(f"{source}: its steering statistics are not of a format this version reads")
        try:
            directions = {
                part: {
                    name: Direction(float(d["r2"]), d["free"].float(), d["held"].float(), float(d["gain"]))
                    for name, d in attrs.items()
                }
                for part, attrs in data["directions"].items()
            }
            presence = {
                int(c): Presence(
                    p["present_mean"].float(),
                    p["present_tril"].float(),
                    p["absent_mean"].float(),
                    float(p["share"]),
                    p["direction"].float() if p["direction"].numel() else None,
                    float(p["push"]),
                )
                for c, p in data["presence"].items()
            }
            scale = AttributeScale.from_dict(data["scale"])
            return cls(scale, directions, presence, int(data["masks"]), bool(data["calibrated"]))
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise UserError(f"{source}: its steering statistics are damaged ({type(err).__name__}: {err})") from None


# -- fitting ------------------------------------------------------------------------------
class _Ridge:
    """Ridge regressions on one design matrix x (n, p) for any target and penalty: one eigendecomposition of the
    centred Gram matrix, then each solve is a product (the fits of a part's attributes share it)."""

    def __init__(self, x: np.ndarray) -> None:
        self.mean = x.mean(0)
        xc = x - self.mean
        self.values, self.vectors = np.linalg.eigh(xc.T @ xc)
        self.xc, self.n = xc, len(x)

    def fit(self, y: np.ndarray, penalty: float) -> tuple[np.ndarray, float]:
        """Weights and intercept of y (n,) on x with penalty * n * |w|^2."""
        ym = y.mean()
        projected = self.vectors.T @ (self.xc.T @ (y - ym))
        w = self.vectors @ (projected / (self.values + penalty * self.n))
        return w, float(ym - self.mean @ w)


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination; NaN for a constant `y`, where torchmetrics' `r2_score` gives 0 (it agrees
    elsewhere: tests/test_steering.py), since a probe of a constant predicts nothing."""
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else float("nan")


def fit_probe(
    x: np.ndarray, y: np.ndarray, train: _Ridge | None = None, full: _Ridge | None = None
) -> tuple[np.ndarray, float]:
    """A ridge probe of y from x: its weights (fitted on everything, with the penalty that predicted a held-out
    fifth best) and that held-out R^2. `train` / `full`: the decompositions of x's first four fifths and of x."""
    held_out = np.arange(len(y)) % 5 == 0
    train = train or _Ridge(x[~held_out])
    full = full or _Ridge(x)
    scale = float(x.var(0).mean()) or 1.0
    best_r2, best_penalty = -math.inf, RIDGE_GRID[0]
    for factor in RIDGE_GRID:
        w, b = train.fit(y[~held_out], factor * scale)
        r2 = _r2(y[held_out], x[held_out] @ w + b)
        if r2 > best_r2:
            best_r2, best_penalty = r2, factor * scale
    w, _ = full.fit(y, best_penalty)
    return w, best_r2


def steering_directions(probes: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, p) probe weights, (p, p) latent covariance -> free (A, p) and held (A, p) directions (module docstring).

    Held direction j moves probe j by 1 and every other probe of the set by 0 (in the least-squares sense when the
    probes are nearly dependent).
    """
    sw = probes @ covariance  # (A, p): row j is (S w_j)'
    gains = np.einsum("ap,ap->a", sw, probes)  # w_j' S w_j
    free = sw / np.maximum(gains, 1e-12)[:, None]
    gram = sw @ probes.T  # (A, A) = W S W'
    held = np.linalg.pinv(gram, rcond=1e-8) @ sw  # (W S W')^-1 W S: row j is direction j
    return free, held


def principal_components(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top-k principal components of x (n, p): components (k, p), their variances (k,), and the scores (n, k)."""
    xc = x - x.mean(0)
    gram = xc @ xc.T  # (n, n): cheaper than the (p, p) covariance when n < p
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][: min(k, len(x) - 1)]
    values, vectors = np.clip(values[order], 1e-12, None), vectors[:, order]
    components = (xc.T @ vectors / np.sqrt(values)).T  # (k, p), orthonormal rows
    return components, values / (len(x) - 1), xc @ components.T


def fit_steering(mu: np.ndarray, masks: np.ndarray, label_set: LabelSet, latent_classes: list[int] | tuple) -> Steering:
    """Directions and presence priors from a split: mu (N, L, D) of the masks (N, H, W) at the model's size.

    A part is steered in its own latents where they encode it (the held-out R^2 of its size from them alone is at
    least R2_STEERABLE: a model that draws each part from its own latent), else in every latent (the mixer draws it
    from its neighbours)."""
    mu = np.asarray(mu, dtype=np.float64)
    n, num_latents, d = mu.shape
    values = measure_all(masks, label_set)
    scale = AttributeScale.fit(values)
    every = principal_components(mu.reshape(n, -1), COMPONENTS)
    first = latent_classes[0]
    directions: dict[str, dict[str, Direction]] = {}
    for part, names in part_attributes(label_set).items():
        rows = [c - first for c in label_set.ids_of(part) if c >= first]
        own = principal_components(mu[:, rows].reshape(n, -1), COMPONENTS) if rows else None
        fitted = fit_part(values, scale, part, names, own) if own is not None else {}
        space, placed = own, rows
        if not fitted or fitted.get("size", (None, -math.inf))[1] < R2_STEERABLE:
            fitted, space, placed = fit_part(values, scale, part, names, every), every, list(range(num_latents))
        if fitted:
            directions[part] = part_directions(fitted, space, placed, num_latents, d)
    presence = fit_presence(mu, masks, latent_classes, *every)
    return Steering(scale, directions, presence, int(n))


def fit_part(
    values: dict[tuple[str, str], np.ndarray],
    scale: AttributeScale,
    part: str,
    names: list[str],
    space: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, tuple[np.ndarray, float]]:
    """Ridge probes of the part's attributes on the principal-component scores of `space`: name -> (w, R^2)."""
    scores = space[2]
    fitted: dict[str, tuple[np.ndarray, float]] = {}
    decompositions: dict[bytes, tuple[_Ridge, _Ridge]] = {}  # per subset of masks: shared by its attributes
    for name in names:
        raw = values[(part, name)]
        ok = np.isfinite(raw)
        if ok.sum() < MIN_SAMPLES or not scale.stat(part, name).usable:
            continue
        key = ok.tobytes()
        if key not in decompositions:
            x = scores[ok]
            decompositions[key] = (_Ridge(x[np.arange(len(x)) % 5 != 0]), _Ridge(x))
        fitted[name] = fit_probe(scores[ok], np.asarray(scale.normalise(part, name, raw[ok])), *decompositions[key])
    return fitted


def part_directions(
    fitted: dict[str, tuple[np.ndarray, float]],
    space: tuple[np.ndarray, np.ndarray, np.ndarray],
    rows: list[int],
    num_latents: int,
    d: int,
) -> dict[str, Direction]:
    """The free and held directions of a part's probes, as flattened changes of every latent (L*D,): zero outside
    the latent rows `rows` that `space` spans."""
    components, variances, _ = space
    covariance = np.diag(variances)  # the scores' covariance: diagonal in the principal components
    names = list(fitted)
    probes = np.stack([fitted[k][0] for k in names])
    free, _ = steering_directions(probes, covariance)
    encoded = [i for i, k in enumerate(names) if fitted[k][1] >= R2_HELD]
    held_rows: dict[str, np.ndarray] = {}
    if encoded:
        _, held = steering_directions(probes[encoded], covariance)
        held_rows = {names[i]: held[j] for j, i in enumerate(encoded)}

    def latent(v: np.ndarray) -> torch.Tensor:
        change = np.zeros((num_latents, d))
        change[rows] = (v @ components).reshape(len(rows), d)  # scores -> the rows' latents
        return torch.from_numpy(change.reshape(-1)).float()

    return {k: Direction(float(fitted[k][1]), latent(free[i]), latent(held_rows.get(k, free[i])))
            for i, k in enumerate(names)}  # fmt: skip


def fit_presence(
    mu: np.ndarray,
    masks: np.ndarray,
    latent_classes: list[int] | tuple,
    components: np.ndarray,
    variances: np.ndarray,
    scores: np.ndarray,
) -> dict[int, Presence]:
    """Presence priors of the classes some masks have and others lack, with each one's presence direction."""
    n, _, d = mu.shape
    first = latent_classes[0]
    presence: dict[int, Presence] = {}
    for c in latent_classes:
        has = (masks == c).reshape(n, -1).any(1)
        if has.sum() < MIN_SAMPLES // 2 or (~has).sum() < MIN_SAMPLES // 2:
            continue
        x = mu[has, c - first]
        covariance = np.cov(x, rowvar=False)
        covariance += JITTER * max(1.0, float(np.diag(covariance).mean())) * np.eye(d)
        tril, info = torch.linalg.cholesky_ex(torch.from_numpy(covariance))
        if int(info) != 0:
            tril = torch.diag(torch.from_numpy(np.sqrt(np.clip(np.diag(covariance), 0, None))))
        indicator = (has - has.mean()) / has.std()
        w, _ = fit_probe(scores, indicator)
        free, _ = steering_directions(w[None], np.diag(variances))
        presence[c] = Presence(
            torch.from_numpy(x.mean(0)).float(),
            tril.float(),
            torch.from_numpy(mu[~has, c - first].mean(0)).float(),
            float(has.mean()),
            torch.from_numpy(free[0] @ components).float(),
        )
    return presence
