"""Training speed: the training-step variants (bf16, channels_last, fused Adam, compile, ...), the
real `Trainer.fit` loop with the DataModule, the process warm-up, and Adam's implementations."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from semantic_vae.bench.context import Context, build_module
from semantic_vae.bench.timing import (
    _cudnn_benchmark,
    _deterministic,
    _first_line,
    _free,
    _round,
    _skipped,
    _sync,
    time_rounds,
)


@dataclass(frozen=True)
class TrainVariant:
    name: str
    bf16: bool = False
    channels_last: bool = False
    fused_adam: bool = False
    compile: bool = False
    deterministic: bool = False
    cudnn_benchmark: bool = False

    def options(self) -> dict[str, bool]:
        return {k: v for k, v in asdict(self).items() if k != "name"}


TRAIN_VARIANTS: tuple[TrainVariant, ...] = (
    TrainVariant("fp32"),
    TrainVariant("fp32_channels_last", channels_last=True),
    TrainVariant("fp32_fused_adam", fused_adam=True),
    TrainVariant("fp32_compile", compile=True),
    TrainVariant("bf16_mixed", bf16=True),
    TrainVariant("bf16_mixed_channels_last", bf16=True, channels_last=True),
    TrainVariant("bf16_mixed_channels_last_deterministic", bf16=True, channels_last=True, deterministic=True),
    TrainVariant("bf16_mixed_all", bf16=True, channels_last=True, fused_adam=True, compile=True),
    TrainVariant("bf16_mixed_all_cudnn_benchmark", bf16=True, channels_last=True, fused_adam=True, compile=True,
                 cudnn_benchmark=True),
)
TRAIN_KEYS = ("masks_per_s", "masks_per_s_best", "step_ms", "warmup_s", "tflops", "peak_memory_bytes", "first_loss")


def warm_process(ctx: Context) -> float:
    """Two untimed fp32 training steps, so that one-time costs (kernel JIT, first-touch page faults,
    allocator growth) do not land on whichever variant happens to run first."""
    begin = time.perf_counter()
    module = build_module(ctx).train()
    optimizer = torch.optim.Adam(module.parameters())
    labels = ctx.batch(ctx.settings.train_batch)
    for _ in range(2):
        module._losses(labels)[0]["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(ctx.device)
    del module, optimizer
    _free(ctx.device)
    return round(time.perf_counter() - begin, 2)


def measure_train(ctx: Context, variant: TrainVariant) -> dict[str, Any]:
    reason = ctx.skip_reason(
        variant.bf16, variant.compile,
        "cuDNN autotuning applies to CUDA only" if variant.cudnn_benchmark else None,
    )
    if reason:
        return _skipped(TRAIN_KEYS, reason, options=variant.options())
    s = ctx.settings
    module = build_module(ctx, variant.channels_last, variant.compile).train()
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=variant.fused_adam)
    labels = ctx.batch(s.train_batch)
    losses: list[torch.Tensor] = []

    def step() -> None:
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=variant.bf16):
            loss = module._losses(labels)[0]["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if not losses:
            losses.append(loss.detach())  # kept on the device: no sync inside the timed steps

    try:
        with _deterministic(variant.deterministic), _cudnn_benchmark(variant.cudnn_benchmark):
            torch.manual_seed(1)  # the same reparameterisation noise in every variant
            ctx.memory.reset()
            timed = time_rounds(step, ctx.device, s.warmup, s.rounds, s.steps)
            peak = ctx.memory.read()
    except RuntimeError as err:  # out of memory, a compiler failure: report it, keep benchmarking
        return _skipped(TRAIN_KEYS, f"failed: {_first_line(err)}", options=variant.options())
    finally:
        del module, optimizer
        _free(ctx.device)
    rate, best, median_s = timed.rate(s.train_batch * s.steps)
    return {
        "masks_per_s": _round(rate),
        "masks_per_s_best": _round(best),
        "step_ms": _round(median_s / s.steps * 1e3),
        "warmup_s": _round(timed.warmup_s),
        "tflops": _round(ctx.flops["train_per_mask"] * best / 1e12),
        "peak_memory_bytes": peak,
        "first_loss": _round(float(losses[0]), 6),
        "options": variant.options(),
        "skipped": None,
    }


def measure_train_lightning(ctx: Context, cache_dir: Path) -> dict[str, Any]:
    """The real `Trainer.fit` loop with FaceMaskDataModule: data, Lightning and logging included.

    Precision and channels_last as the paper config would run on this device (bf16-mixed on
    CUDA, 32-true on CPU); no logger, checkpointing or progress bar.
    """
    import lightning as L

    from semantic_vae.data.datamodule import FaceMaskDataModule

    keys = ("masks_per_s", "steps", "precision", "workers")
    s, cuda = ctx.settings, ctx.device.type == "cuda"
    precision = "bf16-mixed" if cuda and not ctx.bf16_skip else "32-true"
    warm = min(2, s.lightning_steps - 1)
    marks: dict[str, float] = {}

    class StepClock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == warm:
                _sync(ctx.device)
                marks["start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx >= warm:  # the last one stays: teardown after the last step is not timed
                _sync(ctx.device)
                marks["end"] = time.perf_counter()

    datamodule = FaceMaskDataModule(
        source="synthetic", image_size=s.image_size, batch_size=s.train_batch, num_workers=s.loader_workers,
        val_fraction=0.0, synthetic_count=s.data_count, synthetic_test=s.train_batch, cache_dir=str(cache_dir),
    )
    module = build_module(ctx, channels_last=cuda)
    trainer = L.Trainer(
        accelerator=ctx.device.type, devices=1, precision=precision, max_steps=s.lightning_steps,
        limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[StepClock()],
        default_root_dir=str(cache_dir / "lightning"),
    )
    try:
        trainer.fit(module, datamodule=datamodule)
    except RuntimeError as err:
        return _skipped(keys, f"failed: {_first_line(err)}")
    finally:
        _free(ctx.device)
    steps = s.lightning_steps - warm
    return {
        "masks_per_s": _round(steps * s.train_batch / (marks["end"] - marks["start"])),
        "steps": steps,
        "precision": precision,
        "workers": s.loader_workers,
        "skipped": None,
    }


# ----------------------------------------------------------------------------- optimizer


def measure_optimizer(ctx: Context) -> dict[str, Any]:
    """One Adam step over the model's parameters with fixed random gradients: the for-loop,
    foreach and fused implementations (fused runs on CPU too since torch 2.4), and how far
    their parameters end from the for-loop's after the same steps."""
    s, device = ctx.settings, ctx.device
    keys = ("step_ms", "step_ms_best", "max_abs_diff_vs_for_loop")
    base = build_module(ctx).vae
    generator = torch.Generator(device="cpu").manual_seed(0)
    grads = [(torch.randn(p.shape, generator=generator) * 1e-2).to(device) for p in base.parameters()]
    out: dict[str, Any] = {"parameters": int(sum(p.numel() for p in base.parameters()))}
    reference: torch.Tensor | None = None
    for name, kwargs in (("for_loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        params = [torch.nn.Parameter(p.detach().clone()) for p in base.parameters()]
        for param, grad in zip(params, grads):
            param.grad = grad
        try:
            optimizer = torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999), **kwargs)
            timed = time_rounds(optimizer.step, device, 1, s.rounds, max(1, s.steps // 2))
        except RuntimeError as err:
            out[name] = _skipped(keys, f"failed: {_first_line(err)}")
            continue
        flat = torch.cat([p.detach().flatten() for p in params])
        if reference is None:
            reference = flat
        steps = max(1, s.steps // 2)
        out[name] = {
            "step_ms": _round(statistics.median(timed.rounds_s) / steps * 1e3),
            "step_ms_best": _round(min(timed.rounds_s) / steps * 1e3),
            "max_abs_diff_vs_for_loop": float((flat - reference).abs().max()),
            "skipped": None,
        }
        del params, optimizer
    del base
    _free(device)
    return out
