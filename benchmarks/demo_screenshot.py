"""Screenshot of the web demo serving a model (docs/demo.png), in headless Debian Chromium.

    python benchmarks/demo_screenshot.py --model mofo/assets/default --image-from data/mix64 --out docs/demo.png

Serves `mofo demo` on a free local port, uploads one synthetic test image (upscaled
to 256 px so the page shows it at a readable size), runs Image -> Depth, waits for the
depth map and the 3D point-cloud view, and saves a full-page PNG.
"""
from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

from PIL import Image

from mofo.app import serve
from mofo.data import to_uint8
from mofo.data.benchmarks import open_benchmark
from mofo.pipeline import Pipeline

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--image-from", default="data/synth64", help="shards with a test split")
    p.add_argument("--index", type=int, default=3, help="which test image")
    p.add_argument("--out", default="docs/demo.png")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="mofo-demo-"))
    image = to_uint8(open_benchmark("synth", args.image_from)[args.index]["image"])
    Image.fromarray(image).resize((256, 256), Image.NEAREST).save(tmp / "photo.png")
    port = free_port()
    app = serve(Pipeline.from_pretrained(args.model), tmp / "outputs", port=port, block=False)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}")
            page.get_by_role("tab", name="Image → Depth").click()
            page.locator("#i2d-input input[type=file]").set_input_files(str(tmp / "photo.png"))
            page.locator("#i2d-input img").wait_for(state="visible")
            page.locator("#i2d-run").click()
            page.locator("#i2d-depth img").first.wait_for(state="visible")
            page.locator("#i2d-cloud canvas").wait_for()
            page.wait_for_timeout(3000)  # let the 3D view draw its points
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        app.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
