"""Caption conditioning: umT5-XXL encoder (transformers) and an on-disk cache of caption embeddings.

The official pipeline encodes the caption with the umT5-XXL encoder (``google/umt5-xxl`` tokenizer,
``seq_len = 512``) and keeps only the rows of real tokens; the DiT zero-pads them back to 512 rows and
attends to all 512 (no mask). The encoder (~5.7 B parameters, ~11 GB bf16) is needed once per caption, so
embeddings are cached in safetensors files and the encoder stays optional.

Cache file: ``<dir>/<sha256(caption)[:16]>.safetensors`` holding ``prompt_embeds`` [n_tokens, text_dim]
(real tokens only) and the caption in the metadata.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

TEXT_LEN = 512


@torch.no_grad()
def encode_tokens(encoder: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """Run a transformers ``UMT5EncoderModel`` and keep each caption's real-token rows.

    Args:
        encoder: callable ``encoder(input_ids=..., attention_mask=...)`` returning ``last_hidden_state``.
        input_ids, attention_mask: [B, L] token ids and 0/1 mask.

    Returns:
        B tensors [n_tokens_b, text_dim].
    """
    hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    lengths = attention_mask.gt(0).sum(dim=1).tolist()
    return [h[:n] for h, n in zip(hidden, lengths)]


def load_umt5(path: str | os.PathLike[str], dtype: torch.dtype = torch.bfloat16, device: str = "cpu"):
    """(tokenizer, encoder) from a transformers folder (e.g. ``Wan2.1-T2V-1.3B-Diffusers/{tokenizer,text_encoder}``).

    ``path`` may be the diffusers root (with ``tokenizer/`` and ``text_encoder/``) or an encoder folder that
    also holds the tokenizer files.
    """
    from transformers import AutoTokenizer, UMT5EncoderModel  # lazy: optional heavy model library

    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"umT5 encoder not found at {root.resolve()} (generator.text_encoder=...)")
    enc_dir = root / "text_encoder" if (root / "text_encoder").is_dir() else root
    tok_dir = root / "tokenizer" if (root / "tokenizer").is_dir() else root
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    encoder = UMT5EncoderModel.from_pretrained(str(enc_dir), torch_dtype=dtype).to(device).eval()
    return tokenizer, encoder


def encode_captions(
    captions: list[str], tokenizer: Any, encoder: Any, text_len: int = TEXT_LEN
) -> list[torch.Tensor]:
    """Tokenise (padded / truncated to ``text_len``, with EOS) and encode captions -> [n_tokens, text_dim] each."""
    tok = tokenizer(
        captions,
        padding="max_length",
        truncation=True,
        max_length=text_len,
        add_special_tokens=True,
        return_tensors="pt",
    )
    device = next(encoder.parameters()).device
    return encode_tokens(encoder, tok.input_ids.to(device), tok.attention_mask.to(device))


def caption_key(caption: str) -> str:
    return hashlib.sha256(caption.encode("utf-8")).hexdigest()[:16]


def save_caption_embedding(path: str | os.PathLike[str], caption: str, embeds: torch.Tensor) -> None:
    """Write one caption's real-token embeddings [n_tokens, text_dim]."""
    if embeds.ndim != 2:
        raise ValueError(f"caption embedding must be [n_tokens, text_dim], got {tuple(embeds.shape)}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({"prompt_embeds": embeds.detach().contiguous().cpu()}, str(path), metadata={"caption": caption})


def load_caption_embedding(path: str | os.PathLike[str], caption: str | None = None) -> torch.Tensor:
    """Read a cached embedding [n_tokens, text_dim]; if ``caption`` is given it must match the stored one."""
    with safe_open(str(path), framework="pt") as f:
        stored = (f.metadata() or {}).get("caption")
        if "prompt_embeds" not in f.keys():
            raise ValueError(f"{path}: no 'prompt_embeds' tensor (found {list(f.keys())})")
        emb = f.get_tensor("prompt_embeds")
    if caption is not None and stored != caption:
        raise ValueError(f"{path}: stores the embedding of {stored!r}, not of {caption!r}")
    return emb


class CaptionEmbeddingCache:
    """Caption -> embedding, read from ``directory`` or computed with an optional encoder and saved there.

    Args:
        directory: cache folder.
        encoder_path: transformers umT5 folder, loaded lazily only when a caption is missing.
        device, dtype: for the encoder.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        encoder_path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        dtype: torch.dtype = torch.bfloat16,
    ) -> None:
        self.directory = Path(directory).expanduser()
        self.encoder_path = encoder_path
        self.device, self.dtype = device, dtype
        self._encoder: tuple[Any, Any] | None = None

    def path(self, caption: str) -> Path:
        return self.directory / f"{caption_key(caption)}.safetensors"

    def get(self, caption: str) -> torch.Tensor:
        """[n_tokens, text_dim] embedding of ``caption``.

        Raises:
            FileNotFoundError: when it is not cached and no encoder is configured (names the file).
        """
        file = self.path(caption)
        if file.is_file():
            return load_caption_embedding(file, caption)
        if self.encoder_path is None:
            raise FileNotFoundError(
                f"no cached embedding for caption {caption!r}: expected {file.resolve()}. Set "
                "generator.text_encoder=<umT5 folder> to compute it once, or generator.caption=null to run "
                "without text (an all-padding context; not the official empty-prompt embedding)."
            )
        if self._encoder is None:
            self._encoder = load_umt5(self.encoder_path, self.dtype, self.device)
        emb = encode_captions([caption], *self._encoder)[0]
        save_caption_embedding(file, caption, emb)
        return emb

    def release_encoder(self) -> None:
        """Free the text encoder (it is needed once per caption)."""
        self._encoder = None
