"""AltCLIPModel (refalign.models.altclip) against transformers' AltCLIPModel.

Two checkpoints written by transformers' save_pretrained at test time, random weights with LayerNorms, biases, tokens
and logit_scale moved off their init values:
  * "small": a 2-layer CLIP vision tower and a 2-layer XLM-R, for the many cheap checks;
  * "full":  BAAI/AltCLIP's real dimensions (CLIP ViT-L/14 at 224 + XLM-R-large, 24 + 24 layers, projection 768)
             with the vocabulary of the 32,000-piece unigram test tokenizer, ~2.6 GB; its inputs are that
             tokenizer's ids for real multilingual captions.
Every hidden state of both towers, pooled outputs, embeddings, logits and the loss: float64 vs transformers' float64
sdpa path (<= 1e-9 relative), float32 vs float32 (<= 1e-4).
"""
from __future__ import annotations

import gc
import json
import os
import shutil

import numpy as np
import pytest

from helpers import check_projected_golden, rel_err, to_numpy
from test_vtde_towers import _perturb

import refalign
from refalign.errors import ConfigError
from refalign.loading.hub import resolve_weights

TOL = {"float64": 1e-9, "float32": 1e-4}
# a reduced vocabulary (XLM-R-large has 250,002) keeps the file near 2.5 GB: that of the 32,000-piece unigram fixture
UNIGRAM_FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tokenizer", "unigram")
with open(os.path.join(UNIGRAM_FIXTURE, "tokenizer.json"), encoding="utf-8") as _f:
    FULL_VOCAB = len(json.load(_f)["model"]["vocab"])


def _write(torch, directory, text: dict, vision: dict, projection_dim: int, seed: int) -> str:
    import transformers
    cfg = transformers.AltCLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)
    torch.manual_seed(seed)
    model = transformers.AltCLIPModel(cfg).eval()
    _perturb(torch, model, seed=seed + 1)
    with torch.no_grad():
        model.logit_scale.fill_(2.3)
    model.save_pretrained(str(directory))
    del model
    gc.collect()
    return str(directory)


@pytest.fixture(scope="module")
def small_dir(torch, tmp_path_factory) -> str:
    text = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                project_dim=48, layer_norm_eps=1e-5)
    vision = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=56,
                  patch_size=14)
    return _write(torch, tmp_path_factory.mktemp("altclip-small"), text, vision, 40, seed=50)


@pytest.fixture(scope="module")
def full_dir_altclip(torch, tmp_path_factory) -> str:
    text = dict(vocab_size=FULL_VOCAB)       # every other field: AltCLIPTextConfig's defaults, XLM-R-large
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  patch_size=14, image_size=224)
    d = _write(torch, tmp_path_factory.mktemp("altclip-full"), text, vision, 768, seed=60)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _caption_ids(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Real captions in four languages through the unigram fixture (refalign's tokenizer), padded to the longest."""
    tok = refalign.AutoTokenizer.from_pretrained(UNIGRAM_FIXTURE)
    captions = ["a photo of a cat sleeping on a sofa", "une tasse de café", "一张宇航员的照片", "猫の写真"][:n]
    enc = tok(captions, padding=True)
    assert (enc["attention_mask"] == 0).any()
    return enc["input_ids"], enc["attention_mask"]


def _inputs(dtype: str, vocab: int, image_size: int, n: int = 3):
    if vocab == FULL_VOCAB:
        ids, mask = _caption_ids(n)
        pixels = np.random.default_rng(12).standard_normal((n, 3, image_size, image_size)).astype(dtype)
        return ids, mask, pixels
    rng = np.random.default_rng(12)
    ids = rng.integers(4, vocab - 1, size=(n, 12))
    ids[:, 0], ids[:, -1] = 0, 2                        # <s> ... </s>
    mask = np.ones_like(ids)
    ids[1, 6], ids[1, 7:], mask[1, 7:] = 2, 1, 0        # a shorter caption padded with <pad> = 1
    pixels = rng.standard_normal((n, 3, image_size, image_size)).astype(dtype)
    return ids, mask, pixels


def _check_forward(torch, directory: str, dtype: str, n: int = 3) -> float:
    """Every output of refalign's forward vs transformers' (same inputs); returns the worst relative error."""
    import transformers
    ours = refalign.AutoModel.from_pretrained(directory, dtype=np.dtype(dtype))
    assert type(ours).__name__ == "AltCLIPModel"
    cfg = ours.config
    ids, mask, pixels = _inputs(dtype, cfg.text_config.vocab_size, cfg.vision_config.image_size, n)
    out = ours(input_ids=ids, attention_mask=mask, pixel_values=pixels, return_loss=True, output_hidden_states=True)
    feats_t, feats_i = ours.get_text_features(ids, mask), ours.get_image_features(pixels)
    del ours
    gc.collect()
    theirs = transformers.AltCLIPModel.from_pretrained(directory, attn_implementation="sdpa").eval()
    theirs = theirs.double() if dtype == "float64" else theirs
    t_ids, t_mask, t_px = (torch.from_numpy(a) for a in (ids, mask, pixels))
    with torch.no_grad():
        ref = theirs(input_ids=t_ids, attention_mask=t_mask, pixel_values=t_px, return_loss=True,
                     output_hidden_states=True)
        ref_t = theirs.get_text_features(input_ids=t_ids, attention_mask=t_mask)
        ref_i = theirs.get_image_features(pixel_values=t_px)
    del theirs
    gc.collect()
    tol, worst = TOL[dtype], 0.0

    def check(a, b, what):
        nonlocal worst
        err = rel_err(a, to_numpy(b))
        worst = max(worst, err)
        assert err <= tol, f"{what}: {err:.3g}"

    layers = {"text_model_output": cfg.text_config.num_hidden_layers,
              "vision_model_output": cfg.vision_config.num_hidden_layers}
    for tower in layers:
        a, b = getattr(out, tower), getattr(ref, tower)
        assert len(a.hidden_states) == len(b.hidden_states) == layers[tower] + 1, tower
        for i, (x, y) in enumerate(zip(a.hidden_states, b.hidden_states)):
            check(x, y, f"{tower}.hidden_states[{i}]")
        assert a.last_hidden_state.shape == tuple(b.last_hidden_state.shape), tower
        check(a.last_hidden_state, b.last_hidden_state, f"{tower}.last_hidden_state")
        check(a.pooler_output, b.pooler_output, f"{tower}.pooler_output")
    for field in ("text_embeds", "image_embeds", "logits_per_text", "logits_per_image", "loss"):
        check(getattr(out, field), getattr(ref, field), field)
    check(feats_t, getattr(ref_t, "pooler_output", ref_t), "get_text_features")
    check(feats_i, getattr(ref_i, "pooler_output", ref_i), "get_image_features")
    # the golden workflow: refalign's golden of this forward against transformers' outputs under the golden names
    from refalign.golden import compare
    from refalign.models.projected import tensors_from_outputs
    inputs = {"input_ids": ids, "attention_mask": mask, "pixel_values": pixels}
    golden = tensors_from_outputs(out, None, inputs, np.dtype(dtype))
    n_text, n_vision = (len([k for k in golden if k.startswith(f"{t}.hidden_states.")]) for t in ("text", "vision"))
    assert (n_text, n_vision) == (layers["text_model_output"] + 1, layers["vision_model_output"] + 1)
    result = compare((golden, {"model_type": "altclip", "dtype": dtype}),
                     tensors_from_outputs(ref, None, inputs, np.dtype(dtype)))
    assert result.ok, result.format()
    return worst


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_small_forward_matches_transformers(torch, small_dir, dtype):
    print(f"AltCLIP small, {dtype}: worst relative error {_check_forward(torch, small_dir, dtype):.2e}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_size_forward_matches_transformers(torch, full_dir_altclip, dtype):
    """BAAI/AltCLIP's dimensions, 24 + 24 layers: every hidden state, both dtypes (the float64 models of both
    libraries are never in memory at the same time)."""
    cfg = json.load(open(os.path.join(full_dir_altclip, "config.json")))
    assert cfg["text_config"]["num_hidden_layers"] == cfg["vision_config"]["num_hidden_layers"] == 24
    assert cfg["text_config"]["hidden_size"] == cfg["vision_config"]["hidden_size"] == 1024
    worst = _check_forward(torch, full_dir_altclip, dtype, n=2)
    print(f"AltCLIP full size, {dtype}: worst relative error {worst:.2e}")


def test_text_tower_output_is_the_projected_sequence(small_dir):
    """last_hidden_state is transformation(pre_LN(encoder output)) over every token (project_dim wide), the pooled
    output its <s> row; the hidden states are the encoder's (hidden_size wide)."""
    from refalign.ops import layer_norm, linear
    model = refalign.AutoModel.from_pretrained(small_dir, dtype=np.float64)
    ids, mask, _ = _inputs("float64", 1000, 56)
    out = model.text_model(ids, mask, output_hidden_states=True)
    p = model.params
    want = linear(layer_norm(out.hidden_states[-1], p["text_model.pre_LN.weight"], p["text_model.pre_LN.bias"], 1e-5),
                  p["text_model.transformation.weight"], p["text_model.transformation.bias"])
    assert out.last_hidden_state.shape == (3, 12, 48) and out.hidden_states[0].shape == (3, 12, 64)
    np.testing.assert_array_equal(out.last_hidden_state, want)
    np.testing.assert_array_equal(out.pooler_output, want[:, 0])
    assert out.projection_state is None


def test_both_layer_spellings_load(small_dir, tmp_path):
    """Hub checkpoints name vision layers encoder.layers.N (transformers 5 writes encoder.layer.N for both towers)."""
    from safetensors.numpy import load_file, save_file
    state = load_file(os.path.join(small_dir, "model.safetensors"))
    assert any(".encoder.layer." in k for k in state if k.startswith("vision_model."))
    renamed = {k.replace("vision_model.encoder.layer.", "vision_model.encoder.layers."): v for k, v in state.items()}
    shutil.copytree(small_dir, tmp_path / "hub")
    save_file(renamed, str(tmp_path / "hub" / "model.safetensors"), metadata={"format": "pt"})
    a = refalign.AutoModel.from_pretrained(str(tmp_path / "hub"))
    b = refalign.AutoModel.from_pretrained(small_dir)
    assert set(a.params) == set(b.params) and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_legacy_config_dicts_follow_transformers(torch, small_dir, tmp_path):
    """Old AltCLIP config.json files carry text_config_dict / vision_config_dict: transformers reads them over
    text_config / vision_config, filling what they omit with the section's defaults."""
    import transformers
    d = tmp_path / "legacy"
    shutil.copytree(small_dir, d)
    cfg = json.load(open(d / "config.json"))
    cfg["text_config_dict"] = {k: cfg["text_config"][k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                                    "num_attention_heads", "intermediate_size",
                                                                    "project_dim")}
    cfg["text_config"]["layer_norm_eps"] = 0.25          # overridden by the default 1e-5, as in transformers
    cfg["vision_config_dict"] = dict(cfg["vision_config"], hidden_act="gelu")
    json.dump(cfg, open(d / "config.json", "w"))
    theirs = transformers.AltCLIPConfig.from_pretrained(str(d))
    ours = refalign.AutoConfig.from_pretrained(str(d))
    assert ours.text_config.layer_norm_eps == theirs.text_config.layer_norm_eps == 1e-5
    assert ours.vision_config.hidden_act == theirs.vision_config.hidden_act == "gelu"
    assert ours.text_config.hidden_size == theirs.text_config.hidden_size == 64


def test_config_errors_name_the_key(small_dir, tmp_path):
    d = tmp_path / "bad"
    shutil.copytree(small_dir, d)
    cfg = json.load(open(d / "config.json"))
    cfg["text_config"]["project_dim"] = 0
    json.dump(cfg, open(d / "config.json", "w"))
    with pytest.raises(ConfigError, match="text_config.project_dim"):
        refalign.AutoModel.from_pretrained(str(d))
    cfg["text_config"]["project_dim"] = 32           # the weights say 48
    json.dump(cfg, open(d / "config.json", "w"))
    with pytest.raises(Exception, match="transformation.weight"):
        refalign.AutoModel.from_pretrained(str(d))


# ----------------------------------------------------------------------------------------------- committed goldens
ALTCLIP_GOLDEN_TENSORS = 20   # 3 inputs, 5 + 3 hidden states, the towers' outputs, embeddings, logits, loss


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_refalign_matches_transformers_goldens(dtype):
    """refalign on the bundled tiny AltCLIP against transformers' committed goldens; runs without torch."""
    check_projected_golden("tiny-altclip", dtype, "altclip", ALTCLIP_GOLDEN_TENSORS)


def test_hub_era_pytorch_model_bin_converts_and_loads(torch, small_dir, tmp_path):
    """BAAI/AltCLIP ships only pytorch_model.bin, saved by transformers 4: text layers encoder.layer.N, vision layers
    encoder.layers.N, position_ids buffers. `refalign convert` writes model.safetensors without torch, and the model
    loads with the same weights (and without conversion, straight from the .bin, too)."""
    from safetensors.numpy import load_file
    from refalign.cli import main
    state = load_file(os.path.join(small_dir, "model.safetensors"))
    hub = {k.replace("vision_model.encoder.layer.", "vision_model.encoder.layers."): torch.from_numpy(v)
           for k, v in state.items()}
    hub["text_model.roberta.embeddings.position_ids"] = torch.arange(514)[None]
    hub["vision_model.embeddings.position_ids"] = torch.arange(5)[None]
    d = tmp_path / "hub"
    d.mkdir()
    shutil.copy(os.path.join(small_dir, "config.json"), d / "config.json")
    torch.save(hub, d / "pytorch_model.bin")
    from_bin = refalign.AutoModel.from_pretrained(str(d))
    assert main(["convert", str(d)]) == 0
    assert os.path.isfile(d / "model.safetensors")
    converted = refalign.AutoModel.from_pretrained(str(d / "model.safetensors"))
    reference = refalign.AutoModel.from_pretrained(small_dir)
    for model in (from_bin, converted):
        assert set(model.params) == set(reference.params)
        assert all(np.array_equal(model.params[k], reference.params[k]) for k in reference.params)


# ----------------------------------------------------------------------------------------------- as a user
LABELS = {"en": ["cat", "cup of coffee", "astronaut"], "fr": ["chat", "tasse de café", "astronaute"],
          "zh": ["猫", "一杯咖啡", "宇航员"], "ja": ["猫", "コーヒー", "宇宙飛行士"]}


def test_similarity_matches_transformers_pipeline(torch, photos):
    """refalign.classify on the bundled tiny AltCLIP equals transformers' zero-shot pipeline (AltCLIPModel,
    XLMRobertaTokenizer, CLIPImageProcessorPil) on real photos, with labels in English, French, Chinese, Japanese."""
    import transformers
    from PIL import Image
    d = resolve_weights("tiny-altclip")
    assert type(refalign.AutoProcessor.from_pretrained(d)).__name__ == "AltCLIPProcessor"
    assert type(refalign.AutoTokenizer.from_pretrained(d)).__name__ == "XLMRobertaTokenizer"
    model = transformers.AltCLIPModel.from_pretrained(d).eval()
    pipe = transformers.pipeline("zero-shot-image-classification", model=model,
                                 tokenizer=transformers.XLMRobertaTokenizer.from_pretrained(d),
                                 image_processor=transformers.CLIPImageProcessorPil.from_pretrained(d))
    for language, labels in LABELS.items():
        for name in ("chelsea", "coffee", "astronaut"):
            ref = {r["label"]: r["score"] for r in pipe(Image.open(photos[name]), candidate_labels=labels)}
            ours = {r["label"]: r["score"] for r in refalign.classify(photos[name], labels, model="tiny-altclip")}
            assert set(ours) == set(ref)
            assert max(abs(ours[k] - ref[k]) for k in ref) <= 1e-4, (language, name, ours, ref)


def test_similarity_scores_match_transformers_logits(torch, photos):
    """Captions of unequal length in four languages (AltCLIPProcessor pads nothing by default: refalign pads the
    batch to its longest caption, as transformers needs padding=True for it)."""
    import transformers
    from PIL import Image
    d = resolve_weights("tiny-altclip")
    texts = ["a photo of a cat", "une photo d'un chat", "一张猫的照片", "猫の写真", "a cup of coffee on a table"]
    images = [photos["chelsea"], photos["coffee"]]
    scores = refalign.similarity_scores(images, texts, model="tiny-altclip")
    proc = transformers.AltCLIPProcessor(image_processor=transformers.CLIPImageProcessorPil.from_pretrained(d),
                                         tokenizer=transformers.XLMRobertaTokenizer.from_pretrained(d))
    inputs = proc(text=texts, images=[Image.open(p).convert("RGB") for p in images], padding=True,
                  return_tensors="pt")
    with torch.no_grad():
        ref = transformers.AltCLIPModel.from_pretrained(d).eval()(**inputs).logits_per_image.numpy()
    assert np.abs(scores["logits"] - ref).max() <= 1e-4 * np.abs(ref).max()


def test_the_commands_work_for_altclip(photos, tmp_path, capsys):
    from refalign.cli import main
    assert main(["info", "tiny-altclip"]) == 0
    info = capsys.readouterr().out
    assert "XLM-R 2 layers, hidden 64 -> 48" in info and "CLIP-vision 4 layers" in info, info
    assert "XLMRobertaTokenizer" in info and "CLIPImageProcessor" in info and "result: ok" in info, info
    assert main(["similarity", photos["chelsea"], "a cat", "un chat", "一只猫", "-w", "tiny-altclip", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert abs(sum(s["probability"] for s in doc["scores"]) - 1) < 1e-6 and doc["bundled_tiny"] is True
    out = tmp_path / "g.safetensors"
    assert main(["golden", "--image", photos["chelsea"], photos["coffee"], "--text", "a cat", "une tasse de café",
                 "--out", str(out), "-w", "tiny-altclip", "--dtype", "float64"]) == 0
    from refalign.golden import read_golden
    tensors, meta = read_golden(out)
    assert meta["model_type"] == "altclip" and "loss" in tensors
    assert tensors["text.last_hidden_state"].shape[-1] == 48 and tensors["text.hidden_states.00"].shape[-1] == 64
    assert main(["compare", str(out), str(out)]) == 0
    capsys.readouterr()
    texts = tmp_path / "texts.txt"
    texts.write_text("a cat\nune tasse de café\n一只猫\n", encoding="utf-8")
    emb = tmp_path / "e.npy"
    assert main(["embed", "--texts-file", str(texts), "--out", str(emb), "-w", "tiny-altclip"]) == 0
    model = refalign.AutoModel.from_pretrained("tiny-altclip")
    tok = refalign.AutoTokenizer.from_pretrained("tiny-altclip")
    enc = tok(["a cat", "une tasse de café", "一只猫"], padding=True)
    want = model.get_text_features(enc["input_ids"], enc["attention_mask"])
    got = np.load(emb)                                   # unnormalised features, as get_text_features gives them
    assert got.shape == (3, 40) and np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_processor_defaults_are_altclips(photos):
    """AltCLIPProcessor pads nothing unless asked: equal lengths pass, unequal ones need padding=True (transformers
    returns ragged arrays there; refalign says what to do); max length 512 with truncation; CLIP pixels."""
    proc = refalign.AutoProcessor.from_pretrained("tiny-altclip")
    assert type(proc).__name__ == "AltCLIPProcessor" and proc.tokenizer.model_max_length == 512
    with pytest.raises(ValueError, match="padding"):
        proc(text=["a cat", "une tasse de café sur une table"])
    enc = proc(text=["a cat", "une tasse de café sur une table"], padding=True, images=[photos["chelsea"]])
    assert enc["input_ids"].shape[0] == 2 and (enc["attention_mask"][0] == 0).any()
    assert enc["input_ids"][0, enc["attention_mask"][0] == 0].tolist() == [1] * int((enc["attention_mask"][0] == 0).sum())
    assert enc["pixel_values"].shape == (1, 3, 224, 224) and enc["pixel_values"].dtype == np.float32
    long = proc(text=["chat " * 600], truncation=True)["input_ids"]
    assert long.shape == (1, 512) and long[0, 0] == 0 and long[0, -1] == 2


def test_noise_calibrated_golden_catches_a_small_shift(torch, full_dir_altclip):
    """refalign.noise on BAAI/AltCLIP's dimensions: transformers' float32 outputs pass a float64 golden's
    noise-calibrated budgets; a mid-tower hidden state of either tower off by a relative 3e-5 fails, named."""
    import transformers
    from helpers import noise_calibrated_check
    from refalign.models.projected import tensors_from_outputs
    ids, mask = _caption_ids(2)
    pixels = np.random.default_rng(5).standard_normal((2, 3, 224, 224)).astype(np.float32)
    inputs = {"input_ids": ids, "attention_mask": mask, "pixel_values": pixels}

    def transformers_float32(inputs):
        model = transformers.AltCLIPModel.from_pretrained(full_dir_altclip).eval()
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, return_loss=True,
                        output_hidden_states=True)
        return tensors_from_outputs(out, None, inputs, np.dtype(np.float32))

    figures = noise_calibrated_check(full_dir_altclip, inputs, transformers_float32,
                                     shift=("text.hidden_states.12", "vision.hidden_states.12"))
    print(f"AltCLIP full size: transformers float32 at most {figures['worst_times_noise']:.2f}x refalign's float32 "
          f"noise ({figures['worst_tensor']}), {100 * figures['worst_share']:.0f}% of the budget; a 3e-5 shift is "
          f"{', '.join(f'{v:.0f}x' for v in figures['shift_times_noise'].values())} the noise")
