"""Steering fitted for a model: what needs the model's decoder, on top of the directions fitted on arrays.

`calibrate` measures the change each direction achieves at +-1 (at twice the model's resolution) and divides the
direction by that gain; `calibrate_presence` finds the push along a presence direction that makes a part appear;
`fit_for` does all of it for an editor (when `fit` ends: `callbacks.FitSteering`; `semantic-vae fit-directions` for an
existing checkpoint, also a converted one: `semantic_vae.commands.model`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from semantic_vae.console import Progress
from semantic_vae.edit.attributes import measure
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.latent import steer
from semantic_vae.edit.steering import Direction, Presence, Steering, fit_steering

CALIBRATION_MASKS = 16  # training masks a direction's gain is measured on
GAIN_RANGE = (0.05, 10.0)  # a measured |gain| outside this is not applied (the decoder does not follow, or noise)
CALIBRATION_ROUNDS = 2  # gain measurements per direction (the second at the first's corrected amplitude)
PUSHES = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)  # add: standard deviations along the presence direction tried
PRESENT_SHARE = 0.9  # add: the push used is the smallest that makes the part appear in this share of masks


def calibrate(editor: MaskEditor, masks: np.ndarray, progress: bool = False) -> Steering:
    """The editor's steering with each steerable direction divided by its measured gain: the median change it achieves
    per unit asked at +-1 on `masks` (model-size label maps), against their reconstruction, both decoded at 2x the
    model's resolution (at most 256 px) so a change of a fraction of a model pixel counts. keep="none": inside the
    part's neighbourhood, where keep="input" takes the model's pixels, the two are the same. `progress`: a bar over
    the directions and presence priors on a terminal."""
    steering = editor.require_steering("calibrate")
    steps = steering.steerable_count() + len(steering.presence)
    with Progress(steps, "calibrating directions", enabled=progress, unit="direction") as bar:
        return _calibrate(editor, steering, masks, bar)


def _calibrate(editor: MaskEditor, steering: Steering, masks: np.ndarray, bar: Progress) -> Steering:
    side = min(256, 2 * editor.image_size)
    label_set = editor.label_set
    labels, _ = editor.as_batch(np.asarray(masks))
    z = editor.encode(labels)
    base = editor.decode(z, (side, side)).cpu().numpy()
    directions: dict[str, dict[str, Direction]] = {}
    for part, attrs in steering.directions.items():
        directions[part] = dict(attrs)
        before = measure(base, label_set, part)
        usable = np.isfinite(before["size"])
        if usable.sum() < 4:
            bar.update(steering.steerable_count([part]))
            continue
        for name, direction in attrs.items():
            if not direction.steerable:
                continue
            std = steering.scale.stat(part, name).std
            current = direction
            for _ in range(CALIBRATION_ROUNDS):
                ratios = []
                for amount in (-1.0, 1.0):
                    change = current.held.view(z.shape[1:])  # the default steer holds the other attributes
                    out = editor.decode(steer(z[usable], change, amount), (side, side)).cpu().numpy()
                    ratios.append((measure(out, label_set, part, [name])[name] - before[name][usable]) / std / amount)
                ratios_all = np.concatenate(ratios)
                gain = float(np.nanmedian(ratios_all)) if np.isfinite(ratios_all).any() else 0.0
                if not GAIN_RANGE[0] <= abs(gain) <= GAIN_RANGE[1]:  # a decoder that follows a probe backwards: flipped
                    break
                current = Direction(current.r2, current.free / gain, current.held / gain, current.gain * gain)
            directions[part][name] = current
            bar.update()
    presence = {}
    for c, p in steering.presence.items():
        presence[c] = calibrate_presence(editor, z, c, p, side)
        bar.update()
    return replace(steering, directions=directions, presence=presence, calibrated=True)


def calibrate_presence(editor: MaskEditor, z: torch.Tensor, c: int, presence: Presence, side: int) -> Presence:
    """The smallest push along the presence direction (of PUSHES) that, with the class's latent drawn from its
    present prior, makes the class appear in PRESENT_SHARE of the calibration masks that lack it (else the largest)."""
    if presence.direction is None:
        return presence
    first = editor.vae.latent_classes[0]
    base = editor.decode(z, (side, side)).cpu().numpy()
    lacking = ~(base == c).reshape(len(base), -1).any(1)
    if lacking.sum() < 4:
        return presence
    zl = z[torch.from_numpy(lacking)]
    noise = torch.randn((len(zl), presence.present_mean.numel()), generator=torch.Generator().manual_seed(0))
    draw = presence.present_mean + noise @ presence.present_tril.T
    chosen = PUSHES[-1]
    for push in PUSHES:
        moved = zl + push * presence.direction.view(zl.shape[1:])
        moved[:, c - first] = draw
        out = editor.decode(moved, (side, side)).cpu().numpy()
        if (out == c).reshape(len(out), -1).any(1).mean() >= PRESENT_SHARE:
            chosen = push
            break
    return replace(presence, push=float(chosen))


def fit_for(
    editor: MaskEditor, train_masks: np.ndarray, calibration_masks: np.ndarray | None = None, progress: bool = False
) -> Steering:
    """Fit the editor's network's steering on training masks (at the model's size), then calibrate it (`progress`:
    a bar over the calibration on a terminal)."""
    vae = editor.vae
    with torch.inference_mode():
        chunks = np.array_split(train_masks, max(1, len(train_masks) // 256))
        mu = torch.cat([vae.encode_labels(torch.from_numpy(m).to(editor.device))[0].double().cpu() for m in chunks])
    editor.steering = fit_steering(mu.numpy(), train_masks, editor.label_set, vae.config.latent_classes)
    calibration = train_masks[:CALIBRATION_MASKS] if calibration_masks is None else calibration_masks
    editor.steering = calibrate(editor, calibration, progress)
    return editor.steering
