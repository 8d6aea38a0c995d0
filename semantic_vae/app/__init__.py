"""The web editor (`semantic-vae app`): `session` holds what it does, `ui` the Gradio page.

Gradio comes with the optional extra: `pip install -e '.[app]'`.
"""
