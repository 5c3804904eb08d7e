import pytest
import torch

from mofo.config import ModelConfig


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    """A model small enough for unit tests: byte text encoder, 16 px, 4 px tokens."""
    return ModelConfig(
        hidden_size=32, num_heads=2, depth_double=1, depth_single=1, depth_decoder=1,
        axes_dim=(4, 4, 4, 4), resolution=16, patch_size=4, image_channels=48,
        text_encoder="bytes", txt_dim=16, txt_len=8,
    )


def randomize(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> torch.nn.Module:
    """Give every parameter random values (zero-initialised layers would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std + (1.0 if p.dim() == 1 and p.numel() > 1 else 0.0))
    return model
