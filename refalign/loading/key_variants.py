"""The tensor-name variants real checkpoints carry, accepted in this one place.

refalign's towers read transformers' current key names (the names `save_pretrained` writes today). Checkpoints
written by other versions or tools spell some of them differently; each rule below says how, once:

    encoder.layer.N  <->  encoder.layers.N         BERT-style vs CLIP-style layer lists
    X.vision_model.  <->  X.vision_model.vision_model.  (and text_model)   a wrapper saved around the tower
    LayerNorm.weight / .bias  <-  LayerNorm.gamma / .beta          TF-era BERT checkpoints

A checkpoint tensor is renamed only when its name is not one the architecture reads and exactly one variant of it
is; anything else stays as it is, so the strict missing / misshaped / unexpected report still sees every tensor.
Buffers that transformers recomputes (position_ids, BatchNorm's num_batches_tracked) are ignored.
"""
from __future__ import annotations

import itertools
import re

# (pattern on a name the architecture reads, replacement giving a spelling found on disk)
_RULES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"(^|\.)encoder\.layer\.(\d+)\."), r"\1encoder.layers.\2."),
    (re.compile(r"(^|\.)encoder\.layers\.(\d+)\."), r"\1encoder.layer.\2."),
    (re.compile(r"^(vision_model|text_model)\."), r"\1.\1."),
    (re.compile(r"LayerNorm\.weight$"), "LayerNorm.gamma"),
    (re.compile(r"LayerNorm\.bias$"), "LayerNorm.beta"),
)


def is_ignorable(name: str) -> bool:
    """BatchNorm's num_batches_tracked counters only matter for training; position_ids / token_type_ids buffers are
    recomputed from the inputs."""
    return name.endswith(".num_batches_tracked") or name.endswith("embeddings.position_ids") \
        or name.endswith("embeddings.token_type_ids")


def on_disk_variants(name: str) -> list[str]:
    """Every other spelling of `name` the rules allow (each applicable rule applied or not)."""
    rules = [(pat, repl) for pat, repl in _RULES if pat.search(name)]
    out = []
    for chosen in itertools.product((False, True), repeat=len(rules)):
        variant = name
        for (pat, repl), use in zip(rules, chosen):
            if use:
                variant = pat.sub(repl, variant, count=1)
        if variant != name and variant not in out:
            out.append(variant)
    return out


def canonical_names(state: dict, wanted) -> dict:
    """`state` with the tensors whose names are on-disk variants of names in `wanted` renamed to those names
    (a new dict; the arrays are not copied). Names already wanted, and ambiguous variants, are left alone."""
    wanted = set(wanted)
    present = set(state)
    rename: dict[str, str] = {}
    for name in wanted - present:
        found = [v for v in on_disk_variants(name) if v in present and v not in wanted]
        if len(found) == 1 and found[0] not in rename:
            rename[found[0]] = name
    if not rename:
        return state
    return {rename.get(k, k): v for k, v in state.items()}
