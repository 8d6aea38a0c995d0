"""Part-level editing (paper §4) and its measurement.

- `edit`: `Edit`, one edit as a value, the base of the operations; `Template`, settings of edits chosen later;
- `operations`: one class per operation (reconstruct, generate, perturb, swap, interpolate, steer, add, remove):
  its settings, their defaults and checks, and its latent step;
- `editor`: `MaskEditor`, the Python API (label maps in, label maps out) and the one pipeline every edit goes through;
- `latent`: the latent operations themselves (generate, perturb, Eq. 4), on tensors;
- `region`: where an edit acts, and the `keep` modes;
- `augment`: many traceable variants per mask, planned here and edited by the editor;
- `recipe`: sequences of edits as JSON that replay exactly;
- `metrics`: locality, validity, realism, diversity;
- `figures`: what each edit figure shows (Fig. 3, Fig. 5, swap, steer, add / remove, before / after); `viz` draws them.
- `attributes`, `steering`: part attributes measured on label maps; their directions and presence priors, fitted
  on arrays; `calibration`: their gains measured through a model, and `semantic-vae fit-directions`;
- `placement`: whether an added or removed part is where it should be.

Nothing here imports Lightning: models load through `semantic_vae.model.load_vae`.
"""

from semantic_vae.edit import operations
from semantic_vae.edit.edit import Edit, Template
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.model import load_vae

__all__ = ["Edit", "MaskEditor", "Template", "load_vae", "operations"]
