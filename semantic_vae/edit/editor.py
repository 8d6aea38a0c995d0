"""`MaskEditor`: part-level editing on a trained Semantic-VAE (paper §4): reconstruct, generate,
perturb, interpolate, swap, sample.

    editor = MaskEditor.from_checkpoint("run/checkpoints/last.ckpt")
    edited = editor.generate(masks, parts="nose", seed=0)      # (B, H, W) uint8, the input's size

Every edit works on the per-class encoder embeddings m_e (B, C, D): the chosen parts' rows are
changed (`semantic_vae.edit.latent`), every other row stays at the encoder mean mu (never a
sample), then the mixer adapts the neighbours and the decoder draws the mask. Masks of any size
are resized to the model's size with nearest-neighbour and the result is resized back the same way.

A batch shares one noise generator (mask i gets the i-th draw); a sequence of seeds gives each
mask its own, so `generate(masks, p, seed=[s0, s1])[1]` equals `generate(masks[1], p, seed=s1)`.

Beyond the paper: `keep` (see `semantic_vae.edit.region`) leaves everything outside the edited
parts' neighbourhood as it was in the input (the default) or in the reconstruction, and
`generate(prior="data")` draws a part from the Gaussian fitted on the training split's latents: the
default where the checkpoint holds one (it measured more diverse and as realistic; README), else
`"normal"`, the paper's N(0, I).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from semantic_vae.data.io import nearest_indices
from semantic_vae.edit import latent
from semantic_vae.edit.region import KEEP_MODES, KEEP_RADIUS, Keep, compose, scaled_radius
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, default_palette
from semantic_vae.lit import SemanticVAEModule
from semantic_vae.model import VAEConfig, one_hot
from semantic_vae.runtime import resolve_device

MaskInput = np.ndarray | torch.Tensor
PartSpec = str | int | Sequence[str | int]
Prior = Literal["normal", "data"]
PRIORS: tuple[str, ...] = ("normal", "data")
MAX_SEED = 2**63 - 1


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _init_args(hyper_parameters: dict) -> dict:
    """The module's init arguments from a checkpoint; older checkpoints stored the network's sizes flat."""
    args = {k: v for k, v in hyper_parameters.items() if not k.startswith("_")}
    if "net" not in args:
        names = set(VAEConfig.__dataclass_fields__)
        args["net"] = {k: args.pop(k) for k in list(args) if k in names}
        for stale in ("metrics_path", "predict_dir"):
            args.pop(stale, None)
    return args


def read_checkpoint(path: str | Path) -> dict:
    """A Semantic-VAE Lightning checkpoint as a dict, on the CPU; a one-line UserError for anything else.

    The file is read with `weights_only=True`: a checkpoint that carries pickled objects is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(f"{path}: refused, it holds objects other than weights ({_first_line(err)})") from None
    except Exception as err:  # arbitrary bytes make torch.load fail in arbitrary ways (IndexError, KeyError, ...)
        raise UserError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {_first_line(err)})"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    if not any(key.startswith("vae.") for key in checkpoint["state_dict"]):
        raise UserError(f"{path}: not a Semantic-VAE checkpoint (no 'vae.*' weights in its state_dict)")
    if not isinstance(checkpoint.get("hyper_parameters"), dict):
        raise UserError(f"{path}: not a Semantic-VAE checkpoint (no 'hyper_parameters')")
    return checkpoint


def load_module(path: str | Path) -> SemanticVAEModule:
    """A SemanticVAEModule from a Lightning checkpoint (`read_checkpoint`), on the CPU."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    # Built from the checkpoint's own init arguments rather than through `load_from_checkpoint`:
    # one read of the file, and no LightningCLI instantiator (its `_*` keys) re-parsing them.
    init_args = _init_args(checkpoint["hyper_parameters"])
    init_args["compile"] = False  # editing runs a few forward passes; compiling would cost more than it saves
    try:
        module = SemanticVAEModule(**init_args)
        missing, unexpected = module.load_state_dict(checkpoint["state_dict"], strict=False)
        missing = [k for k in missing if not k.startswith("vae.prior.")]  # older checkpoints: no data prior
        if missing or unexpected:
            raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: not a checkpoint of this Semantic-VAE ({_first_line(err)})") from None
    return module


def label_set_for(class_names: Sequence[str]) -> LabelSet:
    """CelebAMask-HQ when the model's classes are its 19; otherwise the names with a default palette."""
    names = tuple(class_names)
    if names == CELEBAMASK_HQ.names:
        return CELEBAMASK_HQ
    return LabelSet(names=names, palette=default_palette(len(names)), name="model")


def resize_nearest(labels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, h, w) labels -> (B, height, width) on their device, with `data.io.nearest_indices`."""
    b, h, w = labels.shape
    if (h, w) == (height, width):
        return labels
    ys = torch.from_numpy(nearest_indices(h, height)).to(labels.device)
    xs = torch.from_numpy(nearest_indices(w, width)).to(labels.device)
    return labels[:, ys][:, :, xs]


def part_units(editor: MaskEditor, parts: PartSpec) -> dict[str, list[int]]:
    """Each comma item of `parts` (a class, an id or a group such as "lips") as one unit of edits."""
    items = [p.strip() for p in parts.split(",") if p.strip()] if isinstance(parts, str) else list(parts)
    if not items:
        raise UserError(f"--parts: no parts given; known parts: {', '.join(editor.class_names)}")
    return {str(item): editor.part_ids(item) for item in items}


class MaskEditor:
    """Edits face label maps part by part with a trained Semantic-VAE, in eval mode.

    Args:
        module: a trained SemanticVAEModule (its `.vae` and `.class_names` are used); put in eval mode.
        device: "cpu", "cuda", "cuda:1", ...; None picks CUDA when available.
        batch_size: masks per forward pass (inputs of any count are chunked).
    """

    def __init__(
        self, module: SemanticVAEModule, device: str | torch.device | None = None, batch_size: int = 64
    ) -> None:
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        self.device = resolve_device(device)
        self.module = module.eval()  # eval mode for good: mu, never a sample, for unedited parts
        self.vae = module.vae.to(self.device)
        self.label_set = label_set_for(module.class_names)
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, batch_size: int = 64
    ) -> MaskEditor:
        return cls(load_module(path), device=device, batch_size=batch_size)

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

    # -- argument handling ----------------------------------------------------------------
    def part_ids(self, parts: PartSpec) -> list[int]:
        """Class ids from names, ids, group names ("lips"), or a comma string ("nose,mouth"); order kept,
        duplicates dropped."""
        if isinstance(parts, str):
            items: list[str | int] = [p.strip() for p in parts.split(",") if p.strip()]
        elif isinstance(parts, (int, np.integer)):
            items = [int(parts)]
        else:
            items = list(parts)
        ids: list[int] = []
        for part in items:
            for idx in self.label_set.ids_of(part.strip() if isinstance(part, str) else part):
                if idx not in ids:
                    ids.append(idx)
        if not ids:
            raise UserError(f"no parts given; known parts: {', '.join(self.class_names)}")
        return ids

    def as_batch(self, masks: MaskInput, what: str = "masks") -> tuple[torch.Tensor, bool]:
        """(H, W) or (B, H, W) integer labels -> (B, H, W) uint8 on the device, and whether a batch axis was added."""
        if isinstance(masks, np.ndarray):
            if masks.dtype == np.bool_ or not np.issubdtype(masks.dtype, np.integer):
                raise UserError(f"{what}: expected integer label maps, got dtype {masks.dtype}")
            values = masks
        elif isinstance(masks, torch.Tensor):
            if masks.dtype == torch.bool or masks.is_floating_point() or masks.is_complex():
                raise UserError(f"{what}: expected integer label maps, got dtype {masks.dtype}")
            values = masks.detach()
        else:
            raise UserError(f"{what}: expected a numpy array or a torch tensor, got {type(masks).__name__}")
        if values.ndim not in (2, 3) or 0 in values.shape:
            raise UserError(f"{what}: expected (H, W) or (B, H, W) label maps, got shape {tuple(values.shape)}")
        single = values.ndim == 2
        low, high = int(values.min()), int(values.max())
        last = self.num_classes - 1
        if low < 0 or high > last:
            bad = high if high > last else low
            raise UserError(f"{what}: label value {bad} is outside 0..{last} of '{self.label_set.name}'")
        # In range, so uint8 holds every value; numpy's unsigned types beyond uint8 never reach torch.
        tensor = (
            torch.from_numpy(np.ascontiguousarray(values, dtype=np.uint8)) if isinstance(values, np.ndarray) else values
        )
        tensor = tensor.to(self.device, torch.uint8)
        return (tensor[None] if single else tensor), single

    def _pair(self, source: MaskInput, target: MaskInput) -> tuple[torch.Tensor, torch.Tensor, bool]:
        src, single = self.as_batch(source, "source")
        tgt, _ = self.as_batch(target, "target")
        if src.shape[1:] != tgt.shape[1:]:
            raise UserError(
                f"source and target sizes differ: {tuple(src.shape[1:])} vs {tuple(tgt.shape[1:])}; "
                "interpolation and swap need masks of one size"
            )
        if tgt.shape[0] not in (1, src.shape[0]):
            raise UserError(f"target has {tgt.shape[0]} masks for {src.shape[0]} sources; give 1 or {src.shape[0]}")
        return src, tgt.expand_as(src), single

    # -- the model, in and out ------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, H, W) uint8 labels on the device -> encoder means mu (B, C, D) at the model's size."""
        s = self.image_size
        out = []
        for chunk in labels.split(self.batch_size):
            small = resize_nearest(chunk, s, s)  # (b, S, S)
            mu, _ = self.vae.encode(one_hot(small, self.num_classes))  # (b, C, D); logvar unused in eval
            out.append(mu)
        return torch.cat(out)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Per-class embeddings (N, C, D) -> (N, H, W) uint8 labels on the device: mix, decode, argmax, resize."""
        out = []
        for chunk in z.split(self.batch_size):
            labels = self.vae.generate(chunk).argmax(1).to(torch.uint8)  # (n, S, S)
            out.append(resize_nearest(labels, *size) if size is not None else labels)
        return torch.cat(out)

    def _finish(self, labels: torch.Tensor | np.ndarray, single: bool) -> np.ndarray:
        array = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else labels
        return array[0] if single else array

    @staticmethod
    def check_options(keep: str, radius: int) -> None:
        if keep not in KEEP_MODES:
            raise UserError(f"keep: unknown mode '{keep}'; choose from {', '.join(KEEP_MODES)}")
        if not isinstance(radius, (int, np.integer)) or isinstance(radius, bool) or not 0 <= radius <= 1024:
            raise UserError(f"radius must be a whole number of pixels in 0..1024, got {radius!r}")

    @staticmethod
    def check_seed(seed: latent.SeedSpec) -> None:
        seeds = [seed] if isinstance(seed, (int, np.integer)) else list(seed)
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= int(s) <= MAX_SEED:
                raise UserError(f"seed must be a whole number in 0..2**63-1, got {s!r}")

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
            return "data" if bool(self.vae.prior.fitted) else "normal"
        if prior not in PRIORS:
            raise UserError(f"prior: unknown '{prior}'; choose from {', '.join(PRIORS)}")
        return prior

    def part_noise(self, batch: int, ids: list[int], seed: latent.SeedSpec, prior: Prior | None = None) -> torch.Tensor:
        """(B, P, D) draws for the parts on the device: N(0, I) (the paper) or the data prior."""
        prior = self.resolve_prior(prior)
        self.check_seed(seed)
        noise = latent.part_noise(batch, len(ids), self.latent_dim, seed).to(self.device)
        if prior == "data":
            if not bool(self.vae.prior.fitted):
                raise UserError(
                    "prior 'data': this checkpoint holds no data prior (trained before it existed); use 'normal'"
                )
            noise = self.vae.prior.transform(noise, ids)
        return noise

    @torch.inference_mode()
    def _random_edit(
        self,
        masks: MaskInput,
        parts: PartSpec,
        seed: latent.SeedSpec,
        scale: float | None,
        keep: Keep,
        radius: int,
        prior: Prior | None = None,
    ) -> np.ndarray:
        """generate (scale None) or perturb: one noise draw per chosen part and mask."""
        self.check_options(keep, radius)
        labels, single = self.as_batch(masks)
        ids = self.part_ids(parts)
        z = self.encode(labels)  # (B, C, D)
        noise = self.part_noise(z.shape[0], ids, seed, prior)  # (B, P, D)
        edited = latent.generate_parts(z, ids, noise) if scale is None else latent.perturb_parts(z, ids, noise, scale)
        out = self.decode(edited, tuple(labels.shape[1:]))
        return self._finish(self.keep_outside(out, labels, z, ids, keep, radius), single)

    # -- the operations of paper §4 -------------------------------------------------------
    @torch.inference_mode()
    def reconstruct(self, masks: MaskInput) -> np.ndarray:
        """Encode (mu), mix, decode: (H, W) or (B, H, W) -> same shape, uint8."""
        labels, single = self.as_batch(masks)
        return self._finish(self.decode(self.encode(labels), tuple(labels.shape[1:])), single)

    def generate(
        self,
        masks: MaskInput,
        parts: PartSpec,
        seed: latent.SeedSpec = 0,
        prior: Prior | None = None,
        keep: Keep = "input",
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """The parts' embeddings replaced by draws from the prior; the others stay at mu.

        prior: "normal" (N(0, I), the paper's), "data" (the Gaussian fitted on the training split's latents), or
        None: "data" when the checkpoint holds a fitted one, else "normal".

        keep, radius: what happens outside the parts' neighbourhood (`semantic_vae.edit.region`);
        the radius is in the model's pixels and scales with the input's size.
        """
        return self._random_edit(masks, parts, seed, None, keep, radius, prior)

    def perturb(
        self,
        masks: MaskInput,
        parts: PartSpec,
        scale: float = 1.0,
        seed: latent.SeedSpec = 0,
        keep: Keep = "input",
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """The parts' embeddings plus scale * N(0, I); keep and radius as in `generate`."""
        if not math.isfinite(float(scale)):
            raise UserError(f"scale must be a finite number, got {scale}")
        return self._random_edit(masks, parts, seed, float(scale), keep, radius, "normal")

    @torch.inference_mode()
    def interpolate(
        self,
        source: MaskInput,
        target: MaskInput,
        parts: PartSpec,
        alphas: float | Sequence[float],
        keep: Keep = "input",
        radius: int = KEEP_RADIUS,
    ) -> np.ndarray:
        """Eq. 4 per chosen part: m_c = alpha * m_c^target + (1 - alpha) * m_c^source.

        A float alpha gives the source's shape; a sequence of A alphas gives (A, *source shape).
        alpha = 0 reconstructs the source, alpha = 1 is `swap`. `target` is one mask or one per source.
        keep and radius as in `generate`, with the source as the input.
        """
        self.check_options(keep, radius)
        one = isinstance(alphas, (int, float, np.floating, np.integer))
        alpha_list = [float(alphas)] if one else [float(a) for a in alphas]  # type: ignore[union-attr]
        if not alpha_list:
            raise UserError("interpolate: no alphas given")
        bad = [a for a in alpha_list if not 0.0 <= a <= 1.0]  # also NaN
        if bad:
            raise UserError(f"alpha must lie in [0, 1] (0: the source, 1: the target), got {bad[0]}")
        src, tgt, single = self._pair(source, target)
        ids = self.part_ids(parts)
        z_src, z_tgt = self.encode(src), self.encode(tgt)  # (B, C, D) each
        size = tuple(src.shape[1:])
        results = []
        for alpha in alpha_list:  # one decode per alpha: the same batch shapes as `reconstruct`
            out = self.decode(latent.interpolate_parts(z_src, z_tgt, ids, alpha), size)
            results.append(self._finish(self.keep_outside(out, src, z_src, ids, keep, radius), single))
        return results[0] if one else np.stack(results)

    def swap(
        self, source: MaskInput, target: MaskInput, parts: PartSpec, keep: Keep = "input", radius: int = KEEP_RADIUS
    ) -> np.ndarray:
        """The parts' embeddings taken from the target (alpha = 1); keep and radius as in `generate`."""
        return self.interpolate(source, target, parts, 1.0, keep=keep, radius=radius)

    @torch.inference_mode()
    def sample(self, n: int, seed: int = 0, size: int | None = None, prior: Prior | None = None) -> np.ndarray:
        """n masks with every part drawn from the prior: (n, S, S) uint8 at the model's size or size x size."""
        if n < 1:
            raise UserError(f"sample: n must be at least 1, got {n}")
        z = self.part_noise(n, list(range(self.num_classes)), seed, prior)  # (n, C, D)
        side = size or self.image_size
        return self.decode(z, (side, side)).cpu().numpy()
