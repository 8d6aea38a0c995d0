"""Part-level editing (paper §4) and its measurement.

- `editor`: `MaskEditor`, the Python API (label maps in, label maps out);
- `latent`: the latent operations themselves (generate, perturb, Eq. 4), on tensors;
- `commands`: `semantic-vae edit ...` and `semantic-vae evaluate-edits`;
- `augment`: `edit augment`, many traceable variants per mask;
- `metrics`: locality, validity, realism, diversity;
- `figures`: the paper's Fig. 3 and Fig. 5 grids.
"""

from semantic_vae.edit.editor import MaskEditor, load_module

__all__ = ["MaskEditor", "load_module"]
