"""FLOPs per mask (forward and train, by module) on the meta device, and the bf16-vs-fp32 probe
that decides whether bf16 is measured on this device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from semantic_vae.bench.settings import NUM_CLASSES
from semantic_vae.bench.timing import time_rounds
from semantic_vae.model import SemanticVAE


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
