"""The VisionTextDualEncoder towers against transformers, tower by tower: ViT, DeiT and CLIP-vision
(refalign.towers.vit / clip_vision vs ViTModel, DeiTModel, CLIPVisionModel at full width: ViT-B/16, DeiT-B/16,
CLIP ViT-B/32 at 224) and RoBERTa's position-id rule (refalign.towers.bert.RobertaConfig vs RobertaModel at
roberta-base's shape), two layers each, random weights with every LayerNorm, bias, class token and position
embedding moved off its init value, written by save_pretrained and read back through refalign's loader. float64
against transformers' float64 sdpa path (<= 1e-9 relative), float32 against float32 (<= 1e-4)."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import rel_err, to_numpy
from refalign.errors import CheckpointError
from refalign.loading.checkpoint import load_state_dict
from refalign.towers.clip_vision import CLIPVisionConfig, clip_vision_forward
from refalign.towers.vit import ViTConfig, vit_forward

TOL = {"float64": 1e-9, "float32": 1e-4}
LAYERS = 2


def _perturb(torch, model, seed: int) -> None:
    """Every parameter off its init: weights N(0, 0.02) (+1 for norm scales), biases and tokens N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=p.dtype)
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias") or "token" in name or "embedding" in name:
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.02 * noise)


@pytest.fixture(scope="module")
def written(torch, tmp_path_factory):
    """{kind: (directory, transformers config)} for kind in vit, deit, clip (saved in float32)."""
    import transformers
    out = {}
    kinds = {
        "vit": (transformers.ViTModel, transformers.ViTConfig(num_hidden_layers=LAYERS, layer_norm_eps=1e-6,
                                                              hidden_act="gelu")),
        "deit": (transformers.DeiTModel, transformers.DeiTConfig(num_hidden_layers=LAYERS)),
        "clip": (transformers.CLIPVisionModel, transformers.CLIPVisionConfig(num_hidden_layers=LAYERS)),
    }
    for i, (kind, (cls, cfg)) in enumerate(kinds.items()):
        torch.manual_seed(i)
        model = cls(cfg).eval()
        _perturb(torch, model, seed=10 + i)
        d = tmp_path_factory.mktemp(kind)
        model.save_pretrained(str(d))
        out[kind] = (str(d), cfg)
    return out


def _reference(torch, kind, directory, dtype, pixels):
    import transformers
    cls = {"vit": transformers.ViTModel, "deit": transformers.DeiTModel,
           "clip": transformers.CLIPVisionModel}[kind]
    model = cls.from_pretrained(directory, attn_implementation="sdpa").eval()
    model = model.double() if dtype == "float64" else model
    with torch.no_grad():
        return model(pixel_values=torch.from_numpy(pixels), output_hidden_states=True)


def _config(kind, cfg):
    fields = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
              "layer_norm_eps", "image_size", "patch_size", "num_channels")
    values = {f: getattr(cfg, f) for f in fields}
    if kind == "clip":
        return CLIPVisionConfig(**values)
    return ViTConfig(**values, qkv_bias=cfg.qkv_bias)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["vit", "deit", "clip"])
def test_tower_matches_transformers(torch, written, kind, dtype):
    directory, hf_cfg = written[kind]
    pixels = np.random.default_rng(3).standard_normal((2, 3, 224, 224)).astype(dtype)
    params = load_state_dict(directory, dtype=np.dtype(dtype))
    cfg = _config(kind, hf_cfg)
    forward = clip_vision_forward if kind == "clip" else vit_forward
    ours = forward(params, cfg, pixels, prefix="", output_hidden_states=True)
    ref = _reference(torch, kind, directory, dtype, pixels)
    tol = TOL[dtype]
    assert len(ours.hidden_states) == len(ref.hidden_states) == LAYERS + 1
    for i, (a, b) in enumerate(zip(ours.hidden_states, ref.hidden_states)):
        assert a.dtype == np.dtype(dtype)
        assert rel_err(a, to_numpy(b)) <= tol, f"hidden_states[{i}]: {rel_err(a, to_numpy(b)):.3g}"
    assert rel_err(ours.last_hidden_state, to_numpy(ref.last_hidden_state)) <= tol
    assert rel_err(ours.pooler_output, to_numpy(ref.pooler_output)) <= tol
    if kind == "deit":
        assert ours.last_hidden_state.shape[1] == 14 * 14 + 2          # class + distillation tokens


def test_tower_refuses_wrong_inputs(written, torch):
    directory, hf_cfg = written["vit"]
    params = load_state_dict(directory)
    cfg = _config("vit", hf_cfg)
    with pytest.raises(ValueError, match="224x224"):
        vit_forward(params, cfg, np.zeros((1, 3, 160, 160), np.float32), prefix="")
    with pytest.raises(ValueError, match=r"\[batch, 3, height, width\]"):
        vit_forward(params, cfg, np.zeros((1, 1, 224, 224), np.float32), prefix="")
    broken = {k: v for k, v in params.items() if k != "encoder.layer.1.layernorm_after.bias"}
    with pytest.raises(CheckpointError, match="encoder.layer.1.layernorm_after.bias"):
        vit_forward(broken, cfg, np.zeros((1, 3, 224, 224), np.float32), prefix="")


def test_patch_embedding_is_the_convolution(torch):
    """One 2-D product over flattened patches equals torch's conv2d with kernel = stride, exactly in float64."""
    from refalign.layers.patch_embedding import patch_embed
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 37, 41))                   # sizes that do not divide: the remainder is dropped
    w, b = rng.standard_normal((5, 3, 8, 8)), rng.standard_normal(5)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=8)
    ref = ref.flatten(2).transpose(1, 2).numpy()              # [B, D, h, w] -> [B, N, D]
    assert rel_err(patch_embed(x, w, b), ref) <= 1e-14


# ----------------------------------------------------------------------------------------------- RoBERTa
@pytest.fixture(scope="module")
def roberta_dir(torch, tmp_path_factory):
    """roberta-base's shape (its config.json values: 514 positions, type_vocab_size 1, eps 1e-5), two layers."""
    import transformers
    cfg = transformers.RobertaConfig(num_hidden_layers=LAYERS, max_position_embeddings=514, type_vocab_size=1,
                                     layer_norm_eps=1e-5)
    torch.manual_seed(7)
    model = transformers.RobertaModel(cfg).eval()
    _perturb(torch, model, seed=17)
    d = tmp_path_factory.mktemp("roberta")
    model.save_pretrained(str(d))
    return str(d), cfg


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_roberta_tower_matches_transformers(torch, roberta_dir, dtype):
    """Padded batch: position ids count from pad + 1 over real tokens (RoBERTa's rule), padding at pad_token_id."""
    import transformers
    from refalign.towers.bert import RobertaConfig, bert_forward, position_ids
    directory, hf = roberta_dir
    ids = np.random.default_rng(5).integers(3, hf.vocab_size, size=(3, 20))
    ids[:, 0] = 0                                                  # <s>
    mask = np.ones_like(ids)
    for row, n in ((1, 13), (2, 4)):
        ids[row, n:], mask[row, n:] = hf.pad_token_id, 0
    params = load_state_dict(directory, dtype=np.dtype(dtype))
    cfg = RobertaConfig(**{k: getattr(hf, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                        "num_attention_heads", "intermediate_size", "hidden_act",
                                                        "max_position_embeddings", "type_vocab_size",
                                                        "layer_norm_eps", "pad_token_id")})
    assert position_ids(cfg, ids)[2].tolist() == [2, 3, 4, 5] + [1] * 16
    ours = bert_forward(params, cfg, ids, mask, prefix="", output_hidden_states=True)
    model = transformers.RobertaModel.from_pretrained(directory, attn_implementation="sdpa").eval()
    model = model.double() if dtype == "float64" else model
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), output_hidden_states=True)
    for i, (a, b) in enumerate(zip(ours.hidden_states, ref.hidden_states)):    # padded positions included
        assert rel_err(a, to_numpy(b)) <= TOL[dtype], f"hidden_states[{i}]"
    assert rel_err(ours.pooler_output, to_numpy(ref.pooler_output)) <= TOL[dtype]
