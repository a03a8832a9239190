"""Helpers the tokenizer parity tests share (byte-level BPE and SentencePiece unigram)."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np


def fixture_variant(fixture: str, tmp_path, name: str, files, edit_config=None) -> str:
    """A copy of some of `fixture`'s files in tmp_path/name, tokenizer_config.json edited by edit_config(dict)."""
    d = tmp_path / name
    d.mkdir()
    for f in files:
        shutil.copy(os.path.join(fixture, f), d / f)
    if edit_config is not None:
        path = d / "tokenizer_config.json"
        config = json.loads(path.read_text()) if path.exists() else {}
        edit_config(config)
        path.write_text(json.dumps(config))
    return str(d)


def differing_rows(hf, tok, texts, pairs=None, **kw) -> list:
    """Rows whose arrays differ between transformers (return_tensors="np") and refalign, in chunks of 4,000."""
    bad = []
    for i in range(0, len(texts), 4000):
        chunk = list(texts[i:i + 4000])
        second = None if pairs is None else list(pairs[i:i + 4000])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = hf(chunk, second, return_tensors="np", **kw)
            got = tok(chunk, second, **kw)
        assert list(got) == list(ref), (list(got), list(ref))
        rows = np.zeros(len(chunk), dtype=bool)
        for key in got:
            assert got[key].dtype == np.int64
            assert got[key].shape == ref[key].shape, (key, got[key].shape, ref[key].shape)
            rows |= (got[key] != ref[key]).any(1)
        bad += [chunk[r] if second is None else (chunk[r], second[r]) for r in np.nonzero(rows)[0]]
    return bad
