"""`MaskEditor`: part-level editing on a trained Semantic-VAE (paper §4): reconstruct, generate,
perturb, interpolate, swap, sample.

    editor = MaskEditor.from_checkpoint("run/checkpoints/last.ckpt")
    edited = editor.generate(masks, parts="nose", seed=0)      # (B, H, W) uint8, the input's size
    edited = editor.apply(Edit("generate", parts="nose"), masks)   # the same, as a value

Every edit works on the per-class encoder embeddings m_e (B, C, D): the chosen parts' rows are
changed (`semantic_vae.edit.latent`), every other row stays at the encoder mean mu (never a
sample), then the mixer adapts the neighbours and the decoder draws the mask. Masks of any size
are resized to the model's size with nearest-neighbour; the model's logits are upsampled bilinearly
to the input's size before the argmax (`labels_at`), so edited parts have smooth contours at 512x512.

A batch shares one noise generator (mask i gets the i-th draw); a sequence of seeds gives each
mask its own, so `generate(masks, p, seed=[s0, s1])[1]` equals `generate(masks[1], p, seed=s1)`.

Beyond the paper: `keep` (see `semantic_vae.edit.region`) leaves everything outside the edited
parts' neighbourhood as it was in the input (the default) or in the reconstruction, and
`generate(prior="data")` draws a part from the Gaussian fitted on the training split's latents: the
default where the checkpoint holds one (its draws stay where the training latents are, so the parts look like
trained ones; RESULTS.md compares the two), else `"normal"`, the paper's N(0, I).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from semantic_vae.checks import check_seed
from semantic_vae.edit import latent
from semantic_vae.edit.edit import Edit, PartSpec, parse_parts
from semantic_vae.edit.operations import PRIORS, Add, Prior, Remove
from semantic_vae.edit.outcome import EditWarning, Outcome, outcome
from semantic_vae.edit.region import DEFAULT_KEEP, KEEP_RADIUS, Keep, compose, scaled_radius
from semantic_vae.edit.steering import Direction, Steering
from semantic_vae.errors import UserError
from semantic_vae.labels import LabelSet
from semantic_vae.machine import resolve_device
from semantic_vae.model import SemanticVAE, load_vae
from semantic_vae.model.vae import UPSAMPLE_MODES, labels_at, resize_nearest

MaskInput = np.ndarray | torch.Tensor
SeedSpec = latent.SeedSpec
Job = tuple[Edit, torch.Tensor, torch.Tensor, torch.Tensor | None, SeedSpec | None]  # edit, labels, z, z_target, seeds
COLOUR_CHANNELS = (3, 4)  # a last axis of this length is read as RGB(A) in the label set's palette


class MaskEditor:
    """Edits face label maps part by part with a trained Semantic-VAE.

    The network is only read (encode, mix, decode under `torch.inference_mode`), so its training
    mode is left as it is; it is moved to `device`.

    Args:
        vae: a trained `SemanticVAE` (`semantic_vae.model.load_vae(path).vae`).
        label_set: the classes it was trained on, in id order.
        device: "cpu", "cuda", "cuda:1", ...; None picks CUDA when available.
        batch_size: masks per forward pass (inputs of any count are chunked).
        steering: the fitted directions and presence priors of steer, add and remove (`semantic_vae.edit.steering`);
            `from_checkpoint` reads them from the checkpoint when it holds them.
        upsample: how a decoded mask reaches an input larger than the model: "bilinear" interpolates the logits
            before the argmax (smooth contours), "nearest" resizes the model's label map (its pixels as blocks).
    """

    def __init__(
        self,
        vae: SemanticVAE,
        label_set: LabelSet,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        steering: Steering | None = None,
        upsample: str = "bilinear",
    ) -> None:
        if not isinstance(vae, SemanticVAE):
            raise UserError(
                f"vae: expected a SemanticVAE (semantic_vae.model.load_vae(path).vae), got {type(vae).__name__}"
            )
        if not isinstance(label_set, LabelSet):
            raise UserError(
                f"label_set: expected a LabelSet (load_vae(path).label_set), got {type(label_set).__name__}"
            )
        if steering is not None and not isinstance(steering, Steering):
            raise UserError(f"steering: expected a Steering or None, got {type(steering).__name__}")
        if upsample not in UPSAMPLE_MODES:
            raise UserError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        if label_set.num_classes != vae.num_classes:
            raise UserError(
                f"label set '{label_set.name}' has {label_set.num_classes} classes, the network {vae.num_classes}"
            )
        self.device = resolve_device(device)
        self.vae = vae.to(self.device)
        self.label_set = label_set
        self.batch_size = batch_size
        self.steering = steering
        self.upsample = upsample  # how decoded masks reach a larger input's size (`labels_at`)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        upsample: str = "bilinear",
    ) -> MaskEditor:
        """The editor of a checkpoint of this project (`semantic_vae.model.load_vae`; no Lightning import)."""
        loaded = load_vae(path)
        steering = loaded.extras.get("steering")
        steering = Steering.from_dict(steering, str(path)) if steering is not None else None
        return cls(loaded.vae, loaded.label_set, device, batch_size, steering, upsample)

    # -- properties -----------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.vae.num_classes

    @property
    def image_size(self) -> int:
        return self.vae.image_size

    @property
    def latent_dim(self) -> int:
        return self.vae.latent_dim

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.label_set.names

    @property
    def has_data_prior(self) -> bool:
        return bool(self.vae.prior.fitted)

    @property
    def min_side(self) -> int:
        """The smallest mask side taken: the model's latent side (16 for the paper's 256-d latents); a smaller mask
        has less than a pixel per cell of a part's latent map."""
        return self.vae.config.latent_side

    # -- argument handling ----------------------------------------------------------------
    def part_ids(self, parts: PartSpec) -> list[int]:
        """Class ids from names, ids, group names ("lips"), or a comma string ("nose,mouth"); order kept,
        duplicates dropped."""
        ids: list[int] = []
        for part in parse_parts(parts):
            for idx in self.label_set.ids_of(part):
                if idx not in ids:
                    ids.append(idx)
        if not ids:
            raise UserError(f"no parts given; known parts: {', '.join(self.class_names)}")
        return ids

    def part_name(self, part: str | int) -> str:
        """A class or group as the label set names it ("2" -> "nose", "lips" -> "lips")."""
        if any(part == name for name, _ in self.label_set.groups):
            return str(part)
        return self.class_names[self.label_set.id_of(part)]

    def part_units(self, parts: PartSpec) -> dict[str, list[int]]:
        """Each item of `parts` (a class, an id or a group such as "lips") as one unit of edits, measured alone."""
        names = parse_parts(parts)
        if not names:
            raise UserError(f"--parts: no parts given; known parts: {', '.join(self.class_names)}")
        return {name: self.part_ids(name) for name in names}

    def as_batch(self, masks: MaskInput, what: str = "masks") -> tuple[torch.Tensor, bool]:
        """Label maps -> (B, H, W) uint8 on the device, and whether the input was one mask.

        Accepted, numpy or torch, of any integer dtype: (H, W) or (B, H, W) ids; (H, W, 1) or (B, H, W, 1) ids with a
        channel axis (a grayscale image as OpenCV and PIL hand it); (H, W, 3|4) or (B, H, W, 3|4) colours 0..255 in the
        label set's palette (alpha ignored). A side shorter than `min_side` is refused, so a last axis of 1, 3 or 4 is
        always a channel axis, never a mask's width. Anything else is a UserError naming the shape or dtype.
        """
        values = _as_array(masks, what)
        shape = tuple(values.shape)
        if values.ndim in (3, 4) and values.shape[-1] == 1:
            values = values[..., 0]  # a channel axis
        elif values.ndim in (3, 4) and values.shape[-1] in COLOUR_CHANNELS:
            values = self._decolour(values, what)
        if values.ndim not in (2, 3) or 0 in values.shape:
            raise UserError(
                f"{what}: expected (H, W) or (B, H, W) label maps (or (..., 1) ids, (..., 3) colours), got shape {shape}"
            )
        if min(values.shape[-2:]) < self.min_side:
            h, w = values.shape[-2:]
            raise UserError(
                f"{what}: shape {shape} gives masks of {h}x{w} pixels; this model takes sides of {self.min_side} or more"
            )
        single = values.ndim == 2
        low, high = int(values.min()), int(values.max())
        last = self.num_classes - 1
        if low < 0 or high > last:
            bad = high if high > last else low
            raise UserError(f"{what}: label value {bad} is outside 0..{last} of '{self.label_set.name}'")
        # In range, so uint8 holds every value.
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.uint8)).to(self.device)
        return (tensor[None] if single else tensor), single

    def _decolour(self, values: np.ndarray, what: str) -> np.ndarray:
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 255:
            raise UserError(f"{what}: a colour mask (last axis {values.shape[-1]}) holds 0..255, got {low}..{high}")
        rgb = values[..., :3].astype(np.uint8)
        if rgb.ndim == 3:
            return self.label_set.decolorize(rgb, source=what)
        return np.stack([self.label_set.decolorize(m, source=f"{what}[{i}]") for i, m in enumerate(rgb)])

    def _target(self, target: MaskInput | None, source: torch.Tensor, edit: Edit) -> torch.Tensor:
        if target is None:
            raise UserError(f"{edit.operation}: needs a target mask")
        tgt, _ = self.as_batch(target, "target")
        if source.shape[1:] != tgt.shape[1:]:
            raise UserError(
                f"source and target sizes differ: {tuple(source.shape[1:])} vs {tuple(tgt.shape[1:])}; "
                "interpolation and swap need masks of one size"
            )
        if tgt.shape[0] not in (1, source.shape[0]):
            raise UserError(
                f"target has {tgt.shape[0]} masks for {source.shape[0]} sources; give 1 or {source.shape[0]}"
            )
        return tgt.expand_as(source)

    def _seeds(self, seeds: SeedSpec | None, batch: int) -> SeedSpec | None:
        if seeds is None or isinstance(seeds, (int, np.integer)):
            return None if seeds is None else check_seed(seeds)
        if isinstance(seeds, str) or not isinstance(seeds, (Sequence, np.ndarray, torch.Tensor)):
            raise UserError(f"seeds: expected one whole number per mask (a list), got {seeds!r}")
        checked = [check_seed(s) for s in seeds]
        if len(checked) != batch:
            raise UserError(f"got {len(checked)} seeds for {batch} masks")
        return checked

    # -- the model, in and out ------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, H, W) uint8 labels on the device -> encoder means mu (B, C, D) at the model's size."""
        s = self.image_size
        out = []
        for chunk in labels.split(self.batch_size):
            small = resize_nearest(chunk, s, s)  # (b, S, S)
            mu, _ = self.vae.encode_labels(small)  # (b, L, D); logvar unused
            out.append(mu)
        return torch.cat(out)

    @torch.inference_mode()
    def decode(
        self,
        z: torch.Tensor,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        exclude: Sequence[int] | torch.Tensor = (),
    ) -> torch.Tensor:
        """Per-class embeddings (N, L, D) -> (N, H, W) uint8 labels on the device: mix, decode, argmax, resize.

        `seed` seeds the initial LSTM state of a model that draws it at random (`lstm_init="random"`); the classes
        in `exclude` are left out of the argmax (a removed part: each pixel takes the model's next class): ids for
        every mask, or an (N, C) boolean tensor per mask.
        """
        generator = torch.Generator().manual_seed(seed) if self.vae.config.lstm_init == "random" else None
        per_mask = isinstance(exclude, torch.Tensor)
        out = []
        for i, chunk in enumerate(z.split(self.batch_size)):
            logits = self.vae.decode_latents(chunk, generator)  # (n, C, S, S)
            left_out = exclude[i * self.batch_size : i * self.batch_size + len(chunk)] if per_mask else exclude
            out.append(labels_at(logits, size, left_out, self.upsample))
        return torch.cat(out)

    def keep_outside(
        self, edited: torch.Tensor, labels: torch.Tensor, z_base: torch.Tensor, ids: list[int], keep: Keep, radius: int
    ) -> np.ndarray:
        """The edited masks (B, H, W) with everything outside the parts' region taken from the input or the
        reconstruction of `z_base` (keep="input" / "reconstruction"), or as the model drew it (keep="none")."""
        out = edited.cpu().numpy()
        if keep == "none":
            return out
        size = tuple(labels.shape[1:])
        base = labels if keep == "input" else self.decode(z_base, size)
        return compose(out, base.cpu().numpy(), ids, scaled_radius(radius, size, self.image_size))

    def resolve_prior(self, prior: Prior | None) -> Prior:
        """The prior to draw from: as given, or (None) "data" when the checkpoint holds a fitted one, else "normal"."""
        if prior is None:
            return "data" if self.has_data_prior else "normal"
        if prior not in PRIORS:
            raise UserError(f"prior: unknown '{prior}'; choose from {', '.join(PRIORS)}")
        return prior

    def part_noise(self, batch: int, ids: list[int], seed: SeedSpec, prior: Prior | None = None) -> torch.Tensor:
        """(B, P, D) draws for the parts' latents (class ids) on the device: N(0, I) (the paper) or the data prior."""
        prior = self.resolve_prior(prior)
        rows = self.vae.latent_rows(ids)
        noise = latent.part_noise(batch, len(rows), self.latent_dim, seed).to(self.device)
        if prior == "data":
            if not self.has_data_prior:
                raise UserError(
                    "prior 'data': this checkpoint holds no data prior; use 'normal', or fit one (semantic-vae fit-prior)"
                )
            noise = self.vae.prior.transform(noise, rows)
        return noise

    def edit_latents(
        self, edit: Edit, z: torch.Tensor, z_target: torch.Tensor | None = None, seeds: SeedSpec | None = None
    ) -> torch.Tensor:
        """The embeddings (B, C, D) after `edit` (each operation computes its own: `semantic_vae.edit.operations`)."""
        return edit.latents(self, z, z_target, seeds)

    def steer_direction(self, part: str | int, attribute: str) -> Direction:
        """The fitted direction of a part's attribute: an unknown part is named with the known ones, a part or
        attribute without a direction with those that have one."""
        self.part_ids(part)
        return self.require_steering("steer").direction(self.part_name(part), attribute)

    def outcome(self, edit: Edit, masks: MaskInput | list[np.ndarray], edited: np.ndarray | list) -> Outcome | None:
        """What `edit` did to `masks`, `edited` being its result (`apply`'s): `semantic_vae.edit.outcome`. The edit
        commands print it, the web editor shows it, and `steer`, `add`, `remove` warn with it. `masks` and `edited`
        may also be lists of (H, W) label maps of several sizes, as the commands hold them."""
        if not edit.goal:
            return None  # an operation whose outcome is not checked
        if isinstance(masks, (list, tuple)):
            before, after = [np.asarray(m) for m in masks], [np.asarray(m) for m in edited]
        else:
            before = list(self.as_batch(masks)[0].cpu().numpy())
            after = list(np.asarray(edited).reshape(-1, *np.shape(edited)[-2:]))
        direction = edit.direction(self)
        part = self.part_name(edit.parts[0]) if direction is not None else ""
        ids = self.part_ids(edit.parts)
        return outcome(edit, before, after, self.label_set, ids, part, direction.r2 if direction is not None else None)

    def _report(
        self, edit: Edit, masks: MaskInput | list[np.ndarray], edited: np.ndarray, what: str = "", stacklevel: int = 3
    ) -> np.ndarray:
        """`edited`, after an `EditWarning` (`what`, else the edit, then what fell short) when the edit fell short on
        some masks (`outcome`); `stacklevel` points the warning at the caller of the public method."""
        found = self.outcome(edit, masks, edited)
        if found is not None and found.problem():
            warnings.warn(f"{what or edit.describe()}: {found.problem()}", EditWarning, stacklevel=stacklevel)
        return edited

    def require_steering(self, operation: str) -> Steering:
        if self.steering is None:
            raise UserError(
                f"{operation}: this checkpoint holds no fitted directions or presence priors; fit them with "
                "semantic-vae fit-directions --ckpt ..."
            )
        return self.steering

    @torch.inference_mode()
    def apply(
        self, edit: Edit, masks: MaskInput, target: MaskInput | None = None, seeds: SeedSpec | None = None
    ) -> np.ndarray:
        """`edit` on (H, W) or (B, H, W) label maps -> the same shape, uint8, at the input's size.

        `target`: the second mask of interpolate and swap (one, or one per mask). `seeds`: one noise seed
        per mask instead of `edit.seed` for the whole batch.
        """
        return self.apply_many([edit], masks, target, seeds)[0]

    @torch.inference_mode()
    def apply_many(
        self, edits: Sequence[Edit], masks: MaskInput, target: MaskInput | None = None, seeds: SeedSpec | None = None
    ) -> list[np.ndarray]:
        """Several edits of the same masks (an interpolation path, say), encoding them once."""
        if not isinstance(edits, (list, tuple)) or not edits or not all(isinstance(e, Edit) for e in edits):
            raise UserError("apply: expected one or more Edit values")
        labels, single = self.as_batch(masks)
        seeds = self._seeds(seeds, labels.shape[0])
        z = self.encode(labels)  # (B, C, D)
        z_target = None
        if any(e.target for e in edits):
            z_target = self.encode(self._target(target, labels, next(e for e in edits if e.target)))
        results = self.apply_jobs([(edit, labels, z, z_target, seeds) for edit in edits])
        return [out[0] if single else out for out in results]

    @torch.inference_mode()
    def apply_each(
        self, edits: Sequence[Edit], masks: Sequence[np.ndarray], targets: Sequence[np.ndarray | None] | None = None
    ) -> list[np.ndarray]:
        """Edit i of mask i ((H, W) label maps of one size; `targets[i]`: mask i's target, or None), each with its
        own settings and seed: augment's variants. One encode for the masks and one for the targets; the edits that
        decode alike are decoded together. Each result equals `edits[i].apply(editor, masks[i], targets[i])`."""
        if not edits:
            return []
        targets = list(targets) if targets is not None else [None] * len(edits)
        labels, _ = self.as_batch(np.stack(masks))
        z = self.encode(labels)
        given = [i for i, t in enumerate(targets) if t is not None]
        z_targets = torch.zeros_like(z)
        if given:
            z_targets[given] = self.encode(self.as_batch(np.stack([targets[i] for i in given]), "target")[0])
        jobs = [(e, labels[i : i + 1], z[i : i + 1], z_targets[i : i + 1] if targets[i] is not None else None, None)
                for i, e in enumerate(edits)]  # fmt: skip
        return [out[0] for out in self.apply_jobs(jobs, together=True)]

    @torch.inference_mode()
    def apply_jobs(self, jobs: Sequence[Job], together: bool = False) -> list[np.ndarray]:
        """The editor's one pipeline: each job (edit, labels (b, H, W), their latents z, the target's or None, seeds)
        -> its results (b, H, W) uint8: the edit's checks, its latents, the decode (without the classes it leaves
        out), then what its `keep` keeps. `together`: jobs that decode alike (nothing left out, one decode seed where
        the model draws its initial state from it) share one decode of every size, else each is decoded alone."""
        for edit, labels, *_ in jobs:
            edit.check_masks(self, labels)
        decode_once = self._decode_cache()  # jobs of one batch (apply_many) share their z: its decodes once each
        decoded: dict[int, torch.Tensor] = {}
        shared: dict[tuple, list[int]] = {}
        plans = []
        for k, (edit, labels, z, z_target, seeds) in enumerate(jobs):
            size = tuple(labels.shape[1:])
            reconstruction = functools.partial(decode_once, z, size, 0, ())
            left_out = edit.left_out(self, labels, reconstruction)
            latents = edit.latents(self, z, z_target, seeds)
            plans.append((size, left_out))
            seed = edit.noise_seed if self.vae.config.lstm_init == "random" else 0
            if together and len(left_out) == 0:
                shared.setdefault((size, seed), []).append(k)
                decoded[k] = latents
            else:
                decoded[k] = self.decode(latents, size, edit.noise_seed, left_out)
        for (size, seed), ks in shared.items():
            out = self.decode(torch.cat([decoded[k] for k in ks]), size, seed)
            for k, part in zip(ks, out.split([len(decoded[k]) for k in ks])):
                decoded[k] = part
        results = []
        for k, (edit, labels, z, _, _) in enumerate(jobs):
            size, left_out = plans[k]
            unedited = functools.partial(decode_once, z, size, edit.noise_seed, edit.unedited_left_out(left_out))
            results.append(edit.compose(self, decoded[k], labels, z, lambda u=unedited: u().cpu().numpy()))
        return results

    def _decode_cache(self) -> Callable[..., torch.Tensor]:
        """`decode(z, size, seed, exclude)`, each distinct call decoded once (z by identity; the seed counts only
        where the model draws its initial state from it)."""
        done: dict[tuple, torch.Tensor] = {}

        def decode_once(z: torch.Tensor, size: tuple, seed: int, exclude: Sequence[int] | torch.Tensor) -> torch.Tensor:
            left_out = exclude.cpu().numpy().tobytes() if isinstance(exclude, torch.Tensor) else tuple(exclude)
            key = (id(z), size, seed if self.vae.config.lstm_init == "random" else 0, left_out)
            if key not in done:
                done[key] = self.decode(z, size, seed, exclude)
            return done[key]

        return decode_once

    # -- the operations of paper §4, by name ----------------------------------------------
    def reconstruct(self, masks: MaskInput) -> np.ndarray:
        """Encode (mu), mix, decode: (H, W) or (B, H, W) -> same shape, uint8."""
        return self.apply(Edit("reconstruct"), masks)

    def generate(
        self,
        masks: MaskInput,
        parts: PartSpec,
        seed: SeedSpec = 0,
        prior: Prior | None = None,
        keep: Keep = DEFAULT_KEEP,
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """The parts' embeddings replaced by draws from the prior; the others stay at mu (`Edit` documents the
        settings)."""
        first, seeds = _split_seed(seed)
        return self.apply(Edit("generate", parts, first, prior=prior, keep=keep, radius=radius), masks, seeds=seeds)

    def perturb(
        self,
        masks: MaskInput,
        parts: PartSpec,
        scale: float = 1.0,
        seed: SeedSpec = 0,
        keep: Keep = DEFAULT_KEEP,
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """The parts' embeddings plus scale * N(0, I)."""
        first, seeds = _split_seed(seed)
        return self.apply(Edit("perturb", parts, first, scale=scale, keep=keep, radius=radius), masks, seeds=seeds)

    def interpolate(
        self,
        source: MaskInput,
        target: MaskInput,
        parts: PartSpec,
        alphas: float | Sequence[float],
        keep: Keep = DEFAULT_KEEP,
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """Eq. 4 per chosen part: m_c = alpha * m_c^target + (1 - alpha) * m_c^source.

        A float alpha gives the source's shape; a sequence of A alphas gives (A, *source shape).
        alpha = 0 reconstructs the source, alpha = 1 is `swap`. `target` is one mask or one per source.
        """
        one = isinstance(alphas, (int, float, np.floating, np.integer)) and not isinstance(alphas, bool)
        if not one and (isinstance(alphas, str) or not isinstance(alphas, (Sequence, np.ndarray, torch.Tensor))):
            raise UserError(f"interpolate: alphas must be a number in [0, 1] or a list of them, got {alphas!r}")
        alpha_list = [alphas] if one else list(alphas)  # type: ignore[arg-type]
        if not alpha_list:
            raise UserError("interpolate: no alphas given")
        edits = [Edit("interpolate", parts, alpha=a, keep=keep, radius=radius) for a in alpha_list]
        results = self.apply_many(edits, source, target)
        return results[0] if one else np.stack(results)

    def swap(
        self,
        source: MaskInput,
        target: MaskInput,
        parts: PartSpec,
        keep: Keep = DEFAULT_KEEP,
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """The parts' embeddings taken from the target (alpha = 1)."""
        return self.apply(Edit("swap", parts, keep=keep, radius=radius), source, target)

    def steer(
        self,
        masks: MaskInput,
        parts: PartSpec,
        attribute: str,
        amount: float,
        hold: bool = True,
        keep: Keep = DEFAULT_KEEP,
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """The part's latent moved along its attribute's direction by `amount` standard deviations (`steering`);
        no class that the mask and its reconstruction lack is drawn (a steer reshapes, `add` adds). An `EditWarning`
        says where the part vanished or its attribute did not move the asked way, and names a weak direction."""
        edit = Edit("steer", parts, attribute=attribute, amount=amount, hold=hold, keep=keep, radius=radius)
        return self._report(edit, masks, self.apply(edit, masks))

    def add(
        self,
        masks: MaskInput,
        parts: PartSpec,
        seed: SeedSpec = 0,
        keep: Keep = DEFAULT_KEEP,
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """The part, absent from every mask, drawn from the latents of training masks that have it (an `EditWarning`
        counts the results where the model did not draw it)."""
        first, seeds = _split_seed(seed)
        edit = Edit("add", parts, first, keep=keep, radius=radius)
        return self._report(edit, masks, self.apply(edit, masks, seeds=seeds))

    def remove(
        self, masks: MaskInput, parts: PartSpec, keep: Keep = DEFAULT_KEEP, radius: int = KEEP_RADIUS
    ) -> np.ndarray:
        """The part, present in every mask, taken away: its latent set to where masks without it have theirs, and
        the model's next class drawn where it was (an `EditWarning` counts the results that still have it)."""
        edit = Edit("remove", parts, keep=keep, radius=radius)
        return self._report(edit, masks, self.apply(edit, masks))

    @torch.inference_mode()
    def sample(
        self,
        n: int,
        seed: int = 0,
        size: int | None = None,
        prior: Prior | None = None,
        present: PartSpec = (),
        absent: PartSpec = (),
    ) -> np.ndarray:
        """n masks with every part drawn from the prior: (n, S, S) uint8 at the model's size or size x size.

        present / absent: parts every mask has (drawn from the latents of training masks that have them) or lacks
        (their latents where masks without them have theirs, and left out of the argmax): a chosen label set. An
        `EditWarning` counts the masks where the model did not draw a part asked present.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise UserError(f"sample: n must be a whole number >= 1, got {n!r}")
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
            raise UserError(f"sample: size must be a whole number of pixels >= 1, got {size!r}")
        seed = check_seed(seed)
        z = self.part_noise(int(n), list(self.vae.latent_classes), seed, prior)  # (n, L, D)
        wanted = self.part_ids(present) if parse_parts(present, "present") else []
        unwanted = self.part_ids(absent) if parse_parts(absent, "absent") else []
        both = sorted(set(wanted) & set(unwanted))
        if both:
            raise UserError(f"sample: {', '.join(self.class_names[c] for c in both)} asked both present and absent")
        for ids, what in ((wanted, "sample(present=...)"), (unwanted, "sample(absent=...)")):
            for c in ids:  # each asked class needs its presence prior
                self.require_steering(what).presence_of(c, self.class_names, what)
        if wanted:
            z = Add([str(c) for c in wanted], seed).latents(self, z)
        if unwanted:
            z = Remove([str(c) for c in unwanted]).latents(self, z)
        side = int(size or self.image_size)
        faces = self.decode(z, (side, side), seed, unwanted).cpu().numpy()
        if wanted:
            asked = Add([self.class_names[c] for c in wanted], seed)
            self._report(asked, list(faces), faces, f"sample(present={'+'.join(asked.parts)})", stacklevel=4)
        return faces


def by_shape(masks: Sequence[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, m in enumerate(masks):
        groups.setdefault(m.shape, []).append(i)
    return groups


def run_grouped(
    masks: Sequence[np.ndarray], fn: Callable[[np.ndarray, list[int]], np.ndarray], axis: int = 0
) -> list[np.ndarray]:
    """fn(batch (b, H, W), indices) per group of equal-size masks; results back in input order.

    `axis` is the batch axis of fn's result (1 for interpolate's (A, b, H, W)).
    """
    out: list[np.ndarray | None] = [None] * len(masks)
    for idx in by_shape(masks).values():
        result = fn(np.stack([masks[i] for i in idx]), idx)
        for j, i in enumerate(idx):
            out[i] = np.take(result, j, axis=axis)
    return out  # type: ignore[return-value]


def _as_array(masks: MaskInput, what: str) -> np.ndarray:
    """A numpy array of integer label maps from numpy or torch; a UserError for another type or dtype."""
    if isinstance(masks, torch.Tensor):
        if masks.dtype == torch.bool or masks.is_floating_point() or masks.is_complex():
            raise UserError(f"{what}: expected integer label maps, got dtype {masks.dtype}")
        return masks.detach().cpu().numpy()
    if not isinstance(masks, np.ndarray):
        raise UserError(f"{what}: expected a numpy array or a torch tensor, got {type(masks).__name__}")
    if masks.dtype == np.bool_ or not np.issubdtype(masks.dtype, np.integer):
        raise UserError(f"{what}: expected integer label maps, got dtype {masks.dtype}")
    return masks


def _split_seed(seed: SeedSpec) -> tuple[int, Sequence[int] | None]:
    """One seed for the batch, or one per mask (then the Edit holds the first, for display)."""
    if not isinstance(seed, (list, tuple, np.ndarray, torch.Tensor)):
        return check_seed(seed), None  # one seed for the batch (a float, a string, ... is refused here)
    seeds = [check_seed(s) for s in seed]
    return (seeds[0] if seeds else 0), seeds
