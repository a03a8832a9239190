"""The BERT text tower (ALIGN's text_model) as plain NumPy functions: its config, its tensors, its forward pass.

Read top to bottom: config -> tensor names and shapes -> embeddings -> self-attention -> attention block ->
feed-forward -> encoder layer -> pooler -> the whole tower (`bert_forward`). Attention itself is shared with the
other transformer towers (refalign.layers.attention).

Weights come in a dict keyed by the checkpoint's own names, e.g. "text_model.encoder.layer.0.attention.self.query.
weight" (torch layout: Linear weights are [out_features, in_features]). Every function keeps the dtype it is given:
float64 weights and float64 activations stay float64 from the embedding lookup to the projection; the caller
chooses the compute dtype by the dtype of the weights it passes.

Shapes: B = batch, L = sequence length, H = hidden_size, h = num_attention_heads, d = head_dim = H / h,
I = intermediate_size, P = projection_dim.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError
from ..layers.attention import multi_head_attention, padding_mask_bias
from ..loading.config import check_transformer_section
from ..ops import activation, layer_norm, linear
from ..outputs import ModelOutput

PREFIXES = ("text_model.", "bert.", "")  # ALIGN checkpoint, BertFor*-style checkpoint, plain BertModel checkpoint
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "gelu_python", "quick_gelu")


@dataclass(frozen=True)
class BertConfig:
    """The config.json keys a BERT encoder reads (defaults: bert-base, as transformers' code)."""
    position_ids_from_padding = False  # a class attribute (RobertaConfig's rule), not a config key
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self, source: str, prefix: str) -> None:
        """ConfigError naming the dotted key of the first impossible value."""
        check_transformer_section(self, source, prefix, ("vocab_size", "hidden_size", "num_hidden_layers",
                                  "num_attention_heads", "intermediate_size", "max_position_embeddings",
                                  "type_vocab_size"), ACTIVATIONS)


@dataclass(frozen=True)
class RobertaConfig(BertConfig):
    """RoBERTa (and XLM-R): BERT's encoder with one different rule -- position ids count from pad_token_id + 1 over
    the non-padding tokens, and padding sits at position pad_token_id (fairseq's make_positions). Defaults are
    transformers' RobertaConfig code (roberta-base's config.json sets max_position_embeddings 514, type_vocab_size 1,
    layer_norm_eps 1e-5)."""
    position_ids_from_padding = True   # a class attribute, not a config key
    vocab_size: int = 50265
    pad_token_id: int | None = 1


def position_ids(cfg: BertConfig, input_ids: NDArray) -> NDArray | None:
    """RoBERTa's position ids, (B, L): cumsum(ids != pad) * (ids != pad) + pad. None for BERT (0..L-1)."""
    if not cfg.position_ids_from_padding:
        return None
    real = (input_ids != cfg.pad_token_id).astype(np.int64)
    return np.cumsum(real, axis=1) * real + cfg.pad_token_id


def bert_shapes(cfg: BertConfig, prefix: str = "text_model.") -> dict[str, tuple[int, ...]]:
    """Every parameter of the encoder the forward pass reads (the tanh pooler is listed separately)."""
    h, i = cfg.hidden_size, cfg.intermediate_size
    s = {
        f"{prefix}embeddings.word_embeddings.weight": (cfg.vocab_size, h),
        f"{prefix}embeddings.position_embeddings.weight": (cfg.max_position_embeddings, h),
        f"{prefix}embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, h),
        f"{prefix}embeddings.LayerNorm.weight": (h,),
        f"{prefix}embeddings.LayerNorm.bias": (h,),
    }
    for n in range(cfg.num_hidden_layers):
        p = f"{prefix}encoder.layer.{n}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            s[f"{p}{name}.weight"] = (h, h)
            s[f"{p}{name}.bias"] = (h,)
        s[p + "intermediate.dense.weight"] = (i, h)
        s[p + "intermediate.dense.bias"] = (i,)
        s[p + "output.dense.weight"] = (h, i)
        s[p + "output.dense.bias"] = (h,)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            s[f"{p}{ln}.weight"] = (h,)
            s[f"{p}{ln}.bias"] = (h,)
    return s


def pooler_shapes(cfg: BertConfig, prefix: str = "text_model.") -> dict[str, tuple[int, ...]]:
    """BERT's tanh pooler."""
    h = cfg.hidden_size
    return {f"{prefix}pooler.dense.weight": (h, h), f"{prefix}pooler.dense.bias": (h,)}


@dataclass(repr=False)
class TextOutput(ModelOutput):
    """Mirrors transformers' BaseModelOutputWithPoolingAndCrossAttentions for the BERT tower (NumPy)."""
    last_hidden_state: NDArray           # (B, L, H)
    pooler_output: NDArray | None        # (B, H): tanh(linear(CLS)); None when the checkpoint has no pooler
    hidden_states: list[NDArray] | None  # num_hidden_layers + 1 tensors (B, L, H): embeddings, then each layer
    attentions: list[NDArray] | None     # num_hidden_layers tensors (B, h, L, L): softmax probabilities


def bert_prefix(keys: Iterable[str]) -> str:
    """The namespace the BERT weights live under: "text_model." (ALIGN), "bert." or "" (plain BertModel)."""
    keys = set(keys)
    for prefix in PREFIXES:
        if f"{prefix}embeddings.word_embeddings.weight" in keys:
            return prefix
    raise CheckpointError("no BERT weights found: none of "
                          + ", ".join(repr(f"{p}embeddings.word_embeddings.weight") for p in PREFIXES)
                          + " is in the checkpoint")


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------

def embeddings(params: dict, p: str, input_ids: NDArray, token_type_ids: NDArray, eps: float,
               positions: NDArray | None = None) -> NDArray:
    """word + position (0..L-1, or RoBERTa's `positions` (B, L)) + token type, then LayerNorm."""
    L = input_ids.shape[1]
    x = params[p + "word_embeddings.weight"][input_ids]             # (B, L) -> (B, L, H)
    x = x + params[p + "token_type_embeddings.weight"][token_type_ids]
    table = params[p + "position_embeddings.weight"]
    x = x + (table[:L] if positions is None else table[positions])  # (L, H) broadcast, or (B, L, H)
    return layer_norm(x, params[p + "LayerNorm.weight"], params[p + "LayerNorm.bias"], eps)


def self_attention(params: dict, p: str, x: NDArray, mask_bias: NDArray, n_heads: int) -> tuple[NDArray, NDArray]:
    """Multi-head self-attention with BERT's query/key/value weights; mask_bias (B, 1, 1, L) hides padding."""
    return multi_head_attention(x, params[p + "query.weight"], params[p + "query.bias"], params[p + "key.weight"],
                                params[p + "key.bias"], params[p + "value.weight"], params[p + "value.bias"],
                                mask_bias, n_heads)  # (B, L, H) -> (B, L, H), probs (B, h, L, L)


def attention_block(params: dict, p: str, x: NDArray, mask_bias: NDArray, n_heads: int,
                    eps: float) -> tuple[NDArray, NDArray]:
    """Self-attention, output projection, residual, then LayerNorm (post-LN, as in the original BERT)."""
    a, probs = self_attention(params, p + "self.", x, mask_bias, n_heads)
    a = linear(a, params[p + "output.dense.weight"], params[p + "output.dense.bias"])
    return layer_norm(a + x, params[p + "output.LayerNorm.weight"], params[p + "output.LayerNorm.bias"], eps), probs


def feed_forward(params: dict, p: str, x: NDArray, act, eps: float) -> NDArray:
    """H -> I -> activation -> H, residual, LayerNorm."""
    y = act(linear(x, params[p + "intermediate.dense.weight"], params[p + "intermediate.dense.bias"]))  # (B, L, I)
    y = linear(y, params[p + "output.dense.weight"], params[p + "output.dense.bias"])                  # (B, L, H)
    return layer_norm(y + x, params[p + "output.LayerNorm.weight"], params[p + "output.LayerNorm.bias"], eps)


def encoder_layer(params: dict, p: str, x: NDArray, mask_bias: NDArray, cfg: BertConfig,
                  act) -> tuple[NDArray, NDArray]:
    x, probs = attention_block(params, p + "attention.", x, mask_bias, cfg.num_attention_heads, cfg.layer_norm_eps)
    return feed_forward(params, p, x, act, cfg.layer_norm_eps), probs


# the modules of one encoder layer, under refalign.fast.encoder's neutral names (post-LN: ln1 after attention)
FAST_LAYER_MODULES = dict(q="attention.self.query", k="attention.self.key", v="attention.self.value",
                          o="attention.output.dense", ln1="attention.output.LayerNorm", fc1="intermediate.dense",
                          fc2="output.dense", ln2="output.LayerNorm")


def layer_weights(params: dict, p: str):
    """Encoder layer `p`'s tensors as refalign.fast.encoder.LayerWeights."""
    from ..fast.encoder import layer_weights
    return layer_weights(params, p, FAST_LAYER_MODULES)


def pooler(params: dict, p: str, x: NDArray) -> NDArray:
    """BERT's pooler: tanh(linear(hidden state of the first token)). ALIGN's text embedding does not use it."""
    return np.tanh(linear(x[:, 0], params[p + "dense.weight"], params[p + "dense.bias"]))  # (B, L, H) -> (B, H)


# ---------------------------------------------------------------------------------------------------------------
# The tower
# ---------------------------------------------------------------------------------------------------------------

def bert_forward(params: dict[str, np.ndarray], cfg: BertConfig, input_ids, attention_mask=None,
                 token_type_ids=None, prefix: str = "text_model.", output_hidden_states: bool = False,
                 output_attentions: bool = False) -> TextOutput:
    """Run the BERT encoder. input_ids: (B, L) integers; attention_mask: (B, L) of 0/1 (1 = real token; all ones
    when omitted); token_type_ids: (B, L) (zeros when omitted). The compute dtype is that of the weights."""
    dtype = _check_params(params, cfg, prefix)
    input_ids, attention_mask, token_type_ids = _check_inputs(cfg, input_ids, attention_mask, token_type_ids)

    mask_bias = padding_mask_bias(attention_mask, dtype)  # (B, L) -> (B, 1, 1, L): 0 or most-negative per key

    from ..fast.encoder import post_ln_layer           # here: loading weights does not start Numba
    from ..fast.parallel import forward_threads
    with forward_threads():  # the whole tower: OpenBLAS single-threaded throughout (see refalign.fast.parallel)
        act = activation(cfg.hidden_act)
        x = embeddings(params, prefix + "embeddings.", input_ids, token_type_ids, cfg.layer_norm_eps,
                       position_ids(cfg, input_ids))                                                   # (B, L, H)
        B, L, H = x.shape
        hidden_states, attentions = [x], []
        x2 = np.ascontiguousarray(x.reshape(B * L, H))
        for n in range(cfg.num_hidden_layers):
            x2, probs = post_ln_layer(x2, layer_weights(params, f"{prefix}encoder.layer.{n}."), B,
                                      cfg.num_attention_heads, cfg.layer_norm_eps, cfg.hidden_act, act, mask_bias,
                                      keep_probs=output_attentions)
            if output_hidden_states:   # (kept only when asked: a finished layer's memory is reused while hot)
                hidden_states.append(x2.reshape(B, L, H))
            attentions.append(probs)
        x = x2.reshape(B, L, H)
        assert x.dtype == dtype, f"compute dtype drifted from {dtype} to {x.dtype}"

        pooled = pooler(params, prefix + "pooler.", x) if f"{prefix}pooler.dense.weight" in params else None
    return TextOutput(last_hidden_state=x, pooler_output=pooled,
                      hidden_states=hidden_states if output_hidden_states else None,
                      attentions=attentions if output_attentions else None)


# ---------------------------------------------------------------------------------------------------------------
# Checks: a wrong key, shape, dtype or input stops here with its name, instead of broadcasting into garbage
# ---------------------------------------------------------------------------------------------------------------

def _check_params(params: dict, cfg: BertConfig, prefix: str) -> np.dtype:
    """Every tensor the tower reads is present, has the shape the config implies and one common float dtype."""
    expected = bert_shapes(cfg, prefix)
    if f"{prefix}pooler.dense.weight" in params:
        expected.update(pooler_shapes(cfg, prefix))
    first = f"{prefix}embeddings.word_embeddings.weight"
    if first not in params:
        hint = ""
        try:
            hint = f" (the weights look like prefix={bert_prefix(params)!r})"
        except CheckpointError:
            pass
        raise CheckpointError(f"missing tensor {first!r} for prefix={prefix!r}{hint}")
    dtype = np.asarray(params[first]).dtype
    if dtype not in (np.float32, np.float64):
        raise CheckpointError(f"{first} is {dtype}; the text tower computes in float32 or float64")
    for key, shape in expected.items():
        if key not in params:
            raise CheckpointError(f"missing tensor {key!r}")
        t = params[key]
        if tuple(t.shape) != shape:
            raise CheckpointError(f"tensor {key!r} has shape {tuple(t.shape)}, expected {shape} from the config")
        if t.dtype != dtype:
            raise CheckpointError(f"tensor {key!r} is {t.dtype} but {first} is {dtype}: pass all weights in one dtype")
    return dtype


def _as_int_array(name: str, value) -> NDArray:
    try:
        a = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular (batch, seq_len) array of integers: {e}") from None
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    return a


def _check_inputs(cfg: BertConfig, input_ids, attention_mask, token_type_ids):
    ids = _as_int_array("input_ids", input_ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be 2-D (batch, seq_len), got shape {ids.shape}")
    B, L = ids.shape
    if B == 0 or L == 0:
        raise ValueError(f"input_ids is empty (shape {ids.shape})")
    last = L - 1 if not cfg.position_ids_from_padding else L + cfg.pad_token_id  # the largest position id used
    if last >= cfg.max_position_embeddings:
        raise ValueError(f"input_ids: the sequence is longer ({L} tokens) than the model's "
                         f"{cfg.max_position_embeddings} positions (max_position_embeddings) allow; truncate it")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= cfg.vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"input_ids holds token id {bad}, outside the vocabulary [0, {cfg.vocab_size})")

    if attention_mask is None:
        mask = np.ones((B, L), dtype=np.int64)
    else:
        mask = np.asarray(attention_mask)
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask has shape {mask.shape} but input_ids has shape {ids.shape}")
        if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
            raise ValueError(f"attention_mask must hold 0/1 values, got dtype {mask.dtype}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (token), got values "
                             f"{np.unique(mask)[:8].tolist()}")

    if token_type_ids is None:
        types = np.zeros((B, L), dtype=np.int64)
    else:
        types = _as_int_array("token_type_ids", token_type_ids)
        if types.shape != ids.shape:
            raise ValueError(f"token_type_ids has shape {types.shape} but input_ids has shape {ids.shape}")
        if types.min() < 0 or types.max() >= cfg.type_vocab_size:
            raise ValueError(f"token_type_ids must lie in [0, {cfg.type_vocab_size}) (type_vocab_size), got "
                             f"values from {types.min()} to {types.max()}")
    return ids, mask, types
