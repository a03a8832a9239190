"""config.json -> frozen dataclasses: transformers' code defaults for missing keys, clear errors for bad values."""
from __future__ import annotations

import dataclasses
import json
import warnings

import pytest

from refalign.auto import load_config
from refalign.models.align import AlignConfig
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


# config keys nothing reads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,level,suggestion", [
    ("layer_norm_epsilon", "text_config", "layer_norm_eps"),
    ("hidden_actt", "text_config", "hidden_act"),
    ("Hidden_Size", "text_config", "hidden_size"),
    ("num_hidden_layer", "text_config", "num_hidden_layers"),
    ("batchnorm_eps", "vision_config", "batch_norm_eps"),
    ("kernel_size", "vision_config", "kernel_sizes"),
    ("projection_dimm", "", "projection_dim"),
    ("temperature_init", "", "temperature_init_value"),
    ("frobnicate", "text_config", None),
    ("colour", "", None),
])
def test_unknown_keys_with_suggestions(key, level, suggestion):
    from refalign.auto import unused_config_keys
    data = {"text_config": {}, "vision_config": {}}
    (data[level] if level else data)[key] = 1
    dotted = f"{level}.{key}" if level else key
    assert unused_config_keys(data) == [(dotted, suggestion)]


def test_transformers_keys_are_not_suspicious():
    """Keys transformers 5.23 writes, and the 4.x attributes old hub configs (align-base's) carry, are known."""
    from refalign.auto import transformers_only_config_keys, unused_config_keys
    legacy = {"_name_or_path": "", "_commit_hash": None, "add_cross_attention": False, "bad_words_ids": None,
              "chunk_size_feed_forward": 0, "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0},
              "is_decoder": False, "num_beams": 1, "pruned_heads": {}, "tie_word_embeddings": True,
              "torch_dtype": "float32", "torchscript": False, "use_bfloat16": False, "use_cache": True,
              "transformers_version": "4.27.0.dev0", "temperature": 1.0, "return_dict": True}
    data = {**legacy, "architectures": ["AlignModel"], "initializer_range": 0.02, "projection_dim": 640,
            "text_config": {**legacy, "position_embedding_type": "absolute", "hidden_dropout_prob": 0.1,
                            "pad_token_id": 0, "bos_token_id": None, "model_type": "align_text_model"},
            "vision_config": {**legacy, "drop_connect_rate": 0.2, "batch_norm_momentum": 0.99,
                              "num_hidden_layers": 64, "image_size": 289}}
    assert unused_config_keys(data) == []
    known = transformers_only_config_keys(data)
    assert "text_config.position_embedding_type" in known and "vision_config.num_hidden_layers" in known
    assert "torch_dtype" in known and "text_config.pad_token_id" not in known   # pad_token_id is read
    assert "projection_dim" not in known and "vision_config.image_size" not in known
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AlignConfig.from_dict(data)


def test_every_transformers_config_key_is_known(torch):
    """Every field of transformers' PreTrainedConfig / Align*Config and every generation default (which
    PreTrainedConfig drops) is either read by refalign or known to be unused: none is reported as a misspelling."""
    import transformers
    from transformers.generation.configuration_utils import GenerationConfig
    from refalign.auto import unused_config_keys
    common = {f.name for f in dataclasses.fields(transformers.PreTrainedConfig)}
    common |= set(GenerationConfig._get_default_generation_params()) | {"model_type", "torch_dtype"}

    def keys(cls):
        return {k: None for k in common | {f.name for f in dataclasses.fields(cls)} - {"text_config", "vision_config"}}
    data = {**keys(transformers.AlignConfig), "text_config": keys(transformers.AlignTextConfig),
            "vision_config": keys(transformers.AlignVisionConfig)}
    assert unused_config_keys(data) == []
    saved = transformers.AlignConfig().to_dict()          # and whatever its to_dict writes
    assert unused_config_keys(saved) == []


def test_from_dict_warns_once_and_keeps_the_keys():
    from refalign.auto import unused_config_keys
    data = {"projection_dimm": 512, "text_config": {"layer_norm_epsilon": 1e-5, "hidden_size": 768}}
    with pytest.warns(UserWarning) as rec:
        cfg = AlignConfig.from_dict(data, source="x/config.json")
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert msg.startswith("x/config.json: unknown keys ")
    assert "'projection_dimm' (did you mean 'projection_dim'?)" in msg
    assert "'text_config.layer_norm_epsilon' (did you mean 'layer_norm_eps'?)" in msg
    assert cfg.unknown_keys == tuple(unused_config_keys(data))
    assert cfg.projection_dim == 640 and cfg.text_config.layer_norm_eps == 1e-12   # ignored, as before
    assert cfg == AlignConfig.from_dict({"text_config": {"hidden_size": 768}})       # not part of equality
    assert "unknown_keys" not in cfg.to_dict() and "unknown_keys" not in repr(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert AlignConfig.from_dict(data, warn=False).unknown_keys == cfg.unknown_keys


def test_unknown_keys_in_odd_configs():
    from refalign.auto import transformers_only_config_keys, unused_config_keys
    assert unused_config_keys([1, 2]) == [] and transformers_only_config_keys("x") == []
    assert unused_config_keys({"text_config": None, "vision_config": [1], "projektion_dim": 3}) == \
        [("projektion_dim", "projection_dim")]
