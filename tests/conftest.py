import struct
import warnings
import zlib

import pytest
import torch

from mofo.config import ModelConfig

# The one tiny model of the unit tests: byte text encoder, 16 px, 4 px tokens.
TINY = ModelConfig(
    hidden_size=32, num_heads=2, n_double=1, n_single=1, n_depth_decoder=1,
    axes_dim=(4, 4, 4, 4), resolution=16, patch_size=4, image_channels=48,
    text_encoder="bytes", txt_dim=16, txt_len=8,
)


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    """A model small enough for unit tests (`TINY`)."""
    return TINY


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """A checkpoint folder of a random `TINY` model (sampling: 3 steps), shared by the tests that load one."""
    from mofo.checkpoint import save_checkpoint
    from mofo.model import ModalityDiT

    path = tmp_path_factory.mktemp("ckpt") / "model"
    save_checkpoint(randomize(ModalityDiT(TINY), std=0.05), path, extra={"sampling": {"steps": 3}})
    return path


def randomize(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> torch.nn.Module:
    """Give every parameter random values (zero-initialised layers would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std + (1.0 if p.dim() == 1 and p.numel() > 1 else 0.0))
    return model


def camera_points(out: dict, b: int):
    """Valid pixels of render b back-projected through its pinhole intrinsics (pixel centres):
    (z (n,), camera-frame points (n, 3): x right, y down, z forward), float64 numpy."""
    import numpy as np

    k = out["intrinsics"][b].double().numpy()
    v, u = np.nonzero(out["valid"][b, 0].numpy())
    z = out["depth"][b, 0].double().numpy()[v, u]
    return z, np.stack([(u + 0.5 - k[0, 2]) / k[0, 0] * z, (v + 0.5 - k[1, 2]) / k[1, 1] * z, z], 1)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixel data (enough for PIL to read the size)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def assert_refuses_huge(read):
    """`read()` of a `png_header(10_000, 10_000)` file raises our one-line 40 MP error, and PIL's
    DecompressionBombWarning (PIL warns above 89 MP) is not shown."""
    from PIL import Image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="above the limit of 40,000,000 pixels"):
            read()
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
