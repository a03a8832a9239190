"""refalign.loading.hub: finding weights offline (paths, bundled tiny, Hugging Face cache, env), and fetch's messages."""
from __future__ import annotations

import json
import os
import shutil
import sys
import types

import pytest

from refalign.auto import load_checkpoint
from refalign.loading import hub
from refalign.errors import RefalignError, WeightsNotFoundError

HF_VARS = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "REFALIGN_WEIGHTS")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Hugging Face / refalign variables, HOME in tmp_path, and a source checkout (pyproject.toml, weights/)
    without weights/align-base."""
    for var in HF_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    os.makedirs(tmp_path / "repo" / "weights")
    (tmp_path / "repo" / "pyproject.toml").write_text("[project]\nname = 'refalign'\n")
    monkeypatch.setattr(hub, "REPO_DIR", str(tmp_path / "repo"))
    return tmp_path


def fake_snapshot(cache, repo_id, rev, tiny_dir, with_ref=True, files=None):
    """A Hugging Face cache entry like huggingface_hub leaves it (blobs + symlinked snapshot)."""
    root = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    snap = os.path.join(root, "snapshots", rev)
    os.makedirs(snap)
    os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
    for name in files or ("config.json", "model.safetensors", "vocab.txt"):
        blob = os.path.join(root, "blobs", f"{rev}-{name}")
        shutil.copy(os.path.join(tiny_dir, name), blob)
        os.symlink(blob, os.path.join(snap, name))
    if with_ref:
        os.makedirs(os.path.join(root, "refs"), exist_ok=True)
        with open(os.path.join(root, "refs", "main"), "w") as f:
            f.write(rev + "\n")
    return snap


def test_existing_paths_are_themselves(clean_env, tiny_dir):
    assert hub.resolve_weights(tiny_dir) == tiny_dir
    file = os.path.join(tiny_dir, "model.safetensors")
    assert hub.resolve_weights(file) == file


def test_tiny_from_repo_and_from_package_data(clean_env, monkeypatch, tiny_dir, tmp_path):
    monkeypatch.setattr(hub, "REPO_DIR", os.path.dirname(os.path.dirname(tiny_dir)))
    monkeypatch.setattr(hub, "PACKAGE_DIR", str(tmp_path / "site-packages" / "refalign"))
    assert os.path.samefile(hub.resolve_weights("tiny"), tiny_dir)
    # after a non-editable install: <package>/_tiny comes first
    packaged = str(tmp_path / "site-packages" / "refalign" / "_tiny")
    shutil.copytree(tiny_dir, packaged)
    monkeypatch.setattr(hub, "REPO_DIR", str(tmp_path / "nowhere"))
    assert hub.resolve_weights("tiny") == packaged
    assert hub.is_bundled_tiny(packaged)


def test_tiny_missing_says_where_it_looked(clean_env, monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "PACKAGE_DIR", str(tmp_path / "pkg"))
    with pytest.raises(WeightsNotFoundError, match="_tiny") as e:
        hub.resolve_weights("tiny")
    assert os.path.join(str(tmp_path / "repo"), "weights", "tiny") in str(e.value)


@pytest.mark.parametrize("layout", ["HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"])
def test_hf_cache_layouts(clean_env, monkeypatch, tiny_dir, layout):
    tmp = clean_env
    cache = {"HF_HUB_CACHE": tmp / "hubcache", "HF_HOME": tmp / "hfhome" / "hub",
             "XDG_CACHE_HOME": tmp / "xdg" / "huggingface" / "hub",
             "HOME": tmp / "home" / ".cache" / "huggingface" / "hub"}[layout]
    if layout != "HOME":
        monkeypatch.setenv(layout, str({"HF_HUB_CACHE": cache, "HF_HOME": tmp / "hfhome",
                                        "XDG_CACHE_HOME": tmp / "xdg"}[layout]))
    snap = fake_snapshot(str(cache), "kakaobrain/align-base", "a" * 40, tiny_dir)
    assert hub.resolve_weights("kakaobrain/align-base") == snap
    assert hub.resolve_weights() == snap  # the default falls back to the cache
    cfg, state = load_checkpoint(hub.resolve_weights("kakaobrain/align-base"))  # symlinked files load
    assert state


def test_hf_cache_refs_main_and_newest_snapshot(clean_env, monkeypatch, tiny_dir):
    cache = str(clean_env / "hubcache")
    monkeypatch.setenv("HF_HUB_CACHE", cache)
    old = fake_snapshot(cache, "org/model", "1" * 40, tiny_dir)
    new = fake_snapshot(cache, "org/model", "2" * 40, tiny_dir, with_ref=False)
    os.utime(old, (1_000_000, 1_000_000))
    assert hub.resolve_weights("org/model") == old  # refs/main names the old one
    os.remove(os.path.join(cache, "models--org--model", "refs", "main"))
    assert hub.resolve_weights("org/model") == new  # without refs/main: the newest snapshot


def test_hf_cache_incomplete_snapshot(clean_env, monkeypatch, tiny_dir):
    cache = str(clean_env / "hubcache")
    monkeypatch.setenv("HF_HUB_CACHE", cache)
    snap = fake_snapshot(cache, "org/model", "3" * 40, tiny_dir, files=("config.json", "vocab.txt"))
    with pytest.raises(WeightsNotFoundError, match="needs config.json") as e:
        hub.resolve_weights("org/model")
    assert snap in str(e.value)
    with pytest.raises(WeightsNotFoundError, match="models--org--other"):
        hub.resolve_weights("org/other")


def test_refalign_weights_env(clean_env, monkeypatch, tiny_dir):
    copy = str(clean_env / "mine")
    shutil.copytree(tiny_dir, copy)
    monkeypatch.setenv("REFALIGN_WEIGHTS", copy)
    assert hub.resolve_weights() == copy
    monkeypatch.setenv("REFALIGN_WEIGHTS", str(clean_env / "typo"))
    with pytest.raises(WeightsNotFoundError, match="REFALIGN_WEIGHTS=.*typo"):
        hub.resolve_weights()


def test_default_local_folder(clean_env, tiny_dir):
    local = os.path.join(hub.REPO_DIR, "weights", "align-base")
    shutil.copytree(tiny_dir, local)
    assert hub.resolve_weights() == local


def test_not_found_message(clean_env):
    with pytest.raises(WeightsNotFoundError) as e:
        hub.resolve_weights()
    msg = str(e.value)
    for needle in ("REFALIGN_WEIGHTS", os.path.join(hub.REPO_DIR, "weights", "align-base"),
                   os.path.join(str(clean_env), "home", ".cache", "huggingface", "hub",
                                "models--kakaobrain--align-base"),
                   "refalign fetch", "pytorch_model.bin", "refalign convert", "model='tiny'", "coloured shapes only"):
        assert needle in msg, needle
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(WeightsNotFoundError, match="no checkpoint named 'no-such-thing'"):
        hub.resolve_weights("no-such-thing")


def test_is_bundled_tiny(tiny_dir, tmp_path):
    assert hub.is_bundled_tiny(tiny_dir)
    assert hub.is_bundled_tiny(os.path.join(tiny_dir, "model.safetensors"))
    copy = str(tmp_path / "copy")
    shutil.copytree(tiny_dir, copy)
    assert hub.is_bundled_tiny(copy)
    with open(os.path.join(copy, "model.safetensors"), "r+b") as f:  # same size, different weights
        f.seek(-4, os.SEEK_END)
        f.write(b"\x01\x02\x03\x04")
    assert not hub.is_bundled_tiny(copy)
    assert not hub.is_bundled_tiny(str(tmp_path))


@pytest.mark.parametrize("name,family", [("tiny", "ALIGN"), ("tiny-altclip", "AltCLIP"),
                                         ("tiny-vtde", "VisionTextDualEncoder")])
def test_every_bundled_tiny_is_named_and_explained(name, family, tmp_path):
    """Each bundled name resolves offline, is recognised (also as a copy) and gets its own note: trained on the
    shapes task only, and where the family's real weights come from."""
    folder = hub.resolve_weights(name)
    assert hub.bundled_tiny_name(folder) == name
    copy = str(tmp_path / "copy")
    shutil.copytree(folder, copy)
    assert hub.bundled_tiny_name(copy) == name
    note = hub.bundled_tiny_note(copy)
    assert note.startswith(f"note: the bundled tiny {family}") and "coloured shape" in note and "--weights" in note
    with open(os.path.join(folder, "MADE_BY.json"), encoding="utf-8") as f:
        made_by = json.load(f)
    assert made_by["tool"] == "tools/train_tiny.py" and made_by["kind"] == name
    assert min(made_by["evaluation_refalign"]["accuracy"].values()) >= 0.9


def test_fetch_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import now raises ImportError
    with pytest.raises(RefalignError) as e:
        hub.fetch()
    msg = str(e.value)
    for needle in ("pip install huggingface_hub", "kakaobrain/align-base", "config.json", "vocab.txt",
                   "model.safetensors", "pytorch_model.bin", "preprocessor_config.json", "tokenizer_config.json"):
        assert needle in msg, needle


def test_fetch_converts_a_bin_only_repo(torch, monkeypatch, tiny_dir, tmp_path):
    """A stand-in huggingface_hub serving align-base as it first was (pytorch_model.bin only); no network."""
    from safetensors.torch import load_file
    calls = []

    def snapshot_download(repo_id, allow_patterns, local_dir=None):
        calls.append((repo_id, list(allow_patterns), local_dir))
        os.makedirs(local_dir, exist_ok=True)
        for name in ("config.json", "vocab.txt", "tokenizer_config.json", "preprocessor_config.json"):
            shutil.copy(os.path.join(tiny_dir, name), local_dir)
        if "pytorch_model.bin" in allow_patterns:
            torch.save(load_file(os.path.join(tiny_dir, "model.safetensors")),
                       os.path.join(local_dir, "pytorch_model.bin"))
        return local_dir

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    dest = str(tmp_path / "align-base")
    assert hub.fetch("kakaobrain/align-base", dest) == dest
    assert "model.safetensors" in calls[0][1] and "pytorch_model.bin" not in calls[0][1]
    assert "pytorch_model.bin" in calls[1][1] and len(calls) == 2
    assert all(c[0] == "kakaobrain/align-base" and c[2] == dest for c in calls)
    assert os.path.isfile(os.path.join(dest, "model.safetensors"))
    _, state = load_checkpoint(dest)
    _, ref = load_checkpoint(tiny_dir)
    assert set(state) == set(ref) and all((state[k] == ref[k]).all() for k in ref)


def test_hints_for_an_installed_copy_name_no_checkout_files(monkeypatch, tmp_path):
    """A pip-installed refalign has no weights/ folder: the hint must not send the user to one."""
    import refalign.loading.hub as hub
    monkeypatch.setattr(hub, "REPO_DIR", str(tmp_path / "site-packages"))
    assert hub._checkout_weights_dir() is None
    msg = hub._how_to_get()
    assert "weights/align-base" not in msg and "REFALIGN_WEIGHTS" in msg and "refalign fetch" in msg
    monkeypatch.delenv("REFALIGN_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(hub.WeightsNotFoundError) as e:
        hub.resolve_weights(None)
    assert "weights/align-base" not in str(e.value)
