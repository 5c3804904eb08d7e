"""`mofo demo`: a local Gradio web app over `Pipeline`, one tab per mode.

    Text -> RGB-D     prompt -> image, colourised depth, 3D point cloud
    Image -> Depth    uploaded image -> colourised depth, 3D point cloud
    Depth -> Image    uploaded depth (.npy or 16-bit PNG) + prompt -> image

Every run also writes a complete outputs folder (`mofo.export.write_outputs`)
whose files the page offers for download. User errors (a bad upload) become a
Gradio error message; the server keeps running.
"""
from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from .data.viz import colorize_depth
from .export import load_depth, load_image, write_outputs
from .pipeline import Pipeline

MAX_SIDE = 1024  # larger uploads are shrunk first: the point cloud has one point per pixel


def _user_errors(fn):
    """Turn the one-line errors of `mofo.export` / `Pipeline` into a Gradio error message."""

    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except (ValueError, FileNotFoundError) as e:
            raise gr.Error(str(e)) from None

    return wrapper


def _shrink(image: np.ndarray) -> np.ndarray:
    """Downscale (H, W, 3) so that its longer side is at most MAX_SIDE."""
    h, w = image.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return image
    s = MAX_SIDE / max(h, w)
    return np.asarray(Image.fromarray(image).resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS))


class Modes:
    """The three modes behind the page: each runs `pipe`, writes a run folder and returns the widgets' values."""

    def __init__(self, pipe: Pipeline, outputs_dir: str | Path):
        self.pipe, self.outputs_dir = pipe, outputs_dir

    def save(self, rgb, depth, **meta) -> tuple[str | None, list[str]]:
        """Write the run folder -> (its cloud.glb or None, all its files)."""
        folder = write_outputs(self.outputs_dir, rgb, depth, {"model": self.pipe.name, **meta}, stem=meta["mode"])
        cloud = folder / "cloud.glb"
        return (str(cloud) if cloud.is_file() else None), sorted(str(p) for p in folder.iterdir())

    @_user_errors
    def text_to_rgbd(self, prompt, steps, cfg, seed):
        run = dict(steps=int(steps), cfg=float(cfg), seed=int(seed))
        rgb, depth = self.pipe.generate(prompt, **run)
        cloud, files = self.save(rgb, depth, mode="joint", prompt=prompt, **run)
        return rgb, colorize_depth(depth), cloud, files

    @_user_errors
    def image_to_depth(self, path, steps, seed):
        if path is None:
            raise ValueError("upload an image first")
        run = dict(steps=int(steps), seed=int(seed))
        image = _shrink(load_image(path))
        depth = self.pipe.depth(image, **run)
        cloud, files = self.save(image, depth, mode="i2d", input=Path(path).name, **run)
        return colorize_depth(depth), cloud, files

    @_user_errors
    def depth_to_image(self, path, prompt, steps, cfg, seed):
        if path is None:
            raise ValueError("upload a depth map (.npy or 16-bit PNG) first")
        run = dict(steps=int(steps), cfg=float(cfg), seed=int(seed))
        depth = load_depth(path)
        rgb = self.pipe.image(depth, prompt, **run)
        _, files = self.save(rgb, depth, mode="d2i", input=Path(path).name, prompt=prompt, **run)
        return rgb, files


def _controls(pipe: Pipeline, steps_key: str = "steps", guided: bool = True) -> list:
    """Steps slider (the checkpoint's default), guidance slider (when `guided`), seed box."""
    steps = gr.Slider(1, 100, value=getattr(pipe.sampling, steps_key), step=1, label="Steps")
    cfg = [gr.Slider(1, 12, value=pipe.sampling.cfg, step=0.5, label="Guidance (cfg)")] if guided else []
    return [steps, *cfg, gr.Number(0, precision=0, label="Seed")]


def _files(elem_id: str):
    return gr.File(label="Files", file_count="multiple", elem_id=elem_id)


def _joint_tab(pipe: Pipeline, modes: Modes):
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox("a small red sphere in front of a blue striped box", label="Prompt",
                                elem_id="joint-prompt")
            controls = _controls(pipe)
            run = gr.Button("Generate", variant="primary", elem_id="joint-run")
        with gr.Column():
            outputs = [gr.Image(label="Image", elem_id="joint-rgb"), gr.Image(label="Depth", elem_id="joint-depth"),
                       gr.Model3D(label="Point cloud", display_mode="point_cloud"), _files("joint-files")]
    run.click(modes.text_to_rgbd, [prompt, *controls], outputs)


def _i2d_tab(pipe: Pipeline, modes: Modes):
    with gr.Row():
        with gr.Column():
            image = gr.Image(type="filepath", label="Image", elem_id="i2d-input")
            controls = _controls(pipe, "depth_steps", guided=False)
            run = gr.Button("Estimate depth", variant="primary", elem_id="i2d-run")
        with gr.Column():
            outputs = [gr.Image(label="Depth", elem_id="i2d-depth"),
                       gr.Model3D(label="Point cloud", display_mode="point_cloud", elem_id="i2d-cloud"),
                       _files("i2d-files")]
    run.click(modes.image_to_depth, [image, *controls], outputs)


def _d2i_tab(pipe: Pipeline, modes: Modes):
    with gr.Row():
        with gr.Column():
            depth_file = gr.File(label="Depth (.npy or 16-bit PNG)", file_types=[".npy", ".png"], elem_id="d2i-input")
            prompt = gr.Textbox("", label="Prompt")
            controls = _controls(pipe)
            run = gr.Button("Render image", variant="primary", elem_id="d2i-run")
        with gr.Column():
            outputs = [gr.Image(label="Image", elem_id="d2i-rgb"), _files("d2i-files")]
    run.click(modes.depth_to_image, [depth_file, prompt, *controls], outputs)


def build_app(pipe: Pipeline, outputs_dir: str | Path = "outputs/demo") -> gr.Blocks:
    """The three-tab demo around `pipe`; each run writes a folder under `outputs_dir`."""
    modes = Modes(pipe, outputs_dir)
    # No telemetry (the network may be closed); Gradio's copies of served files expire after an hour.
    with gr.Blocks(title="mofo demo", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# Modality Forcing\nModel: `{pipe.name}` ({pipe.res} px). Outputs go to `{outputs_dir}`.")
        for title, tab in (("Text → RGB-D", _joint_tab), ("Image → Depth", _i2d_tab), ("Depth → Image", _d2i_tab)):
            with gr.Tab(title):
                tab(pipe, modes)
    return app


def serve(pipe: Pipeline, outputs_dir: str | Path = "outputs/demo", host: str = "127.0.0.1", port: int = 7860,
          block: bool = True) -> gr.Blocks:
    """Build the app and serve it on host:port (never through a public share link).

    With `block=False` the server runs in a background thread; stop it with `.close()`.
    """
    outputs_dir = Path(outputs_dir).resolve()
    app = build_app(pipe, outputs_dir)
    app.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block,
               allowed_paths=[str(outputs_dir)], quiet=not block)
    return app
