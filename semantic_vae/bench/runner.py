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

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from semantic_vae.bench.context import Context
from semantic_vae.bench.data import measure_data, measure_merge
from semantic_vae.bench.flops import bf16_probe, count_flops
from semantic_vae.bench.inference import EVAL_VARIANTS, measure_edit, measure_eval, measure_metric
from semantic_vae.bench.profiling import measure_components, measure_numerics, measure_profile
from semantic_vae.bench.report import _device_info, _load_average, _versions, _write_json, print_table, summarise
from semantic_vae.bench.settings import SCHEMA_VERSION, make_settings
from semantic_vae.bench.timing import PeakMemory, resolve_device
from semantic_vae.bench.train import (
    TRAIN_VARIANTS,
    measure_optimizer,
    measure_train,
    measure_train_lightning,
    warm_process,
)


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
        if sys.argv and Path(sys.argv[0]).parts[-2:] == ("bench", "__main__.py")
        else "semantic_vae.bench.run(...)",
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
