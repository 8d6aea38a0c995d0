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


def measure_versus_reference(device: torch.device, batch: int, pairs: int, compiled: bool = False) -> dict[str, Any]:
    """This project's paper-size step (experiments/base.yaml: its defaults, fused Adam) against the released
    network's (per-tensor Adam, as its code trains), alternated step by step on the same 256x256 batch, fp32; with
    `compiled`, also ours with `model.compile` (encoder, mixer and decoder through torch.compile), in the same
    alternation, after its compile."""
    from semantic_vae.lit import SemanticVAEModule

    spec = model_spec(["base.yaml"])
    labels = torch.from_numpy(generate_masks(0, 0, batch, spec.net.image_size)).to(device)
    weight = torch.tensor(REFERENCE_CLASS_WEIGHTS, device=device)

    def ours_step_fn(compile: bool):
        torch.manual_seed(0)
        module = SemanticVAEModule(net=spec.net, **{**spec.options, "compile": compile}).to(device).train()
        adam = torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)

        def step() -> None:
            module.model_step(labels)[0]["loss"].backward()
            adam.step()
            adam.zero_grad(set_to_none=True)

        return step

    released = ReleasedNetwork().to(device).train()
    released_adam = torch.optim.Adam(released.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=True)

    def released_step() -> None:
        released.loss(labels, weight).backward()
        released_adam.step()
        released_adam.zero_grad(set_to_none=True)

    def timed(step) -> float:
        begin = time.perf_counter()
        step()
        sync(device)
        return time.perf_counter() - begin

    steps = {"ours": ours_step_fn(False), "released": released_step}
    compile_s = None
    if compiled:
        steps["ours_compiled"] = ours_step_fn(True)
        compile_s = sig(timed(steps["ours_compiled"]))  # the first step compiles
    for step in steps.values():
        step()  # warm-up
    times = [{name: timed(step) for name, step in steps.items()} for _ in range(pairs)]

    def median_ms(name: str) -> float:
        return sig(statistics.median(t[name] for t in times) * 1e3)

    def speedup(name: str) -> float:
        return sig(statistics.median(t["released"] / t[name] for t in times))

    return {
        "batch": batch,
        "image_size": spec.net.image_size,
        "ours_step_ms": median_ms("ours"),
        "released_step_ms": median_ms("released"),
        "speedup": speedup("ours"),
        "ours_compiled_step_ms": median_ms("ours_compiled") if compiled else None,
        "speedup_compiled": speedup("ours_compiled") if compiled else None,
        "compile_s": compile_s,
        "pairs": pairs,
        "note": "ours: SemanticVAEModule.model_step (paper model) + fused Adam, eager and (full runs) compiled; "
        "released: its network as written, per-tensor Adam; alternated step by step, fp32",
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
