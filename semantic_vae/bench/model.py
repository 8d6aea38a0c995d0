"""Figures of the model: training-step variants (bf16, channels_last, fused Adam, compile, ...), the
real `Trainer.fit` loop, Adam's implementations, where a step goes (components, profiler), how far
each option moves the logits, evaluation variants, the metric update and the edit latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semantic_vae.bench.core import (
    Context,
    cudnn_benchmark,
    deterministic_mode,
    first_line,
    model_spec,
    sig,
    skipped,
    sync,
    time_rounds,
)
from semantic_vae.edit import Edit, MaskEditor, latent
from semantic_vae.labels import label_set_for_names
from semantic_vae.model import one_hot
from semantic_vae.model.vae import class_map

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
    TrainVariant(
        "bf16_mixed_all_cudnn_benchmark",
        bf16=True,
        channels_last=True,
        fused_adam=True,
        compile=True,
        cudnn_benchmark=True,
    ),
)
TRAIN_KEYS = (
    "masks_per_s",
    "masks_per_s_best",
    "step_ms",
    "warmup_s",
    "tflops",
    "peak_memory_bytes",
    "first_loss",
    "last_loss",
    "last_loss_after_steps",
)


def warm_process(ctx: Context) -> float:
    """Two untimed fp32 training steps, so that one-time costs (kernel JIT, first-touch page faults,
    allocator growth) do not land on whichever variant happens to run first."""
    begin = time.perf_counter()
    module = ctx.build_module().train()
    optimizer = ctx.adam(module.parameters())
    labels = ctx.batch(ctx.settings.train_batch)
    for _ in range(2):
        module.model_step(labels)[0]["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync(ctx.device)
    return round(time.perf_counter() - begin, 2)


def measure_train(ctx: Context, variant: TrainVariant) -> dict[str, Any]:
    """`model_step` + backward + Adam on one batch, repeated: what `training_step` computes minus logging.

    Every variant starts from the same weights, batch and noise seed and takes the same number of
    steps, so `first_loss` (before any Adam step) checks the forward and `last_loss` (after
    `last_loss_after_steps` steps) the whole update, optimiser included.
    """
    reason = ctx.skip_reason(
        variant.bf16,
        variant.compile,
        "cuDNN autotuning applies to CUDA only" if variant.cudnn_benchmark else None,
    )
    if reason:
        return skipped(TRAIN_KEYS, reason, options=variant.options())
    s = ctx.settings
    module = ctx.build_module(variant.channels_last, variant.compile).train()
    optimizer = ctx.adam(module.parameters(), fused=variant.fused_adam)
    labels = ctx.batch(s.train_batch)
    losses: dict[str, torch.Tensor] = {}  # kept on the device: no sync inside the timed steps

    def step() -> None:
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=variant.bf16):
            loss = module.model_step(labels)[0]["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.setdefault("first", loss.detach())
        losses["last"] = loss.detach()

    try:
        with deterministic_mode(variant.deterministic), cudnn_benchmark(variant.cudnn_benchmark):
            torch.manual_seed(1)  # the same reparameterisation noise in every variant
            ctx.memory.reset()
            timed = time_rounds(step, ctx.device, s.warmup, s.rounds, s.steps)
            peak = ctx.memory.read()
    except RuntimeError as err:  # out of memory, a compiler failure: report it, keep benchmarking
        return skipped(TRAIN_KEYS, f"failed: {first_line(err)}", options=variant.options())
    rate, best, median_s = timed.rate(s.train_batch * s.steps)
    return {
        "masks_per_s": sig(rate),
        "masks_per_s_best": sig(best),
        "step_ms": sig(median_s / s.steps * 1e3),
        "warmup_s": sig(timed.warmup_s),
        "tflops": sig(ctx.flops["train_per_mask"] * best / 1e12),
        "peak_memory_bytes": peak,
        "first_loss": float(losses["first"]),
        "last_loss": float(losses["last"]),
        "last_loss_after_steps": s.warmup + s.rounds * s.steps - 1,
        "options": variant.options(),
        "skipped": None,
    }


def measure_train_lightning(ctx: Context, cache_dir: Path) -> dict[str, Any]:
    """The real `Trainer.fit` loop with FaceMaskDataModule: data, Lightning and logging included.

    Precision and channels_last as the paper config would run on this device (bf16-mixed on
    CUDA, 32-true on CPU); no validation, logger, checkpointing or progress bar.
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
                sync(ctx.device)
                marks["start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx >= warm:  # the last one stays: teardown after the last step is not timed
                sync(ctx.device)
                marks["end"] = time.perf_counter()

    # The DataModule requires a validation split; it is carved out but never run (limit_val_batches=0).
    datamodule = FaceMaskDataModule(
        source="synthetic",
        image_size=s.image_size,
        batch_size=s.train_batch,
        num_workers=s.loader_workers,
        val_fraction=0.01,
        synthetic_count=s.data_count,
        synthetic_test=s.train_batch,
        cache_dir=str(cache_dir),
    )
    module = ctx.build_module(channels_last=cuda)
    trainer = L.Trainer(
        accelerator=ctx.device.type,
        devices=1,
        precision=precision,
        max_steps=s.lightning_steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[StepClock()],
        default_root_dir=str(cache_dir / "lightning"),
    )
    try:
        trainer.fit(module, datamodule=datamodule)
    except RuntimeError as err:
        return skipped(keys, f"failed: {first_line(err)}")
    steps = s.lightning_steps - warm
    return {
        "masks_per_s": sig(steps * s.train_batch / (marks["end"] - marks["start"])),
        "steps": steps,
        "precision": precision,
        "workers": s.loader_workers,
        "skipped": None,
    }


def measure_optimizer(ctx: Context) -> dict[str, Any]:
    """Adam steps over the model's parameters with fixed random gradients: the for-loop, foreach
    and fused implementations (fused runs on CPU too since torch 2.4), and how far their
    parameters end from the for-loop's after the same steps."""
    s, device = ctx.settings, ctx.device
    keys = ("step_ms", "step_ms_best", "max_abs_diff_vs_for_loop")
    steps = max(1, s.steps // 2)
    base = ctx.build_module().vae
    generator = torch.Generator(device="cpu").manual_seed(0)
    grads = [(torch.randn(p.shape, generator=generator) * 1e-2).to(device) for p in base.parameters()]
    out: dict[str, Any] = {"parameters": int(sum(p.numel() for p in base.parameters()))}
    reference: torch.Tensor | None = None
    for name, implementation in (
        ("for_loop", {"foreach": False}),
        ("foreach", {"foreach": True}),
        ("fused", {"fused": True}),
    ):
        params = [torch.nn.Parameter(p.detach().clone()) for p in base.parameters()]
        for param, grad in zip(params, grads):
            param.grad = grad
        try:
            optimizer = ctx.adam(params, **implementation)
            timed = time_rounds(optimizer.step, device, 1, s.rounds, steps)
        except RuntimeError as err:
            out[name] = skipped(keys, f"failed: {first_line(err)}")
            continue
        flat = torch.cat([p.detach().flatten() for p in params])
        if reference is None:
            reference = flat
        out[name] = {
            "step_ms": sig(statistics.median(timed.rounds_s) / steps * 1e3),
            "step_ms_best": sig(min(timed.rounds_s) / steps * 1e3),
            "max_abs_diff_vs_for_loop": float((flat - reference).abs().max()),
            "skipped": None,
        }
        del params, optimizer  # before the next copy
    return out


# ----------------------------------------------------------------------------- where a step goes


def measure_components(ctx: Context) -> dict[str, Any]:
    """Forward+backward time of each part of the model in isolation, fp32 eager, at the train batch.

    Shares of the sum say where a training step goes (the profile says which ops).
    """
    from semantic_vae.losses import weighted_cross_entropy

    s, device = ctx.settings, ctx.device
    module = ctx.build_module().train()
    vae, b, c, d = module.vae, s.train_batch, ctx.net.num_classes, ctx.net.latent_dim
    labels = ctx.batch(b)  # (B, S, S)
    x = one_hot(labels, c)  # (B, C, S, S)
    z1 = torch.randn(b, c, d, device=device, requires_grad=True)
    z2 = torch.randn(b, c, d, device=device, requires_grad=True)
    logits = torch.randn(b, c, s.image_size, s.image_size, device=device, requires_grad=True)
    weight = torch.ones(c, device=device)

    def encoder() -> None:
        mu, logvar = vae.encoder(x)
        (mu.sum() + logvar.sum()).backward()

    parts: dict[str, Callable[[], object]] = {
        "one_hot": lambda: one_hot(labels, c),
        "encoder": encoder,
        "mixer": lambda: vae.mixer(z1).sum().backward(),
        "decoder": lambda: vae.decoder(z2).sum().backward(),
        "loss": lambda: weighted_cross_entropy(logits, labels, weight).backward(),
    }
    steps = max(1, s.steps // 2)
    times = {}
    for name, fn in parts.items():
        times[name] = min(time_rounds(fn, device, 1, s.rounds, steps).rounds_s) / steps
    total = sum(times.values())
    return {
        "batch": b,
        "ms": {k: sig(v * 1e3) for k, v in times.items()},
        "share": {k: round(v / total, 4) for k, v in times.items()},
        "note": "fp32 eager, forward+backward per part in isolation (one_hot: forward only; loss: weighted CE)",
    }


OP_CATEGORIES = (
    "convolution",
    "lstm",
    "matmul (encoder, mixer FFN)",
    "group_norm",
    "upsample",
    "cross_entropy",
    "optimizer arithmetic",
    "copies, one-hot, fills",
    "other elementwise",
)
PHASES = ("forward", "backward", "optimizer")


def op_category(name: str) -> str:
    """One of OP_CATEGORIES for a profiler op name."""
    n = name.lower()
    if "conv" in n:
        return "convolution"
    if "rnn" in n or "lstm" in n:
        return "lstm"
    if any(k in n for k in ("::mm", "addmm", "bmm", "matmul", "linear")):
        return "matmul (encoder, mixer FFN)"
    if "group_norm" in n:
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


def measure_profile(ctx: Context, top: int = 20) -> dict[str, Any]:
    """torch.profiler over a few fp32 eager training steps: top ops by self time, op categories,
    and the share of each phase (forward incl. loss, backward, optimizer step; host-side time)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    s, device = ctx.settings, ctx.device
    module = ctx.build_module().train()
    optimizer = ctx.adam(module.parameters(), fused=True)  # as configure_optimizers
    labels = ctx.batch(s.train_batch)

    def step() -> None:
        with record_function("phase::forward"):
            loss = module.model_step(labels)[0]["loss"]
        with record_function("phase::backward"):
            loss.backward()
        with record_function("phase::optimizer"):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    step()  # warm-up outside the trace
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    steps = 2
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)
    averages = prof.key_averages()
    phase_us = {e.key.split("::", 1)[1]: e.cpu_time_total for e in averages if e.key.startswith("phase::")}
    phase_total = sum(phase_us.values()) or 1.0
    events = [
        e
        for e in averages
        if not e.key.startswith("phase::") and (e.self_device_time_total if cuda else e.self_cpu_time_total) > 0
    ]
    self_us = {e.key: (e.self_device_time_total if cuda else e.self_cpu_time_total) for e in events}
    calls = {e.key: e.count for e in events}
    total = sum(self_us.values())
    ranked = sorted(self_us, key=self_us.get, reverse=True)
    categories = dict.fromkeys(OP_CATEGORIES, 0.0)  # every category, so the JSON keys never vary
    for key, us in self_us.items():
        categories[op_category(key)] += us
    return {
        "steps": steps,
        "batch": s.train_batch,
        "clock": "self device time" if cuda else "self CPU time",
        "total_ms_per_step": sig(total / steps / 1e3),
        "top_ops": [
            {
                "op": k,
                "ms_per_step": sig(self_us[k] / steps / 1e3),
                "share": round(self_us[k] / total, 4),
                "calls_per_step": calls[k] // steps,
            }
            for k in ranked[:top]
        ],
        "by_category": {k: round(v / total, 4) for k, v in sorted(categories.items(), key=lambda kv: -kv[1])},
        "phases": {k: round(phase_us.get(k, 0.0) / phase_total, 4) for k in PHASES},
        "skipped": None,
    }


def measure_numerics(ctx: Context, batch: int = 2) -> dict[str, Any]:
    """How far each option moves the eval-mode logits from fp32 with the default layout (same
    weights, same masks): max |difference| and the share of pixels whose argmax changes.

    A speed option must change nothing beyond rounding; bf16 rounds far more than fp32.
    """
    labels = ctx.batch(batch)

    def logits(channels_last: bool = False, bf16: bool = False) -> torch.Tensor:
        module = ctx.build_module(channels_last).eval()
        with torch.inference_mode(), torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=bf16):
            return module(labels).logits.float()  # (B, C, S, S)

    reference = logits()
    out: dict[str, Any] = {"batch": batch, "reference_max_abs_logit": sig(float(reference.abs().max()))}
    for name, options in (("channels_last", {"channels_last": True}), ("bf16_mixed", {"bf16": True})):
        if options.get("bf16") and ctx.bf16_skip:
            out[name] = skipped(("max_abs_logit_diff", "argmax_mismatch"), ctx.bf16_skip)
            continue
        other = logits(**options)
        out[name] = {
            "max_abs_logit_diff": float((other - reference).abs().max()),
            "argmax_mismatch": float((other.argmax(1) != reference.argmax(1)).float().mean()),
            "skipped": None,
        }
    return out


# ----------------------------------------------------------------------------- evaluation, metric, editing


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
        return skipped(EVAL_KEYS, reason, batch=ctx.settings.eval_batch)
    s = ctx.settings
    steps = max(1, s.steps // 2)
    module = ctx.build_module(variant.channels_last, variant.compile).eval()
    labels = ctx.batch(s.eval_batch)

    def run() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=variant.bf16):
            return class_map(module(labels).logits)  # (B, S, S)

    try:
        ctx.memory.reset()
        timed = time_rounds(run, ctx.device, s.warmup, s.rounds, steps)
        peak = ctx.memory.read()
    except RuntimeError as err:
        return skipped(EVAL_KEYS, f"failed: {first_line(err)}", batch=s.eval_batch)
    rate, best, median_s = timed.rate(s.eval_batch * steps)
    return {
        "masks_per_s": sig(rate),
        "masks_per_s_best": sig(best),
        "batch_ms": sig(median_s / steps * 1e3),
        "warmup_s": sig(timed.warmup_s),
        "tflops": sig(ctx.flops["forward_per_mask"] * best / 1e12),
        "peak_memory_bytes": peak,
        "batch": s.eval_batch,
        "skipped": None,
    }


def measure_metric(ctx: Context) -> dict[str, Any]:
    """The confusion-matrix update of val/test (`SegmentationScores`: one bincount), at the eval batch."""
    from semantic_vae.metrics import SegmentationScores

    s = ctx.settings
    steps = max(1, s.steps // 2)
    target = ctx.batch(s.eval_batch).long()
    pred = target.roll(1, dims=-1)  # a prediction that differs somewhere; int64 as in test_step
    scores = SegmentationScores(ctx.net.num_classes).to(ctx.device)
    timed = time_rounds(lambda: scores.update(pred, target), ctx.device, 1, s.rounds, steps)
    return {
        "bincount": {"masks_per_s": sig(timed.rate(s.eval_batch * steps)[1]), "batch": s.eval_batch, "skipped": None}
    }


def latency(fn: Callable[[int], object], repeats: int, device: torch.device) -> dict[str, Any]:
    """Milliseconds per call of fn(seed), after 5 untimed calls; median, p90 and min over `repeats`."""
    for seed in range(5):  # first calls at batch 1 create kernels (oneDNN primitives, cuDNN plans)
        fn(seed)
    times = []
    for seed in range(repeats):
        sync(device)
        begin = time.perf_counter()
        fn(seed)
        sync(device)
        times.append((time.perf_counter() - begin) * 1e3)
    times.sort()
    return {
        "latency_ms_median": sig(statistics.median(times)),
        "latency_ms_p90": sig(times[min(len(times) - 1, int(0.9 * len(times)))]),
        "latency_ms_min": sig(times[0]),
        "repeats": repeats,
        "skipped": None,
    }


def measure_edit(ctx: Context, part: str = "nose") -> dict[str, Any]:
    """Batch-1 latency of generating one part, fp32 eager.

    `editor`: `MaskEditor.generate`, numpy mask in, numpy mask out (input checks, resize, host copies);
    `model`: the same computation on a device tensor with `semantic_vae.edit.latent` (encode,
    replace the part's latent with noise, mix, decode, argmax), without the editor's checks.
    """
    s, device = ctx.settings, ctx.device
    module = ctx.build_module()
    editor = MaskEditor(module.vae, label_set_for_names(module.class_names), device=device, batch_size=1)
    mask = ctx.masks[0]  # (S, S) uint8
    ids = editor.part_ids(part)
    labels = torch.from_numpy(mask[None]).to(device)  # (1, S, S)
    vae, net = editor.vae, ctx.net

    @torch.inference_mode()
    def model_edit(seed: int) -> np.ndarray:
        mu, _ = vae.encode(one_hot(labels, net.num_classes))  # (1, C, D)
        z = latent.generate_parts(mu, ids, latent.part_noise(1, len(ids), net.latent_dim, seed))
        return class_map(vae.decode_latents(z)).to(torch.uint8).cpu().numpy()  # (1, S, S)

    return {
        "part": part,
        "batch": 1,
        "editor": latency(lambda seed: editor.generate(mask, part, seed=seed), s.edit_repeats, device),
        "model": latency(model_edit, s.edit_repeats, device),
    }


APP_INPUT_SIZE = 512  # CelebAMask-HQ's label size, what a user uploads
APP_TARGET_MS = 150.0  # an edit in the web editor answers within this on 2 CPU cores


def measure_app(ctx: Context) -> dict[str, Any]:
    """The web editor's answer to one edit, without HTTP: generate the nose (keep="input") of a 512x512 mask
    with the demo model (experiments/base+small+recommended, 64x64), then the three views and the three
    downloads (label PNG, colour PNG, recipe JSON) that `semantic_vae.app.ui` sends back."""
    import tempfile

    from semantic_vae.app.session import EditSession
    from semantic_vae.data.synthetic import heldout_masks
    from semantic_vae.lit import SemanticVAEModule

    spec = model_spec(["base.yaml", "small.yaml", "recommended.yaml"])
    torch.manual_seed(0)
    module = SemanticVAEModule(net=spec.net, **spec.options)
    editor = MaskEditor(module.vae, label_set_for_names(module.class_names), device=ctx.device, batch_size=8)
    mask = heldout_masks(1, APP_INPUT_SIZE)[0]
    with tempfile.TemporaryDirectory(prefix="bench-app-") as work:
        session = EditSession(editor, checkpoint_hash="bench")
        session.load(mask)

        def answer(seed: int) -> None:
            session.position = 0  # every edit starts from the loaded mask
            session.apply(session.step(Edit("generate", ["nose"], seed=seed, keep="input", radius=1)))
            session.colour(session.previous), session.colour(session.current), session.overlay()
            session.downloads(Path(work) / str(seed % 3))

        timed = latency(answer, ctx.settings.edit_repeats, ctx.device)
    return {**timed, "input_size": APP_INPUT_SIZE, "model_size": spec.net.image_size, "target_ms": APP_TARGET_MS,
            "met": timed["latency_ms_median"] <= APP_TARGET_MS}  # fmt: skip
