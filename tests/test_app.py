"""Tests for mofo/app.py and `mofo demo`: the web demo driven end to end in headless Chromium.

A tiny random model is served on a free port in a background thread; Playwright
(with Debian's /usr/bin/chromium, never a downloaded browser) clicks through the
tabs. `benchmarks/demo_screenshot.py` takes the README screenshot the same way.
"""
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, randomize
from mofo.checkpoint import save_checkpoint
from mofo.cli import main
from mofo.model import ModalityDiT
from mofo.pipeline import Pipeline

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_folders(out: Path, mode: str) -> list[Path]:
    return sorted(out.glob(f"*-{mode}"))


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright; skips where either is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing (pip install playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, outputs dir) of the demo serving a tiny random model; stopped after the module."""
    from mofo.app import serve

    tmp = tmp_path_factory.mktemp("demo")
    pipe = Pipeline.from_pretrained(save_checkpoint(randomize(ModalityDiT(TINY)), tmp / "model"))
    pipe.sampling = pipe.sampling.replace(steps=2)  # the sliders start here; the browser runs stay fast
    port = free_port()
    app = serve(pipe, tmp / "outputs", port=port, block=False)
    yield f"http://127.0.0.1:{port}", tmp / "outputs"
    app.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """One page on the demo, shared by the browser tests in order (tabs keep their state)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server[0])
    return page


def wait_for_image(page, elem_id: str) -> str:
    """The src of the <img> that appears in the output component `elem_id`."""
    img = page.locator(f"#{elem_id} img").first
    img.wait_for(state="visible")
    return img.get_attribute("src")


def test_image_to_depth_in_browser(server, page, tmp_path):
    _, outputs = server
    image = np.zeros((120, 160, 3), np.uint8)
    image[..., 0] = np.linspace(0, 255, 160, dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")

    page.get_by_role("tab", name="Image → Depth").click()
    page.locator("#i2d-input input[type=file]").set_input_files(str(tmp_path / "photo.png"))
    page.locator("#i2d-input img").wait_for(state="visible")  # the upload reached the server
    page.locator("#i2d-run").click()
    assert wait_for_image(page, "i2d-depth")
    page.locator("#i2d-cloud canvas").wait_for()  # the 3D view loaded cloud.glb

    (folder,) = run_folders(outputs, "i2d")
    depth = np.load(folder / "depth.npy")
    assert depth.shape == (120, 160) and np.isfinite(depth).all()  # at the upload's size
    assert (folder / "cloud.glb").stat().st_size > 0
    links = page.locator("#i2d-files a[download]")  # every file of the folder is offered for download
    assert sorted(links.evaluate_all("els => els.map(e => e.download)")) == sorted(p.name for p in folder.iterdir())
    href = page.locator('#i2d-files a[download="depth.npy"]').get_attribute("href")
    assert page.request.get(href).body() == (folder / "depth.npy").read_bytes()


def test_depth_to_image_in_browser_reports_a_bad_upload(server, page, tmp_path):
    """A broken upload becomes a Gradio error message; the next, valid one runs."""
    _, outputs = server
    np.save(tmp_path / "zeros.npy", np.zeros((8, 8), np.float32))
    np.save(tmp_path / "ramp.npy", np.linspace(1, 4, 20 * 12, dtype=np.float32).reshape(20, 12))
    page.get_by_role("tab", name="Depth → Image").click()
    upload = page.locator("#d2i-input input[type=file]")

    upload.set_input_files(str(tmp_path / "zeros.npy"))
    page.locator('#d2i-input [aria-label="zeros.npy"]').wait_for()
    page.locator("#d2i-run").click()
    page.get_by_text("is all zero (no measured pixel)").first.wait_for()
    assert not run_folders(outputs, "d2i")

    page.locator("#d2i-input").get_by_role("button", name="Clear").click()
    upload.set_input_files(str(tmp_path / "ramp.npy"))
    page.locator('#d2i-input [aria-label="ramp.npy"]').wait_for()
    page.locator("#d2i-run").click()
    assert wait_for_image(page, "d2i-rgb")
    (folder,) = run_folders(outputs, "d2i")
    assert np.asarray(Image.open(folder / "rgb.png")).shape == (20, 12, 3)


def test_text_to_rgbd_in_browser(server, page):
    _, outputs = server
    page.get_by_role("tab", name="Text → RGB-D").click()
    page.locator("#joint-prompt textarea").fill("a blue cube on grass")
    page.locator("#joint-run").click()
    assert wait_for_image(page, "joint-rgb") and wait_for_image(page, "joint-depth")
    (folder,) = run_folders(outputs, "joint")
    assert np.asarray(Image.open(folder / "rgb.png")).shape == (16, 16, 3)
    assert np.load(folder / "depth.npy").shape == (16, 16)
    assert json.loads((folder / "metadata.json").read_text())["prompt"] == "a blue cube on grass"


def test_large_uploads_are_shrunk():
    from mofo.app import MAX_SIDE, _shrink

    small = np.zeros((300, 200, 3), np.uint8)
    assert _shrink(small) is small
    assert _shrink(np.zeros((MAX_SIDE, 3 * MAX_SIDE, 3), np.uint8)).shape == (MAX_SIDE // 3, MAX_SIDE, 3)


# --------------------------------------------------------------------------- command line


def test_demo_help_lists_flags(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["demo", "--help"])
    assert raised.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--model", "--host", "--port", "--device", "--out"):
        assert flag in help_text


def test_demo_bad_model_is_one_error_line(tmp_path, capsys, monkeypatch):
    def no_server(*args, **kwargs):
        raise AssertionError("a server was started")

    monkeypatch.setattr("mofo.app.serve", no_server)
    assert main(["demo", "--model", str(tmp_path / "missing"), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mofo demo: error:") and "missing" in err[0]
