"""AlignModel: both towers, the projection and the temperature-scaled cosine similarity, shaped like transformers'.

    model = AlignModel.from_pretrained("tiny")                       # or a directory, "kakaobrain/align-base"
    out = model(input_ids=ids, attention_mask=mask, pixel_values=px)
    out.logits_per_image                                              # [n_images, n_texts]

Everything is NumPy; the compute dtype is float32 by default and float64 on request (dtype=np.float64), in which
case every weight and every activation is float64 (refalign's oracle mode).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .checkpoint import compute_dtype  # noqa: F401  (re-exported: one definition of the compute dtypes)
from .config import AlignConfig
from .ops import linear, log_softmax
from .outputs import ModelOutput
from .text_model import TextOutput, text_forward
from .vision_model import VisionOutput, vision_forward


@dataclass(repr=False)
class AlignOutput(ModelOutput):
    """Mirrors transformers' AlignOutput field for field (NumPy arrays instead of tensors). Fields that are not None
    can also be read as `out["logits_per_image"]`, `out[0]`, `out.to_tuple()`, `out.keys()` / `items()`."""
    loss: NDArray | None = None
    logits_per_image: NDArray | None = None   # [n_images, n_texts]
    logits_per_text: NDArray | None = None    # [n_texts, n_images]
    text_embeds: NDArray | None = None        # [n_texts, projection_dim], L2-normalised
    image_embeds: NDArray | None = None       # [n_images, projection_dim], L2-normalised
    text_model_output: TextOutput | None = None
    vision_model_output: VisionOutput | None = None


def l2_normalize(x: NDArray) -> NDArray:
    """Rows divided by their Euclidean norm (transformers does no epsilon clamp either)."""
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))


def cross_entropy_smoothed(logits: NDArray, smoothing: float) -> NDArray:
    """Mean cross entropy of each row i against target class i, with label smoothing as torch defines it:
    (1 - s) * (-log p[i, i]) + s * mean_j(-log p[i, j])."""
    n = logits.shape[0]
    logp = log_softmax(logits, axis=-1)                       # [n, C]
    nll = -logp[np.arange(n), np.arange(n)]                   # [n]
    uniform = -logp.mean(axis=-1)                             # [n]
    s = logits.dtype.type(smoothing)
    return ((1 - s) * nll + s * uniform).mean()


def align_loss(logits_per_text: NDArray) -> NDArray:
    """ALIGN's symmetric contrastive loss: the average of the text->image and image->text cross entropies, each with
    label smoothing 0.1; the i-th text matches the i-th image, so the logits must be square."""
    n_text, n_image = logits_per_text.shape
    if n_text != n_image:
        raise ValueError(f"return_loss needs as many texts as images (pairs i<->i), got {n_text} texts and "
                         f"{n_image} images")
    two = logits_per_text.dtype.type(2)
    return (cross_entropy_smoothed(logits_per_text, 0.1) + cross_entropy_smoothed(logits_per_text.T, 0.1)) / two


class AlignModel:
    """ALIGN dual encoder on NumPy, used like transformers' AlignModel:

        model = AlignModel.from_pretrained("kakaobrain/align-base")    # or a folder, "tiny"; dtype=np.float64
        out = model(**AlignProcessor.from_pretrained(...)(text=texts, images=images))
        out.logits_per_image, model.get_text_features(...), model.get_image_features(...)

    `params` holds the checkpoint's tensors under transformers' key names; `dtype` is the compute dtype (float32,
    or float64: refalign's oracle mode)."""

    def __init__(self, config: AlignConfig, params: dict[str, NDArray], dtype=np.float32, source: str | None = None):
        self.config = config
        self.dtype = compute_dtype(dtype)
        self.params = params
        self.source = source
        for name, value in params.items():
            if value.dtype.kind == "f" and value.dtype != self.dtype:
                raise ValueError(f"weight {name} is {value.dtype}, but the model computes in {self.dtype}")
        self.temperature = params["temperature"]
        # A per-model lock: each forward already uses all of refalign's threads (refalign.parallel), so forwards
        # of one model from several Python threads take turns instead of oversubscribing the cores.
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, name_or_path=None, dtype=np.float32) -> "AlignModel":
        """Load from a directory or file, "tiny" (bundled random-weight checkpoint), "kakaobrain/align-base"
        (offline, from the Hugging Face cache) or None (REFALIGN_WEIGHTS, weights/align-base, HF cache)."""
        from .checkpoint import load_checkpoint
        from .hub import resolve_weights
        dt = compute_dtype(dtype)
        path = resolve_weights(name_or_path)
        config, params = load_checkpoint(path, dtype=dt)
        return cls(config, params, dtype=dt, source=str(path))

    def __repr__(self) -> str:
        t, v = self.config.text_config, self.config.vision_config
        return (f"AlignModel(source={self.source!r}, dtype={self.dtype}, text={t.num_hidden_layers}x{t.hidden_size}, "
                f"vision={v.num_hidden_layers} blocks @ {v.image_size}px, projection_dim={self.config.projection_dim})")

    # ----------------------------------------------------------------- inputs
    def _ids(self, name: str, value, like=None) -> NDArray | None:
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.dtype.kind not in "iub":
            raise ValueError(f"{name} must be a 2-D integer array [batch, seq_len], got shape {arr.shape} "
                             f"dtype {arr.dtype}")
        if like is not None and arr.shape != like.shape:
            raise ValueError(f"{name} has shape {arr.shape} but input_ids has shape {like.shape}")
        return arr.astype(np.int64, copy=False)

    def _pixels(self, pixel_values) -> NDArray:
        arr = np.asarray(pixel_values)
        if arr.dtype.kind != "f":
            raise ValueError(f"pixel_values must be floating point (use AlignProcessor), got dtype {arr.dtype}")
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise ValueError(f"pixel_values must be 4-D [batch, channels, height, width], got shape {arr.shape}")
        return arr.astype(self.dtype, copy=False)

    # ----------------------------------------------------------------- towers
    def text_model(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                   output_attentions=False) -> TextOutput:
        ids = self._ids("input_ids", input_ids)
        if ids is None:
            raise ValueError("input_ids is required")
        mask = self._ids("attention_mask", attention_mask, like=ids)
        types = self._ids("token_type_ids", token_type_ids, like=ids)
        with self._lock:
            return text_forward(self.params, self.config.text_config, ids, attention_mask=mask,
                                token_type_ids=types, output_hidden_states=output_hidden_states,
                                output_attentions=output_attentions)

    def vision_model(self, pixel_values, output_hidden_states=False) -> VisionOutput:
        with self._lock:
            return vision_forward(self.params, self.config.vision_config, self._pixels(pixel_values),
                                  output_hidden_states=output_hidden_states)

    def _project_text(self, last_hidden_state: NDArray) -> NDArray:
        # ALIGN embeds a text as the projection of its [CLS] row, not BERT's tanh pooler output.
        return linear(last_hidden_state[:, 0, :], self.params["text_projection.weight"],
                      self.params["text_projection.bias"])  # [B, hidden] -> [B, projection_dim]

    def get_text_features(self, input_ids, attention_mask=None, token_type_ids=None) -> NDArray:
        """Unnormalised text embeddings [B, projection_dim], as transformers' get_text_features.

        Trailing columns that are padding in every row are dropped first: no real token attends to a masked key (its
        softmax weight is exactly 0) and the feed-forward acts on each position alone, so the [CLS] row is the same
        (up to BLAS rounding) for a fraction of the work -- AlignProcessor pads every caption to 64 tokens."""
        ids = self._ids("input_ids", input_ids)
        if ids is None:
            raise ValueError("input_ids is required")
        mask = self._ids("attention_mask", attention_mask, like=ids)
        types = self._ids("token_type_ids", token_type_ids, like=ids)
        if mask is not None:
            used = np.flatnonzero(mask.any(axis=0))
            length = int(used[-1]) + 1 if used.size else ids.shape[1]
            ids, mask = ids[:, :length], mask[:, :length]
            types = None if types is None else types[:, :length]
        out = self.text_model(ids, attention_mask=mask, token_type_ids=types)
        return self._project_text(out.last_hidden_state)

    def get_image_features(self, pixel_values) -> NDArray:
        """Unnormalised image embeddings [B, projection_dim] (the pooled last feature map; ALIGN has no image
        projection layer)."""
        return self.vision_model(pixel_values).pooler_output

    def logits(self, text_embeds: NDArray, image_embeds: NDArray) -> NDArray:
        """logits_per_text [n_texts, n_images] from L2-normalised embeddings: the cosine similarity divided by the
        learned temperature (a plain scalar, not the exp of a logit scale)."""
        return (text_embeds @ image_embeds.T) / self.temperature

    # ----------------------------------------------------------------- forward
    def __call__(self, input_ids=None, pixel_values=None, attention_mask=None, token_type_ids=None,
                 return_loss: bool = False, output_hidden_states: bool = False,
                 output_attentions: bool = False, return_dict: bool = True) -> AlignOutput | tuple:
        """The forward pass of transformers' AlignModel: both towers, L2-normalised embeddings and the logits.

        input_ids / attention_mask / token_type_ids: int [n_texts, L]; pixel_values: float [n_images, 3, H, W] --
        what AlignProcessor returns, so `model(**processor(text=..., images=...))` works.
        return_loss: ALIGN's symmetric contrastive loss (label smoothing 0.1; needs n_texts == n_images).
        output_hidden_states / output_attentions: keep every layer's output (and the text attention probabilities).
        return_dict=False gives `out.to_tuple()` instead, as in transformers.
        Returns AlignOutput(loss, logits_per_image [n_images, n_texts], logits_per_text, text_embeds, image_embeds,
        text_model_output, vision_model_output).
        """
        if input_ids is None or pixel_values is None:
            raise ValueError("AlignModel(...) needs both input_ids and pixel_values; use get_text_features / "
                             "get_image_features for one tower")
        vision_out = self.vision_model(pixel_values, output_hidden_states=output_hidden_states)
        text_out = self.text_model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        image_embeds = l2_normalize(vision_out.pooler_output)                   # [n_images, D]
        text_embeds = l2_normalize(self._project_text(text_out.last_hidden_state))  # [n_texts, D]
        logits_per_text = self.logits(text_embeds, image_embeds)                # [n_texts, n_images]
        logits_per_image = logits_per_text.T                                    # [n_images, n_texts]
        loss = align_loss(logits_per_text) if return_loss else None
        out = AlignOutput(loss=loss, logits_per_image=logits_per_image, logits_per_text=logits_per_text,
                          text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text_out,
                          vision_model_output=vision_out)
        return out if return_dict else out.to_tuple()

    forward = __call__
