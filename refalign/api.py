"""One-call helpers: similarity, zero-shot classification and batch embedding, with models cached per process."""
from __future__ import annotations

import os
import sys
import threading

import numpy as np
from numpy.typing import NDArray

from .auto import AutoModel, AutoProcessor
from .errors import NonFiniteError
from .loading.checkpoint import compute_dtype
from .loading.hub import resolve_weights
from .models.base import DualEncoderModel
from .models.contrastive import l2_normalize
from .ops import softmax

DEFAULT_TEMPLATE = "This is a photo of {}."   # transformers' zero-shot pipeline template

_cache: dict[tuple[str, str], tuple] = {}
_cache_lock = threading.Lock()


def load(model=None, dtype=np.float32) -> tuple:
    """(model, processor) for a refalign model (AlignModel, ...), a path, "tiny", "org/name" or None (the default
    weights: REFALIGN_WEIGHTS, then weights/align-base in a source checkout, then the Hugging Face cache). The family
    comes from config.json's model_type (refalign.auto). Loaded once per process."""
    if isinstance(model, DualEncoderModel):
        if model.source is None:
            raise ValueError(f"this {type(model).__name__} was not loaded from a checkpoint directory, so there is no "
                             "processor settings file to go with it; pass a path instead")
        key = (os.path.realpath(model.source), str(model.dtype))
        with _cache_lock:
            if key not in _cache or _cache[key][0] is not model:
                _cache[key] = (model, AutoProcessor.from_pretrained(model.source))
            return _cache[key]
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a refalign model (e.g. AlignModel), a path, 'tiny' or a hub name, got "
                        f"{type(model).__name__}")
    dt = compute_dtype(dtype)
    path = resolve_weights(model)
    key = (os.path.realpath(path), str(dt))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = (AutoModel.from_pretrained(path, dtype=dt), AutoProcessor.from_pretrained(path))
        return _cache[key]


def _check_texts(texts, name: str = "texts") -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"{name} must be a string or a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError(f"{name} is empty: give at least one text")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a string, got {type(t).__name__}")
    return list(texts)


def _text_inputs(inputs: dict) -> dict:
    """The processor's text arrays (input_ids, attention_mask, and token_type_ids where the family has them)."""
    return {k: v for k, v in inputs.items() if k != "pixel_values"}


def require_finite(model: DualEncoderModel, what: str, values: NDArray) -> NDArray:
    """`values` unchanged when finite; else a NonFiniteError naming the model's non-finite weights (if any), so NaN
    never reaches a user as a score."""
    if np.isfinite(values).all():
        return values
    from .validate import find_nonfinite
    bad = find_nonfinite(model.params)
    why = ("non-finite weights: " + ", ".join(bad)) if bad else \
        "every weight is finite, so an input or an overflow in the computation produced them"
    raise NonFiniteError(f"{model.source}: the model's {what} hold NaN or inf ({why}); "
                         f"`refalign info {model.source}` checks the whole checkpoint")


def similarity_scores(images, texts, model=None, dtype=np.float32, low_memory: bool = False) -> dict[str, NDArray]:
    """Every score of images x texts, each [n_images, n_texts]: "cosine" (of the L2-normalised embeddings), "logits"
    (logits_per_image: the cosine divided by the temperature) and "probabilities" (softmax over the texts).
    low_memory: drop each tower's memory-mapped weights from the resident set once it has run, so the process peaks
    at the larger tower instead of both (the CLI's one-shot commands do; a later call reads them back from the OS
    page cache: for ViT-L/14's 1.2 GB, within the run-to-run noise of its forward)."""
    texts = _check_texts(texts)
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    if not images:
        raise ValueError("images is empty: give at least one image")
    m, proc = load(model, dtype)
    inputs = proc(text=texts, images=images, dtype=m.dtype, padding=proc.batch_padding)
    # the forward pass's logits, from the two feature calls (which skip the captions' padding columns)
    text_feats = m.get_text_features(**_text_inputs(inputs))
    if low_memory:
        m.release_weight_pages("text")
    image_feats = m.get_image_features(inputs["pixel_values"])
    if low_memory:
        m.release_weight_pages("vision")
    text_embeds = l2_normalize(require_finite(m, "text embeddings", text_feats))
    image_embeds = l2_normalize(require_finite(m, "image embeddings", image_feats))
    logits = require_finite(m, "logits", m.logits(text_embeds, image_embeds).T)   # [n_images, n_texts]
    return {"cosine": image_embeds @ text_embeds.T, "logits": logits, "probabilities": softmax(logits, axis=-1)}


def similarity(image, texts, model=None, dtype=np.float32, low_memory: bool = False) -> NDArray:
    """Probabilities over `texts` for one image (softmax of logits_per_image) -> [n_texts].
    A list of images gives [n_images, n_texts]. `image`: path, bytes, binary file, PIL image or HWC uint8 array;
    loaded upright (EXIF) and as RGB, like transformers' pipelines. `similarity_scores` also gives the cosines and
    logits; low_memory: see similarity_scores."""
    probs = similarity_scores(image, texts, model=model, dtype=dtype, low_memory=low_memory)["probabilities"]
    return probs if isinstance(image, (list, tuple)) else probs[0]


def classify(images, labels, template: str = DEFAULT_TEMPLATE, model=None, dtype=np.float32, low_memory: bool = False):
    """Zero-shot classification like transformers' pipeline: each label is put into `template`, and the result is
    [{"label", "score"}] sorted by score (a list of such lists for a list of images); low_memory: see
    similarity_scores."""
    labels = _check_texts(labels, "labels")
    if not isinstance(template, str) or "{}" not in template:
        raise ValueError(f"template must be a string containing '{{}}', got {template!r}")
    many = isinstance(images, (list, tuple))
    probs = similarity(list(images) if many else images, [template.format(label) for label in labels],
                       model=model, dtype=dtype, low_memory=low_memory)
    rows = probs if many else probs[None]
    ranked = [sorted(({"label": label, "score": float(p)} for label, p in zip(labels, row)),
                     key=lambda r: -r["score"]) for row in rows]
    return ranked if many else ranked[0]


def _progress(total: int, desc: str, progress):
    from tqdm.auto import tqdm
    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, unit="item", disable=not show)


def _batches(items, batch_size: int):
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    for start in range(0, len(items), batch_size):
        yield items[start:start + batch_size]


def embed_images(items, batch_size: int = 8, model=None, dtype=np.float32, normalize: bool = True,
                 progress=None) -> NDArray:
    """Image embeddings [N, projection_dim] for many images, `batch_size` at a time (L2-normalised unless
    normalize=False, which gives get_image_features' raw vectors). Shows a progress bar on a terminal."""
    if not isinstance(items, (list, tuple)):
        items = [items]
    if len(items) == 0:
        raise ValueError("items is empty: give at least one image")
    m, proc = load(model, dtype)
    out = []
    with _progress(len(items), "images", progress) as bar:
        for chunk in _batches(list(items), batch_size):
            feats = m.get_image_features(proc(images=chunk, dtype=m.dtype)["pixel_values"])
            out.append(require_finite(m, "image embeddings", feats))
            bar.update(len(chunk))
    feats = np.concatenate(out)
    return l2_normalize(feats) if normalize else feats


def embed_texts(texts, batch_size: int = 32, model=None, dtype=np.float32, normalize: bool = True,
                progress=None) -> NDArray:
    """Text embeddings [N, projection_dim], `batch_size` texts at a time (L2-normalised unless normalize=False)."""
    texts = _check_texts(texts)
    m, proc = load(model, dtype)
    out = []
    with _progress(len(texts), "texts", progress) as bar:
        for chunk in _batches(texts, batch_size):
            enc = proc(text=chunk, padding=proc.batch_padding)
            feats = m.get_text_features(**_text_inputs(enc))
            out.append(require_finite(m, "text embeddings", feats))
            bar.update(len(chunk))
    feats = np.concatenate(out)
    return l2_normalize(feats) if normalize else feats
