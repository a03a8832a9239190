"""Finding a checkpoint on disk (never over the network), and `fetch`, the one function that downloads.

Hugging Face cache layout (as huggingface_hub writes it):
  <cache>/models--<org>--<name>/refs/main          the commit hash the 'main' branch pointed at
  <cache>/models--<org>--<name>/snapshots/<hash>/  the files of that commit (symlinks into ../blobs)
"""
from __future__ import annotations

import hashlib
import os
import re

from ..errors import RefalignError, WeightsNotFoundError

DEFAULT_REPO = "kakaobrain/align-base"
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # refalign/
REPO_DIR = os.path.dirname(PACKAGE_DIR)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
NEEDED_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "preprocessor_config.json")   # align-base's
# every settings file any family's tokenizer or processor may read (a repo has some of them; fetch asks for all)
SETTINGS_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "vocab.txt",
                  "vocab.json", "merges.txt", "sentencepiece.bpe.model", "preprocessor_config.json",
                  "processor_config.json")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# The bundled tiny checkpoints: name -> (package-data folder inside refalign/, the repository's weights/ folder).
# pyproject.toml ships each weights/<folder> as refalign/<package folder>, so the names resolve after `pip install .`
BUNDLED = {
    "tiny": ("_tiny", "tiny"),                          # ALIGN
    "tiny-altclip": ("_tiny_altclip", "tiny-altclip"),  # AltCLIP
    "tiny-vtde": ("_tiny_vtde", "tiny-vtde"),           # VisionTextDualEncoder (ViT + RoBERTa)
}
# What each bundled checkpoint is, for the note every command prints when it runs on one: they are trained by
# tools/train_tiny.py on one task only (tools/shapes.py), and where the real weights of the family come from.
SHAPES_TASK = ("trained only on pictures of one coloured shape (red, green, blue or yellow circle, square or "
               "triangle; tools/shapes.py), so its scores mean something for captions like 'a red circle' and "
               "nothing for real photos")
BUNDLED_NOTES = {
    "tiny": f"the bundled tiny ALIGN, {SHAPES_TASK}. Get kakaobrain/align-base with `refalign fetch` "
            "(needs huggingface_hub) or pass --weights DIR.",
    "tiny-altclip": f"the bundled tiny AltCLIP, {SHAPES_TASK}; its captions may be English, French or Chinese "
                    "('un cercle rouge', '一个红色的圆'). Get BAAI/AltCLIP with `refalign fetch BAAI/AltCLIP` or pass "
                    "--weights DIR.",
    "tiny-vtde": f"the bundled tiny VisionTextDualEncoder (ViT + RoBERTa), {SHAPES_TASK}. Pass --weights DIR for a "
                 "trained VisionTextDualEncoder checkpoint.",
}


def _bundled_candidates(name: str) -> list[str]:
    # the package-data copy (non-editable installs) first, then the repository's folder
    package_dir, weights_dir = BUNDLED[name]
    return [os.path.join(PACKAGE_DIR, package_dir), os.path.join(REPO_DIR, "weights", weights_dir)]




def _is_checkpoint_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json")) and \
        any(os.path.isfile(os.path.join(path, w)) for w in WEIGHT_FILES)


def hf_cache_dir() -> str:
    """HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub (XDG_CACHE_HOME respected)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.path.expanduser(os.environ[var])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "huggingface", "hub")


def hf_snapshot(repo_id: str) -> tuple[str | None, str]:
    """(snapshot folder or None, where it looked) for a hub repo in the local cache: refs/main's commit, or the
    newest snapshot when refs/main is absent."""
    root = os.path.join(hf_cache_dir(), "models--" + repo_id.replace("/", "--"))
    snapshots = os.path.join(root, "snapshots")
    ref = os.path.join(root, "refs", "main")
    if os.path.isfile(ref):
        with open(ref, encoding="utf-8") as f:
            rev = f.read().strip()
        path = os.path.join(snapshots, rev)
        return (path if os.path.isdir(path) else None), path
    if os.path.isdir(snapshots):
        revs = [os.path.join(snapshots, r) for r in os.listdir(snapshots)]
        revs = [r for r in revs if os.path.isdir(r)]
        if revs:
            return max(revs, key=os.path.getmtime), snapshots
    return None, snapshots


def _from_hf_cache(repo_id: str, looked: list[str]) -> str | None:
    snap, where = hf_snapshot(repo_id)
    if snap is None:
        looked.append(f"Hugging Face cache: {where} (absent)")
        return None
    if not _is_checkpoint_dir(snap):
        looked.append(f"Hugging Face cache: {snap} (needs config.json and one of {', '.join(WEIGHT_FILES)})")
        return None
    return snap


def _checkout_weights_dir() -> str | None:
    """<repository>/weights/align-base when refalign runs from a source checkout (an editable install); None for
    an installed copy in site-packages, which has no weights folder."""
    if os.path.isfile(os.path.join(REPO_DIR, "pyproject.toml")) and os.path.isdir(os.path.join(REPO_DIR, "weights")):
        return os.path.join(REPO_DIR, "weights", "align-base")
    return None


def _how_to_get() -> str:
    local = _checkout_weights_dir()
    into = f"{local} (or into any folder" if local else "a folder (any folder"
    return (f"Get the weights with `refalign fetch` (downloads {DEFAULT_REPO} into the Hugging Face cache; needs "
            f"huggingface_hub), or download {', '.join(NEEDED_FILES)} and model.safetensors (or pytorch_model.bin, "
            f"then `refalign convert DIR`) from https://huggingface.co/{DEFAULT_REPO} into {into}, and set "
            f"REFALIGN_WEIGHTS to it or pass --weights). model='tiny' runs the bundled tiny checkpoint (trained on "
            f"coloured shapes only: not real embeddings).")


def resolve_weights(name_or_path=None) -> str:
    """A checkpoint directory (or the file the caller named), found on disk only:
    an existing path; a bundled tiny checkpoint's name ("tiny", "tiny-altclip", "tiny-vtde"); "org/name" from the
    Hugging Face cache;
    None: $REFALIGN_WEIGHTS, then <repo>/weights/align-base (in a source checkout), then kakaobrain/align-base in
    the cache."""
    if name_or_path is None:
        return _resolve_default()
    name = os.fspath(name_or_path)
    if os.path.exists(name):
        return name
    looked: list[str] = [f"path: {os.path.abspath(name)} (absent)"]
    if name in BUNDLED:
        for cand in _bundled_candidates(name):
            if _is_checkpoint_dir(cand):
                return cand
            looked.append(f"bundled {name} checkpoint: {cand} (absent)")
    elif _REPO_ID.match(name):
        found = _from_hf_cache(name, looked)
        if found:
            return found
    raise WeightsNotFoundError(f"no checkpoint named {name!r}. Looked in:\n  " + "\n  ".join(looked)
                               + "\n" + _how_to_get())


def _resolve_default() -> str:
    env = os.environ.get("REFALIGN_WEIGHTS")
    if env:
        try:
            return resolve_weights(env)
        except WeightsNotFoundError as e:
            raise WeightsNotFoundError(f"REFALIGN_WEIGHTS={env!r} does not lead to a checkpoint: {e}") from None
    looked = ["REFALIGN_WEIGHTS (not set)"]
    local = _checkout_weights_dir()
    if local and _is_checkpoint_dir(local):
        return local
    if local:
        looked.append(f"{local} (absent or incomplete: needs config.json and weights)")
    found = _from_hf_cache(DEFAULT_REPO, looked)
    if found:
        return found
    raise WeightsNotFoundError("no ALIGN weights found. Looked in:\n  " + "\n  ".join(looked) + "\n" + _how_to_get())


def _weights_digest(folder: str) -> str | None:
    path = os.path.join(folder, "model.safetensors")
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def bundled_tiny_name(path) -> str | None:
    """Which bundled tiny checkpoint `path` (a folder or a file in it) is -- "tiny", "tiny-altclip", "tiny-vtde" --
    also for a copy of one (same model.safetensors); None for any other checkpoint."""
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        folder = os.path.dirname(os.path.abspath(folder))
    bundled = [(name, c) for name in BUNDLED for c in _bundled_candidates(name) if _is_checkpoint_dir(c)]
    for name, c in bundled:
        if os.path.realpath(folder) == os.path.realpath(c):
            return name
    weights = os.path.join(folder, "model.safetensors")
    size = os.path.getsize(weights) if os.path.isfile(weights) else -1
    digest = None
    for name, c in bundled:  # a copy: compare the (few MB) weights file, only when the sizes already agree
        if os.path.getsize(os.path.join(c, "model.safetensors")) != size:
            continue
        digest = digest or _weights_digest(folder)   # hashed once, however many candidates share its size
        if digest == _weights_digest(c):
            return name
    return None


def is_bundled_tiny(path) -> bool:
    """True when `path` is one of the bundled tiny checkpoints, or a copy of one."""
    return bundled_tiny_name(path) is not None


def bundled_tiny_note(path) -> str | None:
    """The one-line note commands print when they run on a bundled tiny checkpoint (None for any other)."""
    name = bundled_tiny_name(path)
    return None if name is None else f"note: {BUNDLED_NOTES[name]}"


def fetch(repo_id: str = DEFAULT_REPO, dest=None) -> str:
    """Download a checkpoint from the Hugging Face hub (the only networked function in refalign).
    Into the Hugging Face cache unless `dest` is given; a .bin-only repo is converted to model.safetensors."""
    try:
        import huggingface_hub
    except ImportError:
        raise RefalignError(
            f"fetching {repo_id} needs huggingface_hub: pip install huggingface_hub. Or download "
            f"{', '.join(NEEDED_FILES)} and model.safetensors (or pytorch_model.bin) from "
            f"https://huggingface.co/{repo_id}/tree/main into a folder and pass it with --weights (or set "
            f"REFALIGN_WEIGHTS).") from None
    from .checkpoint import SAFETENSORS, SAFETENSORS_INDEX
    from .torch_pickle import convert_to_safetensors

    kwargs = {"repo_id": repo_id}
    if dest is not None:
        kwargs["local_dir"] = os.fspath(dest)
    base = list(SETTINGS_FILES)
    try:
        folder = huggingface_hub.snapshot_download(
            allow_patterns=base + [SAFETENSORS, SAFETENSORS_INDEX, "model-*.safetensors"], **kwargs)
        if not any(os.path.isfile(os.path.join(folder, f)) for f in (SAFETENSORS, SAFETENSORS_INDEX)):
            folder = huggingface_hub.snapshot_download(allow_patterns=base + ["pytorch_model.bin"], **kwargs)
    except Exception as e:
        raise RefalignError(f"downloading {repo_id} failed: {type(e).__name__}: {e}") from None
    if not os.path.isfile(os.path.join(folder, SAFETENSORS)) and os.path.isfile(
            os.path.join(folder, "pytorch_model.bin")):
        convert_to_safetensors(folder)
    if not _is_checkpoint_dir(folder):
        raise RefalignError(f"{repo_id}: the download in {folder} lacks config.json or weights")
    return folder
