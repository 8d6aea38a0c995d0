"""Evaluation and editing speed: the eval-forward variants, the confusion-matrix metric update
(plain and deterministic), and the batch-1 latency of editing one part."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semantic_vae.bench.context import Context, build_module
from semantic_vae.bench.settings import NUM_CLASSES
from semantic_vae.bench.timing import _deterministic, _first_line, _free, _round, _skipped, _sync, time_rounds
from semantic_vae.model import one_hot


@dataclass(frozen=True)
class EvalVariant:
    name: str
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False


EVAL_VARIANTS: tuple[EvalVariant, ...] = (
    EvalVariant("fp32"),
    EvalVariant("fp32_channels_last", channels_last=True),
    EvalVariant("bf16_mixed", bf16=True),
    EvalVariant("bf16_mixed_channels_last", bf16=True, channels_last=True),
    EvalVariant("bf16_mixed_channels_last_compile", bf16=True, channels_last=True, compile=True),
)
EVAL_KEYS = ("masks_per_s", "masks_per_s_best", "batch_ms", "warmup_s", "tflops", "peak_memory_bytes")


def measure_eval(ctx: Context, variant: EvalVariant) -> dict[str, Any]:
    """What `test_step` computes before the metric: one-hot, forward (encoder mean), argmax."""
    reason = ctx.skip_reason(variant.bf16, variant.compile)
    if reason:
        return _skipped(EVAL_KEYS, reason, batch=ctx.settings.eval_batch)
    s = ctx.settings
    module = build_module(ctx, variant.channels_last, variant.compile).eval()
    labels = ctx.batch(s.eval_batch)

    def run() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=variant.bf16):
            return module._forward(labels)[0].argmax(1)

    try:
        ctx.memory.reset()
        timed = time_rounds(run, ctx.device, s.warmup, s.rounds, max(1, s.steps // 2))
        peak = ctx.memory.read()
    except RuntimeError as err:
        return _skipped(EVAL_KEYS, f"failed: {_first_line(err)}", batch=s.eval_batch)
    finally:
        del module
        _free(ctx.device)
    rate, best, median_s = timed.rate(s.eval_batch * max(1, s.steps // 2))
    return {
        "masks_per_s": _round(rate),
        "masks_per_s_best": _round(best),
        "batch_ms": _round(median_s / max(1, s.steps // 2) * 1e3),
        "warmup_s": _round(timed.warmup_s),
        "tflops": _round(ctx.flops["forward_per_mask"] * best / 1e12),
        "peak_memory_bytes": peak,
        "batch": s.eval_batch,
        "skipped": None,
    }


def measure_metric(ctx: Context) -> dict[str, Any]:
    """The confusion-matrix update of val/test (SegmentationScores), plain and deterministic.

    With `deterministic` on (base.yaml sets "warn"), torchmetrics replaces torch.bincount by an
    (pixels x C^2) int64 comparison: 8*C^2 bytes per pixel. It runs at a batch bounded by
    `metric_mesh_budget_bytes` so it cannot exhaust memory here.
    """
    from semantic_vae.metrics import SegmentationScores

    s, device = ctx.settings, ctx.device
    keys = ("masks_per_s", "batch")
    mesh_per_mask = s.image_size * s.image_size * NUM_CLASSES * NUM_CLASSES * 8
    out: dict[str, Any] = {"mesh_bytes_per_mask": mesh_per_mask}
    for name, deterministic in (("bincount", False), ("deterministic_fallback", True)):
        batch = s.eval_batch
        if deterministic:
            batch = max(1, min(batch, s.metric_mesh_budget_bytes // mesh_per_mask))
        target = ctx.batch(batch).long()
        pred = target.roll(1, dims=-1)  # a prediction that differs somewhere; int64 as in test_step
        scores = SegmentationScores(NUM_CLASSES).to(device)
        try:
            with _deterministic(deterministic):
                timed = time_rounds(lambda: scores.update(pred, target), device, 1, s.rounds, max(1, s.steps // 2))
        except RuntimeError as err:
            out[name] = _skipped(keys, f"failed: {_first_line(err)}")
            continue
        rate = timed.rate(batch * max(1, s.steps // 2))[1]
        out[name] = {"masks_per_s": _round(rate), "batch": batch, "skipped": None}
    return out


EDIT_KEYS = ("latency_ms_median", "latency_ms_p90", "latency_ms_min")


def _latency(fn: Callable[[int], object], repeats: int, device: torch.device) -> dict[str, Any]:
    for seed in range(5):  # first calls at batch 1 create kernels (oneDNN primitives, cuDNN plans)
        fn(seed)
    times = []
    for seed in range(repeats):
        _sync(device)
        begin = time.perf_counter()
        fn(seed)
        _sync(device)
        times.append((time.perf_counter() - begin) * 1e3)
    times.sort()
    return {
        "latency_ms_median": _round(statistics.median(times)),
        "latency_ms_p90": _round(times[min(len(times) - 1, int(0.9 * len(times)))]),
        "latency_ms_min": _round(times[0]),
        "repeats": repeats,
    }


def measure_edit(ctx: Context, part: str = "nose") -> dict[str, Any]:
    """Batch-1 latency of generating one part: numpy mask in, numpy mask out, fp32 eager.

    `editor`: through semantic_vae.edit.MaskEditor.generate (input checks, resize, host copies);
    `model`: the same computation on a device tensor (encode, replace the part's latent with
    noise, mix, decode, argmax), without the editor's checks.
    """
    s, device = ctx.settings, ctx.device
    module = build_module(ctx).eval()
    mask = ctx.masks[0]
    out: dict[str, Any] = {"part": part, "batch": 1}
    try:
        from semantic_vae.edit import MaskEditor
    except ImportError as err:
        reason = f"semantic_vae.edit.MaskEditor unavailable ({_first_line(err)})"
        out["editor"] = _skipped(EDIT_KEYS, reason, repeats=None)
    else:
        editor = MaskEditor(module, device=device, batch_size=1)
        out["editor"] = {**_latency(lambda seed: editor.generate(mask, part, seed=seed), s.edit_repeats, device),
                         "skipped": None}
    from semantic_vae.labels import CELEBAMASK_HQ

    part_id = CELEBAMASK_HQ.id_of(part)
    labels = torch.from_numpy(mask[None]).to(device)

    @torch.inference_mode()
    def model_edit(seed: int) -> np.ndarray:
        mu, _ = module.vae.encode(one_hot(labels, NUM_CLASSES))
        z = mu.clone()
        noise = torch.randn((1, s.model["latent_dim"]), generator=torch.Generator().manual_seed(seed))
        z[:, part_id] = noise.to(device)
        return module.vae.generate(z).argmax(1).to(torch.uint8).cpu().numpy()

    out["model"] = {**_latency(model_edit, s.edit_repeats, device), "skipped": None}
    del module
    _free(device)
    return out
