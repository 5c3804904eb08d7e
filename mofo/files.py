"""Files on disk: written atomically (readers never see half a file or half a folder), which
suffixes are images, and opening an image under a size limit. Imports nothing of mofo; every
layer may use it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

# Image files we read (PIL decodes them all); folder scans keep these suffixes.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MAX_PIXELS = 40_000_000  # refuse larger inputs (e.g. 8k x 5k) rather than exhausting memory


def is_depth_file(path: Path) -> bool:
    """Depth maps that sit beside images: `*_depth.png`, `.pgm` (NYU raw), `.npy`."""
    return path.stem.endswith("_depth") or path.suffix.lower() in (".pgm", ".npy")


def is_image_file(path: Path) -> bool:
    """What a folder scan reads as an image: an image suffix, and not a depth map beside one."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not is_depth_file(path)


def open_image(path: str | Path):
    """The decoded PIL image at `path`; one-line FileNotFoundError / ValueError for a missing file,
    a non-image, a broken file, or one above MAX_PIXELS (our limit, not PIL's bomb warning)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    too_big = f"above the limit of {MAX_PIXELS:,} pixels (40 megapixels)"
    try:
        with warnings.catch_warnings():  # our own limit below, not PIL's decompression-bomb warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        try:
            if img.width * img.height > MAX_PIXELS:
                raise ValueError(f"{path} is {img.width}x{img.height}, {too_big}")
            img.load()
        except BaseException:
            img.close()  # PIL holds the file open until the pixels are read
            raise
    except UnidentifiedImageError:
        raise ValueError(f"{path} is not an image") from None
    except Image.DecompressionBombError:
        raise ValueError(f"{path} is {too_big}") from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{path} could not be decoded ({e})") from None
    return img


def atomic_write(path: str | Path, write) -> None:
    """Call `write(tmp_path)`, then move the result onto `path` (readers never see half a file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        # mkstemp makes 0600 (and safetensors' save_file makes a new 0600 file): the usual permissions
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: str | Path, data: dict, **kw) -> None:
    write_text(path, json.dumps(data, indent=2, **kw) + "\n")


def save_image(image, path: str | Path, format: str = "PNG") -> None:
    """A PIL image (or a uint8 array) to `path`, atomically."""
    from PIL import Image

    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    atomic_write(path, lambda tmp: image.save(tmp, format=format))


@contextmanager
def atomic_folder(final: str | Path, tmp: str | Path | None = None):
    """Yield a fresh temporary folder; on success it replaces `final` (a folder appears complete
    or not at all). `tmp` defaults to `final` + ".tmp"; it is removed on failure."""
    final = Path(final)
    tmp = Path(tmp) if tmp is not None else final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
