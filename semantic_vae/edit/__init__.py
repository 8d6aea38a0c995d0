"""Part-level editing (paper §4) and its measurement.

- `edit`: `Edit`, one part edit as a value (operation, parts, seed, scale, alpha, prior, keep, radius);
- `editor`: `MaskEditor`, the Python API (label maps in, label maps out) and the one dispatcher of edits;
- `latent`: the latent operations themselves (generate, perturb, Eq. 4), on tensors;
- `region`: where an edit acts, and the `keep` modes;
- `commands`, `options`: `semantic-vae edit ...` and `semantic-vae evaluate-edits`;
- `augment`: `edit augment`, many traceable variants per mask;
- `recipe`: sequences of edits as JSON that replay exactly;
- `metrics`: locality, validity, realism, diversity;
- `figures`: what each edit figure shows (Fig. 3, Fig. 5, swap, steer, add / remove, before / after); `viz` draws them.
- `attributes`, `steering`: part attributes measured on label maps; their directions and presence priors, fitted
  on arrays; `calibration`: their gains measured through a model, and `semantic-vae fit-directions`;
- `placement`: whether an added or removed part is where it should be.

Nothing here imports Lightning: models load through `semantic_vae.model.load_vae`.
"""

from semantic_vae.edit.edit import Edit
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.model import load_vae

__all__ = ["Edit", "MaskEditor", "load_vae"]
