"""refalign.auto: the one dispatch table (family from config.json, tokenizer, image processor), the Auto classes,
and the on-disk key-name variants accepted in one place (refalign.loading.key_variants)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import refalign
from refalign import AutoImageProcessor, AutoModel, AutoProcessor, AutoTokenizer
from refalign.cli import main
from refalign.errors import CheckpointError, ConfigError, UnsupportedModelError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAT = os.path.join(ROOT, "refalign", "assets", "chelsea.jpg")


@pytest.fixture
def ckpt(tiny_dir, tmp_path):
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_dir, d)
    return d


def _edit_json(path, change):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    change(data)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)


@pytest.mark.parametrize("name,family,tokenizer,image_processor", [
    ("tiny", "Align", "BertTokenizer", "EfficientNetImageProcessor"),
    ("tiny-altclip", "AltCLIP", "XLMRobertaTokenizer", "CLIPImageProcessor"),
    ("tiny-vtde", "VisionTextDualEncoder", "RobertaTokenizer", "ViTImageProcessor")])
def test_every_family_class_is_importable_from_the_package(name, family, tokenizer, image_processor):
    """`from refalign import AltCLIPModel` etc., like transformers: the Auto classes pick exactly these."""
    for suffix, auto in (("Model", AutoModel), ("Processor", AutoProcessor), ("Config", refalign.AutoConfig)):
        assert type(auto.from_pretrained(name)) is getattr(refalign, family + suffix)
        assert family + suffix in refalign.__all__ and family + suffix in dir(refalign)
    assert type(AutoTokenizer.from_pretrained(name)) is getattr(refalign, tokenizer)
    assert type(AutoImageProcessor.from_pretrained(name)) is getattr(refalign, image_processor)


def test_auto_classes_pick_align_for_tiny(tiny_dir):
    model = AutoModel.from_pretrained("tiny")
    assert type(model) is refalign.AlignModel and model.dtype == np.float32
    assert AutoModel.from_pretrained(tiny_dir, dtype=np.float64).dtype == np.float64
    proc = AutoProcessor.from_pretrained("tiny")
    assert type(proc) is refalign.AlignProcessor and proc.default_max_length == 64
    assert type(AutoTokenizer.from_pretrained("tiny")) is refalign.BertTokenizer
    assert type(AutoImageProcessor.from_pretrained("tiny")) is refalign.EfficientNetImageProcessor
    assert type(refalign.AutoConfig.from_pretrained("tiny")) is refalign.AlignConfig
    out = model(**proc(text=["a cat"], images=[CAT], return_tensors="np"))
    assert out.logits_per_image.shape == (1, 1)


def test_auto_tokenizer_is_callable_like_transformers(tiny_dir):
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    enc = tok(["a photo of a cat", "a dog"], padding=True, truncation=True, max_length=16)
    assert set(enc) >= {"input_ids", "attention_mask"} and all(isinstance(v, np.ndarray) for v in enc.values())
    assert enc["input_ids"].shape == (2, 7) and enc["attention_mask"][1].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert tok(["a cat"], padding="max_length", max_length=10)["input_ids"].shape == (1, 10)


def test_an_unsupported_model_type_is_one_clear_error(ckpt, capsys):
    _edit_json(ckpt / "config.json", lambda c: c.update(model_type="blip"))
    for load in (AutoModel.from_pretrained, AutoProcessor.from_pretrained, refalign.AutoConfig.from_pretrained):
        with pytest.raises(UnsupportedModelError,
                           match=r"'blip' is not supported by refalign \(supported: align, altclip, vision-text-dual-encoder\)"):
            load(str(ckpt))
    with pytest.raises(ConfigError, match="'blip'"):                    # the family class names the mismatch too
        refalign.AlignModel.from_pretrained(str(ckpt))
    for argv in (["info", str(ckpt)], ["similarity", CAT, "a cat", "-w", str(ckpt)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "blip" in err and "supported: align, altclip, vision-text-dual-encoder" in err, err
        assert "Traceback" not in err


def test_nested_model_types_are_checked(ckpt):
    _edit_json(ckpt / "config.json", lambda c: c["text_config"].update(model_type="roberta"))
    with pytest.raises(UnsupportedModelError, match="text_config.model_type 'roberta'.*align_text_model"):
        AutoModel.from_pretrained(str(ckpt))


def test_a_config_without_model_type_is_refused_by_auto_but_read_by_the_family(ckpt):
    _edit_json(ckpt / "config.json", lambda c: c.pop("model_type"))
    with pytest.raises(ConfigError, match="no 'model_type'.*supported: align, altclip, vision-text-dual-encoder"):
        AutoModel.from_pretrained(str(ckpt))
    assert type(refalign.AlignModel.from_pretrained(str(ckpt))) is refalign.AlignModel


def test_tokenizer_and_image_processor_choice(ckpt):
    _edit_json(ckpt / "tokenizer_config.json", lambda c: c.update(tokenizer_class="GPT2Tokenizer"))
    with pytest.raises(UnsupportedModelError, match="tokenizer_class 'GPT2Tokenizer'.*BertTokenizer"):
        AutoTokenizer.from_pretrained(str(ckpt))
    _edit_json(ckpt / "tokenizer_config.json", lambda c: c.pop("tokenizer_class"))
    assert type(AutoTokenizer.from_pretrained(str(ckpt))) is refalign.BertTokenizer      # from vocab.txt
    _edit_json(ckpt / "preprocessor_config.json", lambda c: c.update(image_processor_type="BlipImageProcessor"))
    with pytest.raises(UnsupportedModelError, match="'BlipImageProcessor'.*EfficientNetImageProcessor"):
        AutoImageProcessor.from_pretrained(str(ckpt))
    # the legacy key: "XFeatureExtractor" names "XImageProcessor"
    legacy = {"feature_extractor_type": "EfficientNetFeatureExtractor"}
    _edit_json(ckpt / "preprocessor_config.json", lambda c: (c.pop("image_processor_type"), c.update(legacy)))
    assert type(AutoImageProcessor.from_pretrained(str(ckpt))) is refalign.EfficientNetImageProcessor
    os.remove(ckpt / "preprocessor_config.json")                                         # the family's default
    assert type(AutoImageProcessor.from_pretrained(str(ckpt))) is refalign.EfficientNetImageProcessor


# ----------------------------------------------------------------------------------------------- key variants
def _rewrite_keys(ckpt, rename):
    from safetensors.numpy import load_file, save_file
    state = load_file(str(ckpt / "model.safetensors"))
    save_file({rename(k): v for k, v in state.items()}, str(ckpt / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize("variant", ["layers", "doubled_prefix", "gamma_beta", "all"])
def test_on_disk_key_variants_load_the_same_model(ckpt, tiny_dir, variant):
    def rename(k: str) -> str:
        if variant in ("layers", "all"):
            k = k.replace("text_model.encoder.layer.", "text_model.encoder.layers.")
        if variant in ("doubled_prefix", "all") and k.startswith("vision_model."):
            k = "vision_model." + k
        if variant in ("gamma_beta", "all"):
            k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        return k
    _rewrite_keys(ckpt, rename)
    ref = refalign.AlignModel.from_pretrained(tiny_dir)
    got = refalign.AlignModel.from_pretrained(str(ckpt))
    assert set(got.params) == set(ref.params)
    for name in ref.params:
        np.testing.assert_array_equal(got.params[name], ref.params[name])
    assert refalign.similarity(CAT, ["a cat", "a dog"], model=str(ckpt)).tolist() == \
        refalign.similarity(CAT, ["a cat", "a dog"], model=tiny_dir).tolist()


def test_variants_keep_the_strict_report(ckpt):
    """A variant that is also misshaped, and a name no rule explains, are still reported by name."""
    from safetensors.numpy import load_file, save_file
    state = load_file(str(ckpt / "model.safetensors"))
    key = "text_model.encoder.layer.0.output.LayerNorm.weight"
    state["text_model.encoder.layer.0.output.LayerNorm.gamma"] = np.ones(5, np.float32)   # wrong shape
    del state[key]
    state["text_model.encoder.layer.0.output.LayerNorm.scale"] = np.ones(5, np.float32)   # no rule: unexpected
    save_file(state, str(ckpt / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as e:
        refalign.AlignModel.from_pretrained(str(ckpt))
    msg = str(e.value)
    assert f"misshaped: {key}" in msg and "unexpected: text_model.encoder.layer.0.output.LayerNorm.scale" in msg


def test_legacy_position_ids_buffers_are_ignored(ckpt):
    from safetensors.numpy import load_file, save_file
    state = load_file(str(ckpt / "model.safetensors"))
    state["text_model.embeddings.position_ids"] = np.arange(512, dtype=np.int64)[None]
    save_file(state, str(ckpt / "model.safetensors"), metadata={"format": "pt"})
    assert "text_model.embeddings.position_ids" not in refalign.AlignModel.from_pretrained(str(ckpt)).params


def test_variant_rules():
    from refalign.loading.key_variants import canonical_names, on_disk_variants
    variants = on_disk_variants("text_model.encoder.layer.3.output.LayerNorm.weight")
    want = {f"{pre}encoder.{layer}.3.output.LayerNorm.{w}" for pre in ("text_model.", "text_model.text_model.")
            for layer in ("layer", "layers") for w in ("weight", "gamma")}
    assert set(variants) == want - {"text_model.encoder.layer.3.output.LayerNorm.weight"} and len(variants) == 7
    a = np.zeros(1)
    assert canonical_names({"x.LayerNorm.gamma": a}, {"x.LayerNorm.weight"}) == {"x.LayerNorm.weight": a}
    both = {"x.LayerNorm.gamma": a, "x.LayerNorm.weight": a}          # the wanted name is there: nothing renamed
    assert canonical_names(both, {"x.LayerNorm.weight"}) is both


# ----------------------------------------------------------------------------------------------- the house
def test_imports_flow_one_way():
    """Maths and towers never import models, auto or the user-facing modules; loading, tokenizers and image
    processors know nothing of towers or models; only towers import the Numba kernels and threads."""
    import ast
    pkg = os.path.join(ROOT, "refalign")
    layer = {"ops": 0, "fast": 0, "layers": 1, "loading": 1, "tokenizers": 1, "image_processors": 1, "outputs": 0,
             "errors": 0, "fileio": 0, "memory": 0, "towers": 2, "processing": 2, "models": 3, "auto": 4, "api": 5, "golden": 5,
             "validate": 5, "embed_job": 7, "cli": 7}
    problems = []
    for dirpath, _, files in os.walk(pkg):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, pkg).replace(os.sep, "/")
            top = rel.split("/")[0].removesuffix(".py")
            if top not in layer:
                continue
            tree = ast.parse(open(path, encoding="utf-8").read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    parts = rel.split("/")[:-1]
                    base = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                    target = "/".join(base + (node.module.split(".") if node.module else []))
                    target_top = (target.split("/")[0] if target else (node.names[0].name)).removesuffix(".py")
                    if target_top == "fast" and top not in ("towers", "fast", "ops"):
                        problems.append(f"{rel} imports the kernels/threads ({target})")
                    if target_top in layer and layer[target_top] > layer[top] and target_top != top:
                        problems.append(f"{rel} imports {target_top} (a higher layer)")
    assert not problems, problems


def test_no_torch_in_a_fresh_import():
    r = subprocess.run([sys.executable, "-c", "import sys, refalign; refalign.AutoModel.from_pretrained('tiny'); "
                        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
