"""config.json -> frozen dataclasses: transformers' code defaults for missing keys, clear errors for bad values."""
from __future__ import annotations

import dataclasses
import json

import pytest

from refalign.config import AlignConfig, load_config
from refalign.errors import ConfigError


def test_code_defaults_match_transformers(torch):
    """Missing keys take the defaults of transformers' config *classes* (not their docstrings)."""
    from transformers import AlignTextConfig as TText, AlignVisionConfig as TVision
    ours = AlignConfig.from_dict({})
    tt, tv = TText(), TVision()
    for f in dataclasses.fields(ours.text_config):
        assert getattr(ours.text_config, f.name) == getattr(tt, f.name), f.name
    for f in dataclasses.fields(ours.vision_config):
        want = getattr(tv, f.name)
        want = tuple(want) if isinstance(want, list) else want
        assert getattr(ours.vision_config, f.name) == want, f.name
    assert ours.vision_config.hidden_dim == 2560 and ours.vision_config.image_size == 600
    assert ours.projection_dim == 640


def test_checkpoint_config_reads_every_value(tiny_dir):
    cfg = load_config(tiny_dir)
    raw = json.load(open(f"{tiny_dir}/config.json"))
    assert cfg.projection_dim == raw["projection_dim"]
    assert cfg.text_config.hidden_size == raw["text_config"]["hidden_size"]
    assert list(cfg.vision_config.num_block_repeats) == raw["vision_config"]["num_block_repeats"]
    assert cfg.vision_config.num_hidden_layers == raw["vision_config"]["num_hidden_layers"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.projection_dim = 3


def test_align_base_block_count():
    cfg = AlignConfig.from_dict({"vision_config": {"image_size": 289, "hidden_dim": 640}})
    assert cfg.vision_config.num_hidden_layers == 55


@pytest.mark.parametrize("patch,key", [
    ({"text_config": {"hidden_size": "big"}}, "text_config.hidden_size"),
    ({"text_config": {"num_attention_heads": 5}}, "text_config.num_attention_heads"),
    ({"text_config": {"hidden_act": "wiggle"}}, "text_config.hidden_act"),
    ({"vision_config": {"strides": [1, 2, 3, 2, 1, 2, 1]}}, "vision_config.strides"),
    ({"vision_config": {"kernel_sizes": [3, 3]}}, "vision_config.kernel_sizes"),
    ({"vision_config": {"batch_norm_eps": "tiny"}}, "vision_config.batch_norm_eps"),
    ({"vision_config": {"pooling_type": "median"}}, "vision_config.pooling_type"),
    ({"projection_dim": -1}, "projection_dim"),
    ({"vision_config": [1, 2]}, "vision_config"),
])
def test_invalid_values_name_file_and_key(tmp_path, tiny_dir, patch, key):
    raw = json.load(open(f"{tiny_dir}/config.json"))
    for k, v in patch.items():
        if isinstance(v, dict):
            raw[k].update(v)
        else:
            raw[k] = v
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    assert str(path) in str(e.value) and key in str(e.value)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "", "\xff\xfe"])
def test_malformed_json(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match="config.json"):
        load_config(tmp_path)


def test_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        load_config(tmp_path)
