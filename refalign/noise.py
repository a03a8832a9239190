"""How far an honest float32 computation lands from a float64 golden, tensor by tensor: the golden's noise figures.

A float32 port of a model is never exact: every product and sum rounds, and the rounding grows through the layers.
A flat tolerance cannot tell that drift from a bug (a 3e-5 slip in a mid-tower state hides under a flat 1e-4, while
1e-6 at layer 40 may be all noise). So when refalign writes a float64 golden it also runs its own float32 path on the
golden's own inputs (same weights, same token ids, the same float32 pixel values) and records, per tensor,

    noise = max |float32 - float64|          scale = max |float64 golden|

in the golden's metadata ("noise"). A float32 candidate is then allowed `NOISE_MULTIPLE x noise` per element
(atol; rtol 0), floored at `NOISE_FLOOR x scale` for tensors whose float32 rounding happens to be tiny. The multiple
is chosen from data (the full-size test checkpoint of every family, test_noise_calibrated_golden_catches_a_small_shift
in each family's test module): transformers' float32 outputs sit at most 4.0x refalign's float32 noise (CLIP
ViT-B/32 + RoBERTa-base; 1.7-1.9x elsewhere), and a relative 3e-5 shift of a mid-tower hidden state is at least 28x
it (AltCLIP's XLM-R-large); 10x leaves a margin of ~2.5x on both sides.

Only refalign's summation order is measured (its float32 path is deterministic for a given machine and thread
count); another implementation's order differs, which is what the multiple absorbs.
"""
from __future__ import annotations

import json
import math

import numpy as np

NOISE_MULTIPLE = 10.0    # a float32 candidate may deviate this many times refalign's own float32 noise ...
NOISE_FLOOR = 2.0 ** -23  # ... and at least float32's epsilon times the tensor's scale
NOISE_METHOD = ("refalign's float32 forward on the golden's own inputs (same weights, token ids and float32 pixel "
                "values): per tensor [max |float32 - float64|, max |float64|] (for the loss, max |logits| when "
                "larger)")


def measure_float32_noise(model_source, golden: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """{tensor name: [max |float32 - golden|, max |golden|]} for every float tensor of a float64 golden that is not
    an input, from refalign's float32 forward on the golden's inputs. model_source: what AutoModel loads (the
    golden's weights)."""
    from .auto import AutoModel
    model = AutoModel.from_pretrained(model_source, dtype=np.float32)
    plan = model.golden
    inputs = {name.split(".", 1)[1]: golden[name] for name in plan.inputs}
    pixels = inputs["pixel_values"]
    inputs["pixel_values"] = pixels.astype(np.float32)
    if not np.array_equal(inputs["pixel_values"].astype(pixels.dtype), pixels):
        raise ValueError("the golden's pixel values are not float32 values; its noise cannot be measured")
    out = model(**inputs, return_loss="loss" in golden, output_hidden_states=True)
    text_inputs = {k: v for k, v in inputs.items() if k != "pixel_values"}
    feats = model.get_text_features(**text_inputs)
    ours = model.golden_tensors(out, getattr(feats, "pooler_output", feats), inputs, np.dtype(np.float32))
    noise = {}
    for name, g in golden.items():
        if g.dtype.kind != "f" or name in plan.inputs or name not in ours:
            continue
        g64 = g.astype(np.float64)
        noise[name] = [float(np.max(np.abs(ours[name].astype(np.float64) - g64))) if g.size else 0.0,
                       float(np.max(np.abs(g64))) if g.size else 0.0]
    if "loss" in noise and "logits_per_text" in golden:
        # a cross-entropy's float32 rounding grows with its logits, not with the loss, which a confident model
        # brings near 0: its floor's scale is the logits' (log-sum-exp of values ~L carries ~eps * L)
        noise["loss"][1] = max(noise["loss"][1], float(np.max(np.abs(golden["logits_per_text"]))))
    return noise


def noise_budget(noise_abs: float, scale: float, multiple: float = NOISE_MULTIPLE) -> float:
    """The absolute tolerance a float32 candidate gets for a tensor with these noise figures."""
    return multiple * max(noise_abs, NOISE_FLOOR * scale)


def noise_tolerances(noise: dict[str, list[float]], multiple: float = NOISE_MULTIPLE) -> dict[str, list[float]]:
    """{name: [atol, rtol]} for a float32 candidate: the noise budget as atol, rtol 0."""
    return {name: [noise_budget(n, s, multiple), 0.0] for name, (n, s) in noise.items()}


def noise_metadata(noise: dict[str, list[float]], multiple: float = NOISE_MULTIPLE) -> dict:
    """The golden's "noise" metadata entry."""
    return {"float32": noise, "multiple": multiple, "floor": NOISE_FLOOR, "method": NOISE_METHOD}


def read_noise(meta: dict) -> dict[str, list[float]]:
    """The float32 noise figures of a golden's metadata ({} for goldens written without them)."""
    raw = meta.get("noise")
    if not raw:
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        table = data["float32"]
        return {str(k): [float(v[0]), float(v[1])] for k, v in table.items()}
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise ValueError(f"metadata 'noise' is not a noise table ({e})") from None


def times_noise(max_abs: float, noise_abs: float, scale: float) -> float:
    """An error as a multiple of the float32 noise (floored like the budget); nan without a figure."""
    if math.isnan(max_abs) or math.isnan(noise_abs):
        return math.nan
    floor = max(noise_abs, NOISE_FLOOR * scale)
    return max_abs / floor if floor > 0 else (0.0 if max_abs == 0 else math.inf)
