"""W&B sweeps without the `sweeps` package or a server: grid and seeded random search, the agent's
command line, and a sweep entry point.

`sweep_runs` proposes the run configs of a sweep file as W&B's controller would: `grid` in W&B's
order, `random` drawn from a seed (`run_cap` runs). Other methods (`bayes`) need W&B's sweep server:
they are refused with one line that points to `wandb sweep`.

`python -m semantic_vae.runs.sweep fit ...` is the LightningCLI (`python -m semantic_vae fit ...`) with one
difference: when a W&B agent started it (WANDB_SWEEP_ID and WANDB_RUN_ID in the environment) and the
command line names no `--trainer.default_root_dir`, the run gets its own directory
`outputs/sweeps/<sweep id>/<run id>`, so sweep runs never share config.yaml, checkpoints or metrics.json.
DDP ranks re-run the same command line with the same environment, so they agree on the directory.

`semantic_vae.callbacks.TestAfterFit` (added by the sweep's command line) makes a `fit` end with
`test` on the best checkpoint inside the same Trainer: the test metrics land in the same W&B run
and in `<default_root_dir>/metrics.json`, and the sweep's metric `test/mIoU` exists.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from semantic_vae.errors import UserError

SWEEP_ROOT = "outputs/sweeps"


# -- grid expansion (W&B semantics) ----------------------------------------------------------
def _leaves(parameters: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict]]:
    """(path, spec) for every parameter, keys sorted at every level as W&B's HyperParameterSet does."""
    leaves: list[tuple[tuple[str, ...], dict]] = []
    for name, spec in sorted(parameters.items()):
        path = (*prefix, str(name))
        if not isinstance(spec, Mapping):
            raise UserError(f"sweep parameter {'.'.join(path)}: expected a mapping, got {spec!r}")
        if "parameters" in spec:
            leaves += _leaves(spec["parameters"], path)
        elif {"value", "values", "distribution", "min", "max"} & set(spec):
            leaves.append((path, dict(spec)))
        else:
            raise UserError(
                f"sweep parameter {'.'.join(path)}: needs 'value', 'values', a distribution or nested 'parameters'"
            )
    return leaves


def _value_key(value: Any) -> str:
    """W&B dedupes grid values by their YAML dump, integer floats counted as ints (3.0 == 3)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=True)


def expand_grid(parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run configs of a W&B grid sweep, in the order the W&B controller proposes them.

    `values` lists form a Cartesian product (the first parameter in sorted order varies slowest);
    `value` is a constant present in every run; `parameters` blocks nest, and their values arrive
    nested in the run config (`{"model": {"lstm_layers": 3}}`). Equal values (by YAML dump, 3.0 == 3)
    are proposed once, at the first one's position with the last one's value, as W&B's lookup does.
    """
    leaves = _leaves(parameters)
    choices: list[list[Any]] = []  # per leaf, in sorted order; a constant is a one-value axis
    for path, spec in leaves:
        if (
            not {"value", "values"} & set(spec)
            or "probabilities" in spec
            or spec.get("distribution", "categorical") not in ("categorical", "constant")
        ):
            raise UserError(f"sweep parameter {'.'.join(path)}: grid search takes only 'value' and 'values'")
        if "values" in spec:
            unique = {_value_key(v): v for v in spec["values"]}  # W&B: first position, last value
            choices.append(list(unique.values()))
        else:
            choices.append([spec["value"]])
    runs = []
    for combination in itertools.product(*choices):
        config: dict[str, Any] = {}
        for (path, _), value in zip(leaves, combination):
            node = config
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        runs.append(config)
    return runs


def _sample(path: tuple[str, ...], spec: Mapping[str, Any], rng: random.Random) -> Any:
    """One draw of a parameter for random search (the distributions W&B documents, by name)."""
    name = ".".join(path)
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        values = list(spec["values"])
        weights = spec.get("probabilities")
        if weights is not None and len(weights) != len(values):
            raise UserError(f"sweep parameter {name}: {len(weights)} probabilities for {len(values)} values")
        return rng.choices(values, weights=weights)[0]
    kind = spec.get("distribution", "uniform" if isinstance(spec.get("min"), float) else "int_uniform")
    low, high = spec.get("min"), spec.get("max")
    if low is None or high is None:
        raise UserError(f"sweep parameter {name}: random search needs 'values', 'value' or 'min' and 'max'")
    if kind == "uniform":
        return rng.uniform(float(low), float(high))
    if kind == "int_uniform":
        return rng.randint(int(low), int(high))
    if kind == "log_uniform_values":
        return math.exp(rng.uniform(math.log(float(low)), math.log(float(high))))
    raise UserError(f"sweep parameter {name}: distribution '{kind}' is not run locally; use `wandb sweep`")


def random_runs(parameters: Mapping[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
    """`count` run configs of a random search, drawn from `seed` (the same seed, the same runs)."""
    rng = random.Random(seed)
    leaves = _leaves(parameters)
    runs = []
    for _ in range(count):
        config: dict[str, Any] = {}
        for path, spec in leaves:
            node = config
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = _sample(path, spec, rng)
        runs.append(config)
    return runs


LOCAL_METHODS = ("grid", "random")


def sweep_runs(sweep: Mapping[str, Any], source: str, seed: int = 0, count: int | None = None) -> list[dict[str, Any]]:
    """The run configs of the sweep file `source`, run locally: grid, or random (`count` or `run_cap` runs)."""
    method = sweep.get("method")
    if method not in LOCAL_METHODS:
        raise UserError(
            f"{source}: method '{method}' needs W&B's sweep server; run `wandb sweep {source}` and then "
            f"`wandb agent <entity>/<project>/<sweep id>` (locally: {' or '.join(LOCAL_METHODS)})"
        )
    if not isinstance(sweep.get("parameters"), Mapping) or not isinstance(sweep.get("command"), list):
        raise UserError(f"{source}: a sweep file needs 'parameters' (a mapping) and 'command' (a list)")
    if method == "grid":
        return expand_grid(sweep["parameters"])
    runs = count or sweep.get("run_cap")
    if not runs or int(runs) < 1:
        raise UserError(f"{source}: a random sweep needs 'run_cap' in the file or --count")
    return random_runs(sweep["parameters"], int(runs), seed)


# -- the agent's command line ----------------------------------------------------------------
def agent_args(run_config: Mapping[str, Any]) -> list[str]:
    """`${args}` as the agent builds it: `--key=value` with Python's str() of the value, keys sorted."""
    return [f"--{key}={run_config[key]}" for key in sorted(run_config)]


def agent_command(
    command: Sequence[str],
    run_config: Mapping[str, Any],
    program: str | None = None,
    interpreter: str = "python",
) -> list[str]:
    """The argv `wandb agent` runs for one run of a sweep whose `command` is `command`.

    `${env}` is /usr/bin/env and `${interpreter}` the literal `python`, found on PATH; `${args}`,
    `${args_no_hyphens}` and `${args_no_boolean_flags}` expand as in the agent.
    """
    flags = agent_args(run_config)
    macros: dict[str, list[str]] = {
        "env": ["/usr/bin/env"],
        "interpreter": [interpreter],
        "program": [program] if program else [],
        "args": flags,
        "args_no_hyphens": [f[2:] for f in flags],
        "args_no_boolean_flags": [
            f"--{k}" if v is True else f"--{k}={v}" for k, v in sorted(run_config.items()) if v is not False
        ],
    }
    argv: list[str] = []
    for chunk in map(str, command):
        if chunk.startswith("${") and chunk.endswith("}"):
            name = chunk[2:-1]
            if name not in macros:
                raise UserError(f"sweep command: unsupported macro {chunk}")
            argv += macros[name]
        else:
            argv.append(chunk)
    return argv


# -- entry point -----------------------------------------------------------------------------
def sweep_root_dir(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """The per-run directory under a W&B agent, or None when not under one or the argv names its own."""
    sweep, run = environ.get("WANDB_SWEEP_ID"), environ.get("WANDB_RUN_ID")
    if not (sweep and run) or any(a.split("=", 1)[0] == "--trainer.default_root_dir" for a in argv):
        return None
    return f"{SWEEP_ROOT}/{sweep}/{run}"


def main(argv: list[str] | None = None) -> None:
    from semantic_vae.cli import main as cli

    argv = list(sys.argv[1:] if argv is None else argv)
    root = sweep_root_dir(argv)
    cli(argv + [f"--trainer.default_root_dir={root}"] if root else argv)


if __name__ == "__main__":
    main()
