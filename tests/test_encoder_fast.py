"""refalign.fast.encoder (the transformer layers every tower runs) and its kernels against their readable twins:
softmax_ vs ops.softmax, the dense epilogues vs bias / activation / residual in NumPy, attention vs
layers.attention.scaled_dot_product, pre_ln_layer vs the ViT and CLIP-vision encoder_layer, post_ln_layer vs BERT's
encoder_layer, and the towers' forwards (hidden states, attentions) vs a loop over the readable layers.

Error measure: rel = max|fast - twin| / max|twin|; float64 <= 1e-12 (same formulas, rounding only), float32 <= 1e-5.
"threads" runs each case whole and with every product and loop cut into bands however small (the bands are where
an offset error would show).
"""
from __future__ import annotations

import numpy as np
import pytest

from refalign import ops
from refalign.fast import encoder as E
from refalign.fast import kernels as K
from refalign.fast import parallel
from refalign.layers.attention import merge_heads, padding_mask_bias, scaled_dot_product, split_heads

from helpers import rel_err

TOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = (np.float32, np.float64)


def _rel(a, b) -> float:
    assert a.dtype == b.dtype, (a.dtype, b.dtype)   # the fast path keeps the compute dtype
    return rel_err(a, b)


@pytest.fixture(params=["whole", "band_everything"])
def threads(request, monkeypatch):
    if request.param == "band_everything":
        monkeypatch.setattr(parallel, "_MIN_SPLIT_FLOPS", 0)
        monkeypatch.setattr(parallel, "_MIN_SPLIT_VALUES", 0)
    with parallel.single_threaded_blas():   # as the towers call the fast layers
        yield request.param


def _random_params(shapes: dict, dtype, seed: int) -> dict:
    """Random weights for a shapes table: matrices scaled by 1/sqrt(fan-in), LayerNorm gains near 1, biases small."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if name.endswith("weight") and len(shape) == 1:          # LayerNorm gain
            v = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            v = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        else:
            v = rng.normal(0, 0.3, shape)
        out[name] = v.astype(dtype)
    return out


# ------------------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,lq,lk", [(1, 1, 1), (3, 5, 7), (2, 9, 65), (1, 197, 197), (4, 3, 257)])
@pytest.mark.parametrize("masked", [False, True])
def test_softmax_matches_twin(dtype, n, lq, lk, masked):
    rng = np.random.default_rng(lk)
    s = (rng.standard_normal((n, lq, lk)) * 20).astype(dtype)
    mask = None
    if masked:
        keep = np.ones(lk)
        keep[lk // 2 + 1:] = 0                       # the first half (at least one key) kept
        mask = padding_mask_bias(keep[None], np.dtype(dtype))[0, 0, 0]
    scale = 0.125
    ref = ops.softmax(s * dtype(scale) + (mask if masked else 0), axis=-1)
    got = K.softmax_(s.copy(), scale, mask)
    assert _rel(got, ref) <= TOL[dtype]
    assert np.allclose(got.sum(-1), 1, atol=1e-6)
    if masked and lk > 1:
        assert np.abs(got[..., lk // 2 + 1:]).max() <= 1e-30   # padding keys get no weight


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", [None, "gelu", "quick_gelu"])
@pytest.mark.parametrize("with_bias,with_residual", [(True, False), (True, True), (False, False), (False, True)])
@pytest.mark.parametrize("m,n", [(97, 300), (300, 97), (3, 5)])   # bands of columns, of rows, unsplit
def test_dense_epilogues_match_twins(dtype, act, with_bias, with_residual, m, n, threads):
    rng = np.random.default_rng(m * n)
    x, w = rng.standard_normal((m, 64)).astype(dtype), (rng.standard_normal((n, 64)) / 4).astype(dtype)
    b = rng.standard_normal(n).astype(dtype) if with_bias else None
    res = rng.standard_normal((m, n)).astype(dtype) if with_residual else None
    ref = ops.linear(x, w, b)
    if act is not None:
        ref = ops.activation(act)(ref)
    if res is not None:
        ref = ref + res
    got = E.dense(x, w, b, act, res)
    assert got.flags.c_contiguous and _rel(got, ref) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_quick_gelu_over_the_range(dtype):
    """Elementwise against the float64 formula v * sigmoid(1.702 v), from -100 to 100 (no overflow, no NaN)."""
    x = np.concatenate([np.linspace(-100, 100, 8001), [0.0, 1e-20, -1e-20]]).astype(dtype)[None]
    got = x.copy()
    K._bias_act_block(got, 0, 1, 0, x.shape[1], np.zeros(x.shape[1], dtype), K.ACT_QUICK_GELU,
                      dtype == np.float32, np.empty((0, 0), dtype), False)
    ref = ops.quick_gelu(x.astype(np.float64))
    assert np.isfinite(got).all()
    big = np.abs(ref) > 1e-6
    assert (np.abs(got - ref)[big] / np.abs(ref[big])).max() <= (2e-6 if dtype == np.float32 else 1e-15)
    assert np.abs(got - ref)[~big].max() <= 1e-6


# ------------------------------------------------------------------------------------------ attention
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,length,heads,d", [(1, 1, 1, 8), (3, 5, 4, 8), (2, 197, 3, 16), (5, 64, 12, 4)])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("keep_probs", [False, True])
def test_attention_matches_scaled_dot_product(dtype, batch, length, heads, d, masked, keep_probs, threads):
    rng = np.random.default_rng(length * heads)
    q, k, v = ((rng.standard_normal((batch * length, heads * d)) * 2).astype(dtype) for _ in range(3))
    keep = np.ones((batch, length))
    if masked:
        for b in range(batch):
            keep[b, max(1, length - b * 2):] = 0          # a different padding length per text; one has none
    mask = padding_mask_bias(keep, np.dtype(dtype)) if masked else None
    split = lambda t: split_heads(t.reshape(batch, length, heads * d), heads)
    ref_ctx, ref_probs = scaled_dot_product(split(q), split(k), split(v), mask)
    ctx, probs = E.attention(q, k, v, batch, heads, mask, keep_probs)
    assert ctx.flags.c_contiguous and ctx.shape == q.shape
    assert _rel(ctx, merge_heads(ref_ctx).reshape(batch * length, heads * d)) <= TOL[dtype]
    if keep_probs:
        assert _rel(probs, ref_probs) <= TOL[dtype]
    else:
        assert probs is None


def test_attention_blocks_of_heads_cover_every_head(monkeypatch, threads):
    """With scores blocks of 2 heads (odd head count: a short last block) every head is still computed once."""
    monkeypatch.setattr(E, "_SCORES_BLOCK_BYTES", 2 * 7 * 7 * 8)
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2 * 7, 5 * 4)) for _ in range(3))
    split = lambda t: split_heads(t.reshape(2, 7, 20), 5)
    ref_ctx, ref_probs = scaled_dot_product(split(q), split(k), split(v), None)
    ctx, probs = E.attention(q, k, v, 2, 5, None, True)
    assert _rel(ctx, merge_heads(ref_ctx).reshape(14, 20)) <= 1e-12 and _rel(probs, ref_probs) <= 1e-12


# ------------------------------------------------------------------------------------------ layers
VISION_ACTS = ["gelu", "quick_gelu", "gelu_new", "relu"]   # the last two: no fused kernel, applied after the product


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", VISION_ACTS)
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_pre_ln_layer_matches_vit_encoder_layer(dtype, act, qkv_bias, threads):
    from refalign.towers import vit
    cfg = vit.ViTConfig(hidden_size=48, num_hidden_layers=1, num_attention_heads=4, intermediate_size=80,
                        hidden_act=act, image_size=32, patch_size=8, qkv_bias=qkv_bias)
    params = _random_params(vit.vit_shapes(cfg), dtype, seed=1)
    x = np.random.default_rng(2).standard_normal((3, 17, 48)).astype(dtype)
    p = "vision_model.encoder.layer.0."
    ref, ref_probs = vit.encoder_layer(params, p, x, cfg, ops.activation(act))
    got, probs = E.pre_ln_layer(x.reshape(51, 48).copy(), vit.layer_weights(params, p), 3, 4, cfg.layer_norm_eps,
                                act, ops.activation(act), keep_probs=True)
    assert _rel(got.reshape(3, 17, 48), ref) <= TOL[dtype] and _rel(probs, ref_probs) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", VISION_ACTS)
def test_pre_ln_layer_matches_clip_encoder_layer(dtype, act, threads):
    from refalign.towers import clip_vision as C
    cfg = C.CLIPVisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             hidden_act=act, image_size=32, patch_size=8)
    params = _random_params(C.clip_vision_shapes(cfg), dtype, seed=3)
    x = np.random.default_rng(4).standard_normal((2, 17, 32)).astype(dtype)
    p = "vision_model.encoder.layers.0."
    ref, ref_probs = C.encoder_layer(params, p, x, cfg, ops.activation(act))
    got, probs = E.pre_ln_layer(x.reshape(34, 32).copy(), C.layer_weights(params, p), 2, 2, cfg.layer_norm_eps,
                                act, ops.activation(act), keep_probs=False)
    assert _rel(got.reshape(2, 17, 32), ref) <= TOL[dtype] and probs is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["gelu", "relu", "gelu_new"])
def test_post_ln_layer_matches_bert_encoder_layer(dtype, act, threads):
    from refalign.towers import bert as T
    cfg = T.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                       intermediate_size=40, hidden_act=act, max_position_embeddings=16)
    params = _random_params(T.bert_shapes(cfg), dtype, seed=5)
    x = np.random.default_rng(6).standard_normal((3, 11, 32)).astype(dtype)
    keep = np.ones((3, 11))
    keep[1, 7:] = 0
    keep[2, 2:] = 0
    mask = padding_mask_bias(keep, np.dtype(dtype))
    p = "text_model.encoder.layer.0."
    ref, ref_probs = T.encoder_layer(params, p, x, mask, cfg, ops.activation(act))
    got, probs = E.post_ln_layer(x.reshape(33, 32).copy(), T.layer_weights(params, p), 3, 4, cfg.layer_norm_eps,
                                 act, ops.activation(act), mask, keep_probs=True)
    assert _rel(got.reshape(3, 11, 32), ref) <= TOL[dtype] and _rel(probs, ref_probs) <= TOL[dtype]


# ------------------------------------------------------------------------------------------ packed products
# From width refalign.fast.gemm.MIN_SIDE the float32 products run on the packed-weight kernel, q, k and v as one
# product against the three weights stacked.
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_packed_pre_ln_layer_matches_vit_encoder_layer(qkv_bias, threads):
    from refalign.fast import gemm
    from refalign.towers import vit
    cfg = vit.ViTConfig(hidden_size=gemm.MIN_SIDE, num_hidden_layers=1, num_attention_heads=4, intermediate_size=512,
                        image_size=32, patch_size=8, qkv_bias=qkv_bias)
    params = _random_params(vit.vit_shapes(cfg), np.float32, seed=7)
    x = np.random.default_rng(8).standard_normal((2, 17, gemm.MIN_SIDE)).astype(np.float32)
    p = "vision_model.encoder.layer.0."
    w = vit.layer_weights(params, p)
    h = x.reshape(34, -1)
    assert parallel.packs(h, w.q_w)
    stacked = E.qkv(h, w)                    # one product: column views of [34, 768], the same values as three
    for got, weight, bias in zip(stacked, (w.q_w, w.k_w, w.v_w), (w.q_b, w.k_b, w.v_b)):
        assert not got.flags.c_contiguous
        np.testing.assert_array_equal(got, E.dense(h, weight, bias))
    ref, ref_probs = vit.encoder_layer(params, p, x, cfg, ops.activation("gelu"))
    got, probs = E.pre_ln_layer(h.copy(), w, 2, 4, cfg.layer_norm_eps, "gelu", ops.activation("gelu"), True)
    assert _rel(got.reshape(x.shape), ref) <= TOL[np.float32] and _rel(probs, ref_probs) <= TOL[np.float32]


def test_packed_post_ln_layer_matches_bert_encoder_layer(threads):
    from refalign.fast import gemm
    from refalign.towers import bert as T
    cfg = T.BertConfig(vocab_size=50, hidden_size=gemm.MIN_SIDE, num_hidden_layers=1, num_attention_heads=4,
                       intermediate_size=512, max_position_embeddings=16)
    params = _random_params(T.bert_shapes(cfg), np.float32, seed=9)
    x = np.random.default_rng(10).standard_normal((3, 11, gemm.MIN_SIDE)).astype(np.float32)
    keep = np.ones((3, 11))
    keep[1, 7:] = 0
    mask = padding_mask_bias(keep, np.dtype(np.float32))
    p = "text_model.encoder.layer.0."
    ref, ref_probs = T.encoder_layer(params, p, x, mask, cfg, ops.activation("gelu"))
    got, probs = E.post_ln_layer(x.reshape(33, -1).copy(), T.layer_weights(params, p), 3, 4, cfg.layer_norm_eps,
                                 "gelu", ops.activation("gelu"), mask, keep_probs=True)
    assert _rel(got.reshape(x.shape), ref) <= TOL[np.float32] and _rel(probs, ref_probs) <= TOL[np.float32]


# ------------------------------------------------------------------------------------------ whole towers
def _check_tower(out, ref_hidden, ref_probs, ref_last, dtype, chained):
    tol = chained * TOL[dtype]
    assert len(out.hidden_states) == len(ref_hidden) and len(out.attentions) == len(ref_probs)
    for a, b in zip(out.hidden_states, ref_hidden):
        assert _rel(a, b) <= tol
    for a, b in zip(out.attentions, ref_probs):
        assert _rel(a, b) <= tol
    assert _rel(out.last_hidden_state, ref_last) <= tol


@pytest.mark.parametrize("dtype", DTYPES)
def test_vit_forward_matches_readable_layers(dtype, threads):
    from refalign.towers import vit
    cfg = vit.ViTConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48,
                        image_size=32, patch_size=8)
    params = _random_params({**vit.vit_shapes(cfg), **vit.vit_pooler_shapes(cfg)}, dtype, seed=7)
    px = np.random.default_rng(8).standard_normal((2, 3, 32, 32)).astype(dtype)
    out = vit.vit_forward(params, cfg, px, output_hidden_states=True, output_attentions=True)
    x = vit.embeddings(params, "vision_model.embeddings.", px)
    hidden, probs = [x], []
    for n in range(3):
        x, p = vit.encoder_layer(params, f"vision_model.encoder.layer.{n}.", x, cfg, ops.gelu)
        hidden.append(x)
        probs.append(p)
    last = ops.layer_norm(x, params["vision_model.layernorm.weight"], params["vision_model.layernorm.bias"], 1e-12)
    _check_tower(out, hidden, probs, last, dtype, chained=10)
    plain = vit.vit_forward(params, cfg, px)
    assert plain.hidden_states is None and plain.attentions is None
    assert np.array_equal(plain.last_hidden_state, out.last_hidden_state)   # keeping the probabilities changes nothing


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_vision_forward_matches_readable_layers(dtype, threads):
    from refalign.towers import clip_vision as C
    cfg = C.CLIPVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                             image_size=32, patch_size=16)
    params = _random_params(C.clip_vision_shapes(cfg), dtype, seed=9)
    px = np.random.default_rng(10).standard_normal((3, 3, 32, 32)).astype(dtype)
    out = C.clip_vision_forward(params, cfg, px, output_hidden_states=True, output_attentions=True)
    x = C.embeddings(params, "vision_model.embeddings.", px)
    x = ops.layer_norm(x, params["vision_model.pre_layrnorm.weight"], params["vision_model.pre_layrnorm.bias"],
                       cfg.layer_norm_eps)
    hidden, probs = [x], []
    for n in range(2):
        x, p = C.encoder_layer(params, f"vision_model.encoder.layers.{n}.", x, cfg, ops.quick_gelu)
        hidden.append(x)
        probs.append(p)
    _check_tower(out, hidden, probs, x, dtype, chained=10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bert_forward_matches_readable_layers(dtype, threads):
    from refalign.towers import bert as T
    cfg = T.RobertaConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=40, max_position_embeddings=20, type_vocab_size=1, layer_norm_eps=1e-5)
    params = _random_params(T.bert_shapes(cfg, "roberta."), dtype, seed=11)
    ids = np.random.default_rng(12).integers(3, 60, (3, 9))
    keep = np.ones_like(ids)
    keep[0, 5:] = 0
    ids[keep == 0] = cfg.pad_token_id
    out = T.bert_forward(params, cfg, ids, keep, prefix="roberta.", output_hidden_states=True,
                         output_attentions=True)
    mask = padding_mask_bias(keep, np.dtype(dtype))
    x = T.embeddings(params, "roberta.embeddings.", ids, np.zeros_like(ids), cfg.layer_norm_eps,
                     T.position_ids(cfg, ids))
    hidden, probs = [x], []
    for n in range(2):
        x, p = T.encoder_layer(params, f"roberta.encoder.layer.{n}.", x, mask, cfg, ops.gelu)
        hidden.append(x)
        probs.append(p)
    _check_tower(out, hidden, probs, x, dtype, chained=10)
