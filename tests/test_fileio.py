"""refalign.fileio: atomic output files with the user's normal permissions."""
from __future__ import annotations

import os

import pytest

from refalign.fileio import atomic_output, current_umask, new_file_mode


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_get_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert current_umask() == umask and new_file_mode() == 0o666 & ~umask
        with atomic_output(tmp_path / "out.bin") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"data")
    finally:
        os.umask(old)
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    assert os.stat(tmp_path / "out.bin").st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"precious" and os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_golden_files_follow_the_umask(tmp_path, umask):
    from refalign.golden import make_golden
    cat = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "refalign", "assets",
                       "chelsea.jpg")
    old = os.umask(umask)
    try:
        out = make_golden("tiny", [cat], ["a cat"], tmp_path / "g.safetensors")
    finally:
        os.umask(old)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask
