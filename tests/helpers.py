"""Small helpers shared by the model-level tests."""
from __future__ import annotations

import os

import numpy as np


def rel_err(a, b) -> float:
    """max |a - b| / max |b| over the whole tensor (0 when both are all zero)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    scale = np.max(np.abs(b)) if b.size else 0.0
    diff = np.max(np.abs(a - b)) if b.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def to_numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def set_text_attention(model, impl: str) -> None:
    """Select transformers' attention implementation ("eager" or "sdpa") for an AlignModel's text tower.

    sdpa needs one repair: when no token is padded transformers passes no mask to sdpa, which then reads the module's
    `is_causal`; AlignTextSelfAttention has none and the default is causal. BERT attention is bidirectional.
    """
    model.text_model.config._attn_implementation = impl
    model.config.text_config._attn_implementation = impl
    for module in model.text_model.modules():
        if type(module).__name__ == "AlignTextSelfAttention":
            module.is_causal = False


def transformers_align(torch, path, dtype: str):
    """transformers' AlignModel from a checkpoint, in eval mode, in float32 or float64.

    In float64 the text tower is switched to the "sdpa" attention path: transformers' default eager attention computes
    its softmax in float32 even when the model runs in float64 (softmax(..., dtype=float32)), which caps agreement at
    ~1e-8. sdpa evaluates the same formula (QK^T/sqrt(d) + mask, softmax, times V) entirely in float64, so it is the
    float64 reference. In float32 the default eager path is kept.
    """
    from transformers import AlignModel as TAlignModel
    model = TAlignModel.from_pretrained(path).eval()
    if dtype == "float64":
        model = model.double()
        set_text_attention(model, "sdpa")
    return model


def noise_calibrated_check(model_dir: str, inputs: dict, transformers_f32_tensors, shift: tuple[str, ...]) -> dict:
    """The porter's check of refalign's noise-calibrated goldens (refalign.noise) on one checkpoint:

    1. a float64 golden of refalign's forward on `inputs` (token ids, mask, float32-valued pixels), with its float32
       noise figures measured as `refalign golden` does;
    2. transformers' float32 outputs under the golden names (`transformers_f32_tensors(inputs)`) must pass with the
       default budgets;
    3. each tensor named in `shift` (mid-tower hidden states), multiplied by (1 + 3e-5), must fail and be named first.
    Returns {"worst_times_noise": ..., "worst_share": ...} of step 2 (the calibration data of NOISE_MULTIPLE)."""
    import json
    import math

    import refalign
    from refalign.golden import compare
    from refalign.noise import measure_float32_noise, noise_metadata, times_noise

    model = refalign.AutoModel.from_pretrained(model_dir, dtype=np.float64)
    run = {k: (v.astype(np.float64) if k == "pixel_values" else v) for k, v in inputs.items()}
    out = model(**run, return_loss=True, output_hidden_states=True)
    feats = model.get_text_features(**{k: v for k, v in run.items() if k != "pixel_values"})
    golden = model.golden_tensors(out, getattr(feats, "pooler_output", feats), run, np.dtype(np.float64))
    del model, out
    noise = measure_float32_noise(model_dir, golden)
    meta = {"model_type": refalign.AutoConfig.from_pretrained(model_dir).model_type, "dtype": "float64",
            "noise": json.dumps(noise_metadata(noise))}
    dump = {k: np.asarray(v) for k, v in transformers_f32_tensors(inputs).items()}
    result = compare((golden, meta), dump)
    assert result.ok, result.format()
    values = [r for r in result.reports if not math.isnan(r.noise)]
    assert {r.name for r in values} == {k for k, v in golden.items() if v.dtype.kind == "f" and
                                        not k.startswith("inputs.")}                # every output has its figure
    for name in shift:
        bad = dict(dump)
        bad[name] = (bad[name].astype(np.float64) * (1 + 3e-5)).astype(np.float32)
        shifted = compare((golden, meta), bad)
        assert not shifted.ok and shifted.first_failure == name, (name, shifted.format())
    by_name = {r.name: r for r in values}
    return {"worst_times_noise": max(r.times_noise for r in values),
            "worst_share": max(r.budget_used for r in values),
            "worst_tensor": max(values, key=lambda r: r.times_noise).name,
            # how many times the noise a relative 3e-5 shift of each shifted tensor is (what the multiple must stay
            # below to catch it)
            "shift_times_noise": {n: times_noise(3e-5 * by_name[n].scale, by_name[n].noise, by_name[n].scale)
                                  for n in shift}}


GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def check_projected_golden(name: str, dtype: str, model_type: str, n_tensors: int) -> None:
    """refalign on a bundled tiny CLIP-style checkpoint ("tiny-altclip", "tiny-vtde"), fed its committed golden's own
    inputs, against transformers' intermediates (tools/make_goldens.py) at the golden's suggested tolerances. No
    torch: this is what a machine without it checks."""
    import refalign
    from refalign.golden import compare, read_golden
    from refalign.models.projected import tensors_from_outputs
    golden, meta = read_golden(os.path.join(GOLDEN_DIR, f"{name}-{dtype}.safetensors"))
    assert meta["model_type"] == model_type and meta["producer"].startswith("transformers ")
    assert meta["weights"] == name and meta["dtype"] == dtype
    model = refalign.AutoModel.from_pretrained(name, dtype=np.dtype(dtype))
    inputs = {key.split(".", 1)[1]: golden[key] for key in model.golden.inputs}
    assert (inputs["attention_mask"] == 0).any()                               # a padded caption is in it
    out = model(**inputs, return_loss=True, output_hidden_states=True)
    result = compare((golden, meta), tensors_from_outputs(out, None, inputs, np.dtype(dtype)))
    assert result.ok, result.format()
    assert len(result.reports) == n_tensors and all(r.status == "OK" for r in result.reports), result.format()
