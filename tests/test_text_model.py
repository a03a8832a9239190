"""Parity of refalign.towers.bert (BERT text tower + ALIGN text projection) with transformers.

Error measures used throughout:
- "relative" = max|a - b| / max|b| over the whole tensor (one number per tensor), and additionally
- elementwise |a - b| <= atol + rtol * |b| with a small atol (hidden states are O(1) after LayerNorm).
Budgets: float64 vs float64 1e-9; float32 vs float32 1e-4 (float32 rounding through 12 layers).

The float64 reference. transformers' default ("eager") attention computes its softmax in float32 even when the
model runs in float64 (softmax(..., dtype=torch.float32).to(query.dtype)), which alone caps agreement at ~4e-8 on
the full-size model. Its "sdpa" path evaluates the same formula (QK^T * d^-0.5 + mask, softmax, @ V) with torch's
scaled_dot_product_attention entirely in float64, so that is our float64 reference. Two details of switching an
AlignModel to sdpa (AlignModel itself refuses attn_implementation="sdpa" at load time):
- the mask it builds is boolean (True = attend), which torch turns into -inf for padded keys. refalign adds the
  dtype's most negative number instead, as eager does; exp() of either underflows to exactly 0, and no query row is
  fully masked (padding only hides keys, and every sequence has its [CLS]), so the two are the same maths.
- with no padding it skips the mask, and then sdpa_attention_forward reads `module.is_causal`, defaulting to True:
  AlignTextSelfAttention (unlike BertSelfAttention) has no such attribute, so without a fix an unpadded batch would
  get *causal* attention (measured 1e-2 off). We set is_causal = False on each self-attention module, which is
  BERT's value. test_sdpa_reference_is_the_eager_model checks that the switched model still is the eager model up
  to the float32 softmax.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from refalign.auto import load_config
from refalign.loading.checkpoint import load_state_dict
from refalign.models.align import AlignTextConfig, text_features
from refalign.errors import CheckpointError
from refalign.ops import linear
from refalign.towers.bert import TextOutput, bert_forward, bert_prefix
from helpers import set_text_attention

RTOL64, ATOL64 = 1e-9, 1e-12
RTOL32, ATOL32 = 1e-4, 1e-5

CAPTIONS = [  # real captions of mixed lengths (COCO-style), one with accents and punctuation
    "a photo of a cat",
    "A man riding a wave on top of a surfboard.",
    "Two dogs playing in the snow near a red barn, late in the afternoon.",
    "dog",
    "A café on a narrow street in Zürich with bicycles parked outside and people sitting at small tables "
    "under a striped awning while a tram passes by.",
    "an astronaut on the moon",
]
SENTENCES = [  # for the MiniLM checks
    "The quick brown fox jumps over the lazy dog.",
    "Numerical oracles make refactoring safe, even for large models.",
    "hello",
    "A cup of coffee on a saucer next to a spoon and a small biscuit, photographed from above on a wooden table.",
]


# ------------------------------------------------------------------------------------------------ helpers

def load_weights(path: str, dtype, prefixes: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The tensors of a checkpoint file (refalign's loader, not checked against an ALIGN config, so plain BertModel
    checkpoints load too), floating ones in the compute dtype, optionally only those under `prefixes`."""
    state = load_state_dict(path, dtype)
    return {k: v for k, v in state.items() if prefixes is None or k.startswith(prefixes)}


def check(name: str, a, b, rel: float, atol: float, rtol: float) -> dict:
    """Shape, dtype-independent relative error (max|a-b| / max|b|) and elementwise atol + rtol*|b|."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{name}: shape {a.shape} != reference {b.shape}"
    assert np.all(np.isfinite(a)), f"{name}: non-finite values"
    diff = np.abs(a - b)
    r = float(diff.max() / np.abs(b).max())
    excess = diff - (atol + rtol * np.abs(b))
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    print(f"{name}: max abs {diff.max():.2e}, relative {r:.2e} ({r / rel:.1%} of {rel:g})")
    assert r <= rel, f"{name}: relative error {r:.3e} > {rel:g} (max abs {diff.max():.3e})"
    assert excess.max() <= 0, (f"{name}: |a-b| = {diff[worst]:.3e} > {atol:g} + {rtol:g}*|b| at {worst} "
                               f"(a={a[worst]!r}, b={b[worst]!r})")
    return {"abs": float(diff.max()), "rel": r}


def torch_text(torch, model, impl: str, ids, mask=None, types=None, attentions=False):
    """(hidden_states, attentions, pooler, text_embeds) from transformers' AlignModel, as numpy."""
    set_text_attention(model, impl)
    kw = {"input_ids": torch.tensor(ids)}
    if mask is not None:
        kw["attention_mask"] = torch.tensor(mask)
    if types is not None:
        kw["token_type_ids"] = torch.tensor(types)
    with torch.no_grad():
        out = model.text_model(**kw, output_hidden_states=True, output_attentions=attentions)
        feats = model.get_text_features(**kw)
    feats = feats if torch.is_tensor(feats) else feats.pooler_output  # a ModelOutput in transformers 5
    return ([h.numpy() for h in out.hidden_states], [a.numpy() for a in out.attentions] if attentions else None,
            out.pooler_output.numpy(), feats.numpy())


def load_align(torch, path, dtype):
    from transformers import AlignModel
    return AlignModel.from_pretrained(path, dtype=dtype).eval()  # default attention: eager


def tokenize(path, texts, **kw):
    from transformers import BertTokenizer
    enc = BertTokenizer.from_pretrained(path)(texts, return_tensors="np", **kw)
    return {k: v.astype(np.int64) for k, v in enc.items()}


# ------------------------------------------------------------------------------------------------ full-size

@pytest.fixture(scope="module")
def full_cfg(full_dir) -> AlignTextConfig:
    return load_config(full_dir).text_config


@pytest.fixture(scope="module")
def full_batch(full_dir, torch):
    """Real captions tokenized with the checkpoint's tokenizer, padded to 64 (the processor's default)."""
    enc = tokenize(full_dir, CAPTIONS, padding="max_length", max_length=64)
    lengths = enc["attention_mask"].sum(1)
    assert len(set(lengths.tolist())) >= 5 and lengths.max() < 64  # mixed lengths, all padded
    return enc


@pytest.fixture(scope="module")
def full64(full_dir, full_cfg, full_batch, torch):
    """refalign and transformers, both float64, on the padded batch (computed once for the module)."""
    params = load_weights(os.path.join(full_dir, "model.safetensors"), np.float64, ("text_model.", "text_projection."))
    ids, mask = full_batch["input_ids"], full_batch["attention_mask"]
    ref = bert_forward(params, full_cfg, ids, mask, output_hidden_states=True, output_attentions=True)
    embeds = text_features(params, full_cfg, ids, mask)
    model = load_align(torch, full_dir, torch.float64)
    sdpa = torch_text(torch, model, "sdpa", ids, mask)
    eager = torch_text(torch, model, "eager", ids, mask, attentions=True)
    return {"params": params, "ref": ref, "embeds": embeds, "sdpa": sdpa, "eager": eager, "model": model}


@pytest.mark.slow
def test_full_float64_every_hidden_state_and_text_embeds(full64, full_cfg):
    ref, (hs, _, pooled, embeds) = full64["ref"], full64["sdpa"]
    assert len(ref.hidden_states) == len(hs) == full_cfg.num_hidden_layers + 1 == 13
    for n, (a, b) in enumerate(zip(ref.hidden_states, hs)):
        assert a.dtype == np.float64
        check(f"hidden_states[{n}]", a, b, RTOL64, ATOL64, RTOL64)
    check("last_hidden_state", ref.last_hidden_state, hs[-1], RTOL64, ATOL64, RTOL64)
    check("pooler_output", ref.pooler_output, pooled, RTOL64, ATOL64, RTOL64)
    assert full64["embeds"].dtype == np.float64 and full64["embeds"].shape == (len(CAPTIONS), 640)
    check("text_embeds", full64["embeds"], embeds, RTOL64, ATOL64, RTOL64)


@pytest.mark.slow
def test_full_float64_unpadded(full64, full_cfg, full_dir, torch):
    """No padding and no mask: the path where transformers' sdpa skips the mask (and would go causal unfixed)."""
    ids = tokenize(full_dir, CAPTIONS[4:5])["input_ids"]
    assert ids.shape[1] > 30
    hs, _, _, embeds = torch_text(torch, full64["model"], "sdpa", ids)
    ref = bert_forward(full64["params"], full_cfg, ids, output_hidden_states=True)
    for n, (a, b) in enumerate(zip(ref.hidden_states, hs)):
        check(f"unpadded hidden_states[{n}]", a, b, RTOL64, ATOL64, RTOL64)
    check("unpadded text_embeds", text_features(full64["params"], full_cfg, ids), embeds, RTOL64, ATOL64, RTOL64)


@pytest.mark.slow
def test_full_padding_does_not_change_real_tokens(full64, full_cfg, full_batch):
    """Row 0 padded to 64 gives the same states on its real tokens as the same caption alone, unpadded."""
    n = int(full_batch["attention_mask"][0].sum())
    alone = bert_forward(full64["params"], full_cfg, full_batch["input_ids"][:1, :n])
    check("padded vs alone", full64["ref"].last_hidden_state[:1, :n], alone.last_hidden_state, RTOL64, ATOL64, RTOL64)


@pytest.mark.slow
def test_sdpa_reference_is_the_eager_model(full64):
    """The sdpa switch changes nothing but the softmax precision: eager (float32 softmax) agrees to ~1e-7."""
    (hs_s, _, _, e_s), (hs_e, _, _, e_e) = full64["sdpa"], full64["eager"]
    for n, (a, b) in enumerate(zip(hs_s, hs_e)):
        check(f"sdpa vs eager hidden_states[{n}]", a, b, 1e-6, 1e-6, 1e-5)  # float32 softmax rounding
    check("sdpa vs eager text_embeds", e_s, e_e, 1e-6, 1e-6, 1e-5)


@pytest.mark.slow
def test_full_hidden_states_and_attentions_layout(full64, full_cfg, full_batch):
    ref, (hs, atts, _, _) = full64["ref"], full64["eager"]
    B, L = full_batch["input_ids"].shape
    assert len(ref.hidden_states) == len(hs) == 13
    assert [h.shape for h in ref.hidden_states] == [h.shape for h in hs] == [(B, L, 768)] * 13
    assert len(ref.attentions) == len(atts) == 12
    assert [a.shape for a in ref.attentions] == [a.shape for a in atts] == [(B, 12, L, L)] * 12
    pad = full_batch["attention_mask"] == 0
    for n, (a, b) in enumerate(zip(ref.attentions, atts)):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a.sum(-1), 1.0, rtol=0, atol=1e-12)
        assert np.all(a.transpose(0, 2, 3, 1)[pad[:, None, :].repeat(L, 1)] == 0)  # padded keys get exactly 0
        # transformers' eager probabilities were rounded to float32 by its softmax: compare at that precision
        check(f"attentions[{n}]", a, b, 1e-6, 1e-7, 1e-5)


@pytest.mark.slow
def test_full_float32_vs_transformers_eager(full_dir, full_cfg, full_batch, torch):
    params = load_weights(os.path.join(full_dir, "model.safetensors"), np.float32, ("text_model.", "text_projection."))
    ids, mask = full_batch["input_ids"], full_batch["attention_mask"]
    model = load_align(torch, full_dir, torch.float32)
    hs, _, pooled, embeds = torch_text(torch, model, "eager", ids, mask)
    ref = bert_forward(params, full_cfg, ids, mask, output_hidden_states=True)
    for n, (a, b) in enumerate(zip(ref.hidden_states, hs)):
        assert a.dtype == np.float32
        check(f"float32 hidden_states[{n}]", a, b, RTOL32, ATOL32, RTOL32)
    check("float32 pooler_output", ref.pooler_output, pooled, RTOL32, ATOL32, RTOL32)
    feats = text_features(params, full_cfg, ids, mask)
    assert feats.dtype == np.float32
    check("float32 text_embeds", feats, embeds, RTOL32, ATOL32, RTOL32)


# ------------------------------------------------------------------------------------------------ MiniLM (real weights)

@pytest.fixture(scope="module")
def minilm(minilm_dir, torch):
    with open(os.path.join(minilm_dir, "config.json")) as f:
        raw = json.load(f)
    cfg = AlignTextConfig(**{fl.name: raw[fl.name] for fl in dataclasses.fields(AlignTextConfig) if fl.name in raw})
    enc = tokenize(minilm_dir, SENTENCES, padding="longest")
    assert len(set(enc["attention_mask"].sum(1).tolist())) == len(SENTENCES)
    return cfg, enc


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_minilm_real_weights(minilm_dir, minilm, torch, dtype):
    from transformers import BertModel
    cfg, enc = minilm
    params = load_weights(os.path.join(minilm_dir, "model.safetensors"), getattr(np, dtype))
    assert bert_prefix(params) == ""
    # BertModel's default attention here is sdpa, which stays in float64 (BertSelfAttention has is_causal=False)
    model = BertModel.from_pretrained(minilm_dir, dtype=getattr(torch, dtype), attn_implementation="sdpa").eval()
    with torch.no_grad():
        out = model(**{k: torch.tensor(v) for k, v in enc.items()}, output_hidden_states=True)
    ref = bert_forward(params, cfg, enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], prefix="",
                       output_hidden_states=True)
    rel, atol = (RTOL32, ATOL32) if dtype == "float32" else (RTOL64, ATOL64)
    assert ref.last_hidden_state.dtype == np.dtype(dtype)
    assert len(ref.hidden_states) == len(out.hidden_states) == 7
    for n, (a, b) in enumerate(zip(ref.hidden_states, out.hidden_states)):
        check(f"MiniLM {dtype} hidden_states[{n}]", a, b.numpy(), rel, atol, rel)
    check(f"MiniLM {dtype} last_hidden_state", ref.last_hidden_state, out.last_hidden_state.numpy(), rel, atol, rel)
    check(f"MiniLM {dtype} pooler_output", ref.pooler_output, out.pooler_output.numpy(), rel, atol, rel)


def test_bert_prefix_variants(minilm_dir, minilm):
    cfg, enc = minilm
    params = load_weights(os.path.join(minilm_dir, "model.safetensors"), np.float32)
    ids, mask = enc["input_ids"][:2], enc["attention_mask"][:2]
    plain = bert_forward(params, cfg, ids, mask, prefix="")
    for prefix in ("bert.", "text_model."):
        renamed = {prefix + k: v for k, v in params.items()}
        assert bert_prefix(renamed) == prefix
        out = bert_forward(renamed, cfg, ids, mask, prefix=prefix)
        np.testing.assert_array_equal(out.last_hidden_state, plain.last_hidden_state)
    with pytest.raises(CheckpointError, match="prefix='bert.'"):  # wrong prefix: the error says which one fits
        bert_forward(params, cfg, ids, prefix="bert.")
    with pytest.raises(CheckpointError, match="word_embeddings"):
        bert_prefix(["vision_model.embeddings.convolution.weight"])


# ------------------------------------------------------------------------------------------------ tiny checkpoint

@pytest.fixture(scope="module")
def tiny(tiny_dir):
    cfg = load_config(tiny_dir)
    path = os.path.join(tiny_dir, "model.safetensors")
    return cfg.text_config, {dt: load_weights(path, dt, ("text_model.", "text_projection.")) for dt in (np.float32,
                                                                                                      np.float64)}


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu", "silu"])
def test_tiny_float64_sentence_pairs_and_activations(tiny_dir, tiny, torch, act):
    """Token types from real sentence pairs, padding, and each activation transformers would pick from config."""
    from transformers import AlignConfig, AlignModel
    cfg, params = tiny
    cfg = dataclasses.replace(cfg, hidden_act=act)
    tcfg = AlignConfig.from_pretrained(tiny_dir)
    tcfg.text_config.hidden_act = act
    model = AlignModel.from_pretrained(tiny_dir, config=tcfg, dtype=torch.float64).eval()
    enc = tokenize(tiny_dir, SENTENCES[:3], text_pair=CAPTIONS[:3], padding="max_length", max_length=64)
    assert enc["token_type_ids"].max() == 1
    ids, mask, types = enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
    hs, _, pooled, embeds = torch_text(torch, model, "sdpa", ids, mask, types)
    ref = bert_forward(params[np.float64], cfg, ids, mask, types, output_hidden_states=True)
    for n, (a, b) in enumerate(zip(ref.hidden_states, hs)):
        check(f"tiny {act} hidden_states[{n}]", a, b, RTOL64, ATOL64, RTOL64)
    check(f"tiny {act} pooler_output", ref.pooler_output, pooled, RTOL64, ATOL64, RTOL64)
    check(f"tiny {act} text_embeds", text_features(params[np.float64], cfg, ids, mask, types), embeds,
          RTOL64, ATOL64, RTOL64)


def test_token_types_matter(tiny):
    cfg, params = tiny
    ids = np.array([[101, 2023, 2003, 102, 1037, 4937, 102]])
    a = bert_forward(params[np.float64], cfg, ids).last_hidden_state
    b = bert_forward(params[np.float64], cfg, ids, token_type_ids=np.zeros_like(ids)).last_hidden_state
    c = bert_forward(params[np.float64], cfg, ids, token_type_ids=(np.arange(7) >= 4)[None].astype(int))
    np.testing.assert_array_equal(a, b)
    assert np.abs(c.last_hidden_state - a).max() > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(tiny, dtype):
    cfg, params = tiny
    ids = np.array([[101, 1037, 6302, 102, 0], [101, 3899, 102, 0, 0]])
    mask = (ids != 0).astype(np.int64)
    out = bert_forward(params[dtype], cfg, ids, mask, output_hidden_states=True, output_attentions=True)
    assert isinstance(out, TextOutput)
    tensors = [out.last_hidden_state, out.pooler_output, *out.hidden_states, *out.attentions]
    assert all(t.dtype == dtype for t in tensors)
    assert len(out.hidden_states) == cfg.num_hidden_layers + 1 and len(out.attentions) == cfg.num_hidden_layers
    assert out.attentions[0].shape == (2, cfg.num_attention_heads, 5, 5)
    feats = text_features(params[dtype], cfg, ids, mask)
    assert feats.dtype == dtype and feats.shape == (2, 48)
    p = params[dtype]
    np.testing.assert_array_equal(feats, linear(out.last_hidden_state[:, 0], p["text_projection.weight"],
                                                p["text_projection.bias"]))
    plain = bert_forward(params[dtype], cfg, ids, mask)
    assert plain.hidden_states is None and plain.attentions is None
    no_pool = {k: v for k, v in params[dtype].items() if ".pooler." not in k}
    assert bert_forward(no_pool, cfg, ids, mask).pooler_output is None


# ------------------------------------------------------------------------------------------------ bad input

BAD_INPUTS = [
    ("1-D ids", dict(input_ids=[101, 102]), "2-D"),
    ("float ids", dict(input_ids=np.array([[101.0, 102.0]])), "input_ids must hold integers"),
    ("bool ids", dict(input_ids=np.array([[True, False]])), "input_ids must hold integers"),
    ("ragged ids", dict(input_ids=[[101, 102], [101]]), "input_ids"),
    ("empty ids", dict(input_ids=np.zeros((1, 0), dtype=np.int64)), "input_ids is empty"),
    ("id = vocab_size", dict(input_ids=[[101, 30522]]), r"input_ids holds token id 30522"),
    ("negative id", dict(input_ids=[[101, -1]]), r"input_ids holds token id -1"),
    ("too long", dict(input_ids=np.full((1, 513), 1000)), r"longer \(513 tokens\) than the model's 512 positions"),
    ("mask shape", dict(input_ids=[[101, 102]], attention_mask=[[1, 1, 0]]), "attention_mask has shape"),
    ("mask values", dict(input_ids=[[101, 102]], attention_mask=[[1, 2]]), "attention_mask must hold only 0"),
    ("types shape", dict(input_ids=[[101, 102]], token_type_ids=[[0]]), "token_type_ids has shape"),
    ("type = 2", dict(input_ids=[[101, 102]], token_type_ids=[[0, 2]]), r"token_type_ids must lie in \[0, 2\)"),
    ("negative type", dict(input_ids=[[101, 102]], token_type_ids=[[0, -1]]), "token_type_ids must lie"),
]


@pytest.mark.parametrize("case, kwargs, message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input(tiny, case, kwargs, message):
    cfg, params = tiny
    with pytest.raises(ValueError, match=message):
        bert_forward(params[np.float32], cfg, **kwargs)


def test_bad_weights(tiny):
    cfg, params = tiny
    p = params[np.float32]
    ids = [[101, 102]]
    key = "text_model.encoder.layer.1.output.dense.weight"
    with pytest.raises(CheckpointError, match=key):
        bert_forward({k: v for k, v in p.items() if k != key}, cfg, ids)
    with pytest.raises(CheckpointError, match=f"{key}.*shape"):
        bert_forward({**p, key: p[key][:, :-1]}, cfg, ids)
    with pytest.raises(CheckpointError, match=f"{key}.*float64"):  # mixed dtypes would upcast silently
        bert_forward({**p, key: p[key].astype(np.float64)}, cfg, ids)
    with pytest.raises(CheckpointError, match="text_projection"):
        text_features({k: v for k, v in p.items() if not k.startswith("text_projection")}, cfg, ids)
