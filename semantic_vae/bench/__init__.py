"""`make bench` (`python -m semantic_vae.bench`): speed of training, evaluation, editing and the data path.

- `core`: the model built from experiments/*.yaml, run sizes, timing, peak memory, FLOPs, `Context`;
- `model`: training, Adam, profile, numerics, evaluation, the metric update, edit latency;
- `data`: DataLoader rates, the cache, the raw CelebAMask-HQ merge;
- `report`: `run` and `main`, the summary, the table and the JSON (its docstring describes the output).
"""

from semantic_vae.bench.report import main, run

__all__ = ["main", "run"]
