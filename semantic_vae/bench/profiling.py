"""Where a training step goes: per-component forward+backward times, a torch.profiler trace (top
ops, op categories, phases), and how far each speed option moves the logits (numerics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from semantic_vae.bench.context import Context, build_module
from semantic_vae.bench.settings import NUM_CLASSES
from semantic_vae.bench.timing import _free, _round, _skipped, _sync, time_rounds
from semantic_vae.model import one_hot


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
