"""What every figure shares: the model of a run (built from the experiment configs by the CLI),
the sizes of a run (`Settings`), timing, peak memory, FLOP counts, the bf16 probe, and `Context`."""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semantic_vae.lit import SemanticVAEModule
from semantic_vae.machine import cpu_count
from semantic_vae.model import SemanticVAE, VAEConfig

SCHEMA_VERSION = 2

# Targets of issue 6 for one H100, bf16-mixed, the paper model at 256x256.
H100_TARGETS: dict[str, float] = {
    "train_masks_per_s": 3000.0,
    "train_masks_per_s_aim": 5000.0,
    "data_over_train": 3.0,
    "eval_masks_per_s": 10000.0,
    "edit_latency_ms_max": 10.0,
}

# experiments/ files a run builds its model from, stacked in this order (as `semantic-vae fit` would).
FULL_CONFIGS = ("base.yaml",)
QUICK_CONFIGS = ("base.yaml", "small.yaml")

# The CLI also builds a Trainer, which the bench throws away; these keep that construction free of
# process-wide effects: `Trainer(deterministic=..., benchmark=...)` sets torch's flags (base.yaml
# has `deterministic: warn`), `seed_everything` the RNGs, and the default loggers start W&B.
DISCARDED_TRAINER_ARGS = (
    "--seed_everything=false",
    "--trainer.logger=false",
    "--trainer.deterministic=null",
    "--trainer.benchmark=null",
    "--trainer.precision=32-true",  # not "auto": its choice would be printed for a Trainer nobody uses
)


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ModelSpec:
    """The model of a run as `semantic-vae fit --config ...` builds it: the network's config and
    the module's other init arguments (lr, betas, kl_weight, ...; channels_last and compile are
    the bench's own variants)."""

    configs: tuple[str, ...]  # experiments/ files, in stacking order
    net: VAEConfig
    options: dict[str, Any]


def model_spec(configs: Iterable[str], overrides: Iterable[str] = ()) -> ModelSpec:
    """Parse experiments/<configs> (then command-line `overrides`) with the project's LightningCLI
    (`cli_main(..., run=False)`): the same parser, defaults and links (data.image_size -> model.net.image_size) as a
    training run."""
    from semantic_vae.cli import cli_main
    from semantic_vae.runs import checkout_root

    names = tuple(configs)
    experiments = checkout_root() / "experiments"
    args = [arg for name in names for arg in ("--config", str(experiments / name))]
    module = cli_main([*args, *overrides, *DISCARDED_TRAINER_ARGS], run=False).model
    options = {
        k: v
        for k, v in module.hparams.items()
        if not k.startswith("_") and k not in ("net", "channels_last", "compile")
    }
    return ModelSpec(names, module.net_config, options)


# ----------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Settings:
    """Sizes of one run; `full` and `quick` differ only here."""

    mode: str
    model: ModelSpec
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
    compile: bool
    notes: list[str] = field(default_factory=list)

    @property
    def image_size(self) -> int:
        return self.model.net.image_size


def make_settings(
    quick: bool,
    device: torch.device,
    model: ModelSpec,
    train_batch: int | None = None,
    eval_batch: int | None = None,
    compile: bool | None = None,
) -> Settings:
    cuda = device.type == "cuda"
    notes: list[str] = []
    if quick:
        compile_on = bool(compile)
        if compile is None:
            notes.append(
                "torch.compile is skipped in --quick (inductor compiles for about a minute per variant "
                "on 2 CPU cores); run without --quick or with --compile true"
            )
        sizes: dict[str, Any] = dict(
            mode="quick",
            train_batch=train_batch or 16,
            eval_batch=eval_batch or 32,
            warmup=1,
            rounds=3,
            steps=4 if cuda else 1,
            edit_repeats=10,
            data_count=1024,
            loader_batch=32,
            merge_count=12,
            synthetic_count=50,
            lightning_steps=5,
        )
    else:
        compile_on = True if compile is None else compile
        if eval_batch is None and not cuda:
            notes.append(
                "eval batch 32 on CPU: batch 256 at 256x256 would need about 8x the activation memory "
                "of batch 32 (eval.*.peak_memory_bytes), more than a shared CPU machine spares"
            )
        sizes = dict(
            mode="full",
            train_batch=train_batch or (64 if cuda else 8),
            eval_batch=eval_batch or (256 if cuda else 32),
            warmup=5 if cuda else 1,
            rounds=3 if cuda else 5,
            steps=20 if cuda else 1,
            edit_repeats=50 if cuda else 20,
            data_count=16384 if cuda else 4096,
            loader_batch=64,
            merge_count=64,
            synthetic_count=200,
            lightning_steps=40 if cuda else 5,
        )
    return Settings(
        **sizes, model=model, loader_workers=min(8, cpu_count()), merge_size=512, compile=compile_on, notes=notes
    )


# ----------------------------------------------------------------------------- timing, memory, entries


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free(device: torch.device) -> None:
    """Hand CUDA's cached memory back, after collecting what only cycles still hold (a Trainer and its module)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


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
def deterministic_mode(on: bool) -> Iterator[None]:
    """What Lightning's `deterministic="warn"` (experiments/base.yaml) sets, restored afterwards."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
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
def cudnn_benchmark(on: bool) -> Iterator[None]:
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or saved
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


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
    sync(device)
    begin = time.perf_counter()
    for _ in range(warmup):
        fn()
    sync(device)
    warmup_s = time.perf_counter() - begin
    times = []
    for _ in range(rounds):
        begin = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        times.append(time.perf_counter() - begin)
    return Timed(warmup_s, times)


def skipped(keys: tuple[str, ...], reason: str, **extra: Any) -> dict[str, Any]:
    """An entry whose figures are None, with the reason in `skipped`."""
    return {**{k: None for k in keys}, **extra, "skipped": reason}


def sig(value: float | None, digits: int = 4) -> float | None:
    """`value` to `digits` significant digits (None stays None)."""
    return None if value is None else float(f"{value:.{digits}g}")


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"[:300]


# ----------------------------------------------------------------------------- FLOPs, bf16 probe


def count_flops(net: VAEConfig) -> dict[str, Any]:
    """FLOPs per mask with torch's FlopCounterMode, on the meta device (no compute).

    On the meta device nn.LSTM decomposes into matmuls the counter sees; on CPU/CUDA its fused
    kernel is not counted. Counted: mm/addmm/bmm/convolution and their backward.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        vae = SemanticVAE(net).train()
        x = torch.zeros(1, net.num_classes, net.image_size, net.image_size)  # (1, C, S, S) one-hot
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


def bf16_probe(device: torch.device) -> dict[str, Any]:
    """fp32 vs bf16 autocast time of a decoder-like conv forward+backward (bf16 autocast on a CPU
    without bf16 hardware can be 100x slower). Small enough to stay bounded either way: about 3 s
    where bf16 is 30x slower."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.randn(2, 64, 64, 64, device=device, requires_grad=True)

    def step(bf16: bool) -> Callable[[], None]:
        def run() -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                y = conv(x)
            y.float().sum().backward()

        return run

    fp32 = time_rounds(step(False), device, 1, 3, 1).rate(1)[1]
    bf16 = time_rounds(step(True), device, 1, 3, 1).rate(1)[1]
    return {"bf16_over_fp32_time": round(fp32 / bf16, 3), "conv": "3x3 64->64, 2x64x64, forward+backward"}


# ----------------------------------------------------------------------------- context


@dataclass
class Context:
    """What every measurement needs: the device, the sizes, what may run here."""

    device: torch.device
    settings: Settings
    flops: dict[str, Any]
    memory: PeakMemory
    bf16_skip: str | None  # reason bf16 is not measured here, or None
    masks: np.ndarray  # (N, S, S) uint8 synthetic label maps for the model measurements

    @property
    def net(self) -> VAEConfig:
        return self.settings.model.net

    def skip_reason(self, bf16: bool = False, compile: bool = False, cuda_only: str | None = None) -> str | None:
        if cuda_only and self.device.type != "cuda":
            return cuda_only
        if bf16 and self.bf16_skip:
            return self.bf16_skip
        if compile and not self.settings.compile:
            return (
                "torch.compile skipped in --quick (about a minute per variant on 2 CPU cores); measured in a full run"
            )
        return None

    def batch(self, n: int) -> torch.Tensor:
        """(n, S, S) uint8 label maps on the device, the synthetic masks repeated as needed."""
        reps = -(-n // len(self.masks))
        return torch.from_numpy(np.concatenate([self.masks] * reps)[:n]).to(self.device)

    def build_module(self, channels_last: bool = False, compile: bool = False) -> SemanticVAEModule:
        """The run's module with the same initial weights in every variant, on the device."""
        if compile:
            torch._dynamo.reset()  # every compiled variant pays (and reports) its own compile in warmup_s
        torch.manual_seed(0)
        module = SemanticVAEModule(
            net=self.net, channels_last=channels_last, compile=compile, **self.settings.model.options
        )
        if channels_last:
            module.use_channels_last()  # forced here on every device, to measure it (setup() applies it on CUDA only)
        return module.to(self.device)

    def adam(self, params: Iterable[torch.Tensor], **implementation: bool) -> torch.optim.Adam:
        """Adam with the run's lr and betas; `implementation`: foreach=... or fused=... (`configure_optimizers`
        uses fused=True on every device; without it this is torch's default, the bench's baseline)."""
        options = self.settings.model.options
        return torch.optim.Adam(params, lr=options["lr"], betas=tuple(options["betas"]), **implementation)
