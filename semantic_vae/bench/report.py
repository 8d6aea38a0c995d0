"""The output of a run: the summary against the H100 targets, the printed table, the JSON file, and
the device, version and load-average records."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semantic_vae.bench.settings import H100_TARGETS, _cpu_count
from semantic_vae.bench.timing import _round
from semantic_vae.bench.train import TRAIN_VARIANTS


def _best(entries: dict[str, dict[str, Any]], names: tuple[str, ...] | None = None) -> tuple[str | None, float | None]:
    rated = [(k, v["masks_per_s_best"]) for k, v in entries.items()
             if (names is None or k in names) and v.get("masks_per_s_best") is not None]
    if not rated:
        return None, None
    return max(rated, key=lambda kv: kv[1])


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    train_name, train_rate = _best(result["train"])
    eval_name, eval_rate = _best(result["eval"])
    loader_rates = [v["masks_per_s"] for v in result["data"]["loader"].values() if v["masks_per_s"] is not None]
    data_rate = max(loader_rates) if loader_rates else None
    edit = result["edit"]["editor"] if result["edit"]["editor"]["skipped"] is None else result["edit"]["model"]
    bf16_names = tuple(v.name for v in TRAIN_VARIANTS if v.bf16)
    _, bf16_rate = _best(result["train"], bf16_names)
    summary = {
        "train_best_variant": train_name,
        "train_masks_per_s_best": train_rate,
        "train_bf16_masks_per_s_best": bf16_rate,
        "eval_best_variant": eval_name,
        "eval_masks_per_s_best": eval_rate,
        "data_masks_per_s_best": data_rate,
        "data_over_train": _round(data_rate / train_rate) if data_rate and train_rate else None,
        "edit_latency_ms_median": edit["latency_ms_median"],
    }
    on_gpu = result["device"]["type"] == "cuda"
    measured = {
        "train_masks_per_s": bf16_rate,
        "train_masks_per_s_aim": bf16_rate,
        "data_over_train": summary["data_over_train"],
        "eval_masks_per_s": eval_rate,
        "edit_latency_ms_max": summary["edit_latency_ms_median"],
    }
    targets = {}
    for key, target in H100_TARGETS.items():
        value = measured[key]
        met = None
        if on_gpu and value is not None:
            met = value <= target if key == "edit_latency_ms_max" else value >= target
        targets[key] = {
            "target": target,
            "measured_on_gpu": value if on_gpu else None,
            "this_device": value,
            "met": met,
            "note": f"on {result['device']['name']}" if on_gpu
            else "NOT MEASURED on a GPU: the targets are for one H100; this run is on CPU",
        }
    summary["h100_targets"] = targets
    return summary


def _fmt_bytes(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GiB"


def _rate(v: dict[str, Any]) -> str:
    return f"{v['masks_per_s']} (best {v['masks_per_s_best']}) masks/s"


def print_table(result: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []

    def row(section: str, name: str, figure: str, entry: dict[str, Any] | None, note: str) -> None:
        rows.append((section, name, figure, (entry or {}).get("skipped") or note))

    for name, v in result["train"].items():
        row("train", name, _rate(v), v, f"{v['tflops']} TFLOP/s, peak {_fmt_bytes(v['peak_memory_bytes'])}, "
            f"first loss {v['first_loss']}")
    lt = result["train_lightning"]
    row("train", f"lightning {lt['precision']}", f"{lt['masks_per_s']} masks/s", lt, "Trainer.fit + DataModule")
    for name, v in result["eval"].items():
        row("eval", name, _rate(v), v, f"batch {v['batch']}, {v['tflops']} TFLOP/s, "
            f"peak {_fmt_bytes(v['peak_memory_bytes'])}")
    for name in ("bincount", "deterministic_fallback"):
        v = result["metric"][name]
        row("metric", name, f"{v['masks_per_s']} masks/s", v, f"confusion-matrix update, batch {v['batch']}")
    for name in ("editor", "model"):
        v = result["edit"][name]
        row("edit", name, f"{v['latency_ms_median']} ms (p90 {v['latency_ms_p90']})", v, "batch 1, one part")
    data = result["data"]
    for name, v in data["loader"].items():
        row("data", f"loader {name}", f"{v['masks_per_s']} masks/s", v,
            f"{v['workers']} workers, first batch {v['first_batch_s']} s")
    row("data", "batched memmap read", f"{data['batched_read_masks_per_s_per_process']} masks/s", None,
        "one process, one fancy-index per batch (what a batched loader could reach)")
    row("data", "synthetic generation", f"{data['synthetic_masks_per_s_per_process']} masks/s", None, "one process")
    m = result["merge"]
    row("data", "raw merge", f"{m['masks_per_s_per_process']} masks/s", m,
        f"one process, {m['parts_per_mask']} parts/mask")
    opt = result["optimizer"]
    for name in ("for_loop", "foreach", "fused"):
        v = opt[name]
        row("adam", name, f"{v['step_ms']} ms (best {v['step_ms_best']})", v,
            f"{opt['parameters'] / 1e6:.1f} M parameters, max diff {v['max_abs_diff_vs_for_loop']:.1e}")
    prof = result["profile"]
    row("profile", "components", "", None, ", ".join(f"{k} {v:.0%}" for k, v in result["components"]["share"].items()))
    row("profile", "phases", "", None, ", ".join(f"{k} {v:.0%}" for k, v in prof["phases"].items()))
    row("profile", "top ops", "", None, ", ".join(f"{o['op']} {o['share']:.0%}" for o in prof["top_ops"][:4]))
    for name in ("channels_last", "bf16_mixed"):
        v = result["numerics"][name]
        row("numerics", name, f"max |logit diff| {_round(v['max_abs_logit_diff'], 3)}", v,
            f"argmax differs on {(v['argmax_mismatch'] or 0):.2%} of pixels (vs fp32, default layout)")
    f = result["flops"]
    row("flops", "per mask", f"{f['forward_per_mask'] / 1e9:.2f} GF fwd, {f['train_per_mask'] / 1e9:.2f} GF train",
        None, "")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"\nbench {result['settings']['mode']} on {result['device']['name']} ({result['device']['type']})")
    for r in rows:
        print(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    for key, t in result["summary"]["h100_targets"].items():
        verdict = t["note"] if t["met"] is None else "met" if t["met"] else "NOT met"
        print(f"  H100 target {key}: {t['target']}; this device: {t['this_device']} ({verdict})")


def _write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)


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


def _device_info(device: torch.device, probe: dict[str, Any], bf16_skip: str | None) -> dict[str, Any]:
    cpu_name, flags = _cpu_info()
    info: dict[str, Any] = {
        "type": device.type,
        "name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name,
        "cpu": cpu_name,
        "cpu_cores": _cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16", "avx_vnni"}),
        "bf16_probe": probe,
        "bf16_skipped": bf16_skip,
        "cuda_capability": list(torch.cuda.get_device_capability(device)) if device.type == "cuda" else None,
        "memory_measure": "cuda_max_memory_allocated" if device.type == "cuda" else "process_peak_rss",
    }
    return info


def _versions() -> dict[str, str | None]:
    import lightning

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
    }


def _load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None
