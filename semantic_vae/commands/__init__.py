"""The command-line tools other than the LightningCLI (`semantic_vae.cli.TOOLS` points here): they read files and
the command line, call the library (`data`, `model`, `edit`), show progress and print what they did.

- `data`: `semantic-vae data merge | prepare | preview | compare`;
- `edit`: `semantic-vae edit <operation> | augment | replay` and `semantic-vae evaluate-edits`;
- `augment`: `edit augment`'s files, threads and manifest; `files`, `options`: what the edit commands share;
- `model`: `semantic-vae convert`, `fit-prior`, `fit-directions`.
"""
