"""`make bench`: speed of training, evaluation, editing, the data path and the raw merge.

    python -m semantic_vae.bench [--quick] [--device auto|cpu|cuda] [--out outputs/bench.json]

Prints a table and writes JSON: the device, versions, settings, and one entry per figure. Every
entry has a `skipped` field: None when measured, otherwise the reason, with the figures None.
`--quick` runs the same measurements at small sizes (64x64, a narrow model, few steps), so the
JSON has exactly the keys of a full run.

Timing: every measurement runs a warm-up, then `rounds` rounds of `steps` steps with one device
synchronisation per round; `masks_per_s` is the median round, `masks_per_s_best` the fastest
(the best round is the better estimate on a machine shared with other work).

The training step is `SemanticVAEModule._losses` + backward + Adam, exactly what `training_step`
computes minus Lightning's logging; `train_lightning` runs the real `Trainer.fit` loop with the
DataModule, for the end-to-end rate. bf16-mixed is `torch.autocast(bfloat16)` around the
forward and loss, with backward outside it, as Lightning's `bf16-mixed` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from semantic_vae.lit import SemanticVAEModule
from semantic_vae.model import SemanticVAE, one_hot

NUM_CLASSES = 19
SCHEMA_VERSION = 1

# Targets of issue 6 for one H100, bf16-mixed, the paper model at 256x256.
H100_TARGETS: dict[str, float] = {
    "train_masks_per_s": 3000.0,
    "train_masks_per_s_aim": 5000.0,
    "data_over_train": 3.0,
    "eval_masks_per_s": 10000.0,
    "edit_latency_ms_max": 10.0,
}

# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Sizes of one run; `full` and `quick` differ only here."""

    mode: str
    image_size: int
    model: dict[str, Any]
    train_batch: int
    eval_batch: int
    warmup: int
    rounds: int
    steps: int  # per round
    edit_repeats: int
    data_count: int  # masks in the cache the loaders read
    loader_batch: int
    loader_workers: int
    merge_count: int
    merge_size: int  # the raw release's part PNGs are 512x512
    synthetic_count: int
    lightning_steps: int
    metric_mesh_budget_bytes: int  # bounds torchmetrics' deterministic bincount fallback
    compile: bool
    notes: list[str] = field(default_factory=list)


PAPER_MODEL: dict[str, Any] = {
    "latent_dim": 256,
    "encoder_hidden": [256, 256, 256],
    "lstm_layers": 3,
    "bidirectional": True,
    "lstm_hidden": 256,
    "ffn_hidden": 1024,
    "decoder_width": 64,
}
QUICK_MODEL: dict[str, Any] = {**PAPER_MODEL, "lstm_hidden": 128, "ffn_hidden": 512, "decoder_width": 16}


def _cpu_count() -> int:
    """Cores this process may use (the container's share, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def make_settings(
    quick: bool,
    device: torch.device,
    train_batch: int | None = None,
    eval_batch: int | None = None,
    compile: bool | None = None,
) -> Settings:
    cuda = device.type == "cuda"
    notes: list[str] = []
    workers = min(8, _cpu_count())
    if quick:
        compile_on = bool(compile)
        if compile is None:
            notes.append("torch.compile is skipped in --quick (inductor compiles for about a minute per variant "
                         "on 2 CPU cores); run without --quick or with --compile true")
        settings = dict(
            mode="quick", image_size=64, model=dict(QUICK_MODEL), train_batch=train_batch or 16,
            eval_batch=eval_batch or 32, warmup=1, rounds=3, steps=4 if cuda else 1, edit_repeats=10,
            data_count=1024, loader_batch=32, merge_count=12, synthetic_count=50, lightning_steps=5,
        )
    else:
        compile_on = True if compile is None else compile
        if eval_batch is None and not cuda:
            notes.append("eval batch 32 on CPU: batch 256 at 256x256 would need about 8x the activation memory "
                         "of batch 32 (eval.*.peak_memory_bytes), more than a shared CPU machine spares")
        settings = dict(
            mode="full", image_size=256, model=dict(PAPER_MODEL),
            train_batch=train_batch or (64 if cuda else 8),
            eval_batch=eval_batch or (256 if cuda else 32),
            warmup=5 if cuda else 1, rounds=3 if cuda else 5, steps=20 if cuda else 1, edit_repeats=50 if cuda else 20,
            data_count=16384 if cuda else 4096, loader_batch=64, merge_count=64, synthetic_count=200,
            lightning_steps=40 if cuda else 5,
        )
    return Settings(
        **settings,
        loader_workers=workers,
        merge_size=512,
        metric_mesh_budget_bytes=1 << 29,
        compile=compile_on,
        notes=notes,
    )


# ----------------------------------------------------------------------------- device helpers


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench: --device cuda but CUDA is not available")
    return torch.device(name)


def _cpu_info() -> tuple[str, set[str]]:
    name: str | None = None
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name is None:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    return name or platform.processor() or "unknown CPU", flags


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of a measurement: CUDA's allocator peak, or on CPU the process's peak RSS.

    On Linux the RSS high-water mark (VmHWM) is reset by writing 5 to /proc/self/clear_refs; the
    CPU figure is the whole process (interpreter, libraries, the allocator's retained memory).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_memory_allocated" if device.type == "cuda" else "process_peak_rss"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.kind = "process_peak_rss_since_start"  # no reset possible: the lifetime peak

    def read(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return None


@contextlib.contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    """What Lightning's `deterministic="warn"` (experiments/base.yaml) sets, restored afterwards."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if on:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


@contextlib.contextmanager
def _cudnn_benchmark(on: bool) -> Iterator[None]:
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or saved
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"[:300]


@dataclass
class Timed:
    warmup_s: float
    rounds_s: list[float]

    def rate(self, items_per_round: int) -> tuple[float, float, float]:
        """(median rate, best rate, median seconds per round)."""
        median = statistics.median(self.rounds_s)
        return items_per_round / median, items_per_round / min(self.rounds_s), median


def time_rounds(fn: Callable[[], object], device: torch.device, warmup: int, rounds: int, steps: int) -> Timed:
    """`warmup` calls, then `rounds` x `steps` calls with one synchronisation per round."""
    _sync(device)
    begin = time.perf_counter()
    for _ in range(warmup):
        fn()
    _sync(device)
    warmup_s = time.perf_counter() - begin
    times = []
    for _ in range(rounds):
        begin = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync(device)
        times.append(time.perf_counter() - begin)
    return Timed(warmup_s, times)


def _skipped(keys: tuple[str, ...], reason: str, **extra: Any) -> dict[str, Any]:
    return {**{k: None for k in keys}, **extra, "skipped": reason}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


# ----------------------------------------------------------------------------- FLOPs


def count_flops(image_size: int, model: dict[str, Any]) -> dict[str, Any]:
    """FLOPs per mask with torch's FlopCounterMode, on the meta device (no compute).

    On the meta device nn.LSTM decomposes into matmuls the counter sees; on CPU/CUDA its fused
    kernel is not counted. Counted: mm/addmm/bmm/convolution and their backward.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        vae = SemanticVAE(num_classes=NUM_CLASSES, image_size=image_size, **_vae_kwargs(model)).train()
        x = torch.zeros(1, NUM_CLASSES, image_size, image_size)
    with FlopCounterMode(display=False, depth=2) as counter:
        logits, mu, logvar = vae(x)
        forward = counter.get_total_flops()
        forward_by = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
        (logits.float().mean() + mu.mean() + logvar.mean()).backward()
    total = counter.get_total_flops()
    by_module = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    parts = ("encoder", "mixer", "decoder")
    return {
        "forward_per_mask": int(forward),
        "train_per_mask": int(total),
        "forward_by_module": {p: int(forward_by.get(f"SemanticVAE.{p}", 0)) for p in parts},
        "train_by_module": {p: int(by_module.get(f"SemanticVAE.{p}", 0)) for p in parts},
        "parameters": int(sum(p.numel() for p in vae.parameters())),
        "counter": "torch.utils.flop_counter.FlopCounterMode on the meta device, batch 1 (2 FLOPs per multiply-add)",
    }


def _vae_kwargs(model: dict[str, Any]) -> dict[str, Any]:
    return {**model, "encoder_hidden": tuple(model["encoder_hidden"])}


# ----------------------------------------------------------------------------- bf16 probe


def bf16_probe(device: torch.device) -> dict[str, Any]:
    """fp32 vs bf16 autocast time of a decoder-like conv forward+backward (PITFALLS: bf16 autocast
    on a CPU without bf16 hardware can be 100x slower). Small enough to stay bounded either way."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.randn(4, 64, 64, 64, device=device, requires_grad=True)

    def step(bf16: bool) -> Callable[[], None]:
        def run() -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                y = conv(x)
            y.float().sum().backward()
        return run

    fp32 = time_rounds(step(False), device, 1, 3, 2).rate(1)[1]
    bf16 = time_rounds(step(True), device, 1, 3, 2).rate(1)[1]
    return {"bf16_over_fp32_time": round(fp32 / bf16, 3), "conv": "3x3 64->64, 4x64x64, forward+backward"}


# ----------------------------------------------------------------------------- training


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


@dataclass
class Context:
    """What every measurement needs: the device, the sizes, what may run here."""

    device: torch.device
    settings: Settings
    flops: dict[str, Any]
    memory: PeakMemory
    bf16_skip: str | None  # reason bf16 is not measured here, or None
    masks: np.ndarray  # (N, S, S) uint8 synthetic label maps for the model measurements

    def skip_reason(self, bf16: bool = False, compile: bool = False, cuda_only: str | None = None) -> str | None:
        if cuda_only and self.device.type != "cuda":
            return cuda_only
        if bf16 and self.bf16_skip:
            return self.bf16_skip
        if compile and not self.settings.compile:
            return ("torch.compile skipped in --quick (about a minute per variant on 2 CPU cores); "
                    "measured in a full run")
        return None

    def batch(self, n: int) -> torch.Tensor:
        reps = -(-n // len(self.masks))
        return torch.from_numpy(np.concatenate([self.masks] * reps)[:n]).to(self.device)


def build_module(ctx: Context, channels_last: bool = False, compile: bool = False) -> SemanticVAEModule:
    if compile:
        torch._dynamo.reset()  # every compiled variant pays (and reports) its own compile in warmup_s
    torch.manual_seed(0)  # the same weights in every variant
    module = SemanticVAEModule(
        num_classes=NUM_CLASSES, image_size=ctx.settings.image_size, channels_last=channels_last, compile=compile,
        **ctx.settings.model,
    )
    if channels_last:
        module.use_channels_last()  # forced here on every device, to measure it (the Trainer applies it on CUDA only)
    return module.to(ctx.device)


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


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


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


# ----------------------------------------------------------------------------- components


def measure_components(ctx: Context) -> dict[str, Any]:
    """Forward+backward time of each part of the model in isolation, fp32 eager, at the train batch.

    Shares of the sum say where a training step goes (the profile below says which ops).
    """
    s, device = ctx.settings, ctx.device
    module = build_module(ctx).train()
    vae, b, c, d = module.vae, s.train_batch, NUM_CLASSES, s.model["latent_dim"]
    labels = ctx.batch(b)
    x = one_hot(labels, c)
    z1 = torch.randn(b, c, d, device=device, requires_grad=True)
    z2 = torch.randn(b, c, d, device=device, requires_grad=True)
    logits = torch.randn(b, c, s.image_size, s.image_size, device=device, requires_grad=True)
    weight = torch.ones(c, device=device)

    def encoder() -> None:
        mu, logvar = vae.encoder(x)
        (mu.sum() + logvar.sum()).backward()

    def loss() -> None:
        from semantic_vae.losses import weighted_cross_entropy

        weighted_cross_entropy(logits, labels, weight).backward()

    parts: dict[str, Callable[[], object]] = {
        "one_hot": lambda: one_hot(labels, c),
        "encoder": encoder,
        "mixer": lambda: vae.mixer(z1).sum().backward(),
        "decoder": lambda: vae.decoder(z2).sum().backward(),
        "loss": loss,
    }
    times = {}
    for name, fn in parts.items():
        timed = time_rounds(fn, device, 1, s.rounds, max(1, s.steps // 2))
        times[name] = min(timed.rounds_s) / max(1, s.steps // 2)
    total = sum(times.values())
    del module
    _free(device)
    return {
        "batch": b,
        "ms": {k: _round(v * 1e3) for k, v in times.items()},
        "share": {k: round(v / total, 4) for k, v in times.items()},
        "note": "fp32 eager, forward+backward per part in isolation (one_hot: forward only; loss: weighted CE)",
    }


# ----------------------------------------------------------------------------- profile


OP_CATEGORIES = ("convolution", "lstm", "matmul (encoder, mixer FFN)", "group_norm", "upsample", "cross_entropy",
                 "optimizer arithmetic", "copies, one-hot, fills", "other elementwise")


def _op_category(name: str) -> str:
    n = name.lower()
    if "conv" in n:
        return "convolution"
    if "rnn" in n or "lstm" in n:
        return "lstm"
    if any(k in n for k in ("::mm", "addmm", "bmm", "matmul", "linear")):
        return "matmul (encoder, mixer FFN)"
    if "group_norm" in n or "native_group_norm" in n:
        return "group_norm"
    if "upsample" in n:
        return "upsample"
    if any(k in n for k in ("nll_loss", "log_softmax", "cross_entropy")):
        return "cross_entropy"
    if any(k in n for k in ("adam", "_foreach", "lerp", "addcdiv", "addcmul", "sqrt")):
        return "optimizer arithmetic"
    if any(k in n for k in ("one_hot", "scatter", "copy_", "to_copy", "clone", "contiguous", "zero_", "fill_")):
        return "copies, one-hot, fills"
    return "other elementwise"


PHASES = ("forward", "backward", "optimizer")


def measure_profile(ctx: Context, top: int = 20) -> dict[str, Any]:
    """torch.profiler over a few fp32 eager training steps: top ops by self time, op categories,
    and the share of each phase (forward incl. loss, backward, optimizer step; host-side time)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    s, device = ctx.settings, ctx.device
    module = build_module(ctx).train()
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))
    labels = ctx.batch(s.train_batch)

    def step() -> None:
        with record_function("phase::forward"):
            loss = module._losses(labels)[0]["loss"]
        with record_function("phase::backward"):
            loss.backward()
        with record_function("phase::optimizer"):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    step()  # warm-up outside the trace
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    steps = 2
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        _sync(device)
    cuda = device.type == "cuda"
    averages = prof.key_averages()
    phase_us = {e.key.split("::", 1)[1]: e.cpu_time_total for e in averages if e.key.startswith("phase::")}
    phase_total = sum(phase_us.values()) or 1.0
    events = [e for e in averages if not e.key.startswith("phase::")
              and (e.self_device_time_total if cuda else e.self_cpu_time_total) > 0]
    self_us = {e.key: (e.self_device_time_total if cuda else e.self_cpu_time_total) for e in events}
    calls = {e.key: e.count for e in events}
    total = sum(self_us.values())
    ranked = sorted(self_us, key=self_us.get, reverse=True)
    categories = dict.fromkeys(OP_CATEGORIES, 0.0)  # every category, so the JSON keys never vary
    for key, us in self_us.items():
        categories[_op_category(key)] = categories.get(_op_category(key), 0.0) + us
    del module, optimizer
    _free(device)
    return {
        "steps": steps,
        "batch": s.train_batch,
        "clock": "self device time" if cuda else "self CPU time",
        "total_ms_per_step": _round(total / steps / 1e3),
        "top_ops": [
            {"op": k, "ms_per_step": _round(self_us[k] / steps / 1e3), "share": round(self_us[k] / total, 4),
             "calls_per_step": calls[k] // steps}
            for k in ranked[:top]
        ],
        "by_category": {k: round(v / total, 4) for k, v in sorted(categories.items(), key=lambda kv: -kv[1])},
        "phases": {k: round(phase_us.get(k, 0.0) / phase_total, 4) for k in PHASES},
        "skipped": None,
    }


# ----------------------------------------------------------------------------- numerics


def measure_numerics(ctx: Context, batch: int = 2) -> dict[str, Any]:
    """How far each option moves the eval-mode logits from fp32 with the default layout (same
    weights, same masks): max |difference| and the share of pixels whose argmax changes.

    A speed option must change nothing beyond rounding; bf16 rounds far more than fp32.
    """
    labels = ctx.batch(batch)

    def logits(channels_last: bool = False, bf16: bool = False) -> torch.Tensor:
        module = build_module(ctx, channels_last).eval()
        with torch.inference_mode(), torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=bf16):
            return module._forward(labels)[0].float()

    reference = logits()
    scale = float(reference.abs().max())
    out: dict[str, Any] = {"batch": batch, "reference_max_abs_logit": _round(scale)}
    for name, kwargs in (("channels_last", {"channels_last": True}), ("bf16_mixed", {"bf16": True})):
        if kwargs.get("bf16") and ctx.bf16_skip:
            out[name] = _skipped(("max_abs_logit_diff", "argmax_mismatch"), ctx.bf16_skip)
            continue
        other = logits(**kwargs)
        out[name] = {
            "max_abs_logit_diff": float((other - reference).abs().max()),
            "argmax_mismatch": float((other.argmax(1) != reference.argmax(1)).float().mean()),
            "skipped": None,
        }
    _free(ctx.device)
    return out


# ----------------------------------------------------------------------------- evaluation and editing


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


# ----------------------------------------------------------------------------- data path


LOADER_KEYS = ("masks_per_s", "first_batch_s", "workers", "pin_memory")


def measure_loader(ctx: Context, cache_masks: np.ndarray, workers: int, pin: bool) -> dict[str, Any]:
    """Cache memmap -> MaskDataset -> DataLoader (the DataModule's sampler) -> device, one pass.

    The rate excludes the first batch (worker start-up, reported as `first_batch_s`).
    """
    from torch.utils.data import DataLoader

    from semantic_vae.data.datamodule import MaskDataset
    from semantic_vae.data.samplers import ShuffledShardSampler

    if pin and ctx.device.type != "cuda":
        s = ctx.settings
        return _skipped(LOADER_KEYS, "pinned memory only speeds host-to-GPU copies; no GPU here", batch=s.loader_batch,
                        masks=None)
    s = ctx.settings
    n = len(cache_masks)
    loader = DataLoader(
        MaskDataset(cache_masks, np.arange(n)), batch_size=s.loader_batch, sampler=ShuffledShardSampler(n, 0),
        num_workers=workers, pin_memory=pin, persistent_workers=False, drop_last=False,
        generator=torch.Generator().manual_seed(0),
    )
    begin = time.perf_counter()
    iterator = iter(loader)
    first = next(iterator).to(ctx.device, non_blocking=pin)
    _sync(ctx.device)
    started = time.perf_counter()
    count = 0
    for batch in iterator:
        batch = batch.to(ctx.device, non_blocking=pin)
        count += batch.shape[0]
    _sync(ctx.device)
    elapsed = time.perf_counter() - started
    del iterator, loader
    return {
        "masks_per_s": _round(count / elapsed) if count else None,
        "first_batch_s": _round(started - begin),
        "workers": workers,
        "pin_memory": pin,
        "batch": s.loader_batch,
        "masks": count + first.shape[0],
        "skipped": None if count else "one batch only: nothing after the first batch to time",
    }


def _touch(masks: np.ndarray, chunk: int = 1024) -> None:
    for start in range(0, len(masks), chunk):
        np.asarray(masks[start : start + chunk]).max()


def batched_read_rate(masks: np.ndarray, batch: int) -> float:
    """Random batches read from the memmap with one fancy-index each, in one process: what a
    DataLoader could reach with a batched `__getitems__` (MaskDataset reads mask by mask)."""
    order = np.random.default_rng(0).permutation(len(masks))
    begin = time.perf_counter()
    for start in range(0, len(order), batch):
        torch.from_numpy(masks[order[start : start + batch]])
    return len(order) / (time.perf_counter() - begin)


def measure_data(ctx: Context, cache_dir: Path) -> dict[str, Any]:
    from semantic_vae.data.cache import CacheSpec, load_or_build_cache
    from semantic_vae.data.synthetic import generation_rate

    s = ctx.settings
    begin = time.perf_counter()
    cache = load_or_build_cache(
        CacheSpec(source="synthetic", image_size=s.image_size, synthetic_count=s.data_count,
                  synthetic_test=s.train_batch, workers=s.loader_workers),
        cache_dir, progress=False,
    )
    cache_s = time.perf_counter() - begin
    _touch(cache.masks)  # page cache warm, as from the second epoch on: the first pass would pay disk reads
    loaders = {
        "workers_0": measure_loader(ctx, cache.masks, 0, False),
        "workers_n": measure_loader(ctx, cache.masks, s.loader_workers, False),
        "workers_n_pinned": measure_loader(ctx, cache.masks, s.loader_workers, True),
    }
    return {
        "loader": loaders,
        "cache_masks": s.data_count,
        "cache_load_or_build_s": _round(cache_s),
        "cache_build_s": cache.manifest.get("build_seconds"),
        "batched_read_masks_per_s_per_process": _round(batched_read_rate(cache.masks, s.loader_batch)),
        "synthetic_masks_per_s_per_process": _round(generation_rate(s.image_size, s.synthetic_count)),
        "bytes_per_mask_uint8": s.image_size * s.image_size,
        "bytes_per_mask_onehot_fp32": s.image_size * s.image_size * NUM_CLASSES * 4,
    }


def measure_merge(ctx: Context, work: Path) -> dict[str, Any]:
    """Raw CelebAMask-HQ layout (per-part 512x512 PNGs, overlapping like the hand annotations)
    -> merged label maps at the training size with class counts, as the cache build reads it,
    in one process."""
    from semantic_vae.data.celebamask import make_raw_layout, open_root, read_masks
    from semantic_vae.data.synthetic import generate_masks

    s = ctx.settings
    keys = ("masks_per_s_per_process", "parts_per_mask")
    labels = generate_masks(seed=0, start=0, count=s.merge_count, size=s.merge_size)
    root = make_raw_layout(labels, work / "raw", overlap=True)
    found = open_root(root)
    parts = sum(len(item.parts) for item in found.items) / max(1, len(found.items))
    begin = time.perf_counter()
    merged = list(read_masks(found, size=s.image_size, num_classes=NUM_CLASSES, workers=1))
    elapsed = time.perf_counter() - begin
    if len(merged) != s.merge_count:
        return _skipped(keys, f"read {len(merged)} of {s.merge_count} masks", masks=len(merged),
                        source_size=s.merge_size, out_size=s.image_size)
    return {
        "masks_per_s_per_process": _round(len(merged) / elapsed),
        "parts_per_mask": round(parts, 2),
        "masks": len(merged),
        "source_size": s.merge_size,
        "out_size": s.image_size,
        "skipped": None,
    }


# ----------------------------------------------------------------------------- summary and output


def _best(entries: dict[str, dict[str, Any]], names: tuple[str, ...] | None = None) -> tuple[str | None, float | None]:
    rated = [(k, v["masks_per_s_best"]) for k, v in entries.items()
             if (names is None or k in names) and v.get("masks_per_s_best") is not None]
    if not rated:
        return None, None
    return max(rated, key=lambda kv: kv[1])


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    train_name, train_rate = _best(result["train"])
    eval_name, eval_rate = _best(result["eval"])
    loader_rates = [v["masks_per_s"] for v in result["data"]["loader"].values() if v["masks_per_s"] is not None]
    data_rate = max(loader_rates) if loader_rates else None
    edit = result["edit"]["editor"] if result["edit"]["editor"]["skipped"] is None else result["edit"]["model"]
    bf16_names = tuple(v.name for v in TRAIN_VARIANTS if v.bf16)
    _, bf16_rate = _best(result["train"], bf16_names)
    summary = {
        "train_best_variant": train_name,
        "train_masks_per_s_best": train_rate,
        "train_bf16_masks_per_s_best": bf16_rate,
        "eval_best_variant": eval_name,
        "eval_masks_per_s_best": eval_rate,
        "data_masks_per_s_best": data_rate,
        "data_over_train": _round(data_rate / train_rate) if data_rate and train_rate else None,
        "edit_latency_ms_median": edit["latency_ms_median"],
    }
    on_gpu = result["device"]["type"] == "cuda"
    measured = {
        "train_masks_per_s": bf16_rate,
        "train_masks_per_s_aim": bf16_rate,
        "data_over_train": summary["data_over_train"],
        "eval_masks_per_s": eval_rate,
        "edit_latency_ms_max": summary["edit_latency_ms_median"],
    }
    targets = {}
    for key, target in H100_TARGETS.items():
        value = measured[key]
        met = None
        if on_gpu and value is not None:
            met = value <= target if key == "edit_latency_ms_max" else value >= target
        targets[key] = {
            "target": target,
            "measured_on_gpu": value if on_gpu else None,
            "this_device": value,
            "met": met,
            "note": f"on {result['device']['name']}" if on_gpu
            else "NOT MEASURED on a GPU: the targets are for one H100; this run is on CPU",
        }
    summary["h100_targets"] = targets
    return summary


def _fmt_bytes(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GiB"


def _rate(v: dict[str, Any]) -> str:
    return f"{v['masks_per_s']} (best {v['masks_per_s_best']}) masks/s"


def print_table(result: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []

    def row(section: str, name: str, figure: str, entry: dict[str, Any] | None, note: str) -> None:
        rows.append((section, name, figure, (entry or {}).get("skipped") or note))

    for name, v in result["train"].items():
        row("train", name, _rate(v), v, f"{v['tflops']} TFLOP/s, peak {_fmt_bytes(v['peak_memory_bytes'])}, "
            f"first loss {v['first_loss']}")
    lt = result["train_lightning"]
    row("train", f"lightning {lt['precision']}", f"{lt['masks_per_s']} masks/s", lt, "Trainer.fit + DataModule")
    for name, v in result["eval"].items():
        row("eval", name, _rate(v), v, f"batch {v['batch']}, {v['tflops']} TFLOP/s, "
            f"peak {_fmt_bytes(v['peak_memory_bytes'])}")
    for name in ("bincount", "deterministic_fallback"):
        v = result["metric"][name]
        row("metric", name, f"{v['masks_per_s']} masks/s", v, f"confusion-matrix update, batch {v['batch']}")
    for name in ("editor", "model"):
        v = result["edit"][name]
        row("edit", name, f"{v['latency_ms_median']} ms (p90 {v['latency_ms_p90']})", v, "batch 1, one part")
    data = result["data"]
    for name, v in data["loader"].items():
        row("data", f"loader {name}", f"{v['masks_per_s']} masks/s", v,
            f"{v['workers']} workers, first batch {v['first_batch_s']} s")
    row("data", "batched memmap read", f"{data['batched_read_masks_per_s_per_process']} masks/s", None,
        "one process, one fancy-index per batch (what a batched loader could reach)")
    row("data", "synthetic generation", f"{data['synthetic_masks_per_s_per_process']} masks/s", None, "one process")
    m = result["merge"]
    row("data", "raw merge", f"{m['masks_per_s_per_process']} masks/s", m,
        f"one process, {m['parts_per_mask']} parts/mask")
    opt = result["optimizer"]
    for name in ("for_loop", "foreach", "fused"):
        v = opt[name]
        row("adam", name, f"{v['step_ms']} ms (best {v['step_ms_best']})", v,
            f"{opt['parameters'] / 1e6:.1f} M parameters, max diff {v['max_abs_diff_vs_for_loop']:.1e}")
    prof = result["profile"]
    row("profile", "components", "", None, ", ".join(f"{k} {v:.0%}" for k, v in result["components"]["share"].items()))
    row("profile", "phases", "", None, ", ".join(f"{k} {v:.0%}" for k, v in prof["phases"].items()))
    row("profile", "top ops", "", None, ", ".join(f"{o['op']} {o['share']:.0%}" for o in prof["top_ops"][:4]))
    for name in ("channels_last", "bf16_mixed"):
        v = result["numerics"][name]
        row("numerics", name, f"max |logit diff| {_round(v['max_abs_logit_diff'], 3)}", v,
            f"argmax differs on {(v['argmax_mismatch'] or 0):.2%} of pixels (vs fp32, default layout)")
    f = result["flops"]
    row("flops", "per mask", f"{f['forward_per_mask'] / 1e9:.2f} GF fwd, {f['train_per_mask'] / 1e9:.2f} GF train",
        None, "")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"\nbench {result['settings']['mode']} on {result['device']['name']} ({result['device']['type']})")
    for r in rows:
        print(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    for key, t in result["summary"]["h100_targets"].items():
        verdict = t["note"] if t["met"] is None else "met" if t["met"] else "NOT met"
        print(f"  H100 target {key}: {t['target']}; this device: {t['this_device']} ({verdict})")


def _write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)


def _device_info(device: torch.device, probe: dict[str, Any], bf16_skip: str | None) -> dict[str, Any]:
    cpu_name, flags = _cpu_info()
    info: dict[str, Any] = {
        "type": device.type,
        "name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name,
        "cpu": cpu_name,
        "cpu_cores": _cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16", "avx_vnni"}),
        "bf16_probe": probe,
        "bf16_skipped": bf16_skip,
        "cuda_capability": list(torch.cuda.get_device_capability(device)) if device.type == "cuda" else None,
        "memory_measure": "cuda_max_memory_allocated" if device.type == "cuda" else "process_peak_rss",
    }
    return info


def _versions() -> dict[str, str | None]:
    import lightning

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
    }


def _load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


def run(
    quick: bool = False,
    device: Literal["auto", "cpu", "cuda"] = "auto",
    out: str = "outputs/bench.json",
    cache_dir: str = "data_cache",
    train_batch: int | None = None,
    eval_batch: int | None = None,
    compile: bool | None = None,
) -> dict[str, Any]:
    """Measure everything; print the table; write the JSON to `out`. Returns the result.

    Args:
        quick: small sizes (64x64, a narrow model, few steps): a couple of minutes on 2 CPU cores.
        device: "auto" picks CUDA when available.
        out: where the JSON goes.
        cache_dir: where the synthetic mask cache for the data-path figures is built (reused).
        train_batch: masks per training step (default: 64 on CUDA as paper.yaml, 8 on CPU, 16 quick).
        eval_batch: masks per evaluation batch (default: 256 on CUDA, 32 on CPU and in --quick).
        compile: measure the torch.compile variants (default: in full runs only).
    """
    dev = resolve_device(device)
    started = time.time()
    load_before = _load_average()
    settings = make_settings(quick, dev, train_batch, eval_batch, compile)
    probe = bf16_probe(dev)
    bf16_skip = None
    if dev.type == "cpu" and probe["bf16_over_fp32_time"] > 4.0:
        bf16_skip = (f"bf16 autocast is {probe['bf16_over_fp32_time']:.1f}x slower than fp32 on this CPU "
                     "(probe: a 3x3 conv); not measured")
    from semantic_vae.data.synthetic import generate_masks

    masks = generate_masks(seed=0, start=0, count=min(64, max(settings.train_batch, settings.eval_batch)),
                           size=settings.image_size)
    flops = count_flops(settings.image_size, settings.model)
    ctx = Context(dev, settings, flops, PeakMemory(dev), bf16_skip, masks)
    cache_path = Path(cache_dir)
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "command": " ".join([Path(sys.executable).name, "-m", "semantic_vae.bench", *sys.argv[1:]])
        if sys.argv and sys.argv[0].endswith("bench.py") else "semantic_vae.bench.run(...)",
        "device": _device_info(dev, probe, bf16_skip),
        "versions": _versions(),
        "settings": asdict(settings),
        "flops": flops,
    }

    def section(name: str, fn: Callable[[], Any]) -> Any:
        begin = time.perf_counter()
        print(f"bench: {name} ...", flush=True)
        value = fn()
        print(f"bench: {name} done in {time.perf_counter() - begin:.1f} s", flush=True)
        return value

    result["process_warmup_s"] = section("process warm-up", lambda: warm_process(ctx))
    result["train"] = section("train", lambda: {v.name: measure_train(ctx, v) for v in TRAIN_VARIANTS})
    result["train_lightning"] = section("train_lightning", lambda: measure_train_lightning(ctx, cache_path))
    result["components"] = section("components", lambda: measure_components(ctx))
    result["optimizer"] = section("optimizer", lambda: measure_optimizer(ctx))
    result["profile"] = section("profile", lambda: measure_profile(ctx))
    result["numerics"] = section("numerics", lambda: measure_numerics(ctx))
    result["eval"] = section("eval", lambda: {v.name: measure_eval(ctx, v) for v in EVAL_VARIANTS})
    result["metric"] = section("metric", lambda: measure_metric(ctx))
    result["edit"] = section("edit", lambda: measure_edit(ctx))
    result["data"] = section("data", lambda: measure_data(ctx, cache_path))
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as work:
        result["merge"] = section("merge", lambda: measure_merge(ctx, Path(work)))
    result["device"]["memory_measure"] = ctx.memory.kind  # changes if the RSS peak could not be reset
    result["summary"] = summarise(result)
    result["load_average"] = {"before": load_before, "after": _load_average(),
                              "note": "1/5/15-minute load; above the core count, other work shared the CPU"}
    result["wall_s"] = round(time.time() - started, 1)
    print_table(result)
    _write_json(Path(out), result)
    print(f"\nwrote {out} ({result['wall_s']} s)")
    return result


def main(argv: list[str] | None = None) -> None:
    """jsonargparse over `run`'s typed signature; `--quick` is a bare flag (as `make bench QUICK=1` passes it)."""
    from jsonargparse import ActionYesNo, ArgumentParser

    parser = ArgumentParser(prog="python -m semantic_vae.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action=ActionYesNo, default=False,
                        help="small sizes (64x64, a narrow model, few steps): a couple of minutes on 2 CPU cores")
    parser.add_function_arguments(run, skip={"quick"})
    config = parser.parse_args(argv)
    run(**config.as_dict())


if __name__ == "__main__":
    main()
