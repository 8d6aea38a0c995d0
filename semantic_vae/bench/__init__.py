"""`make bench`: speed of training, evaluation, editing, the data path and the raw merge.

    python -m semantic_vae.bench [--quick] [--device auto|cpu|cuda] [--out outputs/bench.json]

Modules: `settings` (sizes, constants), `timing` (device helpers, timing, peak memory), `flops`
(FLOP counts, bf16 probe), `context` (Context, build_module), `train` (training, Lightning loop,
Adam), `profiling` (components, profiler, numerics), `inference` (eval, metric, edit latency),
`data` (loaders, cache, raw merge), `report` (summary, table, JSON), `runner` (run, main; the
full description of the output and of the timing).
"""

from semantic_vae.bench.context import Context, build_module
from semantic_vae.bench.data import LOADER_KEYS, batched_read_rate, measure_data, measure_loader, measure_merge
from semantic_vae.bench.flops import bf16_probe, count_flops
from semantic_vae.bench.inference import (
    EDIT_KEYS,
    EVAL_KEYS,
    EVAL_VARIANTS,
    EvalVariant,
    measure_edit,
    measure_eval,
    measure_metric,
)
from semantic_vae.bench.profiling import (
    OP_CATEGORIES,
    PHASES,
    measure_components,
    measure_numerics,
    measure_profile,
)
from semantic_vae.bench.report import print_table, summarise
from semantic_vae.bench.runner import main, run
from semantic_vae.bench.settings import (
    H100_TARGETS,
    NUM_CLASSES,
    PAPER_MODEL,
    QUICK_MODEL,
    SCHEMA_VERSION,
    Settings,
    make_settings,
)
from semantic_vae.bench.timing import PeakMemory, Timed, resolve_device, time_rounds
from semantic_vae.bench.train import (
    TRAIN_KEYS,
    TRAIN_VARIANTS,
    TrainVariant,
    measure_optimizer,
    measure_train,
    measure_train_lightning,
    warm_process,
)

__all__ = [
    "EDIT_KEYS",
    "EVAL_KEYS",
    "EVAL_VARIANTS",
    "H100_TARGETS",
    "LOADER_KEYS",
    "NUM_CLASSES",
    "OP_CATEGORIES",
    "PAPER_MODEL",
    "PHASES",
    "QUICK_MODEL",
    "SCHEMA_VERSION",
    "TRAIN_KEYS",
    "TRAIN_VARIANTS",
    "Context",
    "EvalVariant",
    "PeakMemory",
    "Settings",
    "Timed",
    "TrainVariant",
    "batched_read_rate",
    "bf16_probe",
    "build_module",
    "count_flops",
    "main",
    "make_settings",
    "measure_components",
    "measure_data",
    "measure_edit",
    "measure_eval",
    "measure_loader",
    "measure_merge",
    "measure_metric",
    "measure_numerics",
    "measure_optimizer",
    "measure_profile",
    "measure_train",
    "measure_train_lightning",
    "print_table",
    "resolve_device",
    "run",
    "summarise",
    "time_rounds",
    "warm_process",
]
