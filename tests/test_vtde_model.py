"""VisionTextDualEncoderModel (refalign.models.vision_text_dual_encoder) against transformers' model of the same
name: ViT-B/16 + BERT-base and CLIP ViT-B/32 + RoBERTa-base at full size (12 layers per tower, full width), and
DeiT-B/16 + RoBERTa (2 layers each: the distillation token end to end), random weights with LayerNorms, biases, tokens
and logit_scale moved off their init values, written by save_pretrained. Every hidden state of both towers, pooled
outputs, embeddings, logits and the loss: float64 vs transformers' float64 sdpa path (<= 1e-9 relative), float32 vs
float32 (<= 1e-4)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from helpers import check_projected_golden, rel_err, to_numpy
from test_vtde_towers import _perturb

import refalign
from refalign.errors import UnsupportedModelError

TOL = {"float64": 1e-9, "float32": 1e-4}
LAYERS = 2          # the small towers (DeiT pair, the ViT beside real MiniLM)
FULL = 12           # ViT-B/16, CLIP ViT-B/32, BERT-base and RoBERTa-base depth


@pytest.fixture(scope="module")
def vtde_dirs(torch, tmp_path_factory):
    import transformers
    def roberta(layers):
        return transformers.RobertaConfig(num_hidden_layers=layers, max_position_embeddings=514, type_vocab_size=1,
                                          layer_norm_eps=1e-5)
    pairs = {
        "vit-bert": (transformers.ViTConfig(num_hidden_layers=FULL), transformers.BertConfig(num_hidden_layers=FULL)),
        "clip-roberta": (transformers.CLIPVisionConfig(num_hidden_layers=FULL), roberta(FULL)),
        "deit-roberta": (transformers.DeiTConfig(num_hidden_layers=LAYERS), roberta(LAYERS)),
    }
    out = {}
    for i, (name, (vision, text)) in enumerate(pairs.items()):
        cfg = transformers.VisionTextDualEncoderConfig.from_vision_text_configs(vision, text, projection_dim=256)
        torch.manual_seed(20 + i)
        model = transformers.VisionTextDualEncoderModel(config=cfg).eval()
        _perturb(torch, model, seed=30 + i)
        with torch.no_grad():
            model.logit_scale.fill_(2.1)
        d = tmp_path_factory.mktemp(name)
        model.save_pretrained(str(d))
        out[name] = str(d)
    return out


def _inputs(name: str, dtype: str, vocab: int, pad: int):
    rng = np.random.default_rng(11)
    ids = rng.integers(5, vocab, size=(3, 12))
    mask = np.ones_like(ids)
    ids[1, 7:], mask[1, 7:] = pad, 0
    pixels = rng.standard_normal((3, 3, 224, 224)).astype(dtype)
    return ids, mask, pixels


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["vit-bert", "clip-roberta", "deit-roberta"])
def test_forward_matches_transformers(torch, vtde_dirs, name, dtype):
    import transformers
    directory = vtde_dirs[name]
    ours = refalign.AutoModel.from_pretrained(directory, dtype=np.dtype(dtype))
    assert type(ours).__name__ == "VisionTextDualEncoderModel"
    text_cfg = ours.config.text_config
    ids, mask, pixels = _inputs(name, dtype, text_cfg.vocab_size, text_cfg.pad_token_id)
    theirs = transformers.VisionTextDualEncoderModel.from_pretrained(directory, attn_implementation="sdpa").eval()
    theirs = theirs.double() if dtype == "float64" else theirs
    with torch.no_grad():
        ref = theirs(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                     pixel_values=torch.from_numpy(pixels), return_loss=True, output_hidden_states=True)
        ref_text = theirs.get_text_features(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        ref_image = theirs.get_image_features(pixel_values=torch.from_numpy(pixels))
    out = ours(input_ids=ids, attention_mask=mask, pixel_values=pixels, return_loss=True, output_hidden_states=True)
    tol = TOL[dtype]
    depth = {"text_model_output": text_cfg.num_hidden_layers,
             "vision_model_output": ours.config.vision_config.num_hidden_layers}
    assert depth["vision_model_output"] == (LAYERS if name == "deit-roberta" else FULL)
    for tower in ("text_model_output", "vision_model_output"):
        a, b = getattr(out, tower), getattr(ref, tower)
        assert len(a.hidden_states) == len(b.hidden_states) == depth[tower] + 1
        for i, (x, y) in enumerate(zip(a.hidden_states, b.hidden_states)):
            assert rel_err(x, to_numpy(y)) <= tol, f"{tower}.hidden_states[{i}]"
        assert rel_err(a.last_hidden_state, to_numpy(b.last_hidden_state)) <= tol, tower
        assert rel_err(a.pooler_output, to_numpy(b.pooler_output)) <= tol, tower
    for field in ("text_embeds", "image_embeds", "logits_per_text", "logits_per_image", "loss"):
        assert rel_err(getattr(out, field), to_numpy(getattr(ref, field))) <= tol, field
    feats_t = ours.get_text_features(ids, mask)
    feats_i = ours.get_image_features(pixels)
    assert rel_err(feats_t, to_numpy(getattr(ref_text, "pooler_output", ref_text))) <= tol
    assert rel_err(feats_i, to_numpy(getattr(ref_image, "pooler_output", ref_image))) <= tol


def test_golden_names_follow_the_family(vtde_dirs, tmp_path):
    """A golden of a VTDE model holds every hidden state of both towers, the pooled outputs and the heads, and
    compares equal to itself; its model_type is recorded."""
    from refalign.golden import compare, golden_from_model, read_golden, write_golden
    model = refalign.AutoModel.from_pretrained(vtde_dirs["vit-bert"], dtype=np.float64)

    class Direct:   # inputs given directly (the processors come with the tokenizer/image-processor work)
        batch_padding = "longest"

        def __call__(self, text, images, padding):
            ids, mask, pixels = _inputs("vit-bert", "float32", model.config.text_config.vocab_size, 0)
            return {"input_ids": ids[:len(text)], "attention_mask": mask[:len(text)], "pixel_values": pixels[:2]}

    tensors, meta = golden_from_model(model, Direct(), ["a", "b"], ["x", "y"], "float64")
    assert meta["model_type"] == "vision-text-dual-encoder"
    assert len([n for n in tensors if n.startswith("text.hidden_states.")]) == FULL + 1
    assert {"text.pooler_output", "vision.pooler_output", "loss"} <= set(tensors)
    write_golden(tmp_path / "g.safetensors", tensors, {**meta, "producer": "test"})
    golden, gmeta = read_golden(tmp_path / "g.safetensors")
    assert gmeta["model_type"] == "vision-text-dual-encoder"
    assert compare((golden, gmeta), tensors).ok


def test_tower_types_are_checked(vtde_dirs, tmp_path):
    import shutil
    d = tmp_path / "bad"
    shutil.copytree(vtde_dirs["vit-bert"], d)
    cfg = json.load(open(d / "config.json"))
    cfg["text_config"]["model_type"] = "electra"
    json.dump(cfg, open(d / "config.json", "w"))
    want = "text_config.model_type 'electra'.*bert, roberta, xlm-roberta"
    with pytest.raises(UnsupportedModelError, match=want) as e:
        refalign.AutoModel.from_pretrained(str(d))
    assert str(e.value).startswith(os.path.join(str(d), "config.json") + ":")     # names the file
    assert os.path.isfile(d / "model.safetensors")


def test_transformers4_clip_prefix_loads(vtde_dirs, tmp_path):
    """transformers 4 saved the CLIP vision tower under vision_model.vision_model.: the same model loads."""
    import shutil
    from safetensors.numpy import load_file, save_file
    d = tmp_path / "v4"
    shutil.copytree(vtde_dirs["clip-roberta"], d)
    state = load_file(str(d / "model.safetensors"))
    save_file({("vision_model." + k if k.startswith("vision_model.") else k): v for k, v in state.items()},
              str(d / "model.safetensors"), metadata={"format": "pt"})
    a = refalign.AutoModel.from_pretrained(str(d))
    b = refalign.AutoModel.from_pretrained(vtde_dirs["clip-roberta"])
    assert set(a.params) == set(b.params) and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


@pytest.fixture(scope="module")
def minilm_vtde(torch, minilm_dir, tmp_path_factory):
    """A VTDE whose text tower is real pretrained BERT (MiniLM-L6, with its pooler) and a ViT-B/16 vision tower,
    assembled by transformers' from_vision_text_pretrained and saved."""
    import transformers
    torch.manual_seed(40)
    vit = transformers.ViTModel(transformers.ViTConfig(num_hidden_layers=LAYERS)).eval()
    _perturb(torch, vit, seed=41)
    vit_dir = tmp_path_factory.mktemp("vit")
    vit.save_pretrained(str(vit_dir))
    model = transformers.VisionTextDualEncoderModel.from_vision_text_pretrained(str(vit_dir), minilm_dir,
                                                                               projection_dim=128)
    torch.manual_seed(42)
    with torch.no_grad():
        for proj in (model.visual_projection, model.text_projection):
            proj.weight.normal_(0, 0.05)
        model.logit_scale.fill_(1.7)
    d = tmp_path_factory.mktemp("vit-minilm")
    model.eval().save_pretrained(str(d))
    return str(d)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_real_pretrained_text_tower(torch, minilm_vtde, minilm_dir, dtype):
    import transformers
    tok = refalign.AutoTokenizer.from_pretrained(minilm_dir)
    enc = tok(["a photo of a cat", "two dogs playing in the snow", "un gatto"], padding=True)
    pixels = np.random.default_rng(2).standard_normal((2, 3, 224, 224)).astype(dtype)
    ours = refalign.AutoModel.from_pretrained(minilm_vtde, dtype=np.dtype(dtype))
    out = ours(**enc, pixel_values=pixels, output_hidden_states=True)
    theirs = transformers.VisionTextDualEncoderModel.from_pretrained(minilm_vtde, attn_implementation="sdpa").eval()
    theirs = theirs.double() if dtype == "float64" else theirs
    with torch.no_grad():
        ref = theirs(**{k: torch.from_numpy(v) for k, v in enc.items()}, pixel_values=torch.from_numpy(pixels),
                     output_hidden_states=True)
    for i, (x, y) in enumerate(zip(out.text_model_output.hidden_states, ref.text_model_output.hidden_states)):
        assert rel_err(x, to_numpy(y)) <= TOL[dtype], f"text hidden_states[{i}]"
    for field in ("text_embeds", "image_embeds", "logits_per_image"):
        assert rel_err(getattr(out, field), to_numpy(getattr(ref, field))) <= TOL[dtype], field


# ----------------------------------------------------------------------------------------------- as a user
def _hub_folder(checkpoint: str, folder, tokenizer_files: list[str], image_processor) -> str:
    """A copy of a checkpoint with the files a hub repo has besides: tokenizer files, and the image processor's
    settings written by transformers."""
    import shutil
    shutil.copytree(checkpoint, folder, dirs_exist_ok=True)
    for path in tokenizer_files:
        shutil.copy(path, os.path.join(folder, os.path.basename(path)))
    image_processor.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def vit_bert_hub(torch, vtde_dirs, tiny_dir, tmp_path_factory):
    """The ViT + BERT checkpoint with the files a hub repo has: bert-base-uncased's vocab (the bundled tiny
    checkpoint's) and a ViT preprocessor_config.json written by transformers."""
    import transformers
    files = [os.path.join(tiny_dir, name) for name in ("vocab.txt", "tokenizer_config.json")]
    return _hub_folder(vtde_dirs["vit-bert"], tmp_path_factory.mktemp("vit-bert-hub"), files,
                       transformers.ViTImageProcessorPil())


def test_similarity_matches_transformers_pipeline(torch, vit_bert_hub, photos):
    import transformers
    from PIL import Image
    labels = ["cat", "cup of coffee", "astronaut"]
    model = transformers.VisionTextDualEncoderModel.from_pretrained(vit_bert_hub).eval()
    pipe = transformers.pipeline("zero-shot-image-classification", model=model,
                                 tokenizer=transformers.BertTokenizer.from_pretrained(vit_bert_hub),
                                 image_processor=transformers.ViTImageProcessorPil.from_pretrained(vit_bert_hub))
    for name in ("chelsea", "coffee"):
        ref = {r["label"]: r["score"] for r in pipe(Image.open(photos[name]), candidate_labels=labels)}
        ours = {r["label"]: r["score"] for r in refalign.classify(photos[name], labels, model=vit_bert_hub)}
        assert set(ours) == set(ref)
        assert max(abs(ours[k] - ref[k]) for k in ref) <= 1e-4, (ours, ref)


def test_the_commands_work_for_vtde(vit_bert_hub, photos, tmp_path, capsys):
    from refalign.cli import main
    assert type(refalign.AutoProcessor.from_pretrained(vit_bert_hub)).__name__ == "VisionTextDualEncoderProcessor"
    assert main(["info", vit_bert_hub]) == 0
    info = capsys.readouterr().out
    assert "vision: ViT 12 layers, hidden 768, patch 16" in info and "text: Bert 12 layers" in info, info
    assert "ViTImageProcessor" in info and "result: ok" in info
    assert main(["similarity", photos["chelsea"], "a cat", "a dog", "-w", vit_bert_hub, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    probs = [s["probability"] for s in doc["scores"]]
    assert abs(sum(probs) - 1) < 1e-6 and doc["bundled_tiny"] is False
    out = tmp_path / "g.safetensors"
    assert main(["golden", "--image", photos["chelsea"], photos["coffee"], "--text", "a cat", "a cup",
                 "--out", str(out), "-w", vit_bert_hub, "--dtype", "float64"]) == 0
    assert main(["compare", str(out), str(out)]) == 0
    emb = tmp_path / "e.npy"
    assert main(["embed", "--images", photos["chelsea"], photos["coffee"], "--out", str(emb), "-w", vit_bert_hub]) == 0
    m = refalign.AutoModel.from_pretrained(vit_bert_hub)
    proc = refalign.AutoProcessor.from_pretrained(vit_bert_hub)
    want = m.get_image_features(proc(images=[photos["chelsea"], photos["coffee"]])["pixel_values"])
    assert np.abs(np.load(emb) - want).max() <= 1e-6


@pytest.fixture(scope="module")
def clip_roberta_hub(torch, vtde_dirs, tmp_path_factory):
    """The CLIP + RoBERTa checkpoint with a byte-level BPE tokenizer (the committed fixture, trained with `tokenizers`)
    and a CLIP preprocessor_config.json written by transformers."""
    import transformers
    fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tokenizer", "bpe")
    files = [os.path.join(fixture, name) for name in os.listdir(fixture)]
    return _hub_folder(vtde_dirs["clip-roberta"], tmp_path_factory.mktemp("clip-roberta-hub"), files,
                       transformers.CLIPImageProcessorPil())


def test_clip_roberta_similarity_matches_transformers_pipeline(torch, clip_roberta_hub, photos):
    import transformers
    from PIL import Image
    labels = ["chat", "tasse de café", "astronaute"]
    model = transformers.VisionTextDualEncoderModel.from_pretrained(clip_roberta_hub).eval()
    pipe = transformers.pipeline("zero-shot-image-classification", model=model,
                                 tokenizer=transformers.RobertaTokenizer.from_pretrained(clip_roberta_hub),
                                 image_processor=transformers.CLIPImageProcessorPil.from_pretrained(clip_roberta_hub))
    assert type(refalign.AutoTokenizer.from_pretrained(clip_roberta_hub)).__name__ == "RobertaTokenizer"
    for name in ("chelsea", "astronaut"):
        ref = {r["label"]: r["score"] for r in pipe(Image.open(photos[name]), candidate_labels=labels)}
        ours = {r["label"]: r["score"] for r in refalign.classify(photos[name], labels, model=clip_roberta_hub)}
        assert max(abs(ours[k] - ref[k]) for k in ref) <= 1e-4, (ours, ref)


@pytest.mark.parametrize("name", ["vit-bert", "clip-roberta"])
def test_noise_calibrated_golden_catches_a_small_shift(torch, vtde_dirs, name):
    """refalign.noise on the full-size VTDE checkpoints: transformers' float32 outputs pass a float64 golden's
    noise-calibrated budgets; a mid-tower hidden state of either tower off by a relative 3e-5 fails, named first."""
    import transformers
    from helpers import noise_calibrated_check
    from refalign.models.projected import tensors_from_outputs
    text_cfg = refalign.AutoConfig.from_pretrained(vtde_dirs[name]).text_config
    ids, mask, pixels = _inputs(name, "float32", text_cfg.vocab_size, text_cfg.pad_token_id)
    inputs = {"input_ids": ids, "attention_mask": mask, "pixel_values": pixels}

    def transformers_float32(inputs):
        model = transformers.VisionTextDualEncoderModel.from_pretrained(vtde_dirs[name]).eval()
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, return_loss=True,
                        output_hidden_states=True)
        return tensors_from_outputs(out, None, inputs, np.dtype(np.float32))

    figures = noise_calibrated_check(vtde_dirs[name], inputs, transformers_float32,
                                     shift=("text.hidden_states.06", "vision.hidden_states.06"))
    print(f"VTDE {name}: transformers float32 at most {figures['worst_times_noise']:.2f}x refalign's float32 "
          f"noise ({figures['worst_tensor']}), {100 * figures['worst_share']:.0f}% of the budget; a 3e-5 shift is "
          f"{', '.join(f'{v:.0f}x' for v in figures['shift_times_noise'].values())} the noise")


# ----------------------------------------------------------------------------------------------- committed goldens
VTDE_GOLDEN_TENSORS = 20   # 3 inputs, 5 + 3 hidden states, the towers' outputs, embeddings, logits, loss


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_refalign_matches_transformers_goldens(dtype):
    """refalign on the bundled tiny VisionTextDualEncoder (ViT + RoBERTa) against transformers' committed goldens;
    runs without torch."""
    check_projected_golden("tiny-vtde", dtype, "vision-text-dual-encoder", VTDE_GOLDEN_TENSORS)
