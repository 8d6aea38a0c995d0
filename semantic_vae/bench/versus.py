"""The side-by-side of the speed issue: this project's paper-size training step against the released network's, as
its authors wrote it (`ReleasedNetwork`: eager PyTorch, `F.interpolate` up-sampling, GroupNorm cast to float32,
per-tensor Adam), interleaved on the same batch and device; and `--profile`: where a step's time goes, for the
demo's and the paper's setting."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from semantic_vae.bench.core import model_spec, sig, sync
from semantic_vae.data.synthetic import generate_masks
from semantic_vae.model import one_hot
from semantic_vae.model.reference import REFERENCE_CLASS_WEIGHTS, REFERENCE_KL_WEIGHT


class _ResBlock(nn.Module):
    """An up-sampling residual block of the released network (its state_dict's names)."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(32, a), nn.SiLU(), nn.Conv2d(a, b, 3, padding=1))
        self.out_layers = nn.Sequential(nn.GroupNorm(32, b), nn.SiLU(), nn.Dropout(0.0), nn.Conv2d(b, b, 3, padding=1))
        self.skip_connection = nn.Conv2d(a, b, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.in_layers[1](self.in_layers[0](x.float()).type(x.dtype))  # GroupNorm in float32, SiLU
        h = self.in_layers[2](F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.out_layers[3](self.out_layers[2](self.out_layers[1](self.out_layers[0](h.float()).type(h.dtype))))
        return self.skip_connection(F.interpolate(x, scale_factor=2, mode="nearest")) + h


class _Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.in_conv = nn.Conv2d(18, 512, 1)
        self.decs = nn.Sequential(*(_ResBlock(a, b) for a, b in ((512, 256), (256, 128), (128, 64), (64, 32))))
        self.out_conv = nn.Conv2d(32, 18, 1)


class _Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encs = nn.Sequential(
            nn.Linear(128 * 128, 1024), nn.ReLU(), nn.Linear(1024, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU()
        )
        self.mu = nn.Linear(256, 256)
        self.log_var = nn.Linear(256, 256)


class _Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.decs = nn.Sequential(nn.Linear(512, 1024), nn.GELU(), nn.Linear(1024, 256))


class ReleasedNetwork(nn.Module):
    """The released Semantic-VAE written as its code defines it (module names as in `latest_net_G.pth`), from the
    published facts: an independent implementation, the oracle of the converter's tests and the bench's baseline."""

    def __init__(self) -> None:
        super().__init__()
        self.encs = _Encoder()
        self.lstm = nn.LSTM(256, 256, num_layers=3, bidirectional=True, batch_first=True)
        self.decs = _Head()
        self.resh_lin = nn.Linear(512, 256)
        self.decs_conv = _Decoder()

    def encode(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        parts = one_hot(labels, 19)[:, 1:]  # (B, 18, 256, 256): the background channel dropped
        h = self.encs.encs(F.interpolate(parts, size=(128, 128)).flatten(2))  # nearest
        return self.encs.mu(h), self.encs.log_var(h)  # (B, 18, 256) each

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        zeros = torch.zeros(6, z.shape[0], 256, device=z.device, dtype=z.dtype)
        out, _ = self.lstm(z, (zeros, zeros))
        out = self.decs.decs(out) + self.resh_lin(out)
        x = self.decs_conv.in_conv(out.view(z.shape[0], 18, 16, 16))
        parts = self.decs_conv.out_conv(self.decs_conv.decs(x))  # (B, 18, 256, 256)
        background = 1.0 - (parts.sum(1, keepdim=True) > 0).to(parts.dtype)
        return torch.cat([background, parts], 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits(z).argmax(1).to(torch.uint8)

    def loss(self, labels: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The released training loss: weighted CE (its normalisation) + 0.0005 x KL summed over the latents."""
        mu, log_var = self.encode(labels)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        ce = F.cross_entropy(self.logits(z), labels.long(), weight=weight)
        kl = (-0.5 * (1 + log_var - mu.pow(2) - log_var.exp())).flatten(1).sum(1).mean()
        return ce + REFERENCE_KL_WEIGHT * kl


# Our step's variants side by side with the released network: name -> (compile, bf16 autocast).
OURS_VARIANTS: dict[str, tuple[bool, bool]] = {
    "fp32": (False, False),
    "bf16": (False, True),
    "compiled_bf16": (True, True),
    "compiled_fp32": (True, False),
}


def default_variant(device: torch.device, compiled: bool) -> str:
    """The variant the defaults run for a long training on this device: precision "auto" and compile "auto"."""
    from semantic_vae.fast_path import auto_precision

    bf16 = auto_precision(device.type)[0] == "bf16-mixed"
    if compiled:
        return "compiled_bf16" if bf16 else "compiled_fp32"
    return "bf16" if bf16 else "fp32"


def step_fn(module, labels: torch.Tensor, device: torch.device, bf16: bool):
    """One training step of a SemanticVAEModule (model_step, backward, fused Adam), under bf16 autocast or not."""
    adam = torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = module.model_step(labels)[0]["loss"]
        loss.backward()
        adam.step()
        adam.zero_grad(set_to_none=True)

    return step


def timed(step, device: torch.device) -> float:
    begin = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - begin


def alternate(steps: dict, device: torch.device, rounds: int) -> list[dict[str, float]]:
    """Each step once more as warm-up, then `rounds` rounds of every step in turn: this machine's speed drifts
    between minutes, so only steps timed side by side are compared."""
    for step in steps.values():
        step()
    return [{name: timed(step, device) for name, step in steps.items()} for _ in range(rounds)]


def measure_versus_reference(
    device: torch.device, batch: int, pairs: int, compiled: bool = False, bf16: bool = True
) -> dict[str, Any]:
    """This project's paper-size step (experiments/base.yaml: its defaults, fused Adam) against the released
    network's (per-tensor Adam, fp32 eager, as its code trains), alternated step by step on the same 256x256 batch:
    ours in fp32 and bf16 autocast eager and, with `compiled`, through torch.compile (each variant's compile
    before the rounds). `default` is the variant the defaults run for a training on this machine."""
    from semantic_vae.lit import SemanticVAEModule

    spec = model_spec(["base.yaml"])
    labels = torch.from_numpy(generate_masks(0, 0, batch, spec.net.image_size)).to(device)
    weight = torch.tensor(REFERENCE_CLASS_WEIGHTS, device=device)
    released = ReleasedNetwork().to(device).train()
    released_adam = torch.optim.Adam(released.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=True)

    def released_step() -> None:
        released.loss(labels, weight).backward()
        released_adam.step()
        released_adam.zero_grad(set_to_none=True)

    steps: dict[str, Any] = {"released": released_step}
    skipped: dict[str, str] = {}
    compile_s: dict[str, float] = {}
    for name, (compile, autocast) in OURS_VARIANTS.items():
        if compile and not compiled:
            skipped[name] = "torch.compile is measured in full runs only"
            continue
        if autocast and not bf16:
            skipped[name] = "bf16 skipped on this device (see device.bf16_skipped)"
            continue
        torch.manual_seed(0)
        module = SemanticVAEModule(net=spec.net, **{**spec.options, "compile": compile}).to(device).train()
        steps[name] = step_fn(module, labels, device, autocast)
        if compile:
            compile_s[name] = sig(timed(steps[name], device))  # the first step compiles
    times = alternate(steps, device, pairs)

    def median_ms(name: str) -> float | None:
        return sig(statistics.median(t[name] for t in times) * 1e3) if name in steps else None

    def speedup(name: str) -> float | None:
        return sig(statistics.median(t["released"] / t[name] for t in times)) if name in steps else None

    default = default_variant(device, compiled)
    return {
        "batch": batch,
        "image_size": spec.net.image_size,
        "released_step_ms": median_ms("released"),
        "ours_step_ms": {name: median_ms(name) for name in OURS_VARIANTS},
        "speedup": {name: speedup(name) for name in OURS_VARIANTS},
        "default": default,
        "speedup_default": speedup(default),
        "compile_s": {name: compile_s.get(name) for name in OURS_VARIANTS},
        "variants_skipped": skipped,
        "pairs": pairs,
        "note": "ours: SemanticVAEModule.model_step (paper model) + fused Adam; released: its network as written, "
        "per-tensor Adam, fp32 eager; speedup = released step / ours, medians of steps alternated in one run",
        "skipped": None,
    }


# The demo's step at its old size and precision against the new: name -> (image size, compile, bf16 autocast).
DEMO_VARIANTS: dict[str, tuple[int, bool, bool]] = {
    "64_fp32": (64, False, False),
    "64_default": (64, True, True),
    "128_default": (128, True, True),
}


def measure_demo_steps(device: torch.device, rounds: int, compiled: bool = False, bf16: bool = True) -> dict[str, Any]:
    """The demo's training step (experiments/demo.yaml's model and batch) at 64x64 in fp32 eager (the demo before the
    fast path) against 64x64 and 128x128 as the defaults run them on this machine (bf16 where the CPU has the units,
    compiled in full runs), alternated step by step; ratios are to the 64x64 fp32 step."""
    from semantic_vae.fast_path import auto_precision
    from semantic_vae.lit import SemanticVAEModule

    configs = ("base.yaml", "small.yaml", "recommended.yaml", "demo.yaml")
    use_bf16 = bf16 and auto_precision(device.type)[0] == "bf16-mixed"
    steps: dict[str, Any] = {}
    settings: dict[str, dict[str, Any]] = {}
    for name, (size, compile, autocast) in DEMO_VARIANTS.items():
        spec = model_spec(configs, [f"--data.image_size={size}"])
        compile, autocast = compile and compiled, autocast and use_bf16
        labels = torch.from_numpy(generate_masks(0, 0, 16, size)).to(device)
        torch.manual_seed(0)
        module = SemanticVAEModule(net=spec.net, **{**spec.options, "compile": compile}).to(device).train()
        steps[name] = step_fn(module, labels, device, autocast)
        settings[name] = {"image_size": size, "compile": compile, "bf16": autocast}
        if compile:
            steps[name]()  # its compile, before the rounds
    times = alternate(steps, device, rounds)
    base = "64_fp32"
    return {
        "batch": 16,
        "configs": list(configs),
        "settings": settings,
        "step_ms": {name: sig(statistics.median(t[name] for t in times) * 1e3) for name in steps},
        "over_64_fp32": {name: sig(statistics.median(t[name] / t[base] for t in times)) for name in steps},
        "rounds": rounds,
        "skipped": None,
    }


PROFILE_SETTINGS = {  # experiments/ files stacked as `semantic-vae fit` would, and the batch of a step
    "demo": (("base.yaml", "small.yaml", "recommended.yaml", "demo.yaml"), 16),
    "paper": (("base.yaml",), 4),
}


def profile_settings(device: torch.device) -> dict[str, Any]:
    """`--profile`: torch.profiler over training steps of the demo's and the paper's setting (fp32 eager): the share
    of each op category and phase, and the top ops (`bench.model.measure_profile`)."""
    from semantic_vae.bench.core import Context, PeakMemory, count_flops, make_settings
    from semantic_vae.bench.model import measure_profile

    out: dict[str, Any] = {}
    for name, (configs, batch) in PROFILE_SETTINGS.items():
        spec = model_spec(configs)
        settings = make_settings(True, device, spec, train_batch=batch)
        masks = generate_masks(0, 0, batch, spec.net.image_size)
        ctx = Context(device, settings, count_flops(spec.net), PeakMemory(device), None, masks)
        out[name] = {"configs": list(configs), **measure_profile(ctx)}
    return out


def print_profiles(profiles: dict[str, Any]) -> None:
    for name, prof in profiles.items():
        print(f"\n{name} ({', '.join(prof['configs'])}), batch {prof['batch']}: {prof['total_ms_per_step']} ms per step "
              f"({prof['clock']})")  # fmt: skip
        print("  phases:   " + ", ".join(f"{k} {v:.0%}" for k, v in prof["phases"].items()))
        print("  by kind:  " + ", ".join(f"{k} {v:.0%}" for k, v in prof["by_category"].items() if v >= 0.005))
        for op in prof["top_ops"][:8]:
            print(f"  {op['op']:<45} {op['share']:>6.1%} {op['ms_per_step']:>9} ms  {op['calls_per_step']} calls")
