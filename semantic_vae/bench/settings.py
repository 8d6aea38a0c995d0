"""Sizes of a bench run (`Settings`: full or --quick) and the constants every figure shares:
the class count, the JSON schema version and the H100 targets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch


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
