"""`refalign embed` (refalign/embed_job.py): batch embedding to .npy / .safetensors, resuming, bad inputs."""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from refalign import embed_job
from refalign.api import load
from refalign.loading.hub import BUNDLED_NOTES
from refalign.errors import RefalignError
from refalign.models.contrastive import l2_normalize

SOURCES = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "camera.png"]
REAL_EMBED_BATCH = embed_job.embed_batch
TEXTS = ["a photo of a cat", "une tasse de café", "宇宙飛行士の写真", "a rocket on its launch pad", "ünïcödé ✓",
         "  leading and trailing spaces  "]


@pytest.fixture(scope="module")
def tiny():
    return load("tiny", np.float32)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, photo_dir) -> str:
    """20 photos made from 6 real ones (crops, resizes, JPEG/PNG, mixed-case extensions), plus files that must
    not be picked up: a text file, a hidden file, an image in a subfolder."""
    folder = tmp_path_factory.mktemp("photos")
    exts = ["jpg", "png", "JPG", "jpeg", "png"]
    for i in range(20):
        src = SOURCES[i % len(SOURCES)]
        with Image.open(os.path.join(photo_dir, src)) as im:
            im.load()
        w, h = im.size
        left, top = (i * 7) % (w // 4), (i * 11) % (h // 4)
        im = im.crop((left, top, left + w * (60 + i) // 100, top + h * (55 + 2 * i) // 100))
        im = im.resize((120 + 23 * i, 100 + 17 * (19 - i)), Image.Resampling.BILINEAR)
        ext = exts[i % len(exts)]
        path = folder / f"a{i:02d}_{src.split('.')[0]}.{ext}"
        if ext.lower() in ("jpg", "jpeg"):
            im.convert("RGB").save(path, format="JPEG", quality=70 + i)
        else:
            im.save(path, format="PNG")
    (folder / "notes.txt").write_text("not an image\n")
    (folder / ".hidden.jpg").write_bytes(b"not an image either")
    (folder / "sub").mkdir()
    with Image.open(os.path.join(photo_dir, "coffee.png")) as im:
        im.resize((90, 70)).save(folder / "sub" / "nested.png")
    return str(folder)


def _photo_paths(folder: str) -> list[str]:
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.startswith("a")]


@pytest.fixture(scope="module")
def ref_images(tiny, photo_folder) -> np.ndarray:
    """get_image_features of the 20 photos, computed directly in one batch."""
    model, proc = tiny
    paths = _photo_paths(photo_folder)
    assert len(paths) == 20
    return model.get_image_features(proc(images=paths, dtype=model.dtype)["pixel_values"])


def _text_feats(tiny, texts: list[str]) -> np.ndarray:
    model, proc = tiny
    enc = proc(text=texts)
    return model.get_text_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])


@pytest.fixture
def main(monkeypatch):
    """refalign.cli.main with the embed command in its parser (added here unless cli.py already wires it)."""
    from refalign import cli
    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        ap = original()
        sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
        if "embed" not in sub.choices:
            embed_job.add_parser(sub)
        return ap

    monkeypatch.setattr(cli, "build_parser", build)
    return lambda argv: cli.main(["embed", *argv, "--weights", "tiny"])


def _count_batches(monkeypatch, interrupt_at: int | None = None) -> list[int]:
    """Wrap embed_job.embed_batch: record each batch's size; raise KeyboardInterrupt on call `interrupt_at`."""
    real, calls = REAL_EMBED_BATCH, []

    def wrapped(kind, model, items):
        calls.append(len(items))
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return real(kind, model, items)

    monkeypatch.setattr(embed_job, "embed_batch", wrapped)
    return calls


def _one_line_error(capsys, needle: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("refalign: error:") and needle in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def _safetensors(path):
    from safetensors import safe_open
    from safetensors.numpy import load_file
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    return load_file(str(path)), meta


# ----------------------------------------------------------------------------------------------------- results


def test_folder_to_npy_matches_get_image_features(main, capsys, tmp_path, photo_folder, ref_images):
    out = tmp_path / "emb.npy"
    assert main(["--images", photo_folder, "--out", str(out)]) == 0
    cap = capsys.readouterr()
    emb = np.load(out)
    assert emb.shape == ref_images.shape == (20, ref_images.shape[1]) and emb.dtype == np.float32
    assert np.abs(emb - ref_images).max() <= 1e-6
    assert (tmp_path / "emb.names.txt").read_text(encoding="utf-8").splitlines() == _photo_paths(photo_folder)
    assert f"wrote 20 image embeddings [20, {emb.shape[1]}] to {out}" in cap.out
    assert "emb.names.txt" in cap.out and BUNDLED_NOTES["tiny"] in cap.err
    assert sorted(os.listdir(tmp_path)) == ["emb.names.txt", "emb.npy"]   # no partial folder, no skipped list


def test_safetensors_output_and_metadata(tmp_path, photo_folder, ref_images, tiny):
    out = tmp_path / "emb.safetensors"
    result = embed_job.embed_to_file(out, images=[photo_folder], weights="tiny", batch_size=6)
    tensors, meta = _safetensors(out)
    assert list(tensors) == ["embeddings"] and result.shape == tensors["embeddings"].shape
    assert np.abs(tensors["embeddings"] - ref_images).max() <= 1e-6
    assert json.loads(meta["names"]) == _photo_paths(photo_folder)
    assert meta["kind"] == "image" and meta["weights"] == tiny[0].source and meta["dtype"] == "float32"
    assert meta["normalized"] == "false" and json.loads(meta["skipped"]) == []
    import refalign
    assert meta["refalign_version"] == refalign.__version__
    assert os.listdir(tmp_path) == ["emb.safetensors"]


def test_normalize_gives_unit_rows(tmp_path, photo_folder, ref_images):
    out = tmp_path / "emb.npy"
    embed_job.embed_to_file(out, images=[photo_folder], weights="tiny", normalize=True)
    emb = np.load(out)
    assert np.abs(np.linalg.norm(emb, axis=1) - 1).max() <= 1e-6
    assert np.abs(emb - l2_normalize(ref_images)).max() <= 1e-6
    assert np.abs(np.linalg.norm(ref_images, axis=1) - 1).max() > 1e-3   # the raw rows were not unit already


def test_texts_file_with_non_ascii_and_blank_lines(main, capsys, tmp_path, tiny):
    src = tmp_path / "texts.txt"
    src.write_text("\n".join(TEXTS[:3]) + "\n\n   \n" + "\r\n".join(TEXTS[3:]) + "\r\n", encoding="utf-8")
    out = tmp_path / "t.npy"
    assert main(["--texts-file", str(src), "--out", str(out), "--batch-size", "4", "--progress"]) == 0
    cap = capsys.readouterr()
    emb = np.load(out)
    assert np.abs(emb - _text_feats(tiny, TEXTS)).max() <= 1e-6
    assert (tmp_path / "t.names.txt").read_text(encoding="utf-8").split("\n") == TEXTS + [""]
    assert f"wrote 6 text embeddings [6, {emb.shape[1]}]" in cap.out
    assert "6/6" in cap.err   # --progress forces the bar, on stderr


def test_texts_from_stdin(main, capsys, tmp_path, tiny, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a cat\n\nun café\n"))
    out = tmp_path / "t.safetensors"
    assert main(["--texts-file", "-", "--out", str(out), "--normalize"]) == 0
    tensors, meta = _safetensors(out)
    assert json.loads(meta["names"]) == ["a cat", "un café"]
    assert meta["kind"] == "text" and meta["normalized"] == "true"
    assert np.abs(tensors["embeddings"] - l2_normalize(_text_feats(tiny, ["a cat", "un café"]))).max() <= 1e-6


def test_image_list_recursive_and_duplicates(main, capsys, tmp_path, monkeypatch, photo_folder, ref_images, tiny):
    paths = _photo_paths(photo_folder)
    lists = tmp_path / "lists"
    lists.mkdir()
    rel = os.path.relpath(paths[3], lists)
    (lists / "l.txt").write_text(f"# my photos\n{rel}\n\n{paths[0]}\n  {rel}  \n", encoding="utf-8")
    out = tmp_path / "l.npy"
    assert main(["--image-list", str(lists / "l.txt"), "--out", str(out)]) == 0
    names = (tmp_path / "l.names.txt").read_text().splitlines()
    assert names == [os.path.join(str(lists), rel), paths[0], os.path.join(str(lists), rel)]   # duplicates repeat
    assert np.abs(np.load(out) - ref_images[[3, 0, 3]]).max() <= 1e-6

    monkeypatch.setattr("sys.stdin", io.StringIO(paths[5] + "\n"))
    out = tmp_path / "r.npy"
    assert main(["--images", photo_folder, "--recursive", "--image-list", "-", "--out", str(out)]) == 0
    names = (tmp_path / "r.names.txt").read_text().splitlines()
    assert names == paths + [os.path.join(photo_folder, "sub", "nested.png"), paths[5]]
    emb = np.load(out)
    model, proc = tiny
    nested = model.get_image_features(proc(images=[names[20]], dtype=model.dtype)["pixel_values"])
    assert emb.shape[0] == 22 and np.abs(emb[20:21] - nested).max() <= 1e-6
    assert np.abs(emb[[0, 21]] - ref_images[[0, 5]]).max() <= 1e-6


# ----------------------------------------------------------------------------------------------------- resuming


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_interrupted_run_resumes_to_identical_output(main, capsys, tmp_path, photo_folder, monkeypatch, suffix):
    whole = tmp_path / f"whole{suffix}"
    assert main(["--images", photo_folder, "--out", str(whole)]) == 0
    capsys.readouterr()

    _count_batches(monkeypatch, interrupt_at=2)
    out = tmp_path / f"emb{suffix}"
    assert main(["--images", photo_folder, "--out", str(out)]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    partial = tmp_path / f"emb{suffix}.partial"
    assert not out.exists() and sorted(os.listdir(partial)) == ["batch-000000.npy", "manifest.json"]

    calls = _count_batches(monkeypatch)
    assert main(["--images", photo_folder, "--out", str(out)]) == 0
    assert "resuming: 8 of 20 done" in capsys.readouterr().err
    assert calls == [8, 4]                                   # only the two batches not done before
    assert not partial.exists()
    if suffix == ".npy":
        assert out.read_bytes() == whole.read_bytes()
        assert (tmp_path / "emb.names.txt").read_bytes() == (tmp_path / "whole.names.txt").read_bytes()
    else:   # the safetensors writer orders header keys at random, so compare the contents, bit for bit
        (resumed, meta), (uninterrupted, whole_meta) = _safetensors(out), _safetensors(whole)
        assert resumed["embeddings"].tobytes() == uninterrupted["embeddings"].tobytes() and meta == whole_meta


def test_partial_state_of_another_run_is_refused(main, capsys, tmp_path, photo_folder, monkeypatch, ref_images):
    _count_batches(monkeypatch, interrupt_at=2)
    out = tmp_path / "emb.npy"
    assert main(["--images", photo_folder, "--out", str(out)]) == 130
    _count_batches(monkeypatch)   # no more interrupts
    capsys.readouterr()

    fewer = _photo_paths(photo_folder)[:19]
    assert main(["--images", *fewer, "--out", str(out)]) == 2
    _one_line_error(capsys, "emb.npy.partial holds partial results of a different run (number of inputs 20 then")
    assert main(["--images", *reversed(_photo_paths(photo_folder)), "--out", str(out)]) == 2
    _one_line_error(capsys, "other inputs or another order")
    assert main(["--images", photo_folder, "--out", str(out), "--batch-size", "4"]) == 2
    err = _one_line_error(capsys, "batch size 8 then, 4 now")
    assert "--overwrite" in err and "delete" in err
    with pytest.raises(RefalignError, match="normalize flag"):
        embed_job.embed_to_file(out, images=[photo_folder], weights="tiny", normalize=True)
    assert (tmp_path / "emb.npy.partial" / "batch-000000.npy").exists()   # refusals keep the partial state

    assert main(["--images", *fewer, "--out", str(out), "--overwrite"]) == 0   # discards it and starts over
    assert "resuming" not in capsys.readouterr().err
    assert np.abs(np.load(out) - ref_images[:19]).max() <= 1e-6 and not (tmp_path / "emb.npy.partial").exists()


# ----------------------------------------------------------------------------------------------------- bad inputs


@pytest.fixture
def folder_with_bad(tmp_path, photo_folder) -> str:
    folder = tmp_path / "photos"
    shutil.copytree(photo_folder, folder)
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 20)   # sorts last: 21st
    return str(folder)


def test_corrupt_file_stops_the_run_by_name(main, capsys, tmp_path, folder_with_bad):
    out = tmp_path / "emb.npy"
    assert main(["--images", folder_with_bad, "--out", str(out)]) == 2
    err = _one_line_error(capsys, os.path.join(folder_with_bad, "bad.jpg"))
    assert "--skip-bad" in err and "input 21 of 21" in err
    assert not out.exists()
    assert sorted(os.listdir(tmp_path / "emb.npy.partial")) == ["batch-000000.npy", "batch-000001.npy",
                                                                 "manifest.json"]   # kept for resuming
    with pytest.raises(RefalignError, match=r"bad\.jpg: cannot decode image"):
        embed_job.embed_to_file(tmp_path / "other.npy", images=[folder_with_bad], weights="tiny")


def test_skip_bad_resumes_and_lists_the_bad_file(main, capsys, tmp_path, folder_with_bad, ref_images):
    out = tmp_path / "emb.npy"
    bad = os.path.join(folder_with_bad, "bad.jpg")
    assert main(["--images", folder_with_bad, "--out", str(out)]) == 2
    capsys.readouterr()
    assert main(["--images", folder_with_bad, "--out", str(out), "--skip-bad"]) == 0
    cap = capsys.readouterr()
    assert "resuming: 16 of 21 done" in cap.err and f"warning: skipping bad image {bad}" in cap.err
    assert "skipped 1 bad input" in cap.out and "emb.skipped.txt" in cap.out
    assert np.abs(np.load(out) - ref_images).max() <= 1e-6
    assert (tmp_path / "emb.skipped.txt").read_text().splitlines() == [bad]
    assert bad not in (tmp_path / "emb.names.txt").read_text().splitlines()

    st = tmp_path / "emb.safetensors"
    result = embed_job.embed_to_file(st, images=[folder_with_bad], weights="tiny", skip_bad=True)
    tensors, meta = _safetensors(st)
    assert tensors["embeddings"].shape[0] == 20 == len(json.loads(meta["names"]))
    assert json.loads(meta["skipped"]) == [bad] and "cannot decode" in json.loads(meta["skipped_reasons"])[0]
    assert result.skipped[0][0] == bad


def test_missing_file(main, capsys, tmp_path, photo_folder, ref_images):
    paths = _photo_paths(photo_folder)
    missing = str(tmp_path / "missing.jpg")
    out = tmp_path / "emb.npy"
    assert main(["--images", paths[0], missing, "--out", str(out)]) == 2
    _one_line_error(capsys, f"image file not found: {missing}")
    assert not (tmp_path / "emb.npy.partial").exists()     # checked before any work
    assert main(["--images", paths[0], missing, paths[1], "--out", str(out), "--skip-bad"]) == 0
    assert missing in capsys.readouterr().err
    assert (tmp_path / "emb.skipped.txt").read_text().splitlines() == [missing]
    assert np.abs(np.load(out) - ref_images[:2]).max() <= 1e-6


def test_resuming_a_skip_bad_run_needs_skip_bad(main, capsys, tmp_path, folder_with_bad, monkeypatch, ref_images):
    bad = os.path.join(folder_with_bad, "bad.jpg")
    argv = ["--images", bad, *_photo_paths(folder_with_bad)[:3], "--out", str(tmp_path / "e.npy"), "-b", "2"]
    _count_batches(monkeypatch, interrupt_at=2)
    assert main([*argv, "--skip-bad"]) == 130          # batch 0 (bad.jpg skipped + 1 photo) saved, then Ctrl-C
    _count_batches(monkeypatch)   # no more interrupts
    capsys.readouterr()
    assert main(argv) == 2                             # without --skip-bad, the skip recorded then is not accepted
    _one_line_error(capsys, f"--skip-bad run that skipped 1 input(s) (first: {bad})")
    assert main([*argv, "--skip-bad"]) == 0
    assert "resuming: 2 of 4 done" in capsys.readouterr().err
    assert np.abs(np.load(tmp_path / "e.npy") - ref_images[:3]).max() <= 1e-6
    assert (tmp_path / "e.skipped.txt").read_text().splitlines() == [bad]


# ----------------------------------------------------------------------------------------------------- arguments


def test_bad_arguments_are_one_line_errors(main, capsys, tmp_path, photo_folder):
    texts = tmp_path / "t.txt"
    texts.write_text("a cat\n")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    empty_list = tmp_path / "empty.txt"
    empty_list.write_text("# nothing\n\n")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n")
    cases = [
        (["--texts-file", str(texts), "--out", str(tmp_path / "e.csv")], "'.csv'"),
        (["--texts-file", str(texts), "--out", str(tmp_path / "e")], "unknown suffix"),
        (["--out", str(tmp_path / "e.npy")], "no inputs"),
        (["--images", photo_folder, "--texts-file", str(texts), "--out", str(tmp_path / "e.npy")], "not both"),
        (["--images", str(empty_dir), "--out", str(tmp_path / "e.npy")], f"image folder {empty_dir} has no image"),
        (["--image-list", str(empty_list), "--out", str(tmp_path / "e.npy")], f"image list {empty_list} has no"),
        (["--texts-file", str(blank), "--out", str(tmp_path / "e.npy")], f"texts file {blank} has no texts"),
        (["--texts-file", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "e.npy")], "nope.txt"),
        (["--texts-file", str(texts), "--out", str(tmp_path / "e.npy"), "-b", "0"], "--batch-size"),
        (["--texts-file", str(texts), "--out", str(tmp_path / "no" / "e.npy")], str(tmp_path / "no")),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        _one_line_error(capsys, needle)
    assert not list(tmp_path.glob("e.*")) and not (tmp_path / "no").exists()


def test_existing_output_needs_overwrite(main, capsys, tmp_path, tiny):
    texts = tmp_path / "t.txt"
    texts.write_text("a cat\n")
    out = tmp_path / "e.npy"
    out.write_bytes(b"precious")
    assert main(["--texts-file", str(texts), "--out", str(out)]) == 2
    _one_line_error(capsys, f"{out} already exists: pass --overwrite")
    assert out.read_bytes() == b"precious"
    assert main(["--texts-file", str(texts), "--out", str(out), "--overwrite"]) == 0
    assert np.abs(np.load(out) - _text_feats(tiny, ["a cat"])).max() <= 1e-6


def test_python_function_refuses_bad_calls(tmp_path):
    with pytest.raises(RefalignError, match="not both"):
        embed_job.embed_to_file(tmp_path / "e.npy", images=["x.jpg"], texts=["a"], weights="tiny")
    with pytest.raises(RefalignError, match="line break"):
        embed_job.embed_to_file(tmp_path / "e.npy", texts=["two\nlines"], weights="tiny")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask, photo_folder):
    old = os.umask(umask)
    try:
        embed_job.embed_to_file(tmp_path / "e.npy", images=_photo_paths(photo_folder)[:1], weights="tiny")
        embed_job.embed_to_file(tmp_path / "e.safetensors", texts=["a cat"], weights="tiny")
    finally:
        os.umask(old)
    for name in ("e.npy", "e.names.txt", "e.safetensors"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o666 & ~umask, name


def test_help():
    ap = argparse.ArgumentParser(prog="refalign")
    embed_job.add_parser(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["embed", "--texts-file", "t.txt", "-o", "e.npy"])
    assert args.func is embed_job.run and args.batch_size is None and args.progress is None
    with pytest.raises(SystemExit) as e:
        ap.parse_args(["embed", "--help"])
    assert e.value.code == 0
