"""`make bench`: speed of training, evaluation, editing, the data path and the raw merge.

    python -m semantic_vae.bench [--quick] [--device auto|cpu|cuda] [--out outputs/bench.json]

Prints a table and writes JSON: the device, versions, settings, and one entry per figure. Every
entry has a `skipped` field: None when measured, otherwise the reason, with the figures None.

The model is the one a training run builds: experiments/base.yaml (the paper model, 256x256)
parsed by the project's LightningCLI; `--quick` stacks experiments/small.yaml on it (64x64, the
narrow CPU model) and runs the same measurements with fewer steps, so the JSON has the keys of a
full run.

Timing: every measurement runs a warm-up, then `rounds` rounds of `steps` steps with one device
synchronisation per round; `masks_per_s` is the median round, `masks_per_s_best` the fastest
(the best round is the better estimate on a machine shared with other work).

The training step is `SemanticVAEModule.model_step` + backward + Adam, exactly what `training_step`
computes minus Lightning's logging; `train_lightning` runs the real `Trainer.fit` loop with the
DataModule, for the end-to-end rate. bf16-mixed is `torch.autocast(bfloat16)` around the
forward and loss, with backward outside it, as Lightning's `bf16-mixed` does.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from semantic_vae.bench.core import (
    FULL_CONFIGS,
    H100_TARGETS,
    QUICK_CONFIGS,
    SCHEMA_VERSION,
    Context,
    PeakMemory,
    bf16_probe,
    count_flops,
    free,
    make_settings,
    model_spec,
    sig,
)
from semantic_vae.bench.data import measure_data, measure_merge
from semantic_vae.bench.model import (
    EVAL_VARIANTS,
    TRAIN_VARIANTS,
    measure_app,
    measure_components,
    measure_edit,
    measure_eval,
    measure_metric,
    measure_numerics,
    measure_optimizer,
    measure_profile,
    measure_train,
    measure_train_lightning,
    warm_process,
)
from semantic_vae.bench.versus import measure_demo_steps, measure_versus_reference
from semantic_vae.files import write_json_atomic
from semantic_vae.machine import cpu_count, resolve_device

# ----------------------------------------------------------------------------- summary


def figure(value: float | None, source: str | None, reason: str | None = None) -> dict[str, Any]:
    """A summary entry: the value, the JSON entry it comes from, and why it is None when it is."""
    if value is None:
        return {"value": None, "source": None, "skipped": reason or "not measured"}
    return {"value": value, "source": source, "skipped": None}


def best_rate(
    entries: dict[str, dict[str, Any]],
    section: str,
    names: tuple[str, ...] | None = None,
    key: str = "masks_per_s_best",
) -> dict[str, Any]:
    """The fastest measured entry (by `key`) among `names` (default all); without one, their skip reasons."""
    candidates = {k: v for k, v in entries.items() if names is None or k in names}
    rated = [(k, v[key]) for k, v in candidates.items() if v.get(key) is not None]
    if rated:
        name, value = max(rated, key=lambda kv: kv[1])
        return figure(value, f"{section}.{name}")
    reasons = dict.fromkeys(v.get("skipped") or "not measured" for v in candidates.values())  # unique, in order
    return figure(None, None, "; ".join(reasons))


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, each with its source entry or the reason it is missing, and the H100 targets."""
    train = best_rate(result["train"], "train")
    bf16 = best_rate(result["train"], "train", tuple(v.name for v in TRAIN_VARIANTS if v.bf16))
    data = best_rate(result["data"]["loader"], "data.loader", key="masks_per_s")
    if data["value"] is not None and train["value"] is not None:
        data_over_train = figure(sig(data["value"] / train["value"]), f"{data['source']} / {train['source']}")
    else:
        data_over_train = figure(None, None, data["skipped"] or train["skipped"])
    editor = result["edit"]["editor"]
    summary = {
        "train_masks_per_s_best": train,
        "train_bf16_masks_per_s_best": bf16,
        "eval_masks_per_s_best": best_rate(result["eval"], "eval"),
        "data_masks_per_s_best": data,
        "data_over_train": data_over_train,
        "edit_latency_ms_median": figure(editor["latency_ms_median"], "edit.editor", editor["skipped"]),
        "paper_step_default_over_released": figure(
            result["versus_reference"]["speedup_default"],
            f"versus_reference.speedup.{result['versus_reference']['default']}",
        ),
        "demo_step_128_over_64_fp32": figure(result["demo_steps"]["over_64_fp32"]["128_default"], "demo_steps"),
    }
    measured = {  # the targets are for bf16-mixed training
        "train_masks_per_s": bf16,
        "train_masks_per_s_aim": bf16,
        "data_over_train": data_over_train,
        "eval_masks_per_s": summary["eval_masks_per_s_best"],
        "edit_latency_ms_max": summary["edit_latency_ms_median"],
    }
    on_gpu = result["device"]["type"] == "cuda"
    targets = {}
    for key, target in H100_TARGETS.items():
        value = measured[key]["value"]
        met = None
        if on_gpu and value is not None:
            met = value <= target if key == "edit_latency_ms_max" else value >= target
        targets[key] = {
            "target": target,
            "measured_on_gpu": value if on_gpu else None,
            "this_device": value,
            "met": met,
            "note": f"on {result['device']['name']}"
            if on_gpu
            else "NOT MEASURED on a GPU: the targets are for one H100; this run is on CPU",
            "skipped": measured[key]["skipped"],
        }
    summary["h100_targets"] = targets
    return summary


# ----------------------------------------------------------------------------- table


def _bytes(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GiB"


def _rate(v: dict[str, Any]) -> str:
    return f"{v['masks_per_s']} (best {v['masks_per_s_best']}) masks/s"


def print_table(result: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []

    def row(section: str, name: str, value: str, entry: dict[str, Any] | None, note: str) -> None:
        rows.append((section, name, value, (entry or {}).get("skipped") or note))

    for name, v in result["train"].items():
        row(
            "train",
            name,
            _rate(v),
            v,
            f"{v['tflops']} TFLOP/s, peak {_bytes(v['peak_memory_bytes'])}, "
            f"loss {sig(v['first_loss'], 6)} -> {sig(v['last_loss'], 6)} after {v['last_loss_after_steps']} steps",
        )
    lt = result["train_lightning"]
    row("train", f"lightning {lt['precision']}", f"{lt['masks_per_s']} masks/s", lt, "Trainer.fit + DataModule")
    for name, v in result["eval"].items():
        row(
            "eval",
            name,
            _rate(v),
            v,
            f"batch {v['batch']}, {v['tflops']} TFLOP/s, peak {_bytes(v['peak_memory_bytes'])}",
        )
    v = result["metric"]["bincount"]
    row("metric", "bincount", f"{v['masks_per_s']} masks/s", v, f"confusion-matrix update, batch {v['batch']}")
    for name in ("editor", "model"):
        v = result["edit"][name]
        row("edit", name, f"{v['latency_ms_median']} ms (p90 {v['latency_ms_p90']})", v, "batch 1, one part")
    data = result["data"]
    for name, v in data["loader"].items():
        row(
            "data",
            f"loader {name}",
            f"{v['masks_per_s']} masks/s",
            v,
            f"{v['workers']} workers, first batch {v['first_batch_s']} s",
        )
    row(
        "data",
        "batched memmap read",
        f"{data['batched_read_masks_per_s_per_process']} masks/s",
        None,
        "one process, one fancy-index per batch (what a batched loader could reach)",
    )
    row("data", "synthetic generation", f"{data['synthetic_masks_per_s_per_process']} masks/s", None, "one process")
    m = result["merge"]
    row(
        "data",
        "raw merge",
        f"{m['masks_per_s_per_process']} masks/s",
        m,
        f"one process, {m['parts_per_mask']} parts/mask",
    )
    opt = result["optimizer"]
    for name in ("for_loop", "foreach", "fused"):
        v = opt[name]
        row(
            "adam",
            name,
            f"{v['step_ms']} ms (best {v['step_ms_best']})",
            v,
            f"{opt['parameters'] / 1e6:.1f} M parameters, max diff {v['max_abs_diff_vs_for_loop']:.1e}",
        )
    prof = result["profile"]
    row("profile", "components", "", None, ", ".join(f"{k} {v:.0%}" for k, v in result["components"]["share"].items()))
    row("profile", "phases", "", None, ", ".join(f"{k} {v:.0%}" for k, v in prof["phases"].items()))
    versus = result["versus_reference"]
    for name, speedup in versus["speedup"].items():
        if speedup is None:
            continue
        default = " (the default here)" if name == versus["default"] else ""
        compiling = f"; compiling took {versus['compile_s'][name]} s" if versus["compile_s"][name] else ""
        row("versus", f"ours {name} / released", f"{speedup}x", versus,
            f"{versus['ours_step_ms'][name]} ms vs {versus['released_step_ms']} ms, batch {versus['batch']} at "
            f"{versus['image_size']}{default}{compiling}")  # fmt: skip
    demo = result["demo_steps"]
    for name, ratio in demo["over_64_fp32"].items():
        chosen = demo["settings"][name]
        how = ", ".join(k for k in ("compile", "bf16") if chosen[k]) or "fp32 eager"
        row("demo", f"step {name}", f"{demo['step_ms'][name]} ms", demo,
            f"{ratio}x the 64x64 fp32 step; {how}; batch {demo['batch']}")  # fmt: skip
    row("profile", "top ops", "", None, ", ".join(f"{o['op']} {o['share']:.0%}" for o in prof["top_ops"][:4]))
    for name in ("channels_last", "bf16_mixed"):
        v = result["numerics"][name]
        row(
            "numerics",
            name,
            f"max |logit diff| {sig(v['max_abs_logit_diff'], 3)}",
            v,
            f"argmax differs on {(v['argmax_mismatch'] or 0):.2%} of pixels (vs fp32, default layout)",
        )
    f = result["flops"]
    row(
        "flops",
        "per mask",
        f"{f['forward_per_mask'] / 1e9:.2f} GF fwd, {f['train_per_mask'] / 1e9:.2f} GF train",
        None,
        "",
    )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    configs = " + ".join(result["settings"]["model"]["configs"])
    device = result["device"]
    bf16_units = ", ".join(device["cpu_bf16_flags"]) or "none"
    print(f"\nbench {result['settings']['mode']} ({configs}) on {device['name']} ({device['type']}); CPU {device['cpu']}, "
          f"{device['cpu_cores']} cores, bf16 flags: {bf16_units}")  # fmt: skip
    for r in rows:
        print(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    for key, t in result["summary"]["h100_targets"].items():
        verdict = t["note"] if t["met"] is None else "met" if t["met"] else "NOT met"
        print(f"  H100 target {key}: {t['target']}; this device: {t['this_device']} ({verdict})")


# ----------------------------------------------------------------------------- records of the machine


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


def device_info(device: torch.device, probe: dict[str, Any], bf16_skip: str | None) -> dict[str, Any]:
    cpu_name, flags = _cpu_info()
    cuda = device.type == "cuda"
    return {
        "type": device.type,
        "name": torch.cuda.get_device_name(device) if cuda else cpu_name,
        "cpu": cpu_name,
        "cpu_cores": cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16", "avx_vnni"}),
        "bf16_probe": probe,
        "bf16_skipped": bf16_skip,
        "cuda_capability": list(torch.cuda.get_device_capability(device)) if cuda else None,
        "memory_measure": "cuda_max_memory_allocated" if cuda else "process_peak_rss",
    }


def versions() -> dict[str, str | None]:
    import lightning

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
    }


def load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


# ----------------------------------------------------------------------------- entry


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
        quick: experiments/small.yaml's model at 64x64 and few steps: under a minute on 2 CPU cores.
        device: "auto" picks CUDA when available.
        out: where the JSON goes.
        cache_dir: where the synthetic mask cache for the data-path figures is built (reused).
        train_batch: masks per training step (default: 64 on CUDA as paper.yaml, 8 on CPU, 16 quick).
        eval_batch: masks per evaluation batch (default: 256 on CUDA, 32 on CPU and in --quick).
        compile: measure the torch.compile variants (default: in full runs only).
    """
    dev = resolve_device(device)
    started = time.time()
    load_before = load_average()
    settings = make_settings(
        quick, dev, model_spec(QUICK_CONFIGS if quick else FULL_CONFIGS), train_batch, eval_batch, compile
    )
    probe = bf16_probe(dev)
    bf16_skip = None
    if dev.type == "cpu" and probe["bf16_over_fp32_time"] > 4.0:
        bf16_skip = (
            f"bf16 autocast is {probe['bf16_over_fp32_time']:.1f}x slower than fp32 on this CPU "
            "(probe: a 3x3 conv); not measured"
        )
    from semantic_vae.data.synthetic import generate_masks

    masks = generate_masks(
        seed=0, start=0, count=min(64, max(settings.train_batch, settings.eval_batch)), size=settings.image_size
    )
    flops = count_flops(settings.model.net)
    ctx = Context(dev, settings, flops, PeakMemory(dev), bf16_skip, masks)
    cache_path = Path(cache_dir)
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "command": " ".join([Path(sys.executable).name, "-m", "semantic_vae.bench", *sys.argv[1:]])
        if sys.argv and Path(sys.argv[0]).parts[-2:] == ("bench", "__main__.py")
        else "semantic_vae.bench.run(...)",
        "device": device_info(dev, probe, bf16_skip),
        "versions": versions(),
        "settings": asdict(settings),
        "flops": flops,
    }

    def measure(fn: Callable[..., Any], *args: Any) -> Any:
        """One measurement; its tensors are gone once it returns, and CUDA's cache is emptied so the
        next one starts from the same state."""
        value = fn(ctx, *args)
        free(dev)
        return value

    def section(name: str, fn: Callable[[], Any]) -> Any:
        begin = time.perf_counter()
        print(f"bench: {name} ...", flush=True)
        value = fn()
        print(f"bench: {name} done in {time.perf_counter() - begin:.1f} s", flush=True)
        return value

    result["process_warmup_s"] = section("process warm-up", lambda: measure(warm_process))
    result["train"] = section("train", lambda: {v.name: measure(measure_train, v) for v in TRAIN_VARIANTS})
    result["train_lightning"] = section("train_lightning", lambda: measure(measure_train_lightning, cache_path))
    result["components"] = section("components", lambda: measure(measure_components))
    result["optimizer"] = section("optimizer", lambda: measure(measure_optimizer))
    result["profile"] = section("profile", lambda: measure(measure_profile))
    result["versus_reference"] = section("versus_reference", lambda: measure_versus_reference(
        dev, batch=1 if quick else 4, pairs=3 if quick else 7, compiled=settings.compile, bf16=bf16_skip is None))  # fmt: skip
    result["demo_steps"] = section("demo_steps", lambda: measure_demo_steps(
        dev, rounds=3 if quick else 15, compiled=settings.compile, bf16=bf16_skip is None))  # fmt: skip
    result["numerics"] = section("numerics", lambda: measure(measure_numerics))
    result["eval"] = section("eval", lambda: {v.name: measure(measure_eval, v) for v in EVAL_VARIANTS})
    result["metric"] = section("metric", lambda: measure(measure_metric))
    result["edit"] = section("edit", lambda: measure(measure_edit))
    result["app"] = section("app", lambda: measure(measure_app))
    result["data"] = section("data", lambda: measure(measure_data, cache_path))
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as work:
        result["merge"] = section("merge", lambda: measure(measure_merge, Path(work)))
    result["device"]["memory_measure"] = ctx.memory.kind  # changes if the RSS peak could not be reset
    result["summary"] = summarise(result)
    result["load_average"] = {
        "before": load_before,
        "after": load_average(),
        "note": "1/5/15-minute load; above the core count, other work shared the CPU",
    }
    result["wall_s"] = round(time.time() - started, 1)
    print_table(result)
    write_json_atomic(out, result)
    print(f"\nwrote {out} ({result['wall_s']} s)")
    return result


def main(argv: list[str] | None = None) -> None:
    """jsonargparse over `run`'s typed signature; `--quick` is a bare flag (as `make bench QUICK=1` passes it)."""
    from jsonargparse import ActionYesNo, ArgumentParser

    from semantic_vae.entry import run_entry_point

    parser = ArgumentParser(prog="python -m semantic_vae.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action=ActionYesNo,
        default=False,
        help="experiments/small.yaml's model at 64x64 and few steps: under a minute on 2 CPU cores",
    )
    parser.add_argument(
        "--profile", action=ActionYesNo, default=False,
        help="only where a training step's time goes, for the demo's and the paper's setting (writes --out)",
    )  # fmt: skip
    parser.add_function_arguments(run, skip={"quick"})

    def body() -> None:
        options = parser.parse_args(argv).as_dict()
        if options.pop("profile"):
            from semantic_vae.bench.versus import print_profiles, profile_settings

            profiles = profile_settings(resolve_device(options["device"]))
            print_profiles(profiles)
            write_json_atomic(options["out"], {"profile": profiles, "versions": versions()})
            return
        run(**options)

    status = run_entry_point("bench", body)
    if status:
        raise SystemExit(status)
