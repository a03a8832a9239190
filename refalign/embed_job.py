"""`refalign embed`: embed many images (or many texts) into one file, resumably.

Output formats (chosen by the suffix of --out):

- ``OUT.npy``: the embeddings [N, D] (float32 or float64, the compute dtype), written with numpy.save; next to it
  ``OUT.names.txt`` (``emb.npy`` -> ``emb.names.txt``, UTF-8) holds one input name per line in row order: the image
  path as given or as resolved from a folder or list file, or the text itself. Inputs skipped with --skip-bad are
  listed, one per line, in ``OUT.skipped.txt`` (only written when something was skipped).
- ``OUT.safetensors``: one tensor ``embeddings`` [N, D]; the file's ``__metadata__`` holds "names" and "skipped"
  (JSON lists of strings), "skipped_reasons" (JSON list, parallel to "skipped"), "kind" ("image" or "text"),
  "weights" (the checkpoint path), "normalized" ("true"/"false"), "dtype" and "refalign_version".

The rows are exactly what the model's get_image_features / get_text_features return for each batch (the same calls
as refalign.embed_images / embed_texts with normalize=False), or those rows L2-normalised with --normalize. Every
output file is written atomically (a temporary file in the same folder, then a rename) with the usual permissions.

Resuming: while the job runs, each finished batch is saved in ``OUT.partial/`` as ``batch-NNNNNN.npy`` (the raw
features of the batch's good inputs; a ``batch-NNNNNN.skipped.json`` beside it names inputs skipped as bad), after a
``manifest.json`` recording the kind, the number and sha256 of the ordered input names, the batch size, the weights
path, the dtype, the normalize flag and the refalign version. When a run stops (Ctrl-C, a crash, a bad image without
--skip-bad), running the same command again continues after the last saved batch and writes a file identical to
that of an uninterrupted run; on success the folder is removed. A partial folder whose manifest does not match the
new command is refused (delete it, or pass --overwrite to discard it). --overwrite also allows replacing an
existing output; a partial folder that does match is resumed either way.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .errors import ImageLoadError, RefalignError
from .fileio import atomic_output

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
OUTPUT_SUFFIXES = (".npy", ".safetensors")
DEFAULT_BATCH_SIZE = {"image": 8, "text": 32}
PARTIAL_FORMAT = "refalign-embed-partial/1"
MANIFEST_NAME = "manifest.json"


@dataclasses.dataclass
class EmbedResult:
    """What embed_to_file wrote."""
    out: str
    kind: str                          # "image" or "text"
    shape: tuple[int, int]             # [rows, dimension]
    names_file: str | None             # OUT.names.txt for .npy outputs, None for .safetensors (names in metadata)
    skipped: list[tuple[str, str]]     # (name, reason) of the inputs skipped with skip_bad
    skipped_file: str | None           # OUT.skipped.txt when a .npy run skipped inputs
    weights: str                       # model.source
    normalized: bool
    resumed_from: int                  # inputs already done in OUT.partial when the run started


# ----------------------------------------------------------------------------------------------------- inputs


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _raise(e: OSError) -> None:
    raise e


def folder_images(folder: str, recursive: bool = False) -> list[str]:
    """The image files of `folder` (by extension, case-insensitive, hidden files excluded), sorted by name;
    with `recursive`, those of its subfolders too, sorted by relative path."""
    found: list[str] = []
    if recursive:
        for root, dirs, files in os.walk(folder, onerror=_raise):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [os.path.relpath(os.path.join(root, f), folder) for f in files if _is_image_name(f)]
    else:
        found = [f for f in os.listdir(folder) if _is_image_name(f) and os.path.isfile(os.path.join(folder, f))]
    found.sort(key=lambda rel: rel.split(os.sep))
    return [os.path.join(folder, rel) for rel in found]


def expand_images(paths: Sequence[str | os.PathLike], recursive: bool = False) -> list[str]:
    """Image paths in order: folders replaced by their image files, anything else kept as given (a missing file
    stays, to be reported as a bad input). A folder without image files is an error naming it."""
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if not os.path.isdir(p):
            out.append(p)
            continue
        try:
            files = folder_images(p, recursive)
        except OSError as e:
            raise RefalignError(f"cannot list image folder {e.filename or p}: {e.strerror or e}") from None
        if not files:
            hint = "" if recursive else " (--recursive also looks in subfolders)"
            raise RefalignError(f"image folder {p} has no image files ({' '.join(IMAGE_EXTENSIONS)}){hint}")
        out += files
    return out


def _read_text(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise RefalignError(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError as e:
        raise RefalignError(f"{what} {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_image_list(path: str) -> list[str]:
    """Paths from a list file ('-' = standard input): one per line, surrounding whitespace, blank lines and lines
    starting with '#' ignored; relative paths are taken relative to the list file's folder."""
    base = "" if path == "-" else os.path.dirname(path)
    entries = []
    for line in _read_text(path, "image list").split("\n"):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            entries.append(os.path.join(base, entry))   # join keeps an absolute entry as it is
    if not entries:
        raise RefalignError(f"image list {path} has no paths (blank lines and '#' comments are ignored)")
    return entries


def read_texts(path: str) -> list[str]:
    """The texts of a UTF-8 file ('-' = standard input): one per line, line end stripped, blank lines skipped."""
    lines = [line.rstrip("\r") for line in _read_text(path, "texts file").split("\n")]
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise RefalignError(f"texts file {path} has no texts (blank lines are skipped)")
    return texts


# ----------------------------------------------------------------------------------------------------- helpers


def side_files(out: str) -> dict[str, str]:
    """The files that go with OUT: names list, skipped list (.npy outputs) and the partial-results folder."""
    stem = os.path.splitext(out)[0]
    return {"names": stem + ".names.txt", "skipped": stem + ".skipped.txt", "partial": out + ".partial"}


def _check_out(out: str) -> str:
    suffix = os.path.splitext(out)[1]
    if suffix.lower() not in OUTPUT_SUFFIXES:
        raise RefalignError(f"--out {out}: unknown suffix {suffix or '(none)'!r}; use .npy (with a .names.txt "
                            f"beside it) or .safetensors")
    if os.path.isdir(out):
        raise RefalignError(f"--out {out} is a folder; give a file name ending in {suffix}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--out {out}: folder {folder} does not exist")
    return suffix.lower()


def _batches(n: int, batch_size: int) -> list[range]:
    return [range(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def _batch_file(partial: str, k: int, ext: str = ".npy") -> str:
    return os.path.join(partial, f"batch-{k:06d}{ext}")


def _write_json(path: str, doc: dict) -> None:
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def _write_npy(path: str, array: NDArray) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)   # a file object: np.save would append ".npy" to a temporary name


def _write_lines(path: str, lines: Sequence[str]) -> None:
    # surrogateescape: undecodable file names come back out as the bytes they were
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


def _manifest(kind: str, names: Sequence[str], batch_size: int, weights: str, dtype: str, normalize: bool) -> dict:
    from . import __version__
    digest = hashlib.sha256(json.dumps(list(names), ensure_ascii=True).encode("ascii")).hexdigest()
    return {"format": PARTIAL_FORMAT, "kind": kind, "count": len(names), "inputs_sha256": digest,
            "batch_size": batch_size, "weights": os.path.realpath(weights), "dtype": dtype, "normalize": normalize,
            "refalign_version": __version__}


def _manifest_differences(old: dict, new: dict) -> list[str]:
    labels = {"format": "format", "kind": "input kind", "count": "number of inputs", "batch_size": "batch size",
              "weights": "weights", "dtype": "dtype", "normalize": "normalize flag",
              "refalign_version": "refalign version"}
    diffs = [f"{label} {old.get(key)!r} then, {new[key]!r} now" for key, label in labels.items()
             if old.get(key) != new[key]]
    if old.get("count") == new["count"] and old.get("inputs_sha256") != new["inputs_sha256"]:
        diffs.append("other inputs or another order")
    return diffs


def _read_manifest(partial: str) -> dict | None:
    try:
        with open(os.path.join(partial, MANIFEST_NAME), encoding="utf-8") as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def _done_batches(partial: str, n_batches: int) -> int:
    """How many leading batches have a saved .npy (batches are saved in order, so they form a prefix)."""
    k = 0
    while k < n_batches and os.path.isfile(_batch_file(partial, k)):
        k += 1
    return k


def _read_skipped(partial: str, k: int) -> list[tuple[int, str]]:
    path = _batch_file(partial, k, ".skipped.json")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [(int(i), str(reason)) for i, reason in json.load(f)["skipped"]]


class _BadImage(Exception):
    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index


def _load_images(names: Sequence[str], indices: range, skip_bad: bool, warn) -> tuple[list, list]:
    """Decode a batch's images up front, so that a bad one is caught by name: (good images, skipped
    [(index, reason)]). Without skip_bad the first bad image raises _BadImage."""
    from .image_processors import load_image
    good, skipped = [], []
    for i in indices:
        try:
            good.append(load_image(names[i]))
        except (ImageLoadError, FileNotFoundError, ValueError, OSError) as e:
            reason = str(e) if names[i] in str(e) else f"{names[i]}: {e}"
            if not skip_bad:
                raise _BadImage(i, reason) from e
            skipped.append((i, reason))
            warn(f"refalign: warning: skipping bad image {reason}")
    return good, skipped


def embed_batch(kind: str, model, items: list) -> NDArray:
    """Raw features [len(items), D] of one batch: refalign.api's own per-batch calls (processor, then
    get_image_features / get_text_features, NaN check), with the whole list as one batch."""
    from .api import embed_images, embed_texts
    fn = embed_images if kind == "image" else embed_texts
    return fn(items, batch_size=len(items), model=model, normalize=False, progress=False)


def _progress_bar(total: int, initial: int, kind: str, progress: bool | None):
    from tqdm.auto import tqdm
    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, initial=initial, desc=f"embedding {kind}s", unit=kind, file=sys.stderr,
                disable=not show)


# ----------------------------------------------------------------------------------------------------- the job


def _inputs(images, texts, recursive: bool) -> tuple[str, list[str]]:
    """(kind, input names) from embed_to_file's arguments: exactly one kind, not empty."""
    if (images is None) == (texts is None):
        raise RefalignError("give either images or texts to embed (one kind per run)" if images is None else
                            "give images or texts, not both (one kind per output file)")
    if images is not None:
        kind, names = "image", expand_images([images] if isinstance(images, (str, os.PathLike)) else images,
                                             recursive)
    else:
        kind, names = "text", [texts] if isinstance(texts, str) else list(texts)
        for i, t in enumerate(names):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be a string, got {type(t).__name__}")
    if not names:
        raise RefalignError(f"no {kind}s to embed")
    return kind, names


def _resume_point(partial: str, manifest: dict, n_batches: int, overwrite: bool) -> tuple[int, bool]:
    """(batches already done, whether the partial folder must be discarded) for an existing or absent folder."""
    if not os.path.lexists(partial):
        return 0, False
    old = _read_manifest(partial) if os.path.isdir(partial) else None
    diffs = ["an unreadable manifest"] if old is None else _manifest_differences(old, manifest)
    if diffs and not overwrite:
        raise RefalignError(f"{partial} holds partial results of a different run ({'; '.join(diffs)}): delete "
                            f"that folder, or pass --overwrite to discard it")
    return (0, True) if diffs else (_done_batches(partial, n_batches), False)


def _run_batches(kind: str, model, names: list[str], batches: list[range], done: int, partial: str,
                 skip_bad: bool, progress: bool | None) -> None:
    """Embed batches done.. and save each one in `partial` (a bad image raises ImageLoadError unless skip_bad)."""
    n_done = batches[done - 1].stop if done else 0
    with _progress_bar(len(names), n_done, kind, progress) as bar:
        try:
            for k in range(done, len(batches)):
                idx = batches[k]
                if kind == "image":
                    try:
                        items, bad = _load_images(names, idx, skip_bad, lambda m: bar.write(m, file=sys.stderr))
                    except _BadImage as e:
                        raise ImageLoadError(f"{e} (input {e.index + 1} of {len(names)}; {n_done} done, kept in "
                                             f"{partial}: replace the file and re-run, or re-run with --skip-bad "
                                             "to skip it)") from None
                else:
                    bad, items = [], [names[i] for i in idx]
                feats = embed_batch(kind, model, items) if items else np.zeros((0, 0), dtype=model.dtype)
                if bad:   # recorded before the .npy, whose presence marks the batch as done
                    _write_json(_batch_file(partial, k, ".skipped.json"), {"skipped": [list(b) for b in bad]})
                _write_npy(_batch_file(partial, k), feats)
                n_done = idx.stop
                bar.update(len(idx))
        except KeyboardInterrupt:
            bar.close()
            print(f"refalign: interrupted after {n_done} of {len(names)} {kind}s; the finished batches are kept in "
                  f"{partial}: run the same command again to resume", file=sys.stderr)
            raise


def _assemble(partial: str, batches: list[range], dtype) -> tuple[NDArray, list[tuple[int, str]]]:
    """All saved batches' rows, concatenated, and the skipped (index, reason) pairs."""
    parts, skipped = [], []
    for k, idx in enumerate(batches):
        path = _batch_file(partial, k)
        try:
            rows = np.load(path)
        except (OSError, ValueError) as e:
            raise RefalignError(f"{path}: unreadable ({e}); delete {partial} and run again") from None
        bad = _read_skipped(partial, k)
        expected = len(idx) - len(bad)
        if rows.shape[0] != expected or (expected and (rows.ndim != 2 or rows.dtype != dtype)):
            raise RefalignError(f"{path} holds {rows.shape} {rows.dtype}, expected {expected} rows of {dtype}: "
                                f"delete {partial} and run again")
        if expected:
            parts.append(rows)
        skipped += bad
    if not parts:
        raise RefalignError(f"all {batches[-1].stop} inputs were skipped as bad; nothing to write")
    return np.ascontiguousarray(np.concatenate(parts)), skipped


def _write_outputs(out: str, emb: NDArray, kept: list[str], skipped: list[tuple[str, str]], kind: str,
                   model, normalize: bool) -> tuple[str | None, str | None]:
    """Write OUT (+ names and skipped lists for .npy), each atomically; (names file, skipped file)."""
    if out.lower().endswith(".npy"):
        side = side_files(out)
        _write_lines(side["names"], kept)
        if skipped:
            _write_lines(side["skipped"], [n for n, _ in skipped])
        elif os.path.exists(side["skipped"]):   # left by an earlier run of this output, now stale
            os.remove(side["skipped"])
        _write_npy(out, emb)   # last: its presence marks a complete output
        return side["names"], (side["skipped"] if skipped else None)
    from safetensors.numpy import save_file

    from . import __version__
    meta = {"names": json.dumps(kept), "kind": kind, "weights": model.source,
            "normalized": "true" if normalize else "false", "dtype": str(model.dtype),
            "refalign_version": __version__, "skipped": json.dumps([n for n, _ in skipped]),
            "skipped_reasons": json.dumps([r for _, r in skipped])}
    with atomic_output(out) as tmp:
        save_file({"embeddings": emb}, tmp, metadata=meta)
    return None, None


def embed_to_file(out: str | os.PathLike, *, images: Sequence[str | os.PathLike] | None = None,
                  texts: Sequence[str] | None = None, recursive: bool = False, weights=None,
                  dtype: str = "float32", normalize: bool = False, batch_size: int | None = None,
                  overwrite: bool = False, skip_bad: bool = False, progress: bool | None = None) -> EmbedResult:
    """Embed `images` (files or folders of images) or `texts` into `out` (.npy + .names.txt, or .safetensors),
    resumably (see the module docstring). Messages (resuming, skipped inputs, the progress bar) go to stderr."""
    out = os.fspath(out)
    suffix = _check_out(out)
    kind, names = _inputs(images, texts, recursive)
    if batch_size is None:
        batch_size = DEFAULT_BATCH_SIZE[kind]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RefalignError(f"--batch-size must be a positive integer, got {batch_size!r}")
    if dtype not in ("float32", "float64"):
        raise RefalignError(f"--dtype must be float32 or float64, got {dtype!r}")
    if suffix == ".npy":
        for i, name in enumerate(names):
            if "\n" in name or "\r" in name:
                raise RefalignError(f"{kind} {i + 1} ({name!r}) contains a line break, which {out}'s .names.txt "
                                    "cannot hold: write a .safetensors file instead")
    if os.path.exists(out) and not overwrite:
        raise RefalignError(f"{out} already exists: pass --overwrite to replace it")

    from .loading.hub import resolve_weights
    weights_path = resolve_weights(weights)
    partial = side_files(out)["partial"]
    batches = _batches(len(names), batch_size)
    manifest = _manifest(kind, names, batch_size, weights_path, dtype, normalize)
    done, discard = _resume_point(partial, manifest, len(batches), overwrite)
    skipped_before = [s for k in range(done) for s in _read_skipped(partial, k)]
    if skipped_before and not skip_bad:
        raise RefalignError(f"{partial} holds results of a --skip-bad run that skipped {len(skipped_before)} "
                            f"input(s) (first: {names[skipped_before[0][0]]}): pass --skip-bad again, or "
                            "--overwrite to start over")
    if kind == "image" and not skip_bad:   # fail before any work rather than at the missing file's batch
        for i in range(batches[done].start if done < len(batches) else len(names), len(names)):
            if not os.path.exists(names[i]):
                raise FileNotFoundError(f"image file not found: {names[i]} (input {i + 1} of {len(names)}; "
                                        "--skip-bad skips missing and unreadable images)")

    from .api import load
    model, _ = load(weights_path, dtype)
    if discard and os.path.isdir(partial):
        shutil.rmtree(partial)
    elif discard:
        os.remove(partial)
    resumed_from = batches[done - 1].stop if done else 0
    if done:
        print(f"resuming: {resumed_from} of {len(names)} done ({done} of {len(batches)} batches saved in "
              f"{partial})", file=sys.stderr)
    else:
        os.makedirs(partial, exist_ok=True)
        _write_json(os.path.join(partial, MANIFEST_NAME), manifest)
    _run_batches(kind, model, names, batches, done, partial, skip_bad, progress)

    emb, skipped = _assemble(partial, batches, model.dtype)
    if normalize:
        from .models.contrastive import l2_normalize
        emb = l2_normalize(emb)
    skipped_idx = {i for i, _ in skipped}
    kept = [name for i, name in enumerate(names) if i not in skipped_idx]
    skipped_named = [(names[i], reason) for i, reason in skipped]
    names_file, skipped_file = _write_outputs(out, emb, kept, skipped_named, kind, model, normalize)
    shutil.rmtree(partial)
    return EmbedResult(out=out, kind=kind, shape=(int(emb.shape[0]), int(emb.shape[1])), names_file=names_file,
                       skipped=skipped_named, skipped_file=skipped_file, weights=model.source,
                       normalized=normalize, resumed_from=resumed_from)


# ----------------------------------------------------------------------------------------------------- command line


def add_parser(subparsers) -> None:
    """Add the `embed` command to an argparse subparsers object."""
    from .cli import _add_weights   # here, not at the top: cli imports this module
    p = subparsers.add_parser(
        "embed", help="embed many images or texts into a .npy or .safetensors file (resumable)",
        description="Writes the embeddings of many images (or texts) to one file: OUT.npy with OUT.names.txt beside "
                    "it (one input name per line, in row order), or OUT.safetensors (tensor 'embeddings', names in "
                    "its metadata). Rows are get_image_features / get_text_features (unnormalised unless "
                    "--normalize). Finished batches are kept in OUT.partial/ until the end: if a run stops, running "
                    "the same command again resumes it.")
    src = p.add_argument_group("inputs (images or texts, not both)")
    src.add_argument("--images", "-i", nargs="+", action="extend", default=[], metavar="PATH",
                     help="image files and/or folders (a folder's " + " ".join(IMAGE_EXTENSIONS) + " files, any "
                          "case, sorted by name)")
    src.add_argument("--image-list", action="append", default=[], metavar="FILE",
                     help="a file of image paths, one per line ('#' comments and blank lines ignored, relative "
                          "paths relative to the file's folder; '-' reads standard input); repeatable")
    src.add_argument("--recursive", "-r", action="store_true", help="also take images from subfolders of folders")
    src.add_argument("--texts-file", metavar="FILE",
                     help="texts, one per line (UTF-8, blank lines skipped; '-' reads standard input)")
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="output file: .npy or .safetensors")
    p.add_argument("--normalize", action="store_true", help="L2-normalise each row")
    p.add_argument("--batch-size", "-b", type=int, default=None, metavar="N",
                   help="inputs per forward pass (default: 8 images or 32 texts)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable or missing images with a warning (listed in OUT.skipped.txt or the "
                        "metadata) instead of stopping")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output, and discard partial results that do not match this command")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar on stderr (default: when stderr is a terminal)")
    _add_weights(p)
    p.set_defaults(func=run)


def _summary(r: EmbedResult) -> str:
    what = f"{'L2-normalised ' if r.normalized else ''}{r.kind} embeddings"
    where = f"names in {r.names_file}" if r.names_file else "tensor 'embeddings', names in its metadata"
    line = f"wrote {r.shape[0]} {what} [{r.shape[0]}, {r.shape[1]}] to {r.out} ({where})"
    if r.skipped:
        line += (f"; skipped {len(r.skipped)} bad input(s), listed in "
                 f"{r.skipped_file or 'its metadata (skipped)'}")
    return line


def run(args) -> int:
    """The `refalign embed` command."""
    image_args = list(args.images or [])
    lists = list(args.image_list or [])
    if (image_args or lists) and args.texts_file:
        raise RefalignError("give --images/--image-list or --texts-file, not both (one kind per output file)")
    if not (image_args or lists or args.texts_file):
        raise RefalignError("no inputs: give --images PATH..., --image-list FILE or --texts-file FILE")
    if lists.count("-") + (args.texts_file == "-") > 1:
        raise RefalignError("standard input ('-') can be read only once")
    _check_out(args.out)   # before reading standard input
    images = texts = None
    if args.texts_file:
        texts = read_texts(args.texts_file)
    else:
        images = image_args + [p for lst in lists for p in read_image_list(lst)]
    result = embed_to_file(args.out, images=images, texts=texts, recursive=args.recursive, weights=args.weights,
                           dtype=args.dtype, normalize=args.normalize, batch_size=args.batch_size,
                           overwrite=args.overwrite, skip_bad=args.skip_bad, progress=args.progress)
    print(_summary(result))
    from .loading.hub import bundled_tiny_note
    note = bundled_tiny_note(result.weights)
    if note:
        print(note, file=sys.stderr)
    return 0
