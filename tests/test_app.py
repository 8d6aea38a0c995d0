"""The web editor: its functions against MaskEditor and the CLI, the server through gradio_client, and a real
browser (Debian's Chromium driven by Playwright; no browser download)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from semantic_vae.cli import main
from semantic_vae.data.io import read_label_png, write_label_png
from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import Edit, MaskEditor
from semantic_vae.edit.attributes import ALL_ATTRIBUTES as STEER_ATTRIBUTES
from semantic_vae.edit.recipe import Recipe
from semantic_vae.errors import UserError

gradio = pytest.importorskip("gradio", reason="the web editor's extra is not installed (pip install -e '.[app]')")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOSE = 2


@pytest.fixture(scope="module")
def editor(trained_ckpt) -> MaskEditor:
    return MaskEditor.from_checkpoint(trained_ckpt, device="cpu", batch_size=8)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return heldout_masks(2, 512)  # the size of CelebAMask-HQ's labels, 8x the model's


def test_app_edits_equal_the_editor_and_the_recipe_replays_through_the_cli(
    editor, trained_ckpt, faces, tmp_path, capsys
):
    from semantic_vae.app.session import EditSession

    session = EditSession.open(editor, trained_ckpt)
    with pytest.raises(UserError, match="^load a mask first"):  # says what is missing
        session.step(Edit("generate", ["nose"]))
    session.load(faces[0])
    y, x = np.argwhere(faces[0] == NOSE)[0]
    assert session.part_at(int(x), int(y)) == "nose"  # a click at (x, y) picks the class under it
    first = session.apply(session.step(Edit("generate", ["nose"], seed=5, prior="normal", keep="input", radius=3)))
    assert np.array_equal(first, editor.generate(faces[0], ["nose"], seed=5, prior="normal", keep="input", radius=3))
    session.set_target(faces[1])
    second = session.apply(session.step(Edit("swap", ["lips"], keep="reconstruction", radius=2)))
    assert np.array_equal(second, editor.swap(first, faces[1], ["lips"], keep="reconstruction", radius=2))
    third = session.apply(session.step(Edit("perturb", ["hair"], seed=2, scale=1.5, keep="none")))
    assert np.array_equal(third, editor.perturb(second, ["hair"], scale=1.5, seed=2, keep="none"))
    assert np.array_equal(session.undo(), second) and np.array_equal(session.redo(), third)
    session.undo()
    session.apply(session.step(Edit("interpolate", ["eyes"], alpha=0.4, keep="input", radius=3)))  # drops the redo
    with pytest.raises(Exception, match="nothing to redo"):
        session.redo()

    files = session.downloads(tmp_path / "downloads")
    labels = read_label_png(files["labels"])
    assert labels.shape == (512, 512) and np.array_equal(labels, session.current)
    recipe = json.loads(files["recipe"].read_text())
    assert [s["edit"]["operation"] for s in recipe["steps"]] == ["generate", "swap", "interpolate"]
    assert recipe["edit"] == "interpolate eyes (alpha 0.4), keep=input"
    assert recipe["steps"][0]["edit"] == Edit("generate", "nose", 5, prior="normal", keep="input", radius=3).to_dict()
    assert np.array_equal(Recipe.from_json(files["recipe"].read_text()).replay(editor), session.current)
    main(
        [
            "edit",
            "replay",
            "--recipe",
            str(files["recipe"]),
            "--ckpt",
            str(trained_ckpt),
            "--out",
            str(tmp_path / "cli"),
        ]
    )
    assert (tmp_path / "cli" / "recipe.png").read_bytes() == files["labels"].read_bytes()  # the identical PNG
    capsys.readouterr()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(editor, trained_ckpt):
    from semantic_vae.app.ui import build, serve

    port = free_port()
    page = build(editor, trained_ckpt)
    serve(page, "127.0.0.1", port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/"
    page.close()


def test_the_server_edits_through_gradio_client_and_survives_a_bad_upload(server, faces, tmp_path):
    from gradio_client import Client, handle_file

    write_label_png(tmp_path / "face.png", faces[0])
    (tmp_path / "notes.png").write_text("not an image at all")
    client = Client(server, verbose=False)
    early = client.predict("generate", [], 7, "normal", 1.0, 0.5, "input", 3, api_name="/apply")
    assert early[0].startswith("**Error:** load a mask first"), early[0]  # what is missing, before anything else
    loaded = client.predict(handle_file(str(tmp_path / "face.png")), api_name="/load_file")
    assert "Loaded face.png: 512x512" in loaded[0]
    result = client.predict("generate", ["nose"], 7, "normal", 1.0, 0.5, "input", 3, api_name="/apply")
    status, label_png = result[0], result[4]
    assert "pixels changed" in status, status
    labels = read_label_png(label_png)
    assert labels.shape == (512, 512) and labels.max() <= 18 and (labels != faces[0]).any()
    bad = client.predict(handle_file(str(tmp_path / "notes.png")), api_name="/load_file")
    assert bad[0].startswith("**Error:**") and "not a PNG file" in bad[0]
    again = client.predict("perturb", ["hair"], 1, "normal", 2.0, 0.5, "input", 3, api_name="/apply")
    assert "pixels changed" in again[0]  # the session kept its mask and the server kept serving
    glasses = 3
    assert not (read_label_png(again[4]) == glasses).any()
    added = client.predict(["eye_g"], 3, "input", 1, api_name="/add")  # the status says if the model did not draw it
    drawn = (read_label_png(added[4]) == glasses).any()
    assert "pixels changed" in added[0] and ("did not draw eye_g" in added[0]) == (not drawn), added[0]
    amounts = [1.5 if name == "height" else 0.0 for name in STEER_ATTRIBUTES]
    steered = client.predict(["nose"], True, "input", 3, *amounts, api_name="/steer")
    changed = int((read_label_png(steered[4]) != read_label_png(added[4])).sum())
    assert steered[0] == f"steer nose: height +1.5 sd: {changed} pixels changed (keep=input).", steered[0]


WINDOW = {"width": 1400, "height": 900}
ON_ONE_SCREEN = ("#before img", "#current img", "#changes img", "#status", "#apply")  # masks, message, Apply


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install -y chromium; .ci/run does)")
def test_a_real_browser_edits_on_one_screen_and_takes_the_readme_screenshot(server, faces, tmp_path):
    """In a 1400x900 window: upload, click the nose, Apply; the three mask views, the status line and Apply lie
    inside the window at the top of the page. The screenshot is the README's (SEMANTIC_VAE_SCREENSHOT=path copies
    it there: `make screenshot`)."""
    from playwright.sync_api import sync_playwright

    face = faces[0]
    write_label_png(tmp_path / "face.png", face)
    ys, xs = np.nonzero(face == NOSE)
    nose_y, nose_x = int(np.median(ys)), int(np.median(xs))
    assert face[nose_y, nose_x] == NOSE
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        page = browser.new_page(viewport=WINDOW)
        page.goto(server)
        with page.expect_file_chooser(timeout=60_000) as chooser:
            page.click("#upload")
        chooser.value.set_files(str(tmp_path / "face.png"))
        page.get_by_text("Loaded face.png").wait_for(timeout=60_000)
        image = page.locator("#current img")
        image.wait_for(timeout=30_000)
        before_src = image.get_attribute("src")
        box = image.bounding_box()
        image.click(position={"x": (nose_x + 0.5) * box["width"] / 512, "y": (nose_y + 0.5) * box["height"] / 512})
        page.get_by_text("Picked nose").wait_for(timeout=30_000)
        page.click("#apply")
        page.get_by_text("pixels changed").wait_for(timeout=60_000)
        page.wait_for_function(
            "src => document.querySelector('#current img').src !== src", arg=before_src, timeout=30_000
        )
        assert image.get_attribute("src") != before_src  # the result image changed
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("window.scrollY") == 0
        boxes = {selector: page.locator(selector).bounding_box() for selector in ON_ONE_SCREEN}
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot))  # the window, as a user sees it
        browser.close()
    for selector, b in boxes.items():
        assert b is not None and b["width"] > 0 and b["height"] > 0, selector
        inside = b["x"] >= 0 and b["x"] + b["width"] <= WINDOW["width"] and b["y"] >= 0
        assert inside and b["y"] + b["height"] <= WINDOW["height"], f"{selector} at {b}: outside the window"
    masks = [boxes[f"#{name} img"] for name in ("before", "current", "changes")]
    assert all(m["width"] >= 200 for m in masks)  # big enough to see a contour
    assert max(m["x"] + m["width"] for m in masks) <= boxes["#apply"]["x"]  # the masks left, the controls right
    assert read_png_size(shot) == (WINDOW["width"], WINDOW["height"])
    if os.environ.get("SEMANTIC_VAE_SCREENSHOT"):  # how the README's picture is made
        shutil.copy(shot, os.environ["SEMANTIC_VAE_SCREENSHOT"])


def read_png_size(path: Path) -> tuple[int, int]:
    from semantic_vae.data.io import png_shape

    height, width = png_shape(path)
    return width, height
