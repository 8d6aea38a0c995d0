"""`Context`, what every measurement needs (device, sizes, FLOPs, memory meter, what may run here),
and `build_module`, the same-weights SemanticVAEModule every measurement starts from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semantic_vae.bench.settings import NUM_CLASSES, Settings
from semantic_vae.bench.timing import PeakMemory
from semantic_vae.lit import SemanticVAEModule


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
