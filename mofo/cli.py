"""`mofo <verb>`: parse arguments, call one library function, print the result.

Every error a user can cause is reported as one line on stderr with exit code 2
(see `main`); tracebacks are for bugs only.
"""
from __future__ import annotations

import argparse
import sys
import warnings


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`mofo VERB: error: ...`, exit 2) instead of the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def bounded(kind: type, low: float | None = None, high: float | None = None, positive: bool = False):
    """An argparse type: a finite `kind` (int or float), > 0 with `positive`, else in [low, high]."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number, got {text!r}") from None
        if value != value or abs(value) == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        if (low is not None and value < low) or (high is not None and value > high):
            bound = (f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}") if low is not None \
                else f"at most {high:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value
    return parse


def whole(low: int = 0, high: int | None = None):
    return bounded(int, low, high)


def number(low: float | None = None, high: float | None = None, positive: bool = False):
    return bounded(float, low, high, positive)


def checked(check, errors=(ValueError, OSError)):
    """An argparse type that passes the text through `check` and turns its errors into argparse's."""
    def parse(text: str) -> str:
        try:
            check(text)
        except errors as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    return parse


def _device(text: str):
    from .distributed import check_device

    check_device(text)


def _output_folder(text: str):
    from .export import check_output_folder

    check_output_folder(text)


def _output_file(text: str):
    from pathlib import Path

    if Path(text).is_dir():
        raise IsADirectoryError(f"{text} is a folder; give a file name")
    _output_folder(str(Path(text).parent))


device = checked(_device)  # a device this machine has (checked before any model loads)
output_folder = checked(_output_folder)  # a folder that exists or can be created (checked before any work)
output_file = checked(_output_file)  # a file whose folder exists or can be created, and that is not a folder


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mofo", description="Modality Forcing: images and depth from one DiT.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


# Each entry adds one sub-command (and sets `func` on its parser). Sections are
# kept in the order of `mofo --help`.
COMMANDS: list = []

# --- data ---
def add_data_commands(sub):
    data = sub.add_parser("data", help="synthetic RGB-D datasets: write shards, look at samples")
    verbs = data.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verbs.add_parser("synth", help="render a synthetic RGB-D split into tar shards (resumable)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--count", type=int, required=True, help="number of samples")
    p.add_argument("--res", type=int, default=64, help="image size in pixels (square)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed; sample i is fixed by (seed, split, i)")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--workers", type=int, default=1, help="processes rendering shards in parallel")
    p.add_argument("--shard-size", type=int, default=1000, help="samples per .tar shard")
    p.add_argument("--family", default="open", help="scene family: open, room, street, closeup, mix, or mix weights "
                   "such as room=0.3,closeup=0.2,street=0.4,open=0.1 (docs/data.md)")
    p.set_defaults(func=run_data_synth)
    p = verbs.add_parser("show", help="write a contact sheet PNG: RGB | depth | sparse depth | caption")
    p.add_argument("dir", help="a shard directory, a folder of RGB-D files, or 'synth'")
    p.add_argument("--out", default=None, help="PNG path (default DIR/contact_sheet.png, ./ for synth)")
    p.add_argument("--count", type=int, default=8, help="samples shown")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--res", type=int, default=64)
    p.add_argument("--sensor", default="lidar", help="lidar, random, kinect or none")
    p.set_defaults(func=run_data_show)


def run_data_synth(args):
    from .data.shards import write_split

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    paths = write_split(args.out, args.count, res=args.res, seed=args.seed, split=args.split,
                        shard_size=args.shard_size, workers=args.workers, family=args.family)
    print(f"{args.count} {args.split} samples in {len(paths)} shards under {args.out}")


def run_data_show(args):
    from pathlib import Path

    from .data import contact_sheet, make_sensor, open_dataset
    from .files import save_image

    if args.count < 1:
        raise UsageError(f"--count must be positive, got {args.count}")
    make_sensor(args.sensor)  # fails early on an unknown name
    dense = open_dataset(args.dir, res=args.res, split=args.split)
    sparse = open_dataset(args.dir, res=args.res, split=args.split, sensor=args.sensor)
    samples = [{**sparse[i], "dense_depth": dense[i]["depth"]} for i in range(min(args.count, len(dense)))]
    out = Path(args.out or (Path(args.dir) / "contact_sheet.png" if args.dir != "synth" else "contact_sheet.png"))
    save_image(contact_sheet(samples), out)
    print(out)


COMMANDS.append(add_data_commands)
# --- end data ---


# --- product ---
def _common(p, guided: bool = True):
    p.add_argument("--model", default=None, help="checkpoint folder (default: the bundled model)")
    p.add_argument("--steps", type=whole(1), default=None, help="sampling steps (default: the model's)")
    if guided:
        p.add_argument("--cfg", type=number(low=0), default=None,
                       help="classifier-free guidance scale, 1 = off (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--out", type=output_folder, default="outputs", help="parent folder of the timestamped run folders")
    p.add_argument("--fov", type=number(1, 179), default=60.0,
                   help="horizontal field of view for point clouds (degrees, 1 to 179)")


def _flip(p):
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="also estimate the mirrored image and average the two (default: the model's depth_flip)")


def add_product_commands(sub):
    p = sub.add_parser("generate", help="text -> image + depth (joint)")
    p.add_argument("--prompt", required=True, help='the caption ("" for unconditional)')
    p.add_argument("--log2-alpha", type=number(), default=None,
                   help="joint tilt: a > 1 resolves the image first (default: the model's)")
    p.add_argument("--refine", action="store_true", help="re-estimate depth by an i2d pass on the image")
    _common(p)
    p.set_defaults(func=run_generate)

    p = sub.add_parser("depth", help="image -> depth, for files or folders of any size (up to 40 megapixels)")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    p.add_argument("--fit", choices=("resize", "letterbox"), default="resize")
    p.add_argument("--batch-size", type=whole(1), default=16, help="images per sampling batch")
    p.add_argument("--prompt", default="", help="optional caption of the image")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",  # pipeline.DTYPES (not imported to parse)
                   help="what the model computes in: bf16 (autocast) is faster where the CPU/GPU has bf16 units")
    _flip(p)
    _common(p)
    p.set_defaults(func=run_depth)

    p = sub.add_parser("image", help="depth -> image")
    p.add_argument("--depth", required=True, help=".npy, 16-bit PNG, or a previous mofo output folder")
    p.add_argument("--depth-scale", type=number(positive=True), default=1.0,
                   help="units per PNG value, multiplied (e.g. 0.001 for mm)")
    p.add_argument("--prompt", default="")
    _common(p)
    p.set_defaults(func=run_image)

    p = sub.add_parser("complete", help="image + sparse depth (0 = missing) -> dense depth in the same units")
    p.add_argument("--image", required=True)
    p.add_argument("--sparse-depth", required=True, help=".npy or 16-bit PNG of the image's size, 0 = missing")
    p.add_argument("--depth-scale", type=number(positive=True), default=1.0,
                   help="units per PNG value, multiplied (KITTI: 1/256)")
    p.add_argument("--prompt", default="")
    _common(p, guided=False)  # completion runs unguided
    p.set_defaults(func=run_complete)


def _pipeline(args, **kw):
    from .pipeline import Pipeline

    return Pipeline.from_pretrained(args.model, device=args.device, **kw)


def _settings(args, pipe, steps_key: str, cfg_key: str | None, **extra) -> dict:
    """Metadata of a run: every setting with the value actually used (the model's default where not given)."""
    sampling = pipe.sampling
    used = {"steps": args.steps if args.steps is not None else getattr(sampling, steps_key)}
    if cfg_key is not None:
        used["cfg"] = args.cfg if args.cfg is not None else getattr(sampling, cfg_key)
    if args.command in ("depth", "complete"):  # the i2d grid's shift (None: the model's training shift)
        used["depth_mu"] = sampling.depth_mu
    return {"command": args.command, "model": pipe.name, **used, "depth_max": sampling.depth_max, "seed": args.seed,
            "device": args.device, "fov": args.fov, **extra}


def _timed(fn, *a, **kw):
    import time

    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, round(time.perf_counter() - t, 3)


def run_generate(args):
    from .export import write_outputs

    pipe = _pipeline(args)
    log2_alpha = pipe.sampling.log2_alpha if args.log2_alpha is None else args.log2_alpha
    (rgb, depth), seconds = _timed(pipe.generate, args.prompt, steps=args.steps, cfg=args.cfg, seed=args.seed,
                                   log2_alpha=log2_alpha, refine=args.refine)
    meta = _settings(args, pipe, "steps", "cfg", prompt=args.prompt, log2_alpha=log2_alpha, refine=args.refine,
                     seconds=seconds)
    print(write_outputs(args.out, rgb, depth, meta, fov=args.fov))


def run_depth(args):
    from tqdm import tqdm

    from .export import list_images, load_image, write_outputs

    paths = list_images(args.inputs)
    images = [load_image(p) for p in paths]  # read everything first: fail before any output
    pipe = _pipeline(args, dtype=args.dtype)
    batches = [range(i, min(i + args.batch_size, len(paths))) for i in range(0, len(paths), args.batch_size)]
    for batch in tqdm(batches, desc="depth", unit="batch", disable=len(batches) < 2):
        depths, seconds = _timed(pipe.depths, [images[i] for i in batch], steps=args.steps, seed=args.seed,
                                 cfg=args.cfg, prompt=args.prompt, fit_mode=args.fit, flip=args.flip)
        for i, depth in zip(batch, depths):
            meta = _settings(args, pipe, "depth_steps", "depth_cfg", input=str(paths[i]), fit=args.fit,
                             dtype=args.dtype, flip=pipe.sampling.depth_flip if args.flip is None else args.flip,
                             seconds=seconds / len(batch))
            print(write_outputs(args.out, images[i], depth, meta, fov=args.fov, stem=paths[i].stem))


def run_image(args):
    from .export import load_depth, write_outputs

    depth = load_depth(args.depth, args.depth_scale)
    pipe = _pipeline(args)
    rgb, seconds = _timed(pipe.image, depth, args.prompt, steps=args.steps, cfg=args.cfg, seed=args.seed)
    meta = _settings(args, pipe, "steps", "cfg", prompt=args.prompt, depth_input=args.depth, seconds=seconds)
    print(write_outputs(args.out, rgb, depth, meta, fov=args.fov))


def run_complete(args):
    from .export import load_depth, load_image, write_outputs

    image = load_image(args.image)
    sparse = load_depth(args.sparse_depth, args.depth_scale)
    if sparse.shape != image.shape[:2]:
        raise UsageError(f"the sparse depth map is {sparse.shape[1]}x{sparse.shape[0]} pixels but the image is "
                         f"{image.shape[1]}x{image.shape[0]}: give one measurement map per image pixel")
    pipe = _pipeline(args)
    dense, seconds = _timed(pipe.complete, image, sparse, steps=args.steps, seed=args.seed, prompt=args.prompt)
    meta = _settings(args, pipe, "complete_steps", None, cfg=1.0, image=args.image, sparse_depth=args.sparse_depth,
                     measured_fraction=float((sparse > 0).mean()), seconds=seconds)
    print(write_outputs(args.out, image, dense, meta, fov=args.fov))


COMMANDS.append(add_product_commands)
# --- end product ---


# --- train ---
TRAIN_FLAGS = {  # flag -> TrainConfig key (and its parse-time check); flags left out keep the config file's value
    "stage": str, "preset": str, "init": str, "data": str, "steps": whole(1), "batch_size": whole(1), "seed": int,
    "ckpt_every": whole(1), "sample_every": whole(1), "lr": number(positive=True), "grad_accum": whole(1),
    "precision": str, "sensor": str, "workers": whole(0),
}


def add_train_command(sub):
    p = sub.add_parser("train", help="pre-train a T2I DiT or post-train it with Modality Forcing")
    p.add_argument("--config", help="TOML file with TrainConfig fields ([flow] and [model] tables)")
    p.add_argument("--out", type=output_folder, required=True, help="run folder (checkpoints, samples, TensorBoard)")
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    for name, kind in TRAIN_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    for name in ("compile", "fsdp", "checkpointing", "augment"):
        p.add_argument("--" + name, action="store_true", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set flow.p_joint=0.5 --set model.hidden_size=256")
    p.set_defaults(func=run_train)


def parse_value(text: str):
    """A TOML literal (number, bool, quoted string, list), else the raw string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def run_train(args):
    from .train import TrainingAborted, make_train_config, train

    overrides = {k: getattr(args, k) for k in (*TRAIN_FLAGS, "compile", "fsdp", "checkpointing", "augment")
                 if getattr(args, k) is not None}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = parse_value(value)
    try:
        final = train(make_train_config(args.config, overrides), args.out, resume=args.resume)
    except TrainingAborted as e:
        raise UsageError(str(e)) from None
    print(f"final model: {final}")


COMMANDS.append(add_train_command)
# --- end train ---


# --- info ---
def add_info_command(sub):
    p = sub.add_parser("info", help="parameter counts of a preset or checkpoint, per part")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--preset", default="tiny", help="preset name (see `mofo info --list`)")
    which.add_argument("--model", help="a checkpoint folder (reads its config.json; no weights load)")
    p.add_argument("--json", action="store_true", help='print {"total": N, "parts": {...}}')
    p.add_argument("--list", action="store_true", help="list the presets")
    p.set_defaults(func=run_info)


def run_info(args):
    from .config import get_preset, presets
    from .model import parameter_counts

    if args.list:
        print("\n".join(presets))
        return
    if args.model is not None:
        from .checkpoint import read_config

        name, cfg = args.model, read_config(args.model)
    else:
        name, cfg = args.preset, get_preset(args.preset)
    parts = parameter_counts(cfg)
    if args.json:
        import json

        print(json.dumps({"model" if args.model else "preset": name, "total": sum(parts.values()), "parts": parts}))
        return
    print(f"{name}: {cfg.hidden_size} wide, {cfg.num_heads} heads, {cfg.n_double} triple + "
          f"{cfg.n_single} single + {cfg.n_depth_decoder} depth-decoder blocks, {cfg.resolution} px")
    for name, n in parts.items():
        print(f"  {name:<14}{n:>16,}")
    print(f"  {'total':<14}{sum(parts.values()):>16,}")


COMMANDS.append(add_info_command)
# --- end info ---


# --- eval ---
def add_eval_commands(sub):
    p = sub.add_parser("eval", help="score depth on a benchmark with the zero-shot protocol (docs/evaluation.md)")
    p.add_argument("--benchmark", required=True, help="nyuv2, nyuv2_bts, kitti, eth3d, scannet, diode, folder, kitti_velodyne, realdata, synth")
    p.add_argument("--root", help="unpacked benchmark folder (realdata defaults to ../shared/realdata next to the project)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", help="checkpoint to run image-to-depth with (default: the bundled model)")
    source.add_argument("--predictions", help="folder of saved predictions, <key>.npy at ground-truth resolution")
    source.add_argument("--baseline", choices=["constant", "ramp"],
                        help="score a trivial baseline that ignores the image (constant map, or depth rising toward the top row)")
    p.add_argument("--grey-input", action="store_true",
                   help="when the model runs: feed a flat mid-grey image of the same size instead of the photo (does the model read the image?)")
    p.add_argument("--steps", type=whole(1), help="sampling steps (default: the model's)")
    p.add_argument("--ensemble", type=whole(1), default=1, help="K seeds per image, aligned then per-pixel median")
    _flip(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=whole(1), help="score only the first N images")
    p.add_argument("--align", default="affine", choices=["affine", "disparity", "median"],
                   help="least-squares scale+shift in depth or disparity space, or median scaling")
    p.add_argument("--depth-scale", type=number(positive=True),
                   help="folder benchmark: metres per 16-bit PNG value, multiplied (default 0.001: millimetres)")
    p.add_argument("--json", type=output_file, help="write the summary here and per-image metrics beside it (.csv)")
    p.set_defaults(func=run_eval)


def run_eval(args):
    from .data.benchmarks import open_benchmark
    from .evaluate import evaluate, evaluate_baseline, evaluate_saved

    runs_model = args.predictions is None and args.baseline is None
    for flag, given in (("--grey-input", args.grey_input), ("--flip", args.flip is not None)):
        if given and not runs_model:
            raise UsageError(f"{flag} applies when the model runs (not with --predictions or --baseline)")
    if args.depth_scale is not None and args.benchmark != "folder":
        raise UsageError("--depth-scale applies to --benchmark folder only")
    kw = {} if args.depth_scale is None else {"depth_scale": args.depth_scale}
    dataset = open_benchmark(args.benchmark, args.root, **kw)
    if args.predictions is not None:
        report = evaluate_saved(dataset, args.predictions, limit=args.limit, alignment=args.align)
    elif args.baseline is not None:
        report = evaluate_baseline(dataset, args.baseline, limit=args.limit, alignment=args.align)
    else:
        from .pipeline import Pipeline

        pipe = Pipeline.from_pretrained(args.model)

        def predict(image, seed):
            if args.grey_input:
                image = image * 0 + 128
            return pipe.depth(image, steps=args.steps, seed=seed, flip=args.flip)

        report = evaluate(dataset, predict, ensemble=args.ensemble, seed=args.seed, limit=args.limit, alignment=args.align)
    print(report.table())
    if args.json:
        csv_path = report.write(args.json)
        print(f"wrote {args.json} and {csv_path}")


COMMANDS.append(add_eval_commands)
# --- end eval ---


# --- convert ---
def add_convert_command(sub):
    p = sub.add_parser("convert", help="released or diffusers FLUX.2 weights <-> mofo checkpoints (docs/pretrained.md)")
    direction = p.add_mutually_exclusive_group(required=True)
    direction.add_argument("--from", dest="source", choices=["release", "diffusers"],
                           help="read PATH in this format, write a mofo checkpoint")
    direction.add_argument("--to", dest="target", choices=["diffusers"], help="read the mofo checkpoint PATH, write this format")
    p.add_argument("path", help="file or folder to read")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--variant", choices=["v1", "v2"], help="--from release: which released model")
    p.add_argument("--config", help="JSON file of ModelConfig fields overriding the preset (release) "
                   "or the derived config (diffusers), e.g. a tiny test config or a text_encoder folder")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="dtype of the written weights")
    p.set_defaults(func=run_convert)


def run_convert(args):
    import json
    from pathlib import Path

    import torch

    from .checkpoint import load_checkpoint, save_checkpoint

    if (args.source == "release") != (args.variant is not None):
        raise UsageError("--variant v1|v2 goes with --from release (and only with it)")
    if args.target and (args.config or args.dtype != "float32"):
        raise UsageError("--config and --dtype apply to --from only")
    if args.target == "diffusers":
        from .convert import to_diffusers

        model, _ = load_checkpoint(args.path)
        print(f"wrote {to_diffusers(model, args.out)}")
        return
    overrides = json.loads(Path(args.config).read_text()) if args.config else {}
    dtype = getattr(torch, args.dtype)
    if args.source == "release":
        from .convert import load_release

        model = load_release(args.path, args.variant, overrides, dtype)
    else:
        from .convert import from_diffusers

        model, _ = from_diffusers(args.path, dtype, **overrides)
    source = {"format": args.source, "path": str(args.path), **({"variant": args.variant} if args.variant else {})}
    out = save_checkpoint(model, args.out, extra={"source": source})
    print(f"wrote {out} ({sum(p.numel() for p in model.parameters()):,} parameters, {args.dtype})")


COMMANDS.append(add_convert_command)
# --- end convert ---

# --- demo ---
def add_demo_command(sub):
    p = sub.add_parser("demo", help="web demo on localhost: text -> RGB-D, image -> depth, depth -> image")
    p.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=whole(1, 65535), default=7860)
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--out", type=output_folder, default="outputs/demo", help="parent folder of the timestamped run folders")
    p.set_defaults(func=run_demo)


def run_demo(args):
    from .pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.model, device=args.device)  # a bad path fails before any server starts
    from .app import serve  # imports gradio, which prints the URL and serves until Ctrl+C

    try:
        serve(pipe, args.out, host=args.host, port=args.port)
    except OSError as e:  # e.g. the port is taken
        raise UsageError(str(e)) from None


COMMANDS.append(add_demo_command)
# --- end demo ---

def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = lambda message, *_: print(f"mofo {args.command}: warning: {message}", file=sys.stderr)
    try:
        return args.func(args) or 0
    except (UsageError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError,
            ValueError) as e:
        print(f"mofo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mofo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
