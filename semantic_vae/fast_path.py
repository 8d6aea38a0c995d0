"""The fast path, chosen by the machine: bf16 where the device computes it natively, `torch.compile` where a run
is long enough to repay the compile.

- `trainer.precision: auto` (experiments/base.yaml) is `bf16-mixed` on a CUDA GPU with bf16 and on a CPU with bf16
  units (AMX or AVX512-BF16), `32-true` elsewhere: bf16 autocast on a CPU without them is emulated and slower
  (PITFALLS.md). An explicit precision always wins.
- `model.compile: auto` compiles the network in place when a training has at least COMPILE_MIN_STEPS optimiser
  steps to go (compiling takes a while before the first step, which a short run does not win back) and a C++
  compiler is found; true compiles whenever a
  compiler is found. Without one both run eager and say so.
The figures behind both: BENCHMARKS.md, "The fast path by default".
"""

from __future__ import annotations

import os
import shutil

import torch

from semantic_vae.compat import cpu_bf16_units

AUTO = "auto"
COMPILE_MIN_STEPS = 1000
CXX_NAMES = ("g++", "clang++", "c++")  # what torch's inductor looks for on CPU (or $CXX)


def auto_precision(accelerator: str | None) -> tuple[str, str]:
    """(precision, why) for `trainer.precision: auto` on this machine and `trainer.accelerator`."""
    name = str(accelerator or AUTO).lower()
    cuda = name in ("cuda", "gpu") or (name == AUTO and torch.cuda.is_available())
    if cuda and torch.cuda.is_available():
        device = torch.cuda.get_device_name()
        if torch.cuda.is_bf16_supported():
            return "bf16-mixed", f"{device} computes bf16"
        return "32-true", f"{device} has no bf16"
    if name in ("cpu", AUTO):
        units = cpu_bf16_units()
        if units:
            return "bf16-mixed", f"this CPU has bf16 units ({', '.join(units)})"
        return "32-true", "this CPU has no bf16 units (AMX or AVX512-BF16); bf16 would be emulated"
    return "32-true", f"accelerator {name}"


def cxx_compiler() -> str | None:
    """The C++ compiler torch.compile would use on this machine ($CXX, else g++, clang++ or c++ on PATH)."""
    given = os.environ.get("CXX")
    if given:
        return shutil.which(given)
    return next((path for path in map(shutil.which, CXX_NAMES) if path), None)


def compile_choice(setting: bool | str, steps_left: int | None) -> tuple[bool, str]:
    """(compile or not, why) for `model.compile` (True, False or "auto") and the optimiser steps a training has
    left (None: not training)."""
    if setting is False:
        return False, "model.compile false"
    if setting == AUTO:
        if steps_left is None:
            return False, "auto: compiled for trainings only"
        if steps_left < COMPILE_MIN_STEPS:
            return False, f"auto: {steps_left} optimiser steps to train, compiling pays from {COMPILE_MIN_STEPS}"
        reason = f"auto: {steps_left} optimiser steps to train"
    else:
        reason = "model.compile true"
    if cxx_compiler() is None:
        return False, f"{reason}, but no C++ compiler ({', '.join(CXX_NAMES)} or $CXX) was found: running eager"
    return True, reason
