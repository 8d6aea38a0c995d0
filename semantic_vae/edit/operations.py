"""The operations of paper §4 and this project's, one class each (reconstruct, generate, perturb, swap, interpolate,
steer, add, remove): its settings with their defaults and checks, its latent step, and what the editor, augment, the
outcome report and the web editor ask of it. Every part edit takes `parts`, `keep` and `radius` (`PartEdit`).
Adding an operation is a class here (and its tests): the commands' options, the manifest's columns, recipes, augment
and the web page read the classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import numpy as np
import torch

from semantic_vae.checks import check_seed
from semantic_vae.edit import latent
from semantic_vae.edit.edit import Edit, PartSpec, check_choice, check_number, parse_parts, setting
from semantic_vae.edit.region import DEFAULT_KEEP, KEEP_MODES, KEEP_RADIUS, Keep, compose_changes, scaled_radius
from semantic_vae.errors import UserError

if TYPE_CHECKING:
    from semantic_vae.edit.augment import Planner
    from semantic_vae.edit.editor import MaskEditor
    from semantic_vae.edit.steering import Direction

Prior = Literal["normal", "data"]
PRIORS: tuple[str, ...] = get_args(Prior)
MAX_AMOUNT = 5.0  # steer: standard deviations of the attribute; beyond, the latent leaves the data the model saw
MAX_RADIUS = 1024
STEER_RANGE = 2.0  # augment's steer variants ask for an amount drawn uniformly in [-2, 2] standard deviations
ALPHA_RANGE = (0.25, 1.0)  # augment's interpolate variants draw alpha here (below, little of the target shows)

# Why augment made a generate of a drawn operation (its summary line counts them).
NO_STEERABLE = "the part has no steerable attribute"
NO_PRIOR = "the part has no presence prior"
HAS_PART = "the input already has the part"
LACKS_PART = "the input lacks the part"

Unedited = Callable[[], np.ndarray]  # the unedited decode an edit with keep="changes" is compared with


def _radius(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_RADIUS:
        raise UserError(f"radius must be a whole number of pixels in 0..{MAX_RADIUS}, got {value!r}")
    return int(value)


def _hold(value: Any) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"hold must be true or false, got {value!r}")
    return value


def _attribute(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise UserError(f"attribute must be an attribute name, got {value!r}")
    return value


def classes_present(maps: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """(B, H, W) label maps -> (B, len(classes)) bool: whether each map has each class."""
    wanted = torch.as_tensor(list(classes), device=maps.device, dtype=maps.dtype)
    return (maps.flatten(1)[:, :, None] == wanted).any(1)


@dataclass(frozen=True)
class Reconstruct(Edit):
    """Reconstruct: encode (the mean mu), mix, decode; no settings."""

    name: ClassVar[str] = "reconstruct"

    def latents(self, editor: MaskEditor, z: torch.Tensor, z_target: Any = None, seeds: Any = None) -> torch.Tensor:
        return z


@dataclass(frozen=True)
class PartEdit(Edit):
    """An edit of named parts, and what is kept outside them.

    Args:
        parts: parts to edit together, by name, id or group: "nose", "lips" or "nose,mouth".
        keep: "changes" (default): the input changed only where the edit changed the model's drawing; or, outside
            the parts' neighbourhood, keep the "input", the "reconstruction", or "none" (the raw model output).
        radius: the neighbourhood's width in the model's pixels (scaled to the input's size).
    """

    parts: PartSpec = setting((), parse_parts)
    _: KW_ONLY
    keep: Keep = setting(DEFAULT_KEEP, check_choice("keep", KEEP_MODES, words="unknown mode"))
    radius: int = setting(KEEP_RADIUS, _radius)

    def validate(self) -> None:
        if not self.parts:
            raise UserError(f"{self.name}: no parts given (e.g. parts='nose')")

    def describe(self) -> str:
        text = f"{self.name} {'+'.join(self.parts)}" + (f" ({self.details()})" if self.details() else "")
        return f"{text}, keep={self.keep}"

    def manifest_values(self) -> dict[str, Any]:
        """The settings as a manifest row holds them: the parts as a comma list, no radius where nothing is kept."""
        values = {**self.values(), "parts": ",".join(self.parts)}
        if self.keep == "none":
            values["radius"] = ""
        return values

    # -- the editor's hooks -----------------------------------------------------------------
    def prepared(self, editor: MaskEditor) -> PartEdit:
        editor.part_ids(self.parts)  # an unknown part, named
        return self

    def gone(self, editor: MaskEditor) -> Sequence[int]:
        """Classes whose input pixels keep="changes" does not keep."""
        return ()

    def compose(self, editor: MaskEditor, edited: torch.Tensor, labels: torch.Tensor, z: torch.Tensor,
                unedited: Unedited) -> np.ndarray:  # fmt: skip
        """The edited decode (B, H, W) with what `keep` keeps of the input, the reconstruction or the unedited decode."""
        ids = editor.part_ids(self.parts)
        if self.keep != "changes":
            return editor.keep_outside(edited, labels, z, ids, self.keep, self.radius)
        radius = scaled_radius(self.radius, tuple(labels.shape[1:]), editor.image_size)
        return compose_changes(edited.cpu().numpy(), unedited(), labels.cpu().numpy(), ids, radius, self.gone(editor))

    # -- augment's hooks --------------------------------------------------------------------
    @classmethod
    def draw(cls, rng: np.random.Generator, planner: Planner, i: int, parts: tuple[str, ...]) -> tuple[dict, Any, str]:
        """Settings augment draws for this operation of input i and the parts; the target's index; and why the
        variant must become a generate instead ('' when it applies)."""
        return {}, None, ""

    @classmethod
    def applicable(cls, planner: Planner) -> str:
        """Why the operation applies to no input and part of an augment ('' when it applies to some)."""
        return ""


@dataclass(frozen=True)
class Generate(PartEdit):
    """Generate: the parts' latents replaced by draws from the prior.

    Args:
        seed: noise seed.
        prior: draw from "normal" (N(0, I), the paper's) or "data" (the Gaussian fitted on the training latents);
            default: "data" when the checkpoint holds one, else "normal".
    """

    name: ClassVar[str] = "generate"
    measured_by: ClassVar[str] = "edits"
    goal: ClassVar[str] = "kept"
    seed: int = setting(0, check_seed)
    prior: Prior | None = setting(None, check_choice("prior", PRIORS, optional=True))

    def details(self) -> str:
        return f"seed {self.seed}, {self.prior or 'default'} prior"

    def prepared(self, editor: MaskEditor) -> Generate:
        super().prepared(editor)
        return self.with_(prior=editor.resolve_prior(self.prior))

    def latents(self, editor: MaskEditor, z: torch.Tensor, z_target: Any = None, seeds: Any = None) -> torch.Tensor:
        ids = editor.part_ids(self.parts)
        noise = editor.part_noise(z.shape[0], ids, self.seed if seeds is None else seeds, self.prior)  # (B, P, D)
        return latent.generate_parts(z, editor.vae.latent_rows(ids), noise)


@dataclass(frozen=True)
class Perturb(PartEdit):
    """Perturb: the parts' latents plus scale * N(0, I).

    Args:
        seed: noise seed.
        scale: standard deviation of the noise (>= 0).
    """

    name: ClassVar[str] = "perturb"
    measured_by: ClassVar[str] = "edits"
    goal: ClassVar[str] = "kept"
    seed: int = setting(0, check_seed)
    scale: float = setting(1.0, check_number("scale", 0.0))

    def details(self) -> str:
        return f"seed {self.seed}, scale {self.scale:g}"

    def latents(self, editor: MaskEditor, z: torch.Tensor, z_target: Any = None, seeds: Any = None) -> torch.Tensor:
        ids = editor.part_ids(self.parts)
        noise = editor.part_noise(z.shape[0], ids, self.seed if seeds is None else seeds, "normal")  # (B, P, D)
        return latent.perturb_parts(z, editor.vae.latent_rows(ids), noise, self.scale)


@dataclass(frozen=True)
class TargetEdit(PartEdit):
    """An edit towards a second mask (the target)."""

    target: ClassVar[bool] = True
    measured_by: ClassVar[str] = "edits"

    @property
    def weight(self) -> float:
        """The target's weight in Eq. 4."""
        return 1.0

    def latents(self, editor: MaskEditor, z: torch.Tensor, z_target: Any = None, seeds: Any = None) -> torch.Tensor:
        """Eq. 4 per chosen part: m_c = w * m_c^target + (1 - w) * m_c^source; others from the source."""
        if z_target is None:
            raise UserError(f"{self.name}: needs a target mask")
        return latent.interpolate_parts(z, z_target, editor.vae.latent_rows(editor.part_ids(self.parts)), self.weight)

    @classmethod
    def draw(cls, rng: np.random.Generator, planner: Planner, i: int, parts: tuple[str, ...]) -> tuple[dict, Any, str]:
        partners = [j for j, s in enumerate(planner.shapes) if j != i and s == planner.shapes[i]]
        if not partners:
            raise UserError(f"{planner.files[i]}: {cls.name} needs another input of the same size as a target")
        return {}, partners[int(rng.integers(len(partners)))], ""


@dataclass(frozen=True)
class Swap(TargetEdit):
    """Swap: the parts' latents taken from the target (interpolation at alpha 1)."""

    name: ClassVar[str] = "swap"


@dataclass(frozen=True)
class Interpolate(TargetEdit):
    """Interpolate (paper Eq. 4) towards the target.

    Args:
        alpha: the target's weight, in [0, 1] (0: the source, 1: swap).
    """

    name: ClassVar[str] = "interpolate"
    alpha: float = setting(0.5, check_number("alpha", 0.0, 1.0))

    @property
    def weight(self) -> float:
        return self.alpha

    def details(self) -> str:
        return f"alpha {self.alpha:g}"

    @classmethod
    def draw(cls, rng: np.random.Generator, planner: Planner, i: int, parts: tuple[str, ...]) -> tuple[dict, Any, str]:
        _, target, _ = super().draw(rng, planner, i, parts)
        return {"alpha": round(float(rng.uniform(*ALPHA_RANGE)), 3)}, target, ""


@dataclass(frozen=True)
class Steer(PartEdit):
    """Steer: every latent moved along the fitted direction of the part's attribute; no class that the mask and its
    reconstruction lack is drawn (a steer reshapes a part, `add` adds one).

    Args:
        attribute: the part's attribute to change (`semantic_vae.edit.attributes`: size, height, width, x, y, and
            open, length, face_width, thickness where they apply).
        amount: the change asked, in standard deviations of the attribute over the training split.
        hold: keep the part's other attributes where they were (else they move as they do in the data).
    """

    name: ClassVar[str] = "steer"
    measured_by: ClassVar[str] = "steering"
    uses_steering: ClassVar[bool] = True
    goal: ClassVar[str] = "kept"
    attribute: str | None = setting(None, _attribute)
    amount: float = setting(0.0, check_number("amount", -MAX_AMOUNT, MAX_AMOUNT))
    hold: bool = setting(True, _hold)

    def validate(self) -> None:
        super().validate()
        if self.attribute is None:
            raise UserError("steer: no attribute given (e.g. attribute='height')")
        if len(self.parts) != 1:
            raise UserError(f"steer: one part at a time (a class or a group), got {len(self.parts)}: "
                            f"{', '.join(self.parts)}")  # fmt: skip

    def details(self) -> str:
        return f"{self.attribute} {self.amount:+g} sd{', others held' if self.hold else ''}"

    def prepared(self, editor: MaskEditor) -> Steer:
        """Only directions that predict their attribute (the web page shows no other slider)."""
        editor.part_ids(self.parts[0])  # an unknown part, named; then an unknown attribute or a weak direction
        editor.require_steering("steer").steerable(editor.part_name(self.parts[0]), self.attribute)
        return self

    def direction(self, editor: MaskEditor) -> Direction:
        return editor.steer_direction(self.parts[0], self.attribute)

    def asked(self) -> tuple[str, float]:
        return self.attribute, self.amount

    def latents(self, editor: MaskEditor, z: torch.Tensor, z_target: Any = None, seeds: Any = None) -> torch.Tensor:
        """Along a direction in every latent: the mixer draws a part from all of them."""
        direction = self.direction(editor)
        change = direction.held if self.hold else direction.free
        return latent.steer(z, change.view(z.shape[1:]), self.amount)

    def left_out(self, editor: MaskEditor, labels: torch.Tensor, reconstruction: Callable[[], torch.Tensor]) -> Any:
        """Every class that neither the mask nor its reconstruction has, other than the steered part's: a steer
        reshapes a part and adds none, and steering by 0 is still the reconstruction."""
        classes = range(editor.num_classes)
        present = classes_present(labels, classes) | classes_present(reconstruction().to(labels.device), classes)
        present[:, editor.part_ids(self.parts)] = True  # (B, C)
        return ~present

    def unedited_left_out(self, left_out: Any) -> Any:
        return left_out

    @classmethod
    def draw(cls, rng: np.random.Generator, planner: Planner, i: int, parts: tuple[str, ...]) -> tuple[dict, Any, str]:
        attributes = planner.steerable.get(parts[0], []) if len(parts) == 1 else []
        if not attributes:
            return {}, None, NO_STEERABLE
        attribute = attributes[int(rng.integers(len(attributes)))]
        settings = {"attribute": attribute, "amount": round(float(rng.uniform(-STEER_RANGE, STEER_RANGE)), 2)}
        if planner.has is not None and not any(c in planner.has[i] for c in planner.units[parts[0]]):
            return {}, None, LACKS_PART  # nothing to reshape
        return settings, None, ""

    @classmethod
    def applicable(cls, planner: Planner) -> str:
        if planner.parts_per_variant != 1:
            return f"a steer edits one part and --parts_per_variant is {planner.parts_per_variant}"
        steerable = [name for name in planner.units if planner.steerable.get(name)]
        if not steerable:
            known = ", ".join(p for p, a in planner.steerable.items() if a) or "none"
            return f"none of --parts {', '.join(planner.units)} has a steerable attribute (parts with one: {known})"
        if not any(c in h for h in planner.has or [] for n in steerable for c in planner.units[n]):
            return f"every input lacks {', '.join(steerable)}"
        return ""


@dataclass(frozen=True)
class PresenceEdit(PartEdit):
    """An edit that makes a part appear or disappear; it applies to the masks that lack / have it."""

    measured_by: ClassVar[str] = "presence"
    uses_steering: ClassVar[bool] = True
    wants_part: ClassVar[bool] = False  # whether the masks it applies to have the part
    unmet: ClassVar[tuple[str, str]] = ("", "")  # a mask it does not apply to: "mask 3 <...> eye_g", "2 that <...>"

    def prepared(self, editor: MaskEditor) -> PresenceEdit:
        """A part without a presence prior is refused before anything is written."""
        steering = editor.require_steering(self.name)
        for c in editor.part_ids(self.parts):
            steering.presence_of(c, editor.class_names, self.name)
        return self

    def applies(self, editor: MaskEditor, labels: torch.Tensor) -> np.ndarray:
        """(B,) bool: the masks the edit applies to (those that have every class of the part, for a remove)."""
        has = classes_present(labels, editor.part_ids(self.parts)).all(1).cpu().numpy()
        return has if self.wants_part else ~has

    def check_masks(self, editor: MaskEditor, labels: torch.Tensor) -> None:
        wrong = np.flatnonzero(~self.applies(editor, labels))
        if len(wrong):
            shown = ", ".join(str(int(i)) for i in wrong[:8]) + (", ..." if len(wrong) > 8 else "")
            raise UserError(f"{self.name}: mask {shown} {self.unmet[0]} {'+'.join(self.parts)}; nothing was changed")

    @classmethod
    def draw(cls, rng: np.random.Generator, planner: Planner, i: int, parts: tuple[str, ...]) -> tuple[dict, Any, str]:
        ids = [c for name in parts for c in planner.units[name]]
        if not all(c in planner.presence for c in ids):
            return {}, None, NO_PRIOR
        has = planner.has is not None and all(c in planner.has[i] for c in ids)
        return {}, None, "" if has == cls.wants_part else (LACKS_PART if cls.wants_part else HAS_PART)

    @classmethod
    def applicable(cls, planner: Planner) -> str:
        capable = [name for name, ids in planner.units.items() if all(c in planner.presence for c in ids)]
        known = ", ".join(planner.class_names[c] for c in sorted(planner.presence)) or "none"
        if not capable:
            return f"none of --parts {', '.join(planner.units)} has a presence prior (classes with one: {known})"
        has = planner.has or []
        if not any(all(c in h for c in planner.units[n]) == cls.wants_part for h in has for n in capable):
            state = "lacks" if cls.wants_part else "already has"
            return f"every input {state} {', '.join(capable)} (classes with a presence prior: {known})"
        return ""


@dataclass(frozen=True)
class Add(PresenceEdit):
    """Add: the part, absent from every mask, drawn from the latents of training masks that have it (every latent
    first moved towards faces that have it: the mixer draws a part from all of them).

    Args:
        seed: noise seed.
    """

    name: ClassVar[str] = "add"
    goal: ClassVar[str] = "present"
    unmet: ClassVar[tuple[str, str]] = ("already has", "already have")
    seed: int = setting(0, check_seed)

    def details(self) -> str:
        return f"seed {self.seed}"

    def latents(self, editor: MaskEditor, z: torch.Tensor, z_target: Any = None, seeds: Any = None) -> torch.Tensor:
        ids = editor.part_ids(self.parts)
        rows = editor.vae.latent_rows(ids)
        priors = [editor.require_steering(self.name).presence_of(c, editor.class_names, self.name) for c in ids]
        seed = self.seed if seeds is None else seeds
        noise = latent.part_noise(z.shape[0], len(rows), editor.latent_dim, seed).to(z.device, z.dtype)  # (B, P, D)
        mean = torch.stack([p.present_mean for p in priors]).to(z.device, z.dtype)
        tril = torch.stack([p.present_tril for p in priors]).to(z.device, z.dtype)
        for p in priors:
            if p.direction is not None and p.push:
                z = latent.steer(z, p.direction.view(z.shape[1:]), p.push)
        return latent.generate_parts(z, rows, mean + torch.einsum("pde,bpe->bpd", tril, noise))


@dataclass(frozen=True)
class Remove(PresenceEdit):
    """Remove: the part, present in every mask, taken away: its latent set to where masks without it have theirs,
    and the model's next class drawn where it was."""

    name: ClassVar[str] = "remove"
    goal: ClassVar[str] = "absent"
    wants_part: ClassVar[bool] = True
    unmet: ClassVar[tuple[str, str]] = ("has no", "have no")

    def latents(self, editor: MaskEditor, z: torch.Tensor, z_target: Any = None, seeds: Any = None) -> torch.Tensor:
        ids = editor.part_ids(self.parts)
        priors = [editor.require_steering(self.name).presence_of(c, editor.class_names, self.name) for c in ids]
        values = torch.stack([p.absent_mean for p in priors]).to(z.device, z.dtype)  # (P, D)
        return latent.generate_parts(z, editor.vae.latent_rows(ids), values.expand(z.shape[0], -1, -1))

    def left_out(self, editor: MaskEditor, labels: torch.Tensor, reconstruction: Callable[[], torch.Tensor]) -> Any:
        return editor.part_ids(self.parts)

    def gone(self, editor: MaskEditor) -> Sequence[int]:
        return editor.part_ids(self.parts)
